/**
 * The perf rewrites keep the maths: `linear`'s closed-form gradient and `sumLeading` against plain
 * autodiff, `dropoutMask` statistics and determinism, and the wasm `AvgPoolGrad` kit kernel against
 * the cpu backend (unpadded windows) and the original kernel's route (padded windows).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backends/backend';
import { SeedStream } from '../src/utils/random';
import { dropoutMask, erfRational, linear, sumLeading } from '../src/models/layers';

function values(n: number, seed: number): Float32Array {
  const s = new SeedStream(seed);
  return Float32Array.from({ length: n }, () => s.uniform(-1, 1));
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length, 'length');
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

for (const backend of ['wasm', 'cpu'] as const) {
  test(`linear: closed-form gradients equal autodiff of matMul + bias on ${backend}`, async () => {
    await initBackend(backend);
    const before = tf.memory().numTensors;
    tf.tidy(() => {
      const x = tf.tensor3d(values(2 * 5 * 4, 1), [2, 5, 4]);
      const w = tf.tensor2d(values(4 * 3, 2), [4, 3]);
      const b = tf.tensor1d(values(3, 3));
      const up = tf.tensor3d(values(2 * 5 * 3, 4), [2, 5, 3]); // upstream gradient
      const ref = (xx: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor) => tf.sum(tf.mul(tf.add(tf.reshape(tf.matMul(tf.reshape(xx, [10, 4]) as tf.Tensor2D, ww as tf.Tensor2D), [2, 5, 3]), bb), up));
      const kit = (xx: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor) => tf.sum(tf.mul(linear(xx, ww, bb), up));
      const gr = tf.grads(ref)([x, w, b]);
      const gk = tf.grads(kit)([x, w, b]);
      assert.deepEqual(gk.map((g) => g.shape), [[2, 5, 4], [4, 3], [3]]);
      gr.forEach((g, i) => assert.ok(maxAbsDiff(gk[i].dataSync(), g.dataSync()) < 1e-5, `gradient ${i}`));
      const plain = tf.add(tf.reshape(tf.matMul(tf.reshape(x, [10, 4]) as tf.Tensor2D, w), [2, 5, 3]), b);
      assert.ok(maxAbsDiff(linear(x, w, b).dataSync(), plain.dataSync()) < 1e-6, 'forward value');
      // no bias
      const g2 = tf.grads((xx: tf.Tensor, ww: tf.Tensor) => tf.sum(tf.mul(linear(xx, ww), up)))([x, w]);
      assert.ok(maxAbsDiff(g2[1].dataSync(), gr[1].dataSync()) < 1e-5, 'dW without bias');
      assert.ok(maxAbsDiff(sumLeading(up).dataSync(), tf.sum(up, [0, 1]).dataSync()) < 1e-5, 'sumLeading');
    });
    assert.equal(tf.memory().numTensors, before, 'no leaked tensors');
  });

  test(`AvgPoolGrad (kit kernel on wasm) equals the cpu gradient on ${backend}`, async () => {
    const cases: { shape: [number, number, number, number]; f: number; s: number; pad: 'valid' | 'same' }[] = [
      { shape: [2, 8, 8, 3], f: 2, s: 2, pad: 'valid' },
      { shape: [1, 7, 6, 2], f: 3, s: 1, pad: 'valid' }, // overlapping windows
      { shape: [1, 5, 5, 2], f: 2, s: 2, pad: 'valid' }, // odd side: last row/col unused
      { shape: [1, 5, 5, 2], f: 3, s: 2, pad: 'same' }, // padded → original kernel
    ];
    for (const c of cases) {
      const x = values(c.shape.reduce((p, d) => p * d, 1), 5);
      const grad = () => tf.tidy(() => tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.avgPool(t as tf.Tensor4D, c.f, c.s, c.pad), tf.avgPool(tf.tensor4d(x, c.shape), c.f, c.s, c.pad))))(tf.tensor4d(x, c.shape)).dataSync());
      await initBackend('cpu');
      const ref = grad();
      await initBackend(backend);
      const got = grad();
      assert.ok(maxAbsDiff(got, ref) < 1e-6, `avgPool grad ${JSON.stringify(c)}`);
    }
  });
}

test('dropoutMask: keep rate, scale, determinism, fresh per seed', () => {
  const a = dropoutMask(100000, 0.1, 42);
  const b = dropoutMask(100000, 0.1, 42);
  const c = dropoutMask(100000, 0.1, 43);
  assert.deepEqual(a, b, 'same seed ⇒ same mask');
  assert.notDeepEqual(a, c, 'other seed ⇒ other mask');
  let kept = 0;
  for (const v of a) {
    if (v !== 0) {
      kept++;
      assert.ok(Math.abs(v - 1 / 0.9) < 1e-6, `survivor scaled by 1/(1−p), got ${v}`);
    }
  }
  assert.ok(Math.abs(kept / a.length - 0.9) < 0.005, `keep fraction ${kept / a.length}`);
  // neighbouring elements are not correlated (lag-1 agreement ≈ p² + (1−p)²)
  let agree = 0;
  for (let i = 1; i < a.length; i++) if ((a[i] === 0) === (a[i - 1] === 0)) agree++;
  assert.ok(Math.abs(agree / (a.length - 1) - (0.81 + 0.01)) < 0.01, `lag-1 agreement ${agree / (a.length - 1)}`);
});

test('erfRational: float32 erf within 5e-7 of reference values (wasm)', async () => {
  await initBackend('wasm');
  // erf at x (reference values to 10 digits)
  const ref: [number, number][] = [[0, 0], [0.1, 0.1124629160], [0.5, 0.5204998778], [1, 0.8427007929], [-1.5, -0.9661051465], [2, 0.9953222650], [3.3, 0.9999969423], [-5, -1], [9, 1]];
  const got = tf.tidy(() => erfRational(tf.tensor1d(ref.map((r) => r[0]))).dataSync());
  ref.forEach(([x, e], i) => assert.ok(Math.abs(got[i] - e) < 5e-7, `erf(${x}) = ${got[i]}, expected ${e}`));
});
