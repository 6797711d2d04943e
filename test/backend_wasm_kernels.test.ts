/**
 * The kit's wasm kernels (src/backends/wasm_kernels.ts) against the cpu backend: forward values and
 * gradients on seeded random inputs over a grid of shapes, plus a tensor/buffer leak check.
 */
import { test, before } from 'node:test';
import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backends/backend';
import { registerWasmKernels, simplifyTranspose, WASM_KIT_KERNELS } from '../src/backends/wasm_kernels';
import { SeedStream } from '../src/utils/random';
import { memoryGrowth, tensorGrowth } from '../src/utils/leak';

/** Max |wasm − cpu| allowed, relative to max(1, max |cpu|). */
const REL_TOL = 1e-4;

const seeds = new SeedStream(20240516, 'test/backend_wasm_kernels');

function randn(name: string, shape: number[], transform: (v: number) => number = (v) => v): { shape: number[]; data: Float32Array } {
  const s = seeds.child(name);
  const n = shape.reduce((p, d) => p * d, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = transform(s.normal());
  return { shape, data };
}

function t(v: { shape: number[]; data: Float32Array }): tf.Tensor {
  return tf.tensor(v.data, v.shape, 'float32');
}

/** Run `fn` on one backend; return every output's values (copied) and shape. */
async function on(backend: 'cpu' | 'wasm', fn: () => tf.Tensor[]): Promise<{ shape: number[]; values: Float32Array }[]> {
  await tf.setBackend(backend);
  const outs = tf.tidy(fn);
  const res = outs.map((o) => ({ shape: o.shape.slice(), values: Float32Array.from(o.dataSync()) }));
  tf.dispose(outs);
  return res;
}

/** Compute `fn` on cpu and on wasm and assert the outputs agree. */
async function agree(label: string, fn: () => tf.Tensor[]): Promise<number> {
  const ref = await on('cpu', fn);
  const got = await on('wasm', fn);
  assert.equal(got.length, ref.length, `${label}: output count`);
  let worst = 0;
  for (let k = 0; k < ref.length; k++) {
    assert.deepEqual(got[k].shape, ref[k].shape, `${label}: output ${k} shape`);
    let maxRef = 0;
    let maxDiff = 0;
    for (let i = 0; i < ref[k].values.length; i++) {
      maxRef = Math.max(maxRef, Math.abs(ref[k].values[i]));
      const d = Math.abs(ref[k].values[i] - got[k].values[i]);
      if (!(d <= maxDiff)) maxDiff = Number.isNaN(d) ? Number.POSITIVE_INFINITY : d;
    }
    const rel = maxDiff / Math.max(1, maxRef);
    worst = Math.max(worst, rel);
    assert.ok(rel <= REL_TOL, `${label}: output ${k} differs from cpu: max |diff| ${maxDiff} (max |ref| ${maxRef})`);
    assert.ok(maxRef > 0, `${label}: output ${k} is all zeros (test would not see a wrong gradient)`);
  }
  return worst;
}

before(async () => {
  await initBackend('wasm', { quiet: true });
});

test('registerWasmKernels registers every kit kernel on wasm and is idempotent', () => {
  const again = registerWasmKernels();
  assert.deepEqual(again, [...WASM_KIT_KERNELS]);
  assert.deepEqual(registerWasmKernels(), again);
  for (const name of WASM_KIT_KERNELS) assert.ok(tf.getKernel(name, 'wasm'), `${name} registered on wasm`);
});

// ---------------------------------------------------------------------------------------------
type Conv2DPad = 'valid' | 'same' | [[number, number], [number, number], [number, number], [number, number]];
interface ConvCase {
  x: number[];
  f: number[];
  strides: number | [number, number];
  pad: Conv2DPad;
}
const EXPLICIT_1: Conv2DPad = [[0, 0], [1, 1], [1, 1], [0, 0]];
const CONV_CASES: ConvCase[] = [
  { x: [2, 7, 9, 3], f: [3, 3, 3, 4], strides: 1, pad: 'same' },
  { x: [2, 7, 9, 3], f: [3, 3, 3, 4], strides: 1, pad: 'valid' },
  { x: [2, 7, 9, 3], f: [3, 3, 3, 4], strides: 1, pad: EXPLICIT_1 },
  { x: [2, 9, 7, 3], f: [3, 3, 3, 5], strides: 2, pad: 'same' },
  { x: [2, 8, 8, 3], f: [3, 3, 3, 4], strides: 2, pad: 'valid' }, // last row/col unused → crop path
  { x: [2, 8, 8, 3], f: [3, 3, 3, 4], strides: 2, pad: EXPLICIT_1 },
  { x: [1, 11, 11, 2], f: [5, 5, 2, 3], strides: 2, pad: 'same' },
  { x: [2, 9, 8, 3], f: [3, 2, 3, 4], strides: [2, 1], pad: [[0, 0], [0, 2], [1, 0], [0, 0]] },
  { x: [2, 6, 6, 4], f: [1, 1, 4, 6], strides: 1, pad: 'valid' },
  { x: [2, 8, 8, 3], f: [4, 4, 3, 4], strides: 2, pad: 'same' },
  { x: [2, 7, 7, 3], f: [2, 2, 3, 4], strides: 1, pad: 'same' }, // asymmetric 'same' (pad 0 top, 1 bottom)
  { x: [1, 5, 5, 2], f: [3, 3, 2, 3], strides: 1, pad: [[0, 0], [3, 3], [0, 2], [0, 0]] }, // pad > k−1 → native fallback
  { x: [1, 16, 16, 8], f: [3, 3, 8, 16], strides: 1, pad: EXPLICIT_1 },
  { x: [2, 16, 16, 8], f: [3, 3, 8, 16], strides: 2, pad: EXPLICIT_1 }, // the kit's small CNN (stride-2 stages)
  { x: [2, 15, 13, 3], f: [3, 3, 3, 4], strides: 2, pad: EXPLICIT_1 }, // odd sizes, phase grid > input
  { x: [2, 10, 11, 3], f: [3, 3, 3, 4], strides: 3, pad: [[0, 0], [2, 0], [0, 1], [0, 0]] },
  { x: [2, 8, 8, 3], f: [1, 1, 3, 4], strides: 2, pad: 'valid' }, // phases without taps
  { x: [2, 8, 8, 2], f: [2, 2, 2, 3], strides: 2, pad: 'same' },
  { x: [2, 10, 9, 3], f: [4, 4, 3, 5], strides: 4, pad: 'valid' }, // patchify, leftover rows/cols
  { x: [2, 12, 8, 3], f: [4, 2, 3, 5], strides: [4, 2], pad: 'valid' }, // patchify, non-square
  { x: [1, 11, 11, 2], f: [4, 4, 2, 3], strides: 4, pad: 'same' }, // k = s but padded: not patchify
];

function padName(p: Conv2DPad): string {
  return typeof p === 'string' ? p : JSON.stringify(p);
}

for (const [i, c] of CONV_CASES.entries()) {
  test(`conv2d forward + dx + dW vs cpu: x${JSON.stringify(c.x)} f${JSON.stringify(c.f)} s${JSON.stringify(c.strides)} ${padName(c.pad)}`, async () => {
    const xv = randn(`conv${i}.x`, c.x);
    const fv = randn(`conv${i}.f`, c.f);
    const outShape = tf.tidy(() => tf.conv2d(t(xv) as tf.Tensor4D, t(fv) as tf.Tensor4D, c.strides, c.pad).shape);
    const rv = randn(`conv${i}.r`, outShape);
    await agree(`conv${i}`, () => {
      const x = t(xv) as tf.Tensor4D;
      const f = t(fv) as tf.Tensor4D;
      const r = t(rv);
      const loss = (a: tf.Tensor, b: tf.Tensor) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.strides, c.pad).mul(r).sum();
      const [dx, df] = tf.grads(loss)([x, f]);
      return [tf.conv2d(x, f, c.strides, c.pad), dx, df];
    });
  });
}

