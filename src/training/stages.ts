/**
 * The training recipe (method.md §4.2, style.md §4.5) as configs:
 *
 * - **stage 0** trains the scene-prior encoder on scene classification (`encodePriorLogits` +
 *   cross-entropy over the train images); the prior is frozen afterwards (both references use a
 *   frozen pretrained prior).
 * - **stage 1** contrastive pre-training on the coarse captions: image and text encoders, no prior,
 *   no PAE (the paper's figure: plain contrastive, both towers trained).
 * - **stage 2** vision-instruction fine-tuning on the fine captions: Spatial-PAE (with the stage-0
 *   prior), Temporal-PAE, contrastive + affiliation; the text encoder frozen unless
 *   `train.stage2.trainTextEncoder` (the paper's figure freezes it).
 *
 * Each stage is a run with its own record under `data/runs/<runId>/` and starts from the previous
 * stage's BEST checkpoint (validation selection), found by run id. Run ids are
 * `<preset>__<stage>__s<seed>` for the preset's own stages; an ablation whose stage is identical
 * (same stage key: every config field that stage depends on) reuses that run, otherwise it gets
 * `<preset>__<ablation>.<stage>__s<seed>`. A finished run is never retrained; an unfinished one
 * resumes from its latest checkpoint.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { SeedStream } from '../utils/random';
import { sha256 } from '../utils/fs';
import { canonicalJson } from '../data/embedded/config';
import { RunRecord, finishRun, readRunRecord, runDir, runId, startRun, writeRunRecord } from '../runs/record';
import { ExperimentConfig, FULL_MODEL } from '../config/experiment';
import { ModelConfig, RetrievalModel, ParamGroup } from '../models/model';
import { createModel, defaultModelConfig } from '../models/factory';
import { saveCheckpoint } from '../models/checkpoint';
import { totalLoss, LossConfig } from '../losses/total_loss';
import { Batch, TrainBatches, evalImageBatches } from '../data/batches';
import { preprocessImage } from '../data/image_preprocess';
import { RetrievalDataset, Split, splitImages } from '../data/types';
import { evaluateRetrieval } from '../evaluation/evaluate';
import { computeDiagnostics } from '../evaluation/diagnostics';
import { RetrievalMetrics } from '../evaluation/retrieval_metrics';
import { createProgress } from '../utils/progress';
import { PreparedData, TokenizerKind, augmentFor, coarseView, evalTransformFor, imageView, prepareData } from './data_prep';
import { StageLoss, TrainConfig, TrainTask, train } from './trainer';
import { loadCheckpoint } from './train_state';

/** The stages, in order. */
export type StageName = 'stage0' | 'stage1' | 'stage2';
export const STAGES: readonly StageName[] = ['stage0', 'stage1', 'stage2'];

/** What happened to one stage of a recipe. */
export interface StageOutcome {
  stage: StageName;
  /** Run id (null when the stage does not apply, e.g. stage 0 without a prior). */
  runId: string | null;
  status: 'trained' | 'reused' | 'disabled';
  /** Wall seconds spent in this process (0 when reused). */
  seconds: number;
  /** Training throughput (examples/s wall clock; stage 0 counts images, stages 1–2 image–caption pairs). */
  examplesPerSecond: number | null;
  /** Examples per CPU second (what an idle machine would show). */
  examplesPerCpuSecond: number | null;
  /** CPU seconds (user + system) this process spent in the stage. */
  cpuSeconds: number;
  /** Best validation value of the selection metric (mR; stage 0: accuracy %). */
  bestVal: number | null;
}

/** Test metrics kept in run records and result tables. */
export interface TestSummary {
  i2t: { r1: number; r5: number; r10: number };
  t2i: { r1: number; r5: number; r10: number };
  mR: number;
  tieRule: string;
  numImages: number;
  numTexts: number;
}

/** Outcome of a whole recipe for one variant and seed. */
export interface RecipeOutcome {
  variant: string;
  seed: number;
  stages: StageOutcome[];
  /** Run id of the last enabled stage (holds the test metrics). */
  finalRunId: string;
  test: TestSummary;
  /** Best validation mR of the final stage. */
  valBest: number;
  /** Wall seconds of this call. */
  seconds: number;
}

