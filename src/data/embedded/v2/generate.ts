/**
 * The embedded benchmark v2 generator: three disjoint corpora from one seed.
 *
 * Every image draws from its own named stream `<corpus>/image/<class>/<n>` (corpus ∈ prior, coarse,
 * fine), so the corpora are disjoint by construction; the generator also hashes every written image
 * and refuses a collision. Folder: `<dataRoot>/generated/<name>-<hash>/` with
 * `fine/{dataset.json, images/}` (Karpathy + objects with cells), `prior/{labels.json, images/}`
 * (labelled images, no captions: an AID-like classification corpus), `coarse/corpus.json` (one coarse caption per image;
 * pixels rendered lazily by `coarseSampleImage` / streamed to webdataset shards by
 * `exportCoarseWebdataset`), `vocabulary.json`, `config.json`, `checksum.txt`. Written to a temp
 * folder and renamed into place; a folder whose checksum matches is reused.
 */
import * as fs from 'fs';
import * as path from 'path';
import { SeedStream } from '../../../utils/random';
import { atomicWriteFile, atomicWriteJson, projectRoot, readJson, sha256 } from '../../../utils/fs';
import { writeTarFile, TarEntry } from '../../../io/tar';
import { RetrievalDataset, Split } from '../../types';
import { CLASS_KINDS, SCENE_BUILDERS } from '../classes';
import { Scene, SceneBuilder } from '../scene';
import { fineCaptions } from '../captions';
import { OBJECT_NOUNS, ObjectKind, article, captionTokens } from '../vocabulary';
import { AnnotatedObject, annotateObjects } from '../annotations';
import { addDistractors, encodePngRgb, publishChecksummedFolder, readEmbeddedDataset, renderScene, validFolderChecksum } from '../generate';
import { V2_EXTRA_BUILDERS, V2_EXTRA_CLASS_KINDS } from './classes';
import { CellList, objectCells } from './cells';
import { EMBEDDED_V2_GENERATOR_VERSION, EmbeddedV2Config, embeddedV2ConfigHash, validateEmbeddedV2Config } from './config';
import {
  COARSE_GENERIC_CAPTIONS,
  COARSE_SCENE_SYNONYMS,
  COARSE_TEMPLATES,
  LONG_TAIL_OBJECT_NAMES,
  SHARED_SCENE_PHRASES,
  VAGUE_QUANTIFIERS,
  declaredVocabularyTiers,
} from './vocabulary';

/** The three corpora. */
export type V2Corpus = 'prior' | 'coarse' | 'fine';
/** `kind` field of `coarse/corpus.json`. */
export const COARSE_CORPUS_KIND = 'embedded-v2-coarse';
/** `kind` field of `prior/labels.json`. */
export const PRIOR_CORPUS_KIND = 'embedded-v2-prior';
/** File names inside a v2 folder. */
export const V2_FILES = {
  fine: 'fine/dataset.json',
  prior: 'prior/labels.json',
  coarse: 'coarse/corpus.json',
  vocabulary: 'vocabulary.json',
  config: 'config.json',
} as const;

/** Builder of any v2 class. */
function builderOf(cls: string): (b: SceneBuilder) => void {
  const b = SCENE_BUILDERS[cls] ?? (V2_EXTRA_BUILDERS as Record<string, (b: SceneBuilder) => void>)[cls];
  if (!b) throw new Error(`embedded v2: unknown scene class "${cls}"`);
  return b;
}

function ownKinds(cls: string): ObjectKind[] {
  return CLASS_KINDS[cls] ?? (V2_EXTRA_CLASS_KINDS as Record<string, ObjectKind[]>)[cls] ?? [];
}

/**
 * Sample one scene of any v2 class; with `distractors`, add 1–2 objects typical of another class
 * among `sources` (v1's rule, extended to the AID-only classes).
 */
export function sampleSceneV2(cls: string, rng: SeedStream, distractors: boolean, sources: readonly string[]): Scene {
  const b = new SceneBuilder(cls, rng);
  builderOf(cls)(b);
  const scene = b.build();
  if (!distractors) return scene;
  addDistractors(b, scene, cls, ownKinds(cls), sources, rng);
  return scene;
}

/** An object as stored by v2: v1's annotation plus whether it defines the scene and its cells per grid. */
export interface V2Object extends AnnotatedObject {
  /** True for the class's key objects (what the captions describe); false for context and distractors. */
  sceneDefining: boolean;
  /** Per grid size (as a string key, e.g. "8"): the cells it covers, `[row-major index, coverage]`. */
  cells: Record<string, CellList>;
}

