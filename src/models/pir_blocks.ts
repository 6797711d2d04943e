/**
 * PIR's progressive-attention building blocks (`jaychempan/PIR` `models/pir.py`, MCAN-style):
 * `MHAtt`, the `ffn` MLP, `MHSA` (the "SA" block) and `CroSA` (the "CA" block). Both blocks are
 * post-LN and keep the reference `state_dict` key names:
 *
 *   MHSA  : mhatt.linear_{v,k,q,merge}.{weight,bias}, ffn.0, ffn.1 (LayerNorm 2D), ffn.3, norm1, norm2
 *   CroSA : mhatt_cross.linear_{v,k,q,merge}.*,       ffn.0, ffn.1, ffn.3, norm1, norm2
 *
 * Semantics (method.md §2.1, golden README §1):
 *   MHAtt(v, k, q)  = linear_merge(SDPA(linear_q(q), linear_k(k), linear_v(v)))   (dropout on the map)
 *   ffn(x)          = Linear(D→2D) → LayerNorm(2D) → GELU(erf) → Linear(2D→D)
 *   MHSA(x)         : h = LN1(x + Drop(MHAtt(x, x, x)));  out = LN2(h + Drop(ffn(h)))
 *   CroSA(x, y)     : h = LN1(y + Drop(MHAtt(v=y, k=y, q=x)));  out = LN2(h + Drop(ffn(h)))
 * CroSA's query comes from x; keys, values AND the residual come from y.
 */
import * as tf from '@tensorflow/tfjs';
import { SeedStream } from '../utils/random';
import { ParamStore } from './params';
import { Linear, LayerNorm, Mlp, dropout, joinKey, attentionWithProbabilities } from './layers';

/** Size and regularisation of one PAE block (PIR yaml: `embed_dim`, `head`, `dropout_r`). */
export interface PaeBlockConfig {
  /** Token width D (PIR `embed_dim`, 512 in the reference). */
  width: number;
  /** Attention heads H; D must be divisible by H (PIR `head`, 8). */
  heads: number;
  /** Dropout rate on the attention map and both residual branches (PIR `dropout_r`, 0.2). */
  dropout: number;
  /** FFN hidden width as a multiple of D (PIR `build_mlp`: 2). */
  mlpRatio: number;
}

/** PIR `MHAtt`: separate q/k/v projections, attention-map dropout, `linear_merge`. */
export class MHAtt {
  readonly linearV: Linear;
  readonly linearK: Linear;
  readonly linearQ: Linear;
  readonly linearMerge: Linear;

  constructor(store: ParamStore, readonly prefix: string, readonly cfg: PaeBlockConfig) {
    const lin = (name: string): Linear => new Linear(store, joinKey(prefix, name), { inFeatures: cfg.width, outFeatures: cfg.width });
    // Registration order = the reference module order (state_dict order).
    this.linearV = lin('linear_v');
    this.linearK = lin('linear_k');
    this.linearQ = lin('linear_q');
    this.linearMerge = lin('linear_merge');
  }

  /** v, k `[B, Lk, D]`, q `[B, Lq, D]` → output `[B, Lq, D]` and the attention probabilities `[B, H, Lq, Lk]`. */
  trace(v: tf.Tensor, k: tf.Tensor, q: tf.Tensor, seeds: SeedStream | null = null): { out: tf.Tensor3D; probabilities: tf.Tensor4D } {
    return tf.tidy(() => {
      const a = attentionWithProbabilities(this.linearQ.apply(q), this.linearK.apply(k), this.linearV.apply(v), this.cfg.heads, {
        dropout: { rate: this.cfg.dropout, seeds },
      }); // [B, Lq, D]
      return { out: this.linearMerge.apply(a.out) as tf.Tensor3D, probabilities: a.probabilities }; // [B, Lq, D]
    });
  }

  /** v, k `[B, Lk, D]`, q `[B, Lq, D]` → `[B, Lq, D]` (output length = query length). */
  apply(v: tf.Tensor, k: tf.Tensor, q: tf.Tensor, seeds: SeedStream | null = null): tf.Tensor3D {
    return tf.tidy(() => this.trace(v, k, q, seeds).out);
  }
}

/** PIR `build_mlp(D, D)`: `ffn.0` Linear(D,2D) → `ffn.1` LayerNorm(2D) → GELU → `ffn.3` Linear(2D,D). */
export function pirFfn(store: ParamStore, prefix: string, cfg: PaeBlockConfig): Mlp {
  return new Mlp(store, prefix, {
    inFeatures: cfg.width,
    hiddenFeatures: cfg.mlpRatio * cfg.width,
    fc1Name: '0',
    hiddenNormName: '1',
    fc2Name: '3',
    activation: 'gelu',
  });
}

/** Intermediate values of one block call (caller disposes them). */
export type BlockTrace = {
  /** Attention output before the residual `[B, L, D]`. */
  mhatt: tf.Tensor3D;
  /** After the first residual + LayerNorm `[B, L, D]`. */
  afterNorm1: tf.Tensor3D;
  /** Block output `[B, L, D]`. */
  out: tf.Tensor3D;
  /** Attention probabilities `[B, H, Lq, Lk]` (softmax over keys, before dropout). */
  attention: tf.Tensor4D;
};

/** The parts every post-LN PAE block has, registered in the reference order. */
class PostLnParts {
  readonly attention: MHAtt;
  readonly ffn: Mlp;
  readonly norm1: LayerNorm;
  readonly norm2: LayerNorm;

