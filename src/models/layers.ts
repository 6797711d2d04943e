/**
 * PyTorch-semantics building blocks for the kit's models.
 *
 * Every function here reproduces the PyTorch op of the same name bit-for-bit in meaning (not in
 * float rounding): `nn.Linear` (`y = x·Wᵀ + b`, kit stores `W` as `[in, out]`), `nn.LayerNorm`
 * (biased variance over the last axis, eps 1e-5), `nn.GELU` (exact erf form), `F.normalize`
 * (`x / max(‖x‖₂, eps)`), scaled dot-product attention with heads as contiguous slices of the width.
 *
 * Module classes (`Linear`, `LayerNorm`, `Mlp`) register their weights in a `ParamStore` under the
 * PyTorch `state_dict` keys, so a checkpoint maps onto them with no renaming table.
 *
 * Dropout is the only random op: it takes a `SeedStream` and draws a fresh seed per call
 * (`seeds.nextSeed()`), and is the identity when the rate is 0 or the stream is `null`
 * (= evaluation mode). Callers pass `null` outside training.
 */
import * as tf from '@tensorflow/tfjs';
import { SeedStream } from '../utils/random';
import { ParamStore, Init, onesInit, zerosInit, uniformInit, fromTorchLayout, torchShape } from './params';
import {
  fusedAttention, fusedAttentionActive, fusedGelu, fusedGeluActive, fusedLayerNorm, fusedLayerNormActive, fusedLinear, fusedLinearActive,
  nativeDropoutMask, nativeDropoutMaskActive,
} from '../backends/native_kernels';

/** PyTorch's LayerNorm default epsilon. */
export const LAYER_NORM_EPS = 1e-5;
/** PyTorch's `F.normalize` default epsilon. */
export const L2_NORMALIZE_EPS = 1e-12;
/** √2, for the exact GELU. */
const SQRT2 = Math.SQRT2;
/** 1/√(2π), the standard normal density at 0. */
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);
/** QuickGELU's sigmoid slope (OpenAI CLIP). */
const QUICK_GELU_SLOPE = 1.702;

// ---------------------------------------------------------------------------------------------
// Functional primitives
// ---------------------------------------------------------------------------------------------

/**
 * `nn.functional.linear` with the kit layout: `x [..., in] · w [in, out] + b [out]` → `[..., out]`.
 * Any number of leading axes; they are folded into one for a single 2-D matmul.
 * Closed-form gradient (one custom op instead of matmul + broadcast-add + reshapes under autodiff):
 * `dx = dy·wᵀ`, `dw = xᵀ·dy`, `db = 1ᵀ·dy` — the bias sum as a `[1, N]·[N, out]` matmul, ~20× faster
 * on wasm than a Sum over the leading axis (which transposes first). On the native backend: one `_FusedMatMul`
 * launch forward and one `KitLinearGrad` backward (`fusedLinear`, src/backends/native_kernels.ts; the same sgemm
 * calls, so the same values as this composition there).
 */
export function linear(x: tf.Tensor, w: tf.Tensor, b?: tf.Tensor | null): tf.Tensor {
  const wShape = w.shape as number[];
  const inF = wShape[0];
  const outF = wShape[1];
  const lastAxis = (x.shape as number[])[x.rank - 1];
  if (w.rank !== 2 || lastAxis !== inF) {
    throw new Error(`linear: input last axis ${lastAxis} (shape [${x.shape}]) does not match weight [${w.shape}] (kit layout [in, out])`);
  }
  if (fusedLinearActive(x, w, b)) return fusedLinear(x, w as tf.Tensor2D, b ?? null);
  const lead = x.shape.slice(0, -1);
  const rows = lead.reduce((p, d) => p * d, 1); // N (explicit: a -1 cannot be inferred when a width is 0)
  const outShape = [...lead, outF];
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const xs = args[0] as tf.Tensor;
    const ws = args[1] as tf.Tensor2D;
    const bs = b ? (args[2] as tf.Tensor) : null;
    const save = args[b ? 3 : 2] as tf.GradSaveFunc;
    const x2 = tf.reshape(xs, [rows, inF]) as tf.Tensor2D; // [N, in]
    save([x2, ws]);
    let y: tf.Tensor = tf.matMul(x2, ws); // [N, in]·[in, out] → [N, out]
    if (bs) y = tf.add(y, bs);
    return {
      value: tf.reshape(y, outShape), // [..., out]
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xv, wv] = saved as tf.Tensor2D[];
        const dy2 = tf.reshape(dy, [rows, outF]) as tf.Tensor2D; // [N, out]
        const dx = tf.reshape(tf.matMul(dy2, wv, false, true), xs.shape); // [N, out]·[in, out]ᵀ → [N, in] → [..., in]
        const dw = tf.matMul(xv, dy2, true, false); // [N, in]ᵀ·[N, out] → [in, out]
        if (!bs) return [dx, dw];
        const db = tf.reshape(tf.matMul(tf.ones([1, dy2.shape[0]]), dy2), [outF]); // [1, N]·[N, out] → [out]
        return [dx, dw, db];
      },
    };
  });
  return tf.tidy(() => (b ? f(x, w, b) : f(x, w)));
}

