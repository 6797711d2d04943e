/**
 * Belief anatomy: WHY a hard belief `b = softmax_j(V_j·c)` lands where it does. The score of token
 * j is `s_j = V_j·c = ‖V_j‖·‖c‖·cos(V_j, c)`, so a belief can be peaked because the scores are
 * large (norms, not directions, decide) or because the prior's direction picks tokens. Per image,
 * over the grid tokens (token 0, the global token, left out):
 *
 * - `scoreStd`: spread of the scores (softmax logits); ≫ 1 means a saturated softmax;
 * - `priorNorm`, `tokenNorm`: ‖c‖ and the mean ‖V_j‖;
 * - `normCorr` / `cosCorr`: Pearson correlation of the scores with the token norms / with the
 *   cosines to the prior (which factor orders the belief);
 * - `keyNormRatio`: mean ‖V_j‖ on key-object cells ÷ on background cells (cells of no object);
 * - `topRole`: the cell role of the most believed token (≥ half covered: key / distractor; else
 *   background);
 * - `cosTopKPrecision`: top-K precision of a ranking by cosine only (direction, norms removed),
 *   to compare with the belief's own top-K precision.
 */
import * as tf from '@tensorflow/tfjs';
import { ObjectCells } from './belief_localisation';

/** Anatomy of one image. */
export interface ImageAnatomy {
  scoreStd: number;
  priorNorm: number;
  tokenNorm: number;
  normCorr: number;
  cosCorr: number;
  keyNormRatio: number;
  topRole: 'key' | 'distractor' | 'background';
  cosTopKPrecision: number;
}

/** Pearson correlation (NaN when a side is constant). */
export function pearson(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = a.length;
  if (b.length !== n || n < 2) throw new Error(`pearson: need two series of the same length ≥ 2, got ${a.length} and ${b.length}`);
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < n; i++) {
    ma += a[i];
    mb += b[i];
  }
  ma /= n;
  mb /= n;
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < n; i++) {
    sab += (a[i] - ma) * (b[i] - mb);
    saa += (a[i] - ma) ** 2;
    sbb += (b[i] - mb) ** 2;
  }
  return saa > 0 && sbb > 0 ? sab / Math.sqrt(saa * sbb) : Number.NaN;
}

/** Share of a cell covered for it to count as the object's (`topRole`). */
export const ROLE_COVER = 0.5;

/**
 * Anatomy of one image from its grid tokens `tokens` (`[cells][D]`, token 0 excluded), its prior
 * `c` (`[D]`) and object cells; `k` = top-K size for the cosine ranking.
 */
export function imageAnatomy(tokens: readonly ArrayLike<number>[], c: ArrayLike<number>, cells: ObjectCells, k: number): ImageAnatomy {
  const n = tokens.length;
  if (cells.key.length !== n) throw new Error(`imageAnatomy: ${n} grid tokens but ${cells.key.length} cells`);
  const D = c.length;
  const cn = Math.sqrt(Array.from(c).reduce((a, v) => a + v * v, 0));
  const s = new Float64Array(n);
  const norm = new Float64Array(n);
  const cos = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    let d = 0;
    let nn = 0;
    for (let q = 0; q < D; q++) {
      d += tokens[j][q] * c[q];
      nn += tokens[j][q] ** 2;
    }
    s[j] = d;
    norm[j] = Math.sqrt(nn);
    cos[j] = norm[j] > 0 && cn > 0 ? d / (norm[j] * cn) : 0;
  }
  const mean = s.reduce((a, v) => a + v, 0) / n;
  const scoreStd = Math.sqrt(s.reduce((a, v) => a + (v - mean) ** 2, 0) / n);
  let kn = 0;
  let kc = 0;
  let bn = 0;
  let bc = 0;
  let top = 0;
  for (let j = 0; j < n; j++) {
    if (s[j] > s[top]) top = j;
    if (cells.key[j] >= ROLE_COVER) {
      kn += norm[j];
      kc += 1;
    } else if (cells.key[j] === 0 && cells.distractor[j] === 0) {
      bn += norm[j];
      bc += 1;
    }
  }
  const order = Array.from({ length: n }, (_, j) => j).sort((a, b) => cos[b] - cos[a] || a - b);
  const K = Math.min(k, n);
  const cosTopKPrecision = order.slice(0, K).reduce((a, j) => a + cells.key[j], 0) / K;
  return {
    scoreStd,
    priorNorm: cn,
    tokenNorm: norm.reduce((a, v) => a + v, 0) / n,
    normCorr: pearson(s, norm),
    cosCorr: pearson(s, cos),
    keyNormRatio: kc > 0 && bc > 0 ? kn / kc / (bn / bc) : Number.NaN,
    topRole: cells.key[top] >= ROLE_COVER ? 'key' : cells.distractor[top] >= ROLE_COVER ? 'distractor' : 'background',
    cosTopKPrecision,
  };
}

/** Anatomy over a set of images (means; `topRole` as shares). */
export interface AnatomySummary {
  images: number;
  scoreStd: number;
  priorNorm: number;
  tokenNorm: number;
  normCorr: number;
  cosCorr: number;
  keyNormRatio: number;
  topOnKey: number;
  topOnDistractor: number;
  topOnBackground: number;
  cosTopKPrecision: number;
}

/** Aggregate image anatomies. */
export function summariseAnatomy(per: readonly ImageAnatomy[]): AnatomySummary {
  const m = (f: (a: ImageAnatomy) => number): number => {
    const v = per.map(f).filter((x) => Number.isFinite(x));
    return v.length > 0 ? v.reduce((a, b) => a + b, 0) / v.length : Number.NaN;
  };
  const share = (r: ImageAnatomy['topRole']): number => (per.length > 0 ? per.filter((a) => a.topRole === r).length / per.length : Number.NaN);
  return {
    images: per.length,
    scoreStd: m((a) => a.scoreStd),
    priorNorm: m((a) => a.priorNorm),
    tokenNorm: m((a) => a.tokenNorm),
    normCorr: m((a) => a.normCorr),
    cosCorr: m((a) => a.cosCorr),
    keyNormRatio: m((a) => a.keyNormRatio),
    topOnKey: share('key'),
    topOnDistractor: share('distractor'),
    topOnBackground: share('background'),
    cosTopKPrecision: m((a) => a.cosTopKPrecision),
  };
}

/** Anatomy of a batch from V `[B, N, D]` (token 0 = global) and c `[B, 1, D]`. */
export function batchAnatomy(V: tf.Tensor3D, c: tf.Tensor3D, cells: readonly ObjectCells[], k: number): ImageAnatomy[] {
  const [B, N, D] = V.shape as number[];
  if (cells.length !== B) throw new Error(`batchAnatomy: ${cells.length} cell sets for ${B} images`);
  const v = V.dataSync();
  const cv = c.dataSync();
  const out: ImageAnatomy[] = [];
  for (let b = 0; b < B; b++) {
    const toks = Array.from({ length: N - 1 }, (_, j) => v.subarray((b * N + j + 1) * D, (b * N + j + 2) * D));
    out.push(imageAnatomy(toks, cv.subarray(b * D, (b + 1) * D), cells[b], k));
  }
  return out;
}
