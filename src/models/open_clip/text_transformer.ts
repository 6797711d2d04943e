/**
 * The CLIP text tower as open_clip's `CLIP` holds it: `token_embedding`, `positional_embedding`,
 * `transformer` (causal), `ln_final`, `text_projection` — all at the top level of the state_dict.
 *
 * encode: x = token_embedding[text] + positional_embedding → transformer with the additive causal
 * mask (−∞ above the diagonal; a non-persistent buffer in PyTorch, so never in a checkpoint) →
 * ln_final → the row at `argmax(text)` (first position of the max id = EOT) → `· text_projection`
 * (`[width, embed]`, no transpose).
 *
 * Because the reference's state_dict interleaves these keys with the vision ones (CLIP's own
 * parameters first, then children), the caller registers `positional_embedding` and
 * `text_projection` itself and hands them in; this class registers `transformer.*`,
 * `token_embedding.weight` and `ln_final.*`.
 */
import * as tf from '@tensorflow/tfjs';
import { ParamStore, normalInit } from '../params';
import { ActivationName, LayerNorm, causalMask } from '../layers';
import { Capture, Transformer } from './transformer';

/** open_clip init std of `token_embedding`. */
export const TOKEN_EMBEDDING_STD = 0.02;
/** open_clip init std of the text `positional_embedding`. */
export const TEXT_POSITIONAL_STD = 0.01;

/** Arguments of `TextTower`. */
export interface TextTowerArgs {
  contextLength: number;
  vocabSize: number;
  width: number;
  heads: number;
  layers: number;
  /** MLP expansion (default 4). */
  mlpRatio?: number;
  /** Block activation (default exact GELU). */
  activation?: ActivationName;
}

/** The text-side init stds of open_clip's `TextTransformer.init_parameters`. */
export function textInitStds(width: number, layers: number): { attn: number; proj: number; fc: number; projection: number } {
  return {
    attn: width ** -0.5,
    proj: width ** -0.5 * (2 * layers) ** -0.5,
    fc: (2 * width) ** -0.5,
    projection: width ** -0.5,
  };
}

/** The text tower (see file comment). */
export class TextTower {
  readonly transformer: Transformer;
  readonly tokenEmbedding: tf.Variable;
  readonly lnFinal: LayerNorm;
  /** Additive causal mask `[ctx, ctx]` (open_clip's non-persistent `attn_mask` buffer). */
  private mask: tf.Tensor2D | null;

  constructor(
    store: ParamStore,
    readonly args: TextTowerArgs,
    readonly positionalEmbedding: tf.Variable,
    readonly textProjection: tf.Variable,
  ) {
    const std = textInitStds(args.width, args.layers);
    this.transformer = new Transformer(store, 'transformer', {
      width: args.width,
      layers: args.layers,
      heads: args.heads,
      mlpRatio: args.mlpRatio,
      activation: args.activation,
      inits: { inProj: normalInit(std.attn), outProj: normalInit(std.proj), cFc: normalInit(std.fc), cProj: normalInit(std.proj) },
    });
    this.tokenEmbedding = store.add('token_embedding.weight', [args.vocabSize, args.width], normalInit(TOKEN_EMBEDDING_STD), 'raw');
    this.lnFinal = new LayerNorm(store, 'ln_final', { dim: args.width });
    this.mask = tf.keep(causalMask(args.contextLength));
  }

  /**
   * tokens int32 `[N, L]` (L ≤ text.contextLength) → `[N, embed]` (unnormalised). `capture` receives
   * `text/ln_final` `[N, L, width]`.
   */
  apply(tokens: tf.Tensor2D, capture: Capture | null = null): tf.Tensor2D {
    const [N, L] = tokens.shape;
    const ctx = this.args.contextLength;
    if (L > ctx) throw new Error(`text: token rows have length ${L}, the model's text.contextLength is ${ctx}`);
    if (!this.mask) throw new Error('text tower used after dispose()');
    const full = this.mask;
    return tf.tidy(() => {
      const mask = L === ctx ? full : tf.slice(full, [0, 0], [L, L]); // [L, L]
      const W = this.args.width;
      const ids = tokens.dtype === 'int32' ? tokens : tf.cast(tokens, 'int32');
      const emb = tf.reshape(tf.gather(this.tokenEmbedding, tf.reshape(ids, [-1])), [N, L, W]); // [N, L, W]
      const pos = L === ctx ? this.positionalEmbedding : tf.slice(this.positionalEmbedding, [0, 0], [L, W]); // [L, W]
      const x = tf.add(emb, pos) as tf.Tensor3D; // [N, L, W]
      const h = this.transformer.apply(x, mask); // [N, L, W]
      const ln = this.lnFinal.apply(h) as tf.Tensor3D; // [N, L, W]
      capture?.('text/ln_final', ln);
      // First position of the row max (EOT): min over positions equal to the max.
      const rowMax = tf.max(ids, 1, true); // [N, 1]
      const positions = tf.range(0, L, 1, 'int32'); // [L]
      const cand = tf.where(tf.equal(ids, rowMax), tf.broadcastTo(positions, [N, L]), tf.fill([N, L], L, 'int32')); // [N, L]
      const eot = tf.min(cand, 1); // [N]
      const sel = tf.reshape(tf.cast(tf.oneHot(eot, L), 'float32'), [N, 1, L]); // [N, 1, L] one-hot row pick (gradient-safe). NB: wasm's OneHot with dtype 'float32' returns zeros, hence the cast.
      const pooled = tf.reshape(tf.matMul(sel, ln), [N, W]); // [N,1,L]·[N,L,W] → [N,1,W] → [N, W]
      return tf.matMul(pooled, this.textProjection as tf.Tensor as tf.Tensor2D); // [N, W]·[W, E] → [N, E]
    });
  }

  dispose(): void {
    this.mask?.dispose();
    this.mask = null;
  }
}
