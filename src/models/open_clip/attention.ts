/**
 * Attention modules of open_clip with PyTorch semantics.
 *
 * - `MultiheadAttention` = `nn.MultiheadAttention(E, H)` self-attention, batch-first in the kit:
 *   `in_proj_weight` torch `[3E, E]` (rows q, k, v), kit `[E, 3E]` (layout `linear`: columns q, k, v);
 *   `in_proj_bias` `[3E]`; `out_proj` a Linear. Scores `q·kᵀ/√(E/H)`, heads contiguous slices of E.
 * - `AttentionPool2d` = open_clip `modified_resnet.AttentionPool2d`: flatten HW, prepend the mean,
 *   add `positional_embedding`, multi-head attention with separate `q_proj`/`k_proj`/`v_proj`
 *   Linear layers and `c_proj` as output projection; output token 0.
 */
import * as tf from '@tensorflow/tfjs';
import { ParamStore, Init, normalInit, uniformInit, zerosInit } from '../params';
import { Linear, joinKey, linear, scaledDotProductAttention } from '../layers';

/** Arguments of `MultiheadAttention`. */
export interface MultiheadAttentionArgs {
  /** Embedding width E. */
  width: number;
  /** Number of heads H (E % H == 0). */
  heads: number;
  /** `in_proj_weight` init; default PyTorch's xavier_uniform over `[3E, E]`. */
  inProjInit?: Init;
  /** `out_proj.weight` init; default PyTorch's Linear init `U(±1/√E)`. */
  outProjInit?: Init;
}

/** `nn.MultiheadAttention` (self- or cross-attention, batch-first `[B, L, E]`). */
export class MultiheadAttention {
  readonly inProjWeight: tf.Variable;
  readonly inProjBias: tf.Variable;
  readonly outProj: Linear;
  readonly width: number;
  readonly heads: number;

  constructor(store: ParamStore, readonly prefix: string, args: MultiheadAttentionArgs) {
    const E = args.width;
    if (E % args.heads !== 0) throw new Error(`${prefix}: width ${E} is not divisible by ${args.heads} heads`);
    this.width = E;
    this.heads = args.heads;
    const xavier = Math.sqrt(6 / (E + 3 * E));
    this.inProjWeight = store.add(joinKey(prefix, 'in_proj_weight'), [E, 3 * E], args.inProjInit ?? uniformInit(xavier), 'linear');
    this.inProjBias = store.add(joinKey(prefix, 'in_proj_bias'), [3 * E], zerosInit, 'raw');
    this.outProj = new Linear(store, joinKey(prefix, 'out_proj'), {
      inFeatures: E,
      outFeatures: E,
      weightInit: args.outProjInit,
      biasInit: zerosInit,
    });
  }

  /**
   * query `[B, Lq, E]`, key/value `[B, Lk, E]` (default: self-attention on `query`), optional additive
   * mask broadcastable to `[B, H, Lq, Lk]` → `[B, Lq, E]`.
   */
  apply(query: tf.Tensor3D, kv: tf.Tensor3D | null = null, mask: tf.Tensor | null = null): tf.Tensor3D {
    return tf.tidy(() => {
      const E = this.width;
      let q: tf.Tensor;
      let k: tf.Tensor;
      let v: tf.Tensor;
      if (kv === null) {
        const qkv = linear(query, this.inProjWeight, this.inProjBias); // [B, L, E]·[E, 3E] → [B, L, 3E]
        [q, k, v] = tf.split(qkv, 3, -1); // 3 × [B, L, E] (q, k, v order)
      } else {
        const [wq, wkv] = tf.split(this.inProjWeight, [E, 2 * E], 1); // [E, E], [E, 2E]
        const [bq, bkv] = tf.split(this.inProjBias, [E, 2 * E], 0); // [E], [2E]
        q = linear(query, wq, bq); // [B, Lq, E]
        [k, v] = tf.split(linear(kv, wkv, bkv), 2, -1); // 2 × [B, Lk, E]
      }
      const o = scaledDotProductAttention(q, k, v, this.heads, { mask }); // [B, Lq, E]
      return this.outProj.apply(o) as tf.Tensor3D; // [B, Lq, E]
    });
  }
}

