/**
 * Belief localisation: does the Spatial-PAE's belief fall on the scene-defining objects?
 *
 * The embedded benchmark records every object's box (`dataset.json` → `objects`, role `key` =
 * scene-defining, `distractor` = borrowed from another class). For each test image and each belief
 * rule this file measures, over the token grid (token 0, the global token, is not a cell and is
 * reported apart):
 *
 *   mass(R)     = Σ_j w_j·cov_R(j) / Σ_j w_j        share of the grid belief on cells of role R
 *   area(R)     = Σ_j cov_R(j) / cells              share of the grid those cells cover (= mass of a uniform belief)
 *   ratio(R)    = Σ_images mass(R) / Σ_images area(R)   > 1: the belief concentrates on R; 1: no better than uniform
 *   precision@K = Σ_{j ∈ top-K, j ≥ 1} cov_key(j) / |top-K ∩ grid|   (chance = area(key))
 *
 * `cov_R(j)` ∈ [0, 1] is the fraction of cell j covered by the boxes of role R (`objectCoverageGrid`).
 * The per-token weights `w` of the three rules (`beliefWeights`) are computed from the same tokens V
 * and prior c the model uses:
 * - `hard` (PIR): `b = softmax_j(V_j·c)`; top-K = the K most believed tokens (the ones kept);
 * - `soft-head` / `soft-c20bbe30` (PriorCLIP): the share of the re-weighted sequence each token
 *   keeps, `‖x̃_j‖² / Σ_j ‖x̃_j‖²` with `x̃ = normalize_tokens(x·b + x·w)` resp. `normalize_tokens(2·x·b)`
 *   (`soft_belief.ts`); top-K = the K largest shares.
 * The saturation numbers say how peaked the hard belief is: `effectiveTokens = exp(entropy)` (65 =
 * uniform, 1 = one token holds everything) and the largest single share.
 */
import * as tf from '@tensorflow/tfjs';
import { AnnotatedObject, objectCoverageGrid } from '../data/embedded/annotations';
import { softBelief, tokenBelief } from '../models/soft_belief';

/** The three belief rules measured. */
export const BELIEF_RULES = ['hard', 'soft-head', 'soft-c20bbe30'] as const;
export type BeliefRule = (typeof BELIEF_RULES)[number];

/** Sub-samples per cell side when measuring box coverage (16 points per cell). */
export const COVERAGE_SAMPLES = 4;

/** Object cells of one image: coverage of each grid cell (row-major `[gh · gw]`) by key and distractor boxes. */
export interface ObjectCells {
  key: Float32Array;
  distractor: Float32Array;
}

/** The cells of an image's annotated objects on a `grid`. */
export function objectCells(objects: readonly AnnotatedObject[], grid: [number, number]): ObjectCells {
  return {
    key: objectCoverageGrid(objects, grid[0], grid[1], ['key'], COVERAGE_SAMPLES),
    distractor: objectCoverageGrid(objects, grid[0], grid[1], ['distractor'], COVERAGE_SAMPLES),
  };
}

/** Localisation of one belief on one image. */
export interface ImageLocalisation {
  keyMass: number;
  keyArea: number;
  distractorMass: number;
  distractorArea: number;
  /** Share of the kept grid tokens' cells covered by key objects (NaN when no grid token is kept). */
  topKPrecision: number;
  /** Weight on token 0 (the global token) out of all tokens. */
  globalShare: number;
  /** exp(entropy) of the weights over all tokens. */
  effectiveTokens: number;
  /** Largest single token weight (share of all tokens). */
  maxShare: number;
}

/**
 * Localisation of per-token weights `w` (`[1 + cells]` with token 0 = global, or `[cells]`) given the
 * object cells and the kept token indices (in the same token indexing as `w`).
 */
export function imageLocalisation(w: ArrayLike<number>, cells: ObjectCells, kept: readonly number[]): ImageLocalisation {
  const n = cells.key.length;
  if (cells.distractor.length !== n) throw new Error(`imageLocalisation: key cells (${n}) and distractor cells (${cells.distractor.length}) differ`);
  const offset = w.length === n + 1 ? 1 : 0;
  if (w.length !== n + offset) throw new Error(`imageLocalisation: ${w.length} token weights do not fit ${n} grid cells (expected ${n} or ${n + 1})`);
  let all = 0;
  let grid = 0;
  let km = 0;
  let dm = 0;
  let ka = 0;
  let da = 0;
  let mx = 0;
  for (let t = 0; t < w.length; t++) {
    const v = Number(w[t]);
    if (!(v >= 0) || !Number.isFinite(v)) throw new Error(`imageLocalisation: token weight ${t} is ${v} (expected a finite value ≥ 0)`);
    all += v;
    if (v > mx) mx = v;
  }
  let entropy = 0;
  for (let t = 0; t < w.length; t++) {
    const p = all > 0 ? Number(w[t]) / all : 0;
    if (p > 0) entropy -= p * Math.log(p);
  }
  for (let j = 0; j < n; j++) {
    const v = Number(w[offset + j]);
    grid += v;
    km += v * cells.key[j];
    dm += v * cells.distractor[j];
    ka += cells.key[j];
    da += cells.distractor[j];
  }
  let keptCells = 0;
  let keptKey = 0;
  for (const t of kept) {
    const j = t - offset;
    if (j < 0) continue; // the global token is not a cell
    if (j >= n) throw new Error(`imageLocalisation: kept token ${t} is outside the ${n + offset} tokens`);
    keptCells += 1;
    keptKey += cells.key[j];
  }
  return {
    keyMass: grid > 0 ? km / grid : 0,
    keyArea: ka / n,
    distractorMass: grid > 0 ? dm / grid : 0,
    distractorArea: da / n,
    topKPrecision: keptCells > 0 ? keptKey / keptCells : Number.NaN,
    globalShare: offset && all > 0 ? Number(w[0]) / all : 0,
    effectiveTokens: Math.exp(entropy),
    maxShare: all > 0 ? mx / all : 0,
  };
}

