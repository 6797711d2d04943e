/**
 * Training data for an experiment: the dataset (embedded or real), its tokenizer, a shared pixel
 * cache, and the views each stage trains on (fine captions, coarse captions, one sample per image).
 */
import { RetrievalDataset, ImageRecord, splitImages } from '../data/types';
import { generateEmbeddedDataset } from '../data/embedded/generate';
import { loadDataset } from '../data/loaders/index';
import { PixelCache, TextEncodeFn, wordTextEncoder, clipTextEncoder } from '../data/batches';
import { WordTokenizer } from '../data/word_tokenizer';
import { ClipTokenizer } from '../data/clip_tokenizer';
import { AugmentConfig, OPEN_CLIP_AUGMENT, PIR_AUGMENT } from '../data/augment';
import { sha256File } from '../utils/fs';
import { SeedStream } from '../utils/random';
import { DataConfig, ExperimentConfig } from '../config/experiment';
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
}

export type { TokenizerKind };

/** Bytes of decoded pixels kept in memory (embedded 64 px data is ≈ 11 MB). */
export const TRAIN_CACHE_BYTES = 512 * 1024 * 1024;

/** Load or generate the data, build the tokenizer. */
export async function prepareData(cfg: DataConfig, tokenizer: TokenizerKind, contextLength: number, onProgress?: (done: number, total: number) => void): Promise<PreparedData> {
  const t0 = Date.now();
  let dataset: RetrievalDataset;
  let identity: { name: string; checksum: string };
  if (cfg.source === 'embedded') {
    const g = await generateEmbeddedDataset(cfg.embedded, { onProgress });
    dataset = g.dataset;
    identity = { name: `${cfg.embedded.name}`, checksum: g.checksum };
  } else {
    if (!cfg.annotationFile) throw new Error(`data.annotationFile must be set when data.source is '${cfg.source}'`);
    dataset = await loadDataset(cfg.annotationFile, { format: cfg.source, imagesRoot: cfg.imagesRoot ?? undefined });
    identity = { name: dataset.name, checksum: sha256File(cfg.annotationFile) };
  }
  dataset = limitSplits(dataset, cfg);
  let wordTokenizer: WordTokenizer | null = null;
  let encodeText: TextEncodeFn;
  if (tokenizer === 'word') {
    const caps: string[] = [];
    for (const r of splitImages(dataset, 'train')) {
      caps.push(...r.captions);
      if (r.coarseCaption) caps.push(r.coarseCaption);
    }
    wordTokenizer = WordTokenizer.build(caps, { contextLength });
    encodeText = wordTextEncoder(wordTokenizer, 'max');
  } else {
    encodeText = clipTextEncoder(ClipTokenizer.fromFile(), contextLength);
  }
  return { identity, dataset, encodeText, wordTokenizer, cache: new PixelCache(TRAIN_CACHE_BYTES), seconds: (Date.now() - t0) / 1000 };
}

/** Load / generate the data of an experiment with the tokenizer its model needs. */
export function prepareExperimentData(exp: ExperimentConfig, onProgress?: (done: number, total: number) => void): Promise<PreparedData> {
  const needs = dataNeeds(exp.model);
  return prepareData(exp.data, needs.tokenizer, needs.contextLength, onProgress);
}

/** The sizes the prepared data decides for a model (`modelForData`). */
export function dataSizes(data: PreparedData): DataSizes {
  const w = data.wordTokenizer;
  return { vocabulary: w ? { vocabSize: w.vocabSize, contextLength: w.contextLength } : null, numClasses: data.dataset.classes.length };
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
