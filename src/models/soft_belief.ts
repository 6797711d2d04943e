/**
 * PriorCLIP's soft belief (`VisionTransformer.forward(x, y)` in `jaychempan/PriorCLIP`,
 * method.md §2.2, golden README §4): the projected prior re-weights the ViT input tokens and is
 * prepended as an extra token.
 *
 *   b             = softmax over the T tokens of (x · yᵀ)                 [B, T]   (differentiable in x and y)
 *   sorted_ind    = descending argsort of b                               [B, T]
 *   w[b, j]       = 1 / sqrt(1 + sorted_ind[b, j])                        [B, T]   (no gradient)
 *   'head'        : tokens = normalize(x·b + x·w, axis = 1)   (HEAD `9554baf`, "fix wrong")
 *   'c20bbe30'    : tokens = normalize(x·b + x·b, axis = 1)   (first public version)
 *   seq           = concat([y, tokens], axis = 1)                         [B, T+1, W]
 *
 * Quirks kept on purpose: `w` at POSITION j comes from the index of the j-th best token and
 * multiplies token j (not the token it names); `normalize` runs over axis 1, the TOKEN axis (each
 * channel is unit-norm across tokens), because `F.normalize` defaults to dim=1; y gets no
 * positional embedding. Which formula produced the released checkpoint is unknown, hence both.
 * Unlike the reference, B = 1 works (no `squeeze`).
 */
import * as tf from '@tensorflow/tfjs';
import { argsortDescending, l2normalize, sortDescendingValues } from './layers';

/** Which soft-belief formula: current HEAD (`x·b + x·w`) or the first public commit (`x·b + x·b`). */
export type SoftBeliefFormula = 'head' | 'c20bbe30';

/** Every value of one soft-belief call (caller disposes). */
export type SoftBeliefResult = {
  /** softmax over tokens of x·yᵀ `[B, T]`. */
  beliefMatrix: tf.Tensor2D;
  /** Descending argsort of the belief, int32 `[B, T]`. */
  sortedInd: tf.Tensor2D;
  /** Sorted belief values `[B, T]`. */
  sortedBelief: tf.Tensor2D;
  /** `1/sqrt(1 + sorted_ind)` `[B, T]` (by position). */
  indexWeights: tf.Tensor2D;
  /** Re-weighted tokens, normalised over the token axis `[B, T, W]`. */
  tokens: tf.Tensor3D;
  /** `[y; tokens]` `[B, T+1, W]`. */
  seq: tf.Tensor3D;
};

/** Belief of every token given a prior: softmax over tokens of `x·yᵀ`. x `[B, T, W]`, y `[B, 1, W]` → `[B, T]`. */
export function tokenBelief(x: tf.Tensor3D, y: tf.Tensor3D): tf.Tensor2D {
  return tf.tidy(() => {
    const [B, T] = x.shape as number[];
    const scores = tf.reshape(tf.matMul(x, y, false, true), [B, T]); // [B, T, W]·[B, 1, W]ᵀ → [B, T, 1] → [B, T]
    return tf.softmax(scores, -1) as tf.Tensor2D;
  });
}

/** Soft belief of PriorCLIP. x `[B, T, W]` (the `ln_pre` output), y `[B, 1, W]` (the projected prior). */
export function softBelief(x: tf.Tensor3D, y: tf.Tensor3D, formula: SoftBeliefFormula): SoftBeliefResult {
  const [B, T, W] = x.shape as number[];
  const ys = y.shape as number[];
  if (y.rank !== 3 || ys[0] !== B || ys[1] !== 1 || ys[2] !== W) {
    throw new Error(`softBelief: prior y must be [${B}, 1, ${W}] to match tokens [${x.shape}], got [${y.shape}]`);
  }
  return tf.tidy(() => {
    const beliefMatrix = tokenBelief(x, y); // [B, T]
    const sortedInd = argsortDescending(beliefMatrix) as tf.Tensor2D; // [B, T] int32, no gradient
    const sortedBelief = sortDescendingValues(beliefMatrix) as tf.Tensor2D; // [B, T]
    const indexWeights = tf.div(1, tf.sqrt(tf.add(tf.cast(sortedInd, 'float32'), 1))) as tf.Tensor2D; // [B, T]
    const b3 = tf.expandDims(beliefMatrix, -1); // [B, T, 1]
    const weighted =
      formula === 'head'
        ? tf.add(tf.mul(x, b3), tf.mul(x, tf.expandDims(indexWeights, -1))) // x·b + x·w
        : tf.add(tf.mul(x, b3), tf.mul(x, b3)); // x·b + x·b (20bbe30)
    const tokens = l2normalize(weighted, 1) as tf.Tensor3D; // over the TOKEN axis, [B, T, W]
    const seq = tf.concat([y, tokens], 1) as tf.Tensor3D; // [B, T+1, W]
    return { beliefMatrix, sortedInd, sortedBelief, indexWeights, tokens, seq };
  });
}
