/**
 * Batches for training and evaluation.
 *
 * Training (method.md §4.1): sampling is per caption — one sample = one (image, caption) pair, so
 * several captions of one image can share a batch; `imageIds` lets the contrastive loss treat them as
 * positives, `labels` (scene-class index) feeds the affiliation loss. Each epoch is a SeedStream
 * permutation (`seeds.child('epoch<e>')`, so epoch e is reproducible alone), `dropLast` as PIR.
 *
 * Images are decoded once into an in-memory pixel cache (`PixelCache`: decoded 8-bit RGB, byte budget),
 * then augmented per sample (`augment.ts`) or eval-resized, and normalised into one NHWC Float32Array;
 * without augmentation, `PreprocessedCache` keeps the normalised pixels themselves (small datasets).
 * Prefetch: `epoch()` keeps up to `prefetch` batches in preparation ahead of the consumer (bounded
 * queue). With `workers: n` the images are prepared by n worker threads (`loaders/image_worker.ts`),
 * truly in parallel with a CPU-bound training step; without workers, preparation runs on the main
 * thread and yields to the event loop between images, so it overlaps only with awaited work of the step.
 * Each sample gets its own augmentation seed, so pixels do not depend on prefetch depth or workers.
 *
 * Eval: `evalImageBatches` walks all images of a split once, in order; `evalTextBatches` all captions
 * (text ids in image order) — `splitView(ds, split).txt2img` maps them back.
 */
import * as tf from '@tensorflow/tfjs';
import { SeedStream } from '../utils/random';
import { RgbImage, decodeImage } from '../io/image_codecs';
import { ImageRecord, RetrievalDataset, Split, splitImages, splitView } from './types';
import { decodeRecordImage, readRecordImageBytes } from './loaders/index';
import { ImageWorkerPool, PrepareConfig, PrepareJob, prepareConfig, prepareImage } from './loaders/image_worker';
import { AugmentConfig, augmentImage } from './augment';
import { CLIP_MEAN, CLIP_STD, DEFAULT_IMAGE_SIZE, EvalTransform, evalResize, normalizeInto } from './image_preprocess';
import { WordTokenizer } from './word_tokenizer';
import { ClipTokenizer } from './clip_tokenizer';

/** One batch. Call `dispose()` when done (or let `tf.tidy` users dispose the tensors). */
export interface Batch {
  /** [B, S, S, 3] float32, CLIP-normalised. */
  images: tf.Tensor4D;
  /** [B, L] int32 token ids. */
  tokens: tf.Tensor2D;
  /** [B] image id of each sample (equal ids = same image). */
  imageIds: Int32Array;
  /** [B] scene-class index; images without a class get a singleton label `classes.length + imageId`. */
  labels: Int32Array;
  /** [B] the raw captions. */
  captions: string[];
  dispose(): void;
}

/** Turns captions into a row-major id matrix. */
export type TextEncodeFn = (captions: readonly string[]) => { ids: Int32Array; length: number };

/** Adapter for the word tokenizer (`padding: 'longest'` is PIR's BERT call). */
export function wordTextEncoder(tok: WordTokenizer, padding: 'max' | 'longest' = 'max'): TextEncodeFn {
  return (captions) => tok.encodeBatch(captions, { padding });
}

/** Adapter for the CLIP tokenizer. */
export function clipTextEncoder(tok: ClipTokenizer, contextLength: number): TextEncodeFn {
  return (captions) => ({ ids: tok.encodeBatch(captions, { contextLength }), length: contextLength });
}

/** Label of a record for the affiliation loss (see `Batch.labels`). */
export function recordLabel(ds: RetrievalDataset, rec: ImageRecord): number {
  if (rec.sceneClass === null) return ds.classes.length + rec.imageId;
  const i = ds.classes.indexOf(rec.sceneClass);
  if (i < 0) throw new Error(`${ds.name}: image ${rec.imageId} "${rec.fileName}" has class "${rec.sceneClass}" missing from dataset.classes`);
  return i;
}

