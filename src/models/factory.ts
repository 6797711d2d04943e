/**
 * The one model factory: `createModel(config, seeds)` builds any kit model from its config, a
 * discriminated union on `kind`:
 *
 * - `pir-small`: the PIR structure with small backbones, sized to train on the embedded dataset
 *   (64-px images) in minutes on 2 CPU cores with the wasm backend;
 * - `pir`: the same structure with PIR's reference head settings (D 512, 8 heads, K 40, n_v 2,
 *   n_t 3, dropout 0.2) and wider kit backbones;
 * - `priorclip`: the open-domain PriorCLIP (open_clip "PIR" config; `priorclip.ts`).
 *
 * Configs resolve like every kit config (`mergeConfig`: the defaults of the chosen kind are the
 * schema; unknown keys / wrong types are errors naming the key path). Named presets live in
 * `src/configs/models/<name>.json` as partial configs with a `kind`.
 */
import * as fs from 'fs';
import * as path from 'path';
import { SeedStream } from '../utils/random';
import { readModelJson, modelPresetsDir } from './model_json';
import { ConfigError, checkEnum, mergeConfig } from '../utils/merge_config';
import { MODEL_KINDS, ModelConfig, ModelKind, PirModelConfig, RetrievalModel } from './model';
import { BELIEF_MODES } from './spatial_pae';
import { PirModel } from './pir';
export { modelPresetsDir } from './model_json';
import { DOWNSAMPLE_MODES } from './small_cnn';
import { createPriorClip, resolvePriorClipConfig, PRIORCLIP_VIT_B_32 } from './priorclip';
import { OPEN_CLIP_CONVERTER } from '../interop/open_clip_keys';

/**
 * `pir-small` (`src/configs/models/pir-small.json`): the default kit model for the embedded dataset
 * (64-px images, 18 scene classes). Image: 3 stride-2 conv stages (32/64/128 ch) → 8×8 grid = 64
 * tokens + 1 mean token. Prior: 3 stride-2 conv stages (16/32/64 ch) + GAP. Text: width 64, 2
 * layers, 4 heads. PAEs: D 64, 4 heads, K 16 of 65 tokens, n_v 2, n_t 2.
 */
export const PIR_SMALL: PirModelConfig = pirJson('pir-small');

/**
 * `pir` (`src/configs/models/pir.json`): PIR's reference head (yaml `Retrieval_rsitmd.yaml`:
 * embed_dim 512, head 8, dropout_r 0.2, filter_size 40, instru_num 2, cycle_num 3, temp1 = temp2 =
 * 0.07) on kit backbones with the reference backbone output widths (Swin 768, BERT 768, ResNet-50
 * 2048) at 224 px: 5 stride-2 stages give the reference 7×7 grid, i.e. N = 50 tokens with the mean
 * token, as X-VLM's Swin-T. A structural preset (≈ 96 M parameters): not meant to train on 2 cores.
 */
export const PIR_REFERENCE: PirModelConfig = pirJson('pir');

/** A PIR-kind reference preset, checked (these JSONs are the schema of their kind). */
function pirJson(name: string): PirModelConfig {
  const cfg = readModelJson(name) as unknown as PirModelConfig;
  validatePirConfig(cfg, path.join(modelPresetsDir(), `${name}.json`));
  return cfg;
}