function v2Objects(scene: Scene, cfg: EmbeddedV2Config): V2Object[] {
  const ann = annotateObjects(scene.objects);
  const cells = objectCells(scene.objects, cfg.imageSize, cfg.supersample, cfg.cellGrids);
  return ann.map((a, k) => ({ ...a, sceneDefining: a.role === 'key', cells: cells[k] }));
}

/** Exact per-class quota: `count` of `n` indices (0-based) drawn by a permutation of `stream`. */
function quota(root: SeedStream, stream: string, n: number, count: number): boolean[] {
  const out = new Array<boolean>(n).fill(false);
  root.child(stream).permutation(n).slice(0, count).forEach((i) => (out[i] = true));
  return out;
}

/** Per-class plan of the fine corpus: split and distractor flag of image i+1. */
export function planFineClass(cfg: EmbeddedV2Config, cls: string): { split: Split[]; distractor: boolean[] } {
  const root = new SeedStream(cfg.seed);
  const f = cfg.fine;
  const n = f.trainPerClass + f.valPerClass + f.testPerClass;
  const split = new Array<Split>(n).fill('train');
  root.child(`fine/split/${cls}`).permutation(n).forEach((img, rank) => {
    split[img] = rank < f.testPerClass ? 'test' : rank < f.testPerClass + f.valPerClass ? 'val' : 'train';
  });
  return { split, distractor: quota(root, `fine/distractors/${cls}`, n, Math.round(f.distractorRate * n)) };
}

/** Per-class plan of the prior corpus. */
export function planPriorClass(cfg: EmbeddedV2Config, cls: string): { split: Split[]; distractor: boolean[] } {
  const root = new SeedStream(cfg.seed);
  const n = cfg.prior.imagesPerClass;
  const val = quota(root, `prior/split/${cls}`, n, Math.round(cfg.prior.valFraction * n));
  return { split: val.map((v) => (v ? 'val' : 'train')), distractor: quota(root, `prior/distractors/${cls}`, n, Math.round(cfg.prior.distractorRate * n)) };
}

/** Kinds of coarse caption. */
export type CoarseNoise = 'clean' | 'generic' | 'wrong';

/** Per-class plan of the coarse corpus: distractor flag and caption noise of image i+1. */
export function planCoarseClass(cfg: EmbeddedV2Config, cls: string): { distractor: boolean[]; noise: CoarseNoise[] } {
  const root = new SeedStream(cfg.seed);
  const c = cfg.coarse;
  const n = c.imagesPerClass;
  const nNoisy = Math.round(c.noise * n);
  const nWrong = Math.round(c.wrongClassShare * nNoisy);
  const noise = new Array<CoarseNoise>(n).fill('clean');
  root.child(`coarse/noise/${cls}`).permutation(n).slice(0, nNoisy).forEach((i, rank) => (noise[i] = rank < nWrong ? 'wrong' : 'generic'));
  return { distractor: quota(root, `coarse/distractors/${cls}`, n, Math.round(c.distractorRate * n)), noise };
}

/** The stream of image `index` (1-based) of a class in a corpus. */
function imageStream(cfg: EmbeddedV2Config, corpus: V2Corpus, cls: string, index: number): SeedStream {
  return new SeedStream(cfg.seed).child(`${corpus}/image/${cls}/${index}`);
}

