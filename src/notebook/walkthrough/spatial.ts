/**
 * Spatial-PAE step by step on one batch (notebook 02), packaged as plain arrays for tables and
 * figures. Everything is read from the model's own trace (`PirModel.imageTrace`, i.e.
 * `SpatialPae.trace`), plus two things the trace does not return and that a reader wants to see:
 *
 * - the cross-attention map of each round: the mapped prior is the query (all K query rows are the
 *   same vector), the self-attended tokens A are keys/values, so one softmax row per image says
 *   which kept tokens the prior pulls information from (`softmax(q·kᵀ/√d_h)`, mean over heads);
 * - how much each round changes the tokens: mean cosine between a token before and after the round,
 *   and the mean pairwise cosine among the K tokens (the CA block adds one prior-conditioned vector
 *   to every token, so tokens grow more alike).
 *
 * `beliefModes` puts PIR's hard belief next to PriorCLIP's two soft formulas on the same tokens.
 */
import * as tf from '@tensorflow/tfjs';
import { PirModel } from '../../models/pir';
import { l2normalize } from '../../models/layers';
import { softBelief, tokenBelief } from '../../models/soft_belief';
import { PaeRoundTrace } from '../../models/spatial_pae';
import { AnnotatedObject, objectCoverageGrid } from '../../data/embedded/index';
import { BeliefPanel } from '../../plotting/figures/belief_matrix';

/** Per-round summary of a PAE (shared with the Temporal-PAE walkthrough). */
export interface RoundSummary {
  round: number;
  /** Mean over images and tokens of cos(token before the round, token after). */
  meanCosToPrevious: number;
  /** Mean pairwise cosine among the tokens of one image after the round (averaged over images). */
  tokenSimilarity: number;
  /** Cross-attention weights of query row 0 over the keys, mean over heads `[B][L]`. */
  attention: number[][];
}

/** Everything notebook 02 shows about one Spatial-PAE call. */
export interface SpatialWalkthrough {
  batch: number;
  /** Tokens N (1 global + grid) and width D. */
  numTokens: number;
  width: number;
  grid: [number, number];
  /** Tokens kept by the hard belief (K), or N+1 for soft belief (prior slot + all tokens). */
  kept: number;
  belief: Float32Array[];
  /** Descending belief order per image. */
  sortedInd: number[][];
  /** Kept token indices per image (hard: top-K, highest first). */
  keptIdx: number[][];
  /** Pairwise token similarity of the filtered tokens before round 1. */
  initialTokenSimilarity: number;
  rounds: RoundSummary[];
  /** cos(final embedding, normalize(global token g)) per image: how much the PAE branch moved it. */
  embeddingVsGlobal: number[];
  /** Shape table: name, shape, what it is. */
  shapes: { tensor: string; shape: string; meaning: string }[];
}

function rows2d(t: tf.Tensor): number[][] {
  return t.arraySync() as number[][];
}

/** Mean pairwise cosine among the L tokens of each image, averaged over the batch. x `[B, L, D]`. */
export function meanTokenSimilarity(x: tf.Tensor3D): number {
  return tf.tidy(() => {
    const [, L] = x.shape as number[];
    if (L < 2) return 1;
    const n = l2normalize(x, -1); // [B, L, D]
    const sim = tf.matMul(n, n, false, true); // [B, L, D]·[B, L, D]ᵀ → [B, L, L]
    const offDiag = tf.sub(tf.sum(sim, [1, 2]), L); // remove the diagonal ones
    return tf.mean(tf.div(offDiag, L * (L - 1))).dataSync()[0];
  });
}

/** Mean cosine between matching tokens of two `[B, L, D]` tensors. */
export function meanTokenCosine(a: tf.Tensor3D, b: tf.Tensor3D): number {
  return tf.tidy(() => tf.mean(tf.sum(tf.mul(l2normalize(a, -1), l2normalize(b, -1)), -1)).dataSync()[0]);
}

/** Round summaries from a PAE trace (the CA attention is the trace's own `caAttention`). */
export function summarizeRounds(start: tf.Tensor3D, rounds: PaeRoundTrace[], heads: number): RoundSummary[] {
  let prev = start;
  return rounds.map((r, i) => {
    const attention = tf.tidy(() => {
      const att = r.caAttention; // [B, H, Lq, Lk]
      const [B, , , Lk] = att.shape as number[];
      return rows2d(tf.reshape(tf.mean(tf.slice(att, [0, 0, 0, 0], [B, heads, 1, Lk]), 1), [B, Lk])); // row 0, mean over heads
    });
    const s: RoundSummary = {
      round: i + 1,
      meanCosToPrevious: meanTokenCosine(prev, r.caOut),
      tokenSimilarity: meanTokenSimilarity(r.caOut),
      attention,
    };
    prev = r.caOut;
    return s;
  });
}