/**
 * The reference `add_index` labels of a batch (open_clip PriorCLIP / losses fixture): the prefix of
 * each file name before the first '_' (the whole name when there is none, so numeric RSICD images are
 * singleton classes), numbered by first appearance in the batch. Only equality matters to the
 * affiliation loss; `Batch.labels` (dataset class indices) induce the same partition.
 */
export function addIndexLabels(fileNames: readonly string[]): Int32Array {
  const ids = new Map<string, number>();
  const out = new Int32Array(fileNames.length);
  fileNames.forEach((f, i) => {
    const base = f.split(/[\\/]/).pop() ?? f;
    const key = base.split('_')[0];
    let id = ids.get(key);
    if (id === undefined) { id = ids.size; ids.set(key, id); }
    out[i] = id;
  });
  return out;
}

/** Bytes of decoded RGB images kept by default (256 MiB). */
export const DEFAULT_CACHE_BYTES = 256 * 1024 * 1024;

/**
 * Decoded-image cache keyed by image id (first come, first kept until `maxBytes`; afterwards images
 * are decoded on every use). Decode errors name the file and the record.
 */
export class PixelCache {
  private readonly map = new Map<number, RgbImage>();
  private bytes = 0;
  hits = 0;
  misses = 0;
  constructor(readonly maxBytes: number = DEFAULT_CACHE_BYTES) {}

  async get(rec: ImageRecord): Promise<RgbImage> {
    const hit = this.map.get(rec.imageId);
    if (hit !== undefined) { this.hits++; return hit; }
    this.misses++;
    const img = await decodeRecordImage(rec);
    if (this.bytes + img.data.length <= this.maxBytes) {
      this.map.set(rec.imageId, img);
      this.bytes += img.data.length;
    }
    return img;
  }

  /** Bytes held. */
  get size(): number { return this.bytes; }
  /** Images held. */
  get count(): number { return this.map.size; }
  clear(): void { this.map.clear(); this.bytes = 0; }
}

/**
 * Cache of preprocessed (resized + normalised) eval images, keyed by image id, transform and size:
 * repeated evaluations of small datasets (the embedded benchmark) skip decode and resize entirely.
 */
export class PreprocessedCache {
  private readonly map = new Map<string, Float32Array>();
  private bytes = 0;
  constructor(readonly maxBytes: number = DEFAULT_CACHE_BYTES) {}
  private static key(rec: ImageRecord, transform: EvalTransform, size: number): string {
    return `${rec.imageId}|${transform}|${size}`;
  }
  get(rec: ImageRecord, transform: EvalTransform, size: number): Float32Array | undefined {
    return this.map.get(PreprocessedCache.key(rec, transform, size));
  }
  set(rec: ImageRecord, transform: EvalTransform, size: number, px: Float32Array): void {
    if (this.bytes + px.byteLength > this.maxBytes) return;
    this.map.set(PreprocessedCache.key(rec, transform, size), px);
    this.bytes += px.byteLength;
  }
  get count(): number { return this.map.size; }
  clear(): void { this.map.clear(); this.bytes = 0; }
}

/** Training-batch options. */
export interface TrainBatchOptions {
  batchSize: number;
  /** Split to sample (default train). */
  split?: Split;
  /** Drop the last incomplete batch (PIR: true). */
  dropLast?: boolean;
  /** Augmentation; null → eval transform (`evalTransform`, `size`). */
  augment: AugmentConfig | null;
  /** Used when `augment` is null. */
  evalTransform?: EvalTransform;
  /** Output side when `augment` is null (default 224). */
  size?: number;
  encodeText: TextEncodeFn;
  /** Batches prepared ahead (default 2; 0 = no prefetch). */
  prefetch?: number;
  /** Pixel cache (shared between loaders if given; unused when `workers` > 0: workers cache their own). */
  cache?: PixelCache;
  /** Preprocessed-image cache, used when `augment` is null (no per-sample randomness to redo). */
  preprocessed?: PreprocessedCache;
  /**
   * Worker threads that decode/augment in parallel with the training step (default 0 = main thread).
   * Pixels are identical either way. Call `close()` when done.
   */
  workers?: number;
  mean?: readonly [number, number, number];
  std?: readonly [number, number, number];
}