  constructor(store: ParamStore, prefix: string, readonly cfg: PaeBlockConfig, attentionName: string) {
    if (cfg.width % cfg.heads !== 0) throw new Error(`${prefix}: width ${cfg.width} is not divisible by ${cfg.heads} heads`);
    this.attention = new MHAtt(store, joinKey(prefix, attentionName), cfg);
    this.ffn = pirFfn(store, joinKey(prefix, 'ffn'), cfg);
    this.norm1 = new LayerNorm(store, joinKey(prefix, 'norm1'), { dim: cfg.width });
    this.norm2 = new LayerNorm(store, joinKey(prefix, 'norm2'), { dim: cfg.width });
  }

  /** `h = LN1(res + Drop(att)); out = LN2(h + Drop(ffn(h)))`. */
  tail(residual: tf.Tensor, att: tf.Tensor3D, attention: tf.Tensor4D, seeds: SeedStream | null): BlockTrace {
    const afterNorm1 = this.norm1.apply(tf.add(residual, dropout(att, this.cfg.dropout, seeds))) as tf.Tensor3D; // [B, L, D]
    const out = this.norm2.apply(tf.add(afterNorm1, dropout(this.ffn.apply(afterNorm1), this.cfg.dropout, seeds))) as tf.Tensor3D; // [B, L, D]
    return { mhatt: att, afterNorm1, out, attention };
  }
}

/** PIR `MHSA` (SA block): self-attention, post-LN. Keys `<prefix>.mhatt.*`, `ffn.*`, `norm1`, `norm2`. */
export class MHSA {
  private readonly parts: PostLnParts;

  constructor(store: ParamStore, readonly prefix: string, readonly cfg: PaeBlockConfig) {
    this.parts = new PostLnParts(store, prefix, cfg, 'mhatt');
  }

  /** x `[B, L, D]` → all intermediates (caller disposes). `seeds` non-null only in training. */
  trace(x: tf.Tensor3D, seeds: SeedStream | null = null): BlockTrace {
    return tf.tidy(() => {
      const a = this.parts.attention.trace(x, x, x, seeds); // [B, L, D]
      return this.parts.tail(x, a.out, a.probabilities, seeds);
    });
  }

  /** x `[B, L, D]` → `[B, L, D]`. */
  apply(x: tf.Tensor3D, seeds: SeedStream | null = null): tf.Tensor3D {
    return tf.tidy(() => this.trace(x, seeds).out);
  }
}

/**
 * PIR `CroSA` (CA block): query from x; keys, values and residual from y; post-LN.
 * Keys `<prefix>.mhatt_cross.*`, `ffn.*`, `norm1`, `norm2`.
 */
export class CroSA {
  private readonly parts: PostLnParts;

  constructor(store: ParamStore, readonly prefix: string, readonly cfg: PaeBlockConfig) {
    this.parts = new PostLnParts(store, prefix, cfg, 'mhatt_cross');
  }

  /** x `[B, Lx, D]` (query), y `[B, Ly, D]` (keys/values/residual) → intermediates `[B, Ly, D]`. */
  trace(x: tf.Tensor3D, y: tf.Tensor3D, seeds: SeedStream | null = null): BlockTrace {
    return tf.tidy(() => {
      const a = this.parts.attention.trace(y, y, x, seeds); // [B, Lx, D]; Lx = 1 broadcasts over y like PyTorch
      return this.parts.tail(y, a.out, a.probabilities, seeds);
    });
  }

  /** x `[B, Lx, D]`, y `[B, Ly, D]` → `[B, Ly, D]`. */
  apply(x: tf.Tensor3D, y: tf.Tensor3D, seeds: SeedStream | null = null): tf.Tensor3D {
    return tf.tidy(() => this.trace(x, y, seeds).out);
  }
}

/** Key names of one PAE's modules (`img_sa`/`txt_sa`, …). */
export interface PaeRoundKeys {
  sa: string;
  ca: string;
  mapping: string;
  head: string;
}

/** The modules of n PAE rounds plus the output head, shared by Spatial-PAE and Temporal-PAE. */
export interface PaeRoundModules {
  /** `mapping_*.i`: Linear(D, D) applied to the query source of round i. */
  mapping: Linear[];
  /** `*_sa.i`: the self-attention block of round i. */
  sa: MHSA[];
  /** `*_ca.i`: the cross-attention block of round i. */
  ca: CroSA[];
  /** `head_*`: Linear(D, D) on the first token after the rounds. */
  head: Linear;
  blockCfg: PaeBlockConfig;
}

/**
 * Register the modules of `numRounds` PAE rounds in PIRBase.__init__ order (all mappings, all SA blocks,
 * all CA blocks, then the head), so the ParamStore order matches the reference state_dict.
 */
export function buildPaeRounds(
  store: ParamStore,
  width: number,
  cfg: { numRounds: number; heads: number; dropout: number; mlpRatio: number },
  keys: PaeRoundKeys,
  owner: string,
): PaeRoundModules {
  if (!(cfg.numRounds >= 0 && Number.isInteger(cfg.numRounds))) throw new Error(`${owner}: numRounds must be an integer ≥ 0, got ${cfg.numRounds}`);
  const blockCfg: PaeBlockConfig = { width, heads: cfg.heads, dropout: cfg.dropout, mlpRatio: cfg.mlpRatio };
  const out: PaeRoundModules = { mapping: [], sa: [], ca: [], head: null as unknown as Linear, blockCfg };
  for (let i = 0; i < cfg.numRounds; i++) out.mapping.push(new Linear(store, `${keys.mapping}.${i}`, { inFeatures: width, outFeatures: width }));
  for (let i = 0; i < cfg.numRounds; i++) out.sa.push(new MHSA(store, `${keys.sa}.${i}`, blockCfg));
  for (let i = 0; i < cfg.numRounds; i++) out.ca.push(new CroSA(store, `${keys.ca}.${i}`, blockCfg));
  out.head = new Linear(store, keys.head, { inFeatures: width, outFeatures: width });
  return out;
}
