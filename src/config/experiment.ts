/**
 * The composed experiment config: data + model + loss + per-stage training + evaluation, resolved
 * in one place (style.md §4.4):
 *
 *   defaultExperiment() → preset JSON (src/configs/experiments/<preset>.json, may `extends` another)
 *                       → ablation JSON (src/configs/ablations/<name>.json `overrides`)
 *                       → caller overrides (notebook / CLI)
 *
 * Every merge goes through `mergeConfig`: the defaults are the schema, so an unknown key or a wrong
 * type is rejected with an error naming the key path and the file it came from. The result is
 * fully specified and is what every run record saves.
 */
import * as fs from 'fs';
import * as path from 'path';
import { ConfigError, DeepPartial, JsonObject, checkEnum, mergeConfig } from '../utils/merge_config';
import { projectRoot, readJson } from '../utils/fs';
import { DEFAULT_EMBEDDED_DATA, EmbeddedDataConfig } from '../data/embedded/config';
import { DEFAULT_EMBEDDED_V2, EmbeddedV2Config, embeddedDataVersion, validateEmbeddedV2Config } from '../data/embedded/v2/config';
import { DEFAULT_LOSS_CONFIG, LossConfig } from '../losses/total_loss';
import { TrainConfig, defaultTrainConfig } from '../training/trainer';
import { ModelConfig } from '../models/model';
import { defaultModelConfig, resolveModelConfig, validatePirConfig } from '../models/factory';
import { refuseOpenClipKeys } from '../interop/open_clip_keys';
import { TIE_RULES, TieRule } from '../evaluation/retrieval_metrics';

/** Where the data comes from. */
export type DataSource = 'embedded' | 'karpathy' | 'pir-json';
export const DATA_SOURCES: readonly DataSource[] = ['embedded', 'karpathy', 'pir-json'];

/** Data section. */
export interface DataConfig {
  /** `embedded` (generated, cached under data/generated/) or a real annotation format. */
  source: DataSource;
  /**
   * Generator settings when `source` is `embedded`: the v1 benchmark (no `version` key: every v1
   * config, and so every v1 stage key, is byte for byte what it was) or, with `"version": 2`, the
   * v2 benchmark (three corpora: prior, coarse, fine; `isEmbeddedV2`).
   */
  embedded: EmbeddedDataConfig | EmbeddedV2Config;
  /** Annotation file for real data (Karpathy JSON or the PIR train JSON); null for embedded. */
  annotationFile: string | null;
  /** Folder image file names are resolved against (real data); null for embedded. */
  imagesRoot: string | null;
  /** Use at most this many training images (0 = all): a budget knob. */
  maxTrainImages: number;
  /** Validation images used for best-checkpoint selection (0 = all of the val split). */
  maxValImages: number;
  /** Training augmentation: `none` (eval resize), `pir` (RandomResizedCrop 0.5–1 + flip + RandAugment 2/7), `open_clip` (crop 0.9–1). */
  augment: 'none' | 'pir' | 'open_clip';
}

/** One training stage: the trainer's hyper-parameters plus a switch. */
export interface StageConfig extends TrainConfig {
  /** Run this stage (false: skip it; the next stage starts from the stage before, or from scratch). */
  enabled: boolean;
}

/** Corpus the stage-0 prior trains on (embedded v2 only). */
export type Stage0Corpus = 'prior' | 'fine';
export const STAGE0_CORPORA: readonly Stage0Corpus[] = ['prior', 'fine'];

/** Stage 0: scene classification of the prior encoder. */
export interface Stage0Config extends StageConfig {
  /**
   * Embedded v2 only (absent for v1 data, so v1 stage keys are unchanged): `prior` = the external
   * AID-like prior corpus (its own classes; the paper's regime, the default), `fine` = the fine
   * set's own training images and classes (the v1 regime, an ablation).
   */
  corpus?: Stage0Corpus;
}

/** Stage 1: contrastive pre-training of both encoders without the prior. */
export interface Stage1Config extends StageConfig {
  /**
   * Captions used: `coarse` (one RS5M-like caption per image; with embedded v2 data, the separate
   * coarse corpus, rendered lazily) or `fine` (the five fine captions of the fine set).
   */
  captions: 'coarse' | 'fine';
  /** Affiliation weight in stage 1 (the paper's figure: plain contrastive, 0). */
  affiliationWeight: number;
}

