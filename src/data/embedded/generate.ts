/**
 * The embedded benchmark generator: scenes → PNG images + captions → a Karpathy-format folder.
 *
 * Every image draws from its own named random stream (`image/<class>/<n>`), so an image does not
 * change when other classes or counts change, and the same config gives byte-identical files.
 * Output: `<dataRoot>/generated/<name>-<config hash>/{images/*.png, dataset.json, config.json,
 * checksum.txt}`, written into a temp folder and renamed into place (atomic); a folder whose
 * checksum matches its files is reused.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import { SeedStream } from '../../utils/random';
import { projectRoot, readJson, sha256 } from '../../utils/fs';
import { ImageRecord, RetrievalDataset, Split } from '../types';
import { Raster } from './raster';
import { DISTRACTOR_KINDS, KIND_COLOURS, KIND_SIZE, objectOps } from './objects';
import { CLASS_KINDS, SCENE_BUILDERS } from './classes';
import { Scene, SceneBuilder, groupFact } from './scene';
import { CoarseKind, coarseCaption, fineCaptions } from './captions';
import { EMBEDDED_GENERATOR_VERSION, EmbeddedDataConfig, embeddedConfigHash, validateEmbeddedConfig } from './config';
import { captionTokens } from './vocabulary';
import { AnnotatedObject, annotateObjects } from './annotations';

/** Distractor objects per affected image: uniform in [min, max]. */
const DISTRACTOR_COUNT_MIN = 1;
const DISTRACTOR_COUNT_MAX = 2;
/** Source classes tried before giving up on placing distractors in a full scene. */
const DISTRACTOR_SOURCE_TRIES = 4;
/** File holding the combined checksum of a generated folder. */
export const CHECKSUM_FILE = 'checksum.txt';
/** Karpathy annotation file name. */
export const ANNOTATION_FILE = 'dataset.json';

/** Options of `sampleScene`. */
export interface SampleSceneOptions {
  /** Add distractor objects borrowed from another class. */
  distractors: boolean;
  /** Classes distractors may come from (default: all with a portable object kind). */
  distractorSources?: readonly string[];
}

/** Sample the content of one scene (no pixels yet). */
export function sampleScene(sceneClass: string, rng: SeedStream, opts: SampleSceneOptions): Scene {
  const build = SCENE_BUILDERS[sceneClass];
  if (!build) throw new Error(`sampleScene: unknown scene class "${sceneClass}"`);
  const b = new SceneBuilder(sceneClass, rng);
  build(b);
  const scene = b.build();
  if (!opts.distractors) return scene;
  addDistractors(b, scene, sceneClass, CLASS_KINDS[sceneClass] ?? [], opts.distractorSources ?? Object.keys(DISTRACTOR_KINDS), rng);
  return scene;
}

/**
 * Add 1–2 distractor objects to a built scene: objects typical of another class (drawn among
 * `sources`, else among every class with a portable object kind) whose kind the scene's own class
 * does not use. Shared by v1's `sampleScene` and v2's `sampleSceneV2` (same draws, same order).
 */
export function addDistractors(b: SceneBuilder, scene: Scene, sceneClass: string, ownKinds: readonly string[], sources: readonly string[], rng: SeedStream): void {
  const own = new Set<string>(ownKinds);
  const pool = sources.filter((c) => c !== sceneClass && DISTRACTOR_KINDS[c] !== undefined && !own.has(DISTRACTOR_KINDS[c]));
  const fallback = Object.keys(DISTRACTOR_KINDS).filter((c) => c !== sceneClass && !own.has(DISTRACTOR_KINDS[c]));
  const from = pool.length > 0 ? pool : fallback;
  const count = rng.intBetween(DISTRACTOR_COUNT_MIN, DISTRACTOR_COUNT_MAX);
  for (let t = 0; t < DISTRACTOR_SOURCE_TRIES; t++) {
    const source = rng.pick(from);
    const kind = DISTRACTOR_KINDS[source];
    const colour = rng.pick(KIND_COLOURS[kind]);
    const placed = b.place(kind, count, { x0: 0.05, y0: 0.05, x1: 0.95, y1: 0.95 }, {
      colour,
      role: 'distractor',
      size: (q) => KIND_SIZE[kind] * q.uniform(0.9, 1.05),
      sourceClass: source,
      gap: 1.1,
    });
    if (placed.length > 0) {
      scene.distractorClass = source;
      scene.distractorFacts.push(
        groupFact(kind, placed, {
          colour,
          verbs: [['are also visible', 'is also visible'], ['can also be seen', 'can also be seen']],
          located: true,
          key: false,
        }),
      );
      return;
    }
  }
}

