/**
 * Training checkpoints: ONE safetensors file per checkpoint holding the model weights (PyTorch keys
 * and layout, so `torch.load`-side tools read them), the AdamW moments (`optimizer.exp_avg.<key>`,
 * `optimizer.exp_avg_sq.<key>`, PyTorch layout) and the trainer state as JSON in `__metadata__`.
 * One file is written atomically (temp + fsync + rename), then `latest.json` is repointed
 * atomically, so a run killed at any instant finds a complete, consistent checkpoint.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { ParamStore, toTorchLayout, fromTorchLayout } from '../models/params';
import { SafeTensor, f32Tensor, readSafetensorsFileWithMetadata, toFloat32, writeSafetensorsFile } from '../io/safetensors';
import { atomicWriteJson, readJson } from '../utils/fs';
import { AdamW } from './adamw';
import { LATEST_POINTER } from '../runs/files';

/** Trainer position and history: everything besides tensors needed to resume bit-exactly. */
export interface TrainerState {
  /** Format tag. */
  format: 'priorclip-kit/train-state@1';
  /** Optimiser steps taken. */
  step: number;
  /** Micro-batches consumed (step · accumSteps while no partial accumulation is pending). */
  microStep: number;
  /** Epoch being trained (0-based) and the next batch index inside it. */
  epoch: number;
  batchInEpoch: number;
  /** Data order: sha256-free fingerprint of the epoch permutation (checked on resume). */
  orderFingerprint: number;
  /** RNG positions: every random draw is derived from (root seed, named stream, micro-step), so the
   *  micro-step counter IS the stream position; the root seed is recorded to refuse a mismatch. */
  rng: { rootSeed: number; scheme: 'per-microstep-child@1' };
  /** Per-step log: total loss and named parts, learning rate, gradient norm. */
  log: StepLog[];
  /** Validation history (one entry per evaluation). */
  evals: EvalLog[];
  /** Best value of the selection metric and where it was reached; null before any evaluation. */
  best: BestValue | null;
  /** Cumulative wall seconds of training steps and of validation, over all processes of this run. */
  seconds: { train: number; eval: number };
}

/** The best validation value of a run: which metric selected the checkpoint (stage 0 `accuracy`, else `mR`), its value, where. */
export interface BestValue {
  metric: string;
  value: number;
  step: number;
  epoch: number;
}

/**
 * A stored best value, read in either form: `{metric, value, step, epoch}`, or the form written
 * before the rename, `{mR, step, epoch}` (which held every selection metric under `mR`, stage 0's
 * accuracy included). Null when absent.
 */
export function readBestValue(x: unknown, metric = 'mR'): BestValue | null {
  if (x === null || typeof x !== 'object') return null;
  const b = x as { metric?: unknown; value?: unknown; mR?: unknown; step?: unknown; epoch?: unknown };
  const value = typeof b.value === 'number' ? b.value : typeof b.mR === 'number' ? b.mR : null;
  if (value === null) return null;
  return { metric: typeof b.metric === 'string' ? b.metric : metric, value, step: Number(b.step ?? 0), epoch: Number(b.epoch ?? 0) };
}

/** One optimiser step. */
export interface StepLog {
  step: number;
  epoch: number;
  loss: number;
  parts: Record<string, number>;
  lr: number;
  gradNorm: number;
}

/** One validation evaluation. */
export interface EvalLog {
  step: number;
  epoch: number;
  metrics: Record<string, number>;
}

/** Key prefix of optimiser tensors inside a checkpoint file. */
export const OPTIMIZER_PREFIX = 'optimizer.';

/** Tensor → SafeTensor in PyTorch layout. */
function toSafe(t: tf.Tensor, layout: 'raw' | 'linear' | 'conv2d'): SafeTensor {
  const torch = toTorchLayout(t, layout);
  const out = f32Tensor(torch.shape, torch.dataSync() as Float32Array);
  torch.dispose();
  return out;
}