test('conv2dTranspose (Conv2DBackpropInput forward use) vs cpu, stride 1 and 2', async () => {
  for (const [k, s] of [1, 2].entries()) {
    const xv = randn(`convT${k}.x`, [2, 5, 6, 4]);
    const fv = randn(`convT${k}.f`, [3, 3, 3, 4]); // [KH, KW, outC, inC]
    const outShape: [number, number, number, number] = [2, 5 * s, 6 * s, 3];
    const rv = randn(`convT${k}.r`, outShape);
    await agree(`conv2dTranspose s${s}`, () => {
      const x = t(xv) as tf.Tensor4D;
      const f = t(fv) as tf.Tensor4D;
      const loss = (a: tf.Tensor, b: tf.Tensor) =>
        tf.conv2dTranspose(a as tf.Tensor4D, b as tf.Tensor4D, outShape, s, 'same').mul(t(rv)).sum();
      const [dx, df] = tf.grads(loss)([x, f]);
      return [tf.conv2dTranspose(x, f, outShape, s, 'same'), dx, df];
    });
  }
});

// ---------------------------------------------------------------------------------------------
interface DwCase {
  x: number[];
  f: number[];
  strides: number;
  pad: Conv2DPad;
}
const DW_CASES: DwCase[] = [
  { x: [2, 7, 8, 3], f: [3, 3, 3, 1], strides: 1, pad: 'same' },
  { x: [2, 7, 8, 3], f: [3, 3, 3, 2], strides: 2, pad: 'valid' },
  { x: [2, 9, 9, 4], f: [5, 5, 4, 1], strides: 2, pad: 'same' },
  { x: [1, 6, 7, 2], f: [3, 3, 2, 3], strides: 1, pad: EXPLICIT_1 },
];

