/**
 * Spatial-PAE (PIR's "VIR", `PIRBase.get_vision_fusion_embeds`; method.md §2.1, golden README §2).
 *
 * Hard belief (the reference):
 *   g        = V[:, 0]                                        global (avg-pool) token      [B, D]
 *   belief   = softmax over the N tokens of V·cᵀ                                            [B, N]
 *   order    = descending argsort of belief; kept = order[:, :K]        (no gradient: sort only)
 *   S        = V gathered at kept (the values of V, not V·belief)                         [B, K, D]
 *   C        = c broadcast to [B, K, D]
 *   for i < n_v:  A = img_sa[i](S);  S = img_ca[i](x = mapping_img[i](C), y = A)
 *   v_emb    = normalize(g + head_img(S[:, 0]))            S[:, 0] = the highest-belief slot  [B, D]
 *
 * Deliberate differences from the reference code: the reference slices `V[:, 0:50]` before the
 * belief (a no-op for its 50 Swin tokens; the kit keeps all N tokens), and its `.squeeze()` breaks
 * B = 1 (the kit works for any B).
 *
 * Kit extensions (ablations, documented here and in the model config):
 * - `belief: 'soft-head' | 'soft-c20bbe30'`: instead of sorting and filtering, the tokens are the
 *   PriorCLIP soft-belief sequence `[c; normalize_tokens(V·b + V·w)]` (`soft_belief.ts`, all N
 *   tokens kept, `filterSize` unused), `C` is broadcast to N+1 rows, and `S[:, 0]` is the prior
 *   slot — the same pooling PriorCLIP uses.
 * - No prior (`c = null`): the global token stands in for the prior (`c := V[:, 0:1]`), so the
 *   belief is each token's agreement with the image's own global token and the cross-attention
 *   query is the mapped global token ("self-prior").
 */
import * as tf from '@tensorflow/tfjs';
import { SeedStream } from '../utils/random';
import { ParamStore } from './params';
import { Linear, argsortDescending, gatherRows, l2normalize } from './layers';
import { CroSA, MHSA, PaeBlockConfig, PaeRoundKeys, buildPaeRounds } from './pir_blocks';
import { softBelief, tokenBelief } from './soft_belief';

/** How token beliefs are used. */
export type BeliefMode = 'hard' | 'soft-head' | 'soft-c20bbe30';
export const BELIEF_MODES: readonly BeliefMode[] = ['hard', 'soft-head', 'soft-c20bbe30'];

/** Spatial-PAE configuration (PIR yaml names in brackets). */
export interface SpatialPaeConfig {
  /** Use the module at all; false → image embedding = normalize(V[:, 0]) (PIR's `is_baseline` image side). */
  enabled: boolean;
  /** Belief mode: PIR's hard top-K filter, or PriorCLIP's soft weighting (HEAD or 20bbe30 formula). */
  belief: BeliefMode;
  /** K tokens kept by the hard belief [`filter_size`, 40]; clamped to the token count. */
  filterSize: number;
  /** Rounds n_v of SA + CA [`instru_num`, 2]. */
  numRounds: number;
  /** Attention heads of the SA/CA blocks [`head`, 8]. */
  heads: number;
  /** Dropout rate in the SA/CA blocks [`dropout_r`, 0.2]. */
  dropout: number;
  /** FFN hidden width / D in the blocks (PIR `build_mlp`: 2). */
  mlpRatio: number;
}

/** Module key prefixes (the reference names). */
export type SpatialPaeKeys = PaeRoundKeys;
export const SPATIAL_PAE_KEYS: SpatialPaeKeys = { sa: 'img_sa', ca: 'img_ca', mapping: 'mapping_img', head: 'head_img' };

/** One SA + CA round. */
export type PaeRoundTrace = {
  /** SA output A `[B, L, D]`. */
  saOut: tf.Tensor3D;
  /** Mapped query `[B, L, D]`. */
  query: tf.Tensor3D;
  /** CA output = next S `[B, L, D]`. */
  caOut: tf.Tensor3D;
  /** CA attention probabilities `[B, H, L, L]` (query rows over the SA-output keys). */
  caAttention: tf.Tensor4D;
};