/** Localisation of one rule over a split (see the file comment for each field). */
export interface LocalisationSummary {
  images: number;
  /** Mean over images of the belief share on key cells, and of their area share. */
  keyMass: number;
  keyArea: number;
  /** Σ key mass / Σ key area over the images (1 = no better than uniform). */
  keyRatio: number;
  /** Images with distractors, and the same three numbers over them. */
  distractorImages: number;
  distractorMass: number;
  distractorArea: number;
  distractorRatio: number;
  /** Mean top-K precision, and its chance level (= mean key area). */
  topKPrecision: number;
  topKChance: number;
  /** K used for the top-K precision. */
  k: number;
  globalShare: number;
  effectiveTokens: number;
  maxShare: number;
}

function mean(xs: readonly number[]): number {
  const v = xs.filter((x) => Number.isFinite(x));
  return v.length > 0 ? v.reduce((a, b) => a + b, 0) / v.length : Number.NaN;
}

/** Aggregate per-image localisations of one rule. */
export function summariseLocalisation(per: readonly ImageLocalisation[], k: number): LocalisationSummary {
  const withD = per.filter((p) => p.distractorArea > 0);
  const sum = (xs: readonly ImageLocalisation[], f: (p: ImageLocalisation) => number): number => xs.reduce((a, p) => a + f(p), 0);
  const ka = sum(per, (p) => p.keyArea);
  const da = sum(withD, (p) => p.distractorArea);
  return {
    images: per.length,
    keyMass: mean(per.map((p) => p.keyMass)),
    keyArea: mean(per.map((p) => p.keyArea)),
    keyRatio: ka > 0 ? sum(per, (p) => p.keyMass) / ka : Number.NaN,
    distractorImages: withD.length,
    distractorMass: mean(withD.map((p) => p.distractorMass)),
    distractorArea: mean(withD.map((p) => p.distractorArea)),
    distractorRatio: da > 0 ? sum(withD, (p) => p.distractorMass) / da : Number.NaN,
    topKPrecision: mean(per.map((p) => p.topKPrecision)),
    topKChance: mean(per.map((p) => p.keyArea)),
    k,
    globalShare: mean(per.map((p) => p.globalShare)),
    effectiveTokens: mean(per.map((p) => p.effectiveTokens)),
    maxShare: mean(per.map((p) => p.maxShare)),
  };
}

/** Per-token weights of one image batch under each rule, and the top-K indices (`[B][N]`, `[B][K]`). */
export type RuleWeights = Record<BeliefRule, { weights: number[][]; topK: number[][] }>;

function rows(t: tf.Tensor2D): number[][] {
  const [b, n] = t.shape;
  const d = t.dataSync();
  return Array.from({ length: b }, (_, i) => Array.from(d.subarray(i * n, (i + 1) * n)));
}

function topKOf(w: number[][], k: number): number[][] {
  return w.map((r) => r.map((v, i) => [v, i] as [number, number]).sort((a, b) => b[0] - a[0] || a[1] - b[1]).slice(0, k).map((p) => p[1]));
}

/**
 * The three rules' per-token weights from projected tokens V `[B, N, D]` and prior c `[B, 1, D]`
 * (the model's own `imageTokens` / `priorToken`). Top-K is `k` tokens (clamped to N).
 */
export function beliefWeights(V: tf.Tensor3D, c: tf.Tensor3D, k: number): RuleWeights {
  const N = (V.shape as number[])[1];
  const K = Math.min(k, N);
  const hard = tf.tidy(() => tokenBelief(V, c)); // [B, N]
  const share = (formula: 'head' | 'c20bbe30'): tf.Tensor2D =>
    tf.tidy(() => {
      const tok = softBelief(V, c, formula).tokens; // [B, N, D], unit norm per channel over tokens
      const e = tf.sum(tf.square(tok), -1); // [B, N]
      return tf.div(e, tf.sum(e, -1, true)) as tf.Tensor2D; // share of the sequence's energy
    });
  const head = share('head');
  const first = share('c20bbe30');
  try {
    const wh = rows(hard);
    const ws = rows(head);
    const wf = rows(first);
    return {
      hard: { weights: wh, topK: topKOf(wh, K) },
      'soft-head': { weights: ws, topK: topKOf(ws, K) },
      'soft-c20bbe30': { weights: wf, topK: topKOf(wf, K) },
    };
  } finally {
    hard.dispose();
    head.dispose();
    first.dispose();
  }
}

