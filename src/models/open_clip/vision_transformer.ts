/**
 * open_clip `transformer.VisionTransformer` with PriorCLIP's soft-belief `forward(x, y)`.
 *
 * Tokens: patch conv (kernel = stride = P, no bias) → row-major patches → prepend `class_embedding`
 * → add `positional_embedding` → `ln_pre` → [soft belief with the prior y] → `transformer` →
 * `ln_post` → token 0 → `· proj` (`proj` is `[width, output_dim]`, used without transpose).
 *
 * Soft belief (PriorCLIP `VisionTransformer.forward(x, y)`, y `[B,1,W]` = `vision_proj_res(res)`):
 *   b = softmax_T(x·yᵀ); sorted_ind = argsort_desc(b); w[b,j] = 1/√(1 + sorted_ind[b,j]) (no gradient);
 *   head formula (`9554baf`): tokens = normalize(x·b + x·w, dim=1 = TOKEN axis);
 *   old formula (`20bbe30`): tokens = normalize(x·b + x·b, dim=1);
 *   seq = [y, tokens] (y without positional embedding); pooling at token 0 = the prior slot.
 * With belief `'none'` the tower is a plain open_clip ViT (no prior, pooling at CLS).
 */
import * as tf from '@tensorflow/tfjs';
import { ParamStore, normalInit } from '../params';
import { ActivationName, LayerNorm, joinKey } from '../layers';
import { SoftBeliefFormula, softBelief, tokenBelief } from '../soft_belief';
import { Conv2d, patchEmbed } from './conv';
import { Capture, Transformer } from './transformer';

/** Which soft-belief formula the ViT uses (see file comment); `'none'` = plain open_clip ViT. */
export type VitBelief = SoftBeliefFormula | 'none';

/** Arguments of `VisionTransformer`. */
export interface VisionTransformerArgs {
  imageSize: number;
  patchSize: number;
  width: number;
  layers: number;
  heads: number;
  /** Width of `proj`'s output (`embedDim`). */
  outputDim: number;
  /** Soft-belief formula; default `'head'`. */
  belief?: VitBelief;
  /** MLP expansion (default 4). */
  mlpRatio?: number;
  /** Block activation (default exact GELU). */
  activation?: ActivationName;
}

/** open_clip VisionTransformer (+ PriorCLIP soft belief). */
export class VisionTransformer {
  readonly classEmbedding: tf.Variable;
  readonly positionalEmbedding: tf.Variable;
  readonly proj: tf.Variable;
  readonly conv1: Conv2d;
  readonly lnPre: LayerNorm;
  readonly transformer: Transformer;
  readonly lnPost: LayerNorm;
  readonly grid: number;
  readonly belief: VitBelief;

  constructor(store: ParamStore, readonly prefix: string, readonly args: VisionTransformerArgs) {
    const { width, patchSize, imageSize } = args;
    this.grid = Math.floor(imageSize / patchSize);
    this.belief = args.belief ?? 'head';
    const scale = 1 / Math.sqrt(width);
    // Own parameters first (torch state_dict order), then children in registration order.
    this.classEmbedding = store.add(joinKey(prefix, 'class_embedding'), [width], normalInit(scale), 'raw');
    this.positionalEmbedding = store.add(joinKey(prefix, 'positional_embedding'), [this.grid * this.grid + 1, width], normalInit(scale), 'raw');
    this.proj = store.add(joinKey(prefix, 'proj'), [width, args.outputDim], normalInit(scale), 'raw');
    this.conv1 = new Conv2d(store, joinKey(prefix, 'conv1'), { inChannels: 3, outChannels: width, kernelSize: patchSize, stride: patchSize });
    this.lnPre = new LayerNorm(store, joinKey(prefix, 'ln_pre'), { dim: width });
    this.transformer = new Transformer(store, joinKey(prefix, 'transformer'), {
      width,
      layers: args.layers,
      heads: args.heads,
      mlpRatio: args.mlpRatio,
      activation: args.activation,
    });
    this.lnPost = new LayerNorm(store, joinKey(prefix, 'ln_post'), { dim: width });
  }

  /** Patch tokens with class token and positions after `ln_pre`: images `[B,H,W,3]` → `[B, T, W]`. */
  embed(images: tf.Tensor4D): tf.Tensor3D {
    return tf.tidy(() => {
      const B = images.shape[0];
      const W = this.args.width;
      const patches = patchEmbed(images, this.conv1.weight as tf.Tensor as tf.Tensor4D); // [B, N, W]
      const N = patches.shape[1];
      if (N + 1 !== this.positionalEmbedding.shape[0]) {
        throw new Error(`${this.prefix}: image ${images.shape[1]}×${images.shape[2]} gives ${N} patches, positional_embedding has ${(this.positionalEmbedding.shape[0] as number) - 1} (vision.imageSize ${this.args.imageSize})`);
      }
      const cls = tf.broadcastTo(tf.reshape(this.classEmbedding, [1, 1, W]), [B, 1, W]); // [B, 1, W]
      const tokens = tf.add(tf.concat([cls, patches], 1), this.positionalEmbedding); // [B, T, W]
      return this.lnPre.apply(tokens) as tf.Tensor3D;
    });
  }

  /**
   * images `[B,H,W,3]`, prior y `[B,1,W]` (ignored — may be null — with belief `'none'`) →
   * pooled `[B, outputDim]` (unnormalised). `capture` receives `vit/ln_pre`, `vit/belief_matrix`,
   * `vit/sorted_ind`, `vit/soft_tokens`, `vit/seq_in`, `vit/seq_out`, `vit/ln_post`.
   */
  apply(images: tf.Tensor4D, y: tf.Tensor3D | null, capture: Capture | null = null): tf.Tensor2D {
    return tf.tidy(() => {
      const x = this.embed(images); // [B, T, W]
      capture?.('vit/ln_pre', x);
      let seq: tf.Tensor3D;
      if (this.belief === 'none') {
        seq = x;
      } else {
        if (!y) throw new Error(`${this.prefix}: the soft-belief ViT needs the prior y [B,1,W]`);
        const sb = softBelief(x, y, this.belief);
        capture?.('vit/belief_matrix', sb.beliefMatrix);
        capture?.('vit/sorted_ind', sb.sortedInd);
        capture?.('vit/soft_tokens', sb.tokens);
        seq = sb.seq; // [B, T+1, W]
      }
      capture?.('vit/seq_in', seq);
      const out = this.transformer.apply(seq); // [B, L, W] (no mask on the vision side)
      capture?.('vit/seq_out', out);
      const post = this.lnPost.apply(out) as tf.Tensor3D; // [B, L, W]
      capture?.('vit/ln_post', post);
      const [B, , W] = post.shape;
      const pooled = tf.reshape(tf.slice(post, [0, 0, 0], [B, 1, W]), [B, W]); // token 0 = prior slot (or CLS)
      return tf.matMul(pooled as tf.Tensor2D, this.proj as tf.Tensor as tf.Tensor2D); // [B, W]·[W, E] → [B, E]
    });
  }

  /** The belief over the T = grid²+1 tokens (`[B, T]`) for a prior y; for visualisation. */
  beliefs(images: tf.Tensor4D, y: tf.Tensor3D): tf.Tensor2D {
    return tf.tidy(() => {
      return tokenBelief(this.embed(images), y); // [B, T]
    });
  }
}
