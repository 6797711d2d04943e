/**
 * Affiliation ("attribution") loss: pulls each sample towards the centroid of its scene class in
 * the other modality (method.md §3.1, §3.2; golden README §5).
 *
 * Centroids are computed on the batch: `Ic_i = mean{V_j : label_j = label_i}`, `Tc_i` likewise,
 * and are **not** renormalised (both references). The feature width is read from the tensors
 * (the references hard-code 512).
 *
 * - `pirAffiliationLoss` (PIR `get_affil_loss`): `A = V·Tcᵀ/temp2`, `Bm = T·Icᵀ/temp2`,
 *   `L = ½(−mean_i log softmax_row(A)_ii − mean_j log softmax_row(Bmᵀ)_jj)`: the second term is on
 *   **Bmᵀ**, so for image-centroid j the softmax runs over texts.
 * - `clipAffiliationLoss` (PriorCLIP `ClipLoss(is_aff_loss=True)`): `½(CE(s·V·Tcᵀ) + CE(s·T·Icᵀ))`
 *   with targets arange(N), **no transpose**, and `s` the exponentiated logit scale.
 */
import * as tf from '@tensorflow/tfjs';
import { checkPair, diagonalCrossEntropy, idsTensor, RowIds, sameIdMask } from './contrastive_loss';

/**
 * Per-row class centroids of `x` [N, E]: row i is the mean of the rows sharing label i. Not renormalised.
 * Computed as `(M / rowsum(M)) · x` with `M_ij = [label_i = label_j]`.
 */
export function classCentroids(x: tf.Tensor2D, labels: RowIds): tf.Tensor2D {
  return tf.tidy(() => {
    const n = x.shape[0];
    const mask = sameIdMask(idsTensor('classCentroids', labels, n)); // [N, N]
    const weights = tf.div(mask, tf.sum(mask, 1, true)); // [N, N], rows sum to 1
    return tf.matMul(weights, x) as tf.Tensor2D; // [N, N]·[N, E] → [N, E]
  });
}

/**
 * PIR affiliation loss.
 * @param img L2-normalised image features [N, E]
 * @param txt L2-normalised text features [N, E]
 * @param temp2 learnable affiliation temperature (initialised to 0.07 in PIR)
 * @param labels scene-class label of each row
 */
export function pirAffiliationLoss(img: tf.Tensor2D, txt: tf.Tensor2D, temp2: tf.Scalar, labels: RowIds): tf.Scalar {
  return tf.tidy(() => {
    checkPair('pirAffiliationLoss', img, txt);
    const imgCenters = classCentroids(img, labels); // [N, E]
    const txtCenters = classCentroids(txt, labels); // [N, E]
    const a = tf.div(tf.matMul(img, txtCenters, false, true), temp2) as tf.Tensor2D; // [N, N] = V·Tcᵀ/temp2
    const bm = tf.div(tf.matMul(txt, imgCenters, false, true), temp2) as tf.Tensor2D; // [N, N] = T·Icᵀ/temp2
    const i2t = diagonalCrossEntropy(a);
    const t2i = diagonalCrossEntropy(tf.transpose(bm) as tf.Tensor2D); // softmax over texts (Bmᵀ rows)
    return tf.mul(tf.add(i2t, t2i), 0.5) as tf.Scalar;
  });
}

/**
 * open_clip (PriorCLIP) affiliation loss.
 * @param logitScale the **exponentiated** logit scale `s`
 */
export function clipAffiliationLoss(img: tf.Tensor2D, txt: tf.Tensor2D, logitScale: tf.Scalar, labels: RowIds): tf.Scalar {
  return tf.tidy(() => {
    checkPair('clipAffiliationLoss', img, txt);
    const imgCenters = classCentroids(img, labels); // [N, E]
    const txtCenters = classCentroids(txt, labels); // [N, E]
    const i2t = diagonalCrossEntropy(tf.mul(logitScale, tf.matMul(img, txtCenters, false, true)) as tf.Tensor2D); // [N, N]
    const t2i = diagonalCrossEntropy(tf.mul(logitScale, tf.matMul(txt, imgCenters, false, true)) as tf.Tensor2D); // [N, N], not transposed
    return tf.mul(tf.add(i2t, t2i), 0.5) as tf.Scalar;
  });
}
