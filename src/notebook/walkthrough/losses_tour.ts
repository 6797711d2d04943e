/**
 * Helpers of notebook 04 (contrastive vs affiliation loss):
 *
 * - `lossesOnBatch`: every loss of `src/losses/` on one model batch, with the chance levels;
 * - `centroidLogits`: the affiliation logits `A = V·T̄ᵀ/temp2` of a batch (same-class columns are
 *   identical, which is why the loss cannot reach 0);
 * - `affiliationToy`: a toy where the effect of the affiliation loss is visible: free image/caption
 *   embeddings of a few scene classes, trained from the same start with the contrastive loss alone
 *   and with contrastive + affiliation, with class-clustering numbers and embeddings for a UMAP.
 *
 * The toy (all sizes in `AffiliationToyConfig`): class c has a centre μ_c; image i of class c starts
 * at `classSignal·μ_c + ε_i` and its caption at `classSignal·μ_c + ε_i + captionNoise·ε'_i`, where
 * ε_i is instance detail shared by the pair. A per-modality linear map (initialised at identity)
 * is trained. Contrastive learning only needs instance detail to match pairs; the affiliation loss
 * also asks each sample to be nearest to its own class centroid in the other modality.
 */
import * as tf from '@tensorflow/tfjs';
import { SeedStream } from '../../utils/random';
import { l2normalize } from '../../models/layers';
import { clipLoss, pirContrastiveLoss } from '../../losses/contrastive_loss';
import { classCentroids, clipAffiliationLoss, pirAffiliationLoss } from '../../losses/affiliation_loss';
import { tripletLoss } from '../../losses/triplet_loss';
import { RetrievalModel } from '../../models/model';

/** Loss values on one batch (unweighted), with what chance would give. */
export type BatchLossRow = {
  loss: string;
  value: number;
  /** Value for uninformative features (uniform softmax): ln(B) for the contrastive losses. */
  chance: number | string;
  formula: string;
};

/** Every loss of src/losses/ on one batch of `images`/`tokens` (model in eval mode). */
export function lossesOnBatch(model: RetrievalModel, images: tf.Tensor4D, tokens: tf.Tensor2D, imageIds: ArrayLike<number>, labels: ArrayLike<number>): BatchLossRow[] {
  return tf.tidy(() => {
    const out = model.forward(images, tokens);
    const v = out.imageFeatures;
    const t = out.textFeatures;
    const B = v.shape[0];
    const temp = out.temp ?? tf.div(1, out.logitScale);
    const temp2 = out.temp2 ?? temp;
    const s = out.logitScale;
    const num = (x: tf.Scalar): number => x.dataSync()[0];
    const lnB = Math.log(B);
    return [
      { loss: 'PIR contrastive (multi-positive)', value: num(pirContrastiveLoss(v, t, temp as tf.Scalar, imageIds)), chance: lnB, formula: '½(CE(V·Tᵀ/temp, P) + CE(T·Vᵀ/temp, P))' },
      { loss: 'CLIP contrastive (diagonal)', value: num(clipLoss(v, t, s)), chance: lnB, formula: '½(CE(s·V·Tᵀ) + CE(s·T·Vᵀ))' },
      { loss: 'PIR affiliation', value: num(pirAffiliationLoss(v, t, temp2 as tf.Scalar, labels)), chance: lnB, formula: '½(CE(V·T̄ᵀ/temp2) + CE((T·Īᵀ)ᵀ/temp2))' },
      { loss: 'CLIP affiliation', value: num(clipAffiliationLoss(v, t, s, labels)), chance: lnB, formula: '½(CE(s·V·T̄ᵀ) + CE(s·T·Īᵀ))' },
      { loss: 'triplet (VSE, margin 0.2)', value: num(tripletLoss(v, t)), chance: '—', formula: 'Σ hinge(0.2 + s_neg − s_pos)' },
    ] as unknown as tf.TensorContainerObject;
  }) as unknown as BatchLossRow[];
}

/** The PIR affiliation logits `V·T̄ᵀ/temp2` `[B][B]` of a batch (image rows, caption-centroid columns). */
export function centroidLogits(model: RetrievalModel, images: tf.Tensor4D, tokens: tf.Tensor2D, labels: ArrayLike<number>): number[][] {
  return tf.tidy(() => {
    const out = model.forward(images, tokens);
    const temp2 = out.temp2 ?? tf.div(1, out.logitScale);
    const tc = classCentroids(out.textFeatures, labels); // [B, E]
    return tf.div(tf.matMul(out.imageFeatures, tc, false, true), temp2).arraySync() as number[][]; // [B, B]
  });
}

