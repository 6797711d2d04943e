/**
 * How large the fine test split must be for a paired 1-mR difference to be resolvable.
 *
 * Model (a binomial argument, calibrated on the kit's own measurement):
 * - Two runs compared on the same test split differ query by query: per query and K, each run's
 *   hit is Bernoulli(p); the paired Δ of a recall is a mean of per-query differences, so its
 *   spread over seeds scales as √(p(1−p)/N) for N test images (5N caption queries for t→i).
 * - The constant is not guessed but calibrated: the paper suite on v1 (N = 90 test images,
 *   3 seeds, README table) gives the spread of the paired Δ of the 11 variants whose mean Δ was
 *   within noise; their pooled standard deviation is `V1_PAIRED_DELTA_STD` at `V1_TEST_IMAGES`.
 * - Then σ(N) = σ_v1 · √(N_v1 / N) · s(p) / s(p_v1), with s(p) the mean of √(p(1−p)) over the six
 *   recalls, and the 95 % t-interval of the mean paired Δ over S seeds has half-width
 *   t(0.975, S−1) · σ(N) / √S.
 * Honest limits: it assumes the seed-to-seed spread is query-level flips (a per-run component that
 * does not shrink with N would need more seeds, not more images), and v2's recalls are unknown
 * before it is trained: `WORST_CASE_RECALLS` (every recall at 50 %, the largest p(1−p)) sizes the
 * split; the v1 recalls give the optimistic figure beside it.
 */

/** Test images of v1's split (18 classes × 5). */
export const V1_TEST_IMAGES = 90;
/**
 * Pooled std (mR points) of the paired Δ (variant − full, same seed) over the 11 within-noise
 * variants of v1's paper suite (3 seeds each; README table: 1.66, 0.95, 2.65, 2.21, 0.97, 1.36,
 * 0.84, 0.81, 2.15, 2.68, 1.85 → root mean square 1.78).
 */
export const V1_PAIRED_DELTA_STD = Math.sqrt(
  [1.66, 0.95, 2.65, 2.21, 0.97, 1.36, 0.84, 0.81, 2.15, 2.68, 1.85].reduce((a, v) => a + v * v, 0) / 11,
);
/** The full model's recalls on v1 (fractions; i→t R@1/5/10 then t→i R@1/5/10; README table). */
export const V1_FULL_RECALLS: readonly number[] = [0.1926, 0.5889, 0.8259, 0.1652, 0.8044, 0.9304];
/** Every recall at 50 %: the largest per-query variance, used to size the split. */
export const WORST_CASE_RECALLS: readonly number[] = [0.5, 0.5, 0.5, 0.5, 0.5, 0.5];

/** Two-sided 97.5 % quantiles of Student's t for df = 1..10. */
const T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228];

/** t(0.975, df). */
export function tQuantile975(df: number): number {
  if (!Number.isInteger(df) || df < 1) throw new Error(`tQuantile975: df must be a positive integer, got ${df}`);
  return df <= T975.length ? T975[df - 1] : 1.96 + 2.4 / df;
}

/** Mean of √(p(1−p)) over recalls. */
function spread(recalls: readonly number[]): number {
  if (recalls.length === 0 || recalls.some((p) => !(p >= 0 && p <= 1))) throw new Error(`spread: recalls must be fractions in [0, 1], got ${recalls.join(', ')}`);
  return recalls.reduce((a, p) => a + Math.sqrt(p * (1 - p)), 0) / recalls.length;
}

/** Predicted std (mR points) of one seed's paired Δ on a test split of `testImages` images. */
export function pairedDeltaStd(testImages: number, recalls: readonly number[] = WORST_CASE_RECALLS): number {
  if (!(testImages > 0)) throw new Error(`pairedDeltaStd: testImages must be positive, got ${testImages}`);
  return V1_PAIRED_DELTA_STD * Math.sqrt(V1_TEST_IMAGES / testImages) * (spread(recalls) / spread(V1_FULL_RECALLS));
}

/** Half-width (mR points) of the 95 % t-interval of the mean paired Δ over `seeds` seeds. */
export function pairedDeltaHalfWidth(testImages: number, seeds: number, recalls: readonly number[] = WORST_CASE_RECALLS): number {
  return (tQuantile975(seeds - 1) * pairedDeltaStd(testImages, recalls)) / Math.sqrt(seeds);
}

/** Smallest test split (images) whose 95 % half-width over `seeds` seeds is ≤ `targetMr`. */
export function requiredTestImages(targetMr: number, seeds: number, recalls: readonly number[] = WORST_CASE_RECALLS): number {
  const k = tQuantile975(seeds - 1) / Math.sqrt(seeds);
  const sigmaAt1 = pairedDeltaStd(1, recalls);
  return Math.ceil(((k * sigmaAt1) / targetMr) ** 2);
}