/** Sum of `x [..., D]` over every leading axis → `[D]`, as a `[1, N]·[N, D]` matmul (fast on wasm). */
export function sumLeading(x: tf.Tensor): tf.Tensor1D {
  return tf.tidy(() => {
    const D = (x.shape as number[])[x.rank - 1];
    const x2 = tf.reshape(x, [-1, D]) as tf.Tensor2D; // [N, D]
    return tf.reshape(tf.matMul(tf.ones([1, x2.shape[0]]), x2), [D]) as tf.Tensor1D; // [1, N]·[N, D] → [D]
  });
}

/**
 * `nn.LayerNorm` over the last axis: biased variance, `(x − μ)/√(σ² + eps)·γ + β`.
 * The gradient is the closed form (fewer kernels than autodiff through `tf.moments`):
 * `dx = rstd·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂))` with `ĝ = dy·γ`; `dγ = Σ dy·x̂`, `dβ = Σ dy` over the leading axes.
 * On the native backend the same formulas run as one kernel forward and one backward (`fusedLayerNorm`,
 * src/backends/native_kernels.ts; sums in double, so equal to this composition within float32 rounding).
 */
export function layerNorm(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, eps = LAYER_NORM_EPS): tf.Tensor {
  if (fusedLayerNormActive(x, gamma, beta)) return fusedLayerNorm(x, gamma, beta, eps);
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const xs = args[0] as tf.Tensor;
    const g = args[1] as tf.Tensor;
    const b = args[2] as tf.Tensor;
    const save = args[3] as tf.GradSaveFunc;
    const xc = tf.sub(xs, tf.mean(xs, -1, true)); // x − μ [..., D]
    const rstd = tf.rsqrt(tf.add(tf.mean(tf.square(xc), -1, true), eps)); // 1/√(σ² + eps), biased σ² [..., 1]
    const xhat = tf.mul(xc, rstd); // [..., D]
    save([xhat, rstd, g]);
    return {
      value: tf.add(tf.mul(xhat, g), b),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xh, rs, gm] = saved;
        const lead = [...Array(dy.rank - 1).keys()]; // leading axes
        const gh = tf.mul(dy, gm); // ĝ [..., D]
        const m1 = tf.mean(gh, -1, true); // [..., 1]
        const m2 = tf.mean(tf.mul(gh, xh), -1, true); // [..., 1]
        const dx = tf.mul(rs, tf.sub(tf.sub(gh, m1), tf.mul(xh, m2)));
        const dGamma = lead.length > 0 ? sumLeading(tf.mul(dy, xh)) : tf.mul(dy, xh); // [D]
        const dBeta = lead.length > 0 ? sumLeading(dy) : dy.clone(); // [D]
        return [dx, dGamma, dBeta];
      },
    };
  });
  return tf.tidy(() => f(x, gamma, beta));
}

/**
 * Exact GELU: `x·Φ(x)` with `Φ(x) = 0.5·(1 + erf(x/√2))` (PyTorch `nn.GELU()` default; not the tanh
 * approximation); erf is evaluated with the float32 rational form of `erfRational` (|error| ≤ 4.2e-7).
 * Closed-form gradient `Φ(x) + x·φ(x)`, `φ(x) = exp(−x²/2)/√(2π)`. On the native backend the same float32
 * formula runs as one kernel forward and one backward (`fusedGelu`, src/backends/native_kernels.ts).
 */
