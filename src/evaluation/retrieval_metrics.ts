/**
 * Image–text retrieval metrics, computed in chunks (method.md §5, golden README §6, style.md §4.6).
 *
 * - Image→text (i2t): query = image, candidates = all T captions; a hit at K if ANY of the image's
 *   captions is in the top K. Rank = best (smallest) 0-based rank over its captions.
 * - Text→image (t2i): query = caption, candidates = all I images; rank of its single image.
 * - `R@K = 100 · mean(hit@K)`, `mR` = mean of the six values I→T R@1/5/10, T→I R@1/5/10.
 *   Values are NOT rounded (the references round to 2 decimals for display).
 * - Recall curves R@K for K = 1…N (N = candidates) come from the same per-query hits as the table,
 *   so the curves and the table always agree. Mean and median rank are 1-based (MedR convention).
 *
 * **Chunking.** The I×T score matrix is never held: images are scored against all texts
 * `chunkSize` rows at a time (i2t: rows of `V·Tᵀ`), and texts against all images (t2i: rows of
 * `T·Vᵀ`). Each query's full row is available in one block, so every tie rule (including the exact
 * reference emulations) is evaluated on complete rows. Memory: `chunkSize × max(I, T)` floats.
 *
 * **Tie rules** (`TieRule`): ties only matter when a positive's score equals a non-positive's score.
 * - `'pessimistic'` (DEFAULT): every non-positive tied with the best positive is ranked ahead of it.
 *   Chosen because it can never overstate retrieval quality: a collapsed model (all scores equal)
 *   gets R@1 ≈ 0 instead of 100 %, and a score-quantising backend cannot inflate numbers.
 * - `'optimistic'`: rank = number of candidates scoring strictly higher.
 * - `'pir-argsort'`: PIR `itm_eval`: position in `np.argsort(scores)[::-1]` (numpy 1.24 default
 *   quicksort). Reproduced EXACTLY for any size by porting numpy's introsort (`sort_emulation.ts`).
 * - `'clip-topk'`: CLIP_benchmark `recall_at_k` (PriorCLIP `retrieval.py`): hit@K = a positive is
 *   in `torch.topk(scores, K)`; torch 1.13 CPU selection order reproduced by porting libstdc++'s
 *   nth_element/partial_sort. hit@K is then not necessarily monotone in K; the reported rank
 *   (mean/median) is the smallest K with a hit, minus 1.
 * On tie-free data all four rules give identical results.
 */
import * as tf from '@tensorflow/tfjs';
import { numpyArgsort, torchTopkIndices } from './sort_emulation';

/** How ties between a positive and a non-positive are resolved (see the file comment). */
export type TieRule = 'pessimistic' | 'optimistic' | 'pir-argsort' | 'clip-topk';

/** All tie rules. */
export const TIE_RULES: readonly TieRule[] = ['pessimistic', 'optimistic', 'pir-argsort', 'clip-topk'];

/** Default tie rule (never overstates; see the file comment). */
export const DEFAULT_TIE_RULE: TieRule = 'pessimistic';

/** Default budget of one score block, in float32 elements (64 MB). */
export const DEFAULT_CHUNK_ELEMENTS = 1 << 24;

/** The K values of the standard table. */
export const TABLE_KS: readonly number[] = [1, 5, 10];

/** Recall at 1, 5, 10 (percent). */
export interface RecallTriple {
  r1: number;
  r5: number;
  r10: number;
}

/** One direction's summary. */
export interface DirectionSummary {
  /** R@K (percent) for every K requested in `ks` (keys are K as strings). */
  recallAt: Record<string, number>;
  /** Mean 1-based rank of the (best) positive. */
  meanRank: number;
  /** Median 1-based rank (MedR). */
  medianRank: number;
  /** Queries whose result depends on the tie rule (a non-positive ties with the best positive). */
  tiedQueries: number;
}

/** Per-class breakdown (images of the class as i2t queries, their captions as t2i queries). */
export interface ClassMetrics {
  className: string;
  numImages: number;
  numTexts: number;
  i2t: RecallTriple;
  t2i: RecallTriple;
  mR: number;
}