/** Options of `runRecipe`. */
export interface RecipeOptions {
  /** Variant name: `full` or the ablation name. */
  variant?: string;
  /** Seed (default: the experiment's). */
  seed?: number;
  /** The un-ablated preset config: stages whose key equals the preset's reuse the preset's run ids. */
  base?: ExperimentConfig;
  /** Prepared data to reuse across calls (must come from the same data config). */
  data?: PreparedData;
  /** Log lines (default: stderr). */
  log?: (line: string) => void;
  /** Show per-stage progress bars (default true). */
  progress?: boolean;
}

/** Tokenizer family of a model config. */
export function tokenizerFor(model: ModelConfig): TokenizerKind {
  return model.kind === 'priorclip' ? 'clip' : 'word';
}

/** Context length of a model config. */
export function contextLengthFor(model: ModelConfig): number {
  return model.kind === 'priorclip' ? model.text_cfg.context_length : model.text.contextLength;
}

/** Image side of a model config. */
export function imageSizeFor(model: ModelConfig): number {
  return model.kind === 'priorclip' ? model.vision_cfg.image_size : model.imageSize;
}

/** Load / generate the data of an experiment with the tokenizer its model needs. */
export function prepareExperimentData(exp: ExperimentConfig, onProgress?: (done: number, total: number) => void): Promise<PreparedData> {
  return prepareData(exp.data, tokenizerFor(exp.model), contextLengthFor(exp.model), onProgress);
}

/** The model config with the data-dependent sizes filled in (vocabulary, context, classes). */
export function modelForData(model: ModelConfig, data: PreparedData): ModelConfig {
  if (model.kind === 'priorclip') return structuredClone(model);
  const m = structuredClone(model);
  if (data.wordTokenizer) {
    m.text.vocabSize = data.wordTokenizer.vocabSize;
    m.text.contextLength = data.wordTokenizer.contextLength;
  }
  m.prior.numClasses = Math.max(1, data.dataset.classes.length);
  return m;
}

/** Whether the model has a trainable scene prior (stage 0 applies). */
export function hasPrior(model: ModelConfig): boolean {
  return model.kind !== 'priorclip' && model.prior.enabled;
}

/**
 * The stage-1 model: backbones and projections only (no prior, no PAE). The modules stage 1 leaves
 * out carry the kind's default settings, so the stage key (which hashes this config) is the same
 * for variants that differ only inside those modules (the K, n_v, n_t and belief sweeps): they
 * share the full model's stage-1 run — the same parameters, the same seeded initialisation, hence
 * the same weights.
 */
export function stage1Model(model: ModelConfig): ModelConfig {
  if (model.kind === 'priorclip') return structuredClone(model);
  const d = defaultModelConfig(model.kind);
  if (d.kind === 'priorclip') return structuredClone(model);
  return {
    ...structuredClone(model),
    prior: { ...d.prior, enabled: false },
    spatialPae: { ...d.spatialPae, enabled: false },
    temporalPae: { ...d.temporalPae, enabled: false },
  };
}

/** The loss config of stage 1 (the experiment loss with the stage-1 affiliation weight). */
export function stage1Loss(exp: ExperimentConfig): LossConfig {
  return { ...exp.loss, affiliationWeight: exp.train.stage1.affiliationWeight };
}

/**
 * Everything a stage's result depends on, hashed: equal keys ⇒ the same run can be shared.
 * stage 0: data, seed, the prior encoder config, stage-0 training.
 * stage 1: data, seed, the stage-1 model (no prior / PAE), stage-1 loss and training.
 * stage 2: everything, plus the keys of the stages it starts from.
 */
export function stageKeys(exp: ExperimentConfig, seed: number): Record<StageName, string | null> {
  const m = exp.model;
  const t = exp.train;
  const data = { ...exp.data };
  const s0 = hasPrior(m) && t.stage0.enabled && m.kind !== 'priorclip'
    ? sha256(canonicalJson({ stage: 0, data, seed, model: { kind: m.kind, imageSize: m.imageSize, prior: m.prior }, train: t.stage0 }))
    : null;
  const s1 = t.stage1.enabled ? sha256(canonicalJson({ stage: 1, data, seed, model: stage1Model(m), loss: stage1Loss(exp), train: t.stage1 })) : null;
  const s2 = t.stage2.enabled
    ? sha256(canonicalJson({ stage: 2, data, seed, model: m, loss: exp.loss, train: t.stage2, eval: exp.eval, parents: [s0, s1] }))
    : null;
  return { stage0: s0, stage1: s1, stage2: s2 };
}