/** One (image, caption) training sample. */
export interface CaptionSample {
  rec: ImageRecord;
  caption: string;
}

/** Per-caption training batches of one split. */
export class TrainBatches {
  readonly samples: CaptionSample[];
  readonly cache: PixelCache;
  private readonly size: number;
  private readonly prep: PrepareConfig;
  private readonly pool: ImageWorkerPool | null;

  constructor(readonly ds: RetrievalDataset, private readonly seeds: SeedStream, readonly opts: TrainBatchOptions) {
    if (!(Number.isInteger(opts.batchSize) && opts.batchSize >= 1)) throw new Error(`TrainBatches: batchSize must be a positive integer, got ${opts.batchSize}`);
    const split = opts.split ?? 'train';
    this.samples = [];
    for (const rec of splitImages(ds, split)) for (const caption of rec.captions) this.samples.push({ rec, caption });
    if (this.samples.length === 0) throw new Error(`${ds.name}: no ${split} captions to batch`);
    if ((opts.dropLast ?? true) && this.samples.length < opts.batchSize) {
      throw new Error(`${ds.name}: ${this.samples.length} ${split} captions < batch size ${opts.batchSize} with dropLast: no batch`);
    }
    this.cache = opts.cache ?? new PixelCache();
    this.size = opts.augment !== null ? opts.augment.size : (opts.size ?? DEFAULT_IMAGE_SIZE);
    this.prep = prepareConfig(this.size, opts.augment, opts.evalTransform ?? 'resize', opts.mean ?? CLIP_MEAN, opts.std ?? CLIP_STD);
    this.pool = (opts.workers ?? 0) > 0 ? new ImageWorkerPool(opts.workers as number) : null;
  }

  /** Batches per epoch. */
  get batchesPerEpoch(): number {
    const n = this.samples.length / this.opts.batchSize;
    return (this.opts.dropLast ?? true) ? Math.floor(n) : Math.ceil(n);
  }

  /** Sample order of an epoch (a permutation of sample indices, reproducible from (seeds, epoch)). */
  epochOrder(epoch: number): number[] {
    return this.seeds.child(`epoch${epoch}`).permutation(this.samples.length);
  }

  /** Builds one batch from sample indices (augmentation seeds drawn from `rng`, one per sample). */
  async makeBatch(indices: readonly number[], rng: SeedStream): Promise<Batch> {
    const S = this.size;
    const imageIds = new Int32Array(indices.length);
    const labels = new Int32Array(indices.length);
    const captions: string[] = [];
    const seeds: number[] = [];
    const recs: ImageRecord[] = [];
    for (let b = 0; b < indices.length; b++) {
      const s = this.samples[indices[b]];
      recs.push(s.rec);
      imageIds[b] = s.rec.imageId;
      labels[b] = recordLabel(this.ds, s.rec);
      captions.push(s.caption);
      seeds.push(rng.nextUint32());
    }
    let px: Float32Array;
    if (this.pool !== null) {
      const jobs: PrepareJob[] = [];
      for (let b = 0; b < recs.length; b++) {
        const r = recs[b];
        const needBytes = r.bytes === undefined && /\.tar#/.test(r.path);
        const job: PrepareJob = { key: r.imageId, path: r.path, label: `image ${r.imageId} "${r.fileName}" (${r.split})`, seed: seeds[b] };
        if (r.bytes !== undefined) job.bytes = r.bytes;
        else if (needBytes) job.bytes = await readRecordImageBytes(r);
        jobs.push(job);
      }
      px = await this.pool.runBatch(this.prep, jobs);
    } else {
      px = new Float32Array(indices.length * S * S * 3);
      const pre = this.opts.augment === null ? this.opts.preprocessed : undefined;
      for (let b = 0; b < recs.length; b++) {
        const off = b * S * S * 3;
        const hit = pre?.get(recs[b], this.prep.transform, S);
        if (hit !== undefined) { px.set(hit, off); continue; }
        const img = await this.cache.get(recs[b]);
        prepareImage(img, this.prep, seeds[b], px, off);
        pre?.set(recs[b], this.prep.transform, S, px.slice(off, off + S * S * 3));
        await yieldToEventLoop();
      }
    }
    const enc = this.opts.encodeText(captions);
    return makeBatchObject(px, [indices.length, S, S, 3], enc, imageIds, labels, captions);
  }

