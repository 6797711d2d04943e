/**
 * bench/lib/flops.ts: the FLOP count bench/native.ts reports for a step, checked on real tf.profile records
 * of a product, a fused product and a conv with both gradients (the backend does not matter; cpu here).
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { countFlops, kernelFlops } from '../bench/lib/flops';

test('kernelFlops: 2·M·N·K for products whatever the transposes, 2·out·KH·KW·Cin for convs', () => {
  assert.equal(kernelFlops({ name: 'BatchMatMul', inputShapes: [[3, 6, 4], [3, 4, 5]], outputShapes: [[3, 6, 5]] }), 2 * 3 * 6 * 5 * 4);
  assert.equal(kernelFlops({ name: 'BatchMatMul', inputShapes: [[4, 6], [5, 4]], outputShapes: [[6, 5]] }), 2 * 6 * 5 * 4);
  assert.equal(kernelFlops({ name: 'BatchMatMul', inputShapes: [[4, 6], [4, 5]], outputShapes: [[6, 5]] }), 2 * 6 * 5 * 4); // transposeA
  assert.equal(kernelFlops({ name: 'Conv2D', inputShapes: [[2, 8, 8, 3], [3, 3, 3, 5]], outputShapes: [[2, 8, 8, 5]] }), 2 * 2 * 8 * 8 * 5 * 27);
  assert.equal(kernelFlops({ name: 'Add', inputShapes: [[4], [4]], outputShapes: [[4]] }), 0);
});

test('countFlops on a profiled conv + matmul forward/backward equals the hand count', async () => {
  await tf.setBackend('cpu');
  const x = tf.ones([2, 8, 8, 3]) as tf.Tensor4D;
  const w = tf.ones([3, 3, 3, 4]) as tf.Tensor4D;
  const q = tf.ones([4, 6]) as tf.Tensor2D;
  const prof = await tf.profile(() => {
    const g = tf.grads((wv: tf.Tensor, qv: tf.Tensor) => tf.matMul(tf.conv2d(x, wv as tf.Tensor4D, 2, 'same').reshape([32, 4]), qv as tf.Tensor2D).sum())([w, q]);
    tf.dispose(g);
  });
  const f = countFlops(prof.kernels as unknown as Parameters<typeof countFlops>[0]);
  const conv = 2 * (2 * 4 * 4 * 4) * 27; // out [2,4,4,4], 27 MACs each
  const mm = 2 * 32 * 6 * 4;
  // forward conv + dW (the input gradient is not needed for a constant x) + forward matmul + dQ + dH
  assert.equal(f.byKernel.Conv2D, conv);
  assert.equal(f.byKernel.Conv2DBackpropFilter, conv);
  assert.equal(f.byKernel.BatchMatMul, 3 * mm);
  tf.dispose([x, w, q]);
});