/** Arguments of `AttentionPool2d`. */
export interface AttentionPool2dArgs {
  /** Spatial side of the input feature map (`vision.imageSize // 32`). */
  spacialDim: number;
  /** Channel width of the input (`vision.resWidth·32`). */
  embedDim: number;
  /** Heads. */
  heads: number;
  /** Output width (`c_proj` out features). */
  outputDim: number;
}

/** open_clip `AttentionPool2d`. */
export class AttentionPool2d {
  readonly positionalEmbedding: tf.Variable;
  readonly kProj: Linear;
  readonly qProj: Linear;
  readonly vProj: Linear;
  readonly cProj: Linear;
  readonly heads: number;
  readonly positions: number;

  constructor(store: ParamStore, readonly prefix: string, args: AttentionPool2dArgs) {
    const { spacialDim, embedDim, heads, outputDim } = args;
    if (embedDim % heads !== 0) throw new Error(`${prefix}: width ${embedDim} is not divisible by ${heads} heads`);
    this.heads = heads;
    this.positions = spacialDim * spacialDim + 1;
    // open_clip: randn(spacial² + 1, embed) / embed**0.5
    this.positionalEmbedding = store.add(joinKey(prefix, 'positional_embedding'), [this.positions, embedDim], normalInit(1 / Math.sqrt(embedDim)), 'raw');
    // ModifiedResNet.init_parameters: q/k/v/c_proj weights ~ N(0, c_proj.in_features^-0.5); biases keep Linear init.
    const std = 1 / Math.sqrt(embedDim);
    // Registration order k, q, v, c (as in the reference module, hence the state_dict order).
    this.kProj = new Linear(store, joinKey(prefix, 'k_proj'), { inFeatures: embedDim, outFeatures: embedDim, weightInit: normalInit(std) });
    this.qProj = new Linear(store, joinKey(prefix, 'q_proj'), { inFeatures: embedDim, outFeatures: embedDim, weightInit: normalInit(std) });
    this.vProj = new Linear(store, joinKey(prefix, 'v_proj'), { inFeatures: embedDim, outFeatures: embedDim, weightInit: normalInit(std) });
    this.cProj = new Linear(store, joinKey(prefix, 'c_proj'), { inFeatures: embedDim, outFeatures: outputDim, weightInit: normalInit(std) });
  }

  /** x `[B, h, w, C]` → `[B, outputDim]` (output token 0 = the mean token). */
  apply(x: tf.Tensor4D): tf.Tensor2D {
    return tf.tidy(() => {
      const [B, h, w, C] = x.shape;
      if (h * w + 1 !== this.positions) {
        throw new Error(`${this.prefix}: feature map ${h}×${w} gives ${h * w + 1} positions, positional_embedding has ${this.positions} (image size mismatch?)`);
      }
      const flat = tf.reshape(x, [B, h * w, C]); // [B, HW, C] row-major positions (= torch flatten(2))
      const mean = tf.mean(flat, 1, true); // [B, 1, C]
      const seq = tf.add(tf.concat([mean, flat], 1), this.positionalEmbedding); // [B, HW+1, C]
      const q = this.qProj.apply(tf.slice(seq, [0, 0, 0], [B, 1, C])); // [B, 1, C] (only token 0 is returned)
      const k = this.kProj.apply(seq); // [B, HW+1, C]
      const v = this.vProj.apply(seq); // [B, HW+1, C]
      const o = scaledDotProductAttention(q, k, v, this.heads); // [B, 1, C]
      const out = this.cProj.apply(o); // [B, 1, outputDim]
      return tf.reshape(out, [B, out.shape[2] as number]) as tf.Tensor2D; // [B, outputDim]
    });
  }
}