export function gelu(x: tf.Tensor): tf.Tensor {
  if (fusedGeluActive(x.dtype)) return fusedGelu(x);
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const xs = args[0] as tf.Tensor;
    const save = args[1] as tf.GradSaveFunc;
    const cdf = tf.mul(tf.add(1, erfRational(tf.div(xs, SQRT2))), 0.5); // Φ(x)
    save([xs, cdf]);
    return {
      value: tf.mul(xs, cdf),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xv, c] = saved;
        const pdf = tf.mul(tf.exp(tf.mul(tf.square(xv), -0.5)), INV_SQRT_2PI); // φ(x)
        return [tf.mul(dy, tf.add(c, tf.mul(xv, pdf)))];
      },
    };
  });
  return tf.tidy(() => f(x));
}

/** Numerator coefficients (x², highest power first) of the float32 erf rational approximation (Eigen / XLA `erf` for float32). */
const ERF_P = [-2.72614225801306e-10, 2.77068142495902e-8, -2.10102402082508e-6, -5.69250639462346e-5, -7.34990630326855e-4, -2.95459980854025e-3, -1.60960333262415e-2];
/** Denominator coefficients (x², highest power first). */
const ERF_Q = [-1.45660718464996e-5, -2.13374055278905e-4, -1.68282697438203e-3, -7.37332916720468e-3, -1.42647390514189e-2];
/** erf(±4) = ±1 in float32 (to 1.6e-8): the approximation clamps its argument here. */
const ERF_CLAMP = 4;

/**
 * `erf(x)` in float32 as Eigen/XLA compute it: `x·P(x²)/Q(x²)` on x clamped to [−4, 4] (degree 13/8).
 * Max abs error 4.2e-7 against the exact erf (measured over [−6, 6]); it differs from the wasm
 * backend's `Erf` by ≤ 3.6e-7. About 2× faster than wasm's `Erf` kernel (perf, issue item 3).
 */
export function erfRational(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const xc = tf.clipByValue(x, -ERF_CLAMP, ERF_CLAMP);
    const x2 = tf.square(xc);
    let p: tf.Tensor = tf.add(tf.mul(x2, ERF_P[0]), ERF_P[1]);
    for (const c of ERF_P.slice(2)) p = tf.add(tf.mul(p, x2), c); // Horner in x²
    let q: tf.Tensor = tf.add(tf.mul(x2, ERF_Q[0]), ERF_Q[1]);
    for (const c of ERF_Q.slice(2)) q = tf.add(tf.mul(q, x2), c);
    return tf.div(tf.mul(xc, p), q);
  });
}

/** QuickGELU `x·σ(1.702·x)` (OpenAI CLIP weights; no kit config uses it by default). */
export function quickGelu(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.mul(x, tf.sigmoid(tf.mul(x, QUICK_GELU_SLOPE))));
}

/** Activation names a config may use. */
export type ActivationName = 'gelu' | 'quick_gelu' | 'relu';

/** Apply a named activation. */
export function activation(x: tf.Tensor, name: ActivationName): tf.Tensor {
  switch (name) {
    case 'gelu':
      return gelu(x);
    case 'quick_gelu':
      return quickGelu(x);
    case 'relu':
      return tf.relu(x);
  }
}

/**
 * Inverted dropout (PyTorch `nn.Dropout`): zero with probability `rate`, scale survivors by
 * `1/(1−rate)`. Draws a fresh seed from `seeds` on every call; identity when `rate` is 0 or
 * `seeds` is null (evaluation).
 */
export function dropout<T extends tf.Tensor>(x: T, rate: number, seeds: SeedStream | null): T {
  if (!(rate >= 0 && rate < 1)) throw new Error(`dropout: rate must be in [0, 1), got ${rate}`);
  if (rate === 0 || seeds === null) return x;
  // One multiply by a precomputed mask {0, 1/(1−rate)} (a constant: its gradient is one multiply too).
  // The mask comes from a fast seeded generator: tf.dropout's seeded uniform (seedrandom alea)
  // costs ~10 ns per element in JS and 4 kernels; this is ~2 ns and 1 kernel (perf, issue item 3).
  const seed = seeds.nextSeed();
  // native path: the same mask drawn on the heap (KitDropoutMask: no JS loop, no upload; same bits)
  if (nativeDropoutMaskActive()) return tf.tidy(() => tf.mul(x, nativeDropoutMask(x.shape, rate, seed))) as T;
  const mask = dropoutMask(x.size, rate, seed);
  return tf.tidy(() => tf.mul(x, tf.tensor(mask, x.shape, 'float32'))) as T;
}