  /** Stops the worker pool (if any). */
  async close(): Promise<void> {
    if (this.pool !== null) await this.pool.close();
  }

  /**
   * The batches of one epoch, prefetched through a bounded queue. Breaking out of the loop disposes
   * the prepared batches that were not consumed.
   */
  async *epoch(epoch: number): AsyncGenerator<Batch> {
    const order = this.epochOrder(epoch);
    const B = this.opts.batchSize;
    const nBatches = this.batchesPerEpoch;
    const rngs = this.seeds.child(`augment${epoch}`);
    const ahead = Math.max(0, this.opts.prefetch ?? 2);
    const queue: Promise<Batch>[] = [];
    let next = 0;
    const launch = (): void => {
      const k = next++;
      const idx = order.slice(k * B, Math.min((k + 1) * B, order.length));
      // One child stream per batch: augmentation is reproducible whatever the prefetch depth.
      const p = this.makeBatch(idx, rngs.child(`batch${k}`));
      p.catch(() => undefined); // the error surfaces when this batch is awaited, not as an unhandled rejection
      queue.push(p);
    };
    try {
      while (next < nBatches && queue.length <= ahead) launch();
      while (queue.length > 0) {
        const batch = await (queue.shift() as Promise<Batch>);
        if (next < nBatches) launch();
        yield batch;
      }
    } finally {
      for (const p of queue.splice(0)) p.then((b) => b.dispose(), () => undefined);
    }
  }
}