/** Run ids of the stages of a variant (null for stages that do not apply). */
export function stageRunIds(exp: ExperimentConfig, seed: number, variant: string, base?: ExperimentConfig): Record<StageName, string | null> {
  const keys = stageKeys(exp, seed);
  const baseKeys = base ? stageKeys(base, seed) : null;
  const out = { stage0: null, stage1: null, stage2: null } as Record<StageName, string | null>;
  for (const s of STAGES) {
    if (keys[s] === null) continue;
    const shared = variant === FULL_MODEL || (baseKeys !== null && baseKeys[s] === keys[s]);
    out[s] = runId(exp.name, shared ? s : `${variant}.${s}`, seed);
  }
  return out;
}

/**
 * The record of a stage run that is there and was made from the same stage config (`key`): the
 * record when it finished, null when it is absent or unfinished (resumable). A run made from another
 * config of that stage (a preset edited after the run, say) throws: a finished run is never reused,
 * and an unfinished one never resumed, under a config it was not trained with.
 */
export function stageRunRecord(id: string, stage: StageName, key: string | null): RunRecord | null {
  const r = readRunRecord(id);
  if (!r) return null;
  const recorded = r.metrics.stageKey;
  if (recorded !== undefined && key !== null && recorded !== key) {
    throw new Error(
      `run ${id} (${runDir(id)}) was made from a different ${stage} config (stage key ${String(recorded).slice(0, 10)}, ` +
        `the config now gives ${key.slice(0, 10)}): delete or move that folder (or set KIT_RUNS_DIR to a fresh folder) to retrain it, or give the changed experiment its own name (--set name=…)`,
    );
  }
  return r.status === 'finished' ? r : null;
}

/**
 * True when every stage run of a variant finished with the current config and holds its best
 * checkpoint (throws on a stale run, see `stageRunRecord`).
 */
export function variantFinished(exp: ExperimentConfig, seed: number, variant: string, base?: ExperimentConfig): boolean {
  const ids = stageRunIds(exp, seed, variant, base);
  const keys = stageKeys(exp, seed);
  return STAGES.every((s) => {
    const id = ids[s];
    return id === null || (stageRunRecord(id, s, keys[s]) !== null && fs.existsSync(path.join(runDir(id), 'best.safetensors')));
  });
}

/**
 * Bind a per-micro-step dropout stream to a model. The model contract's `EncodeOptions` has no
 * `seeds` field yet; the PIR model keeps its dropout stream in `dropoutSeeds`. Replacing it per
 * micro-step makes dropout a function of (seed, step), which exact resume needs.
 */
function bindDropoutStream(model: RetrievalModel, seeds: SeedStream): void {
  if (Reflect.has(model, 'dropoutSeeds')) Reflect.set(model, 'dropoutSeeds', seeds);
}

/** Eval-image loader with a per-process cache of preprocessed pixels. */
function cachedLoader(data: PreparedData, size: number, tokenizer: TokenizerKind): (rec: { imageId: number }) => Promise<Float32Array> {
  const memo = new Map<number, Float32Array>();
  const transform = evalTransformFor(tokenizer);
  return async (rec) => {
    const hit = memo.get(rec.imageId);
    if (hit) return hit;
    const r = data.dataset.images.find((x) => x.imageId === rec.imageId);
    if (!r) throw new Error(`${data.dataset.name}: no image ${rec.imageId}`);
    const px = preprocessImage(await data.cache.get(r), { size, transform });
    memo.set(rec.imageId, px);
    return px;
  };
}

/** Retrieval metrics of a split (tidy; the model is used in eval mode). */
export async function evaluateSplit(exp: ExperimentConfig, model: RetrievalModel, data: PreparedData, split: Split, loader?: (rec: { imageId: number }) => Promise<Float32Array>): Promise<RetrievalMetrics> {
  const tk = tokenizerFor(exp.model);
  const size = imageSizeFor(exp.model);
  const res = await evaluateRetrieval(model, data.dataset, split, {
    tokenize: data.encodeText,
    imageSize: size,
    loadImage: loader ?? cachedLoader(data, size, tk),
    tieRule: exp.eval.tieRule,
    imageBatchSize: exp.eval.batchSize,
    textBatchSize: exp.eval.batchSize,
    progress: false,
  });
  return res.metrics;
}