/** Regex-escape. */
function esc(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Replace the first object noun of a scene's key kinds in a caption by a long-tail name of the
 * same number ("three planes" → "three jetliners"). Returns the caption unchanged if none occurs.
 */
export function longTailSubstitute(caption: string, scene: Scene, r: SeedStream): string {
  const kinds = [...new Set(scene.objects.filter((o) => o.role === 'key').map((o) => o.kind))];
  const forms: Array<{ noun: string; plural: boolean; kind: ObjectKind }> = [];
  for (const kind of kinds) {
    for (const noun of OBJECT_NOUNS[kind].plur) forms.push({ noun, plural: true, kind });
    for (const noun of OBJECT_NOUNS[kind].sing) forms.push({ noun, plural: false, kind });
  }
  forms.sort((a, b) => b.noun.length - a.noun.length);
  let best: { at: number; noun: string; plural: boolean; kind: ObjectKind } | null = null;
  for (const f of forms) {
    const m = new RegExp(`\\b${esc(f.noun)}\\b`).exec(caption);
    if (m && (best === null || m.index < best.at)) best = { at: m.index, ...f };
  }
  if (best === null) return caption;
  const lt = LONG_TAIL_OBJECT_NAMES[best.kind];
  // Nouns with one form for both numbers ("aircraft"): singular after "one", "a" or "an".
  let plural = best.plural;
  if (OBJECT_NOUNS[best.kind].sing.includes(best.noun) && OBJECT_NOUNS[best.kind].plur.includes(best.noun)) {
    const before = captionTokens(caption.slice(0, best.at)).slice(-3);
    plural = !before.some((t) => t === 'one' || t === 'a' || t === 'an');
  }
  const name = r.pick(plural ? lt.plur : lt.sing);
  return caption.slice(0, best.at) + name + caption.slice(best.at + best.noun.length);
}

/** A coarse caption with what it says (for noise diagnostics). */
export interface CoarseCaption {
  caption: string;
  noise: CoarseNoise;
  /** The class the caption names (null for generic; ≠ the image's class for `wrong`). */
  namedClass: string | null;
  /** Whether the scene was named by a coarse-only synonym. */
  synonym: boolean;
  /** The object mentioned, with its role in the image (a distractor mention is noise too), or null. */
  mention: { kind: ObjectKind; role: AnnotatedObject['role']; longTail: boolean } | null;
}

/** One coarse caption of a scene (RS5M-like: a captioner's sentence; no counts, no positions). */
export function coarseCaptionV2(scene: Scene, noise: CoarseNoise, cfg: EmbeddedV2Config, r: SeedStream): CoarseCaption {
  if (noise === 'generic') return { caption: r.pick(COARSE_GENERIC_CAPTIONS), noise, namedClass: null, synonym: false, mention: null };
  let cls = scene.sceneClass;
  if (noise === 'wrong') {
    const others = cfg.coarse.classes.filter((c) => c !== cls);
    if (others.length === 0) return { caption: r.pick(COARSE_GENERIC_CAPTIONS), noise: 'generic', namedClass: null, synonym: false, mention: null };
    cls = r.pick(others);
  }
  const synonym = r.bernoulli(cfg.coarse.synonymRate);
  const phrase = r.pick(synonym ? COARSE_SCENE_SYNONYMS[cls] : SHARED_SCENE_PHRASES[cls]);
  let caption = r.pick(COARSE_TEMPLATES)(phrase);
  let mention: CoarseCaption['mention'] = null;
  if (scene.objects.length > 0 && r.bernoulli(cfg.coarse.objectMentionRate)) {
    const o = r.pick(scene.objects);
    const n = scene.objects.filter((q) => q.kind === o.kind).length;
    const longTail = r.bernoulli(cfg.coarse.longTailObjectRate);
    const nouns = longTail ? LONG_TAIL_OBJECT_NAMES[o.kind] : { sing: [OBJECT_NOUNS[o.kind].sing[0]], plur: [OBJECT_NOUNS[o.kind].plur[0]] };
    const np = n > 1 ? `${r.pick(VAGUE_QUANTIFIERS)} ${r.pick(nouns.plur)}` : (() => {
      const s = r.pick(nouns.sing);
      return `${article(s)} ${s}`;
    })();
    caption += ` with ${np}`;
    mention = { kind: o.kind, role: o.role, longTail };
  }
  return { caption, noise, namedClass: cls, synonym, mention };
}

/** One generated image of the prior or fine corpus. */
export interface V2Image {
  corpus: V2Corpus;
  sceneClass: string;
  index: number;
  fileName: string;
  split: Split;
  scene: Scene;
  rgb: Uint8Array;
  png: Uint8Array;
  /** Fine captions (fine corpus) or [] (prior corpus). */
  captions: string[];
  objects: V2Object[];
}

/** File name of image `index` of a class: `<class>_<index>.png` (the reference's `add_index` reads the prefix). */
export function v2FileName(cls: string, index: number): string {
  return `${cls}_${index}.png`;
}

/** Generate one fine-corpus image (in memory), exactly as the folder generator does. */
export function generateFineImage(cfg: EmbeddedV2Config, cls: string, index: number, plan = planFineClass(cfg, cls)): V2Image {
  const i = index - 1;
  if (!(i >= 0 && i < plan.split.length)) throw new Error(`generateFineImage: index ${index} outside 1..${plan.split.length} for class ${cls}`);
  const rng = imageStream(cfg, 'fine', cls, index);
  const scene = sampleSceneV2(cls, rng.child('scene'), plan.distractor[i], cfg.fine.classes);
  const rgb = renderScene(scene, cfg.imageSize, cfg.supersample, rng.child('texture'));
  const capRng = rng.child('captions');
  const mention = capRng.bernoulli(cfg.fine.distractorMentionRate);
  const ltRng = rng.child('long-tail');
  const captions = fineCaptions(scene, cfg.fine.captionsPerImage, mention, capRng).map((c) =>
    ltRng.bernoulli(cfg.fine.longTailRate) ? longTailSubstitute(c, scene, ltRng) : c,
  );
  return { corpus: 'fine', sceneClass: cls, index, fileName: v2FileName(cls, index), split: plan.split[i], scene, rgb, png: encodePngRgb(rgb, cfg.imageSize, cfg.imageSize), captions, objects: v2Objects(scene, cfg) };
}

/** Generate one prior-corpus image (in memory). */
export function generatePriorImage(cfg: EmbeddedV2Config, cls: string, index: number, plan = planPriorClass(cfg, cls)): V2Image {
  const i = index - 1;
  if (!(i >= 0 && i < plan.split.length)) throw new Error(`generatePriorImage: index ${index} outside 1..${plan.split.length} for class ${cls}`);
  const rng = imageStream(cfg, 'prior', cls, index);
  const scene = sampleSceneV2(cls, rng.child('scene'), plan.distractor[i], cfg.prior.classes);
  const rgb = renderScene(scene, cfg.imageSize, cfg.supersample, rng.child('texture'));
  return { corpus: 'prior', sceneClass: cls, index, fileName: v2FileName(cls, index), split: plan.split[i], scene, rgb, png: encodePngRgb(rgb, cfg.imageSize, cfg.imageSize), captions: [], objects: v2Objects(scene, cfg) };
}

/** One record of `coarse/corpus.json` (pixels are rendered on demand). */
export interface CoarseRecord extends CoarseCaption {
  /** webdataset key (`<class>-<index>`). */
  key: string;
  /** `img_name` of the RS5M layout (`<class>_<index>.png`). */
  imgName: string;
  /** True scene class (the label). */
  sceneClass: string;
  /** 1-based index within the class (the image's stream). */
  index: number;
  /** Whether distractor objects were drawn. */
  distractors: boolean;
}

/** `coarse/corpus.json`. */
export interface CoarseCorpusFile {
  kind: typeof COARSE_CORPUS_KIND;
  configHash: string;
  /** Records in a seeded shuffled order (shards then mix classes). */
  samples: CoarseRecord[];
}

/** The coarse scene of image `index` of a class (no pixels). */
function coarseScene(cfg: EmbeddedV2Config, cls: string, index: number, distractor: boolean): { scene: Scene; rng: SeedStream } {
  const rng = imageStream(cfg, 'coarse', cls, index);
  return { scene: sampleSceneV2(cls, rng.child('scene'), distractor, cfg.coarse.classes), rng };
}

/** Every coarse record (captions without pixels: cheap), in the corpus's shuffled order. */
export function coarseRecords(cfg: EmbeddedV2Config): CoarseRecord[] {
  const out: CoarseRecord[] = [];
  for (const cls of cfg.coarse.classes) {
    const plan = planCoarseClass(cfg, cls);
    for (let index = 1; index <= cfg.coarse.imagesPerClass; index++) {
      const { scene, rng } = coarseScene(cfg, cls, index, plan.distractor[index - 1]);
      const cap = coarseCaptionV2(scene, plan.noise[index - 1], cfg, rng.child('coarse-caption'));
      out.push({ key: `${cls}-${index}`, imgName: v2FileName(cls, index), sceneClass: cls, index, distractors: plan.distractor[index - 1], ...cap });
    }
  }
  return new SeedStream(cfg.seed).child('coarse/order').shuffle(out);
}

/** Render the pixels of one coarse record (deterministic: the same bytes as every other call). */
export function coarseSampleImage(cfg: EmbeddedV2Config, rec: Pick<CoarseRecord, 'sceneClass' | 'index' | 'distractors'>): { rgb: Uint8Array; png: Uint8Array; scene: Scene } {
  const { scene, rng } = coarseScene(cfg, rec.sceneClass, rec.index, rec.distractors);
  const rgb = renderScene(scene, cfg.imageSize, cfg.supersample, rng.child('texture'));
  return { rgb, png: encodePngRgb(rgb, cfg.imageSize, cfg.imageSize), scene };
}

/**
 * Stream coarse samples (record + rendered pixels) in corpus order from `start`, `count` of them:
 * what a stage-1 loop reads without materialising the corpus (one image in memory at a time).
 */
export function* streamCoarseCorpus(cfg: EmbeddedV2Config, corpus: CoarseCorpusFile, start = 0, count = corpus.samples.length - start): Generator<{ record: CoarseRecord; rgb: Uint8Array; png: Uint8Array }> {
  const end = Math.min(corpus.samples.length, start + count);
  for (let i = Math.max(0, start); i < end; i++) {
    const record = corpus.samples[i];
    const { rgb, png } = coarseSampleImage(cfg, record);
    yield { record, rgb, png };
  }
}

/**
 * A slice of the coarse corpus as an in-memory `RetrievalDataset` (split `train`, PNG bytes held in
 * each record, `captions` = `[coarse caption]`, `coarseCaption` set): for code that takes datasets.
 * Memory ≈ 6.7 kB per 64-px image, so take a slice (`limit`), not 22,000, unless that is intended.
 */
export function coarseRetrievalDataset(cfg: EmbeddedV2Config, corpus: CoarseCorpusFile, limit = corpus.samples.length, start = 0): RetrievalDataset {
  const images: RetrievalDataset['images'] = [];
  for (const { record, png } of streamCoarseCorpus(cfg, corpus, start, limit)) {
    images.push({
      imageId: images.length,
      fileName: record.imgName,
      path: `coarse#${record.key}`,
      split: 'train',
      captions: [record.caption],
      sceneClass: record.sceneClass,
      coarseCaption: record.caption,
      bytes: png,
    });
  }
  const classes = [...new Set(images.map((r) => r.sceneClass as string))].sort();
  return { name: `${cfg.name}-coarse`, format: 'embedded', imagesRoot: '', images, classes };
}

/** Token counts of captions. */
function tokenCounts(captions: readonly string[]): Record<string, number> {
  const m = new Map<string, number>();
  for (const c of captions) for (const t of new Set(captionTokens(c))) m.set(t, (m.get(t) ?? 0) + 1);
  return Object.fromEntries([...m.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1)));
}

