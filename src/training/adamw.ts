/**
 * AdamW with decoupled weight decay (PyTorch `torch.optim.AdamW` semantics), over the entries of a
 * ParamStore, with the references' no-decay rules read from the PyTorch keys.
 *
 * Per step t (1-based), for each parameter p with gradient g, learning rate lr, decay wd:
 *   p ← p·(1 − lr·wd)                       (decoupled decay, skipped for no-decay parameters)
 *   m ← β1·m + (1−β1)·g ;  v ← β2·v + (1−β2)·g²
 *   p ← p − lr · (m / (1−β1^t)) / (sqrt(v / (1−β2^t)) + ε)
 *
 * No-decay rules:
 * - `open_clip` (`main.py`): `p.ndim < 2` or the name contains `bn`, `ln`, `bias` or `logit_scale`.
 * - `pir` (X-VLM `create_optimizer`): the name contains `bias`, `LayerNorm.weight`, `norm.weight`,
 *   `norm1.weight` or `norm2.weight` (so `temp`, `temp2` ARE decayed, as in the reference).
 * - `none`: every parameter decays.
 *
 * On the native backend the whole step is written in place into the buffers of p, m, v when nothing else shares
 * them (`nativeAdamWInPlace`: no launch, no new tensors), else ONE kernel launch (`KitAdamW`); both in
 * src/backends/native_kernels.ts, the same float32 operations in the same order, so the same bits as the tfjs ops
 * (tested); on every other backend it is the tfjs ops below (~12 launches per parameter).
 */
import * as tf from '@tensorflow/tfjs';
import { ParamEntry } from '../models/params';
import { fusedAdamW, fusedAdamWActive, fusedGlobalNorm, fusedGlobalNormActive, nativeAdamWInPlace } from '../backends/native_kernels';

/** Which reference's no-decay rule to apply. */
export type NoDecayRule = 'open_clip' | 'pir' | 'none';

/** Optimiser hyper-parameters. */
export interface AdamWConfig {
  /** β1 (PIR 0.9, open_clip 0.9). */
  beta1: number;
  /** β2 (PIR 0.98, open_clip 0.999 for non-ViT names). */
  beta2: number;
  /** ε in the denominator (both 1e-8). */
  eps: number;
  /** Decoupled weight decay (PIR 0.01, PriorCLIP 0.5). */
  weightDecay: number;
  /** No-decay rule (see file comment). */
  noDecay: NoDecayRule;
}

/** Name fragments PIR (X-VLM) excludes from weight decay. */
const PIR_NO_DECAY = ['bias', 'LayerNorm.bias', 'LayerNorm.weight', 'norm.bias', 'norm.weight', 'norm1.bias', 'norm1.weight', 'norm2.bias', 'norm2.weight'];
/** Name fragments open_clip excludes from weight decay (besides ndim < 2). */
const OPEN_CLIP_NO_DECAY = ['bn', 'ln', 'bias', 'logit_scale'];

/** True when the parameter `key` with `ndim` dimensions receives weight decay under `rule`. */
export function decays(key: string, ndim: number, rule: NoDecayRule): boolean {
  switch (rule) {
    case 'none':
      return true;
    case 'pir':
      return !PIR_NO_DECAY.some((s) => key.includes(s));
    case 'open_clip':
      return !(ndim < 2 || OPEN_CLIP_NO_DECAY.some((s) => key.includes(s)));
  }
}

/** A non-trainable zero variable shaped like `like` (the temporary is disposed). */
function zeroVariable(like: tf.Tensor): tf.Variable {
  const z = tf.zerosLike(like);
  const v = tf.variable(z, false);
  z.dispose();
  return v;
}

/** One optimised parameter with its moments. */
interface Slot {
  entry: ParamEntry;
  m: tf.Variable;
  v: tf.Variable;
  decay: boolean;
}

/** AdamW over a fixed list of parameter entries. Moments are created eagerly (constant tensor count). */
export class AdamW {
  private readonly slots: Slot[];
  /** Number of optimiser steps taken (PyTorch's `state['step']`). */
  stepCount = 0;

  constructor(
    entries: ParamEntry[],
    readonly config: AdamWConfig,
  ) {
    this.slots = entries.map((entry) => ({
      entry,
      m: zeroVariable(entry.variable),
      v: zeroVariable(entry.variable),
      decay: decays(entry.key, entry.variable.rank, config.noDecay),
    }));
  }

  /** Keys optimised, with whether each decays (for run records and tests). */
  groups(): { decay: string[]; noDecay: string[] } {
    return {
      decay: this.slots.filter((s) => s.decay).map((s) => s.entry.key),
      noDecay: this.slots.filter((s) => !s.decay).map((s) => s.entry.key),
    };
  }

  /** The optimised variables, in slot order (the varList for `tf.variableGrads`). */
  variables(): tf.Variable[] {
    return this.slots.map((s) => s.entry.variable);
  }