/** Stage 2: vision-instruction fine-tuning (S-PAE, T-PAE, contrastive + affiliation). */
export interface Stage2Config extends StageConfig {
  /** Train the text encoder (the paper's figure freezes it in stage 2: false). The T-PAE always trains. */
  trainTextEncoder: boolean;
  /**
   * Train the text tower's final projection even when `trainTextEncoder` is false. The figure freezes
   * "the text encoder" without saying whether its projection is included; the kit trains it (true) so
   * that the text side keeps a trainable map when the T-PAE is ablated (frozen, the w/o-T-PAE
   * variant has no trainable text parameter at all and measures trainability, not the T-PAE).
   */
  trainTextProjection: boolean;
  /** Train the scene-prior encoder (frozen after stage 0 in both references: false). */
  trainPrior: boolean;
}

/** The three stages of the recipe. */
export interface TrainStages {
  /** Stage 0: scene classification of the prior encoder (then frozen). */
  stage0: Stage0Config;
  /** Stage 1: coarse contrastive pre-training. */
  stage1: Stage1Config;
  /** Stage 2: fine-grained vision-instruction fine-tuning. */
  stage2: Stage2Config;
}

/** Evaluation section. */
export interface EvalConfig {
  /** Tie rule of the ranking (src/evaluation/retrieval_metrics.ts): `pessimistic` never overstates. */
  tieRule: TieRule;
  /** Rows of the similarity matrix per chunk. */
  chunkSize: number;
  /** Images / captions embedded per forward pass. */
  batchSize: number;
}

/** A fully specified experiment. */
export interface ExperimentConfig {
  /** Preset name; the first part of every run id (`<name>__<variant>__s<seed>`). */
  name: string;
  /** One sentence on what this experiment is. */
  description: string;
  /** Root seed (the ablation runner overrides it per repetition). */
  seed: number;
  data: DataConfig;
  model: ModelConfig;
  /** The stage-2 objective (stage 1 uses it with `stage1.affiliationWeight`; stage 0 uses cross-entropy). */
  loss: LossConfig;
  train: TrainStages;
  eval: EvalConfig;
}

/** The built-in defaults: the schema of every experiment. */
export function defaultExperiment(): ExperimentConfig {
  const t = defaultTrainConfig();
  return {
    name: 'default',
    description: 'Kit defaults (embedded data, small PIR-style model).',
    seed: 0,
    data: {
      source: 'embedded',
      embedded: structuredClone(DEFAULT_EMBEDDED_DATA),
      annotationFile: null,
      imagesRoot: null,
      maxTrainImages: 0,
      maxValImages: 0,
      augment: 'none',
    },
    model: defaultModelConfig(),
    loss: { ...DEFAULT_LOSS_CONFIG },
    train: {
      stage0: { ...t, enabled: true, clampLogitScale: false, epochs: 3, lr: 2e-3 },
      stage1: { ...t, enabled: true, captions: 'coarse', affiliationWeight: 0 },
      stage2: { ...t, enabled: true, trainTextEncoder: false, trainTextProjection: true, trainPrior: false },
    },
    eval: { tieRule: 'pessimistic', chunkSize: 512, batchSize: 64 },
  };
}

/** Folder of the JSON config data. */
export function configsDir(): string {
  return path.join(projectRoot(), 'src', 'configs');
}

/** A preset file: a partial experiment, optionally extending another preset. */
interface PresetFile {
  extends?: string;
  [key: string]: unknown;
}

/** An ablation: a name, what it tests, and a minimal override (style.md §4.4). */
export interface AblationSpec {
  name: string;
  description: string;
  overrides: DeepPartial<ExperimentConfig>;
}

/** A suite: which ablations, which seeds, on which preset. */
export interface SuiteSpec {
  name: string;
  description: string;
  /** Preset the ablations apply to. */
  preset: string;
  /** Ablation names (`full` = the preset unchanged); sweep files expand to `<name>-<suffix>`. */
  ablations: string[];
  /** Seeds each ablation runs with. */
  seeds: number[];
}

/**
 * Merge an override onto an experiment. The `model` section is a union on `kind`: an override that
 * changes the kind starts from that kind's defaults (`resolveModelConfig`), otherwise it merges onto
 * the current model config. Every other section goes through `mergeConfig` (defaults = schema).
 */