for (const [i, c] of DW_CASES.entries()) {
  test(`depthwiseConv2d forward + dx + dW vs cpu: x${JSON.stringify(c.x)} f${JSON.stringify(c.f)} s${c.strides} ${padName(c.pad)}`, async () => {
    const xv = randn(`dw${i}.x`, c.x);
    const fv = randn(`dw${i}.f`, c.f);
    const outShape = tf.tidy(() => tf.depthwiseConv2d(t(xv) as tf.Tensor4D, t(fv) as tf.Tensor4D, c.strides, c.pad).shape);
    const rv = randn(`dw${i}.r`, outShape);
    await agree(`dw${i}`, () => {
      const x = t(xv) as tf.Tensor4D;
      const f = t(fv) as tf.Tensor4D;
      const loss = (a: tf.Tensor, b: tf.Tensor) =>
        tf.depthwiseConv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.strides, c.pad).mul(t(rv)).sum();
      const [dx, df] = tf.grads(loss)([x, f]);
      return [tf.depthwiseConv2d(x, f, c.strides, c.pad), dx, df];
    });
  });
}

test('separableConv2d gradients vs cpu', async () => {
  const xv = randn('sep.x', [2, 8, 8, 3]);
  const dv = randn('sep.d', [3, 3, 3, 2]);
  const pv = randn('sep.p', [1, 1, 6, 5]);
  const rv = randn('sep.r', [2, 8, 8, 5]);
  await agree('separable', () => {
    const loss = (x: tf.Tensor, d: tf.Tensor, p: tf.Tensor) =>
      tf.separableConv2d(x as tf.Tensor4D, d as tf.Tensor4D, p as tf.Tensor4D, 1, 'same').mul(t(rv)).sum();
    return tf.grads(loss)([t(xv), t(dv), t(pv)]);
  });
});

