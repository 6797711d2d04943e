/**
 * A small text encoder for the embedded dataset (PIR's BERT stand-in): word + learned position
 * embeddings, LayerNorm, dropout, then post-LN transformer layers (PIR's `MHSA` block, the same
 * structure as a BERT layer with PIR's LayerNorm-in-FFN). Like PIR's BERT call there is no attention
 * mask: pad tokens are attended to. Token 0 (the `<sot>` / [CLS] slot) is the text's global token.
 *
 * Keys: `<prefix>.word_embeddings.weight` `[V, W]`, `<prefix>.position_embeddings.weight`
 * `[ctx, W]`, `<prefix>.embed_norm.*`, `<prefix>.layers.<i>.*` (MHSA keys).
 */
import * as tf from '@tensorflow/tfjs';
import { SeedStream } from '../utils/random';
import { ParamStore, normalInit } from './params';
import { LayerNorm, dropout, joinKey } from './layers';
import { MHSA } from './pir_blocks';
import { SmallTextConfig } from './model';

/** BERT's embedding init std. */
const EMBEDDING_STD = 0.02;

/** The encoder. */
export class SmallTextEncoder {
  readonly wordEmbeddings: tf.Variable;
  readonly positionEmbeddings: tf.Variable;
  readonly embedNorm: LayerNorm;
  readonly layers: MHSA[] = [];

  constructor(store: ParamStore, readonly prefix: string, readonly cfg: SmallTextConfig) {
    if (!(cfg.vocabSize >= 1)) throw new Error(`${prefix}: vocabSize must be ≥ 1, got ${cfg.vocabSize}`);
    this.wordEmbeddings = store.add(joinKey(prefix, 'word_embeddings.weight'), [cfg.vocabSize, cfg.width], normalInit(EMBEDDING_STD), 'raw');
    this.positionEmbeddings = store.add(joinKey(prefix, 'position_embeddings.weight'), [cfg.contextLength, cfg.width], normalInit(EMBEDDING_STD), 'raw');
    this.embedNorm = new LayerNorm(store, joinKey(prefix, 'embed_norm'), { dim: cfg.width });
    for (let i = 0; i < cfg.layers; i++) {
      this.layers.push(new MHSA(store, joinKey(prefix, `layers.${i}`), { width: cfg.width, heads: cfg.heads, dropout: cfg.dropout, mlpRatio: cfg.mlpRatio }));
    }
  }

  /** tokens int32 `[B, L]` (L ≤ contextLength) → `[B, L, W]`. `seeds` non-null only in training. */
  apply(tokens: tf.Tensor2D, seeds: SeedStream | null = null): tf.Tensor3D {
    const [B, L] = tokens.shape as number[];
    if (L > this.cfg.contextLength) {
      throw new Error(`${this.prefix}: token rows have length ${L}, longer than contextLength ${this.cfg.contextLength}`);
    }
    return tf.tidy(() => {
      const ids = tokens.dtype === 'int32' ? tokens : tf.cast(tokens, 'int32');
      const words = tf.reshape(tf.gather(this.wordEmbeddings, tf.reshape(ids, [B * L]), 0), [B, L, this.cfg.width]); // [B·L, W] → [B, L, W]
      const pos = tf.slice(this.positionEmbeddings, [0, 0], [L, this.cfg.width]); // [L, W]
      let x = this.embedNorm.apply(tf.add(words, pos)) as tf.Tensor3D; // [B, L, W]
      x = dropout(x, this.cfg.dropout, seeds);
      for (const layer of this.layers) x = layer.apply(x, seeds);
      return x;
    });
  }
}