export function mergeExperiment(base: ExperimentConfig, override: unknown, source: string): ExperimentConfig {
  if (override === undefined) return structuredClone(base);
  if (typeof override !== 'object' || override === null || Array.isArray(override)) {
    throw new ConfigError(`${source}: an experiment override must be an object`, '');
  }
  const { model: modelOv, data: dataOv, train: trainOv, ...rest } = override as Record<string, unknown>;
  const out = mergeConfig(base, rest, source);
  if (dataOv !== undefined) out.data = mergeDataConfig(base.data, dataOv, source);
  // stage 0's corpus exists only with v2 data: added (default `prior`) when the data becomes v2, dropped when it goes back to v1
  const v2 = isEmbeddedV2(out.data.embedded);
  if (v2 && out.train.stage0.corpus === undefined) out.train.stage0.corpus = 'prior';
  if (!v2 && out.train.stage0.corpus !== undefined) delete out.train.stage0.corpus;
  if (trainOv !== undefined) {
    const s0 = (trainOv as { stage0?: { corpus?: unknown } } | null)?.stage0;
    if (!v2 && s0 && typeof s0 === 'object' && 'corpus' in s0) {
      throw new ConfigError(`${source}: config key 'train.stage0.corpus' applies to embedded v2 data only (data.embedded.version 2); this experiment's data is v1`, 'train.stage0.corpus');
    }
    out.train = mergeConfig(out.train, trainOv, source, 'train');
  }
  if (modelOv !== undefined) {
    if (typeof modelOv !== 'object' || modelOv === null || Array.isArray(modelOv)) {
      throw new ConfigError(`${source}: config key 'model' must be an object`, 'model');
    }
    const kind = (modelOv as { kind?: unknown }).kind;
    // a PriorCLIP override spelled the old open_clip way (`model.vision_cfg.image_size`): name the camelCase key
    if ((kind ?? base.model.kind) === 'priorclip') refuseOpenClipKeys(modelOv, source, 'model');
    out.model =
      kind !== undefined && kind !== base.model.kind
        ? resolveModelConfig(modelOv, source)
        : mergeConfig(base.model, modelOv, source, 'model');
  }
  return out;
}

/** True when an embedded data config is the v2 benchmark (`"version": 2`). */
export function isEmbeddedV2(cfg: EmbeddedDataConfig | EmbeddedV2Config): cfg is EmbeddedV2Config {
  return (cfg as { version?: unknown }).version === 2;
}

/**
 * Merge a `data` override. `data.embedded` is a union on `version` (as `model` is on `kind`): an
 * override with `"version": 2` starts from the v2 defaults (or merges onto a v2 base), one with
 * `"version": 1` from the v1 defaults; without `version` it merges onto the base's own version.
 * A v1 result never carries a `version` key (v1 configs and their hashes stay byte-identical).
 */
function mergeDataConfig(base: DataConfig, dataOv: unknown, source: string): DataConfig {
  if (typeof dataOv !== 'object' || dataOv === null || Array.isArray(dataOv)) {
    throw new ConfigError(`${source}: config key 'data' must be an object`, 'data');
  }
  const { embedded: embOv, ...dataRest } = dataOv as Record<string, unknown>;
  const out = mergeConfig(base, dataRest, source, 'data');
  if (embOv === undefined) return out;
  if (typeof embOv !== 'object' || embOv === null || Array.isArray(embOv)) {
    throw new ConfigError(`${source}: config key 'data.embedded' must be an object`, 'data.embedded');
  }
  const baseV2 = isEmbeddedV2(base.embedded);
  const version = 'version' in embOv ? embeddedDataVersion(embOv, `${source}: data.embedded`) : baseV2 ? 2 : 1;
  if (version === 2) {
    const start: EmbeddedV2Config = baseV2 ? (base.embedded as EmbeddedV2Config) : DEFAULT_EMBEDDED_V2;
    const v2 = mergeConfig(start, embOv, source, 'data.embedded');
    try {
      validateEmbeddedV2Config(v2);
    } catch (e) {
      throw new ConfigError(`${source}: data.embedded: ${(e as Error).message}`, 'data.embedded');
    }
    out.embedded = v2;
  } else {
    const { version: _v, ...v1Ov } = embOv as Record<string, unknown>;
    const start: EmbeddedDataConfig = baseV2 ? DEFAULT_EMBEDDED_DATA : (base.embedded as EmbeddedDataConfig);
    out.embedded = mergeConfig(start, v1Ov, source, 'data.embedded');
  }
  return out;
}

/** Names of the preset files. */
export function listPresets(): string[] {
  const dir = path.join(configsDir(), 'experiments');
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir).filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -5)).sort();
}

