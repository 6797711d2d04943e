/**
 * The walkthrough notebooks' view of a session (02 Spatial-PAE, 03 Temporal-PAE, 04 losses): the
 * session's stage-2 model (a PIR-structure model), its word tokenizer, the embedded dataset's object
 * boxes (v1's folder, or v2's fine corpus), and one small batch of test images/captions chosen to show the mechanisms (one image per
 * class, distractor images first).
 *
 *   const session = await openSession(env.profile, env.seed);   // src/notebook/session.ts
 *   const wt = loadWalkthrough(session);
 *   const batch = walkthroughBatch(wt, { size: 8 });
 *
 * Weights: `sessionModel(session, 'stage2', { missing: 'initial' })` — the finished run (main job or
 * notebook budget) when present, else the stage's seeded initial weights. `wt.source` says which, so
 * the notebooks can state it next to every figure. No loading of its own.
 */
import * as tf from '@tensorflow/tfjs';
import { RetrievalDataset, ImageRecord, Split, splitImages } from '../../data/types';
import { AnnotatedObject, embeddedDatasetDir, readEmbeddedObjects } from '../../data/embedded/index';
import { WordTokenizer } from '../../data/word_tokenizer';
import { decodeRecordImageSync } from '../../data/loaders/index';
import { preprocessImage } from '../../data/image_preprocess';
import { RgbImage } from '../../io/image_codecs';
import { PirModelConfig } from '../../models/model';
import { PirModel } from '../../models/pir';
import { StageName } from '../../training/run_cache';
import { isEmbeddedV2 } from '../../config/experiment';
import { V2_FILES, embeddedV2Dir } from '../../data/embedded/v2/generate';
import * as path from 'path';
import { Session, WeightsSource, sessionModel } from '../session';

export type { WeightsSource } from '../session';

/** Options of `loadWalkthrough`. */
export interface WalkthroughOptions {
  /** Stage whose model to look inside (default 'stage2', the full model). */
  stage?: StageName;
  /** Overrides merged onto the stage's model config (e.g. `{ spatialPae: { belief: 'soft-head' } }`). */
  modelOverrides?: Record<string, unknown>;
  /** Folder holding `generated/` (default `<project>/data`), where the object boxes are read. */
  dataRoot?: string;
}

/** Everything the walkthrough notebooks work with: a session's model, its tokenizer and the object boxes. */
export interface Walkthrough {
  session: Session;
  dataset: RetrievalDataset;
  /** The generated dataset folder (holds dataset.json with object boxes). */
  dir: string;
  /** Ground-truth objects per image file name. */
  objects: Map<string, AnnotatedObject[]>;
  tokenizer: WordTokenizer;
  config: PirModelConfig;
  model: PirModel;
  source: WeightsSource;
  /** One line saying which weights are in use (for notebook output). */
  note: string;
}

/** The walkthrough view of a session (see the file comment). Caller disposes `wt.model`. */
export function loadWalkthrough(session: Session, opts: WalkthroughOptions = {}): Walkthrough {
  const exp = session.exp;
  if (exp.data.source !== 'embedded') throw new Error(`loadWalkthrough: experiment '${exp.name}' uses data.source '${exp.data.source}'; the walkthrough needs the embedded dataset (its object boxes)`);
  const tokenizer = session.data.wordTokenizer;
  if (exp.model.kind === 'priorclip' || tokenizer === null) throw new Error(`loadWalkthrough: experiment '${exp.name}' has a ${exp.model.kind} model; the walkthrough needs a PIR-structure model (kind pir-small or pir)`);
  const m = sessionModel(session, opts.stage ?? 'stage2', { missing: 'initial', modelOverrides: opts.modelOverrides });
  if (m.config.kind === 'priorclip') {
    m.model.dispose();
    throw new Error(`loadWalkthrough: the ${m.stage} model of '${exp.name}' is priorclip, not a PIR-structure model`);
  }
  const emb = exp.data.embedded;
  // v2: the fine corpus folder holds the retrieval set and its object boxes (the prior and coarse corpora sit beside it)
  const dir = isEmbeddedV2(emb) ? path.dirname(path.join(embeddedV2Dir(emb, opts.dataRoot), V2_FILES.fine)) : embeddedDatasetDir(emb, opts.dataRoot);
  return { session, dataset: session.data.dataset, dir, objects: readEmbeddedObjects(dir), tokenizer, config: m.config, model: m.model as PirModel, source: m.source, note: m.note };
}

/** Options of `walkthroughBatch`. */
export interface BatchOptions {
  /** Images in the batch (default 8). */
  size?: number;
  /** Split to draw from (default 'test'). */
  split?: Split;
  /** Put images holding distractor objects first (default true). */
  distractorsFirst?: boolean;
  /** Caption index used for each image (default 0). */
  captionIndex?: number;
  /** Images per scene class (default 1); with more than one, classes stay grouped (for the affiliation loss). */
  perClass?: number;
}