/** The retrieval numbers kept in records and tables. */
export function summariseMetrics(m: RetrievalMetrics): TestSummary {
  return { i2t: { ...m.i2t }, t2i: { ...m.t2i }, mR: m.mR, tieRule: m.tieRule, numImages: m.numImages, numTexts: m.numTexts };
}

/** Parameter group of a key (models without `paramGroup` treat everything as one group). */
function groupOf(model: RetrievalModel, key: string): ParamGroup | 'all' {
  return model.paramGroup ? model.paramGroup(key) : 'all';
}

/** Training task over caption batches (stages 1–2) or image batches (stage 0). */
function makeTask(
  exp: ExperimentConfig,
  stage: StageName,
  model: RetrievalModel,
  ds: RetrievalDataset,
  data: PreparedData,
  seeds: SeedStream,
  train: TrainConfig,
  loss: LossConfig | null,
  isTrainable: (key: string) => boolean,
): TrainTask<Batch> {
  const tk = tokenizerFor(exp.model);
  const size = imageSizeFor(exp.model);
  const batches = new TrainBatches(ds, seeds.child('batches'), {
    batchSize: train.batchSize,
    augment: augmentFor(exp.data.augment, size),
    evalTransform: evalTransformFor(tk),
    size,
    encodeText: data.encodeText,
    prefetch: 0,
    cache: data.cache,
  });
  const loader = cachedLoader(data, size, tk);
  const numClasses = data.dataset.classes.length;
  const task: TrainTask<Batch> = {
    params: model.params,
    numExamples: batches.samples.length,
    isTrainable,
    makeBatch: (indices, rng) => batches.makeBatch(indices, rng),
    disposeBatch: (b) => b.dispose(),
    loss(b: Batch, stepSeeds: SeedStream): StageLoss {
      bindDropoutStream(model, stepSeeds.child('dropout'));
      if (stage === 'stage0') {
        if (!model.encodePriorLogits) throw new Error(`stage 0: model '${exp.model.kind}' has no encodePriorLogits`);
        const logits = model.encodePriorLogits(b.images, { training: true }); // [B, C]
        const labels = Array.from(b.labels, (l) => (l < numClasses ? l : -1));
        if (labels.some((l) => l < 0)) throw new Error(`stage 0: a training image has no scene class (labels ${Array.from(b.labels).join(',')})`);
        const onehot = tf.oneHot(tf.tensor1d(labels, 'int32'), numClasses); // [B, C]
        const ce = tf.losses.softmaxCrossEntropy(onehot, logits) as tf.Scalar;
        return { total: ce, parts: { classification: ce } };
      }
      const out = model.forward(b.images, b.tokens, { training: true });
      const l = totalLoss(
        {
          imageFeatures: out.imageFeatures,
          textFeatures: out.textFeatures,
          temp: out.temp,
          temp2: out.temp2,
          logitScale: out.logitScale,
          imageIds: b.imageIds,
          labels: b.labels,
        },
        loss ?? exp.loss,
      );
      return { total: l.total, parts: l.parts };
    },
    selectMetric: stage === 'stage0' ? 'accuracy' : 'mR',
    validate: async (): Promise<Record<string, number>> => {
      if (stage === 'stage0') return { accuracy: await priorAccuracy(model, data, size, tk, exp.eval.batchSize) };
      const m = await evaluateSplit(exp, model, data, 'val', loader);
      return { mR: m.mR, i2t_r1: m.i2t.r1, i2t_r5: m.i2t.r5, i2t_r10: m.i2t.r10, t2i_r1: m.t2i.r1, t2i_r5: m.t2i.r5, t2i_r10: m.t2i.r10 };
    },
  };
  return task;
}