/** Load a preset by name, following `extends` (defaults → base preset → this preset). */
export function loadPreset(name: string, seen: string[] = []): ExperimentConfig {
  const file = path.join(configsDir(), 'experiments', `${name}.json`);
  if (!fs.existsSync(file)) throw new Error(`unknown experiment preset '${name}' (${file} missing; known: ${listPresets().join(', ')})`);
  if (seen.includes(name)) throw new Error(`${file}: 'extends' cycle ${[...seen, name].join(' → ')}`);
  const raw = readJson<PresetFile>(file);
  const { extends: parent, ...rest } = raw;
  const base = parent ? loadPreset(parent, [...seen, name]) : defaultExperiment();
  const merged = mergeExperiment(base, rest, file);
  validateExperiment(merged, file);
  return merged;
}

function readAblationFile(file: string): { name: string; description: string; overrides: JsonObject; sweep?: { suffix: string; description?: string; overrides: JsonObject }[] } {
  const a = readJson<{ name?: unknown; description?: unknown; overrides?: unknown; sweep?: unknown }>(file);
  if (typeof a.name !== 'string' || a.name.length === 0) throw new Error(`${file}: 'name' must be a non-empty string`);
  if (typeof a.description !== 'string') throw new Error(`${file}: 'description' must be a string`);
  if (a.overrides !== undefined && (typeof a.overrides !== 'object' || a.overrides === null || Array.isArray(a.overrides))) {
    throw new Error(`${file}: 'overrides' must be an object`);
  }
  const known = new Set(['name', 'description', 'overrides', 'sweep']);
  for (const k of Object.keys(a)) if (!known.has(k)) throw new Error(`${file}: unknown key '${k}' (known: ${[...known].join(', ')})`);
  let sweep: { suffix: string; description?: string; overrides: JsonObject }[] | undefined;
  if (a.sweep !== undefined) {
    if (!Array.isArray(a.sweep)) throw new Error(`${file}: 'sweep' must be an array`);
    sweep = a.sweep.map((s: unknown, i: number) => {
      const e = s as { suffix?: unknown; description?: unknown; overrides?: unknown };
      if (typeof e.suffix !== 'string') throw new Error(`${file}: sweep[${i}].suffix must be a string`);
      if (typeof e.overrides !== 'object' || e.overrides === null) throw new Error(`${file}: sweep[${i}].overrides must be an object`);
      return { suffix: e.suffix, description: typeof e.description === 'string' ? e.description : undefined, overrides: e.overrides as JsonObject };
    });
  }
  return { name: a.name, description: a.description, overrides: (a.overrides ?? {}) as JsonObject, sweep };
}

/** Deep-merge two plain override objects (arrays replaced whole). */
function mergeOverrides(a: JsonObject, b: JsonObject): JsonObject {
  const out: JsonObject = structuredClone(a);
  for (const [k, v] of Object.entries(b)) {
    const cur = out[k];
    if (cur && typeof cur === 'object' && !Array.isArray(cur) && v && typeof v === 'object' && !Array.isArray(v)) {
      out[k] = mergeOverrides(cur as JsonObject, v as JsonObject);
    } else {
      out[k] = structuredClone(v);
    }
  }
  return out;
}

/** Every ablation (sweep files expanded), keyed by name, with the file each came from. */
export function listAblations(): (AblationSpec & { file: string })[] {
  const dir = path.join(configsDir(), 'ablations');
  if (!fs.existsSync(dir)) return [];
  const out: (AblationSpec & { file: string })[] = [];
  for (const f of fs.readdirSync(dir).filter((x) => x.endsWith('.json')).sort()) {
    const file = path.join(dir, f);
    const a = readAblationFile(file);
    if (a.sweep) {
      for (const s of a.sweep) {
        out.push({ name: `${a.name}-${s.suffix}`, description: s.description ?? `${a.description} (${s.suffix})`, overrides: mergeOverrides(a.overrides, s.overrides) as DeepPartial<ExperimentConfig>, file });
      }
    } else {
      out.push({ name: a.name, description: a.description, overrides: a.overrides as DeepPartial<ExperimentConfig>, file });
    }
  }
  const names = new Set<string>();
  for (const a of out) {
    if (names.has(a.name)) throw new Error(`${a.file}: ablation name '${a.name}' is used twice`);
    names.add(a.name);
  }
  return out;
}

/** The ablation named `name` (`full` = no change). */
export function loadAblation(name: string): AblationSpec & { file: string | null } {
  if (name === FULL_MODEL) return { name, description: 'The full model of the preset (no ablation).', overrides: {}, file: null };
  const a = listAblations().find((x) => x.name === name);
  if (!a) throw new Error(`unknown ablation '${name}' (known: ${[FULL_MODEL, ...listAblations().map((x) => x.name)].join(', ')})`);
  return a;
}