/** Result of `retrievalMetrics`. */
export interface RetrievalMetrics {
  i2t: RecallTriple;
  t2i: RecallTriple;
  /** Mean of the six recalls (percent, unrounded). */
  mR: number;
  tieRule: TieRule;
  numImages: number;
  numTexts: number;
  details: { i2t: DirectionSummary; t2i: DirectionSummary };
  /** R@K for K = 1…min(N, curveMaxK): `curves.i2t[K-1]` (percent). */
  curves: { i2t: number[]; t2i: number[] };
  /** Per-class breakdown, when `imageClasses` was given. */
  perClass?: ClassMetrics[];
  /** Per-query 0-based ranks under the rule, when `keepRanks` is set. */
  ranks?: { i2t: Int32Array; t2i: Int32Array };
  /** Per-query hits at the table Ks (1/0), when `keepRanks` is set: `hits.i2t[q * ks.length + j]`. */
  hits?: { ks: number[]; i2t: Uint8Array; t2i: Uint8Array };
}

/** Options of `retrievalMetrics`. */
export interface RetrievalOptions {
  /** Tie rule (default `DEFAULT_TIE_RULE`). */
  tieRule?: TieRule;
  /** Query rows per score block (default: `DEFAULT_CHUNK_ELEMENTS / candidates`). */
  chunkSize?: number;
  /** Extra K values for `details.*.recallAt` (1, 5, 10 are always included). */
  ks?: number[];
  /** Longest recall curve to return (default: all N). */
  curveMaxK?: number;
  /** Scene-class index per image (−1 = none) for the per-class breakdown. */
  imageClasses?: Int32Array | number[];
  /** Class names, indexed by `imageClasses`. */
  classNames?: string[];
  /** Return the per-query ranks and hits. */
  keepRanks?: boolean;
  /** Called after every block with (done, total) query rows over both directions. */
  onProgress?: (done: number, total: number) => void;
}

/** Row-block access to the I×T score matrix (scores of image i for text t). */
export interface ScoreSource {
  readonly numImages: number;
  readonly numTexts: number;
  /** Scores of images [start, end) against all texts: row-major [end − start, T]. */
  imageRows(start: number, end: number): Float32Array;
  /** Scores of texts [start, end) against all images: row-major [end − start, I]. */
  textRows(start: number, end: number): Float32Array;
  /** Release resources (tensors). */
  dispose(): void;
}

/** A full score matrix already in memory (e.g. a fixture): `sims[i * T + t]`. */
export function matrixScores(sims: Float32Array, numImages: number, numTexts: number): ScoreSource {
  if (sims.length !== numImages * numTexts) {
    throw new Error(`matrixScores: sims has ${sims.length} values, expected ${numImages}×${numTexts}`);
  }
  return {
    numImages,
    numTexts,
    imageRows: (s, e) => sims.subarray(s * numTexts, e * numTexts),
    textRows: (s, e) => {
      const out = new Float32Array((e - s) * numImages); // [e − s, I]
      for (let t = s; t < e; t++) for (let i = 0; i < numImages; i++) out[(t - s) * numImages + i] = sims[i * numTexts + t];
      return out;
    },
    dispose: () => undefined,
  };
}

/**
 * Scores from embeddings by matmul on the active tfjs backend: image rows are `V[s:e]·Tᵀ`,
 * text rows `T[s:e]·Vᵀ`. The embeddings are uploaded once, TRANSPOSED (`[E, N]`: a plain
 * `[c, E]·[E, N]` matmul measured 1.4× faster on wasm than `matMul(…, transposeB)` for a 335×512·(50000×512)ᵀ block); each block is
 * computed, downloaded and disposed.
 */
export function embeddingScores(imageEmb: Float32Array, textEmb: Float32Array, dim: number): ScoreSource {
  if (!(dim > 0) || imageEmb.length % dim !== 0 || textEmb.length % dim !== 0) {
    throw new Error(`embeddingScores: embedding lengths ${imageEmb.length}, ${textEmb.length} are not multiples of dim ${dim}`);
  }
  const numImages = imageEmb.length / dim;
  const numTexts = textEmb.length / dim;
  const vT = tf.tidy(() => tf.transpose(tf.tensor2d(imageEmb, [numImages, dim]))) as tf.Tensor2D; // [E, I]
  const tT = tf.tidy(() => tf.transpose(tf.tensor2d(textEmb, [numTexts, dim]))) as tf.Tensor2D; // [E, T]
  const block = (queriesT: tf.Tensor2D, s: number, e: number, candidatesT: tf.Tensor2D): Float32Array => {
    const out = tf.tidy(() => {
      const q = tf.transpose(tf.slice(queriesT, [0, s], [dim, e - s])); // [E, e − s] → [e − s, E]
      return tf.matMul(q, candidatesT); // [e − s, E]·[E, N] → [e − s, N]
    });
    const data = out.dataSync() as Float32Array;
    out.dispose();
    return data;
  };
  return {
    numImages,
    numTexts,
    imageRows: (s, e) => block(vT, s, e, tT),
    textRows: (s, e) => block(tT, s, e, vT),
    dispose: () => {
      vT.dispose();
      tT.dispose();
    },
  };
}