/** What belief localisation needs from a model (`PirModel` has it). */
export interface BeliefSource {
  readonly grid: [number, number];
  imageTokens(images: tf.Tensor4D): tf.Tensor3D;
  priorToken(images: tf.Tensor4D): tf.Tensor3D | null;
}

/** Whether a model exposes its tokens and prior (the PIR structure). */
export function isBeliefSource(m: object): m is BeliefSource {
  return typeof Reflect.get(m, 'imageTokens') === 'function' && typeof Reflect.get(m, 'priorToken') === 'function' && Array.isArray(Reflect.get(m, 'grid'));
}

/** Belief localisation of every rule over a split. */
export interface BeliefLocalisation {
  /** Which rule the model itself uses (the others are computed from the same V and c). */
  modelRule: BeliefRule | null;
  /** True when the prior is the image's own global token (no prior encoder). */
  selfPrior: boolean;
  grid: [number, number];
  rules: Record<BeliefRule, LocalisationSummary>;
}

/** Options of `measureBeliefLocalisation`. */
export interface BeliefLocalisationOptions {
  /** Top-K size (the model's `filterSize`). */
  k: number;
  /** Images per forward pass. */
  batchSize: number;
  /** The rule the model uses, for the record. */
  modelRule?: BeliefRule | null;
}

/**
 * Belief localisation over images: `images` yields normalised NHWC pixels per image with its
 * objects; every rule is measured on the same tokens.
 */
export async function measureBeliefLocalisation(
  model: BeliefSource,
  items: ReadonlyArray<{ pixels: () => Promise<Float32Array>; objects: readonly AnnotatedObject[] }>,
  imageSize: number,
  opts: BeliefLocalisationOptions,
): Promise<BeliefLocalisation> {
  const per: Record<BeliefRule, ImageLocalisation[]> = { hard: [], 'soft-head': [], 'soft-c20bbe30': [] };
  let selfPrior = false;
  for (let s = 0; s < items.length; s += opts.batchSize) {
    const batch = items.slice(s, s + opts.batchSize);
    const px = await Promise.all(batch.map((b) => b.pixels()));
    const flat = new Float32Array(px.length * imageSize * imageSize * 3);
    px.forEach((p, i) => flat.set(p, i * p.length));
    const images = tf.tensor4d(flat, [px.length, imageSize, imageSize, 3]);
    const V = model.imageTokens(images); // [B, N, D]
    const c0 = model.priorToken(images); // [B, 1, D] or null
    selfPrior = c0 === null;
    const [B, , D] = V.shape as number[];
    const c = c0 ?? (tf.slice(V, [0, 0, 0], [B, 1, D]) as tf.Tensor3D); // the global token stands in
    try {
      const rw = beliefWeights(V, c, opts.k);
      batch.forEach((item, i) => {
        const cells = objectCells(item.objects, model.grid);
        for (const r of BELIEF_RULES) per[r].push(imageLocalisation(rw[r].weights[i], cells, rw[r].topK[i]));
      });
    } finally {
      images.dispose();
      V.dispose();
      c.dispose();
    }
  }
  const k = opts.k;
  return {
    modelRule: opts.modelRule ?? null,
    selfPrior,
    grid: model.grid,
    rules: { hard: summariseLocalisation(per.hard, k), 'soft-head': summariseLocalisation(per['soft-head'], k), 'soft-c20bbe30': summariseLocalisation(per['soft-c20bbe30'], k) },
  };
}

/** Table rows of a localisation (one per rule), labelled (e.g. by checkpoint); empty for null. */
export function localisationRows(label: string, bl: BeliefLocalisation | null): Record<string, string | number>[] {
  if (!bl) return [];
  const f = (v: number, d = 3): number => (Number.isFinite(v) ? Number(v.toFixed(d)) : Number.NaN);
  return BELIEF_RULES.map((r) => {
    const s = bl.rules[r];
    return {
      weights: label,
      rule: r + (bl.modelRule === r ? ' (the model’s)' : ''),
      'key mass': f(s.keyMass),
      'key area': f(s.keyArea),
      'key mass / area': f(s.keyRatio, 2),
      'distractor mass / area': f(s.distractorRatio, 2),
      [`top-${s.k} precision`]: f(s.topKPrecision),
      'chance (key area)': f(s.topKChance),
      'effective tokens': f(s.effectiveTokens, 1),
      'largest share': f(s.maxShare),
    };
  });
}