/** `vocabulary.json`: the declared tiers plus the measured document frequencies per corpus. */
export interface V2VocabularyFile {
  declared: ReturnType<typeof declaredVocabularyTiers>;
  /** Captions per corpus part the counts are over. */
  captions: { fineTrain: number; fineTest: number; coarse: number };
  /** Number of captions containing each token (fine train, fine test, coarse). */
  documentFrequency: { fineTrain: Record<string, number>; fineTest: Record<string, number>; coarse: Record<string, number> };
  /** Measured tiers: tokens of fine-train captions only, coarse captions only, both. */
  measured: { fineOnly: string[]; coarseOnly: string[]; shared: string[] };
}

/** The vocabulary file of a generated benchmark. */
export function vocabularyFile(fineTrain: readonly string[], fineTest: readonly string[], coarse: readonly string[]): V2VocabularyFile {
  const ft = tokenCounts(fineTrain);
  const co = tokenCounts(coarse);
  const f = new Set(Object.keys(ft));
  const c = new Set(Object.keys(co));
  return {
    declared: declaredVocabularyTiers(),
    captions: { fineTrain: fineTrain.length, fineTest: fineTest.length, coarse: coarse.length },
    documentFrequency: { fineTrain: ft, fineTest: tokenCounts(fineTest), coarse: co },
    measured: {
      fineOnly: [...f].filter((t) => !c.has(t)).sort(),
      coarseOnly: [...c].filter((t) => !f.has(t)).sort(),
      shared: [...f].filter((t) => c.has(t)).sort(),
    },
  };
}

