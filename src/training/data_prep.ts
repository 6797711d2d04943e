/**
 * Training data for an experiment: the dataset (embedded or real), its tokenizer, a shared pixel
 * cache, and the views each stage trains on (fine captions, coarse captions, one sample per image).
 *
 * With embedded v2 data (`data.embedded.version` 2) the stages read three disjoint corpora:
 * stage 0 the prior corpus (`corpora.prior`, unless `train.stage0.corpus` is `fine`), stage 1 the
 * coarse corpus (`corpora.coarse`, rendered on demand, never materialised), stage 2 and every
 * evaluation the fine corpus (`dataset`). With v1 data every stage reads `dataset`, as before.
 */
import * as path from 'path';
import { RetrievalDataset, ImageRecord, splitImages } from '../data/types';
import { generateEmbeddedDataset } from '../data/embedded/generate';
import { loadDataset } from '../data/loaders/index';
import { PixelCache, TextEncodeFn, wordTextEncoder, clipTextEncoder } from '../data/batches';
import { CoarseCorpusFile, EmbeddedV2Config, PriorCorpusFile, coarseSampleImage, generateEmbeddedV2 } from '../data/embedded/v2/index';
import { RgbImage } from '../io/image_codecs';
import { WordTokenizer } from '../data/word_tokenizer';
import { ClipTokenizer } from '../data/clip_tokenizer';
import { AugmentConfig, OPEN_CLIP_AUGMENT, PIR_AUGMENT } from '../data/augment';
import { sha256File } from '../utils/fs';
import { SeedStream } from '../utils/random';
import { DataConfig, ExperimentConfig, isEmbeddedV2 } from '../config/experiment';
import { DataSizes, TokenizerKind, dataNeeds } from '../models/family';

/** The data an experiment trains and evaluates on. */
export interface PreparedData {
  /** Dataset identity for run records. */
  identity: { name: string; checksum: string };
  dataset: RetrievalDataset;
  /** Tokenizer of the model family (word vocabulary built on the train captions, or CLIP BPE). */
  encodeText: TextEncodeFn;
  /** Word tokenizer (pir models) — its vocabulary size and context length go into the model config. */
  wordTokenizer: WordTokenizer | null;
  /** Decoded images, shared by every stage and evaluation. */
  cache: PixelCache;
  /** Seconds spent generating / loading. */
  seconds: number;
  /** The other corpora of embedded v2 data (both null for v1 and real data: every stage reads `dataset`). */
  corpora: { prior: StageCorpus | null; coarse: StageCorpus | null };
}

/** A corpus a stage trains on, with its own pixel source (image ids are per corpus, so caches are too). */
export interface StageCorpus {
  dataset: RetrievalDataset;
  cache: PixelCache;
}

/**
 * A pixel source that renders every request (the coarse corpus: 22,000 images are never held; one
 * image per batch slot is rendered, deterministically, when the batch is built).
 */
export class RenderedPixels extends PixelCache {
  /** Images rendered so far. */
  rendered = 0;
  constructor(private readonly render: (rec: ImageRecord) => RgbImage) {
    super(0);
  }
  override async get(rec: ImageRecord): Promise<RgbImage> {
    this.rendered++;
    this.misses++;
    return this.render(rec);
  }
}

/** The prior corpus (AID-like, `prior/labels.json`) as a dataset: labelled images, split train / val, one empty caption each. */
export function priorCorpusDataset(dir: string, prior: PriorCorpusFile): RetrievalDataset {
  const images: ImageRecord[] = prior.images.map((im, i) => ({
    imageId: i,
    fileName: im.filename,
    path: path.join(dir, 'prior', 'images', im.filename),
    split: im.split,
    captions: [''],
    sceneClass: im.class,
  }));
  return { name: prior.dataset, format: 'embedded', imagesRoot: path.join(dir, 'prior', 'images'), images, classes: [...prior.classes].sort() };
}

/** Key prefix of coarse-corpus image paths (`coarse#<class>-<index>`: rendered, no file). */
export const COARSE_PATH_PREFIX = 'coarse#';

