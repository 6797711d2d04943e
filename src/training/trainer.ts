/**
 * The training loop: a library function with callbacks (minGPT style), used by every stage.
 *
 * What one optimiser step does (inside `tf.tidy`, so the tensor count is constant across steps):
 *   for each of `accumSteps` micro-batches: loss → `tf.variableGrads` over the NOT-frozen trainable
 *   parameters → accumulate (each micro-loss is divided by `accumSteps`);
 *   clip to a global L2 norm (`gradClipNorm`, 0 = off) → AdamW (decoupled decay, no-decay rule)
 *   with the scheduled learning rate → clamp `logit_scale` to [0, ln 100] (open_clip does this after
 *   every step).
 * Note: accumulation averages gradients of per-micro-batch losses; for contrastive losses this is NOT
 * the same as one big batch (negatives come from the micro-batch only), exactly like open_clip
 * without `--accum-freq` feature caching.
 *
 * Determinism and resume: every random draw of a step comes from `seeds.child('step').child(<micro>)`
 * and every epoch's data order from `seeds.child('data').child('epoch<e>')`, so the stream positions
 * are the counters saved in the checkpoint. Checkpoints hold weights, AdamW moments, counters and the
 * loss log (see train_state.ts). A run killed at any point resumes from `latest.json` and reproduces
 * the uninterrupted run's losses bit for bit on the same backend.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { ParamStore, ParamEntry } from '../models/params';
import { MAX_LOGIT_SCALE } from '../models/model';
import { SeedStream } from '../utils/random';
import { RunRecord, writeRunRecord } from '../runs/record';
import { AdamW, NoDecayRule, clipByGlobalNorm } from './adamw';
import { ScheduleKind, learningRateAt } from './schedule';
import { BEST_CHECKPOINT, FINAL_CHECKPOINT, LOSS_LOG, stepCheckpointName } from '../runs/files';
import { EvalLog, StepLog, TrainerState, loadTrainState, readLatest, writeTrainState, writeLatest } from './train_state';

/** PyTorch key of the CLIP temperature parameter. */
export const LOGIT_SCALE_KEY = 'logit_scale';

/** Hyper-parameters of one training stage (every field is part of the saved config). */
export interface TrainConfig {
  /** Passes over the training examples. */
  epochs: number;
  /** Micro-batch size (examples per forward pass). */
  batchSize: number;
  /** Micro-batches whose gradients are summed before one optimiser step (1 = no accumulation). */
  accumSteps: number;
  /** Cap on optimiser steps per epoch (0 = the whole epoch); a budget knob for the fast profile. */
  maxStepsPerEpoch: number;
  /** Peak learning rate. */
  lr: number;
  /** Decoupled weight decay. */
  weightDecay: number;
  /** AdamW β1. */
  beta1: number;
  /** AdamW β2. */
  beta2: number;
  /** AdamW ε. */
  eps: number;
  /** Which reference's no-decay rule (`open_clip` | `pir` | `none`). */
  noDecay: NoDecayRule;
  /** Learning-rate schedule after warmup (`cosine` | `linear` | `constant`). */
  schedule: ScheduleKind;
  /** Warmup in optimiser steps (0 → use `warmupFraction`). */
  warmupSteps: number;
  /** Warmup as a fraction of all optimiser steps (PIR 0.1). */
  warmupFraction: number;
  /** Global gradient-norm clip (0 = off; open_clip default off, PIR off). */
  gradClipNorm: number;
  /** Clamp `logit_scale` to [0, ln 100] after each step (open_clip). */
  clampLogitScale: boolean;
  /** Parameters whose PyTorch key starts with one of these are frozen (not optimised). */
  freezePrefixes: string[];
  /** Evaluate on the validation split every this many epochs (0 = only after the last epoch). */
  evalEveryEpochs: number;
  /** Write a resumable checkpoint every this many optimiser steps (0 = only at epoch ends). */
  checkpointEverySteps: number;
}

/** Defaults for one stage (overridden per stage by the experiment config). */
export function defaultTrainConfig(): TrainConfig {
  return {
    epochs: 4,
    batchSize: 32,
    accumSteps: 1,
    maxStepsPerEpoch: 0,
    lr: 1e-3,
    weightDecay: 0.01,
    beta1: 0.9,
    beta2: 0.98,
    eps: 1e-8,
    noDecay: 'open_clip',
    schedule: 'cosine',
    warmupSteps: 0,
    warmupFraction: 0.1,
    gradClipNorm: 0,
    clampLogitScale: true,
    freezePrefixes: [],
    evalEveryEpochs: 1,
    checkpointEverySteps: 0,
  };
}