/** Karpathy record of a v2 prior/fine image. */
interface V2KarpathyImage {
  filename: string;
  imgid: number;
  split: Split;
  sentences: Array<{ raw: string; tokens: string[]; imgid: number; sentid: number }>;
  sentids: number[];
  class: string;
  /** sha256 of the PNG bytes (the corpora's disjointness is checked on it). */
  sha256: string;
  objects: V2Object[];
}

/** One labelled image of `prior/labels.json`. */
export interface PriorRecord {
  filename: string;
  split: Split;
  /** Scene class (the label). */
  class: string;
  /** sha256 of the PNG bytes. */
  sha256: string;
  objects: V2Object[];
}

/** `prior/labels.json`: an AID-like labelled corpus (no captions). */
export interface PriorCorpusFile {
  kind: typeof PRIOR_CORPUS_KIND;
  dataset: string;
  /** Class names in label order (label = index). */
  classes: string[];
  images: PriorRecord[];
}

/** Read and validate `prior/labels.json`. */
export function readPriorCorpus(file: string): PriorCorpusFile {
  const json = readJson<PriorCorpusFile>(file);
  if (!json || json.kind !== PRIOR_CORPUS_KIND || !Array.isArray(json.images) || !Array.isArray(json.classes)) {
    throw new Error(`${file}: expected {kind: "${PRIOR_CORPUS_KIND}", classes: [...], images: [...]} (an embedded v2 prior corpus)`);
  }
  const classes = new Set(json.classes);
  json.images.forEach((im, i) => {
    if (typeof im.filename !== 'string' || im.filename.length === 0) throw new Error(`${file}: images[${i}]: missing "filename"`);
    if (!classes.has(im.class)) throw new Error(`${file}: images[${i}] (${im.filename}): class "${im.class}" is not in "classes"`);
    if (im.split !== 'train' && im.split !== 'val') throw new Error(`${file}: images[${i}] (${im.filename}): split must be train or val, got ${JSON.stringify(im.split)}`);
  });
  return json;
}