/** Scene-classification accuracy (%) of the prior on the validation images. */
async function priorAccuracy(model: RetrievalModel, data: PreparedData, size: number, tk: TokenizerKind, batchSize: number): Promise<number> {
  const enc = model.encodePriorLogits;
  if (!enc) return 0;
  const recs = splitImages(data.dataset, 'val');
  let correct = 0;
  let total = 0;
  for await (const b of evalImageBatches(data.dataset, 'val', { batchSize, size, transform: evalTransformFor(tk), cache: data.cache })) {
    const pred = tf.tidy(() => tf.argMax(enc.call(model, b.images), 1)); // [B]
    const p = await pred.data();
    pred.dispose();
    b.imageIndices.forEach((ii, k) => {
      const cls = recs[ii].sceneClass;
      if (cls === null) return;
      total += 1;
      if (data.dataset.classes[p[k]] === cls) correct += 1;
    });
    b.dispose();
  }
  return total > 0 ? (100 * correct) / total : 0;
}

/** Whether a stage trains a parameter group (stage 0: the prior and its head; later stages: the switches of `exp.train`). */
export function stageTrainsGroup(stage: StageName, exp: ExperimentConfig, g: ParamGroup | 'all'): boolean {
  if (stage === 'stage0') return g === 'prior' || g === 'priorHead';
  if (g === 'priorHead') return false;
  if (g === 'prior') return stage === 'stage2' && exp.train.stage2.trainPrior;
  if (stage !== 'stage2') return true;
  if (g === 'text') return exp.train.stage2.trainTextEncoder;
  if (g === 'textProj') return exp.train.stage2.trainTextEncoder || exp.train.stage2.trainTextProjection;
  return true;
}

/** Which parameters a stage trains. */
function trainableFor(stage: StageName, exp: ExperimentConfig, model: RetrievalModel): (key: string) => boolean {
  return (key) => stageTrainsGroup(stage, exp, groupOf(model, key));
}

function defaultLog(line: string): void {
  process.stderr.write(line + '\n');
}

/**
 * Run (or reuse, or resume) every enabled stage of an experiment for one variant and seed, then
 * evaluate the final stage's best checkpoint on the TEST split (written to its run record).
 */