/** Name of the un-ablated variant. */
export const FULL_MODEL = 'full';

/** Load a suite file `src/configs/suites/<name>.json`, checking that its ablations exist. */
export function loadSuite(name: string): SuiteSpec {
  const file = path.join(configsDir(), 'suites', `${name}.json`);
  if (!fs.existsSync(file)) throw new Error(`unknown suite '${name}' (${file} missing)`);
  const base: SuiteSpec = { name: '', description: '', preset: '', ablations: [''], seeds: [0] };
  const s = mergeConfig(base, readJson(file), file);
  if (s.name !== name) throw new Error(`${file}: 'name' is '${s.name}', expected '${name}'`);
  s.ablations.forEach((a, i) => {
    try {
      loadAblation(a);
    } catch (e) {
      throw new Error(`${file}: ablations[${i}]: ${(e as Error).message}`);
    }
  });
  loadPreset(s.preset);
  if (s.seeds.length === 0) throw new Error(`${file}: 'seeds' must not be empty`);
  return s;
}

/**
 * Resolve an experiment: preset (name or config) → ablation (name or spec) → overrides.
 * Unknown keys and wrong types throw a `ConfigError` naming the key path and source.
 */
export function resolveExperiment(
  preset: string | ExperimentConfig,
  ablation?: string | AblationSpec | null,
  overrides?: DeepPartial<ExperimentConfig> | unknown,
): ExperimentConfig {
  let cfg = typeof preset === 'string' ? loadPreset(preset) : mergeExperiment(defaultExperiment(), preset, 'preset object');
  if (ablation) {
    const a = typeof ablation === 'string' ? loadAblation(ablation) : { ...ablation, file: null };
    cfg = mergeExperiment(cfg, a.overrides, a.file ? `${a.file} (ablation '${a.name}')` : `ablation '${a.name}'`);
  }
  if (overrides !== undefined) cfg = mergeExperiment(cfg, overrides, 'overrides');
  validateExperiment(cfg, 'resolved experiment');
  return cfg;
}

/** Value checks `mergeConfig` cannot make (enums, ranges). */
export function validateExperiment(cfg: ExperimentConfig, source: string): void {
  const wrap = (f: () => void) => {
    try {
      f();
    } catch (e) {
      if (e instanceof ConfigError) throw new ConfigError(`${source}: ${e.message}`, e.keyPath);
      throw e;
    }
  };
  wrap(() => checkEnum(cfg.data.source, DATA_SOURCES, 'data.source'));
  wrap(() => checkEnum(cfg.eval.tieRule, TIE_RULES, 'eval.tieRule'));
  wrap(() => checkEnum(cfg.data.augment, ['none', 'pir', 'open_clip'] as const, 'data.augment'));
  if (cfg.model.kind !== 'priorclip') validatePirConfig(cfg.model, `${source}: model`);
  wrap(() => checkEnum(cfg.train.stage1.captions, ['coarse', 'fine'] as const, 'train.stage1.captions'));
  const corpus = cfg.train.stage0.corpus;
  if (corpus !== undefined) {
    if (!isEmbeddedV2(cfg.data.embedded)) throw new ConfigError(`${source}: config key 'train.stage0.corpus' applies to embedded v2 data only`, 'train.stage0.corpus');
    wrap(() => checkEnum(corpus, STAGE0_CORPORA, 'train.stage0.corpus'));
  }
  for (const s of ['stage0', 'stage1', 'stage2'] as const) {
    const t = cfg.train[s];
    wrap(() => checkEnum(t.noDecay, ['open_clip', 'pir', 'none'] as const, `train.${s}.noDecay`));
    wrap(() => checkEnum(t.schedule, ['cosine', 'linear', 'constant'] as const, `train.${s}.schedule`));
    for (const k of ['epochs', 'batchSize', 'accumSteps', 'maxStepsPerEpoch', 'evalEveryEpochs', 'checkpointEverySteps', 'warmupSteps'] as const) {
      if (!Number.isInteger(t[k]) || t[k] < 0) throw new ConfigError(`${source}: config key 'train.${s}.${k}' must be an integer ≥ 0, got ${t[k]}`, `train.${s}.${k}`);
    }
    if (t.batchSize < 1) throw new ConfigError(`${source}: config key 'train.${s}.batchSize' must be ≥ 1`, `train.${s}.batchSize`);
    if (t.accumSteps < 1) throw new ConfigError(`${source}: config key 'train.${s}.accumSteps' must be ≥ 1`, `train.${s}.accumSteps`);
  }
}