/** The coarse corpus (RS5M-like) as a dataset of records without pixels (split train, the coarse caption as the one caption), and its renderer. */
export function coarseCorpusView(cfg: EmbeddedV2Config, corpus: CoarseCorpusFile): StageCorpus {
  const byId = corpus.samples;
  const images: ImageRecord[] = byId.map((r, i) => ({
    imageId: i,
    fileName: r.imgName,
    path: `${COARSE_PATH_PREFIX}${r.key}`,
    split: 'train',
    captions: [r.caption],
    sceneClass: r.sceneClass,
    coarseCaption: r.caption,
  }));
  const classes = [...new Set(byId.map((r) => r.sceneClass))].sort();
  const cache = new RenderedPixels((rec) => {
    const r = byId[rec.imageId];
    if (!r || `${COARSE_PATH_PREFIX}${r.key}` !== rec.path) throw new Error(`${cfg.name}-coarse: no coarse record ${rec.imageId} (${rec.path})`);
    const { rgb } = coarseSampleImage(cfg, r);
    return { width: cfg.imageSize, height: cfg.imageSize, data: rgb };
  });
  return { dataset: { name: `${cfg.name}-coarse`, format: 'embedded', imagesRoot: '', images, classes }, cache };
}

export type { TokenizerKind };

/** Bytes of decoded pixels kept in memory (embedded 64 px data is ≈ 11 MB). */
export const TRAIN_CACHE_BYTES = 512 * 1024 * 1024;

/** Load or generate the data, build the tokenizer. */
export async function prepareData(cfg: DataConfig, tokenizer: TokenizerKind, contextLength: number, onProgress?: (done: number, total: number) => void): Promise<PreparedData> {
  const t0 = Date.now();
  let dataset: RetrievalDataset;
  let identity: { name: string; checksum: string };
  const corpora: PreparedData['corpora'] = { prior: null, coarse: null };
  const emb = cfg.embedded;
  if (cfg.source === 'embedded') {
    if (isEmbeddedV2(emb)) {
    const g = await generateEmbeddedV2(emb, { onProgress });
    dataset = g.fine;
    identity = { name: `${emb.name}`, checksum: g.checksum };
    corpora.prior = { dataset: priorCorpusDataset(g.dir, g.prior), cache: new PixelCache(TRAIN_CACHE_BYTES) };
    corpora.coarse = coarseCorpusView(emb, g.coarse);
    } else {
    const g = await generateEmbeddedDataset(emb, { onProgress });
    dataset = g.dataset;
    identity = { name: `${emb.name}`, checksum: g.checksum };
    }
  } else {
    if (!cfg.annotationFile) throw new Error(`data.annotationFile must be set when data.source is '${cfg.source}'`);
    dataset = await loadDataset(cfg.annotationFile, { format: cfg.source, imagesRoot: cfg.imagesRoot ?? undefined });
    identity = { name: dataset.name, checksum: sha256File(cfg.annotationFile) };
  }
  dataset = limitSplits(dataset, cfg);
  let wordTokenizer: WordTokenizer | null = null;
  let encodeText: TextEncodeFn;
  if (tokenizer === 'word' || tokenizer === 'word-eot-last') {
    const caps: string[] = [];
    for (const r of splitImages(dataset, 'train')) {
      caps.push(...r.captions);
      if (r.coarseCaption) caps.push(r.coarseCaption);
    }
    // v2: the vocabulary also covers the coarse corpus's words (stage 1 reads them; the fine test's long-tail names come from there)
    if (corpora.coarse) for (const r of corpora.coarse.dataset.images) caps.push(r.captions[0]);
    wordTokenizer = WordTokenizer.build(caps, { contextLength });
    encodeText = tokenizer === 'word' ? wordTextEncoder(wordTokenizer, 'max') : eotLastEncoder(wordTokenizer);
  } else {
    encodeText = clipTextEncoder(ClipTokenizer.fromFile(), contextLength);
  }
  return { identity, dataset, encodeText, wordTokenizer, cache: new PixelCache(TRAIN_CACHE_BYTES), seconds: (Date.now() - t0) / 1000, corpora };
}

/** Id of `<eot>` in the word vocabulary (`WORD_SPECIALS[3]`). */
const WORD_EOT = 3;

/**
 * The word vocabulary for a CLIP-style text tower, which pools at `argmax(ids)` (CLIP's EOT is its
 * largest id): `<eot>` is moved to the id `vocabSize` (one past the word ids), so the argmax is the
 * EOT position as in CLIP. The tower's table then has `vocabSize + 1` rows (`dataSizes`).
 */
