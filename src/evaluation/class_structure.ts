/**
 * Class structure of the two embedding spaces: what PIR's affiliation loss is for (pull each
 * embedding towards the centroid of its scene class in the other modality).
 *
 * - **Silhouette** per modality (Rousseeuw 1987) on cosine distance `1 − x·y` (embeddings are
 *   L2-normalised): for each point, a = mean distance to its own class, b = smallest mean distance
 *   to another class, s = (b − a) / max(a, b); the score is the mean s (−1…1; 0 = classes overlap,
 *   1 = tight, well separated classes). Points whose class has one member get s = 0 (the usual rule).
 * - **Cross-modal class confusion**: each caption's top-1 image (t→i) and each image's top-1
 *   caption (i→t); `classAccuracy` = share whose retrieved item has the query's class (what a
 *   class-level retrieval would score), `confusion[c][c']` counts t→i queries of class c whose top-1
 *   image has class c'.
 * - **Centroid accuracy** (the affiliation loss's own view): each image's nearest text-class
 *   centroid, and each caption's nearest image-class centroid, is its own class.
 * Ties in the top-1 go to the lower index. Items without a class (−1) are left out.
 */

/** Embeddings of a split with scene classes (the fields of `SplitEmbeddings` this needs). */
export interface ClassedEmbeddings {
  /** Row-major [I, E], L2-normalised. */
  imageEmb: Float32Array;
  /** Row-major [T, E], L2-normalised. */
  textEmb: Float32Array;
  dim: number;
  numImages: number;
  numTexts: number;
  txt2img: Int32Array | readonly number[];
  /** Class per image (−1 = none). */
  classes: Int32Array | readonly number[];
  classNames: string[];
}

/** Class structure of one split. */
export interface ClassStructure {
  numClasses: number;
  silhouette: { image: number; text: number };
  classAccuracy: { i2t: number; t2i: number };
  centroidAccuracy: { image: number; text: number };
  /** t→i top-1 class confusion counts, `[true class][retrieved class]`, indexed like `classNames`. */
  confusion: number[][];
  classNames: string[];
}

function dot(a: Float32Array, i: number, b: Float32Array, j: number, d: number): number {
  let s = 0;
  const oi = i * d;
  const oj = j * d;
  for (let k = 0; k < d; k++) s += a[oi + k] * b[oj + k];
  return s;
}

/** Mean silhouette of rows `[n, d]` of `x` with labels (−1 rows skipped), cosine distance. */
export function silhouette(x: Float32Array, d: number, labels: ArrayLike<number>): number {
  const idx: number[] = [];
  for (let i = 0; i < labels.length; i++) if (labels[i] >= 0) idx.push(i);
  const classes = [...new Set(idx.map((i) => labels[i]))];
  if (classes.length < 2) return Number.NaN;
  const slot = new Map(classes.map((c, k) => [c, k] as [number, number]));
  const size = new Array<number>(classes.length).fill(0);
  for (const i of idx) size[slot.get(labels[i])!] += 1;
  let total = 0;
  for (const i of idx) {
    const sums = new Array<number>(classes.length).fill(0);
    for (const j of idx) if (j !== i) sums[slot.get(labels[j])!] += 1 - dot(x, i, x, j, d);
    const own = slot.get(labels[i])!;
    if (size[own] < 2) continue; // s = 0
    const a = sums[own] / (size[own] - 1);
    let b = Infinity;
    for (let k = 0; k < classes.length; k++) if (k !== own && size[k] > 0) b = Math.min(b, sums[k] / size[k]);
    const m = Math.max(a, b);
    total += m > 0 ? (b - a) / m : 0;
  }
  return total / idx.length;
}

/** Index of the row of `y` (`[m, d]`) most similar to row i of `x` (ties → lower index). */
function argmaxRow(x: Float32Array, i: number, y: Float32Array, m: number, d: number): number {
  let best = -Infinity;
  let arg = -1;
  for (let j = 0; j < m; j++) {
    const s = dot(x, i, y, j, d);
    if (s > best) {
      best = s;
      arg = j;
    }
  }
  return arg;
}

/** L2-normalised class centroids of rows with labels, `[C, d]` (a class with no row → zeros). */
function centroids(x: Float32Array, d: number, labels: ArrayLike<number>, numClasses: number): Float32Array {
  const out = new Float32Array(numClasses * d);
  for (let i = 0; i < labels.length; i++) {
    const c = labels[i];
    if (c < 0) continue;
    for (let k = 0; k < d; k++) out[c * d + k] += x[i * d + k];
  }
  for (let c = 0; c < numClasses; c++) {
    let n = 0;
    for (let k = 0; k < d; k++) n += out[c * d + k] ** 2;
    const s = n > 0 ? 1 / Math.sqrt(n) : 0;
    for (let k = 0; k < d; k++) out[c * d + k] *= s;
  }
  return out;
}

/** Class structure of a split's embeddings. */
export function classStructure(e: ClassedEmbeddings): ClassStructure {
  const d = e.dim;
  const C = e.classNames.length;
  if (e.imageEmb.length !== e.numImages * d || e.textEmb.length !== e.numTexts * d) {
    throw new Error(`classStructure: embeddings [${e.imageEmb.length}], [${e.textEmb.length}] do not fit ${e.numImages} images / ${e.numTexts} texts × ${d}`);
  }
  if (e.txt2img.length !== e.numTexts || e.classes.length !== e.numImages) {
    throw new Error(`classStructure: txt2img (${e.txt2img.length}) / classes (${e.classes.length}) do not fit ${e.numTexts} texts / ${e.numImages} images`);
  }
  const textClasses = Array.from(e.txt2img, (i) => e.classes[i]);
  const confusion = Array.from({ length: C }, () => new Array<number>(C).fill(0));
  let t2iHit = 0;
  let t2iN = 0;
  for (let t = 0; t < e.numTexts; t++) {
    const c = textClasses[t];
    if (c < 0) continue;
    const r = e.classes[argmaxRow(e.textEmb, t, e.imageEmb, e.numImages, d)];
    t2iN += 1;
    if (r === c) t2iHit += 1;
    if (r >= 0) confusion[c][r] += 1;
  }
  let i2tHit = 0;
  let i2tN = 0;
  for (let i = 0; i < e.numImages; i++) {
    const c = e.classes[i];
    if (c < 0) continue;
    i2tN += 1;
    if (textClasses[argmaxRow(e.imageEmb, i, e.textEmb, e.numTexts, d)] === c) i2tHit += 1;
  }
  const textCent = centroids(e.textEmb, d, textClasses, C);
  const imageCent = centroids(e.imageEmb, d, e.classes, C);
  let ci = 0;
  for (let i = 0; i < e.numImages; i++) if (e.classes[i] >= 0 && argmaxRow(e.imageEmb, i, textCent, C, d) === e.classes[i]) ci += 1;
  let ct = 0;
  for (let t = 0; t < e.numTexts; t++) if (textClasses[t] >= 0 && argmaxRow(e.textEmb, t, imageCent, C, d) === textClasses[t]) ct += 1;
  const pct = (a: number, n: number): number => (n > 0 ? (100 * a) / n : Number.NaN);
  return {
    numClasses: C,
    silhouette: { image: silhouette(e.imageEmb, d, e.classes), text: silhouette(e.textEmb, d, textClasses) },
    classAccuracy: { i2t: pct(i2tHit, i2tN), t2i: pct(t2iHit, t2iN) },
    centroidAccuracy: { image: pct(ci, i2tN), text: pct(ct, t2iN) },
    confusion,
    classNames: [...e.classNames],
  };
}
