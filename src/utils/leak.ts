/**
 * Tensor-leak helper for tests: how many tensors a piece of work leaves behind.
 */
import * as tf from '@tensorflow/tfjs';

/**
 * Run `fn` once to warm up (first calls may create cached tensors, optimiser slots, …), then
 * `repeats` more times, and return `tf.memory().numTensors` after minus before those repeats.
 * 0 means no leak; a leak of k tensors per call shows as k·repeats.
 */
export async function tensorGrowth(fn: () => void | Promise<void>, repeats: number): Promise<number> {
  if (!Number.isInteger(repeats) || repeats < 1) {
    throw new Error(`tensorGrowth: repeats must be an integer ≥ 1, got ${repeats}`);
  }
  await fn();
  const before = tf.memory().numTensors;
  for (let i = 0; i < repeats; i++) await fn();
  return tf.memory().numTensors - before;
}

/**
 * Like `tensorGrowth` but also counts backend data buffers (`tf.memory().numDataBuffers`), which
 * catches kernels that leak intermediate backend buffers without ever wrapping them in tensors.
 */
export async function memoryGrowth(
  fn: () => void | Promise<void>,
  repeats: number,
): Promise<{ tensors: number; dataBuffers: number }> {
  if (!Number.isInteger(repeats) || repeats < 1) {
    throw new Error(`memoryGrowth: repeats must be an integer ≥ 1, got ${repeats}`);
  }
  await fn();
  const before = tf.memory();
  for (let i = 0; i < repeats; i++) await fn();
  const after = tf.memory();
  return { tensors: after.numTensors - before.numTensors, dataBuffers: after.numDataBuffers - before.numDataBuffers };
}