/** Result of `generateEmbeddedV2`. */
export interface GeneratedEmbeddedV2 {
  dir: string;
  fine: RetrievalDataset;
  prior: PriorCorpusFile;
  coarse: CoarseCorpusFile;
  checksum: string;
}

/** Options of `generateEmbeddedV2`. */
export interface GenerateV2Options {
  /** Folder holding `generated/` (default `<project>/data`). */
  dataRoot?: string;
  /** Called after each rendered image with (done, total). */
  onProgress?: (done: number, total: number) => void;
  /** Regenerate even if a valid cached folder exists. */
  force?: boolean;
}

/** The folder a v2 config generates into. */
export function embeddedV2Dir(cfg: EmbeddedV2Config, dataRoot?: string): string {
  return path.join(dataRoot ?? path.join(projectRoot(), 'data'), 'generated', `${cfg.name}-${embeddedV2ConfigHash(cfg)}`);
}

/** Read a generated v2 folder (fine and prior as datasets, the coarse corpus file). */
export function readEmbeddedV2(dir: string): { fine: RetrievalDataset; prior: PriorCorpusFile; coarse: CoarseCorpusFile; config: EmbeddedV2Config } {
  const coarse = readCoarseCorpus(path.join(dir, V2_FILES.coarse));
  const cfgFile = path.join(dir, V2_FILES.config);
  const meta = readJson<{ config?: EmbeddedV2Config }>(cfgFile);
  if (!meta || typeof meta.config !== 'object') throw new Error(`${cfgFile}: expected {config: {...}} (an embedded v2 folder)`);
  return { fine: readEmbeddedDataset(path.join(dir, 'fine')), prior: readPriorCorpus(path.join(dir, V2_FILES.prior)), coarse, config: meta.config };
}

/** Read and validate `coarse/corpus.json`. */
export function readCoarseCorpus(file: string): CoarseCorpusFile {
  const json = readJson<CoarseCorpusFile>(file);
  if (!json || json.kind !== COARSE_CORPUS_KIND || !Array.isArray(json.samples)) {
    throw new Error(`${file}: expected {kind: "${COARSE_CORPUS_KIND}", samples: [...]} (an embedded v2 coarse corpus)`);
  }
  json.samples.forEach((s, i) => {
    if (typeof s.caption !== 'string' || s.caption.length === 0) throw new Error(`${file}: samples[${i}] (${s.key}): missing "caption"`);
    if (typeof s.sceneClass !== 'string' || !Number.isInteger(s.index) || s.index < 1) throw new Error(`${file}: samples[${i}] (${s.key}): needs "sceneClass" and a positive integer "index"`);
  });
  return json;
}