/** 2^-32: maps a uint32 to [0, 1). */
const UINT32_TO_UNIT = 1 / 4294967296;
/** mulberry32's additive constant. */
const MULBERRY_INC = 0x6d2b79f5;

/**
 * Inverted-dropout mask of `n` elements: `1/(1−rate)` with probability `1 − rate`, else 0; element
 * i keeps iff its uniform draw u ≥ rate (tf.dropout's rule `floor(u + keep)`). Draws come from
 * mulberry32 seeded with `seed` (deterministic: same seed ⇒ same mask).
 */
export function dropoutMask(n: number, rate: number, seed: number): Float32Array {
  const mask = new Float32Array(n);
  const scale = 1 / (1 - rate);
  let s = seed | 0;
  for (let i = 0; i < n; i++) {
    s = (s + MULBERRY_INC) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    const u = ((t ^ (t >>> 14)) >>> 0) * UINT32_TO_UNIT; // [0, 1)
    if (u >= rate) mask[i] = scale;
  }
  return mask;
}

/**
 * Max-subtracted softmax along `axis` (default last). tfjs's Softmax kernels subtract the row max;
 * other axes are moved last and back.
 */
export function softmax(x: tf.Tensor, axis = -1): tf.Tensor {
  const ax = axis < 0 ? x.rank + axis : axis;
  if (ax === x.rank - 1) return tf.softmax(x, -1);
  return tf.tidy(() => {
    const perm = [...Array(x.rank).keys()].filter((i) => i !== ax).concat([ax]);
    const inv = new Array<number>(x.rank);
    perm.forEach((p, i) => (inv[p] = i));
    return tf.transpose(tf.softmax(tf.transpose(x, perm), -1), inv); // axis moved last, softmax, moved back
  });
}

/**
 * `F.normalize(x, p=2, dim=axis, eps)`: `x / max(‖x‖₂, eps)` along `axis`.
 * Computed as `x / sqrt(max(Σx², eps²))`, which is the same value and keeps a finite gradient at 0.
 */
export function l2normalize<T extends tf.Tensor>(x: T, axis = -1, eps = L2_NORMALIZE_EPS): T {
  return tf.tidy(() => {
    const sumSq = tf.sum(tf.square(x), axis, true); // keepDims
    return tf.div(x, tf.sqrt(tf.maximum(sumSq, eps * eps))) as T;
  });
}

/** Options of `scaledDotProductAttention`. */
export interface AttentionOptions {
  /** Additive mask broadcastable to the scores `[B, H, Lq, Lk]` (e.g. `[Lq, Lk]` causal with −∞ above the diagonal). */
  mask?: tf.Tensor | null;
  /** Dropout on the attention map (after softmax), as in PIR's `MHAtt` and `nn.MultiheadAttention`. */
  dropout?: { rate: number; seeds: SeedStream | null };
}

/**
 * Multi-head scaled dot-product attention on already-projected tensors.
 * q `[B, Lq, D]`, k `[B, Lk, D]`, v `[B, Lk, D]` → `[B, Lq, D]`. The heads are contiguous slices
 * of D (head h owns channels `h·D/H … (h+1)·D/H − 1`), scores `q·kᵀ/√(D/H)`, softmax over keys,
 * optional dropout on the map, heads merged back in order. No output projection here.
 */
export function scaledDotProductAttention(
  q: tf.Tensor,
  k: tf.Tensor,
  v: tf.Tensor,
  numHeads: number,
  opts: AttentionOptions = {},
): tf.Tensor3D {
  return tf.tidy(() => attentionWithProbabilities(q, k, v, numHeads, opts).out);
}

/**
 * `scaledDotProductAttention` that also returns the attention probabilities `[B, H, Lq, Lk]` (softmax over keys, before dropout).
 * On the native backend the whole of it (scores, mask, softmax, dropout on the map, ·V, for every batch entry and head)
 * is one kernel launch and its gradient one more (`fusedAttention`, src/backends/native_kernels.ts; the dropout mask
 * is the same `dropoutMask` draw, so the same seeds give the same map; values equal within float32 rounding).
 */