/** The defaults (= schema) of a kind. */
export function defaultModelConfig(kind: ModelKind = 'pir-small'): ModelConfig {
  switch (kind) {
    case 'pir-small':
      return structuredClone(PIR_SMALL);
    case 'pir':
      return structuredClone(PIR_REFERENCE);
    case 'priorclip':
      return structuredClone(PRIORCLIP_VIT_B_32);
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Resolve a (partial) model config: `kind` picks the defaults (default `pir-small`), the rest is
 * merged onto them and validated. `source` names the file for errors.
 */
export function resolveModelConfig(override: unknown, source = 'model config'): ModelConfig {
  if (override !== undefined && !isRecord(override)) throw new ConfigError(`${source}: the model config must be an object`, 'model');
  if (isRecord(override) && !('kind' in override) && ('vision_cfg' in override || 'text_cfg' in override)) {
    // no kind (so pir-small) but open_clip's blocks: an open_clip model-config file, not a kit config
    throw new ConfigError(
      `${source}: this is an open_clip model config (vision_cfg / text_cfg, no 'kind'), not a kit model config: ` +
        `convert it with ${OPEN_CLIP_CONVERTER}, or write a kit config with "kind": "priorclip" in camelCase (vision.imageSize, text.contextLength, …)`,
      'kind',
    );
  }
  const kindRaw = (override as Record<string, unknown> | undefined)?.kind ?? 'pir-small';
  if (typeof kindRaw !== 'string') throw new ConfigError(`${source}: 'kind' must be a string`, 'kind');
  const kind = checkEnum(kindRaw, MODEL_KINDS, 'kind');
  if (kind === 'priorclip') return resolvePriorClipConfig(override, source);
  const cfg = mergeConfig(defaultModelConfig(kind) as PirModelConfig, override, source);
  validatePirConfig(cfg, source);
  return cfg;
}

function positiveInt(v: number, key: string, source: string, min = 1): void {
  if (!(Number.isInteger(v) && v >= min)) throw new ConfigError(`${source}: '${key}' must be an integer ≥ ${min}, got ${v}`, key);
}

function rate(v: number, key: string, source: string): void {
  if (!(v >= 0 && v < 1)) throw new ConfigError(`${source}: '${key}' must be in [0, 1), got ${v}`, key);
}

/** Range and consistency checks of a PIR-model config. */
export function validatePirConfig(c: PirModelConfig, source = 'model config'): void {
  positiveInt(c.embedDim, 'embedDim', source);
  positiveInt(c.imageSize, 'imageSize', source);
  positiveInt(c.heads, 'heads', source);
  if (c.embedDim % c.heads !== 0) throw new ConfigError(`${source}: embedDim ${c.embedDim} must be divisible by heads ${c.heads}`, 'heads');
  rate(c.dropout, 'dropout', source);
  positiveInt(c.mlpRatio, 'mlpRatio', source);
  if (!(c.temp > 0)) throw new ConfigError(`${source}: 'temp' must be > 0`, 'temp');
  if (!(c.temp2 > 0)) throw new ConfigError(`${source}: 'temp2' must be > 0`, 'temp2');
  if (c.image.channels.length === 0) throw new ConfigError(`${source}: 'image.channels' must list at least one stage`, 'image.channels');
  c.image.channels.forEach((ch, i) => positiveInt(ch, `image.channels[${i}]`, source));
  positiveInt(c.image.extraConvsPerStage, 'image.extraConvsPerStage', source, 0);
  checkEnum(c.image.downsample, DOWNSAMPLE_MODES, 'image.downsample');
  checkEnum(c.prior.downsample, DOWNSAMPLE_MODES, 'prior.downsample');
  if (c.prior.channels.length === 0) throw new ConfigError(`${source}: 'prior.channels' must list at least one stage`, 'prior.channels');
  c.prior.channels.forEach((ch, i) => positiveInt(ch, `prior.channels[${i}]`, source));
  positiveInt(c.prior.extraConvsPerStage, 'prior.extraConvsPerStage', source, 0);
  positiveInt(c.prior.numClasses, 'prior.numClasses', source);
  positiveInt(c.text.vocabSize, 'text.vocabSize', source);
  positiveInt(c.text.contextLength, 'text.contextLength', source);
  positiveInt(c.text.width, 'text.width', source);
  positiveInt(c.text.layers, 'text.layers', source, 0);
  positiveInt(c.text.heads, 'text.heads', source);
  if (c.text.width % c.text.heads !== 0) throw new ConfigError(`${source}: text.width ${c.text.width} must be divisible by text.heads ${c.text.heads}`, 'text.heads');
  positiveInt(c.text.mlpRatio, 'text.mlpRatio', source);
  rate(c.text.dropout, 'text.dropout', source);
  checkEnum(c.spatialPae.belief, BELIEF_MODES, 'spatialPae.belief');
  positiveInt(c.spatialPae.filterSize, 'spatialPae.filterSize', source);
  positiveInt(c.spatialPae.numRounds, 'spatialPae.numRounds', source, 0);
  positiveInt(c.temporalPae.numRounds, 'temporalPae.numRounds', source, 0);
}

/** Names of the model presets (`src/configs/models/*.json`). */
export function listModelPresets(): string[] {
  const dir = modelPresetsDir();
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => f.slice(0, -'.json'.length))
    .sort();
}

/** Load and resolve a named model preset. */
export function loadModelPreset(name: string): ModelConfig {
  const file = path.join(modelPresetsDir(), `${name}.json`);
  if (!fs.existsSync(file)) throw new Error(`model preset '${name}' not found (${file}); known: ${listModelPresets().join(', ')}`);
  return resolveModelConfig(readModelJson(name), file);
}

/** Options of `createModel` beyond the model config. */
export interface CreateModelOptions {
  /**
   * PriorCLIP only: scene classes of the stage-0 classification head on the pooled prior (`prior_head`,
   * not part of the open_clip model; see `priorclip.ts`). PIR's head is in its config (`prior.numClasses`).
   */
  priorHeadClasses?: number;
}

/** Build a model. `seeds` decides the initial weights and the dropout draws. */
export function createModel(config: ModelConfig, seeds: SeedStream, opts: CreateModelOptions = {}): RetrievalModel {
  switch (config.kind) {
    case 'pir-small':
    case 'pir':
      validatePirConfig(config);
      return new PirModel(config, seeds);
    case 'priorclip':
      return createPriorClip(config, seeds, { priorHeadClasses: opts.priorHeadClasses });
  }
}

/** Parameter counts of a model: total, trainable, and per group (when the model reports groups). */
export interface ParamSummary {
  total: number;
  trainable: number;
  byGroup: Record<string, number>;
}

/** Count a model's parameters (for notebooks, run records and tables). */
export function summarizeParams(model: RetrievalModel): ParamSummary {
  const byGroup: Record<string, number> = {};
  let total = 0;
  let trainable = 0;
  for (const e of model.params.list()) {
    const n = e.variable.size;
    total += n;
    if (e.trainable) trainable += n;
    const g = model.paramGroup ? model.paramGroup(e.key) : 'all';
    byGroup[g] = (byGroup[g] ?? 0) + n;
  }
  return { total, trainable, byGroup };
}