  /** Apply one update. `grads` maps variable name → gradient (as `tf.variableGrads` returns). */
  apply(grads: Record<string, tf.Tensor>, lr: number): void {
    this.stepCount += 1;
    const { beta1, beta2, eps, weightDecay } = this.config;
    const bc1 = 1 - Math.pow(beta1, this.stepCount);
    const bc2Sqrt = Math.sqrt(1 - Math.pow(beta2, this.stepCount));
    if (fusedAdamWActive()) {
      this.applyFused(grads, lr, bc1, bc2Sqrt);
      return;
    }
    tf.tidy(() => {
      for (const s of this.slots) {
        const g = grads[s.entry.variable.name];
        if (!g) continue; // no gradient reached this parameter (e.g. unused branch): PyTorch skips it too
        const p = s.entry.variable;
        const m = s.m.mul(beta1).add(g.mul(1 - beta1));
        const v = s.v.mul(beta2).add(g.square().mul(1 - beta2));
        s.m.assign(m);
        s.v.assign(v);
        const decayed = s.decay && weightDecay > 0 ? p.mul(1 - lr * weightDecay) : p;
        const denom = v.sqrt().div(bc2Sqrt).add(eps);
        p.assign(decayed.sub(m.div(denom).mul(lr / bc1)));
      }
    });
  }

  /**
   * The native path's update: in place in the buffers of p, m, v when nothing else shares them (no launch, no new
   * tensors), else one KitAdamW launch and assigns. The numbers of the tfjs formula in `apply`, bit for bit.
   */
  private applyFused(grads: Record<string, tf.Tensor>, lr: number, bc1: number, bc2Sqrt: number): void {
    const { beta1, beta2, eps, weightDecay } = this.config;
    const live = this.slots.filter((s) => grads[s.entry.variable.name] !== undefined);
    const params = live.map((s) => ({
      p: s.entry.variable,
      m: s.m,
      v: s.v,
      g: grads[s.entry.variable.name],
      decayFactor: s.decay && weightDecay > 0 ? 1 - lr * weightDecay : 1,
    }));
    const scalars = { beta1, oneMinusBeta1: 1 - beta1, beta2, oneMinusBeta2: 1 - beta2, bc2Sqrt, eps, stepSize: lr / bc1 };
    if (nativeAdamWInPlace(params, scalars)) return;
    const outs = fusedAdamW(params, scalars);
    live.forEach((s, i) => {
      const [p, m, v] = outs[i];
      s.entry.variable.assign(p);
      s.m.assign(m);
      s.v.assign(v);
    });
    tf.dispose(outs.flat());
  }

  /** Moments keyed `exp_avg.<key>` / `exp_avg_sq.<key>` (kit layout), for checkpoints. */
  stateTensors(): Map<string, tf.Variable> {
    const out = new Map<string, tf.Variable>();
    for (const s of this.slots) {
      out.set(`exp_avg.${s.entry.key}`, s.m);
      out.set(`exp_avg_sq.${s.entry.key}`, s.v);
    }
    return out;
  }

  /** Restore moments and step count; throws naming the missing key. */
  loadState(tensors: Map<string, tf.Tensor>, stepCount: number, source: string): void {
    for (const [name, variable] of this.stateTensors()) {
      const t = tensors.get(name);
      if (!t) throw new Error(`${source}: optimiser state '${name}' missing`);
      if (t.shape.join(',') !== variable.shape.join(',')) {
        throw new Error(`${source}: optimiser state '${name}' has shape [${t.shape}], expected [${variable.shape}]`);
      }
      variable.assign(t);
    }
    this.stepCount = stepCount;
  }

  dispose(): void {
    for (const s of this.slots) {
      s.m.dispose();
      s.v.dispose();
    }
  }
}

/**
 * Clip gradients to a global L2 norm (PyTorch `clip_grad_norm_`: coefficient
 * `min(1, maxNorm / (norm + 1e-6))`; `maxNorm` ≤ 0 = no clipping). Returns the pre-clip norm and the
 * gradients to apply: new tensors when clipped (`scaled: true`, caller disposes them), otherwise
 * the input tensors themselves. On the native backend the norm is one kernel launch (`KitGlobalNorm`, sums of
 * squares in double) instead of a Square and a Sum per gradient.
 */
export const CLIP_NORM_EPS = 1e-6;
export function clipByGlobalNorm(grads: Record<string, tf.Tensor>, maxNorm: number): { grads: Record<string, tf.Tensor>; norm: number; scaled: boolean } {
  const names = Object.keys(grads);
  // native path: one launch, sums of squares in double (equal to the tfjs ops within float32 rounding)
  const normT = fusedGlobalNormActive() && names.length > 0 && names.every((n) => grads[n].dtype === 'float32')
    ? fusedGlobalNorm(names.map((n) => grads[n]))
    : tf.tidy(() => tf.sqrt(tf.addN(names.map((n) => tf.sum(tf.square(grads[n]))))));
  const norm = normT.dataSync()[0];
  normT.dispose();
  const coef = maxNorm > 0 ? Math.min(1, maxNorm / (norm + CLIP_NORM_EPS)) : 1;
  if (coef >= 1) return { grads, norm, scaled: false };
  const out: Record<string, tf.Tensor> = {};
  for (const n of names) out[n] = tf.mul(grads[n], coef);
  return { grads: out, norm, scaled: true };
}