export function attentionWithProbabilities(
  q: tf.Tensor,
  k: tf.Tensor,
  v: tf.Tensor,
  numHeads: number,
  opts: AttentionOptions = {},
): { out: tf.Tensor3D; probabilities: tf.Tensor4D } {
  return tf.tidy(() => {
    const [B, Lq, D] = q.shape as number[];
    const Lk = (k.shape as number[])[1];
    if (q.rank !== 3 || k.rank !== 3 || v.rank !== 3) throw new Error(`attention: q, k, v must be [B, L, D]; got [${q.shape}], [${k.shape}], [${v.shape}]`);
    if (D % numHeads !== 0) throw new Error(`attention: width ${D} is not divisible by ${numHeads} heads`);
    if (k.shape[2] !== D || v.shape[2] !== D || v.shape[1] !== Lk) throw new Error(`attention: shape mismatch q [${q.shape}], k [${k.shape}], v [${v.shape}]`);
    if (fusedAttentionActive(q, k, v, opts.mask)) {
      const drop = opts.dropout;
      if (drop && !(drop.rate >= 0 && drop.rate < 1)) throw new Error(`dropout: rate must be in [0, 1), got ${drop.rate}`);
      // the map's dropout draws its seed here, where the composed form's `dropout` call does
      const dropDraw = drop && drop.rate > 0 && drop.seeds !== null ? { rate: drop.rate, seed: drop.seeds.nextSeed() } : null;
      return fusedAttention(q as tf.Tensor3D, k as tf.Tensor3D, v as tf.Tensor3D, numHeads, opts.mask ?? null, dropDraw);
    }
    const dh = D / numHeads;
    const split = (t: tf.Tensor, L: number): tf.Tensor4D =>
      tf.transpose(tf.reshape(t, [B, L, numHeads, dh]), [0, 2, 1, 3]) as tf.Tensor4D; // [B, L, H, dh] → [B, H, L, dh]
    const qh = split(q, Lq); // [B, H, Lq, dh]
    const kh = split(k, Lk); // [B, H, Lk, dh]
    const vh = split(v, Lk); // [B, H, Lk, dh]
    let scores: tf.Tensor = tf.mul(tf.matMul(qh, kh, false, true), 1 / Math.sqrt(dh)); // [B, H, Lq, dh]·[B, H, Lk, dh]ᵀ → [B, H, Lq, Lk]
    if (opts.mask) scores = tf.add(scores, opts.mask);
    const probabilities = tf.softmax(scores, -1) as tf.Tensor4D; // over keys
    let attn: tf.Tensor = probabilities;
    if (opts.dropout) attn = dropout(attn, opts.dropout.rate, opts.dropout.seeds);
    const out = tf.matMul(attn as tf.Tensor4D, vh); // [B, H, Lq, Lk]·[B, H, Lk, dh] → [B, H, Lq, dh]
    return { out: tf.reshape(tf.transpose(out, [0, 2, 1, 3]), [B, Lq, D]) as tf.Tensor3D, probabilities }; // [B, Lq, H, dh] → [B, Lq, D]
  });
}

/** Additive causal mask `[L, L]`: 0 on and below the diagonal, −∞ above (open_clip's `attn_mask`). */
export function causalMask(L: number): tf.Tensor2D {
  const data = new Float32Array(L * L);
  for (let i = 0; i < L; i++) for (let j = i + 1; j < L; j++) data[i * L + j] = -Infinity;
  return tf.tensor2d(data, [L, L]);
}

// ---------------------------------------------------------------------------------------------
// Module classes (weights registered under PyTorch keys)
// ---------------------------------------------------------------------------------------------

/** Join a module prefix and a parameter name with a dot (empty prefix → just the name). */
export function joinKey(prefix: string, name: string): string {
  return prefix === '' ? name : `${prefix}.${name}`;
}

/** Arguments of `Linear`. */
export interface LinearArgs {
  /** Input features. */
  inFeatures: number;
  /** Output features. */
  outFeatures: number;
  /** Whether there is a bias (`<prefix>.bias`). Default true. */
  bias?: boolean;
  /** Weight init; default PyTorch's `U(−1/√in, 1/√in)` (kaiming_uniform with a=√5). */
  weightInit?: Init;
  /** Bias init; default PyTorch's `U(−1/√in, 1/√in)`. */
  biasInit?: Init;
}

/** `nn.Linear`: `<prefix>.weight` (kit `[in, out]`, layout 'linear'), `<prefix>.bias` `[out]`. */
export class Linear {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable | null;
  readonly inFeatures: number;
  readonly outFeatures: number;