/**
 * Write the checksum of a finished temporary folder into it and move it to `dir`; returns the checksum.
 * A `dir` that already holds these bytes (another process published the same folder first, and may be reading
 * it now) is kept and `tmp` is dropped: a published folder is never deleted under its readers. Any other `dir`
 * (stale, tampered, partly deleted) is moved aside, replaced, then removed.
 */
export function publishChecksummedFolder(tmp: string, dir: string, who: string): string {
  const checksum = folderChecksum(tmp);
  fs.writeFileSync(path.join(tmp, CHECKSUM_FILE), checksum + '\n');
  fs.mkdirSync(path.dirname(dir), { recursive: true });
  const published = (): boolean => validFolderChecksum(dir) === checksum;
  if (published()) {
    fs.rmSync(tmp, { recursive: true, force: true });
    return checksum;
  }
  let aside: string | null = null;
  if (fs.existsSync(dir)) {
    aside = `${dir}.replaced-${process.pid}-${tmpCounter++}`;
    fs.renameSync(dir, aside);
  }
  try {
    fs.renameSync(tmp, dir);
  } catch (e) {
    // Another process may have published the same folder in between: keep it.
    if (!published()) throw new Error(`${who}: cannot move ${tmp} to ${dir}: ${(e as Error).message}`);
    fs.rmSync(tmp, { recursive: true, force: true });
  } finally {
    if (aside) fs.rmSync(aside, { recursive: true, force: true });
  }
  return checksum;
}

/** Render a scene to RGB bytes (size·size·3, row-major). */
export function renderScene(scene: Scene, size: number, supersample: number, rng: SeedStream): Uint8Array {
  const raster = new Raster(size, supersample, rng);
  raster.drawAll(scene.background);
  for (const o of scene.objects) raster.drawAll(objectOps(o));
  return raster.toRgb8();
}

