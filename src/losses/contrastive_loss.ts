/**
 * Contrastive (InfoNCE) losses between image and text embeddings, in the two reference flavours
 * (method.md §3.1, §3.2; golden README §5):
 *
 * - `pirContrastiveLoss`: closed-domain PIR `get_contr_loss`. Logits `V·Tᵀ / temp` with a learnable
 *   temperature, and **multiple positives**: captions of the same image id are all positives, with
 *   the target rows normalised (`P_ij = [id_i = id_j] / Σ_k [id_i = id_k]`).
 * - `clipLoss`: open_clip `ClipLoss`. Logits `s·V·Tᵀ` with `s = logit_scale` **already
 *   exponentiated**, and **one positive per row** (the diagonal), even when image ids repeat.
 *
 * Both are pure functions of tensors; gradients flow to the features and the temperature.
 */
import * as tf from '@tensorflow/tfjs';

/** Integer ids or labels for the N rows of a batch: a tfjs int32 tensor or plain numbers. */
export type RowIds = tf.Tensor1D | ArrayLike<number>;

/** Checks that both feature matrices are [N, E] with the same N and E; returns N. */
export function checkPair(fn: string, img: tf.Tensor2D, txt: tf.Tensor2D): number {
  if (img.rank !== 2 || txt.rank !== 2) {
    throw new Error(`${fn}: image and text features must be rank 2 [N, E], got [${img.shape}] and [${txt.shape}]`);
  }
  if (img.shape[0] !== txt.shape[0] || img.shape[1] !== txt.shape[1]) {
    throw new Error(`${fn}: image features [${img.shape}] and text features [${txt.shape}] must have the same [N, E]`);
  }
  return img.shape[0];
}

/** `RowIds` → int32 tensor [N] (a new tensor; the caller's tensor is cast/cloned, never disposed). */
export function idsTensor(fn: string, ids: RowIds, n: number): tf.Tensor1D {
  if (ids instanceof tf.Tensor) {
    if (ids.rank !== 1 || ids.shape[0] !== n) throw new Error(`${fn}: ids must be a [${n}] tensor, got [${ids.shape}]`);
    return ids.toInt();
  }
  if (ids.length !== n) throw new Error(`${fn}: expected ${n} ids (one per row), got ${ids.length}`);
  const arr = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const v = ids[i];
    if (!Number.isInteger(v)) throw new Error(`${fn}: id ${i} = ${v} is not an integer`);
    arr[i] = v;
  }
  return tf.tensor1d(arr, 'int32');
}

/** `[N, N]` float mask `M_ij = [ids_i = ids_j]` (not differentiated). */
export function sameIdMask(ids: tf.Tensor1D): tf.Tensor2D {
  return tf.tidy(() => {
    const n = ids.shape[0];
    return tf.equal(ids.reshape([n, 1]), ids.reshape([1, n])).toFloat() as tf.Tensor2D; // [N, N]
  });
}

/** Mean over rows of the soft-target cross-entropy `−Σ_j P_ij log softmax_j(logits_i·)`. */
export function softTargetCrossEntropy(logits: tf.Tensor2D, targets: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => tf.neg(tf.mean(tf.sum(tf.mul(targets, tf.logSoftmax(logits, 1)), 1))) as tf.Scalar);
}

/** Mean over rows of `−log softmax_j(logits_i·)[i]` (targets = arange(N), square logits). */
export function diagonalCrossEntropy(logits: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => {
    const n = logits.shape[0];
    if (logits.shape[1] !== n) throw new Error(`diagonalCrossEntropy: logits must be square, got [${logits.shape}]`);
    return softTargetCrossEntropy(logits, tf.eye(n) as tf.Tensor2D);
  });
}

/**
 * PIR multi-positive contrastive loss (`PIRBase.get_contr_loss`).
 *
 * @param img L2-normalised image features [N, E]
 * @param txt L2-normalised text features [N, E]
 * @param temp learnable temperature (a scalar, e.g. the `temp` variable initialised to 0.07)
 * @param imageIds image id of each row; rows sharing an id are all positives. Omit for the
 *   diagonal-only variant (`idx=None` in the reference).
 * @returns `½(L_i2t + L_t2i)`
 */
export function pirContrastiveLoss(img: tf.Tensor2D, txt: tf.Tensor2D, temp: tf.Scalar, imageIds?: RowIds): tf.Scalar {
  return tf.tidy(() => {
    const n = checkPair('pirContrastiveLoss', img, txt);
    const logits = tf.div(tf.matMul(img, txt, false, true), temp) as tf.Tensor2D; // [N, N] = V·Tᵀ / temp
    let targets: tf.Tensor2D;
    if (imageIds === undefined) {
      targets = tf.eye(n) as tf.Tensor2D; // [N, N]
    } else {
      const mask = sameIdMask(idsTensor('pirContrastiveLoss', imageIds, n)); // [N, N]
      targets = tf.div(mask, tf.sum(mask, 1, true)) as tf.Tensor2D; // [N, N], rows sum to 1
    }
    const i2t = softTargetCrossEntropy(logits, targets);
    const t2i = softTargetCrossEntropy(tf.transpose(logits) as tf.Tensor2D, targets); // P is symmetric
    return tf.mul(tf.add(i2t, t2i), 0.5) as tf.Scalar;
  });
}

/**
 * open_clip `ClipLoss` contrastive term (one positive per row).
 *
 * @param img L2-normalised image features [N, E]
 * @param txt L2-normalised text features [N, E]
 * @param logitScale the **exponentiated** scale `s = exp(logit_scale)` (what `CLIP.forward` returns)
 * @returns `½(CE(s·V·Tᵀ, arange) + CE(s·T·Vᵀ, arange))`
 */
export function clipLoss(img: tf.Tensor2D, txt: tf.Tensor2D, logitScale: tf.Scalar): tf.Scalar {
  return tf.tidy(() => {
    checkPair('clipLoss', img, txt);
    const logits = tf.mul(logitScale, tf.matMul(img, txt, false, true)) as tf.Tensor2D; // [N, N] = s·V·Tᵀ
    const i2t = diagonalCrossEntropy(logits);
    const t2i = diagonalCrossEntropy(tf.transpose(logits) as tf.Tensor2D); // [N, N] = s·T·Vᵀ
    return tf.mul(tf.add(i2t, t2i), 0.5) as tf.Scalar;
  });
}
