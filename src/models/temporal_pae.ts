/**
 * Temporal-PAE (PIR's "LCA", `PIRBase.get_text_fusion_embeds`; method.md §2.1, golden README §3).
 *
 *   X = T
 *   for i < n_t:  A = txt_sa[i](X);  query = mapping_txt[i](X);  X = txt_ca[i](x = query, y = A)
 *   t_emb = normalize(T[:, 0] + head_txt(X[:, 0]))
 *
 * The CA query is the mapped PREVIOUS step X, keys/values/residual the self-attended current step
 * ("cyclic activation"). As in the reference there is no attention mask: pad tokens are attended to.
 */
import * as tf from '@tensorflow/tfjs';
import { SeedStream } from '../utils/random';
import { ParamStore } from './params';
import { Linear, l2normalize } from './layers';
import { CroSA, MHSA, PaeBlockConfig, PaeRoundKeys, buildPaeRounds } from './pir_blocks';
import { PaeRoundTrace } from './spatial_pae';

/** Temporal-PAE configuration (PIR yaml names in brackets). */
export interface TemporalPaeConfig {
  /** Use the module at all; false → text embedding = normalize(T[:, 0]) (PIR's `is_baseline` text side). */
  enabled: boolean;
  /** Rounds n_t of SA + CA [`cycle_num`, 3]. */
  numRounds: number;
  /** Attention heads [`head`, 8]. */
  heads: number;
  /** Dropout in the blocks [`dropout_r`, 0.2]. */
  dropout: number;
  /** FFN hidden width / D (PIR `build_mlp`: 2). */
  mlpRatio: number;
}

/** Module key prefixes (the reference names). */
export type TemporalPaeKeys = PaeRoundKeys;
export const TEMPORAL_PAE_KEYS: TemporalPaeKeys = { sa: 'txt_sa', ca: 'txt_ca', mapping: 'mapping_txt', head: 'head_txt' };

/** Every intermediate of one Temporal-PAE call (caller disposes). */
export type TemporalPaeTrace = {
  rounds: PaeRoundTrace[];
  /** X after the loop `[B, L, D]`. */
  xFinal: tf.Tensor3D;
  /** L2-normalised text embedding `[B, D]`. */
  tEmb: tf.Tensor2D;
};

/** Temporal-PAE with the PIR parameter names (`txt_sa.i`, `txt_ca.i`, `mapping_txt.i`, `head_txt`). */
export class TemporalPae {
  readonly sa: MHSA[];
  readonly ca: CroSA[];
  readonly mapping: Linear[];
  readonly head: Linear;
  readonly blockCfg: PaeBlockConfig;

  constructor(
    store: ParamStore,
    readonly width: number,
    readonly cfg: TemporalPaeConfig,
    keys: TemporalPaeKeys = TEMPORAL_PAE_KEYS,
  ) {
    const m = buildPaeRounds(store, width, cfg, keys, 'TemporalPae');
    this.sa = m.sa;
    this.ca = m.ca;
    this.mapping = m.mapping;
    this.head = m.head;
    this.blockCfg = m.blockCfg;
  }

  /** T `[B, L, D]` projected text tokens (position 0 = [CLS]) → intermediates. */
  trace(T: tf.Tensor3D, seeds: SeedStream | null = null): TemporalPaeTrace {
    const [B, , D] = T.shape as number[];
    if (D !== this.width) throw new Error(`TemporalPae: tokens have width ${D}, the module was built for ${this.width}`);
    return tf.tidy(() => {
      let X = T;
      const rounds: PaeRoundTrace[] = [];
      for (let i = 0; i < this.cfg.numRounds; i++) {
        const saOut = this.sa[i].apply(X, seeds); // [B, L, D]
        const query = this.mapping[i].apply(X) as tf.Tensor3D; // [B, L, D], previous step
        const ca = this.ca[i].trace(query, saOut, seeds);
        const caOut = ca.out; // [B, L, D]
        rounds.push({ saOut, query, caOut, caAttention: ca.attention });
        X = caOut;
      }
      const cls = tf.reshape(tf.slice(T, [0, 0, 0], [B, 1, D]), [B, D]); // T[:, 0]
      const x0 = tf.reshape(tf.slice(X, [0, 0, 0], [B, 1, D]), [B, D]); // X[:, 0]
      const tEmb = l2normalize(tf.add(cls, this.head.apply(x0)), -1) as tf.Tensor2D; // [B, D]
      return { rounds, xFinal: X, tEmb };
    });
  }

  /** Text embedding only `[B, D]` (L2-normalised). */
  apply(T: tf.Tensor3D, seeds: SeedStream | null = null): tf.Tensor2D {
    return tf.tidy(() => this.trace(T, seeds).tEmb);
  }
}
