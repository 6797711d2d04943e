/**
 * Deterministic 2-D UMAP of embeddings (umap-js), seeded through a `SeedStream`: the same seed and
 * points give bit-identical coordinates (umap-js's only randomness is its `random` option).
 * Save the returned coordinates with the figure, so restyling never re-runs UMAP (style.md §4.7).
 */
import { UMAP } from 'umap-js';
import { SeedStream } from '../utils/random';

/** Distance used for the neighbour graph. */
export type UmapMetric = 'cosine' | 'euclidean';

/** UMAP options (umap-js defaults in brackets). */
export interface UmapOptions {
  /** Root seed of the projection's SeedStream. */
  seed: number;
  /** Neighbourhood size [15]; clamped to n − 1 for small inputs. */
  nNeighbors?: number;
  /** Minimum distance between embedded points [0.1]. */
  minDist?: number;
  /** Optimisation epochs [umap-js: 500 for < 10k points]; 200 is a good fast choice. */
  nEpochs?: number;
  /** Output dimensions [2]. */
  nComponents?: number;
  /** Neighbour metric ['cosine', natural for L2-normalised embeddings]. */
  metric?: UmapMetric;
}

/** Default neighbourhood size. */
export const DEFAULT_UMAP_NEIGHBORS = 15;
/** Default minimum distance. */
export const DEFAULT_UMAP_MIN_DIST = 0.1;
/** Default number of epochs (faster than umap-js's 500, visually converged for a few thousand points). */
export const DEFAULT_UMAP_EPOCHS = 200;

function cosineDistance(x: number[], y: number[]): number {
  let dot = 0;
  let nx = 0;
  let ny = 0;
  for (let i = 0; i < x.length; i++) {
    dot += x[i] * y[i];
    nx += x[i] * x[i];
    ny += y[i] * y[i];
  }
  const denom = Math.sqrt(nx * ny);
  return denom > 0 ? 1 - dot / denom : 1;
}

function euclidean(x: number[], y: number[]): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) {
    const d = x[i] - y[i];
    s += d * d;
  }
  return Math.sqrt(s);
}

/**
 * Project `points` (row-major [n, dim]) to `nComponents` dimensions.
 * @returns row-major Float32Array [n, nComponents]
 */
export function projectUmap(points: Float32Array, dim: number, opts: UmapOptions): Float32Array {
  if (!(Number.isInteger(dim) && dim > 0) || points.length % dim !== 0) {
    throw new Error(`projectUmap: ${points.length} values are not a whole number of ${dim}-d points`);
  }
  const n = points.length / dim;
  const k = opts.nComponents ?? 2;
  if (n < 3) throw new Error(`projectUmap: need at least 3 points, got ${n}`);
  for (let i = 0; i < points.length; i++) {
    if (!Number.isFinite(points[i])) throw new Error(`projectUmap: point ${Math.floor(i / dim)} has a non-finite value`);
  }
  const rows: number[][] = [];
  for (let r = 0; r < n; r++) rows.push(Array.from(points.subarray(r * dim, (r + 1) * dim)));
  const umap = new UMAP({
    nComponents: k,
    nNeighbors: Math.min(opts.nNeighbors ?? DEFAULT_UMAP_NEIGHBORS, n - 1),
    minDist: opts.minDist ?? DEFAULT_UMAP_MIN_DIST,
    nEpochs: opts.nEpochs ?? DEFAULT_UMAP_EPOCHS,
    random: new SeedStream(opts.seed).child('umap').asFunction(),
    distanceFn: (opts.metric ?? 'cosine') === 'cosine' ? cosineDistance : euclidean,
  });
  const out = umap.fit(rows);
  const flat = new Float32Array(n * k);
  out.forEach((row, r) => row.forEach((v, c) => (flat[r * k + c] = v)));
  return flat;
}

/**
 * One joint UMAP of image and caption embeddings (same width `dim`), split back into the two sets:
 * what `umapClustersFigure` (src/plotting/figures/umap_clusters.ts) takes.
 */
export function projectImageTextUmap(
  imageEmb: Float32Array,
  textEmb: Float32Array,
  dim: number,
  opts: UmapOptions,
): { imageXY: Float32Array; textXY: Float32Array } {
  if (imageEmb.length % dim !== 0 || textEmb.length % dim !== 0) {
    throw new Error(`projectImageTextUmap: embeddings (${imageEmb.length}, ${textEmb.length} values) are not rows of width ${dim}`);
  }
  const all = new Float32Array(imageEmb.length + textEmb.length); // [I + T, E]
  all.set(imageEmb, 0);
  all.set(textEmb, imageEmb.length);
  const k = opts.nComponents ?? 2;
  const xy = projectUmap(all, dim, opts); // [I + T, k]
  const nImg = imageEmb.length / dim;
  return { imageXY: xy.slice(0, nImg * k), textXY: xy.slice(nImg * k) };
}
