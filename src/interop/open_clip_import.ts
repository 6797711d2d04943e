/**
 * Back from the fork: the checkpoint `training.main` writes (`logs/<name>/checkpoints/epoch_N.pt`,
 * `{"epoch", "name", "state_dict": {"module.…"}, "optimizer", …}`) into a kit model.
 *
 * The weights are read by `src/models/checkpoint.ts` (restricted unpickler, `module.` stripped);
 * this file only finds the MODEL CONFIG: explicitly given, else KIT_PRIORCLIP_MODEL, else the
 * export manifest (`kit_export.json`) found by walking up from the checkpoint (train.sh writes the
 * logs inside the export folder), else a fork model config JSON named by the checkpoint's `name`.
 */
import * as fs from 'fs';
import * as path from 'path';
import { loadModelPreset, resolveModelConfig } from '../models/factory';
import { ModelConfig, RetrievalModel } from '../models/model';
import { loadModelFile } from '../models/checkpoint';
import { readJson } from '../utils/fs';
import { SeedStream } from '../utils/random';
import { EXPORT_MANIFEST, EXPORT_SCHEMA, ExportManifest } from './open_clip_export';
import { fromForkModelConfig } from './open_clip_config';
import { Split } from '../data/types';
import { loadDataset } from '../data/loaders/index';
import { ClipTokenizer, requireClipBpe } from '../data/clip_tokenizer';
import { evaluateRetrieval, EvaluationResult } from '../evaluation/evaluate';

/** Environment variable naming the model config of an at-scale checkpoint (preset name, kit JSON or fork JSON). */
export const AT_SCALE_MODEL_ENV = 'KIT_PRIORCLIP_MODEL';
/** How many folders up from a checkpoint the manifest is looked for (`<export>/logs/<name>/checkpoints/epoch_N.pt` is 3). */
export const MANIFEST_SEARCH_DEPTH = 4;