// ---------------------------------------------------------------------------------------------
test('gather gradient (UnsortedSegmentSum) with repeated indices vs cpu', async () => {
  const embV = randn('gather.emb', [11, 6]);
  const s = seeds.child('gather.idx');
  const idx = Int32Array.from({ length: 4 * 7 }, () => s.int(5)); // only 5 of 11 rows: many repeats
  const rv = randn('gather.r', [4, 7, 6]);
  await agree('gather axis 0 [B, L] indices', () => {
    const loss = (e: tf.Tensor) => tf.gather(e, tf.tensor(idx, [4, 7], 'int32')).mul(t(rv)).sum();
    const [de] = tf.grads(loss)([t(embV)]);
    return [tf.gather(t(embV), tf.tensor(idx, [4, 7], 'int32')), de];
  });
  const xv = randn('gather1.x', [3, 10, 4]);
  const idx1 = Int32Array.from([9, 0, 9, 3, 3, 3, 7]);
  const rv1 = randn('gather1.r', [3, 7, 4]);
  await agree('gather axis 1', () => {
    const loss = (e: tf.Tensor) => tf.gather(e, tf.tensor1d(idx1, 'int32'), 1).mul(t(rv1)).sum();
    return [tf.gather(t(xv), tf.tensor1d(idx1, 'int32'), 1), ...tf.grads(loss)([t(xv)])];
  });
  const bv = randn('gather2.x', [3, 5, 4, 2]);
  await agree('gather axis 2, batchDims 1', () => [
    tf.gather(t(bv), tf.tensor2d([[0, 3, 3], [1, 1, 0], [2, 0, 1]], [3, 3], 'int32'), 2, 1),
  ]);
});

test('gather of int32 / bool values and out-of-range indices', async () => {
  await tf.setBackend('wasm');
  const xi = tf.tensor2d([[1, 2], [3, 4], [5, 6]], [3, 2], 'int32');
  const i0 = tf.tensor1d([2, 0, 2], 'int32');
  const g = tf.gather(xi, i0);
  assert.equal(g.dtype, 'int32');
  assert.deepEqual(g.arraySync(), [[5, 6], [1, 2], [5, 6]]);
  const xb = tf.tensor1d([1, 0, 1], 'bool');
  const ib = tf.tensor1d([1, 2], 'int32');
  const gb = tf.gather(xb, ib);
  assert.equal(gb.dtype, 'bool');
  assert.deepEqual(Array.from(gb.dataSync()), [0, 1]);
  const before = tf.memory().numDataBuffers;
  const bad = tf.tensor1d([0, 3], 'int32');
  assert.throws(() => tf.gather(xi, bad), /index value 3 is not in \[0, 2\]/);
  bad.dispose();
  assert.equal(tf.memory().numDataBuffers, before);
  tf.dispose([xi, i0, g, xb, ib, gb]);
});

test('unsortedSegmentSum forward (float32 and int32) vs cpu and vs a hand sum', async () => {
  const xv = randn('uss.x', [9, 3, 2]);
  const ids = Int32Array.from([0, 4, 4, 1, 0, 4, 2, 2, 0]);
  await agree('unsortedSegmentSum f32', () => [tf.unsortedSegmentSum(t(xv), tf.tensor1d(ids, 'int32'), 6)]);
  await tf.setBackend('wasm');
  const xi = tf.tensor2d([[1, 2], [3, 4], [5, 6], [7, 8]], [4, 2], 'int32');
  const out = tf.unsortedSegmentSum(xi, tf.tensor1d([2, 0, 2, 2], 'int32'), 3);
  assert.equal(out.dtype, 'int32');
  assert.deepEqual(out.arraySync(), [[3, 4], [0, 0], [13, 16]]);
  tf.dispose([xi, out]);
});

// ---------------------------------------------------------------------------------------------
interface PoolCase {
  x: number[];
  size: number;
  strides: number;
  pad: 'valid' | 'same';
  values: 'negative' | 'mixed' | 'ties';
}
const POOL_CASES: PoolCase[] = [
  { x: [2, 8, 8, 3], size: 2, strides: 2, pad: 'valid', values: 'negative' },
  { x: [2, 9, 7, 3], size: 3, strides: 2, pad: 'same', values: 'negative' },
  { x: [2, 7, 7, 3], size: 2, strides: 2, pad: 'same', values: 'negative' },
  { x: [2, 9, 7, 3], size: 3, strides: 2, pad: 'same', values: 'mixed' },
  { x: [1, 6, 6, 4], size: 3, strides: 1, pad: 'same', values: 'mixed' },
  { x: [2, 8, 8, 2], size: 2, strides: 2, pad: 'valid', values: 'ties' },
];

