/**
 * bench/lib/flops.ts: the FLOP count bench/native.ts reports for a step, checked on real tf.profile records
 * of a product, a fused product and a conv with both gradients (cpu), and of the native fused linear.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { countFlops, kernelFlops } from '../bench/lib/flops';
import { initBackend } from '../src/backends/backend';
import { fusedLinearActive } from '../src/backends/native_kernels';
import { linear } from '../src/models/layers';

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

test('kernelFlops counts the native fused linear (KitLinear, KitLinearGrad) on x of any rank, as the composed products', async (t) => {
  await initBackend('native', { quiet: true });
  if (!tf.tidy(() => fusedLinearActive(tf.zeros([1, 2]), tf.zeros([2, 3]), null))) {
    t.skip('native path not active on this machine');
    return;
  }
  const x = tf.ones([2, 5, 7]);
  const w = tf.ones([7, 3]);
  const b = tf.ones([3]);
  const prof = await tf.profile(() => {
    const g = tf.grads((xv: tf.Tensor, wv: tf.Tensor, bv: tf.Tensor) => linear(xv, wv, bv).sum())([x, w, b]);
    tf.dispose(g);
  });
  const f = countFlops(prof.kernels as unknown as Parameters<typeof countFlops>[0]);
  const mm = 2 * 10 * 7 * 3; // N = 2·5 rows, in 7, out 3
  assert.equal(f.byKernel.KitLinear, mm);
  assert.equal(f.byKernel.KitLinearGrad, 2 * mm + 2 * 10 * 3); // dx, dw and db
  tf.dispose([x, w, b]);
});
