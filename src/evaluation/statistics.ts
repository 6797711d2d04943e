/**
 * Intervals for ablation deltas.
 *
 * Two intervals for the Δ mR of a variant against the full model, paired by seed (the variant and
 * the full model of one seed share stage-0/1 runs, data order and test split):
 *
 * 1. **t over seeds** (`pairedTInterval`): the paired deltas d_s = mR(variant, s) − mR(full, s) of
 *    n seeds, mean ± t_{(1+level)/2, n−1} · sd/√n. It treats the test split as fixed and asks
 *    whether the difference is larger than training (seed) noise.
 * 2. **Bootstrap over seeds × test queries** (`bootstrapPairedDelta`): each resample draws n seeds
 *    with replacement and the test images with replacement (an image comes with all its captions:
 *    a cluster bootstrap, because the five captions of an image are not independent queries); the
 *    same draw is applied to the variant and the full model (paired), and Δ mR is recomputed from the
 *    per-query ranks. Percentile interval. It adds the test split's own sampling noise: would the
 *    difference hold on other images from the same generator?
 *
 * `resolvableDifference` turns a paired-delta spread into the smallest mean Δ whose interval
 * excludes 0 (the interval half-width), and the Δ detected with 80 % power.
 */
import { SeedStream } from '../utils/random';

/** Default confidence level. */
export const DEFAULT_LEVEL = 0.95;
/** Default bootstrap resamples. */
export const DEFAULT_RESAMPLES = 2000;
/** Power used by `resolvableDifference`'s detectable difference. */
export const DEFAULT_POWER = 0.8;

/** ln Γ(x) (Lanczos, g = 7, n = 9; |error| < 1e-13 for x > 0). */
function lnGamma(x: number): number {
  const c = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - lnGamma(1 - x);
  const z = x - 1;
  let a = c[0];
  const t = z + 7.5;
  for (let i = 1; i < 9; i++) a += c[i] / (z + i);
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(a);
}

/** Continued fraction of the regularised incomplete beta (modified Lentz). */
function betaCf(a: number, b: number, x: number): number {
  const tiny = 1e-300;
  let c = 1;
  let d = 1 - ((a + b) * x) / (a + 1);
  if (Math.abs(d) < tiny) d = tiny;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 300; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((a + m2 - 1) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (a + b + m) * x) / ((a + m2) * (a + m2 + 1));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < 1e-15) break;
  }
  return h;
}

/** Regularised incomplete beta I_x(a, b). */
function betaInc(a: number, b: number, x: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const front = Math.exp(lnGamma(a + b) - lnGamma(a) - lnGamma(b) + a * Math.log(x) + b * Math.log(1 - x));
  return x < (a + 1) / (a + b + 2) ? (front * betaCf(a, b, x)) / a : 1 - (front * betaCf(b, a, 1 - x)) / b;
}

/** CDF of Student's t with `df` degrees of freedom. */
export function tCdf(t: number, df: number): number {
  if (!(df > 0)) throw new Error(`tCdf: df must be > 0, got ${df}`);
  const x = df / (df + t * t);
  const tail = 0.5 * betaInc(df / 2, 0.5, x);
  return t >= 0 ? 1 - tail : tail;
}

/** Quantile of Student's t: the t with `tCdf(t, df) = p` (bisection, |error| < 1e-10). */
export function tQuantile(p: number, df: number): number {
  if (!(p > 0 && p < 1)) throw new Error(`tQuantile: p must be in (0, 1), got ${p}`);
  let lo = -1e4;
  let hi = 1e4;
  for (let i = 0; i < 200 && hi - lo > 1e-10; i++) {
    const mid = (lo + hi) / 2;
    if (tCdf(mid, df) < p) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

/** A confidence interval. */
export interface Interval {
  mean: number;
  lo: number;
  hi: number;
  level: number;
  method: 't-over-seeds' | 'bootstrap-seeds-x-queries';
  /** Seeds used. */
  n: number;
}

/** Whether an interval lies entirely on one side of 0. */
export function excludesZero(i: Interval | null | undefined): boolean {
  return !!i && Number.isFinite(i.lo) && Number.isFinite(i.hi) && (i.lo > 0 || i.hi < 0);
}

/** Mean and sample sd (n − 1). */
function meanSd(xs: readonly number[]): { mean: number; sd: number } {
  const n = xs.length;
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  const sd = n > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1)) : Number.NaN;
  return { mean, sd };
}

/** t interval of the mean of paired deltas (null with fewer than 2 values). */
export function pairedTInterval(deltas: readonly number[], level = DEFAULT_LEVEL): Interval | null {
  const n = deltas.length;
  if (n < 2) return null;
  const { mean, sd } = meanSd(deltas);
  const h = tQuantile((1 + level) / 2, n - 1) * (sd / Math.sqrt(n));
  return { mean, lo: mean - h, hi: mean + h, level, method: 't-over-seeds', n };
}

/** Per-query ranks of one evaluated run (0-based; `txt2img[t]` = image of caption t). */
export interface QueryRanks {
  i2t: readonly number[];
  t2i: readonly number[];
  txt2img: readonly number[];
}

/** The recall Ks of mR. */
const MR_KS = [1, 5, 10];

/**
 * mR (percent) of ranks over a multiset of images (indices, repeats allowed); t→i uses every
 * caption of each listed image. Without `images`: all images.
 */