for (const [i, c] of POOL_CASES.entries()) {
  test(`maxPool forward + grad vs cpu: x${JSON.stringify(c.x)} ${c.size}×${c.size}/${c.strides} ${c.pad} ${c.values}`, async () => {
    const tr = c.values === 'negative' ? (v: number) => -Math.abs(v) - 0.1 : c.values === 'ties' ? (v: number) => Math.round(v) : (v: number) => v;
    const xv = randn(`pool${i}.x`, c.x, tr);
    const outShape = tf.tidy(() => tf.maxPool(t(xv) as tf.Tensor4D, c.size, c.strides, c.pad).shape);
    const rv = randn(`pool${i}.r`, outShape);
    await agree(`pool${i}`, () => {
      const loss = (a: tf.Tensor) => tf.maxPool(a as tf.Tensor4D, c.size, c.strides, c.pad).mul(t(rv)).sum();
      const [dx] = tf.grads(loss)([t(xv)]);
      return [tf.maxPool(t(xv) as tf.Tensor4D, c.size, c.strides, c.pad), dx];
    });
  });
}

test('maxPool gradient of an all-negative 2×2 window goes to its maximum (exact values)', async () => {
  await tf.setBackend('wasm');
  // one 2×2 window, all negative; max −1 at (1, 0)
  const x = tf.tensor4d([-3, -2, -1, -4], [1, 2, 2, 1]);
  const dx = tf.grad((a: tf.Tensor) => tf.maxPool(a as tf.Tensor4D, 2, 2, 'valid').sum())(x);
  assert.deepEqual(Array.from(dx.dataSync()), [0, 0, 1, 0]);
  tf.dispose([x, dx]);
});

// ---------------------------------------------------------------------------------------------
/** `grads: false`: tfjs's BatchMatMul gradient itself (on every backend) rejects broadcast batch dims. */
const MM_SHAPES: { a: number[]; b: number[]; grads: boolean }[] = [
  { a: [5, 7], b: [7, 3], grads: true },
  { a: [3, 5, 7], b: [3, 7, 4], grads: true },
  { a: [2, 3, 5, 7], b: [2, 3, 7, 4], grads: true },
  { a: [1, 5, 7], b: [3, 7, 4], grads: false }, // broadcast batch (tiny: wasm's own kernel)
  { a: [8, 24, 16], b: [8, 16, 32], grads: true }, // batched → depthwise route
  { a: [2, 4, 24, 16], b: [2, 4, 16, 32], grads: true }, // rank 4 → depthwise route
  { a: [6, 20, 16], b: [16, 24], grads: false }, // x · W (only a batched) → one 2-D product
  { a: [3, 20, 16], b: [1, 16, 24], grads: false }, // b batch of size 1
  { a: [20, 16], b: [6, 16, 24], grads: false }, // only b batched → one 2-D product
  { a: [1, 20, 16], b: [2, 3, 16, 24], grads: false }, // only b batched, rank 4
  { a: [2, 1, 20, 16], b: [1, 3, 16, 24], grads: false }, // partial broadcast → wasm's own kernel
];

function tr(shape: number[], yes: boolean): number[] {
  if (!yes) return shape;
  const s = shape.slice();
  const n = s.length;
  [s[n - 2], s[n - 1]] = [s[n - 1], s[n - 2]];
  return s;
}

for (const [i, sh] of MM_SHAPES.entries()) {
  for (const ta of [false, true]) {
    for (const tb of [false, true]) {
      test(`matMul forward${sh.grads ? ' + grads' : ''} vs cpu: a${JSON.stringify(sh.a)} b${JSON.stringify(sh.b)} transposeA=${ta} transposeB=${tb}`, async () => {
        const av = randn(`mm${i}.${ta}.${tb}.a`, tr(sh.a, ta));
        const bv = randn(`mm${i}.${ta}.${tb}.b`, tr(sh.b, tb));
        const outShape = tf.tidy(() => tf.matMul(t(av), t(bv), ta, tb).shape);
        const rv = randn(`mm${i}.${ta}.${tb}.r`, outShape);
        await agree(`mm${i} ${ta} ${tb}`, () => {
          if (!sh.grads) return [tf.matMul(t(av), t(bv), ta, tb)];
          const loss = (a: tf.Tensor, b: tf.Tensor) => tf.matMul(a, b, ta, tb).mul(t(rv)).sum();
          const [da, db] = tf.grads(loss)([t(av), t(bv)]);
          return [tf.matMul(t(av), t(bv), ta, tb), da, db];
        });
      });
    }
  }
}