/** Per-direction accumulator of ranks and hits. */
class DirectionAccumulator {
  readonly ranks: Int32Array;
  readonly tableHits: Uint8Array;
  /** diff[K] += 1 when the query hits for every K' ≥ K (K 1-based, up to curveLen + 1). */
  private readonly diff: Float64Array;
  /** Explicit hits at ambiguous K (clip-topk): extra[K] += 1. */
  private readonly extra: Float64Array;
  tied = 0;

  constructor(
    readonly numQueries: number,
    readonly numCandidates: number,
    readonly ks: number[],
    readonly curveLen: number,
    readonly rule: TieRule,
  ) {
    this.ranks = new Int32Array(numQueries);
    this.tableHits = new Uint8Array(numQueries * ks.length);
    this.diff = new Float64Array(numCandidates + 2);
    this.extra = new Float64Array(numCandidates + 2);
  }

  /**
   * Score one query: `row` holds its scores for all candidates, `positives` its positive candidates.
   */
  add(q: number, row: Float32Array, positives: readonly number[], where: string): void {
    const n = row.length;
    let p = -Infinity;
    for (const j of positives) {
      const s = row[j];
      if (s !== s) throw new Error(`retrievalMetrics: NaN score for ${where} query ${q}, candidate ${j}`);
      if (s > p) p = s;
    }
    let greater = 0;
    let equal = 0; // candidates (positive or not) scoring exactly p
    for (let j = 0; j < n; j++) {
      const s = row[j];
      if (s > p) greater++;
      else if (s === p) equal++;
      else if (s !== s) throw new Error(`retrievalMetrics: NaN score for ${where} query ${q}, candidate ${j}`);
    }
    let equalPos = 0;
    for (const j of positives) if (row[j] === p) equalPos++;
    const equalNeg = equal - equalPos;
    if (equalNeg > 0) this.tied++;
    let rank: number;
    if (equalNeg === 0 || this.rule === 'optimistic') rank = greater;
    else if (this.rule === 'pessimistic') rank = greater + equalNeg;
    else if (this.rule === 'pir-argsort') {
      const desc = numpyArgsort(row); // ascending; reversed below (np.argsort(x)[::-1])
      const isPos = new Set(positives);
      rank = n;
      for (let r = 0; r < n; r++) {
        if (isPos.has(desc[n - 1 - r])) {
          rank = r;
          break;
        }
      }
    } else {
      // clip-topk: certain miss for K ≤ greater, certain hit for K ≥ greater + equal; emulate between.
      const isPos = new Set(positives);
      rank = -1;
      const kLimit = Math.min(greater + equal - 1, Math.max(this.curveLen, ...this.ks));
      for (let k = greater + 1; k <= kLimit; k++) {
        const top = torchTopkIndices(row, k);
        let hit = false;
        for (let m = 0; m < top.length && !hit; m++) hit = isPos.has(top[m]);
        if (hit) {
          if (rank < 0) rank = k - 1;
          if (k <= this.curveLen) this.extra[k] += 1;
        }
        for (let j = 0; j < this.ks.length; j++) if (this.ks[j] === k && hit) this.tableHits[q * this.ks.length + j] = 1;
      }
      if (rank < 0) rank = greater + equal - 1;
      this.ranks[q] = rank;
      this.diff[Math.min(greater + equal, this.numCandidates + 1)] += 1;
      for (let j = 0; j < this.ks.length; j++) if (this.ks[j] >= greater + equal) this.tableHits[q * this.ks.length + j] = 1;
      return;
    }
    this.ranks[q] = rank;
    this.diff[Math.min(rank + 1, this.numCandidates + 1)] += 1; // hit for every K > rank
    for (let j = 0; j < this.ks.length; j++) if (this.ks[j] > rank) this.tableHits[q * this.ks.length + j] = 1;
  }

