/**
 * The shared starting point of the walkthrough notebooks (02 Spatial-PAE, 03 Temporal-PAE, 04 losses):
 * the embedded dataset, its word tokenizer, a `pir-small`-family model, and one small batch of
 * test images/captions chosen to show the mechanisms (one image per class, distractor images first).
 *
 *   const wt = await loadWalkthrough(env.seeds.child('walkthrough'), { preset: 'pir-small' });
 *   const batch = walkthroughBatch(wt, { size: 8 });
 *
 * Weights: a finished training run (`runId`, whose folder holds `best.safetensors` + `vocab.json`)
 * when given and present, else the preset's seeded initial weights. `wt.source` says which, so the
 * notebooks can state it next to every figure.
 */
import { modelForData } from '../../models/family';
import * as fs from 'fs';
import * as tf from '@tensorflow/tfjs';
import { SeedStream } from '../../utils/random';
import { RetrievalDataset, ImageRecord, Split, splitImages } from '../../data/types';
import { AnnotatedObject, DEFAULT_EMBEDDED_DATA, EmbeddedDataConfig, generateEmbeddedDataset, readEmbeddedObjects } from '../../data/embedded/index';
import { WordTokenizer } from '../../data/word_tokenizer';
import { decodeRecordImageSync } from '../../data/loaders/index';
import { preprocessImage } from '../../data/image_preprocess';
import { RgbImage } from '../../io/image_codecs';
import { createModel, loadModelPreset, resolveModelConfig } from '../../models/factory';
import { PirModelConfig } from '../../models/model';
import { PirModel } from '../../models/pir';
import { modelFileConfig, loadModelFileInto } from '../../models/checkpoint';
import { runId } from '../../runs/record';
import { BEST_CHECKPOINT as RUN_CHECKPOINT, runFiles } from '../../runs/files';
import { mergeConfig } from '../../utils/merge_config';


/** Where the walkthrough model's weights came from. */
export type WeightsSource = { kind: 'initial'; preset: string } | { kind: 'run'; runId: string; file: string };

/** Options of `loadWalkthrough`. */
export interface WalkthroughOptions {
  /** Model preset in src/configs/models/ (a `pir-small`/`pir` kind). Default 'pir-small'. */
  preset?: string;
  /** Overrides merged onto the preset (e.g. `{ spatialPae: { belief: 'soft-head' } }`). */
  modelOverrides?: Record<string, unknown>;
  /** Embedded data config (default DEFAULT_EMBEDDED_DATA). */
  data?: EmbeddedDataConfig;
  /**
   * A finished run to take the weights (and vocabulary) from, or several candidates (the first present
   * wins); ignored with a note when none is present.
   */
  runId?: string | readonly string[] | null;
  /** Progress of the data generation (first run only; later runs reuse the cached folder). */
  onProgress?: (done: number, total: number) => void;
  /** Folder holding `generated/` (default `<project>/data`). */
  dataRoot?: string;
}

