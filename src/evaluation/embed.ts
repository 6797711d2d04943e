/**
 * Embedding of a dataset split for retrieval evaluation: every image and every caption of the split
 * goes through the model in batches (inside `tf.tidy`), with a progress display, into flat
 * Float32Arrays. Text ids follow `splitView` (image order, then caption order: the reference
 * `re_eval_dataset` layout), so `txt2img[t]` is the owning image's index within the split.
 */
import * as tf from '@tensorflow/tfjs';
import { ImageRecord, RetrievalDataset, Split, splitView, classIndex } from '../data/types';
import { createProgress } from '../utils/progress';

/** What embedding needs from a model (a structural subset of `RetrievalModel`, src/models/model.ts). */
export interface EmbeddingModel {
  /** Normalised NHWC images [B, H, W, 3] → L2-normalised embeddings [B, E]. */
  encodeImage(images: tf.Tensor4D, opts?: { training?: boolean }): tf.Tensor2D;
  /** int32 tokens [B, L] → L2-normalised embeddings [B, E]. */
  encodeText(tokens: tf.Tensor2D, opts?: { training?: boolean }): tf.Tensor2D;
}

/** Batch tokenizer: captions → row-major int32 ids [B, length]. */
export type BatchTokenizer = (captions: readonly string[]) => { ids: Int32Array; length: number };

/** Image source: one record → normalised pixels [size, size, 3] (NHWC row-major). */
export type ImageLoader = (rec: ImageRecord) => Float32Array | Promise<Float32Array>;

/** Options of `embedSplit`. */
export interface EmbedOptions {
  /** Decodes + preprocesses one image (see `defaultImageLoader` in evaluate.ts). */
  loadImage: ImageLoader;
  /** Side of the preprocessed square images. */
  imageSize: number;
  /** Caption tokenizer for the model. */
  tokenize: BatchTokenizer;
  /** Images per forward pass (default 32). */
  imageBatchSize?: number;
  /** Captions per forward pass (default 128, as the reference evaluation). */
  textBatchSize?: number;
  /** Show progress (default true). */
  progress?: boolean;
  /** Only the first N images of the split (quick looks); their captions follow. */
  limitImages?: number;
}

/** Default image batch. */
export const DEFAULT_IMAGE_BATCH = 32;
/** Default text batch (PIR evaluates text in chunks of 128). */
export const DEFAULT_TEXT_BATCH = 128;

/** Embeddings of a split. */
export interface SplitEmbeddings {
  split: Split;
  /** Row-major [I, E]. */
  imageEmb: Float32Array;
  /** Row-major [T, E]. */
  textEmb: Float32Array;
  /** Embedding width E. */
  dim: number;
  numImages: number;
  numTexts: number;
  /** Owning image (index within the split) of every text. */
  txt2img: Int32Array;
  /** Scene-class index per image (into `classNames`; −1 = none). */
  classes: Int32Array;
  classNames: string[];
  /** The split's image records and captions, in embedding order. */
  images: ImageRecord[];
  captions: string[];
  /** Seconds spent on images and texts. */
  seconds: { images: number; texts: number };
}

/** Copy a [b, E] embedding batch into rows [rowOffset, rowOffset + b) of a flat [N, E] array. */
function copyRows(dst: Float32Array, emb: tf.Tensor2D, rowOffset: number): void {
  const [b, e] = emb.shape;
  dst.set((emb.dataSync() as Float32Array).subarray(0, b * e), rowOffset * e);
}

/** Embed all images and captions of `split` (batched, tidy, with progress). */
export async function embedSplit(model: EmbeddingModel, dataset: RetrievalDataset, split: Split, opts: EmbedOptions): Promise<SplitEmbeddings> {
  const view = splitView(dataset, split);
  let images = view.images;
  let captions = view.captions;
  if (opts.limitImages !== undefined) {
    images = images.slice(0, opts.limitImages);
    captions = captions.filter((c) => c.imageIndex < images.length);
  }
  const I = images.length;
  const T = captions.length;
  if (I === 0) throw new Error(`embedSplit: dataset '${dataset.name}' has no '${split}' images`);
  if (T === 0) throw new Error(`embedSplit: dataset '${dataset.name}' split '${split}' has no captions`);
  const S = opts.imageSize;
  const ib = opts.imageBatchSize ?? DEFAULT_IMAGE_BATCH;
  const tb = opts.textBatchSize ?? DEFAULT_TEXT_BATCH;
  const show = opts.progress ?? true;

  let imageEmb: Float32Array | null = null;
  let dim = 0;
  const t0 = Date.now();
  const pi = show ? createProgress(`embed ${split} images`, I) : null;
  for (let s = 0; s < I; s += ib) {
    const e = Math.min(I, s + ib);
    const pixels = new Float32Array((e - s) * S * S * 3); // [b, S, S, 3]
    for (let i = s; i < e; i++) {
      const px = await opts.loadImage(images[i]);
      if (px.length !== S * S * 3) {
        throw new Error(`embedSplit: image ${images[i].path} (split index ${i}) preprocessed to ${px.length} values, expected ${S}×${S}×3`);
      }
      pixels.set(px, (i - s) * S * S * 3);
    }
    const emb = tf.tidy(() => model.encodeImage(tf.tensor4d(pixels, [e - s, S, S, 3]), { training: false })); // [b, E]
    try {
      if (imageEmb === null) {
        dim = emb.shape[1];
        imageEmb = new Float32Array(I * dim);
      }
      if (emb.shape[1] !== dim) throw new Error(`embedSplit: image embedding width changed from ${dim} to ${emb.shape[1]}`);
      copyRows(imageEmb, emb, s);
    } finally {
      emb.dispose();
    }
    pi?.tick(e - s);
  }
  pi?.done();
  const t1 = Date.now();

  const textEmb = new Float32Array(T * dim);
  const pt = show ? createProgress(`embed ${split} texts`, T) : null;
  for (let s = 0; s < T; s += tb) {
    const e = Math.min(T, s + tb);
    const { ids, length } = opts.tokenize(captions.slice(s, e).map((c) => c.caption));
    if (ids.length !== (e - s) * length) throw new Error(`embedSplit: tokenizer returned ${ids.length} ids for ${e - s} captions of length ${length}`);
    const emb = tf.tidy(() => model.encodeText(tf.tensor2d(ids, [e - s, length], 'int32'), { training: false })); // [b, E]
    try {
      if (emb.shape[1] !== dim) throw new Error(`embedSplit: text embeddings have width ${emb.shape[1]}, image embeddings ${dim}`);
      copyRows(textEmb, emb, s);
    } finally {
      emb.dispose();
    }
    pt?.tick(e - s);
  }
  pt?.done();
  const t2 = Date.now();
  return {
    split,
    imageEmb: imageEmb as Float32Array,
    textEmb,
    dim,
    numImages: I,
    numTexts: T,
    txt2img: Int32Array.from(captions.map((c) => c.imageIndex)),
    classes: Int32Array.from(images.map((r) => classIndex(dataset, r))),
    classNames: dataset.classes.slice(),
    images,
    captions: captions.map((c) => c.caption),
    seconds: { images: (t1 - t0) / 1000, texts: (t2 - t1) / 1000 },
  };
}
