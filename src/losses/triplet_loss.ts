/**
 * VSE hinge (triplet) loss, PIR `get_triplet_loss` (method.md §3.1; golden README §5).
 *
 * `s = V·Tᵀ`, `d = diag(s)`; `cost_s = max(0, margin + s − d[:,None])` (image anchors, negative
 * captions) and `cost_im = max(0, margin + s − d[None,:])` (caption anchors, negative images), the
 * diagonals zeroed. Sum of both (VSE) or, with max violation (VSE++), the hardest negative per
 * anchor: row max of `cost_s` plus column max of `cost_im`, summed. Diagonal positives only.
 */
import * as tf from '@tensorflow/tfjs';
import { checkPair } from './contrastive_loss';

/** Default hinge margin of the reference. */
export const DEFAULT_TRIPLET_MARGIN = 0.2;

/**
 * @param img L2-normalised image features [N, E]
 * @param txt L2-normalised text features [N, E]
 * @param margin hinge margin (reference 0.2)
 * @param maxViolation hardest negative only (VSE++) instead of the sum over negatives
 */
export function tripletLoss(img: tf.Tensor2D, txt: tf.Tensor2D, margin = DEFAULT_TRIPLET_MARGIN, maxViolation = false): tf.Scalar {
  return tf.tidy(() => {
    const n = checkPair('tripletLoss', img, txt);
    const scores = tf.matMul(img, txt, false, true); // [N, N] = V·Tᵀ
    const eye = tf.eye(n); // [N, N]
    const d = tf.sum(tf.mul(scores, eye), 1); // [N] diagonal
    const offDiag = tf.sub(1, eye); // [N, N]
    const costS = tf.mul(tf.relu(tf.sub(tf.add(scores, margin), d.reshape([n, 1]))), offDiag); // [N, N]
    const costIm = tf.mul(tf.relu(tf.sub(tf.add(scores, margin), d.reshape([1, n]))), offDiag); // [N, N]
    if (maxViolation) return tf.add(tf.sum(tf.max(costS, 1)), tf.sum(tf.max(costIm, 0))) as tf.Scalar;
    return tf.add(tf.sum(costS), tf.sum(costIm)) as tf.Scalar;
  });
}