test('fused matMul (bias + relu) with all transpose combos: forward + grads vs cpu', async () => {
  for (const ta of [false, true]) {
    for (const tb of [false, true]) {
      const av = randn(`fmm.${ta}.${tb}.a`, tr([6, 8], ta));
      const bv = randn(`fmm.${ta}.${tb}.b`, tr([8, 5], tb));
      const biasV = randn(`fmm.${ta}.${tb}.bias`, [5]);
      const rv = randn(`fmm.${ta}.${tb}.r`, [6, 5]);
      await agree(`fused ${ta} ${tb}`, () => {
        const f = (a: tf.Tensor, b: tf.Tensor, bias: tf.Tensor) =>
          tf.fused.matMul({ a: a as tf.Tensor2D, b: b as tf.Tensor2D, transposeA: ta, transposeB: tb, bias, activation: 'relu' });
        const loss = (a: tf.Tensor, b: tf.Tensor, bias: tf.Tensor) => f(a, b, bias).mul(t(rv)).sum();
        return [f(t(av), t(bv), t(biasV)), ...tf.grads(loss)([t(av), t(bv), t(biasV)])];
      });
    }
  }
});

// ---------------------------------------------------------------------------------------------
test('simplifyTranspose drops size-1 axes and merges axes that stay adjacent', () => {
  assert.deepEqual(simplifyTranspose([2, 3, 4, 5], [0, 2, 3, 1]), { shape: [2, 3, 20], perm: [0, 2, 1] });
  assert.deepEqual(simplifyTranspose([2, 1, 4, 5], [1, 0, 3, 2]), { shape: [2, 4, 5], perm: [0, 2, 1] });
  assert.deepEqual(simplifyTranspose([32, 32, 3, 4, 16], [2, 0, 3, 1, 4]), { shape: [32, 32, 3, 4, 16], perm: [2, 0, 3, 1, 4] });
  assert.deepEqual(simplifyTranspose([6, 7], [0, 1]), { shape: [42], perm: [0] });
});

const TRANSPOSE_CASES: { shape: number[]; perm: number[] }[] = [
  { shape: [3, 5, 3, 2, 4], perm: [2, 0, 3, 1, 4] }, // qkv split, rank 5 → JS
  { shape: [2, 3, 4, 5, 6, 2], perm: [5, 3, 1, 0, 4, 2] }, // rank 6 → JS
  { shape: [2, 3, 1, 4, 5], perm: [4, 2, 3, 0, 1] }, // reduces to rank ≤ 4 → wasm
  { shape: [3, 4, 5, 6], perm: [3, 1, 2, 0] },
  { shape: [7, 9], perm: [1, 0] },
  { shape: [3, 1, 4, 1], perm: [0, 3, 2, 1] }, // only size-1 axes move: shared buffer
  { shape: [5, 6], perm: [0, 1] }, // identity permutation
];

for (const [i, c] of TRANSPOSE_CASES.entries()) {
  test(`transpose forward + grad vs cpu: ${JSON.stringify(c.shape)} perm ${JSON.stringify(c.perm)}`, async () => {
    const xv = randn(`tr${i}.x`, c.shape);
    const rv = randn(`tr${i}.r`, c.perm.map((a) => c.shape[a]));
    await agree(`transpose${i}`, () => {
      const loss = (a: tf.Tensor) => tf.transpose(a, c.perm).mul(t(rv)).sum();
      return [tf.transpose(t(xv), c.perm), ...tf.grads(loss)([t(xv)])];
    });
  });
}