/** Every intermediate of one Spatial-PAE call (caller disposes). */
export type SpatialPaeTrace = {
  /** softmax over tokens of V·cᵀ `[B, N]`. */
  belief: tf.Tensor2D;
  /** Descending argsort of the belief, int32 `[B, N]`. */
  sortedInd: tf.Tensor2D;
  /** Kept token indices, int32 `[B, K]` (hard) or `[B, N]` (soft: all, by belief). */
  keptIdx: tf.Tensor2D;
  /** Tokens entering the loop: `[B, K, D]` (hard) or `[B, N+1, D]` (soft sequence). */
  sFiltered: tf.Tensor3D;
  /** Per-round intermediates. */
  rounds: PaeRoundTrace[];
  /** S after the loop. */
  sFinal: tf.Tensor3D;
  /** L2-normalised image embedding `[B, D]`. */
  vEmb: tf.Tensor2D;
};

/** Spatial-PAE with the PIR parameter names (`img_sa.i`, `img_ca.i`, `mapping_img.i`, `head_img`). */
export class SpatialPae {
  readonly sa: MHSA[];
  readonly ca: CroSA[];
  readonly mapping: Linear[];
  readonly head: Linear;
  readonly blockCfg: PaeBlockConfig;

  constructor(
    store: ParamStore,
    readonly width: number,
    readonly cfg: SpatialPaeConfig,
    keys: SpatialPaeKeys = SPATIAL_PAE_KEYS,
  ) {
    if (!(cfg.filterSize >= 1 && Number.isInteger(cfg.filterSize))) throw new Error(`SpatialPae: filterSize must be an integer ≥ 1, got ${cfg.filterSize}`);
    const m = buildPaeRounds(store, width, cfg, keys, 'SpatialPae');
    this.sa = m.sa;
    this.ca = m.ca;
    this.mapping = m.mapping;
    this.head = m.head;
    this.blockCfg = m.blockCfg;
  }

  /**
   * V `[B, N, D]` projected tokens (index 0 = global token), c `[B, 1, D]` projected prior or
   * null (→ the global token is the prior). `seeds` non-null only in training (dropout).
   */
  trace(V: tf.Tensor3D, c: tf.Tensor3D | null, seeds: SeedStream | null = null): SpatialPaeTrace {
    const [B, N, D] = V.shape as number[];
    if (D !== this.width) throw new Error(`SpatialPae: tokens have width ${D}, the module was built for ${this.width}`);
    return tf.tidy(() => {
      const g = tf.reshape(tf.slice(V, [0, 0, 0], [B, 1, D]), [B, D]); // [B, D]
      const prior = c ?? (tf.slice(V, [0, 0, 0], [B, 1, D]) as tf.Tensor3D); // [B, 1, D]
      let belief: tf.Tensor2D;
      let sortedInd: tf.Tensor2D;
      let keptIdx: tf.Tensor2D;
      let S: tf.Tensor3D;
      if (this.cfg.belief === 'hard') {
        belief = tokenBelief(V, prior); // [B, N]
        sortedInd = argsortDescending(belief) as tf.Tensor2D; // [B, N] int32, no gradient
        const K = Math.min(this.cfg.filterSize, N);
        keptIdx = tf.slice(sortedInd, [0, 0], [B, K]); // [B, K]
        S = gatherRows(V, keptIdx); // [B, K, D]
      } else {
        const sb = softBelief(V, prior, this.cfg.belief === 'soft-head' ? 'head' : 'c20bbe30');
        belief = sb.beliefMatrix;
        sortedInd = sb.sortedInd;
        keptIdx = sb.sortedInd;
        S = sb.seq; // [B, N+1, D]
      }
      const sFiltered = S;
      const L = (S.shape as number[])[1];
      const C = tf.broadcastTo(prior, [B, L, D]) as tf.Tensor3D; // [B, L, D]
      const rounds: PaeRoundTrace[] = [];
      for (let i = 0; i < this.cfg.numRounds; i++) {
        const saOut = this.sa[i].apply(S, seeds); // [B, L, D]
        const query = this.mapping[i].apply(C) as tf.Tensor3D; // [B, L, D] (identical rows)
        const ca = this.ca[i].trace(query, saOut, seeds);
        const caOut = ca.out; // [B, L, D]
        rounds.push({ saOut, query, caOut, caAttention: ca.attention });
        S = caOut;
      }
      const top = tf.reshape(tf.slice(S, [0, 0, 0], [B, 1, D]), [B, D]); // S[:, 0]
      const vEmb = l2normalize(tf.add(g, this.head.apply(top)), -1) as tf.Tensor2D; // [B, D]
      return { belief, sortedInd, keptIdx, sFiltered, rounds, sFinal: S, vEmb };
    });
  }

  /** Image embedding only `[B, D]` (L2-normalised). */
  apply(V: tf.Tensor3D, c: tf.Tensor3D | null, seeds: SeedStream | null = null): tf.Tensor2D {
    return tf.tidy(() => this.trace(V, c, seeds).vEmb);
  }
}