/** Sizes of the affiliation toy. */
export interface AffiliationToyConfig {
  /** Scene classes. */
  classes: number;
  /** Images (each with one caption) per class. */
  perClass: number;
  /** Embedding width. */
  dim: number;
  /** Weight of the class centre in every starting point (instance detail has weight 1). */
  classSignal: number;
  /** Extra caption-only noise (captions describe their image imperfectly). */
  captionNoise: number;
  /** Adam steps per variant. */
  steps: number;
  /** Adam learning rate. */
  learningRate: number;
  /** Temperature of both losses (PIR's initial temp = temp2 = 0.07). */
  temperature: number;
  /** Affiliation weight of the second variant (PIR's center_factor: 1). */
  affiliationWeight: number;
}

/** Default toy: 6 classes × 12 pairs in 16-d, 150 steps (about a second on wasm). */
export const DEFAULT_AFFILIATION_TOY: AffiliationToyConfig = {
  classes: 6,
  perClass: 12,
  dim: 16,
  classSignal: 0.6,
  captionNoise: 1.2,
  steps: 150,
  learningRate: 0.02,
  temperature: 0.07,
  affiliationWeight: 1,
};

/** Class-clustering numbers of a set of embeddings (images and captions together). */
export interface ClusterStats {
  /** Mean cosine between samples of the same class (both modalities pooled, self-pairs excluded). */
  intraClass: number;
  /** Mean cosine between samples of different classes. */
  interClass: number;
  /** Fraction of samples whose nearest other-modality centroid is their own class's. */
  centroidAccuracy: number;
  /** Fraction of images whose nearest caption is their own (instance retrieval R@1, i→t). */
  pairR1: number;
}

/** One trained (or initial) state of the toy. */
export interface ToyState {
  name: string;
  /** L2-normalised image and caption embeddings, row-major `[N, dim]`. */
  images: Float32Array;
  captions: Float32Array;
  stats: ClusterStats;
  /** Loss per step (empty for the initial state): the optimised total and its parts. */
  history: { step: number; contrastive: number; affiliation: number; total: number }[];
}

/** Result of `affiliationToy`. */
export interface AffiliationToyResult {
  config: AffiliationToyConfig;
  /** Class of every pair (row). */
  labels: Int32Array;
  initial: ToyState;
  contrastive: ToyState;
  withAffiliation: ToyState;
}

/** Cluster statistics of normalised embeddings `img`, `txt` (`[N, dim]` each) with `labels`. */
export function clusterStats(img: Float32Array, txt: Float32Array, labels: ArrayLike<number>, dim: number): ClusterStats {
  const n = labels.length;
  const dot = (a: Float32Array, i: number, b: Float32Array, j: number): number => {
    let s = 0;
    for (let k = 0; k < dim; k++) s += a[i * dim + k] * b[j * dim + k];
    return s;
  };
  const all = new Float32Array(2 * n * dim);
  all.set(img, 0);
  all.set(txt, n * dim);
  const lab = (i: number): number => labels[i % n];
  let intra = 0;
  let ni = 0;
  let inter = 0;
  let ne = 0;
  for (let i = 0; i < 2 * n; i++) {
    for (let j = i + 1; j < 2 * n; j++) {
      const c = dot(all, i, all, j);
      if (lab(i) === lab(j)) {
        intra += c;
        ni++;
      } else {
        inter += c;
        ne++;
      }
    }
  }
  const classes = [...new Set(Array.from(labels))];
  const centroid = (x: Float32Array, cls: number): Float32Array => {
    const c = new Float32Array(dim);
    let m = 0;
    for (let i = 0; i < n; i++) {
      if (labels[i] !== cls) continue;
      m++;
      for (let k = 0; k < dim; k++) c[k] += x[i * dim + k];
    }
    return c.map((v) => v / Math.max(1, m));
  };
  const txtC = classes.map((c) => centroid(txt, c));
  const imgC = classes.map((c) => centroid(img, c));
  let hits = 0;
  const nearest = (x: Float32Array, i: number, cents: Float32Array[]): number => {
    let best = -Infinity;
    let arg = 0;
    cents.forEach((c, k) => {
      const v = dot(x, i, c, 0);
      if (v > best) {
        best = v;
        arg = k;
      }
    });
    return classes[arg];
  };
  for (let i = 0; i < n; i++) {
    if (nearest(img, i, txtC) === labels[i]) hits++;
    if (nearest(txt, i, imgC) === labels[i]) hits++;
  }
  let r1 = 0;
  for (let i = 0; i < n; i++) {
    let best = -Infinity;
    let arg = -1;
    for (let j = 0; j < n; j++) {
      const v = dot(img, i, txt, j);
      if (v > best) {
        best = v;
        arg = j;
      }
    }
    if (arg === i) r1++;
  }
  return { intraClass: ni ? intra / ni : 0, interClass: ne ? inter / ne : 0, centroidAccuracy: hits / (2 * n), pairR1: r1 / n };
}