test('rank-5 transpose of int32 and bool tensors keeps dtype and values', async () => {
  await tf.setBackend('wasm');
  const shape = [2, 3, 2, 2, 3];
  const perm = [4, 2, 0, 3, 1];
  const n = shape.reduce((p, d) => p * d, 1);
  const ints = Int32Array.from({ length: n }, (_, i) => i * 7 - 30);
  const ti = tf.transpose(tf.tensor(ints, shape, 'int32'), perm);
  const tb = tf.transpose(tf.tensor(ints, shape, 'int32').greater(0), perm);
  const ref = tf.buffer(shape, 'int32', ints);
  const outShape = perm.map((a) => shape[a]);
  const got = ti.bufferSync();
  const gotB = tb.bufferSync();
  assert.equal(ti.dtype, 'int32');
  assert.equal(tb.dtype, 'bool');
  for (let k = 0; k < n; k++) {
    const o = got.indexToLoc(k);
    const inLoc = new Array<number>(shape.length);
    perm.forEach((a, j) => (inLoc[a] = o[j]));
    assert.equal(got.get(...o), ref.get(...inLoc));
    assert.equal(gotB.get(...o), ref.get(...inLoc) > 0 ? 1 : 0);
  }
  assert.deepEqual(ti.shape, outShape);
  tf.dispose([ti, tb]);
});

// ---------------------------------------------------------------------------------------------
test('Identity / same-dtype Cast share buffers safely (clone outlives source, assign does not leak through)', async () => {
  await tf.setBackend('wasm');
  const buffersBefore = tf.memory().numDataBuffers;
  const a = tf.tensor1d([1.5, 2, 3]);
  const b = tf.clone(a);
  const c = tf.cast(a, 'float32');
  a.dispose();
  assert.deepEqual(Array.from(b.dataSync()), [1.5, 2, 3]);
  assert.deepEqual(Array.from(c.dataSync()), [1.5, 2, 3]);
  const v0 = tf.tensor1d([1, 2, 3]);
  const v1 = tf.tensor1d([4, 5, 6]);
  const v = tf.variable(v0);
  const snap = tf.clone(v);
  v.assign(v1);
  assert.deepEqual(Array.from(snap.dataSync()), [1, 2, 3]);
  assert.deepEqual(Array.from(v.dataSync()), [4, 5, 6]);
  const f = tf.tensor1d([1.7, -1.7, 0.2]);
  const i = tf.cast(f, 'int32');
  assert.equal(i.dtype, 'int32');
  assert.deepEqual(Array.from(i.dataSync()), [1, -1, 0]);
  tf.dispose([b, c, v, v0, v1, snap, f, i]);
  assert.equal(tf.memory().numDataBuffers, buffersBefore);
});

test('five Adam steps of a conv + maxpool + gather + attention model end with the same weights as on cpu', async () => {
  const init = {
    w: randn('adam.w', [3, 3, 3, 8], (v) => v * 0.3),
    w2: randn('adam.w2', [3, 3, 8, 8], (v) => v * 0.2),
    emb: randn('adam.emb', [12, 8]),
    q: randn('adam.q', [8, 8], (v) => v * 0.3),
  };
  const xv = randn('adam.x', [4, 9, 9, 3]);
  const ids = Int32Array.from([1, 3, 3, 7, 0, 1, 1, 1, 5, 5, 11, 2]);
  const train = async (backend: 'cpu' | 'wasm') => {
    await tf.setBackend(backend);
    const vars = Object.fromEntries(Object.entries(init).map(([k, v]) => [k, tf.variable(t(v), true, `${k}_${backend}`)]));
    const x = t(xv) as tf.Tensor4D;
    const tok = tf.tensor2d(ids, [4, 3], 'int32');
    const opt = tf.train.adam(0.01);
    for (let step = 0; step < 5; step++) {
      opt.minimize(() => {
        const h = tf.relu(tf.conv2d(x, vars.w as tf.Tensor4D, 2, EXPLICIT_1)); // [4, 5, 5, 8]
        const h2 = tf.maxPool(tf.conv2d(h, vars.w2 as tf.Tensor4D, 1, 'same'), 2, 2, 'valid'); // [4, 2, 2, 8]
        const img = tf.mean(h2, [1, 2]); // [4, 8]
        const e = tf.gather(vars.emb, tok); // [4, 3, 8]
        const qe = tf.matMul(e.reshape([12, 8]), vars.q).reshape([4, 3, 8]); // [4, 3, 8]
        const att = tf.softmax(tf.matMul(qe, e, false, true)); // [4, 3, 3]
        const txt = tf.mean(tf.matMul(att, e), 1); // [4, 8]
        const logits = tf.matMul(img, txt, false, true); // [4, 4]
        return tf.losses.softmaxCrossEntropy(tf.eye(4), logits) as tf.Scalar;
      }, false, Object.values(vars));
    }
    const out = Object.fromEntries(Object.entries(vars).map(([k, v]) => [k, Float32Array.from(v.dataSync())]));
    tf.dispose([...Object.values(vars), x, tok]);
    opt.dispose();
    return out;
  };
  const ref = await train('cpu');
  const got = await train('wasm');
  for (const k of Object.keys(init)) {
    let maxDiff = 0;
    let moved = 0;
    const start = init[k as keyof typeof init].data;
    for (let i = 0; i < ref[k].length; i++) {
      maxDiff = Math.max(maxDiff, Math.abs(ref[k][i] - got[k][i]));
      moved = Math.max(moved, Math.abs(ref[k][i] - start[i]));
    }
    assert.ok(moved > 1e-3, `${k}: training did not move the weights`);
    assert.ok(maxDiff < 1e-4, `${k}: wasm and cpu weights differ by ${maxDiff} after 5 Adam steps`);
  }
});