/** Run the model's Spatial-PAE on `images` `[B, S, S, 3]` and summarise every step. */
export function traceSpatialPae(model: PirModel, images: tf.Tensor4D): SpatialWalkthrough {
  const pae = model.spatialPae;
  if (!pae) throw new Error(`traceSpatialPae: model '${model.config.name}' has spatialPae.enabled = false`);
  const V = model.imageTokens(images); // [B, N, D]
  const c = model.priorToken(images); // [B, 1, D] or null
  const trace = model.imageTrace(images);
  if (!trace) throw new Error('traceSpatialPae: no Spatial-PAE trace');
  try {
    const [B, N, D] = V.shape as number[];
    const L = (trace.sFiltered.shape as number[])[1];
    const beliefRows = rows2d(trace.belief);
    const rounds = summarizeRounds(trace.sFiltered, trace.rounds, pae.cfg.heads);
    const embeddingVsGlobal = tf.tidy(() => {
      const g = l2normalize(tf.reshape(tf.slice(V, [0, 0, 0], [B, 1, D]), [B, D]), -1); // [B, D]
      return Array.from(tf.sum(tf.mul(g, trace.vEmb), -1).dataSync());
    });
    const hard = model.config.spatialPae.belief === 'hard';
    const shapes = [
      { tensor: 'V = vision_proj(image encoder)', shape: `[${B}, ${N}, ${D}]`, meaning: `token 0 = global (mean) token g, then the ${model.grid[0]}×${model.grid[1]} grid` },
      { tensor: 'c = conv_proj(prior encoder)', shape: c ? `[${B}, 1, ${D}]` : '(no prior: c := g)', meaning: 'one scene-prior vector per image' },
      { tensor: 'belief = softmax_j(V·cᵀ)', shape: `[${B}, ${N}]`, meaning: 'how strongly each token agrees with the prior' },
      hard
        ? { tensor: 'S = V[top-K by belief]', shape: `[${B}, ${L}, ${D}]`, meaning: `hard belief: keep the K = ${L} most-believed tokens (values of V, sorted)` }
        : { tensor: 'S = [c; soft-weighted V]', shape: `[${B}, ${L}, ${D}]`, meaning: 'soft belief: prior slot + every token re-weighted' },
      { tensor: 'query = mapping_img[i](C)', shape: `[${B}, ${L}, ${D}]`, meaning: 'the mapped prior, the same row repeated' },
      { tensor: 'v = normalize(g + head_img(S[:, 0]))', shape: `[${B}, ${D}]`, meaning: 'image embedding (unit length)' },
    ];
    return {
      batch: B,
      numTokens: N,
      width: D,
      grid: model.grid,
      kept: L,
      belief: beliefRows.map((r) => Float32Array.from(r)),
      sortedInd: rows2d(trace.sortedInd),
      keptIdx: rows2d(trace.keptIdx),
      initialTokenSimilarity: meanTokenSimilarity(trace.sFiltered),
      rounds,
      embeddingVsGlobal,
      shapes,
    };
  } finally {
    tf.dispose([V, c ?? [], trace as unknown as tf.TensorContainerObject]);
  }
}

/** One row per round: what the round did (for `showTable`). */
export function roundRows(w: { rounds: RoundSummary[] }, initialSimilarity: number): Record<string, number | string>[] {
  const rows: Record<string, number | string>[] = [{ step: 'tokens entering round 1', 'cos(before, after)': '', 'token–token similarity': initialSimilarity, 'max attention (image 0)': '' }];
  for (const r of w.rounds) {
    rows.push({
      step: `after round ${r.round} (SA → CA)`,
      'cos(before, after)': r.meanCosToPrevious,
      'token–token similarity': r.tokenSimilarity,
      'max attention (image 0)': Math.max(...r.attention[0]),
    });
  }
  return rows;
}

/** Where a belief falls: share of the patch belief on key-object, distractor and other cells vs their area. */
export type BeliefOnObjects = {
  image: string;
  /** Belief share on cells covered by key objects (fraction of the patch belief). */
  keyBelief: number;
  /** Fraction of the image area covered by key objects (what a uniform belief would give). */
  keyArea: number;
  distractorBelief: number;
  distractorArea: number;
  /** Belief of the global token 0. */
  globalToken: number;
};

/**
 * Share of the patch-token belief (renormalised over the grid cells) falling on key objects and on
 * distractors, with coverage-weighted cells (`objectCoverageGrid`), next to their area shares.
 */