  /** R@K (percent) for K = 1…curveLen. */
  curve(): number[] {
    const out: number[] = [];
    let running = 0;
    for (let k = 1; k <= this.curveLen; k++) {
      running += this.diff[k];
      out.push((100 * (running + this.extra[k])) / this.numQueries);
    }
    return out;
  }

  /** Table recall at `ks[j]` over a subset of queries (all when `subset` is omitted). */
  recallAt(j: number, subset?: readonly number[]): number {
    const nk = this.ks.length;
    let hits = 0;
    if (subset) {
      for (const q of subset) hits += this.tableHits[q * nk + j];
      return subset.length === 0 ? NaN : (100 * hits) / subset.length;
    }
    for (let q = 0; q < this.numQueries; q++) hits += this.tableHits[q * nk + j];
    return (100 * hits) / this.numQueries;
  }

  summary(): DirectionSummary {
    const recallAt: Record<string, number> = {};
    this.ks.forEach((k, j) => (recallAt[String(k)] = this.recallAt(j)));
    const sorted = Float64Array.from(this.ranks).sort();
    let sum = 0;
    for (const r of sorted) sum += r + 1;
    const m = sorted.length;
    const median = m % 2 === 1 ? sorted[(m - 1) / 2] + 1 : (sorted[m / 2 - 1] + sorted[m / 2]) / 2 + 1;
    return { recallAt, meanRank: sum / m, medianRank: median, tiedQueries: this.tied };
  }
}

function triple(acc: DirectionAccumulator, subset?: readonly number[]): RecallTriple {
  return { r1: acc.recallAt(0, subset), r5: acc.recallAt(1, subset), r10: acc.recallAt(2, subset) };
}

function meanOfSix(a: RecallTriple, b: RecallTriple): number {
  return (a.r1 + a.r5 + a.r10 + b.r1 + b.r5 + b.r10) / 6;
}

function rowsPerChunk(opts: RetrievalOptions, candidates: number): number {
  if (opts.chunkSize !== undefined) {
    if (!(Number.isInteger(opts.chunkSize) && opts.chunkSize >= 1)) throw new Error(`retrievalMetrics: chunkSize must be a positive integer, got ${opts.chunkSize}`);
    return opts.chunkSize;
  }
  return Math.max(1, Math.floor(DEFAULT_CHUNK_ELEMENTS / Math.max(1, candidates)));
}