/** One small batch with everything needed to look inside the model. */
export interface WalkthroughBatch {
  records: ImageRecord[];
  /** Decoded images (for figures). */
  rgb: RgbImage[];
  /** CLIP-normalised NHWC pixels, row-major `[B, S, S, 3]`. */
  pixels: Float32Array;
  imageSize: number;
  /** One caption per image and its token ids `[B, L]`. */
  captions: string[];
  tokenIds: Int32Array;
  tokenLength: number;
  /** Scene-class label per image (index in `dataset.classes`). */
  labels: Int32Array;
  /** Objects per image (ground truth boxes). */
  objects: AnnotatedObject[][];
  /** Short label per image, e.g. `port_12 (+plane)`. */
  names: string[];
}

/**
 * A batch of `size` images of distinct scene classes (classes in dataset order), images with
 * distractors preferred, and their first caption.
 */
export function walkthroughBatch(wt: Walkthrough, opts: BatchOptions = {}): WalkthroughBatch {
  const size = opts.size ?? 8;
  const split = opts.split ?? 'test';
  const capIdx = opts.captionIndex ?? 0;
  const hasDistractor = (r: ImageRecord): boolean => (wt.objects.get(r.fileName) ?? []).some((o) => o.role === 'distractor');
  const perClass = opts.perClass ?? 1;
  const distractorsFirst = opts.distractorsFirst ?? true;
  const chosen: ImageRecord[] = [];
  const recs = splitImages(wt.dataset, split);
  for (const cls of wt.dataset.classes) {
    const ofClass = recs.filter((r) => r.sceneClass === cls);
    const ordered = distractorsFirst ? [...ofClass.filter(hasDistractor), ...ofClass.filter((r) => !hasDistractor(r))] : ofClass;
    chosen.push(...ordered.slice(0, perClass));
  }
  if (distractorsFirst && perClass === 1) chosen.sort((a, b) => Number(hasDistractor(b)) - Number(hasDistractor(a)));
  const records = chosen.slice(0, size);
  if (records.length === 0) throw new Error(`walkthroughBatch: no images in split ${split}`);
  const S = wt.config.imageSize;
  const pixels = new Float32Array(records.length * S * S * 3);
  const rgb = records.map((r, i) => {
    const img = decodeRecordImageSync(r);
    pixels.set(preprocessImage(img, { size: S, transform: 'resize' }), i * S * S * 3);
    return img;
  });
  const captions = records.map((r) => r.captions[Math.min(capIdx, r.captions.length - 1)]);
  const enc = wt.tokenizer.encodeBatch(captions, { padding: 'longest' });
  const objects = records.map((r) => wt.objects.get(r.fileName) ?? []);
  const names = records.map((r, i) => {
    const d = objects[i].filter((o) => o.role === 'distractor').map((o) => o.kind);
    return `${r.fileName.replace(/\.[a-z]+$/, '')}${d.length ? ` (+${[...new Set(d)].join(', ')})` : ''}`;
  });
  return {
    records,
    rgb,
    pixels,
    imageSize: S,
    captions,
    tokenIds: enc.ids,
    tokenLength: enc.length,
    labels: Int32Array.from(records.map((r) => affiliationLabel(wt.dataset, r))),
    objects,
    names,
  };
}

/**
 * Affiliation label of a record, as training batches define it (`recordLabel` in src/data/batches.ts):
 * the class index, or a singleton label for images without a class. Not imported from batches.ts,
 * which imports a folder (`./loaders`), something tslab's module loader cannot resolve.
 */
export function affiliationLabel(ds: RetrievalDataset, rec: ImageRecord): number {
  return rec.sceneClass === null ? ds.classes.length + rec.imageId : ds.classes.indexOf(rec.sceneClass);
}

/** The batch images as a tensor `[B, S, S, 3]` (caller disposes). */
export function batchImages(b: WalkthroughBatch): tf.Tensor4D {
  return tf.tensor4d(b.pixels, [b.records.length, b.imageSize, b.imageSize, 3]);
}

/** The batch captions as token ids `[B, L]` int32 (caller disposes). */
export function batchTokens(b: WalkthroughBatch): tf.Tensor2D {
  return tf.tensor2d(b.tokenIds, [b.records.length, b.tokenLength], 'int32');
}

/** Provenance of a figure made by a walkthrough notebook (which notebook, which weights). */
export function figureProvenance(wt: Walkthrough, notebook: string): { source: string; note: string; runs: string[] } {
  return { source: `notebooks/${notebook}.ipynb`, note: wt.note, runs: wt.source.kind === 'run' ? [wt.source.runId] : wt.source.kind === 'start' ? wt.source.runIds : [] };
}