export function mRFromRanks(r: QueryRanks, images?: readonly number[], captionsOf?: readonly (readonly number[])[]): number {
  const imgs = images ?? r.i2t.map((_, i) => i);
  const caps = captionsOf ?? captionsByImage(r);
  let s = 0;
  for (const k of MR_KS) {
    let hi = 0;
    let ht = 0;
    let nt = 0;
    for (const i of imgs) {
      if (r.i2t[i] < k) hi += 1;
      for (const t of caps[i]) {
        nt += 1;
        if (r.t2i[t] < k) ht += 1;
      }
    }
    s += (100 * hi) / imgs.length + (nt > 0 ? (100 * ht) / nt : 0);
  }
  return s / 6;
}

/** Caption indices of every image. */
export function captionsByImage(r: QueryRanks): number[][] {
  const out: number[][] = r.i2t.map(() => []);
  r.txt2img.forEach((i, t) => {
    if (!(i >= 0 && i < out.length)) throw new Error(`captionsByImage: txt2img[${t}] = ${i} is not one of the ${out.length} images`);
    out[i].push(t);
  });
  return out;
}

/** One seed's pair of evaluated runs on the same test split. */
export interface RankPair {
  seed: number;
  full: QueryRanks;
  variant: QueryRanks;
}

/** Options of `bootstrapPairedDelta`. */
export interface BootstrapOptions {
  resamples?: number;
  level?: number;
  /** Seed of the resampling stream (default 0: the interval is reproducible). */
  seed?: number;
}

/**
 * Percentile bootstrap of the paired Δ mR over seeds × test images (see the file comment). Null
 * with fewer than 2 seeds (a single seed has no seed noise to resample).
 */
export function bootstrapPairedDelta(pairs: readonly RankPair[], opts: BootstrapOptions = {}): Interval | null {
  const n = pairs.length;
  if (n < 2) return null;
  const I = pairs[0].full.i2t.length;
  for (const p of pairs) {
    for (const r of [p.full, p.variant]) {
      if (r.i2t.length !== I || r.t2i.length !== pairs[0].full.t2i.length) {
        throw new Error(`bootstrapPairedDelta: seed ${p.seed} has ${r.i2t.length} images / ${r.t2i.length} captions, seed ${pairs[0].seed} ${I} / ${pairs[0].full.t2i.length} (not the same test split)`);
      }
    }
  }
  const caps = captionsByImage(pairs[0].full);
  const B = opts.resamples ?? DEFAULT_RESAMPLES;
  const level = opts.level ?? DEFAULT_LEVEL;
  const rng = new SeedStream(opts.seed ?? 0).child('bootstrap');
  const deltas = new Float64Array(B);
  const imgs = new Array<number>(I);
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < I; i++) imgs[i] = rng.int(I);
    let s = 0;
    for (let k = 0; k < n; k++) {
      const p = pairs[rng.int(n)];
      s += mRFromRanks(p.variant, imgs, caps) - mRFromRanks(p.full, imgs, caps);
    }
    deltas[b] = s / n;
  }
  deltas.sort();
  const q = (f: number): number => deltas[Math.min(B - 1, Math.max(0, Math.floor(f * B)))];
  const mean = pairs.reduce((a, p) => a + mRFromRanks(p.variant) - mRFromRanks(p.full), 0) / n;
  return { mean, lo: q((1 - level) / 2), hi: q((1 + level) / 2), level, method: 'bootstrap-seeds-x-queries', n };
}

/**
 * Percentile bootstrap of one run pair's Δ mR over test images only (the test split's share of
 * the noise, seed held fixed): its half-width says what the split itself can resolve.
 */
export function bootstrapQueriesOnly(full: QueryRanks, variant: QueryRanks, opts: BootstrapOptions = {}): Interval & { sd: number } {
  const I = full.i2t.length;
  const caps = captionsByImage(full);
  const B = opts.resamples ?? DEFAULT_RESAMPLES;
  const level = opts.level ?? DEFAULT_LEVEL;
  const rng = new SeedStream(opts.seed ?? 0).child('bootstrap-queries');
  const deltas = new Float64Array(B);
  const imgs = new Array<number>(I);
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < I; i++) imgs[i] = rng.int(I);
    deltas[b] = mRFromRanks(variant, imgs, caps) - mRFromRanks(full, imgs, caps);
  }
  const { sd } = meanSd(Array.from(deltas));
  deltas.sort();
  const q = (f: number): number => deltas[Math.min(B - 1, Math.max(0, Math.floor(f * B)))];
  return { mean: mRFromRanks(variant) - mRFromRanks(full), lo: q((1 - level) / 2), hi: q((1 + level) / 2), level, method: 'bootstrap-seeds-x-queries', n: 1, sd };
}

/** What a paired-delta spread can resolve with n seeds. */
export interface Resolvable {
  /** Seeds. */
  n: number;
  /** sd of the paired deltas used. */
  sd: number;
  /** Interval half-width: the smallest |mean Δ| whose interval excludes 0. */
  halfWidth: number;
  /** True Δ found (interval excluding 0) with probability `power` (normal approximation on the t quantiles). */
  detectable: number;
  level: number;
  power: number;
}

/** Smallest resolvable mean paired Δ with `n` seeds given the sd of the paired deltas. */
export function resolvableDifference(sd: number, n: number, level = DEFAULT_LEVEL, power = DEFAULT_POWER): Resolvable {
  if (!(n >= 2)) throw new Error(`resolvableDifference: need n ≥ 2 seeds, got ${n}`);
  const se = sd / Math.sqrt(n);
  const ta = tQuantile((1 + level) / 2, n - 1);
  const tb = tQuantile(power, n - 1);
  return { n, sd, halfWidth: ta * se, detectable: (ta + tb) * se, level, power };
}