/** Write a checkpoint file atomically (model weights, optimiser moments, trainer state). */
export function writeTrainState(file: string, params: ParamStore, optimizer: AdamW | null, state: TrainerState | null): void {
  const tensors = new Map<string, SafeTensor>();
  const layouts = new Map<string, 'raw' | 'linear' | 'conv2d'>();
  for (const e of params.list()) {
    if (e.variable.dtype !== 'float32') throw new Error(`writeTrainState(${file}): parameter '${e.key}' is ${e.variable.dtype}; only float32 is supported`);
    tensors.set(e.key, toSafe(e.variable, e.layout));
    layouts.set(e.key, e.layout);
  }
  if (optimizer) {
    for (const [name, v] of optimizer.stateTensors()) {
      const key = name.slice(name.indexOf('.') + 1);
      tensors.set(OPTIMIZER_PREFIX + name, toSafe(v, layouts.get(key) ?? 'raw'));
    }
  }
  const metadata: Record<string, string> = { format: 'pt' };
  if (state) metadata.trainer_state = JSON.stringify(state);
  if (optimizer) metadata.optimizer_step = String(optimizer.stepCount);
  writeSafetensorsFile(file, tensors, metadata);
}

/**
 * Load model weights (and, when given, optimiser moments) from a checkpoint file; returns the trainer
 * state stored in it (null for a weights-only file). Parameters listed in `skipPrefixes` are left alone.
 * Throws naming the file and key on a missing key or a shape mismatch.
 */
export function loadTrainState(
  file: string,
  params: ParamStore,
  optimizer: AdamW | null,
  opts: { strict?: boolean; only?: (key: string) => boolean } = {},
): TrainerState | null {
  const { tensors, metadata } = readSafetensorsFileWithMetadata(file);
  const strict = opts.strict ?? true;
  const layouts = new Map<string, 'raw' | 'linear' | 'conv2d'>();
  for (const e of params.list()) {
    layouts.set(e.key, e.layout);
    if (opts.only && !opts.only(e.key)) continue;
    const t = tensors.get(e.key);
    if (!t) {
      if (strict) throw new Error(`${file}: missing parameter '${e.key}'`);
      continue;
    }
    tf.tidy(() => {
      const kit = fromTorchLayout(tf.tensor(toFloat32(t), t.shape, 'float32'), e.layout);
      if (kit.shape.join(',') !== e.variable.shape.join(',')) {
        throw new Error(`${file}: parameter '${e.key}' has kit shape [${kit.shape}], model expects [${e.variable.shape}]`);
      }
      e.variable.assign(kit);
    });
  }
  if (optimizer) {
    const moments = new Map<string, tf.Tensor>();
    try {
      for (const name of optimizer.stateTensors().keys()) {
        const t = tensors.get(OPTIMIZER_PREFIX + name);
        if (!t) throw new Error(`${file}: optimiser state '${name}' missing`);
        const key = name.slice(name.indexOf('.') + 1);
        moments.set(name, tf.tidy(() => fromTorchLayout(tf.tensor(toFloat32(t), t.shape, 'float32'), layouts.get(key) ?? 'raw')));
      }
      optimizer.loadState(moments, Number(metadata.optimizer_step ?? '0'), file);
    } finally {
      for (const t of moments.values()) t.dispose();
    }
  }
  if (!metadata.trainer_state) return null;
  const state = JSON.parse(metadata.trainer_state) as TrainerState;
  return { ...state, best: readBestValue(state.best) };
}

/** Pointer file naming the newest complete checkpoint of a run folder. */
export interface LatestPointer {
  file: string;
  step: number;
  epoch: number;
}

/** Atomically point `<dir>/latest.json` at a checkpoint file (relative name). */
export function writeLatest(dir: string, ptr: LatestPointer): void {
  atomicWriteJson(path.join(dir, LATEST_POINTER), ptr);
}

/** The newest checkpoint of a run folder, or null. */
export function readLatest(dir: string): LatestPointer | null {
  const f = path.join(dir, LATEST_POINTER);
  if (!fs.existsSync(f)) return null;
  const p = readJson<LatestPointer>(f);
  if (!fs.existsSync(path.join(dir, p.file))) throw new Error(`${f}: points at missing checkpoint '${p.file}'`);
  return p;
}