/** The export manifest above a checkpoint file, or null. */
export function findExportManifest(checkpoint: string): { file: string; manifest: ExportManifest } | null {
  let dir = path.dirname(path.resolve(checkpoint));
  for (let i = 0; i <= MANIFEST_SEARCH_DEPTH; i++) {
    const f = path.join(dir, EXPORT_MANIFEST);
    if (fs.existsSync(f)) {
      const manifest = readJson<ExportManifest>(f);
      if (manifest.schema !== EXPORT_SCHEMA) throw new Error(`${f}: schema '${String(manifest.schema)}', expected '${EXPORT_SCHEMA}'`);
      return { file: f, manifest };
    }
    const up = path.dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return null;
}

/**
 * A model config named on the command line / in KIT_PRIORCLIP_MODEL: a preset name
 * (`src/configs/models/<name>.json`), a kit config JSON file, or a fork `model_configs/*.json` file.
 */
export function modelConfigFromArg(arg: string, source = AT_SCALE_MODEL_ENV): ModelConfig {
  if (fs.existsSync(arg) && fs.statSync(arg).isFile()) {
    const { description: _d, ...json } = readJson<Record<string, unknown>>(arg);
    if ('kind' in json) return resolveModelConfig(json, arg);
    return fromForkModelConfig(json, path.basename(arg).replace(/\.json$/i, ''), arg);
  }
  try {
    return loadModelPreset(arg);
  } catch (e) {
    throw new Error(`${source}=${arg}: neither a JSON file nor a model preset (${(e as Error).message})`);
  }
}

/** Where the config of an at-scale checkpoint came from. */
export interface AtScaleConfig {
  config: ModelConfig;
  source: string;
}

/** The model config of a fork checkpoint (see the file comment for the order), or null when nothing names it. */
export function atScaleModelConfig(checkpoint: string, explicit?: string): AtScaleConfig | null {
  if (explicit) return { config: modelConfigFromArg(explicit, '--model'), source: explicit };
  const env = process.env[AT_SCALE_MODEL_ENV];
  if (env) return { config: modelConfigFromArg(env), source: `${AT_SCALE_MODEL_ENV}=${env}` };
  const found = findExportManifest(checkpoint);
  if (found) return { config: resolveModelConfig(found.manifest.kitModel, `${found.file} (kitModel)`), source: found.file };
  return null;
}

/** Build the kit model of a fork checkpoint and load its weights (strict). Caller disposes. */
export function loadAtScaleCheckpoint(checkpoint: string, opts: { model?: string; seeds?: SeedStream } = {}): { model: RetrievalModel; config: ModelConfig; source: string } {
  const found = atScaleModelConfig(checkpoint, opts.model);
  if (!found) {
    throw new Error(
      `${checkpoint}: no model config found: not inside an export folder (no ${EXPORT_MANIFEST} up to ${MANIFEST_SEARCH_DEPTH} folders up), ` +
        `${AT_SCALE_MODEL_ENV} unset; pass the model (preset name, kit JSON or the fork's model_configs/<name>.json)`,
    );
  }
  const model = loadModelFile(checkpoint, { config: found.config, seeds: opts.seeds });
  return { model, config: found.config, source: found.source };
}

/** Environment variable naming an at-scale (or released) checkpoint, shared with notebook 08. */
export const AT_SCALE_CHECKPOINT_ENV = 'KIT_PRIORCLIP_CHECKPOINT';

/** Options of `evaluateAtScale`. */
export interface AtScaleEvalOptions {
  /** Annotation file (default: the export folder's `data/eval/dataset.json`). */
  data?: string;
  /** Images folder (default: next to the annotation file, `images/`). */
  images?: string;
  split?: Split;
  /** CLIP BPE vocabulary (default: looked up as `npm run evaluate` does: KIT_CLIP_BPE, `data/vocab/`, an installed open_clip's copy). */
  vocab?: string;
  /** Model config (see `atScaleModelConfig`). */
  model?: string;
  /** Evaluate at most this many images (0 = all). */
  limitImages?: number;
}

/**
 * The notebook hook for an at-scale checkpoint (02 belief maps, 06 UMAP and recall curves, 08): load
 * it, evaluate a split with the open_clip eval transform and the CLIP tokenizer, keep the embeddings.
 * `result` feeds `recipe.umapPanel` / `recipe.recallRuns`; `model.beliefs(images)` gives belief maps.
 * `source` is where the model config came from, `checkpoint` the file loaded (figure labels).
 * Null when no checkpoint is named (argument or KIT_PRIORCLIP_CHECKPOINT). Caller disposes `model`.
 */
export async function evaluateAtScale(
  checkpoint: string | undefined = process.env[AT_SCALE_CHECKPOINT_ENV],
  opts: AtScaleEvalOptions = {},
): Promise<{ model: RetrievalModel; config: ModelConfig; source: string; checkpoint: string; result: EvaluationResult } | null> {
  if (!checkpoint) return null;
  const data = opts.data ?? (() => {
    const found = findExportManifest(checkpoint);
    if (!found) throw new Error(`${checkpoint}: not inside an export folder: pass opts.data (an annotation file)`);
    return path.join(path.dirname(found.file), found.manifest.test.annotationFile);
  })();
  const { model, config, source } = loadAtScaleCheckpoint(checkpoint, { model: opts.model });
  try {
    if (config.kind !== 'priorclip') throw new Error(`${checkpoint}: at-scale checkpoints are priorclip-kind models, got '${config.kind}'`);
    const dataset = await loadDataset(data, { imagesRoot: opts.images ?? path.join(path.dirname(data), 'images') });
    const tok = ClipTokenizer.fromFile(opts.vocab ?? requireClipBpe());
    const L = config.text.contextLength;
    const result = await evaluateRetrieval(model, dataset, opts.split ?? 'test', {
      imageSize: config.vision.imageSize,
      transform: 'resize-center-crop', // open_clip eval: Resize(shortest side) + CenterCrop
      tokenize: (caps) => ({ ids: tok.encodeBatch(caps, { contextLength: L }), length: L }),
      keepEmbeddings: true,
      limitImages: opts.limitImages,
    });
    return { model, config, source, checkpoint, result };
  } catch (e) {
    model.dispose();
    throw e;
  }
}