export function beliefOnObjects(belief: ArrayLike<number>, grid: [number, number], objects: readonly AnnotatedObject[], name: string): BeliefOnObjects {
  const [gh, gw] = grid;
  const offset = belief.length === gh * gw + 1 ? 1 : 0;
  if (belief.length !== gh * gw + offset) throw new Error(`beliefOnObjects(${name}): ${belief.length} beliefs do not fit a ${gh}×${gw} grid`);
  const key = objectCoverageGrid(objects, gh, gw, ['key']);
  const dis = objectCoverageGrid(objects, gh, gw, ['distractor']);
  let total = 0;
  let kb = 0;
  let db = 0;
  let ka = 0;
  let da = 0;
  for (let i = 0; i < gh * gw; i++) {
    const b = Number(belief[offset + i]);
    total += b;
    kb += b * key[i];
    db += b * dis[i];
    ka += key[i];
    da += dis[i];
  }
  const cells = gh * gw;
  return {
    image: name,
    keyBelief: total > 0 ? kb / total : 0,
    keyArea: ka / cells,
    distractorBelief: total > 0 ? db / total : 0,
    distractorArea: da / cells,
    globalToken: offset ? Number(belief[0]) : Number.NaN,
  };
}

/** Hard and soft belief on the same tokens of one batch. */
export interface BeliefModes {
  grid: [number, number];
  /** Hard (PIR): the belief and the kept top-K. */
  hard: { belief: number[][]; keptIdx: number[][] };
  /**
   * Soft (PriorCLIP): per token, the norm of the re-weighted token after the normalisation over the
   * token axis, i.e. the share of the sequence each token keeps. `head`: x·b + x·w; `c20bbe30`: 2·x·b.
   */
  softHead: number[][];
  softC20bbe30: number[][];
  /** The position-indexed weights w = 1/√(1 + sorted_ind) of the HEAD formula. */
  indexWeights: number[][];
  sortedInd: number[][];
}

/** Compute PIR's hard belief and PriorCLIP's two soft formulas from the model's tokens and prior. */
export function beliefModes(model: PirModel, images: tf.Tensor4D, filterSize = model.config.spatialPae.filterSize): BeliefModes {
  return tf.tidy(() => {
    const V = model.imageTokens(images); // [B, N, D]
    const [B, N, D] = V.shape as number[];
    const c = model.priorToken(images) ?? (tf.slice(V, [0, 0, 0], [B, 1, D]) as tf.Tensor3D); // [B, 1, D]
    const belief = tokenBelief(V, c); // [B, N]
    const K = Math.min(filterSize, N);
    const sorted = tf.topk(belief, N).indices; // [B, N] descending
    const head = softBelief(V, c, 'head');
    const first = softBelief(V, c, 'c20bbe30');
    const norms = (t: tf.Tensor3D): number[][] => rows2d(tf.norm(t, 'euclidean', -1)); // [B, N]
    return {
      grid: model.grid,
      hard: { belief: rows2d(belief), keptIdx: rows2d(tf.slice(sorted, [0, 0], [B, K])) },
      softHead: norms(head.tokens),
      softC20bbe30: norms(first.tokens),
      indexWeights: rows2d(head.indexWeights),
      sortedInd: rows2d(head.sortedInd),
    } as unknown as tf.TensorContainerObject;
  }) as unknown as BeliefModes;
}

/** Three belief panels of one image (hard belief with kept tokens; both soft formulas), each scaled to its maximum. */
export function beliefModePanels(m: BeliefModes, image: number): BeliefPanel[] {
  const rel = (row: number[]): number[] => {
    const mx = Math.max(...row);
    return row.map((v) => (mx > 0 ? v / mx : 0));
  };
  return [
    { label: `hard (PIR): belief, top-${m.hard.keptIdx[image].length} kept`, belief: rel(m.hard.belief[image]), keptIdx: m.hard.keptIdx[image] },
    { label: 'soft HEAD: ‖x·b + x·w‖ after token-axis norm', belief: rel(m.softHead[image]) },
    { label: 'soft 20bbe30: ‖2·x·b‖ after token-axis norm', belief: rel(m.softC20bbe30[image]) },
  ];
}

/**
 * The first `n` positions of one image's soft-belief bookkeeping: which token has rank j, its belief,
 * and the weight w[j] = 1/√(1 + sorted_ind[j]) that multiplies token *j* (not the token of rank j).
 */
export function softBeliefRows(m: BeliefModes, image: number, n = 6): Record<string, number>[] {
  return Array.from({ length: Math.min(n, m.sortedInd[image].length) }, (_, j) => ({
    'position j': j,
    'sorted_ind[j] (token of rank j)': m.sortedInd[image][j],
    'belief of that token': m.hard.belief[image][m.sortedInd[image][j]],
    'w[j] (multiplies token j)': m.indexWeights[image][j],
    'belief of token j': m.hard.belief[image][j],
  }));
}