/** Metrics from a `ScoreSource` (the engine behind `retrievalMetrics`). */
export function retrievalMetricsFromScores(src: ScoreSource, txt2img: Int32Array | readonly number[], opts: RetrievalOptions = {}): RetrievalMetrics {
  const rule = opts.tieRule ?? DEFAULT_TIE_RULE;
  if (!TIE_RULES.includes(rule)) throw new Error(`retrievalMetrics: unknown tieRule '${rule}' (use ${TIE_RULES.join(', ')})`);
  const I = src.numImages;
  const T = src.numTexts;
  if (txt2img.length !== T) throw new Error(`retrievalMetrics: txt2img has ${txt2img.length} entries for ${T} texts`);
  if (I === 0 || T === 0) throw new Error(`retrievalMetrics: need at least one image and one text (got ${I}, ${T})`);
  const img2txt: number[][] = Array.from({ length: I }, () => []);
  for (let t = 0; t < T; t++) {
    const i = txt2img[t];
    if (!(Number.isInteger(i) && i >= 0 && i < I)) throw new Error(`retrievalMetrics: txt2img[${t}] = ${i} is not an image index in [0, ${I})`);
    img2txt[i].push(t);
  }
  img2txt.forEach((ts, i) => {
    if (ts.length === 0) throw new Error(`retrievalMetrics: image ${i} has no caption (every image must own ≥ 1 text for image→text)`);
  });
  const ks = [...new Set([...TABLE_KS, ...(opts.ks ?? [])])];
  ks.forEach((k) => {
    if (!(Number.isInteger(k) && k >= 1)) throw new Error(`retrievalMetrics: K must be a positive integer, got ${k}`);
  });
  const curveMax = opts.curveMaxK ?? Infinity;
  const i2t = new DirectionAccumulator(I, T, ks, Math.min(T, curveMax), rule);
  const t2i = new DirectionAccumulator(T, I, ks, Math.min(I, curveMax), rule);
  const total = I + T;
  let done = 0;
  const ci = rowsPerChunk(opts, T);
  for (let s = 0; s < I; s += ci) {
    const e = Math.min(I, s + ci);
    const block = src.imageRows(s, e); // [e − s, T]
    for (let i = s; i < e; i++) i2t.add(i, block.subarray((i - s) * T, (i - s + 1) * T), img2txt[i], 'image→text');
    done += e - s;
    opts.onProgress?.(done, total);
  }
  const ct = rowsPerChunk(opts, I);
  const single = [0];
  for (let s = 0; s < T; s += ct) {
    const e = Math.min(T, s + ct);
    const block = src.textRows(s, e); // [e − s, I]
    for (let t = s; t < e; t++) {
      single[0] = txt2img[t];
      t2i.add(t, block.subarray((t - s) * I, (t - s + 1) * I), single, 'text→image');
    }
    done += e - s;
    opts.onProgress?.(done, total);
  }
  const a = triple(i2t);
  const b = triple(t2i);
  const out: RetrievalMetrics = {
    i2t: a,
    t2i: b,
    mR: meanOfSix(a, b),
    tieRule: rule,
    numImages: I,
    numTexts: T,
    details: { i2t: i2t.summary(), t2i: t2i.summary() },
    curves: { i2t: i2t.curve(), t2i: t2i.curve() },
  };
  if (opts.imageClasses) {
    const cls = opts.imageClasses;
    if (cls.length !== I) throw new Error(`retrievalMetrics: imageClasses has ${cls.length} entries for ${I} images`);
    const names = opts.classNames ?? [];
    const byClass = new Map<number, { imgs: number[]; txts: number[] }>();
    for (let i = 0; i < I; i++) {
      const c = cls[i];
      if (c < 0) continue;
      if (!byClass.has(c)) byClass.set(c, { imgs: [], txts: [] });
      const g = byClass.get(c)!;
      g.imgs.push(i);
      g.txts.push(...img2txt[i]);
    }
    out.perClass = [...byClass.keys()]
      .sort((x, y) => x - y)
      .map((c) => {
        const g = byClass.get(c)!;
        const ca = triple(i2t, g.imgs);
        const cb = triple(t2i, g.txts);
        return { className: names[c] ?? `class ${c}`, numImages: g.imgs.length, numTexts: g.txts.length, i2t: ca, t2i: cb, mR: meanOfSix(ca, cb) };
      });
  }
  if (opts.keepRanks) {
    out.ranks = { i2t: i2t.ranks, t2i: t2i.ranks };
    out.hits = { ks, i2t: i2t.tableHits, t2i: t2i.tableHits };
  }
  return out;
}

/**
 * Retrieval metrics from L2-normalised embeddings (cosine = dot product).
 *
 * @param imageEmb row-major [I, E]
 * @param textEmb row-major [T, E]; E is read as `textEmb.length / txt2img.length`
 * @param txt2img index of the image owning each text
 */
export function retrievalMetrics(
  imageEmb: Float32Array,
  textEmb: Float32Array,
  txt2img: Int32Array | readonly number[],
  opts: RetrievalOptions = {},
): RetrievalMetrics {
  const T = txt2img.length;
  if (T === 0 || textEmb.length % T !== 0) throw new Error(`retrievalMetrics: textEmb length ${textEmb.length} is not a multiple of ${T} texts`);
  const dim = textEmb.length / T;
  const src = embeddingScores(imageEmb, textEmb, dim);
  try {
    return retrievalMetricsFromScores(src, txt2img, opts);
  } finally {
    src.dispose();
  }
}

/** Metrics from a full score matrix `sims[i * T + t]` (fixtures, external scores). */
export function retrievalMetricsFromMatrix(
  sims: Float32Array,
  numImages: number,
  txt2img: Int32Array | readonly number[],
  opts: RetrievalOptions = {},
): RetrievalMetrics {
  return retrievalMetricsFromScores(matrixScores(sims, numImages, txt2img.length), txt2img, opts);
}

/** The usual one-line summary, e.g. for logs: `I→T 12.3/34.5/56.7  T→I …  mR 33.3`. */
export function formatMetrics(m: RetrievalMetrics): string {
  const f = (x: number) => x.toFixed(2);
  return `I→T R@1/5/10 ${f(m.i2t.r1)}/${f(m.i2t.r5)}/${f(m.i2t.r10)}  T→I R@1/5/10 ${f(m.t2i.r1)}/${f(m.t2i.r5)}/${f(m.t2i.r10)}  mR ${f(m.mR)}  (ties: ${m.tieRule})`;
}