// ---------------------------------------------------------------------------------------------
test('no tensor or backend-buffer leak over repeated gradient computations on wasm', async () => {
  await tf.setBackend('wasm');
  const x = t(randn('leak.x', [2, 8, 8, 3]));
  const w = tf.variable(t(randn('leak.w', [3, 3, 3, 4])));
  const dw = tf.variable(t(randn('leak.dw', [3, 3, 4, 2])));
  const emb = tf.variable(t(randn('leak.emb', [10, 8])));
  const proj = tf.variable(t(randn('leak.proj', [16, 8])));
  const ids = tf.tensor2d([[1, 2, 2], [3, 1, 1]], [2, 3], 'int32');
  const ws = tf.variable(t(randn('leak.ws', [3, 3, 4, 4])));
  const wp = tf.variable(t(randn('leak.wp', [2, 2, 4, 4])));
  const attK = tf.variable(t(randn('leak.attK', [2, 48, 64])));
  const step = () => {
    const { value, grads } = tf.variableGrads(() => {
      const h = tf.relu(tf.conv2d(x as tf.Tensor4D, w as unknown as tf.Tensor4D, 1, EXPLICIT_1)); // [2, 8, 8, 4]
      const hs = tf.conv2d(h, ws as unknown as tf.Tensor4D, 2, EXPLICIT_1); // [2, 4, 4, 4]  (phase-decomposed dx)
      const hp = tf.conv2d(hs, wp as unknown as tf.Tensor4D, 2, 'valid'); // [2, 2, 2, 4]  (patchify)
      const d = tf.depthwiseConv2d(h, dw as unknown as tf.Tensor4D, 2, 'same');
      const p = tf.maxPool(d, 2, 2, 'valid').reshape([2, -1]); // [2, 16]
      const img = tf.add(tf.matMul(p.slice([0, 0], [2, 16]), proj), tf.mean(hp, [1, 2]).tile([1, 2])); // [2, 8]
      const txt = tf.transpose(tf.gather(emb, ids).reshape([2, 3, 2, 2, 2]), [4, 2, 0, 3, 1]).reshape([2, 3, 8]).mean(1); // [2, 8]
      const q = tf.tile(tf.expandDims(txt, 1), [1, 16, 8]); // [2, 16, 64]
      const att = tf.matMul(q, attK, false, true); // [2, 16, 48]  (batched → depthwise route)
      return tf.add(tf.matMul(img, txt, false, true).square().mean(), att.square().mean()) as tf.Scalar;
    });
    tf.dispose([value, ...Object.values(grads)]);
  };
  const g = await memoryGrowth(step, 4);
  assert.deepEqual(g, { tensors: 0, dataBuffers: 0 });
  assert.equal(await tensorGrowth(step, 2), 0);
  // and the helper does see a real leak
  const leaky: tf.Tensor[] = [];
  assert.equal(await tensorGrowth(() => void leaky.push(tf.ones([2])), 3), 3);
  tf.dispose([x, w, dw, emb, proj, ids, ws, wp, attK, ...leaky]);
});
