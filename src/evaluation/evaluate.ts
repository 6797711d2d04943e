/**
 * `evaluateRetrieval`: embed a split with a model, then compute the retrieval metrics (chunked),
 * recall curves and the per-class breakdown. The notebook and `npm run evaluate` both call this.
 */
import { RetrievalDataset, Split } from '../data/types';
import { decodeRecordImage } from '../data/loaders/index';
import { DEFAULT_IMAGE_SIZE, EvalTransform, preprocessImage } from '../data/image_preprocess';
import { embedSplit, EmbedOptions, EmbeddingModel, ImageLoader, SplitEmbeddings } from './embed';
import { RetrievalMetrics, retrievalMetrics, RetrievalOptions } from './retrieval_metrics';
import { createProgress } from '../utils/progress';

/** Default eval image loader: decode the record's file, resize (+ crop), CLIP-normalise → [S, S, 3]. */
export function defaultImageLoader(size = DEFAULT_IMAGE_SIZE, transform: EvalTransform = 'resize'): ImageLoader {
  return async (rec) => preprocessImage(await decodeRecordImage(rec), { size, transform });
}

/** Options of `evaluateRetrieval`. */
export interface EvaluateOptions extends Omit<EmbedOptions, 'loadImage' | 'imageSize'>, Omit<RetrievalOptions, 'imageClasses' | 'classNames'> {
  /** Image side (default 224). */
  imageSize?: number;
  /** Eval transform: 'resize' (PIR) or 'resize-center-crop' (open_clip). Default 'resize'. */
  transform?: EvalTransform;
  /** Custom image loader (overrides imageSize/transform decoding; must still return imageSize² × 3 values). */
  loadImage?: ImageLoader;
  /** Keep the embeddings in the result (for UMAP and the retrieval browser). Default false. */
  keepEmbeddings?: boolean;
}

/** Result of `evaluateRetrieval`. */
export interface EvaluationResult {
  dataset: string;
  split: Split;
  metrics: RetrievalMetrics;
  /** Wall-clock seconds: embedding images, texts, and metric computation. */
  timings: { embedImages: number; embedTexts: number; metrics: number };
  embeddings?: SplitEmbeddings;
}

/** Embed `split` of `dataset` with `model` and compute the retrieval metrics. */
export async function evaluateRetrieval(
  model: EmbeddingModel,
  dataset: RetrievalDataset,
  split: Split,
  opts: EvaluateOptions,
): Promise<EvaluationResult> {
  const imageSize = opts.imageSize ?? DEFAULT_IMAGE_SIZE;
  const emb = await embedSplit(model, dataset, split, {
    ...opts,
    imageSize,
    loadImage: opts.loadImage ?? defaultImageLoader(imageSize, opts.transform ?? 'resize'),
  });
  const t0 = Date.now();
  const bar = opts.progress === false ? null : createProgress(`rank ${split} (${emb.numImages}×${emb.numTexts})`, emb.numImages + emb.numTexts);
  let shown = 0;
  const metrics = retrievalMetrics(emb.imageEmb, emb.textEmb, emb.txt2img, {
    ...opts,
    imageClasses: emb.classes,
    classNames: emb.classNames,
    onProgress: (done, total) => {
      bar?.tick(done - shown);
      shown = done;
      opts.onProgress?.(done, total);
    },
  });
  bar?.done();
  const result: EvaluationResult = {
    dataset: dataset.name,
    split,
    metrics,
    timings: { embedImages: emb.seconds.images, embedTexts: emb.seconds.texts, metrics: (Date.now() - t0) / 1000 },
  };
  if (opts.keepEmbeddings) result.embeddings = emb;
  return result;
}