/** Everything the walkthrough notebooks work with. */
export interface Walkthrough {
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

function pirConfig(raw: unknown, where: string): PirModelConfig {
  const cfg = resolveModelConfig(raw, where);
  if (cfg.kind === 'priorclip') throw new Error(`${where}: the walkthrough needs a PIR-structure model (kind pir-small or pir), got priorclip`);
  return cfg;
}

/** Generate/reuse the data, build the tokenizer and the model (see the file comment). */
export async function loadWalkthrough(seeds: SeedStream, opts: WalkthroughOptions = {}): Promise<Walkthrough> {
  const preset = opts.preset ?? 'pir-small';
  const gen = await generateEmbeddedDataset(opts.data ?? DEFAULT_EMBEDDED_DATA, { onProgress: opts.onProgress, dataRoot: opts.dataRoot });
  const ds = gen.dataset;
  const objects = readEmbeddedObjects(gen.dir);
  const candidates = opts.runId === undefined || opts.runId === null ? [] : typeof opts.runId === 'string' ? [opts.runId] : [...opts.runId];
  const found = candidates.find((id) => fs.existsSync(runFiles(id).best) && fs.existsSync(runFiles(id).vocab));
  if (found !== undefined) {
    const ckpt = runFiles(found).best;
    const tokenizer = WordTokenizer.load(runFiles(found).vocab);
    const stored = modelFileConfig(ckpt);
    const base = pirConfig(stored ?? loadModelPreset(preset), ckpt);
    const config = pirConfig(mergeConfig(base, opts.modelOverrides ?? {}, 'modelOverrides'), ckpt);
    const model = createModel(config, seeds) as PirModel;
    loadModelFileInto(model, ckpt); // strict: every weight of the config must be in the file
    const source: WeightsSource = { kind: 'run', runId: found, file: ckpt };
    return { dataset: ds, dir: gen.dir, objects, tokenizer, config, model, source, note: `weights: trained run ${found} (${RUN_CHECKPOINT})` };
  }
  const caps: string[] = [];
  for (const r of splitImages(ds, 'train')) {
    caps.push(...r.captions);
    if (r.coarseCaption) caps.push(r.coarseCaption);
  }
  const base = pirConfig(mergeConfig(loadModelPreset(preset), opts.modelOverrides ?? {}, 'modelOverrides'), `model preset '${preset}'`);
  const tokenizer = WordTokenizer.build(caps, { contextLength: base.text.contextLength });
  const sized = modelForData(base, { vocabulary: { vocabSize: tokenizer.vocabSize, contextLength: tokenizer.contextLength }, numClasses: ds.classes.length });
  const config = pirConfig(sized, `model preset '${preset}'`);
  const model = createModel(config, seeds) as PirModel;
  const missing = candidates.length ? ` (no finished run ${candidates.join(' or ')} yet: notebooks 05–06 or \`npm run train\` create one)` : '';
  return {
    dataset: ds,
    dir: gen.dir,
    objects,
    tokenizer,
    config,
    model,
    source: { kind: 'initial', preset },
    note: `weights: seeded initial weights of '${preset}'${missing}`,
  };
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

/** Preset of the kit's default training recipe (src/configs/experiments/embedded-fast.json). */
export const DEFAULT_EXPERIMENT = 'embedded-fast';
/**
 * Suffix of the reduced-budget experiment notebooks 05–06 train when the main job's runs are missing
 * (`notebookBudget` in src/notebook/recipe/stages.ts names it `<preset>-nb`).
 */
export const NOTEBOOK_BUDGET_SUFFIX = '-nb';

/**
 * Run id of a stage of the default recipe's full model (`<experiment>__<stage>__s<seed>`, as the
 * trainer names shared stages), e.g. `trainedRunId('stage2')` → `embedded-fast__stage2__s0`.
 */
export function trainedRunId(stage: 'stage0' | 'stage1' | 'stage2', experiment = DEFAULT_EXPERIMENT, seed = 0): string {
  return runId(experiment, stage, seed);
}

/**
 * Candidate runs of a stage, best first: the main job's run (`embedded-fast__stage2__s0`), then the
 * notebook-budget run of notebooks 05–06 (`embedded-fast-nb__stage2__s0`). Pass to `loadWalkthrough`.
 */
export function trainedRunIds(stage: 'stage0' | 'stage1' | 'stage2', experiment = DEFAULT_EXPERIMENT, seed = 0): string[] {
  return [trainedRunId(stage, experiment, seed), trainedRunId(stage, `${experiment}${NOTEBOOK_BUDGET_SUFFIX}`, seed)];
}

/** Provenance of a figure made by a walkthrough notebook (which notebook, which weights). */
export function figureProvenance(wt: Walkthrough, notebook: string): { source: string; note: string; runs: string[] } {
  return { source: `notebooks/${notebook}.ipynb`, note: wt.note, runs: wt.source.kind === 'run' ? [wt.source.runId] : [] };
}