/** Loss of one micro-batch: the total (differentiated) and named parts (logged). */
export interface StageLoss {
  total: tf.Scalar;
  parts: Record<string, tf.Scalar>;
}

/** What the trainer needs from a stage: parameters, examples, batches, a loss, validation. */
export interface TrainTask<B> {
  /** Every parameter of the model (frozen ones included: they are checkpointed too). */
  params: ParamStore;
  /** Number of training examples; an epoch visits a permutation of 0..n−1. */
  numExamples: number;
  /** Build a batch from example indices. `seeds` is this micro-step's stream (augmentation). */
  makeBatch(indices: number[], seeds: SeedStream): B | Promise<B>;
  /** Which parameters this stage may train (combined with `freezePrefixes`); absent = all trainable ones. */
  isTrainable?: (key: string) => boolean;
  /** Dispose a batch's tensors. */
  disposeBatch(batch: B): void;
  /** Loss of a batch, called inside `tf.tidy` under the gradient tape. `seeds`: dropout stream. */
  loss(batch: B, seeds: SeedStream): StageLoss;
  /** Metric of `validate()` that selects the best checkpoint (default `mR`; higher is better). */
  selectMetric?: string;
  /** Validation metrics (must include `selectMetric`). Absent → no evaluation. */
  validate?(): Promise<Record<string, number>>;
}

/** Callbacks and locations of one training run. */
export interface TrainOptions {
  /** Run folder: `latest.json`, `ckpt-*.safetensors`, `best.safetensors`, `final.safetensors`, `losses.json`. */
  dir: string;
  /** The run's root stream (the trainer uses its children `data` and `step`). */
  seeds: SeedStream;
  /** Run record to update as the run goes (val metrics, best, timings). */
  record?: RunRecord;
  /** Resume from `latest.json` when present (default true). */
  resume?: boolean;
  onStepEnd?: (log: StepLog) => void;
  onEvalEnd?: (log: EvalLog, isBest: boolean) => void;
  /** Writes weights-only files (`best`, `final`); default: a plain state_dict safetensors. Stages pass
   *  models/checkpoint.ts `saveModelFile` so the files carry the model config. */
  saveWeights?: (file: string) => void;
}

/** Outcome of a run. */
export interface TrainResult {
  state: TrainerState;
  /** Optimiser steps taken by THIS process (after any resume). */
  stepsThisProcess: number;
  /** Examples per second over this process's steps. */
  examplesPerSecond: number;
  /** Examples per CPU second of this process (user + system): the throughput an otherwise idle
   *  machine would show; wall-clock rates drop when other processes share the cores. */
  examplesPerCpuSecond: number;
  /** Wall seconds spent in training steps / in validation, this process. */
  trainSeconds: number;
  evalSeconds: number;
  /** True when the run had already finished (nothing was trained). */
  alreadyDone: boolean;
}

/** Optimiser steps per epoch for `n` examples (drop_last, multiple of accumSteps, capped). */
export function stepsPerEpoch(cfg: TrainConfig, n: number): number {
  const batches = Math.floor(n / cfg.batchSize);
  let steps = Math.floor(batches / Math.max(1, cfg.accumSteps));
  if (cfg.maxStepsPerEpoch > 0) steps = Math.min(steps, cfg.maxStepsPerEpoch);
  return steps;
}

/** Entries the optimiser updates: trainable and not under a frozen prefix. */
export function optimisedEntries(params: ParamStore, freezePrefixes: readonly string[], isTrainable: (key: string) => boolean = () => true): ParamEntry[] {
  return params.list().filter((e) => e.trainable && isTrainable(e.key) && !freezePrefixes.some((p) => e.key.startsWith(p)));
}