function makeBatchObject(px: Float32Array, shape: [number, number, number, number], enc: { ids: Int32Array; length: number },
  imageIds: Int32Array, labels: Int32Array, captions: string[]): Batch {
  const images = tf.tensor4d(px, shape, 'float32');
  const tokens = tf.tensor2d(enc.ids, [captions.length, enc.length], 'int32');
  let disposed = false;
  return {
    images, tokens, imageIds, labels, captions,
    dispose(): void {
      if (disposed) return;
      disposed = true;
      images.dispose();
      tokens.dispose();
    },
  };
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Eval image batch: images of a split in order. */
export interface EvalImageBatch {
  /** [B, S, S, 3] */
  images: tf.Tensor4D;
  /** Index of each image within the split's image list. */
  imageIndices: Int32Array;
  dispose(): void;
}

/** Eval text batch: captions of a split in text-id order. */
export interface EvalTextBatch {
  /** [B, L] int32 */
  tokens: tf.Tensor2D;
  /** Text ids (positions in `splitView(ds, split).captions`). */
  textIds: Int32Array;
  dispose(): void;
}

/** Options of the eval iterators. */
export interface EvalImageOptions {
  batchSize: number;
  transform?: EvalTransform;
  size?: number;
  cache?: PixelCache;
  /** Cache of preprocessed images (mean/std must not change between calls sharing it). */
  preprocessed?: PreprocessedCache;
  mean?: readonly [number, number, number];
  std?: readonly [number, number, number];
}

/** All images of a split once, in order. */
export async function* evalImageBatches(ds: RetrievalDataset, split: Split, opts: EvalImageOptions): AsyncGenerator<EvalImageBatch> {
  const images = splitImages(ds, split);
  const S = opts.size ?? DEFAULT_IMAGE_SIZE;
  const cache = opts.cache ?? new PixelCache(0);
  for (let start = 0; start < images.length; start += opts.batchSize) {
    const end = Math.min(images.length, start + opts.batchSize);
    const px = new Float32Array((end - start) * S * S * 3);
    const idx = new Int32Array(end - start);
    const transform = opts.transform ?? 'resize';
    for (let i = start; i < end; i++) {
      const off = (i - start) * S * S * 3;
      const hit = opts.preprocessed?.get(images[i], transform, S);
      if (hit !== undefined) px.set(hit, off);
      else {
        const img = await cache.get(images[i]);
        normalizeInto(evalResize(img, S, transform), px, off, opts.mean ?? CLIP_MEAN, opts.std ?? CLIP_STD);
        opts.preprocessed?.set(images[i], transform, S, px.slice(off, off + S * S * 3));
      }
      idx[i - start] = i;
    }
    const t = tf.tensor4d(px, [end - start, S, S, 3], 'float32');
    yield { images: t, imageIndices: idx, dispose: () => t.dispose() };
  }
}

/** All captions of a split once, in text-id order (image order, then caption order). */
export function* evalTextBatches(ds: RetrievalDataset, split: Split, encodeText: TextEncodeFn, batchSize: number): Generator<EvalTextBatch> {
  const view = splitView(ds, split);
  for (let start = 0; start < view.captions.length; start += batchSize) {
    const part = view.captions.slice(start, start + batchSize);
    const enc = encodeText(part.map((c) => c.caption));
    const t = tf.tensor2d(enc.ids, [part.length, enc.length], 'int32');
    yield { tokens: t, textIds: new Int32Array(part.map((c) => c.textId)), dispose: () => t.dispose() };
  }
}

/** Loader throughput (images per second) by stage, from `measureLoaderThroughput`. */
export interface LoaderThroughput {
  images: number;
  /** Decode only (bytes in memory → RGB). */
  decodePerSec: number;
  /** Eval path: decode + resize + normalise. */
  evalPerSec: number;
  /** Train path: decode + augment (RRC, flip, RandAugment) + normalise. */
  trainPerSec: number;
  /** Train path with the pixel cache warm (augment + normalise only). */
  cachedTrainPerSec: number;
  /** The same four rates per second of this process's CPU time (insensitive to other load on the machine). */
  cpu: { decodePerSec: number; evalPerSec: number; trainPerSec: number; cachedTrainPerSec: number };
}

/**
 * Measures single-thread loader throughput on the given encoded images (each processed `repeats`
 * times). Used by the bench and by the report: compare with the training step time.
 */
export function measureLoaderThroughput(files: { name: string; bytes: Uint8Array }[], opts: { repeats?: number; augment: AugmentConfig; size?: number; transform?: EvalTransform; seeds: SeedStream }): LoaderThroughput {
  const reps = opts.repeats ?? 3;
  const S = opts.size ?? DEFAULT_IMAGE_SIZE;
  const buf = new Float32Array(S * S * 3);
  const n = files.length * reps;
  /** Runs a stage `reps` times over the files: [wall seconds, CPU seconds]. */
  const time = (fn: (f: { name: string; bytes: Uint8Array }, i: number) => void): [number, number] => {
    const t0 = process.hrtime.bigint();
    const c0 = process.cpuUsage();
    for (let r = 0; r < reps; r++) files.forEach(fn);
    const c = process.cpuUsage(c0);
    return [Number(process.hrtime.bigint() - t0) / 1e9, (c.user + c.system) / 1e6];
  };
  const tDecode = time((f) => { decodeImage(f.bytes, f.name); });
  const tEval = time((f) => normalizeInto(evalResize(decodeImage(f.bytes, f.name), S, opts.transform ?? 'resize'), buf, 0));
  const tTrain = time((f) => normalizeInto(augmentImage(decodeImage(f.bytes, f.name), opts.augment, opts.seeds), buf, 0));
  const decoded = files.map((f) => decodeImage(f.bytes, f.name));
  const tCached = time((_f, i) => normalizeInto(augmentImage(decoded[i], opts.augment, opts.seeds), buf, 0));
  return {
    images: n, decodePerSec: n / tDecode[0], evalPerSec: n / tEval[0], trainPerSec: n / tTrain[0], cachedTrainPerSec: n / tCached[0],
    cpu: { decodePerSec: n / tDecode[1], evalPerSec: n / tEval[1], trainPerSec: n / tTrain[1], cachedTrainPerSec: n / tCached[1] },
  };
}