/** Generate (or reuse) the v2 benchmark for a config. Same config ⇒ byte-identical folder. */
export async function generateEmbeddedV2(cfg: EmbeddedV2Config, opts: GenerateV2Options = {}): Promise<GeneratedEmbeddedV2> {
  validateEmbeddedV2Config(cfg);
  const dir = embeddedV2Dir(cfg, opts.dataRoot);
  const finish = (checksum: string): GeneratedEmbeddedV2 => {
    const r = readEmbeddedV2(dir);
    return { dir, fine: r.fine, prior: r.prior, coarse: r.coarse, checksum };
  };
  const stored = opts.force ? null : validFolderChecksum(dir);
  if (stored !== null) return finish(stored);
  const tmp = `${dir}.tmp-${process.pid}-${tmpCounter++}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  try {
    const f = cfg.fine;
    const perFine = f.trainPerClass + f.valPerClass + f.testPerClass;
    const total = f.classes.length * perFine + cfg.prior.classes.length * cfg.prior.imagesPerClass;
    let done = 0;
    const seen = new Map<string, string>();
    const writeCorpus = async (corpus: 'fine' | 'prior', classes: string[], perClass: number, make: (cls: string, index: number, plan: unknown) => V2Image, planOf: (cls: string) => unknown): Promise<V2KarpathyImage[]> => {
      fs.mkdirSync(path.join(tmp, corpus, 'images'), { recursive: true });
      const images: V2KarpathyImage[] = [];
      let sentid = 0;
      for (const cls of classes) {
        const plan = planOf(cls);
        for (let index = 1; index <= perClass; index++) {
          const img = make(cls, index, plan);
          const hash = sha256(img.png);
          const prev = seen.get(hash);
          if (prev !== undefined) throw new Error(`generateEmbeddedV2: ${corpus}/${img.fileName} has the same bytes as ${prev}: the corpora must be disjoint`);
          seen.set(hash, `${corpus}/${img.fileName}`);
          fs.writeFileSync(path.join(tmp, corpus, 'images', img.fileName), img.png);
          const imgid = images.length;
          const sentences = img.captions.map((raw) => ({ raw, tokens: captionTokens(raw), imgid, sentid: sentid++ }));
          images.push({ filename: img.fileName, imgid, split: img.split, sentences, sentids: sentences.map((s) => s.sentid), class: cls, sha256: hash, objects: img.objects });
          done++;
          opts.onProgress?.(done, total);
          if (done % YIELD_EVERY === 0) await new Promise<void>((res) => setImmediate(res));
        }
      }
      if (corpus === 'fine') fs.writeFileSync(path.join(tmp, V2_FILES.fine), JSON.stringify({ images, dataset: `${cfg.name}-fine` }) + '\n');
      else {
        const prior: PriorCorpusFile = {
          kind: PRIOR_CORPUS_KIND,
          dataset: `${cfg.name}-prior`,
          classes: [...classes],
          images: images.map((im) => ({ filename: im.filename, split: im.split, class: im.class, sha256: im.sha256, objects: im.objects })),
        };
        fs.writeFileSync(path.join(tmp, V2_FILES.prior), JSON.stringify(prior) + '\n');
      }
      return images;
    };
    const fine = await writeCorpus('fine', f.classes, perFine, (c, i, p) => generateFineImage(cfg, c, i, p as ReturnType<typeof planFineClass>), (c) => planFineClass(cfg, c));
    await writeCorpus('prior', cfg.prior.classes, cfg.prior.imagesPerClass, (c, i, p) => generatePriorImage(cfg, c, i, p as ReturnType<typeof planPriorClass>), (c) => planPriorClass(cfg, c));
    const samples = coarseRecords(cfg);
    const configHash = embeddedV2ConfigHash(cfg);
    fs.mkdirSync(path.join(tmp, 'coarse'), { recursive: true });
    const corpus: CoarseCorpusFile = { kind: COARSE_CORPUS_KIND, configHash, samples };
    fs.writeFileSync(path.join(tmp, V2_FILES.coarse), JSON.stringify(corpus) + '\n');
    const caps = (s: Split): string[] => fine.filter((im) => im.split === s).flatMap((im) => im.sentences.map((x) => x.raw));
    fs.writeFileSync(path.join(tmp, V2_FILES.vocabulary), JSON.stringify(vocabularyFile(caps('train'), caps('test'), samples.map((s) => s.caption)), null, 1) + '\n');
    fs.writeFileSync(path.join(tmp, V2_FILES.config), JSON.stringify({ generatorVersion: EMBEDDED_V2_GENERATOR_VERSION, configHash, config: cfg }, null, 2) + '\n');
    const checksum = publishChecksummedFolder(tmp, dir, 'generateEmbeddedV2');
    return finish(checksum);
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}

/** Options of `exportCoarseWebdataset`. */
export interface CoarseExportOptions {
  outDir: string;
  /** Samples per shard (the last may hold fewer). */
  samplesPerShard: number;
  /** Shard name prefix (default `<name>-coarse`): shards are `<prefix>-train-<NNNN>.tar`. */
  prefix?: string;
  /** Only the first `limit` samples of the corpus order. */
  limit?: number;
  onProgress?: (done: number, total: number) => void;
}

/**
 * Stream the coarse corpus into RS5M-layout webdataset shards (`<key>.img_content`, `.caption`,
 * `.img_name`), rendering one shard at a time (memory: one shard). Writes `<prefix>-manifest.json`.
 */
export function exportCoarseWebdataset(cfg: EmbeddedV2Config, corpus: CoarseCorpusFile, opts: CoarseExportOptions): { shards: Array<{ file: string; samples: number; sha256: string }>; manifestFile: string } {
  if (!Number.isInteger(opts.samplesPerShard) || opts.samplesPerShard < 1) throw new Error(`exportCoarseWebdataset: samplesPerShard must be a positive integer, got ${opts.samplesPerShard}`);
  if (corpus.configHash !== embeddedV2ConfigHash(cfg)) throw new Error(`exportCoarseWebdataset: corpus was generated by config ${corpus.configHash}, not ${embeddedV2ConfigHash(cfg)}`);
  const prefix = opts.prefix ?? `${cfg.name}-coarse`;
  const samples = opts.limit !== undefined ? corpus.samples.slice(0, opts.limit) : corpus.samples;
  const enc = new TextEncoder();
  const shards: Array<{ file: string; samples: number; sha256: string }> = [];
  for (let s = 0, k = 0; s < samples.length; s += opts.samplesPerShard, k++) {
    const entries: TarEntry[] = [];
    for (const rec of samples.slice(s, s + opts.samplesPerShard)) {
      const { png } = coarseSampleImage(cfg, rec);
      entries.push(
        { name: `${rec.key}.img_content`, data: png },
        { name: `${rec.key}.caption`, data: enc.encode(rec.caption) },
        { name: `${rec.key}.img_name`, data: enc.encode(rec.imgName) },
      );
      opts.onProgress?.(Math.min(samples.length, s + entries.length / 3), samples.length);
    }
    const file = path.join(opts.outDir, `${prefix}-train-${String(k).padStart(4, '0')}.tar`);
    writeTarFile(file, entries);
    shards.push({ file, samples: entries.length / 3, sha256: sha256(fs.readFileSync(file)) });
  }
  const manifestFile = path.join(opts.outDir, `${prefix}-manifest.json`);
  atomicWriteJson(manifestFile, {
    dataset: `${cfg.name}-coarse`,
    mode: 'coarse',
    samplesPerShard: opts.samplesPerShard,
    fields: { image: 'img_content', caption: 'caption', imageName: 'img_name' },
    shards: shards.map((x) => ({ file: path.basename(x.file), split: 'train', samples: x.samples, sha256: x.sha256 })),
  });
  return { shards, manifestFile };
}

/**
 * Export the prior corpus in AID's layout: `<outDir>/<split>/<class>/<file>.png` plus
 * `labels.json` (the corpus file). Returns the number of images written.
 */
export function exportPriorImageFolder(dir: string, outDir: string): { images: number; labelsFile: string } {
  const corpus = readPriorCorpus(path.join(dir, V2_FILES.prior));
  for (const im of corpus.images) {
    const src = path.join(dir, 'prior', 'images', im.filename);
    let bytes: Uint8Array;
    try {
      bytes = fs.readFileSync(src);
    } catch (e) {
      throw new Error(`exportPriorImageFolder: image ${im.filename}: cannot read ${src}: ${(e as Error).message}`);
    }
    atomicWriteFile(path.join(outDir, im.split, im.class, im.filename), bytes);
  }
  const labelsFile = path.join(outDir, 'labels.json');
  atomicWriteJson(labelsFile, corpus);
  return { images: corpus.images.length, labelsFile };
}

/** Images generated between yields to the event loop. */
const YIELD_EVERY = 64;
let tmpCounter = 0;