function toyData(cfg: AffiliationToyConfig, seeds: SeedStream): { img: Float32Array; txt: Float32Array; labels: Int32Array } {
  const n = cfg.classes * cfg.perClass;
  const d = cfg.dim;
  const centres = Array.from({ length: cfg.classes }, () => Float32Array.from({ length: d }, () => seeds.normal()));
  const img = new Float32Array(n * d);
  const txt = new Float32Array(n * d);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = Math.floor(i / cfg.perClass);
    labels[i] = c;
    for (let k = 0; k < d; k++) {
      const detail = seeds.normal();
      img[i * d + k] = cfg.classSignal * centres[c][k] + detail;
      txt[i * d + k] = cfg.classSignal * centres[c][k] + detail + cfg.captionNoise * seeds.normal();
    }
  }
  return { img, txt, labels };
}

function trainToy(name: string, cfg: AffiliationToyConfig, x: tf.Tensor2D, y: tf.Tensor2D, labels: Int32Array, affWeight: number): ToyState {
  const d = cfg.dim;
  const eye = tf.eye(d);
  const wImg = tf.variable(eye, true, `${name}/w_img`);
  const wTxt = tf.variable(eye, true, `${name}/w_txt`);
  eye.dispose();
  const temp = tf.scalar(cfg.temperature);
  const ids = tf.tensor1d(Int32Array.from(labels.map((_, i) => i)), 'int32');
  const opt = tf.train.adam(cfg.learningRate);
  const history: ToyState['history'] = [];
  const embed = (): [tf.Tensor2D, tf.Tensor2D] => [l2normalize(tf.matMul(x, wImg), -1) as tf.Tensor2D, l2normalize(tf.matMul(y, wTxt), -1) as tf.Tensor2D]; // [N, d]·[d, d]
  try {
    for (let step = 0; step < cfg.steps; step++) {
      let c = 0;
      let a = 0;
      const total = opt.minimize(() => {
        const [v, t] = embed();
        const lc = pirContrastiveLoss(v, t, temp, ids);
        const la = pirAffiliationLoss(v, t, temp, labels);
        c = lc.dataSync()[0];
        a = la.dataSync()[0];
        return affWeight > 0 ? (tf.add(lc, tf.mul(la, affWeight)) as tf.Scalar) : lc;
      }, true, [wImg, wTxt]);
      history.push({ step: step + 1, contrastive: c, affiliation: a, total: total ? total.dataSync()[0] : Number.NaN });
      total?.dispose();
    }
    const [v, t] = tf.tidy(() => embed());
    const images = v.dataSync() as Float32Array;
    const captions = t.dataSync() as Float32Array;
    tf.dispose([v, t]);
    return { name, images: Float32Array.from(images), captions: Float32Array.from(captions), stats: clusterStats(images, captions, labels, d), history };
  } finally {
    opt.dispose();
    tf.dispose([wImg, wTxt, temp, ids]);
  }
}

/**
 * Train the toy twice from the same start (contrastive only; contrastive + affiliation) and return
 * the three states with their clustering numbers (see the file comment).
 */
export function affiliationToy(seeds: SeedStream, overrides: Partial<AffiliationToyConfig> = {}): AffiliationToyResult {
  const cfg = { ...DEFAULT_AFFILIATION_TOY, ...overrides };
  const { img, txt, labels } = toyData(cfg, seeds.child('data'));
  const n = labels.length;
  const x = tf.tensor2d(img, [n, cfg.dim]);
  const y = tf.tensor2d(txt, [n, cfg.dim]);
  try {
    const [v0, t0] = tf.tidy(() => [l2normalize(x, -1), l2normalize(y, -1)]);
    const i0 = Float32Array.from(v0.dataSync());
    const c0 = Float32Array.from(t0.dataSync());
    tf.dispose([v0, t0]);
    const initial: ToyState = { name: 'start', images: i0, captions: c0, stats: clusterStats(i0, c0, labels, cfg.dim), history: [] };
    return {
      config: cfg,
      labels,
      initial,
      contrastive: trainToy('contrastive', cfg, x, y, labels, 0),
      withAffiliation: trainToy('contrastive + affiliation', cfg, x, y, labels, cfg.affiliationWeight),
    };
  } finally {
    tf.dispose([x, y]);
  }
}

/** One row per toy state (for `showTable`). */
export function toyStatsRows(r: AffiliationToyResult): Record<string, number | string>[] {
  return [r.initial, r.contrastive, r.withAffiliation].map((s) => ({
    state: s.name,
    'same-class cosine': s.stats.intraClass,
    'other-class cosine': s.stats.interClass,
    'gap (same − other)': s.stats.intraClass - s.stats.interClass,
    'nearest centroid = own class': s.stats.centroidAccuracy,
    'pair R@1 (i→t)': s.stats.pairR1,
  }));
}
