/**
 * PyTorch-semantics primitives (src/models/layers.ts) against hand-computed references, on wasm and cpu.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backends/backend';
import { SeedStream } from '../src/utils/random';
import { ParamStore } from '../src/models/params';
import {
  Linear,
  LayerNorm,
  Mlp,
  argsortDescending,
  assignTorchValue,
  causalMask,
  dropout,
  gatherRows,
  gelu,
  l2normalize,
  layerNorm,
  linear,
  scaledDotProductAttention,
  softmax,
} from '../src/models/layers';

/** Deterministic pseudo-random values in [-1, 1). */
function values(n: number, seed: number): Float32Array {
  const s = new SeedStream(seed);
  return Float32Array.from({ length: n }, () => s.uniform(-1, 1));
}

function assertClose(got: ArrayLike<number>, exp: ArrayLike<number>, atol: number, what: string): void {
  assert.equal(got.length, exp.length, `${what}: length`);
  for (let i = 0; i < exp.length; i++) {
    assert.ok(Math.abs(got[i] - exp[i]) <= atol, `${what}[${i}]: got ${got[i]}, expected ${exp[i]}`);
  }
}

for (const backend of ['wasm', 'cpu'] as const) {
  test(`linear / layerNorm / gelu / softmax / l2normalize on ${backend}`, async () => {
    await initBackend(backend);
    const before = tf.memory().numTensors;
    const [A, L, I, O] = [2, 3, 4, 5];
    const xd = values(A * L * I, 1);
    const wd = values(I * O, 2);
    const bd = values(O, 3);
    tf.tidy(() => {
      const y = linear(tf.tensor3d(xd, [A, L, I]), tf.tensor2d(wd, [I, O]), tf.tensor1d(bd));
      assert.deepEqual(y.shape, [A, L, O]);
      const exp: number[] = [];
      for (let r = 0; r < A * L; r++) for (let o = 0; o < O; o++) {
        let s = bd[o];
        for (let i = 0; i < I; i++) s += xd[r * I + i] * wd[i * O + o];
        exp.push(s);
      }
      assertClose(y.dataSync(), exp, 1e-5, 'linear');

      // LayerNorm: biased variance, eps 1e-5.
      const g = values(I, 4);
      const be = values(I, 5);
      const ln = layerNorm(tf.tensor2d(xd.slice(0, 2 * I), [2, I]), tf.tensor1d(g), tf.tensor1d(be));
      const lnExp: number[] = [];
      for (let r = 0; r < 2; r++) {
        const row = Array.from(xd.slice(r * I, (r + 1) * I));
        const mu = row.reduce((a, b) => a + b, 0) / I;
        const v = row.reduce((a, b) => a + (b - mu) ** 2, 0) / I;
        row.forEach((x, i) => lnExp.push(((x - mu) / Math.sqrt(v + 1e-5)) * g[i] + be[i]));
      }
      assertClose(ln.dataSync(), lnExp, 1e-5, 'layerNorm');

      // Exact-erf GELU (the tanh form differs by up to 5e-4).
      const ge = gelu(tf.tensor1d([-3, -1, 0, 0.5, 1, 2])).dataSync();
      assertClose(ge, [-0.0040496965, -0.15865525, 0, 0.34573123, 0.84134475, 1.9544997], 2e-6, 'gelu');

      // Softmax along a non-last axis equals the transposed softmax.
      const sm = softmax(tf.tensor2d([1, 2, 3, 4, 5, 7], [3, 2]), 0).dataSync();
      const col = (a: number[]) => a.map((v) => Math.exp(v) / a.reduce((s, u) => s + Math.exp(u), 0));
      const c0 = col([1, 3, 5]);
      const c1 = col([2, 4, 7]);
      assertClose(sm, [c0[0], c1[0], c0[1], c1[1], c0[2], c1[2]], 1e-6, 'softmax axis 0');

      // l2normalize: x / max(||x||, eps); a zero row stays zero (no NaN).
      const n = l2normalize(tf.tensor2d([3, 4, 0, 0], [2, 2]), -1).dataSync();
      assertClose(n, [0.6, 0.8, 0, 0], 1e-6, 'l2normalize');
      const n1 = l2normalize(tf.tensor2d([3, 0, 4, 0], [2, 2]), 0).dataSync();
      assertClose(n1, [0.6, 0, 0.8, 0], 1e-6, 'l2normalize axis 0');
    });
    // Finite gradient at the zero vector.
    const z = tf.tidy(() => tf.variable(tf.zeros([1, 3])));
    const { value, grads } = tf.variableGrads(() => tf.sum(l2normalize(z, -1)) as tf.Scalar, [z]);
    assert.ok(Array.from(grads[z.name].dataSync()).every(Number.isFinite), 'l2normalize gradient at 0 must be finite');
    tf.dispose([value, grads]);
    z.dispose();
    assert.equal(tf.memory().numTensors, before);
  });

  test(`layerNorm and gelu closed-form gradients equal autodiff of the plain formulas on ${backend}`, async () => {
    await initBackend(backend);
    const before = tf.memory().numTensors;
    const x = tf.tidy(() => tf.variable(tf.randomNormal([3, 5, 16], 0, 2, 'float32', 1)));
    const g = tf.tidy(() => tf.variable(tf.randomNormal([16], 1, 0.3, 'float32', 2)));
    const b = tf.tidy(() => tf.variable(tf.randomNormal([16], 0, 0.3, 'float32', 3)));
    const w = tf.randomNormal([3, 5, 16], 0, 1, 'float32', 4);
    const plainLn = (xx: tf.Tensor): tf.Tensor => {
      const { mean, variance } = tf.moments(xx, -1, true);
      return tf.add(tf.mul(tf.div(tf.sub(xx, mean), tf.sqrt(tf.add(variance, 1e-5))), g), b);
    };
    const plainGelu = (xx: tf.Tensor): tf.Tensor => tf.mul(tf.mul(xx, 0.5), tf.add(1, tf.erf(tf.div(xx, Math.SQRT2))));
    const cases: [string, () => tf.Scalar, () => tf.Scalar][] = [
      ['layerNorm', () => tf.sum(tf.mul(layerNorm(x, g, b), w)) as tf.Scalar, () => tf.sum(tf.mul(plainLn(x), w)) as tf.Scalar],
      ['gelu', () => tf.sum(tf.mul(gelu(layerNorm(x, g, b)), w)) as tf.Scalar, () => tf.sum(tf.mul(plainGelu(plainLn(x)), w)) as tf.Scalar],
    ];
    for (const [name, mine, plain] of cases) {
      const a = tf.variableGrads(mine, [x, g, b]);
      const r = tf.variableGrads(plain, [x, g, b]);
      assert.ok(Math.abs(a.value.dataSync()[0] - r.value.dataSync()[0]) < 1e-4, `${name}: value`);
      for (const v of [x, g, b]) assertClose(a.grads[v.name].dataSync(), r.grads[v.name].dataSync(), 2e-5, `${name}: d/d${v.shape}`);
      tf.dispose([a.value, a.grads, r.value, r.grads]);
    }
    tf.dispose([x, g, b, w]);
    assert.equal(tf.memory().numTensors, before);
  });

  test(`scaledDotProductAttention matches a per-head loop on ${backend}`, async () => {
    await initBackend(backend);
    const [B, Lq, Lk, D, H] = [2, 3, 4, 8, 2];
    const dh = D / H;
    const qd = values(B * Lq * D, 11);
    const kd = values(B * Lk * D, 12);
    const vd = values(B * Lk * D, 13);
    const expect = (causal: boolean): number[] => {
      const out = new Array<number>(B * Lq * D).fill(0);
      for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) for (let i = 0; i < Lq; i++) {
        const s: number[] = [];
        for (let j = 0; j < Lk; j++) {
          let d = 0;
          for (let c = 0; c < dh; c++) d += qd[(b * Lq + i) * D + h * dh + c] * kd[(b * Lk + j) * D + h * dh + c];
          s.push(causal && j > i ? -Infinity : d / Math.sqrt(dh));
        }
        const m = Math.max(...s);
        const e = s.map((x) => Math.exp(x - m));
        const z = e.reduce((a, x) => a + x, 0);
        for (let j = 0; j < Lk; j++) for (let c = 0; c < dh; c++) out[(b * Lq + i) * D + h * dh + c] += (e[j] / z) * vd[(b * Lk + j) * D + h * dh + c];
      }
      return out;
    };
    tf.tidy(() => {
      const q = tf.tensor3d(qd, [B, Lq, D]);
      const k = tf.tensor3d(kd, [B, Lk, D]);
      const v = tf.tensor3d(vd, [B, Lk, D]);
      assertClose(scaledDotProductAttention(q, k, v, H).dataSync(), expect(false), 1e-5, 'attention');
      const mask = tf.slice(causalMask(Lk), [0, 0], [Lq, Lk]);
      assertClose(scaledDotProductAttention(q, k, v, H, { mask }).dataSync(), expect(true), 1e-5, 'masked attention');
      // Dropout off in eval (seeds null) leaves the result unchanged.
      const ev = scaledDotProductAttention(q, k, v, H, { dropout: { rate: 0.5, seeds: null } });
      assertClose(ev.dataSync(), expect(false), 1e-5, 'attention, dropout inactive');
      assert.throws(() => scaledDotProductAttention(q, k, v, 3), /divisible/);
    });
  });

  test(`dropout: seeded, fresh per call, identity when off on ${backend}`, async () => {
    await initBackend(backend);
    tf.tidy(() => {
      const x = tf.ones([64, 64]);
      assert.equal(dropout(x, 0.3, null), x, 'seeds null → identity');
      assert.equal(dropout(x, 0, new SeedStream(1)), x, 'rate 0 → identity');
      const s1 = new SeedStream(7);
      const a = dropout(x, 0.25, s1).dataSync();
      const b = dropout(x, 0.25, s1).dataSync();
      const a2 = dropout(x, 0.25, new SeedStream(7)).dataSync();
      assert.deepEqual(Array.from(a), Array.from(a2), 'same stream state → same mask');
      assert.notDeepEqual(Array.from(a), Array.from(b), 'a second call draws a fresh mask');
      const kept = Array.from(a).filter((v) => v !== 0);
      kept.forEach((v) => assert.ok(Math.abs(v - 1 / 0.75) < 1e-5, `survivors scaled by 1/(1-p), got ${v}`));
      const frac = kept.length / a.length;
      assert.ok(Math.abs(frac - 0.75) < 0.03, `keep fraction ${frac}`);
    });
  });

  test(`argsortDescending / gatherRows: values and PyTorch gradient semantics on ${backend}`, async () => {
    await initBackend(backend);
    const before = tf.memory().numTensors;
    const [B, N, D, K] = [2, 5, 3, 3];
    const xv = tf.tidy(() => tf.variable(tf.tensor3d(values(B * N * D, 21), [B, N, D])));
    const pv = tf.tidy(() => tf.variable(tf.tensor3d(values(B * D, 22), [B, 1, D])));
    const xs = xv.dataSync();
    const ps = pv.dataSync();
    // Expected order from plain JS.
    const order: number[][] = [];
    for (let b = 0; b < B; b++) {
      const sc = Array.from({ length: N }, (_, n) => {
        let s = 0;
        for (let d = 0; d < D; d++) s += xs[(b * N + n) * D + d] * ps[b * D + d];
        return s;
      });
      order.push([...sc.keys()].sort((i, j) => sc[j] - sc[i]));
    }
    const loss = (): tf.Scalar =>
      tf.tidy(() => {
        const scores = tf.reshape(tf.matMul(xv, pv, false, true), [B, N]); // [B, N]
        const idx = tf.slice(argsortDescending(tf.softmax(scores)), [0, 0], [B, K]);
        const g = gatherRows(xv as unknown as tf.Tensor3D, idx); // [B, K, D]
        const w = tf.tensor3d(Array.from({ length: B * K * D }, (_, i) => i + 1), [B, K, D]);
        return tf.sum(tf.mul(g, w)) as tf.Scalar;
      });
    tf.tidy(() => {
      const scores = tf.reshape(tf.matMul(xv, pv, false, true), [B, N]);
      const si = argsortDescending(scores);
      assert.equal(si.dtype, 'int32');
      assert.deepEqual(Array.from(si.dataSync()), order.flat());
    });
    const { value, grads } = tf.variableGrads(loss, [xv, pv]);
    const gx = grads[xv.name].dataSync();
    const gp = grads[pv.name].dataSync();
    // d/dx[b, order[b][j], d] = weight (b, j, d) for kept rows, 0 elsewhere; the prior gets nothing (sort only).
    for (let b = 0; b < B; b++) for (let n = 0; n < N; n++) for (let d = 0; d < D; d++) {
      const j = order[b].indexOf(n);
      const exp = j >= 0 && j < K ? (b * K + j) * D + d + 1 : 0;
      assert.equal(gx[(b * N + n) * D + d], exp, `dx[${b},${n},${d}]`);
    }
    assert.ok(Array.from(gp).every((v) => v === 0), 'no gradient flows through the sort');
    tf.dispose([value, grads]);
    xv.dispose();
    pv.dispose();
    assert.equal(tf.memory().numTensors, before);
  });

  test(`Linear / LayerNorm / Mlp register torch keys and load torch layouts on ${backend}`, async () => {
    await initBackend(backend);
    const store = new ParamStore(new SeedStream(3));
    const lin = new Linear(store, 'proj', { inFeatures: 3, outFeatures: 2 });
    new LayerNorm(store, 'norm', { dim: 2 });
    const mlp = new Mlp(store, 'ffn', { inFeatures: 2, hiddenFeatures: 4, fc1Name: '0', hiddenNormName: '1', fc2Name: '3' });
    assert.deepEqual(
      store.list().map((e) => `${e.key}:${e.layout}:${e.variable.shape.join('x')}`),
      [
        'proj.weight:linear:3x2',
        'proj.bias:raw:2',
        'norm.weight:raw:2',
        'norm.bias:raw:2',
        'ffn.0.weight:linear:2x4',
        'ffn.0.bias:raw:4',
        'ffn.1.weight:raw:4',
        'ffn.1.bias:raw:4',
        'ffn.3.weight:linear:4x2',
        'ffn.3.bias:raw:2',
      ],
    );
    // torch W [out, in] = [[1,2,3],[4,5,6]] → y = x·Wᵀ.
    assignTorchValue(store, 'proj.weight', [1, 2, 3, 4, 5, 6], [2, 3]);
    assignTorchValue(store, 'proj.bias', [0.5, -0.5], [2]);
    assert.throws(() => assignTorchValue(store, 'proj.weight', [1, 2, 3, 4, 5, 6], [3, 2], 'x.safetensors'), /x\.safetensors.*proj\.weight.*\[2,3\]/);
    assert.throws(() => assignTorchValue(store, 'nope', [1], [1]), /nope/);
    tf.tidy(() => {
      const y = lin.apply(tf.tensor2d([1, 1, 1], [1, 3])).dataSync();
      assertClose(y, [6.5, 14.5], 1e-6, 'Linear with torch weights');
      assert.deepEqual(mlp.apply(tf.ones([5, 2])).shape, [5, 2]);
    });
    store.dispose();
  });
}