  constructor(store: ParamStore, readonly prefix: string, args: LinearArgs) {
    this.inFeatures = args.inFeatures;
    this.outFeatures = args.outFeatures;
    const bound = 1 / Math.sqrt(args.inFeatures);
    this.weight = store.add(joinKey(prefix, 'weight'), [args.inFeatures, args.outFeatures], args.weightInit ?? uniformInit(bound), 'linear');
    this.bias = args.bias === false ? null : store.add(joinKey(prefix, 'bias'), [args.outFeatures], args.biasInit ?? uniformInit(bound), 'raw');
  }

  /** x `[..., in]` → `[..., out]`. */
  apply(x: tf.Tensor): tf.Tensor {
    return linear(x, this.weight, this.bias);
  }
}

/** Arguments of `LayerNorm`. */
export interface LayerNormArgs {
  /** Normalised (last-axis) size. */
  dim: number;
  /** Epsilon; default 1e-5 (PyTorch). */
  eps?: number;
}

/** `nn.LayerNorm`: `<prefix>.weight` (ones) and `<prefix>.bias` (zeros), both `[dim]`. */
export class LayerNorm {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable;
  readonly eps: number;

  constructor(store: ParamStore, readonly prefix: string, args: LayerNormArgs) {
    this.eps = args.eps ?? LAYER_NORM_EPS;
    this.weight = store.add(joinKey(prefix, 'weight'), [args.dim], onesInit, 'raw');
    this.bias = store.add(joinKey(prefix, 'bias'), [args.dim], zerosInit, 'raw');
  }

  apply(x: tf.Tensor): tf.Tensor {
    return layerNorm(x, this.weight, this.bias, this.eps);
  }
}

/** Arguments of `Mlp`. */
export interface MlpArgs {
  /** Input (and default output) width. */
  inFeatures: number;
  /** Hidden width. */
  hiddenFeatures: number;
  /** Output width; default `inFeatures`. */
  outFeatures?: number;
  /** Activation; default exact GELU. */
  activation?: ActivationName;
  /** Sub-key of the first Linear; default `c_fc` (open_clip). PIR's `ffn` uses `0`. */
  fc1Name?: string;
  /** Sub-key of the second Linear; default `c_proj` (open_clip). PIR's `ffn` uses `3`. */
  fc2Name?: string;
  /** If set, a LayerNorm on the hidden width under this sub-key, before the activation (PIR's `ffn.1`). */
  hiddenNormName?: string;
  /** Dropout after the activation (rate; 0 = none). Used only when `apply` gets a seed stream. */
  dropout?: number;
}

/**
 * Two-layer MLP: `fc2(drop(act(norm?(fc1(x)))))`.
 * open_clip: `mlp.c_fc → GELU → mlp.c_proj`; PIR `build_mlp`: `ffn.0 → ffn.1 (LayerNorm) → GELU → ffn.3`.
 */
export class Mlp {
  readonly fc1: Linear;
  readonly norm: LayerNorm | null;
  readonly fc2: Linear;
  readonly act: ActivationName;
  readonly dropoutRate: number;

  constructor(store: ParamStore, readonly prefix: string, args: MlpArgs) {
    this.fc1 = new Linear(store, joinKey(prefix, args.fc1Name ?? 'c_fc'), { inFeatures: args.inFeatures, outFeatures: args.hiddenFeatures });
    this.norm = args.hiddenNormName !== undefined ? new LayerNorm(store, joinKey(prefix, args.hiddenNormName), { dim: args.hiddenFeatures }) : null;
    this.fc2 = new Linear(store, joinKey(prefix, args.fc2Name ?? 'c_proj'), {
      inFeatures: args.hiddenFeatures,
      outFeatures: args.outFeatures ?? args.inFeatures,
    });
    this.act = args.activation ?? 'gelu';
    this.dropoutRate = args.dropout ?? 0;
  }