/** A cheap fingerprint of a permutation (checked on resume so a data change is not silently mixed). */
export function orderFingerprint(order: readonly number[]): number {
  let h = 0x811c9dc5;
  for (const x of order) {
    h ^= x;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** Data order of an epoch: a permutation derived only from (root seed, epoch). */
export function epochOrder(seeds: SeedStream, epoch: number, n: number): number[] {
  return seeds.child('data').child(`epoch${epoch}`).permutation(n);
}

function freshState(seed: number): TrainerState {
  return {
    format: 'priorclip-kit/train-state@1',
    step: 0,
    microStep: 0,
    epoch: 0,
    batchInEpoch: 0,
    orderFingerprint: 0,
    rng: { rootSeed: seed, scheme: 'per-microstep-child@1' },
    log: [],
    evals: [],
    best: null,
    seconds: { train: 0, eval: 0 },
  };
}

function validateConfig(cfg: TrainConfig): void {
  const pos = (k: keyof TrainConfig) => {
    const v = cfg[k] as number;
    if (!(Number.isInteger(v) && v > 0)) throw new Error(`train config: '${String(k)}' must be a positive integer, got ${v}`);
  };
  pos('batchSize');
  pos('accumSteps');
  if (!(Number.isInteger(cfg.epochs) && cfg.epochs >= 0)) throw new Error(`train config: 'epochs' must be an integer ≥ 0, got ${cfg.epochs}`);
  if (!(cfg.lr >= 0)) throw new Error(`train config: 'lr' must be ≥ 0, got ${cfg.lr}`);
}

/** Train (or resume) one run. */
export async function train<B>(task: TrainTask<B>, cfg: TrainConfig, opts: TrainOptions): Promise<TrainResult> {
  validateConfig(cfg);
  fs.mkdirSync(opts.dir, { recursive: true });
  const entries = optimisedEntries(task.params, cfg.freezePrefixes, task.isTrainable);
  if (entries.length === 0) throw new Error(`train(${opts.dir}): every parameter is frozen (freezePrefixes ${JSON.stringify(cfg.freezePrefixes)})`);
  const optimizer = new AdamW(entries, { beta1: cfg.beta1, beta2: cfg.beta2, eps: cfg.eps, weightDecay: cfg.weightDecay, noDecay: cfg.noDecay });
  const vars = optimizer.variables();
  const logitScale = cfg.clampLogitScale && task.params.has(LOGIT_SCALE_KEY) ? task.params.get(LOGIT_SCALE_KEY) : null;

  const perEpoch = stepsPerEpoch(cfg, task.numExamples);
  if (perEpoch === 0 && cfg.epochs > 0) {
    throw new Error(`train(${opts.dir}): ${task.numExamples} examples give 0 steps per epoch at batchSize ${cfg.batchSize} × accumSteps ${cfg.accumSteps}`);
  }
  const totalSteps = perEpoch * cfg.epochs;

  let state = freshState(opts.seeds.seed);
  const latest = opts.resume === false ? null : readLatest(opts.dir);
  if (latest) {
    const loaded = loadTrainState(path.join(opts.dir, latest.file), task.params, optimizer);
    if (!loaded) throw new Error(`${path.join(opts.dir, latest.file)}: no trainer state in checkpoint metadata`);
    if (loaded.rng.rootSeed !== opts.seeds.seed) {
      throw new Error(`${opts.dir}: checkpoint was trained with seed ${loaded.rng.rootSeed}, this run has seed ${opts.seeds.seed}`);
    }
    state = loaded;
  }
  const alreadyDone = state.epoch >= cfg.epochs && totalSteps > 0 && state.step >= totalSteps;

  const stepStream = opts.seeds.child('step');
  const saveWeights = opts.saveWeights ?? ((file: string) => writeTrainState(file, task.params, null, null));
  let stepsThisProcess = 0;
  let trainSeconds = 0;
  let evalSeconds = 0;
  let trainCpuSeconds = 0;

  const saveResumePoint = () => {
    const file = stepCheckpointName(state.step);
    writeTrainState(path.join(opts.dir, file), task.params, optimizer, state);
    const prev = readLatest(opts.dir);
    writeLatest(opts.dir, { file, step: state.step, epoch: state.epoch });
    if (prev && prev.file !== file) fs.rmSync(path.join(opts.dir, prev.file), { force: true });
  };

  const updateRecord = () => {
    if (!opts.record) return;
    const r = opts.record;
    r.metrics.val = state.evals;
    r.metrics.bestVal = state.best;
    r.metrics.lastLoss = state.log.length ? state.log[state.log.length - 1].loss : null;
    r.metrics.steps = state.step;
    writeRunRecord(r);
  };

  try {
    for (let epoch = state.epoch; epoch < cfg.epochs; epoch++) {
      const order = epochOrder(opts.seeds, epoch, task.numExamples);
      const fp = orderFingerprint(order);
      if (state.batchInEpoch > 0 && state.orderFingerprint !== fp) {
        throw new Error(`${opts.dir}: resumed epoch ${epoch} has a different data order than the checkpoint (dataset or seed changed)`);
      }
      state.orderFingerprint = fp;
      const firstStep = Math.floor(state.batchInEpoch / cfg.accumSteps);
      for (let s = firstStep; s < perEpoch; s++) {
        const t0 = Date.now();
        const c0 = process.cpuUsage();
        const lr = learningRateAt(
          { kind: cfg.schedule, warmupSteps: cfg.warmupSteps, warmupFraction: cfg.warmupFraction },
          cfg.lr,
          state.step,
          totalSteps,
        );
        const log = await trainStep(task, cfg, optimizer, vars, order, s, stepStream, state, lr, epoch);
        if (logitScale) {
          tf.tidy(() => logitScale.assign(tf.clipByValue(logitScale, 0, MAX_LOGIT_SCALE)));
        }
        state.log.push(log);
        state.batchInEpoch = (s + 1) * cfg.accumSteps;
        stepsThisProcess += 1;
        const dt = (Date.now() - t0) / 1000;
        const cpu = process.cpuUsage(c0);
        trainCpuSeconds += (cpu.user + cpu.system) / 1e6;
        trainSeconds += dt;
        state.seconds.train += dt;
        opts.onStepEnd?.(log);
        if (cfg.checkpointEverySteps > 0 && state.step % cfg.checkpointEverySteps === 0 && s + 1 < perEpoch) saveResumePoint();
      }
      // epoch end: validate, pick the best on validation mR, then checkpoint the epoch boundary
      const last = epoch === cfg.epochs - 1;
      const due = cfg.evalEveryEpochs > 0 ? (epoch + 1) % cfg.evalEveryEpochs === 0 : false;
      if (task.validate && (due || last)) {
        const t0 = Date.now();
        const metrics = await task.validate();
        const dt = (Date.now() - t0) / 1000;
        evalSeconds += dt;
        state.seconds.eval += dt;
        const e: EvalLog = { step: state.step, epoch, metrics };
        state.evals.push(e);
        const key = task.selectMetric ?? 'mR';
        const value = metrics[key];
        if (typeof value !== 'number') throw new Error(`train(${opts.dir}): validate() must return '${key}'`);
        const isBest = state.best === null || value > state.best.value;
        if (isBest) {
          state.best = { metric: key, value, step: state.step, epoch };
          saveWeights(path.join(opts.dir, BEST_CHECKPOINT));
        }
        opts.onEvalEnd?.(e, isBest);
      }
      state.epoch = epoch + 1;
      state.batchInEpoch = 0;
      saveResumePoint();
      if (opts.record) {
        opts.record.timings.trainSeconds = state.seconds.train;
        opts.record.timings.evalSeconds = state.seconds.eval;
      }
      updateRecord();
    }
    if (!alreadyDone || !fs.existsSync(path.join(opts.dir, FINAL_CHECKPOINT))) {
      saveWeights(path.join(opts.dir, FINAL_CHECKPOINT));
      if (!task.validate || state.best === null) {
        // no validation: the final weights are the best we know
        fs.copyFileSync(path.join(opts.dir, FINAL_CHECKPOINT), path.join(opts.dir, BEST_CHECKPOINT));
      }
    }
    fs.writeFileSync(path.join(opts.dir, LOSS_LOG), JSON.stringify(state.log));
  } finally {
    optimizer.dispose();
  }
  const examples = stepsThisProcess * cfg.batchSize * cfg.accumSteps;
  if (opts.record) {
    opts.record.timings.trainSeconds = state.seconds.train;
    opts.record.timings.evalSeconds = state.seconds.eval;
    opts.record.metrics.examplesPerSecond = trainSeconds > 0 ? examples / trainSeconds : null;
    opts.record.metrics.examplesPerCpuSecond = trainCpuSeconds > 0 ? examples / trainCpuSeconds : null;
    updateRecord();
  }
  return {
    state,
    stepsThisProcess,
    examplesPerSecond: trainSeconds > 0 ? examples / trainSeconds : 0,
    examplesPerCpuSecond: trainCpuSeconds > 0 ? examples / trainCpuSeconds : 0,
    trainSeconds,
    evalSeconds,
    alreadyDone,
  };
}

/** Wall milliseconds of the parts of one step (filled by `trainStep` when passed). */
export interface StepPhases {
  /** tf.variableGrads (forward + backward) of every micro-batch + the loss downloads. */
  gradsMs: number;
  /** clipByGlobalNorm (norm download + a clone of every gradient, even with gradClipNorm 0). */
  clipMs: number;
  /** AdamW.apply (waited for: the last variable is downloaded). */
  adamwMs: number;
}

function nowMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/** The counters a step advances (a `TrainerState` is one). */
export type StepCounters = Pick<TrainerState, 'step' | 'microStep'>;

/**
 * One optimiser step (accumulation, clip, AdamW) — what `train` runs per step, exported so a
 * benchmark times exactly this code. Micro-batch `a` of step `stepInEpoch` takes examples
 * `order[(stepInEpoch·accumSteps + a)·batchSize …]`; its stream is `stepStream.child(microStep)`.
 * Advances `counters`; leaves no tensors behind. `phases`, when given, receives the timings.
 */
export async function trainStep<B>(
  task: TrainTask<B>,
  cfg: Pick<TrainConfig, 'accumSteps' | 'batchSize' | 'gradClipNorm'>,
  optimizer: AdamW,
  vars: tf.Variable[],
  order: readonly number[],
  stepInEpoch: number,
  stepStream: SeedStream,
  counters: StepCounters,
  lr: number,
  epoch: number,
  phases?: StepPhases,
): Promise<StepLog> {
  const t0 = phases ? nowMs() : 0;
  let acc: Record<string, tf.Tensor> | null = null;
  let lossSum = 0;
  const partSums: Record<string, number> = {};
  try {
    for (let a = 0; a < cfg.accumSteps; a++) {
      const b = stepInEpoch * cfg.accumSteps + a;
      const indices = order.slice(b * cfg.batchSize, (b + 1) * cfg.batchSize);
      const microSeeds = stepStream.child(String(counters.microStep));
      const batch = await task.makeBatch(indices, microSeeds.child('batch'));
      try {
        const prev: Record<string, tf.Tensor> | null = acc;
        let names: string[] = [];
        const out = tf.tidy(() => {
          let parts: Record<string, tf.Scalar> = {};
          const { value, grads } = tf.variableGrads(() => {
            const l = task.loss(batch, microSeeds.child('model'));
            // parts are read after the tape; keep them from variableGrads' inner tidy
            parts = l.parts;
            for (const t of Object.values(parts)) tf.keep(t);
            return tf.div(l.total, cfg.accumSteps) as tf.Scalar;
          }, vars);
          names = Object.keys(parts);
          const partVec = names.length ? tf.stack(names.map((n) => parts[n])) : tf.zeros([0]);
          for (const t of new Set(Object.values(parts))) t.dispose();
          const summed: Record<string, tf.Tensor> = {};
          for (const k of Object.keys(grads)) summed[k] = prev ? tf.add(prev[k], grads[k]) : grads[k];
          return { value, partVec, summed };
        });
        lossSum += out.value.dataSync()[0];
        const pv = out.partVec.dataSync();
        names.forEach((n, i) => {
          partSums[n] = (partSums[n] ?? 0) + pv[i] / cfg.accumSteps;
        });
        out.value.dispose();
        out.partVec.dispose();
        if (prev) for (const t of Object.values(prev)) t.dispose();
        acc = out.summed;
      } finally {
        task.disposeBatch(batch);
      }
      counters.microStep += 1;
    }
    const grads = acc as Record<string, tf.Tensor> | null;
    if (!grads) throw new Error('trainStep: no gradients');
    const t1 = phases ? nowMs() : 0;
    const clipped = clipByGlobalNorm(grads, cfg.gradClipNorm);
    const t2 = phases ? nowMs() : 0;
    try {
      optimizer.apply(clipped.grads, lr);
      if (phases) {
        vars[vars.length - 1].dataSync(); // wait for the update (wasm is synchronous; this keeps the measurement honest on async backends)
        phases.gradsMs = t1 - t0;
        phases.clipMs = t2 - t1;
        phases.adamwMs = nowMs() - t2;
      }
    } finally {
      if (clipped.scaled) for (const t of Object.values(clipped.grads)) t.dispose();
    }
    counters.step += 1;
    return { step: counters.step, epoch, loss: lossSum, parts: partSums, lr, gradNorm: clipped.norm };
  } finally {
    if (acc) for (const t of Object.values(acc as Record<string, tf.Tensor>)) t.dispose();
  }
}