export async function runRecipe(exp: ExperimentConfig, opts: RecipeOptions = {}): Promise<RecipeOutcome> {
  const t0 = Date.now();
  const variant = opts.variant ?? FULL_MODEL;
  const seed = opts.seed ?? exp.seed;
  const log = opts.log ?? defaultLog;
  const data = opts.data ?? (await prepareExperimentData(exp));
  const modelCfg = modelForData(exp.model, data);
  const ids = stageRunIds(exp, seed, variant, opts.base);
  const keys = stageKeys(exp, seed);
  const outcomes: StageOutcome[] = [];
  const root = new SeedStream(seed);

  for (const stage of STAGES) {
    const id = ids[stage];
    if (id === null) {
      outcomes.push({ stage, runId: null, status: 'disabled', seconds: 0, examplesPerSecond: null, examplesPerCpuSecond: null, cpuSeconds: 0, bestVal: null });
      continue;
    }
    const existing = stageRunRecord(id, stage, keys[stage]);
    if (existing) {
      const best = existing.metrics.bestVal as { mR: number } | null | undefined;
      log(`[${variant} s${seed}] ${stage}: reusing finished run ${id}`);
      outcomes.push({ stage, runId: id, status: 'reused', seconds: 0, examplesPerSecond: (existing.metrics.examplesPerSecond as number | null) ?? null, examplesPerCpuSecond: (existing.metrics.examplesPerCpuSecond as number | null) ?? null, cpuSeconds: 0, bestVal: best ? best.mR : null });
      continue;
    }
    const ts = Date.now();
    const cpu0 = process.cpuUsage();
    const parents = STAGES.slice(0, STAGES.indexOf(stage)).map((s) => ids[s]).filter((x): x is string => x !== null);
    const stageModelCfg = stage === 'stage1' ? stage1Model(modelCfg) : modelCfg;
    const model = createModel(stageModelCfg, root.child('model'));
    const record: RunRecord = startRun({ runId: id, kind: stage, seed, config: { ...exp, model: stageModelCfg, variant }, data: data.identity, parents });
    record.metrics.stageKey = keys[stage];
    writeRunRecord(record);
    if (data.wordTokenizer) data.wordTokenizer.save(path.join(runDir(id), 'vocab.json'));
    try {
      // initial weights: prior from stage 0, backbones from stage 1 (best checkpoints)
      if (stage === 'stage2') {
        if (ids.stage0) loadCheckpoint(path.join(runDir(ids.stage0), 'best.safetensors'), model.params, null, { strict: false, only: (k) => groupOf(model, k) === 'prior' || groupOf(model, k) === 'priorHead' });
        if (ids.stage1) loadCheckpoint(path.join(runDir(ids.stage1), 'best.safetensors'), model.params, null, { strict: false, only: (k) => groupOf(model, k) !== 'prior' && groupOf(model, k) !== 'priorHead' });
      }
      const ds = stage === 'stage0' ? imageView(data.dataset) : stage === 'stage1' && exp.train.stage1.captions === 'coarse' ? coarseView(data.dataset) : data.dataset;
      const trainCfg: TrainConfig = exp.train[stage];
      const task = makeTask(exp, stage, model, ds, data, root.child(stage), trainCfg, stage === 'stage1' ? stage1Loss(exp) : exp.loss, trainableFor(stage, exp, model));
      const totalSteps = Math.max(1, trainCfg.epochs * Math.min(Math.floor(task.numExamples / trainCfg.batchSize / trainCfg.accumSteps), trainCfg.maxStepsPerEpoch > 0 ? trainCfg.maxStepsPerEpoch : Number.MAX_SAFE_INTEGER));
      const bar = opts.progress === false ? null : createProgress(`${variant} s${seed} ${stage}`, totalSteps);
      const res = await train(task, trainCfg, {
        dir: runDir(id),
        seeds: root.child(stage),
        record,
        onStepEnd: (l) => bar?.tick(1, `loss ${l.loss.toFixed(4)}`),
        saveWeights: (file) => saveCheckpoint(file, model, { kit_run_id: id, kit_stage: stage }),
        onEvalEnd: (e, isBest) => log(`[${variant} s${seed}] ${stage} epoch ${e.epoch + 1}: ${JSON.stringify(roundAll(e.metrics))}${isBest ? ' (best)' : ''}`),
      });
      bar?.done();
      record.metrics.examplesPerSecond = res.examplesPerSecond;
      record.metrics.numExamples = task.numExamples;
      if (stage === 'stage2' || (stage === 'stage1' && ids.stage2 === null)) {
        loadCheckpoint(path.join(runDir(id), 'best.safetensors'), model.params, null);
        const te = Date.now();
        const m = await evaluateSplit(exp, model, data, 'test');
        record.metrics.test = summariseMetrics(m);
        record.metrics.diagnostics = await computeDiagnostics(model, data.dataset, 'test', { tokenize: data.encodeText, imageSize: imageSizeFor(exp.model), transform: evalTransformFor(tokenizerFor(exp.model)), decode: (r) => data.cache.get(r), tieRule: exp.eval.tieRule, batchSize: exp.eval.batchSize });
        record.timings.testSeconds = (Date.now() - te) / 1000;
      }
      record.timings.totalSeconds = (Date.now() - ts) / 1000;
      const cpu = process.cpuUsage(cpu0);
      record.timings.cpuSeconds = (cpu.user + cpu.system) / 1e6;
      finishRun(record);
      outcomes.push({ stage, runId: id, status: 'trained', seconds: (Date.now() - ts) / 1000, examplesPerSecond: res.examplesPerSecond, examplesPerCpuSecond: res.examplesPerCpuSecond, cpuSeconds: record.timings.cpuSeconds, bestVal: res.state.best ? res.state.best.mR : null });
    } catch (e) {
      finishRun(record, e as Error);
      throw e;
    } finally {
      model.dispose();
    }
  }
  const last = [...outcomes].reverse().find((o) => o.runId !== null && o.stage !== 'stage0');
  if (!last || !last.runId) throw new Error(`experiment '${exp.name}' (${variant}): stages 1 and 2 are both disabled; nothing to evaluate`);
  const rec = readRunRecord(last.runId);
  const test = rec?.metrics.test as TestSummary | undefined;
  if (!test) throw new Error(`run ${last.runId} has no test metrics in its record`);
  return { variant, seed, stages: outcomes, finalRunId: last.runId, test, valBest: last.bestVal ?? Number.NaN, seconds: (Date.now() - t0) / 1000 };
}

function roundAll(m: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(m)) out[k] = Math.round(v * 100) / 100;
  return out;
}