  /** x `[..., in]` → `[..., out]`; `seeds` non-null only in training. */
  apply(x: tf.Tensor, seeds: SeedStream | null = null): tf.Tensor {
    return tf.tidy(() => {
      let h = this.fc1.apply(x); // [..., hidden]
      if (this.norm) h = this.norm.apply(h);
      h = activation(h, this.act);
      h = dropout(h, this.dropoutRate, seeds);
      return this.fc2.apply(h); // [..., out]
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Loading PyTorch-layout values into a ParamStore
// ---------------------------------------------------------------------------------------------

/**
 * Assign a PyTorch-layout value (flat data + torch shape) to the registered parameter `key`,
 * converting to the kit layout (Linear transpose, OIHW → HWIO). Throws naming the key on a shape
 * mismatch. `source` names the file for error messages.
 */
export function assignTorchValue(
  store: ParamStore,
  key: string,
  data: Float32Array | Int32Array | number[],
  shape: readonly number[],
  source = 'checkpoint',
): void {
  const entry = store.list().find((e) => e.key === key);
  if (!entry) throw new Error(`${source}: parameter '${key}' is not registered in the model`);
  const expected = torchShape(entry.variable.shape, entry.layout);
  if (expected.length !== shape.length || expected.some((d, i) => d !== shape[i])) {
    throw new Error(`${source}: parameter '${key}' has torch shape [${shape}], the model expects [${expected}]`);
  }
  tf.tidy(() => {
    const t = tf.tensor(data instanceof Float32Array ? data : Float32Array.from(data), [...shape], 'float32');
    entry.variable.assign(fromTorchLayout(t, entry.layout));
  });
}

// ---------------------------------------------------------------------------------------------
// Sorting and gathering with PyTorch's gradient semantics
// ---------------------------------------------------------------------------------------------
//
// tfjs has no stop-gradient op and no TopK gradient, and `tf.gather`'s gradient refuses integer
// indices that depend on a differentiated variable. In PyTorch `torch.sort(...).indices` simply
// carries no gradient. These helpers reproduce that: the sort runs inside a `tf.customGrad`
// forward (not recorded on the tape) and hands back zero gradient to its input; the gather's
// gradient is a one-hot matmul (no `UnsortedSegmentSum`, which wasm lacks).

/** Indices of a descending sort along the last axis `[..., N]` → int32 `[..., N]`; no gradient (like `torch.sort(...).indices`). */
export function argsortDescending(x: tf.Tensor): tf.Tensor {
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const v = args[0] as tf.Tensor;
    const n = (v.shape as number[])[v.rank - 1];
    return { value: tf.topk(v, n, true).indices, gradFunc: () => tf.zerosLike(v) };
  });
  return tf.tidy(() => f(x));
}

/** Values of a descending sort along the last axis `[..., N]` (like `torch.sort(...).values`); treated as constants (no gradient). */
export function sortDescendingValues(x: tf.Tensor): tf.Tensor {
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const v = args[0] as tf.Tensor;
    const n = (v.shape as number[])[v.rank - 1];
    return { value: tf.topk(v, n, true).values, gradFunc: () => tf.zerosLike(v) };
  });
  return tf.tidy(() => f(x));
}

/**
 * Batched row gather: `x [B, N, D]`, int32 `idx [B, K]` → `[B, K, D]`, `out[b, j] = x[b, idx[b, j]]`
 * (`torch.gather` / fancy indexing along the token axis). Gradient to x is the scatter-add
 * `onehot(idx)ᵀ · dy`; the indices get none.
 */
export function gatherRows(x: tf.Tensor3D, idx: tf.Tensor): tf.Tensor3D {
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const xs = args[0] as tf.Tensor3D;
    const ids = args[1] as tf.Tensor2D;
    const save = args[2] as tf.GradSaveFunc;
    save([ids]);
    const [B, N, D] = xs.shape as number[];
    const K = (ids.shape as number[])[1];
    // Flat gather over [B·N, D] with per-batch offsets: the wasm GatherV2 kernel (tfjs 4.22) gives
    // wrong rows for batchDims = 1 when K ≠ N, so batchDims is avoided.
    const offsets = tf.reshape(tf.range(0, B * N, N, 'int32'), [B, 1]); // [B, 1]: b·N
    const flatIdx = tf.reshape(tf.add(tf.cast(ids, 'int32'), offsets), [B * K]); // [B·K]
    return {
      value: tf.reshape(tf.gather(tf.reshape(xs, [B * N, D]), flatIdx, 0), [B, K, D]) as tf.Tensor3D, // [B·N, D] → [B·K, D] → [B, K, D]
      gradFunc: (dy: tf.Tensor3D, saved: tf.Tensor[]) => {
        const oneHot = tf.oneHot(tf.cast(saved[0], 'int32') as tf.Tensor2D, N); // [B, K, N]
        const dx = tf.matMul(tf.cast(oneHot, 'float32') as tf.Tensor3D, dy, true, false); // [B, K, N]ᵀ·[B, K, D] → [B, N, D]
        return [dx, tf.zeros(saved[0].shape, 'float32')];
      },
    };
  });
  return tf.tidy(() => f(x, idx));
}
