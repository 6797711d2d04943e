/**
 * open_clip `transformer.Transformer`: a stack of pre-LN `ResidualAttentionBlock`s.
 *
 * Block: `x = x + attn(ln_1(x)); x = x + mlp(ln_2(x))`, `attn` an `nn.MultiheadAttention`
 * (keys `attn.in_proj_weight`, `attn.in_proj_bias`, `attn.out_proj.*`), `mlp` = `c_fc → GELU → c_proj`
 * with hidden width `mlp_ratio·width` (4 in open_clip). Activations are batch-first `[B, L, W]`
 * (open_clip permutes to `[L, B, W]` internally; the result is the same).
 */
import * as tf from '@tensorflow/tfjs';
import { ParamStore, Init } from '../params';
import { LayerNorm, Linear, ActivationName, activation, joinKey } from '../layers';
import { MultiheadAttention } from './attention';

/** open_clip's default MLP expansion. */
export const MLP_RATIO = 4;

/** Optional init overrides (open_clip's CLIP.init_parameters uses them for the text tower). */
export interface BlockInits {
  inProj?: Init;
  outProj?: Init;
  cFc?: Init;
  cProj?: Init;
}

/** Arguments of `Transformer`. */
export interface TransformerArgs {
  width: number;
  layers: number;
  heads: number;
  mlpRatio?: number;
  activation?: ActivationName;
  inits?: BlockInits;
}

/** Called with intermediate tensors (for parity and diagnostics); the callee must clone/keep what it stores. */
export type Capture = (name: string, t: tf.Tensor) => void;

/** One pre-LN residual attention block. */
export class ResidualAttentionBlock {
  readonly ln1: LayerNorm;
  readonly attn: MultiheadAttention;
  readonly ln2: LayerNorm;
  readonly cFc: Linear;
  readonly cProj: Linear;
  readonly act: ActivationName;

  constructor(store: ParamStore, readonly prefix: string, args: TransformerArgs) {
    const W = args.width;
    this.ln1 = new LayerNorm(store, joinKey(prefix, 'ln_1'), { dim: W });
    this.attn = new MultiheadAttention(store, joinKey(prefix, 'attn'), {
      width: W,
      heads: args.heads,
      inProjInit: args.inits?.inProj,
      outProjInit: args.inits?.outProj,
    });
    this.ln2 = new LayerNorm(store, joinKey(prefix, 'ln_2'), { dim: W });
    const hidden = Math.round(W * (args.mlpRatio ?? MLP_RATIO));
    this.cFc = new Linear(store, joinKey(prefix, 'mlp.c_fc'), { inFeatures: W, outFeatures: hidden, weightInit: args.inits?.cFc });
    this.cProj = new Linear(store, joinKey(prefix, 'mlp.c_proj'), { inFeatures: hidden, outFeatures: W, weightInit: args.inits?.cProj });
    this.act = args.activation ?? 'gelu';
  }

  /** x `[B, L, W]` → `[B, L, W]`; `mask` additive, broadcastable to `[B, H, L, L]`. */
  apply(x: tf.Tensor3D, mask: tf.Tensor | null = null): tf.Tensor3D {
    return tf.tidy(() => {
      const a = this.attn.apply(this.ln1.apply(x) as tf.Tensor3D, null, mask); // [B, L, W]
      const h = tf.add(x, a); // [B, L, W]
      const m = this.cProj.apply(activation(this.cFc.apply(this.ln2.apply(h)), this.act)); // [B, L, 4W] → [B, L, W]
      return tf.add(h, m) as tf.Tensor3D; // [B, L, W]
    });
  }
}

/** `transformer.resblocks.{i}`. */
export class Transformer {
  readonly blocks: ResidualAttentionBlock[] = [];

  constructor(store: ParamStore, readonly prefix: string, readonly args: TransformerArgs) {
    for (let i = 0; i < args.layers; i++) {
      this.blocks.push(new ResidualAttentionBlock(store, joinKey(prefix, `resblocks.${i}`), args));
    }
  }

  /** x `[B, L, W]` → `[B, L, W]`. */
  apply(x: tf.Tensor3D, mask: tf.Tensor | null = null): tf.Tensor3D {
    return tf.tidy(() => {
      let h = x;
      for (const b of this.blocks) h = b.apply(h, mask);
      return h;
    });
  }
}