/** PNG file signature. */
const PNG_SIGNATURE = Uint8Array.from([137, 80, 78, 71, 13, 10, 26, 10]);
/** zlib level for PNG image data (fixed: part of the deterministic byte format). */
const PNG_DEFLATE_LEVEL = 6;
const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(parts: readonly Uint8Array[]): number {
  let c = 0xffffffff;
  for (const p of parts) for (let i = 0; i < p.length; i++) c = CRC_TABLE[(c ^ p[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function pngChunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  const typeBytes = Uint8Array.from(type, (ch) => ch.charCodeAt(0));
  out.set(typeBytes, 4);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32([typeBytes, data]));
  return out;
}

/**
 * Encode RGB bytes as an 8-bit RGB PNG: every row uses the "Sub" filter, zlib level 6, no
 * ancillary chunks — so the bytes depend only on the pixels (and Node's bundled zlib).
 */
export function encodePngRgb(rgb: Uint8Array, width: number, height: number): Uint8Array {
  if (rgb.length !== width * height * 3) {
    throw new Error(`encodePngRgb: expected ${width * height * 3} bytes for ${width}x${height} RGB, got ${rgb.length}`);
  }
  const stride = width * 3;
  const raw = new Uint8Array(height * (stride + 1));
  for (let y = 0; y < height; y++) {
    const o = y * (stride + 1);
    raw[o] = 1; // filter type Sub
    const row = y * stride;
    for (let x = 0; x < stride; x++) raw[o + 1 + x] = (rgb[row + x] - (x >= 3 ? rgb[row + x - 3] : 0)) & 0xff;
  }
  const ihdr = new Uint8Array(13);
  const v = new DataView(ihdr.buffer);
  v.setUint32(0, width);
  v.setUint32(4, height);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // colour type RGB
  const idat = new Uint8Array(zlib.deflateSync(raw, { level: PNG_DEFLATE_LEVEL }));
  const parts = [PNG_SIGNATURE, pngChunk('IHDR', ihdr), pngChunk('IDAT', idat), pngChunk('IEND', new Uint8Array(0))];
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** One generated image with everything the dataset records about it. */
export interface EmbeddedImage {
  sceneClass: string;
  /** 1-based index within the class (the `<n>` of `<class>_<n>.png`). */
  index: number;
  fileName: string;
  scene: Scene;
  /** RGB bytes, imageSize² · 3. */
  rgb: Uint8Array;
  png: Uint8Array;
  captions: string[];
  coarseCaption: string;
  coarseKind: CoarseKind;
  split: Split;
}

/**
 * Per-class decisions drawn once per class (from streams `split/<class>`, `distractors/<class>`,
 * `coarse/<class>`): each image's split, whether it gets distractors, and its coarse-caption kind.
 * Quotas are exact per class (e.g. distractorRate 0.3 of 50 images → exactly 15).
 */
export interface EmbeddedClassPlan {
  split: Split[];
  distractor: boolean[];
  coarse: CoarseKind[];
}

/** The plan of one class (index i of each array = image `<class>_<i+1>`). */
export function planEmbeddedClass(cfg: EmbeddedDataConfig, cls: string, root: SeedStream = new SeedStream(cfg.seed)): EmbeddedClassPlan {
  const n = cfg.imagesPerClass;
  const nTest = Math.round(cfg.splitFractions.test * n);
  const nVal = Math.round(cfg.splitFractions.val * n);
  const split: Split[] = new Array<Split>(n).fill('train');
  const perm = root.child(`split/${cls}`).permutation(n);
  perm.forEach((img, rank) => {
    split[img] = rank < nTest ? 'test' : rank < nTest + nVal ? 'val' : 'train';
  });
  const distractor = new Array<boolean>(n).fill(false);
  const nDistract = Math.round(cfg.distractorRate * n);
  root.child(`distractors/${cls}`).permutation(n).slice(0, nDistract).forEach((i) => (distractor[i] = true));
  const coarse: CoarseKind[] = new Array<CoarseKind>(n).fill('clean');
  const nNoisy = Math.round(cfg.coarseCaptionNoise * n);
  const nWrong = Math.round(cfg.coarseWrongClassShare * nNoisy);
  root
    .child(`coarse/${cls}`)
    .permutation(n)
    .slice(0, nNoisy)
    .forEach((i, rank) => (coarse[i] = rank < nWrong ? 'wrong' : 'generic'));
  return { split, distractor, coarse };
}

/** File name of image `index` (1-based) of a class: `<class>_<index>.png`. */
export function embeddedFileName(cls: string, index: number): string {
  return `${cls}_${index}.png`;
}

/**
 * Generate one image of the dataset (in memory), exactly as `generateEmbeddedDataset` does.
 * `index` is 1-based within the class; pass the class's plan when generating many images of it.
 */
export function generateEmbeddedImage(cfg: EmbeddedDataConfig, cls: string, index: number, plan?: EmbeddedClassPlan): EmbeddedImage {
  validateEmbeddedConfig(cfg);
  if (!cfg.classes.includes(cls)) throw new Error(`generateEmbeddedImage: class "${cls}" is not in config.classes`);
  if (!Number.isInteger(index) || index < 1 || index > cfg.imagesPerClass) {
    throw new Error(`generateEmbeddedImage: index ${index} outside 1..${cfg.imagesPerClass}`);
  }
  const root = new SeedStream(cfg.seed);
  const p = plan ?? planEmbeddedClass(cfg, cls, root);
  const i = index - 1;
  const rng = root.child(`image/${cls}/${index}`);
  const scene = sampleScene(cls, rng.child('scene'), { distractors: p.distractor[i], distractorSources: cfg.classes });
  const rgb = renderScene(scene, cfg.imageSize, cfg.supersample, rng.child('texture'));
  const capRng = rng.child('captions');
  const mention = capRng.bernoulli(cfg.distractorMentionRate);
  const captions = fineCaptions(scene, cfg.captionsPerImage, mention, capRng);
  const coarseKind = p.coarse[i];
  return {
    sceneClass: cls,
    index,
    fileName: embeddedFileName(cls, index),
    scene,
    rgb,
    png: encodePngRgb(rgb, cfg.imageSize, cfg.imageSize),
    captions,
    coarseCaption: coarseCaption(cls, coarseKind, cfg.classes, rng.child('coarse')),
    coarseKind,
    split: p.split[i],
  };
}

/** Karpathy-format annotation with the embedded extras (`class`, `coarse_caption`). */
export interface EmbeddedKarpathyJson {
  images: Array<{
    filename: string;
    imgid: number;
    split: Split;
    sentences: Array<{ raw: string; tokens: string[]; imgid: number; sentid: number }>;
    sentids: number[];
    class: string;
    coarse_caption: string;
    /** Ground-truth objects (key, context, distractor) with boxes. */
    objects: AnnotatedObject[];
  }>;
  dataset: string;
}

/** Result of `generateEmbeddedDataset`. */
export interface GeneratedEmbeddedDataset {
  /** The dataset folder. */
  dir: string;
  dataset: RetrievalDataset;
  /** Path of `dataset.json` (Karpathy format). */
  annotationFile: string;
  /** Combined sha256 of every file in the folder (see `folderChecksum`). */
  checksum: string;
}

/** Options of `generateEmbeddedDataset`. */
export interface GenerateOptions {
  /** Folder holding `generated/` (default `<project>/data`). */
  dataRoot?: string;
  /** Called after each image with (done, total). */
  onProgress?: (done: number, total: number) => void;
  /** Regenerate even if a valid cached folder exists. */
  force?: boolean;
}

/**
 * The checksum a generated folder holds when its checksum file matches its bytes; null when it has none, or the
 * bytes differ (partly written, tampered).
 */
export function validFolderChecksum(dir: string): string | null {
  const file = path.join(dir, CHECKSUM_FILE);
  if (!fs.existsSync(file)) return null;
  const stored = fs.readFileSync(file, 'utf8').trim();
  return stored === folderChecksum(dir) ? stored : null;
}

/** Combined checksum of a folder's files (sorted relative paths, each with its sha256), excluding checksum.txt. */
export function folderChecksum(dir: string): string {
  const files: string[] = [];
  const walk = (rel: string): void => {
    for (const e of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      const r = rel === '' ? e.name : `${rel}/${e.name}`;
      if (e.isDirectory()) walk(r);
      else if (r !== CHECKSUM_FILE) files.push(r);
    }
  };
  walk('');
  files.sort();
  const lines = files.map((f) => `${f}\0${sha256(fs.readFileSync(path.join(dir, f)))}\n`);
  return sha256(lines.join(''));
}

/** The dataset folder a config generates into. */
export function embeddedDatasetDir(cfg: EmbeddedDataConfig, dataRoot?: string): string {
  return path.join(dataRoot ?? path.join(projectRoot(), 'data'), 'generated', `${cfg.name}-${embeddedConfigHash(cfg)}`);
}

/** Build the in-memory dataset from a generated folder's `dataset.json`. */
export function readEmbeddedDataset(dir: string): RetrievalDataset {
  const file = path.join(dir, ANNOTATION_FILE);
  const json = readJson<EmbeddedKarpathyJson>(file);
  if (!json || !Array.isArray(json.images)) throw new Error(`${file}: expected {images: [...]} (Karpathy format)`);
  const imagesRoot = path.join(dir, 'images');
  const images: ImageRecord[] = json.images.map((im, i) => {
    if (typeof im.filename !== 'string' || !Array.isArray(im.sentences)) {
      throw new Error(`${file}: image record ${i} lacks filename or sentences`);
    }
    return {
      imageId: im.imgid,
      fileName: im.filename,
      path: path.join(imagesRoot, im.filename),
      split: im.split,
      captions: im.sentences.map((s) => s.raw),
      sceneClass: im.class,
      coarseCaption: im.coarse_caption,
    };
  });
  const classes = [...new Set(images.map((r) => r.sceneClass).filter((c): c is string => c !== null))].sort();
  return { name: json.dataset, format: 'embedded', imagesRoot, images, classes };
}

/**
 * Generate (or reuse) the embedded dataset for a config. Same config ⇒ byte-identical folder.
 */
export async function generateEmbeddedDataset(cfg: EmbeddedDataConfig, opts: GenerateOptions = {}): Promise<GeneratedEmbeddedDataset> {
  validateEmbeddedConfig(cfg);
  const dir = embeddedDatasetDir(cfg, opts.dataRoot);
  const annotationFile = path.join(dir, ANNOTATION_FILE);
  const stored = opts.force ? null : validFolderChecksum(dir);
  if (stored !== null) return { dir, dataset: readEmbeddedDataset(dir), annotationFile, checksum: stored };
  const tmp = `${dir}.tmp-${process.pid}-${tmpCounter++}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(path.join(tmp, 'images'), { recursive: true });
  try {
    const root = new SeedStream(cfg.seed);
    const total = cfg.classes.length * cfg.imagesPerClass;
    const json: EmbeddedKarpathyJson = { images: [], dataset: cfg.name };
    let sentid = 0;
    let done = 0;
    for (const cls of cfg.classes) {
      const plan = planEmbeddedClass(cfg, cls, root);
      for (let index = 1; index <= cfg.imagesPerClass; index++) {
        const img = generateEmbeddedImage(cfg, cls, index, plan);
        fs.writeFileSync(path.join(tmp, 'images', img.fileName), img.png);
        const imgid = json.images.length;
        const sentences = img.captions.map((raw) => ({ raw, tokens: captionTokens(raw), imgid, sentid: sentid++ }));
        json.images.push({
          filename: img.fileName,
          imgid,
          split: img.split,
          sentences,
          sentids: sentences.map((s) => s.sentid),
          class: cls,
          coarse_caption: img.coarseCaption,
          objects: annotateObjects(img.scene.objects),
        });
        done++;
        if (opts.onProgress) opts.onProgress(done, total);
        if (done % YIELD_EVERY === 0) await new Promise<void>((res) => setImmediate(res));
      }
    }
    fs.writeFileSync(path.join(tmp, ANNOTATION_FILE), JSON.stringify(json) + '\n');
    fs.writeFileSync(
      path.join(tmp, 'config.json'),
      JSON.stringify({ generatorVersion: EMBEDDED_GENERATOR_VERSION, configHash: embeddedConfigHash(cfg), config: cfg }, null, 2) + '\n',
    );
    const checksum = publishChecksummedFolder(tmp, dir, 'generateEmbeddedDataset');
    return { dir, dataset: readEmbeddedDataset(dir), annotationFile, checksum };
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}

/** Images generated between yields to the event loop (keeps notebook displays live). */
const YIELD_EVERY = 64;
let tmpCounter = 0;