export function eotLastEncoder(tok: WordTokenizer): TextEncodeFn {
  const base = wordTextEncoder(tok, 'max');
  const eot = tok.vocabSize;
  return (captions) => {
    const out = base(captions);
    const ids = out.ids.slice();
    for (let i = 0; i < ids.length; i++) if (ids[i] === WORD_EOT) ids[i] = eot;
    return { ids, length: out.length };
  };
}

/** Load / generate the data of an experiment with the tokenizer its model needs. */
export function prepareExperimentData(exp: ExperimentConfig, onProgress?: (done: number, total: number) => void): Promise<PreparedData> {
  const needs = dataNeeds(exp.model);
  return prepareData(exp.data, needs.tokenizer, needs.contextLength, onProgress);
}

/**
 * The sizes the prepared data decides for a model (`modelForData`). The scene classes are those of
 * the corpus stage 0 trains the prior on (`priorCorpus`: with v2 data, the prior corpus's own
 * classes unless `train.stage0.corpus` is `fine`); without `exp`, those of `dataset`.
 */
export function dataSizes(data: PreparedData, exp?: ExperimentConfig): DataSizes {
  const w = data.wordTokenizer;
  const extra = exp && dataNeeds(exp.model).tokenizer === 'word-eot-last' ? 1 : 0;
  const classes = exp ? priorCorpus(exp, data).dataset.classes : data.dataset.classes;
  return { vocabulary: w ? { vocabSize: w.vocabSize + extra, contextLength: w.contextLength } : null, numClasses: classes.length };
}

/** The corpus the stage-0 prior trains (and is scored) on: v2's prior corpus unless `train.stage0.corpus` is `fine`; else the dataset. */
export function priorCorpus(exp: ExperimentConfig, data: PreparedData): StageCorpus {
  if (data.corpora.prior && exp.train.stage0.corpus !== 'fine') return data.corpora.prior;
  return { dataset: data.dataset, cache: data.cache };
}

/** The corpus stage 1 trains on: v2's coarse corpus when `train.stage1.captions` is `coarse`; else the dataset (its coarse or fine captions). */
export function stage1Corpus(exp: ExperimentConfig, data: PreparedData): StageCorpus {
  if (data.corpora.coarse && exp.train.stage1.captions === 'coarse') return data.corpora.coarse;
  return { dataset: exp.train.stage1.captions === 'coarse' ? coarseView(data.dataset) : data.dataset, cache: data.cache };
}

/** Apply `maxTrainImages` / `maxValImages` (a seeded, per-dataset choice, the same for every run). */
function limitSplits(ds: RetrievalDataset, cfg: DataConfig): RetrievalDataset {
  const keep = new Set<number>();
  const choose = (split: 'train' | 'val', max: number) => {
    const recs = splitImages(ds, split);
    if (max <= 0 || max >= recs.length) {
      for (const r of recs) keep.add(r.imageId);
      return;
    }
    const order = new SeedStream(0).child(`limit/${split}`).permutation(recs.length).slice(0, max).sort((a, b) => a - b);
    for (const i of order) keep.add(recs[i].imageId);
  };
  choose('train', cfg.maxTrainImages);
  choose('val', cfg.maxValImages);
  for (const r of splitImages(ds, 'test')) keep.add(r.imageId);
  if (keep.size === ds.images.length) return ds;
  return { ...ds, images: ds.images.filter((r) => keep.has(r.imageId)) };
}

/** A view of the dataset whose train captions are the coarse (stage-1) captions, one per image. */
export function coarseView(ds: RetrievalDataset): RetrievalDataset {
  const images: ImageRecord[] = ds.images.map((r) => {
    if (r.split !== 'train') return r;
    if (!r.coarseCaption) throw new Error(`${ds.name}: train image ${r.imageId} "${r.fileName}" has no coarse caption (set train.stage1.captions to 'fine')`);
    return { ...r, captions: [r.coarseCaption] };
  });
  return { ...ds, images };
}

/** A view with one train sample per image (stage 0 classifies images, captions are not used). */
export function imageView(ds: RetrievalDataset): RetrievalDataset {
  return { ...ds, images: ds.images.map((r) => (r.split === 'train' ? { ...r, captions: [r.captions[0] ?? ''] } : r)) };
}

/** Augmentation of the training images at the model's input size. */
export function augmentFor(kind: 'none' | 'pir' | 'open_clip', size: number): AugmentConfig | null {
  if (kind === 'none') return null;
  return { ...(kind === 'pir' ? PIR_AUGMENT : OPEN_CLIP_AUGMENT), size };
}
