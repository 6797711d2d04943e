/**
 * The native CPU path (src/backends/native_kernels.ts, native/kit_native.c): every native kernel against
 * the cpu backend, forward and gradient, on seeded inputs over a grid of shapes; the fallback cases; the
 * thread count does not change the numbers (on OpenBLAS's AVX2 kernels: only to float rounding for products large
 * enough to thread); no tensor or buffer growth; switching back to plain wasm
 * restores wasm's kernels; a missing build falls back to wasm and says why.
 *
 * Needs build/native/kit_native.node (`npm run setup` or `bash native/build.sh`). Without it the kernel
 * tests are skipped with that reason, unless KIT_NATIVE_REQUIRED=1 (CI sets it), which makes them fail.
 */
import { test, before } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawnSync } from 'child_process';
import * as tf from '@tensorflow/tfjs';
import { backendInfo, initBackend } from '../src/backends/backend';
import { coreOfBlasConfig, threadInvariantGemm } from '../src/backends/blas_core';
import {
  fusedAdamWActive,
  fusedAttentionActive,
  fusedGlobalNormActive,
  fusedLinearActive,
  KIT_DROPOUT_MASK,
  nativeDropoutMask,
  nativeDropoutMaskActive,
  KIT_LINEAR,
  KIT_LINEAR_GRAD,
  registerNativeKernels,
  KIT_GLOBAL_NORM,
  KIT_ATTENTION,
  KIT_ATTENTION_GRAD,
  fusedGeluActive,
  KIT_ADAMW,
  KIT_GELU,
  KIT_GELU_GRAD,
  KIT_LAYER_NORM,
  KIT_LAYER_NORM_GRAD,
  fusedLayerNormActive,
  loadNativeAddon,
  defaultGemm,
  GemmLibrary,
  parseGemmBuilds,
  NATIVE_FUSED_KERNELS,
  NATIVE_KIT_KERNELS,
  nativeAddonPath,
  nativeKernelsActive,
  nativeThreads,
  setNativeThreads,
} from '../src/backends/native_kernels';
import { SeedStream } from '../src/utils/random';
import { memoryGrowth } from '../src/utils/leak';
import { projectRoot } from '../src/utils/fs';
import { AdamW, clipByGlobalNorm } from '../src/training/adamw';
import { attentionWithProbabilities, causalMask, dropout, dropoutMask, gelu, layerNorm, linear } from '../src/models/layers';
import { ParamStore, constantInit } from '../src/models/params';

/** Max |native − cpu| allowed, relative to max(1, max |cpu|). */
const REL_TOL = 1e-4;

const built = fs.existsSync(nativeAddonPath());
if (!built && process.env.KIT_NATIVE_REQUIRED === '1') {
  throw new Error(`KIT_NATIVE_REQUIRED=1 but ${nativeAddonPath()} is not built (bash native/build.sh)`);
}
const skip = built ? false : `${path.relative(projectRoot(), nativeAddonPath())} not built (bash native/build.sh)`;

const seeds = new SeedStream(20261202, 'test/backend_native');

function randn(name: string, shape: number[], scale = 1): { shape: number[]; data: Float32Array } {
  const s = seeds.child(name);
  const n = shape.reduce((p, d) => p * d, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = s.normal() * scale;
  return { shape, data };
}

function t(v: { shape: number[]; data: Float32Array }): tf.Tensor {
  return tf.tensor(v.data, v.shape, 'float32');
}

type Outs = { shape: number[]; values: Float32Array }[];

async function run(backend: 'cpu' | 'wasm' | 'native', fn: () => tf.Tensor[]): Promise<Outs> {
  if (backend === 'cpu') await tf.setBackend('cpu');
  else if (backend === 'wasm') await initBackend('wasm', { quiet: true });
  else {
    await initBackend('native', { quiet: true });
    // (before the fix in initBackend, a repeated initBackend('native') left tfjs on cpu: this compared cpu with cpu)
    assert.equal(tf.getBackend(), 'wasm', 'the native path runs on the wasm backend');
  }
  return collect(fn);
}

/** Run `fn` in a tidy on the current backend and download its outputs. */
function collect(fn: () => tf.Tensor[]): Outs {
  const outs = tf.tidy(fn);
  const res = outs.map((o) => ({ shape: o.shape.slice(), values: Float32Array.from(o.dataSync()) }));
  tf.dispose(outs);
  return res;
}

/** Compute `fn` on cpu and on the native path and assert the outputs agree. */
async function agree(label: string, fn: () => tf.Tensor[]): Promise<void> {
  const ref = await run('cpu', fn);
  const got = await run('native', fn);
  assert.ok(nativeKernelsActive(), `${label}: native kernels registered`);
  assert.equal(got.length, ref.length, `${label}: output count`);
  for (let k = 0; k < ref.length; k++) {
    assert.deepEqual(got[k].shape, ref[k].shape, `${label}: output ${k} shape`);
    let maxRef = 0;
    let maxDiff = 0;
    for (let i = 0; i < ref[k].values.length; i++) {
      maxRef = Math.max(maxRef, Math.abs(ref[k].values[i]));
      const d = Math.abs(ref[k].values[i] - got[k].values[i]);
      if (!(d <= maxDiff)) maxDiff = Number.isNaN(d) ? Number.POSITIVE_INFINITY : d;
    }
    assert.ok(maxRef > 0, `${label}: output ${k} is all zeros (the test would not see a wrong value)`);
    assert.ok(maxDiff / Math.max(1, maxRef) <= REL_TOL, `${label}: output ${k} differs from cpu: max |diff| ${maxDiff} (max |ref| ${maxRef})`);
  }
}

before(async () => {
  if (built) await initBackend('native', { quiet: true });
});

test('initBackend("native") registers the native kernels on wasm and reports threads and BLAS', { skip }, async () => {
  const info = await initBackend('native', { quiet: true });
  assert.equal(info.name, 'native');
  assert.equal(info.tfjsBackend, 'wasm');
  assert.equal(tf.getBackend(), 'wasm');
  assert.ok(info.native, 'native info');
  assert.deepEqual(info.native.kernels, [...NATIVE_KIT_KERNELS, ...NATIVE_FUSED_KERNELS]);
  assert.ok(info.native.threads >= 1);
  assert.equal(nativeThreads(), info.native.threads);
  assert.match(info.native.blas, /OpenBLAS/);
  assert.match(info.native.simd, /^(avx2|baseline)$/);
  for (const k of NATIVE_KIT_KERNELS) assert.ok(info.kitKernels.includes(k), k);
});

// ---------------------------------------------------------------------------------------------
// MatMul / BatchMatMul / _FusedMatMul

interface MatCase {
  a: number[];
  b: number[];
  ta: boolean;
  tb: boolean;
}

const MAT_CASES: MatCase[] = [
  { a: [7, 5], b: [5, 9], ta: false, tb: false },
  { a: [5, 7], b: [5, 9], ta: true, tb: false },
  { a: [7, 5], b: [9, 5], ta: false, tb: true },
  { a: [5, 7], b: [9, 5], ta: true, tb: true },
  { a: [3, 6, 4], b: [3, 4, 5], ta: false, tb: false }, // equal batches
  { a: [3, 4, 6], b: [3, 5, 4], ta: true, tb: true },
  { a: [2, 3, 6, 4], b: [4, 5], ta: false, tb: false }, // shared right operand: folded into one product
  { a: [2, 3, 6, 4], b: [5, 4], ta: false, tb: true },
  { a: [3, 4, 6], b: [4, 5], ta: true, tb: false }, // shared right operand, transposed left: batch loop
  { a: [6, 4], b: [2, 3, 4, 5], ta: false, tb: false }, // shared left operand
  { a: [1, 6, 4], b: [3, 4, 5], ta: false, tb: false },
  { a: [2, 1, 6, 4], b: [1, 3, 4, 5], ta: false, tb: false }, // general broadcast: falls back to the wasm kernel
  { a: [64, 96], b: [96, 48], ta: false, tb: false }, // large enough for OpenBLAS's threaded path
];

for (const [i, c] of MAT_CASES.entries()) {
  test(`matMul forward + gradients vs cpu: ${JSON.stringify(c)}`, { skip }, async () => {
    const av = randn(`mm${i}.a`, c.a);
    const bv = randn(`mm${i}.b`, c.b);
    // tfjs's own BatchMatMul gradient rejects broadcast batch dims (on every backend): forward only there.
    const sameBatch = JSON.stringify(c.a.slice(0, -2)) === JSON.stringify(c.b.slice(0, -2));
    await agree(`matMul${i}`, () => {
      const f = (a: tf.Tensor, b: tf.Tensor) => tf.matMul(a, b, c.ta, c.tb);
      const y = f(t(av), t(bv));
      if (!sameBatch) return [y];
      const r = tf.tensor(randn(`mm${i}.r`, y.shape).data, y.shape);
      const grads = tf.grads((a: tf.Tensor, b: tf.Tensor) => f(a, b).mul(r).sum())([t(av), t(bv)]);
      return [y, ...grads];
    });
  });
}

for (const activation of ['linear', 'relu', 'relu6', 'leakyrelu', 'elu', 'sigmoid'] as const) {
  test(`fused matMul (bias + ${activation}) forward + gradients vs cpu`, { skip }, async () => {
    const av = randn(`fm.${activation}.a`, [12, 5]);
    const a3 = randn(`fm.${activation}.a3`, [2, 6, 5]);
    const bv = randn(`fm.${activation}.b`, [5, 7]);
    const biasv = randn(`fm.${activation}.bias`, [7]);
    await agree(`fused ${activation}`, () => {
      const f = (a: tf.Tensor, b: tf.Tensor, bias: tf.Tensor) =>
        tf.fused.matMul({ a: a as tf.Tensor2D, b: b as tf.Tensor2D, bias, activation, leakyreluAlpha: 0.3 });
      const y = f(t(av), t(bv).mul(3), t(biasv));
      const r = tf.tensor(randn(`fm.${activation}.r`, y.shape).data, y.shape);
      const grads = tf.grads((a: tf.Tensor, b: tf.Tensor, bias: tf.Tensor) => f(a, b, bias).mul(r).sum())([t(av), t(bv), t(biasv)]);
      // Batched left operand with a shared right one (forward only: tfjs's gradient rejects the broadcast).
      const y3 = tf.fused.matMul({ a: t(a3) as tf.Tensor3D, b: t(bv).reshape([1, 5, 7]) as tf.Tensor3D, bias: t(biasv), activation, leakyreluAlpha: 0.3 });
      return [y, ...grads, y3];
    });
  });
}

test('fused matMul with transposed operands and a scalar bias vs cpu', { skip }, async () => {
  const av = randn('fmt.a', [5, 6]);
  const bv = randn('fmt.b', [7, 5]);
  await agree('fused transposed', () => [
    tf.fused.matMul({ a: t(av) as tf.Tensor2D, b: t(bv) as tf.Tensor2D, transposeA: true, transposeB: true, bias: tf.scalar(0.5), activation: 'relu' }),
  ]);
});

// ---------------------------------------------------------------------------------------------
// Conv2D and both backprops

type Pad = 'valid' | 'same' | [[number, number], [number, number], [number, number], [number, number]];

interface ConvCase {
  x: [number, number, number, number];
  f: [number, number, number, number];
  stride: number | [number, number];
  pad: Pad;
  dilation?: number;
}

const CONV_CASES: ConvCase[] = [
  { x: [2, 9, 9, 3], f: [3, 3, 3, 5], stride: 1, pad: 'same' },
  { x: [2, 9, 9, 3], f: [3, 3, 3, 5], stride: 2, pad: 'same' },
  { x: [2, 10, 8, 4], f: [3, 3, 4, 6], stride: 2, pad: 'valid' },
  { x: [1, 11, 11, 2], f: [5, 5, 2, 3], stride: [2, 3], pad: 'same' },
  { x: [2, 9, 9, 3], f: [3, 3, 3, 4], stride: 2, pad: [[0, 0], [1, 1], [1, 1], [0, 0]] }, // torch padding=1
  { x: [2, 8, 8, 6], f: [1, 1, 6, 4], stride: 1, pad: 'valid' }, // pointwise: one product
  { x: [2, 8, 8, 6], f: [1, 1, 6, 4], stride: 2, pad: 'valid' },
  { x: [2, 16, 16, 3], f: [4, 4, 3, 8], stride: 4, pad: 'valid' }, // patch embedding (stride = kernel)
  { x: [3, 16, 16, 8], f: [3, 3, 8, 16], stride: 1, pad: 'same' },
];

for (const [i, c] of CONV_CASES.entries()) {
  test(`conv2d forward + gradients vs cpu: x ${JSON.stringify(c.x)} f ${JSON.stringify(c.f)} stride ${JSON.stringify(c.stride)} pad ${JSON.stringify(c.pad)}`, { skip }, async () => {
    const xv = randn(`cv${i}.x`, c.x);
    const fv = randn(`cv${i}.f`, c.f, 0.5);
    await agree(`conv${i}`, () => {
      const f = (x: tf.Tensor, w: tf.Tensor) => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, c.stride, c.pad);
      const y = f(t(xv), t(fv));
      const r = tf.tensor(randn(`cv${i}.r`, y.shape).data, y.shape);
      const grads = tf.grads((x: tf.Tensor, w: tf.Tensor) => f(x, w).mul(r).sum())([t(xv), t(fv)]);
      return [y, ...grads];
    });
  });
}

test('dilated conv2d forward vs cpu (the gradient is not defined by tfjs for dilation > 1)', { skip }, async () => {
  const xv = randn('dil.x', [2, 12, 12, 3]);
  const fv = randn('dil.f', [3, 3, 3, 4]);
  await agree('dilated', () => [tf.conv2d(t(xv) as tf.Tensor4D, t(fv) as tf.Tensor4D, 1, 'same', 'NHWC', 2)]);
});

// ---------------------------------------------------------------------------------------------

/** A small conv + attention + MLP training step with every native kernel in it. */
function stepValues(vars: tf.Variable[], x: tf.Tensor4D): () => tf.Scalar {
  const [w1, w2, q, m] = vars;
  return () => {
    const h = tf.relu(tf.conv2d(x, w1 as tf.Tensor4D, 2, 'same')); // [4, 8, 8, 16]
    const h2 = tf.conv2d(h, w2 as tf.Tensor4D, 1, 'same'); // [4, 8, 8, 16]
    const seq = h2.reshape([4, 64, 16]); // [B, L, C]
    const qs = tf.matMul(seq.reshape([256, 16]), q).reshape([4, 64, 16]); // [B·L, C] · [C, C] → [B, L, C]
    const att = tf.softmax(tf.matMul(qs, seq, false, true).div(4)); // [4, 64, 64]
    // the fused linear, attention (with its dropout map) and dropout mask too
    const fa = attentionWithProbabilities(linear(seq, q, tf.fill([16], 0.05)), seq, seq, 2, { dropout: { rate: 0.1, seeds: new SeedStream(3) } }).out; // [4, 64, 16]
    const pooled = tf.add(tf.matMul(att, seq).mean(1), fa.mean(1)); // [4, 16]
    const o = gelu(layerNorm(pooled, tf.fill([16], 1.5), tf.fill([16], 0.1))); // [4, 16]: the fused LayerNorm and GELU too
    const y = tf.fused.matMul({ a: o, b: m as tf.Tensor2D, activation: 'relu' }); // [4, 8]
    return y.square().mean() as tf.Scalar;
  };
}

async function trainSteps(threads: number, steps: number): Promise<Float32Array[]> {
  await initBackend('native', { quiet: true });
  setNativeThreads(threads);
  const init = [randn('det.w1', [3, 3, 3, 16], 0.3), randn('det.w2', [3, 3, 16, 16], 0.2), randn('det.q', [16, 16], 0.3), randn('det.m', [16, 8], 0.3)];
  const vars = init.map((v, k) => tf.variable(t(v), true, `det${threads}_${k}_${Date.now()}`));
  const x = t(randn('det.x', [4, 16, 16, 3])) as tf.Tensor4D;
  const opt = tf.train.adam(0.01);
  for (let s = 0; s < steps; s++) opt.minimize(stepValues(vars, x), false, vars);
  const out = vars.map((v) => Float32Array.from(v.dataSync()));
  tf.dispose([...vars, x]);
  opt.dispose();
  return out;
}

test('same inputs, same thread count → bit-identical; 1 vs 2 threads → bit-identical too', { skip }, async () => {
  const saved = nativeThreads() ?? 1;
  try {
    const a = await trainSteps(2, 3);
    const b = await trainSteps(2, 3);
    const c = await trainSteps(1, 3);
    for (let k = 0; k < a.length; k++) {
      assert.deepEqual(b[k], a[k], `variable ${k}: two runs at 2 threads differ`);
      assert.deepEqual(c[k], a[k], `variable ${k}: 1 thread and 2 threads differ`);
    }
  } finally {
    setNativeThreads(saved);
  }
});

test('products large enough to thread, on each library the build has: same bits at the same thread count; at 1 vs 2 threads the same bits where blas_core.ts says so (oneDNN; OpenBLAS on AVX-512 cores), float rounding elsewhere', { skip }, async (ctx) => {
  await initBackend('native', { quiet: true });
  const info = backendInfo()?.native;
  assert.ok(info, 'the native backend reports its products library and OpenBLAS core');
  assert.equal(info.core, coreOfBlasConfig(info.blas));
  const loaded = loadNativeAddon();
  assert.ok('addon' in loaded);
  const addon = loaded.addon;
  assert.equal(addon.gemmLibrary(), info.gemm);
  const saved = nativeThreads() ?? 1;
  const av = randn('thr.a', [384, 256]);
  const bv = randn('thr.b', [256, 320]);
  const xv = randn('thr.x', [4, 32, 32, 16]);
  const fv = randn('thr.f', [3, 3, 16, 32], 0.2);
  const values = (threads: number): Float32Array[] => {
    setNativeThreads(threads);
    const outs = tf.tidy(() => {
      const mm = tf.matMul(t(av), t(bv));
      const [dx, dw] = tf.grads((x: tf.Tensor, w: tf.Tensor) => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, 'same').square().sum())([t(xv), t(fv)]);
      return [mm, dx, dw];
    });
    const res = outs.map((r) => Float32Array.from(r.dataSync()));
    tf.dispose(outs);
    return res;
  };
  const libraries = parseGemmBuilds(addon.gemmBuilds()).map((b) => b.library);
  assert.ok(libraries.includes('openblas'));
  try {
    for (const gemm of libraries) {
      addon.setGemm(gemm);
      assert.equal(addon.gemmLibrary(), gemm);
      const invariant = threadInvariantGemm(gemm, info.core);
      const one = values(1);
      const two = values(2);
      const twoAgain = values(2);
      let differing = 0;
      for (let k = 0; k < one.length; k++) {
        assert.deepEqual(twoAgain[k], two[k], `${gemm} output ${k}: two runs at 2 threads differ`);
        if (invariant) {
          assert.deepEqual(two[k], one[k], `${gemm} output ${k}: 1 and 2 threads differ (OpenBLAS core ${info.core})`);
        } else {
          let scale = 0;
          for (const v of one[k]) scale = Math.max(scale, Math.abs(v));
          for (let i = 0; i < one[k].length; i++) {
            if (two[k][i] !== one[k][i]) differing++;
            assert.ok(Math.abs(two[k][i] - one[k][i]) <= 1e-5 * scale, `${gemm} output ${k}[${i}]: 1 thread ${one[k][i]}, 2 threads ${two[k][i]}`);
          }
        }
      }
      ctx.diagnostic(`${gemm} products (OpenBLAS core ${info.core}): ${invariant ? '1 and 2 threads bit-identical' : `${differing} values differ in the last bits between 1 and 2 threads`}`);
    }
  } finally {
    addon.setGemm(info.gemm);
    setNativeThreads(saved);
  }
});

test('the products library: KIT_NATIVE_GEMM chooses, oneDNN by default when built, clear errors otherwise', { skip }, () => {
  const savedEnv = process.env.KIT_NATIVE_GEMM;
  try {
    delete process.env.KIT_NATIVE_GEMM;
    assert.deepEqual(parseGemmBuilds('onednn 2.6.3,openblas'), [{ library: 'onednn', version: '2.6.3' }, { library: 'openblas', version: null }]);
    assert.equal(defaultGemm('onednn 2.6.3,openblas'), 'onednn');
    assert.equal(defaultGemm('openblas'), 'openblas');
    process.env.KIT_NATIVE_GEMM = 'openblas';
    assert.equal(defaultGemm('onednn 2.6.3,openblas'), 'openblas');
    process.env.KIT_NATIVE_GEMM = 'onednn';
    assert.throws(() => defaultGemm('openblas'), /KIT_NATIVE_GEMM=onednn, but this build has no oneDNN \(install libdnnl-dev/);
    process.env.KIT_NATIVE_GEMM = 'mkl';
    assert.throws(() => defaultGemm('onednn 2.6.3,openblas'), /KIT_NATIVE_GEMM='mkl' must be onednn or openblas/);
  } finally {
    if (savedEnv === undefined) delete process.env.KIT_NATIVE_GEMM;
    else process.env.KIT_NATIVE_GEMM = savedEnv;
  }
  const loaded = loadNativeAddon();
  assert.ok('addon' in loaded);
  assert.throws(() => loaded.addon.setGemm('mkl' as GemmLibrary), /"onednn" or "openblas" expected/);
  if (!parseGemmBuilds(loaded.addon.gemmBuilds()).some((b) => b.library === 'onednn')) assert.throws(() => loaded.addon.setGemm('onednn'), /this build has no oneDNN/);
});

test('a training step on the native path leaves no tensors or data buffers behind', { skip }, async () => {
  await initBackend('native', { quiet: true });
  const vars = [randn('leak.w1', [3, 3, 3, 16], 0.3), randn('leak.w2', [3, 3, 16, 16], 0.2), randn('leak.q', [16, 16]), randn('leak.m', [16, 8])].map((v, k) =>
    tf.variable(t(v), true, `leak_${k}`),
  );
  const x = t(randn('leak.x', [4, 16, 16, 3])) as tf.Tensor4D;
  const opt = tf.train.adam(0.01);
  const g = await memoryGrowth(() => {
    opt.minimize(stepValues(vars, x), false, vars);
  }, 3);
  assert.deepEqual(g, { tensors: 0, dataBuffers: 0 });
  tf.dispose([...vars, x]);
  opt.dispose();
});

// ---------------------------------------------------------------------------------------------
// FusedBatchNorm (the RN50 prior's frozen BN)

test('batchNorm (NHWC, per-channel and scalar statistics, with and without offset/scale) forward + gradients vs cpu', { skip }, async () => {
  const xv = randn('bn.x', [2, 5, 6, 8], 2);
  const mv = randn('bn.m', [8]);
  const vv = { shape: [8], data: randn('bn.v', [8]).data.map((v) => v * v + 0.1) };
  const ov = randn('bn.o', [8]);
  const sv = randn('bn.s', [8]);
  await agree('batchNorm', () => {
    const [x, m, v, o, sc] = [t(xv), t(mv), t(vv), t(ov), t(sv)];
    const full = tf.batchNorm(x, m, v, o, sc, 1e-5);
    const bare = tf.batchNorm(x, m, v, undefined, undefined, 1e-3);
    const scalarStats = tf.batchNorm(x, tf.scalar(0.3), tf.scalar(2), tf.scalar(-1), tf.scalar(0.5), 1e-5);
    const grads = tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => tf.sum(tf.mul(tf.batchNorm(a, m, v, b, c, 1e-5), x)))([x, o, sc]);
    return [full, bare, scalarStats, ...grads];
  });
  // statistics of x's full shape are not per-channel: wasm's own kernel runs (and must still agree)
  await agree('batchNorm full-shape stats', () => [tf.batchNorm(t(xv), t(xv).mul(0.5), t(xv).square().add(1), undefined, undefined, 1e-5)]);
});

// ---------------------------------------------------------------------------------------------
// Fused AdamW (KitAdamW)

/**
 * 4 AdamW steps over decayed, non-decayed and gradient-less parameters; the final p, m, v bits. holdClones: a
 * clone of every parameter is taken before the last step and held through it (it shares the parameter's buffer, so
 * the native path may not update in place); whether the clones still hold their values after it is returned too.
 */
const shapes4: [string, number[]][] = [['fc.weight', [7, 5]], ['fc.bias', [5]], ['blk.weight', [3, 4, 2]], ['unused.weight', [2, 2]]];
async function adamwRun(backend: 'cpu' | 'wasm' | 'native', holdClones = false): Promise<{ values: Float32Array[]; fused: boolean; kernels: string[]; clonesKept: boolean | null }> {
  if (backend === 'cpu') await tf.setBackend('cpu');
  else await initBackend(backend, { quiet: true });
  const store = new ParamStore(new SeedStream(0));
  const vars = shapes4.map(([k, sh]) => {
    const v = store.add(k, sh, constantInit(0), 'raw');
    const init = t(randn(`adamw.p.${k}`, sh));
    v.assign(init);
    init.dispose(); // the variable alone holds its buffer
    return v;
  });
  const opt = new AdamW(store.list(), { beta1: 0.9, beta2: 0.98, eps: 1e-8, weightDecay: 0.3, noDecay: 'open_clip' });
  const fused = fusedAdamWActive();
  let kernels: string[] = [];
  let clonesKept: boolean | null = null;
  for (let step = 0; step < 4; step++) {
    const grads: Record<string, tf.Tensor> = {};
    // the last parameter gets no gradient (skipped, as PyTorch does); gradients span several magnitudes
    vars.slice(0, 3).forEach((v, i) => {
      grads[v.name] = t(randn(`adamw.g.${step}.${i}`, v.shape, 10 ** (i - 2)));
    });
    const lr = [1e-3, 5e-2, 0.1, 3e-4][step];
    if (step === 3) {
      const held = holdClones ? vars.map((v) => tf.clone(v)) : [];
      const before = held.map((c) => Float32Array.from(c.dataSync()));
      kernels = (await tf.profile(() => opt.apply(grads, lr))).kernels.map((k) => k.name);
      clonesKept = holdClones ? held.every((c, i) => Buffer.from(Float32Array.from(c.dataSync()).buffer).equals(Buffer.from(before[i].buffer))) : null;
      tf.dispose(held);
    } else opt.apply(grads, lr);
    tf.dispose(Object.values(grads));
  }
  const values = [...vars, ...opt.stateTensors().values()].map((v) => Float32Array.from(v.dataSync()));
  opt.dispose();
  store.dispose();
  return { values, fused, kernels, clonesKept };
}

test('fused AdamW on native: in place (no launch), or one KitAdamW launch when a clone shares a buffer; the same bits as the tfjs-op AdamW on cpu and wasm', { skip }, async () => {
  const cpu = await adamwRun('cpu');
  const wasm = await adamwRun('wasm');
  const native = await adamwRun('native');
  const shared = await adamwRun('native', true);
  assert.equal(cpu.fused, false);
  assert.equal(wasm.fused, false, 'plain wasm has no KitAdamW');
  assert.equal(native.fused, true, 'the native path has KitAdamW');
  assert.deepEqual(native.kernels, [], 'in place: no kernel launch');
  assert.deepEqual(shared.kernels, [KIT_ADAMW], 'a clone shares each parameter buffer: one launch');
  assert.ok(wasm.kernels.length > 20, `tfjs-op AdamW: ${wasm.kernels.length} launches`);
  assert.equal(native.values.length, 4 + 8);
  for (let k = 0; k < cpu.values.length; k++) {
    assert.deepEqual(native.values[k], cpu.values[k], `tensor ${k}: native in place vs cpu`);
    assert.deepEqual(native.values[k], wasm.values[k], `tensor ${k}: native in place vs wasm`);
    assert.deepEqual(shared.values[k], cpu.values[k], `tensor ${k}: native KitAdamW vs cpu`);
  }
  assert.equal(shared.clonesKept, true, 'the clones kept their values: nothing wrote into a shared buffer');
  // the gradient-less parameter and its moments were not touched
  assert.deepEqual(native.values[3], Float32Array.from(randn('adamw.p.unused.weight', [2, 2]).data));
  assert.ok(native.values[10].every((x) => x === 0) && native.values[11].every((x) => x === 0));
});

test('in-place AdamW: two parameters given one gradient tensor still update in place, with the bits of cpu', { skip }, async () => {
  const runOnce = async (backend: 'cpu' | 'native'): Promise<{ values: Float32Array[]; kernels: string[] }> => {
    if (backend === 'cpu') await tf.setBackend('cpu');
    else await initBackend(backend, { quiet: true });
    const store = new ParamStore(new SeedStream(0));
    const vars = ['a.weight', 'b.weight'].map((k) => {
      const v = store.add(k, [3, 4], constantInit(0), 'raw');
      const init = t(randn(`adamw.shared.${k}`, [3, 4]));
      v.assign(init);
      init.dispose();
      return v;
    });
    const opt = new AdamW(store.list(), { beta1: 0.9, beta2: 0.98, eps: 1e-8, weightDecay: 0.1, noDecay: 'none' });
    const g = t(randn('adamw.shared.g', [3, 4]));
    const kernels = (await tf.profile(() => opt.apply({ [vars[0].name]: g, [vars[1].name]: g }, 1e-2))).kernels.map((k) => k.name);
    const values = [...vars, ...opt.stateTensors().values()].map((v) => Float32Array.from(v.dataSync()));
    g.dispose();
    opt.dispose();
    store.dispose();
    return { values, kernels };
  };
  const cpu = await runOnce('cpu');
  const native = await runOnce('native');
  assert.deepEqual(native.kernels, [], 'in place: no launch');
  for (let k = 0; k < cpu.values.length; k++) assert.deepEqual(native.values[k], cpu.values[k], `tensor ${k}`);
});

test('fused AdamW: no tensor or buffer growth across steps', { skip }, async () => {
  await initBackend('native', { quiet: true });
  const store = new ParamStore(new SeedStream(0));
  const w = store.add('fc.weight', [16, 8], constantInit(0.5), 'raw');
  const b = store.add('fc.bias', [8], constantInit(0.1), 'raw');
  const opt = new AdamW(store.list(), { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1, noDecay: 'open_clip' });
  const gw = tf.ones([16, 8]);
  const gb = tf.ones([8]);
  const g = await memoryGrowth(() => opt.apply({ [w.name]: gw, [b.name]: gb }, 1e-3), 3);
  assert.deepEqual(g, { tensors: 0, dataBuffers: 0 });
  tf.dispose([gw, gb]);
  opt.dispose();
  store.dispose();
});

// ---------------------------------------------------------------------------------------------
// Fused GELU (KitGelu / KitGeluGrad)

/** gelu(x) and d/dx Σ gelu(x)·w on `backend` (w weights the gradient so every element's dy differs). */
async function geluRun(backend: 'cpu' | 'wasm' | 'native', shape: number[]): Promise<{ y: Float32Array; dx: Float32Array; fused: boolean; kernels: string[] }> {
  if (backend === 'cpu') await tf.setBackend('cpu');
  else await initBackend(backend, { quiet: true });
  const xv = randn(`gelu.x.${shape}`, shape, 3);
  // the clamp of erf's argument (|x/√2| > 4), the origin and tiny values
  [-10, -6, -5.66, -1e-8, 0, 3e-8, 5.65, 5.7, 12].forEach((v, i) => {
    if (i < xv.data.length) xv.data[i] = v;
  });
  const x = t(xv);
  const w = t(randn(`gelu.w.${shape}`, shape));
  const fused = fusedGeluActive('float32');
  // 'unnamed scope' is tf.customGrad's own record, not a kernel launch
  const kernels = (await tf.profile(() => tf.dispose(gelu(x)))).kernels.map((k) => k.name).filter((n) => n !== 'unnamed scope');
  const y = tf.tidy(() => gelu(x));
  const dx = tf.tidy(() => tf.grad((a: tf.Tensor) => tf.sum(tf.mul(gelu(a), w)))(x));
  const out = { y: Float32Array.from(y.dataSync()), dx: Float32Array.from(dx.dataSync()), fused, kernels };
  tf.dispose([x, w, y, dx]);
  return out;
}

for (const shape of [[7], [4, 51, 48], [2, 3, 1029]]) {
  test(`fused GELU ${JSON.stringify(shape)}: one launch, forward bits of the tfjs composition on cpu and wasm, gradient vs cpu`, { skip }, async () => {
    const cpu = await geluRun('cpu', shape);
    const wasm = await geluRun('wasm', shape);
    const native = await geluRun('native', shape);
    assert.equal(wasm.fused, false);
    assert.equal(native.fused, true);
    assert.deepEqual(native.kernels, [KIT_GELU]);
    assert.ok(wasm.kernels.length > 20, `composed GELU: ${wasm.kernels.length} launches`);
    assert.deepEqual(native.y, cpu.y, 'forward: native vs cpu bits');
    assert.deepEqual(native.y, wasm.y, 'forward: native vs wasm bits');
    let maxDiff = 0;
    let maxRef = 0;
    for (let i = 0; i < cpu.dx.length; i++) {
      maxRef = Math.max(maxRef, Math.abs(cpu.dx[i]));
      maxDiff = Math.max(maxDiff, Math.abs(cpu.dx[i] - native.dx[i]));
    }
    assert.ok(maxRef > 0);
    // exp may round differently (cpu: Math.exp in double; native: expf): a few ulp at most
    assert.ok(maxDiff <= 1e-6 * Math.max(1, maxRef), `gradient: max |native − cpu| ${maxDiff} (max |cpu| ${maxRef})`);
  });
}

test('fused GELU: the gradient launches one kernel; no tensor growth over forward + backward', { skip }, async () => {
  await initBackend('native', { quiet: true });
  const x = t(randn('gelu.growth', [8, 16]));
  const gradF = tf.grad((a: tf.Tensor) => tf.sum(gelu(a)));
  const prof = await tf.profile(() => tf.dispose(gradF(x)));
  assert.ok(prof.kernels.some((k) => k.name === KIT_GELU_GRAD), prof.kernels.map((k) => k.name).join(','));
  const g = await memoryGrowth(() => tf.dispose(gradF(x)), 3);
  assert.deepEqual(g, { tensors: 0, dataBuffers: 0 });
  x.dispose();
});

// ---------------------------------------------------------------------------------------------
// Fused LayerNorm (KitLayerNorm / KitLayerNormGrad)

for (const [shape, offset] of [[[7, 5], 0], [[3, 17, 64], 0], [[2, 3, 4, 33], 100]] as [number[], number][]) {
  test(`fused LayerNorm ${JSON.stringify(shape)} (mean offset ${offset}): forward and gradients (x, γ, β) vs cpu`, { skip }, async () => {
    const d = shape[shape.length - 1];
    const xv = randn(`ln.x.${shape}`, shape, 2);
    for (let i = 0; i < xv.data.length; i++) xv.data[i] += offset;
    const gv = randn(`ln.g.${shape}`, [d]);
    const bv = randn(`ln.b.${shape}`, [d]);
    const wv = randn(`ln.w.${shape}`, shape);
    await agree(`layerNorm ${shape}`, () => {
      const [x, g, b, w] = [t(xv), t(gv), t(bv), t(wv)];
      const y = layerNorm(x, g, b);
      const grads = tf.grads((a: tf.Tensor, c: tf.Tensor, e: tf.Tensor) => tf.sum(tf.mul(layerNorm(a, c, e), w)))([x, g, b]);
      return [y, ...grads];
    });
  });
}

test('fused LayerNorm: one launch forward, one backward; no tensor growth; unsupported γ falls back', { skip }, async () => {
  await initBackend('native', { quiet: true });
  const x = t(randn('ln.one', [4, 8, 16]));
  const g = tf.ones([16]);
  const b = tf.zeros([16]);
  assert.ok(fusedLayerNormActive(x, g, b), `${tf.getBackend()} ${String(!!tf.getKernel(KIT_LAYER_NORM, 'wasm'))} ${x.dtype} ${g.dtype} ${g.rank} ${g.size}`);
  const fwd = (await tf.profile(() => tf.dispose(layerNorm(x, g, b)))).kernels.map((k) => k.name).filter((n) => n !== 'unnamed scope');
  assert.deepEqual(fwd, [KIT_LAYER_NORM]);
  const gradF = tf.grads((a: tf.Tensor, c: tf.Tensor, e: tf.Tensor) => tf.sum(layerNorm(a, c, e)));
  const bwd = (await tf.profile(() => tf.dispose(gradF([x, g, b])))).kernels.map((k) => k.name);
  assert.ok(bwd.includes(KIT_LAYER_NORM_GRAD), bwd.join(','));
  assert.deepEqual(await memoryGrowth(() => tf.dispose(gradF([x, g, b])), 3), { tensors: 0, dataBuffers: 0 });
  const g2 = tf.ones([1, 16]); // not a [D] vector: the composed form runs
  assert.equal(fusedLayerNormActive(x, g2, b), false);
  tf.dispose([x, g, b, g2]);
});

test('initBackend("wasm") after native puts back the kernels the native ones replaced', { skip }, async () => {
  await initBackend('native', { quiet: true });
  assert.ok(nativeKernelsActive());
  const w = await initBackend('wasm', { quiet: true });
  assert.equal(w.name, 'wasm');
  assert.equal(nativeKernelsActive(), false);
  assert.ok(!w.kitKernels.includes('Conv2D'), 'plain wasm runs its own Conv2D');
  const y = tf.tidy(() => tf.conv2d(tf.ones([1, 4, 4, 1]) as tf.Tensor4D, tf.ones([3, 3, 1, 1]) as tf.Tensor4D, 1, 'same').dataSync());
  assert.deepEqual(Array.from(y), [4, 6, 6, 4, 6, 9, 9, 6, 6, 9, 9, 6, 4, 6, 6, 4]);
  const n = await initBackend('native', { quiet: true });
  assert.equal(n.name, 'native');
  assert.ok(nativeKernelsActive());
});

test('loadNativeAddon explains a missing build; KIT_NATIVE_THREADS is validated', () => {
  const saved = process.env.KIT_NATIVE_ADDON;
  process.env.KIT_NATIVE_ADDON = path.join(os.tmpdir(), 'no-such-dir', 'kit_native.node');
  try {
    // A loaded addon is cached per process; the reason is only reported when none is loaded yet.
    if (!built) {
      const r = loadNativeAddon();
      assert.ok('reason' in r && /is not built/.test(r.reason));
    }
  } finally {
    if (saved === undefined) delete process.env.KIT_NATIVE_ADDON;
    else process.env.KIT_NATIVE_ADDON = saved;
  }
  const child = spawnSync(process.execPath, ['--import', 'tsx', '-e', `
    const { initBackend } = require(${JSON.stringify(path.join(projectRoot(), 'src', 'backends', 'backend'))});
    initBackend('native', { quiet: true }).then(() => console.log('LOADED'), (e) => console.log('ERR ' + e.message.replace(/\\n/g, ' ')));
  `], { cwd: projectRoot(), encoding: 'utf8', timeout: 60_000, env: { ...process.env, KIT_NATIVE_THREADS: 'two' } });
  if (built) assert.match(child.stdout, /ERR .*KIT_NATIVE_THREADS='two' is not a positive integer/, child.stderr);
});

test('without the build, auto falls back to wasm and the summary says why; KIT_BACKEND=native then fails clearly', () => {
  const code = `
    const { initBackend } = require(${JSON.stringify(path.join(projectRoot(), 'src', 'backends', 'backend'))});
    (async () => {
      const info = await initBackend('auto', { quiet: true });
      console.log('AUTO ' + info.name + ' | ' + info.summary);
      try { await initBackend('native', { quiet: true }); console.log('NATIVE loaded'); }
      catch (e) { console.log('NATIVE ' + e.message.replace(/\\n/g, ' ')); }
    })();
  `;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', code], {
    cwd: projectRoot(),
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, KIT_BACKEND: '', KIT_NATIVE_ADDON: path.join(os.tmpdir(), 'no-such-dir', 'kit_native.node') },
  });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /AUTO wasm \| \[priorclip-kit\] backend: wasm .*Skipped: .*native \(.*kit_native\.node is not built \(needs gcc \+ libopenblas-dev/);
  assert.match(r.stdout, /NATIVE backend 'native' could not be initialised: +native: .*is not built/);
});

// ---------------------------------------------------------------------------------------------
// Fused attention (KitAttention / KitAttentionGrad)

/** Attention forward + gradients (q, k, v) of a weighted sum of out and probabilities, on one backend. */
function attentionCase(c: { B: number; Lq: number; Lk: number; D: number; H: number; mask: boolean; dropout: number }): () => tf.Tensor[] {
  const tag = JSON.stringify(c);
  const qv = randn(`att.q.${tag}`, [c.B, c.Lq, c.D]);
  const kv = randn(`att.k.${tag}`, [c.B, c.Lk, c.D]);
  const vv = randn(`att.v.${tag}`, [c.B, c.Lk, c.D]);
  const wo = randn(`att.wo.${tag}`, [c.B, c.Lq, c.D]);
  const wp = randn(`att.wp.${tag}`, [c.B, c.H, c.Lq, c.Lk]);
  return () => {
    const [q, k, v, w1, w2] = [t(qv), t(kv), t(vv), t(wo), t(wp)];
    const mask = c.mask ? causalMask(c.Lq) : null;
    const opts = (s: number) => ({ mask, dropout: c.dropout > 0 ? { rate: c.dropout, seeds: new SeedStream(s) } : undefined });
    const a = attentionWithProbabilities(q, k, v, c.H, opts(5));
    // the loss reaches both outputs, so the gradient through the probabilities is checked too
    const grads = tf.grads((x: tf.Tensor, y: tf.Tensor, z: tf.Tensor) => {
      const r = attentionWithProbabilities(x, y, z, c.H, opts(6));
      return tf.add(tf.sum(tf.mul(r.out, w1)), tf.sum(tf.mul(r.probabilities, w2)));
    })([q, k, v]);
    return [a.out, a.probabilities, ...grads];
  };
}

for (const c of [
  { B: 3, Lq: 5, Lk: 7, D: 12, H: 3, mask: false, dropout: 0 },
  { B: 4, Lq: 32, Lk: 32, D: 64, H: 4, mask: false, dropout: 0.1 },
  { B: 2, Lq: 9, Lk: 9, D: 16, H: 2, mask: true, dropout: 0 },
  { B: 2, Lq: 1, Lk: 6, D: 8, H: 2, mask: false, dropout: 0.5 },
]) {
  test(`fused attention ${JSON.stringify(c)}: out, probabilities and gradients (q, k, v) vs cpu`, { skip }, async () => {
    await agree(`attention ${JSON.stringify(c)}`, attentionCase(c));
  });
}

test('fused attention: one launch forward, one backward (mask gradient too); no tensor growth; unsupported masks fall back', { skip }, async () => {
  await initBackend('native', { quiet: true });
  const q = t(randn('att1.q', [2, 6, 8]));
  const k = t(randn('att1.k', [2, 6, 8]));
  const m = t(randn('att1.m', [6, 6]));
  assert.ok(fusedAttentionActive(q, k, k, m));
  const fwd = (await tf.profile(() => tf.dispose(attentionWithProbabilities(q, k, k, 2, { mask: m })))).kernels.map((e) => e.name);
  assert.ok(fwd.includes(KIT_ATTENTION) && !fwd.includes('Softmax') && !fwd.includes('BatchMatMul') && !fwd.includes('Transpose'), fwd.join(','));
  const gradF = tf.grads((a: tf.Tensor, b: tf.Tensor, mm: tf.Tensor) => tf.sum(attentionWithProbabilities(a, b, b, 2, { mask: mm }).out));
  const bwd = (await tf.profile(() => tf.dispose(gradF([q, k, m])))).kernels.map((e) => e.name);
  assert.ok(bwd.includes(KIT_ATTENTION_GRAD) && !bwd.includes('Softmax') && !bwd.includes('BatchMatMul'), bwd.join(','));
  assert.deepEqual(await memoryGrowth(() => tf.dispose(gradF([q, k, m])), 3), { tensors: 0, dataBuffers: 0 });
  // the mask's gradient (Σ over batch and heads of the softmax input's gradient) vs cpu
  await agree('attention mask gradient', () => {
    const [qq, kk, mm] = [t(randn('att1.q', [2, 6, 8])), t(randn('att1.k', [2, 6, 8])), t(randn('att1.m', [6, 6]))];
    const w = t(randn('att1.w', [2, 6, 8]));
    return [tf.grad((x: tf.Tensor) => tf.sum(tf.mul(attentionWithProbabilities(qq, kk, kk, 2, { mask: x }).out, w)))(mm)];
  });
  await initBackend('native', { quiet: true });
  // a per-head or per-batch mask is not one [Lq, Lk] map: the composed form runs
  const perHead = tf.zeros([2, 6, 6]);
  const perBatch = tf.zeros([2, 1, 6, 6]);
  assert.equal(fusedAttentionActive(q, k, k, perHead), false);
  assert.equal(fusedAttentionActive(q, k, k, perBatch), false);
  assert.equal(tf.tidy(() => fusedAttentionActive(q, k, k, tf.zeros([1, 1, 6, 6]))), true);
  // without the native dropout mask kernel the composed attention runs (and still trains with dropout)
  tf.unregisterKernel(KIT_DROPOUT_MASK, 'wasm');
  try {
    assert.equal(fusedAttentionActive(q, k, k, null), false);
    const g = tf.grad((a: tf.Tensor) => tf.sum(attentionWithProbabilities(a, k, k, 2, { dropout: { rate: 0.2, seeds: new SeedStream(1) } }).out))(q);
    assert.ok(Number.isFinite(tf.tidy(() => g.sum().dataSync()[0])));
    g.dispose();
  } finally {
    const loaded = loadNativeAddon();
    if ('addon' in loaded) registerNativeKernels(loaded.addon);
  }
  assert.ok(fusedAttentionActive(q, k, k, null));
  tf.dispose([q, k, m, perHead, perBatch]);
});

// ---------------------------------------------------------------------------------------------
// Fused global norm (KitGlobalNorm)

test('fused global norm: one launch for every gradient; norm and clipped gradients vs cpu', { skip }, async () => {
  const shapes = [[3, 3, 16, 32], [32], [64, 64], [1], [7, 5, 3]];
  const vals = shapes.map((s, i) => randn(`gn.${i}`, s, 0.5 + i));
  const clip = (maxNorm: number) => () => {
    const grads: Record<string, tf.Tensor> = {};
    vals.forEach((v, i) => (grads[`g${i}`] = t(v)));
    const r = clipByGlobalNorm(grads, maxNorm);
    const out = [tf.scalar(r.norm), ...Object.values(r.grads).map((g) => g.clone())];
    if (r.scaled) tf.dispose(Object.values(r.grads));
    tf.dispose(Object.values(grads));
    return out;
  };
  await agree('global norm, no clipping', clip(0));
  await agree('global norm, clipped to 1', clip(1));
  await initBackend('native', { quiet: true });
  assert.ok(fusedGlobalNormActive());
  const gs: Record<string, tf.Tensor> = {};
  vals.forEach((v, i) => (gs[`g${i}`] = t(v)));
  const names = (await tf.profile(() => { clipByGlobalNorm(gs, 0); })).kernels.map((k) => k.name);
  assert.deepEqual(names, [KIT_GLOBAL_NORM]);
  assert.deepEqual(await memoryGrowth(() => { clipByGlobalNorm(gs, 0); }, 3), { tensors: 0, dataBuffers: 0 });
  tf.dispose(Object.values(gs));
});

// ---------------------------------------------------------------------------------------------
// Fused linear (KitLinear forward, KitLinearGrad backward)

for (const c of [{ x: [5, 7], w: [7, 3], bias: true }, { x: [4, 33, 64], w: [64, 128], bias: true }, { x: [2, 3, 9], w: [9, 6], bias: false }]) {
  test(`fused linear ${JSON.stringify(c)}: forward and gradients vs cpu; the bits of the composed linear on the native path`, { skip }, async () => {
    const tag = JSON.stringify(c);
    const xv = randn(`lin.x.${tag}`, c.x);
    const wv = randn(`lin.w.${tag}`, c.w);
    const bv = randn(`lin.b.${tag}`, [c.w[1]]);
    const rv = randn(`lin.r.${tag}`, [...c.x.slice(0, -1), c.w[1]]);
    const fn = () => {
      const [x, w, b, r] = [t(xv), t(wv), t(bv), t(rv)];
      const y = linear(x, w, c.bias ? b : null);
      const grads = c.bias
        ? tf.grads((a: tf.Tensor, e: tf.Tensor, g: tf.Tensor) => tf.sum(tf.mul(linear(a, e, g), r)))([x, w, b])
        : tf.grads((a: tf.Tensor, e: tf.Tensor) => tf.sum(tf.mul(linear(a, e, null), r)))([x, w]);
      return [y, ...grads];
    };
    await agree(`linear ${tag}`, fn);
    // fused vs the composed linear on the native path (KitLinearGrad unregistered): the same sgemm calls, equal bits
    const fused = await run('native', fn);
    assert.ok(tf.tidy(() => fusedLinearActive(t(xv), t(wv), c.bias ? t(bv) : null)));
    const prof = await tf.profile(() => tf.dispose(fn()));
    const names = prof.kernels.map((k) => k.name);
    assert.ok(names.includes(KIT_LINEAR_GRAD) && names.includes(KIT_LINEAR) && !names.includes('_FusedMatMul') && !names.includes('BatchMatMul'), names.join(','));
    tf.unregisterKernel(KIT_LINEAR_GRAD, 'wasm');
    try {
      const composed = await run('native', fn);
      assert.equal(tf.tidy(() => fusedLinearActive(t(xv), t(wv), null)), false);
      for (let k = 0; k < fused.length; k++) assert.deepEqual(fused[k].values, composed[k].values, `output ${k}: fused vs composed bits`);
    } finally {
      const loaded = loadNativeAddon();
      if ('addon' in loaded) registerNativeKernels(loaded.addon);
    }
    assert.ok(tf.tidy(() => fusedLinearActive(t(xv), t(wv), null)));
  });
}

test('fused linear on empty inputs: zero rows run natively (zero dw, db), zero input features take the composed form; values equal to cpu', { skip }, async () => {
  for (const [xs, ws] of [[[0, 7], [7, 3]], [[2, 0, 7], [7, 3]], [[4, 0], [0, 3]]] as const) {
    const fn = () => {
      const x = tf.zeros([...xs]);
      const w = tf.ones([...ws]);
      const b = tf.fill([ws[1]], 0.5);
      const g = tf.grads((a: tf.Tensor, e: tf.Tensor, c: tf.Tensor) => tf.sum(linear(a, e, c)))([x, w, b]);
      return [linear(x, w, b), ...g];
    };
    const cpu = await run('cpu', fn);
    const native = await run('native', fn);
    for (let k = 0; k < cpu.length; k++) {
      assert.deepEqual(native[k].shape, cpu[k].shape, `x [${xs}] output ${k} shape`);
      assert.deepEqual(native[k].values, cpu[k].values, `x [${xs}] output ${k}`);
    }
    assert.equal(tf.tidy(() => fusedLinearActive(tf.zeros([...xs]), tf.zeros([...ws]), null)), ws[0] > 0);
  }
});

// ---------------------------------------------------------------------------------------------
// Dropout mask drawn natively (KitDropoutMask)

test('native dropout mask: the bits of layers.ts dropoutMask (rates, seeds up to 2³² − 1); dropout() on native = on cpu', { skip }, async () => {
  await initBackend('native', { quiet: true });
  assert.ok(nativeDropoutMaskActive());
  for (const [n, rate, seed] of [[1, 0.1, 0], [1000, 0.1, 12345], [4097, 0.5, 2 ** 31 + 7], [300, 0.9, 2 ** 32 - 1], [64, 0, 99], [5000, 0.2, 123456789], [3000, 1 / 3, 5], [200, 0.9999999999, 6], [2000, 2 ** -33, 8]]) {
    const m = nativeDropoutMask([n], rate, seed);
    const got = Float32Array.from(m.dataSync());
    m.dispose();
    assert.deepEqual(got, dropoutMask(n, rate, seed), `n ${n} rate ${rate} seed ${seed}`);
  }
  const xv = randn('drop.x', [8, 33, 16]);
  const y = await run('native', () => [dropout(t(xv), 0.3, new SeedStream(4))]);
  const yc = await run('cpu', () => [dropout(t(xv), 0.3, new SeedStream(4))]);
  assert.deepEqual(y[0].values, yc[0].values);
});

// ---------------------------------------------------------------------------------------------
// Round 4: Sum over adjacent axes, Tile, AvgPoolGrad

/**
 * `fn` on the native path with the kernels registered from a copy of the addon whose function `name` counts its
 * calls (the addon's own properties are read-only); the real addon is registered again afterwards.
 */
async function countingCalls(name: 'sumAxes' | 'avgPoolGrad' | 'binaryOp', fn: () => tf.Tensor[]): Promise<{ outs: Outs; calls: number }> {
  await initBackend('native', { quiet: true });
  const loaded = loadNativeAddon();
  if ('reason' in loaded) throw new Error(loaded.reason);
  const inner = (loaded.addon as unknown as Record<string, (...a: unknown[]) => unknown>)[name];
  let calls = 0;
  const counting = Object.create(loaded.addon) as typeof loaded.addon;
  Object.defineProperty(counting, name, {
    value: (...a: unknown[]) => {
      calls++;
      return inner(...a);
    },
  });
  registerNativeKernels(counting);
  try {
    return { outs: collect(fn), calls };
  } finally {
    registerNativeKernels(loaded.addon);
  }
}

const SUM_CASES: { shape: number[]; axis: number[]; keepDims: boolean; native: boolean }[] = [
  { shape: [32, 32, 32, 32], axis: [0, 1, 2], keepDims: false, native: true }, // a conv's bias gradient
  { shape: [4, 5, 6], axis: [1], keepDims: false, native: true },
  { shape: [3, 4, 5, 6], axis: [1, 2], keepDims: true, native: true },
  { shape: [3, 4, 5, 6], axis: [2, 1], keepDims: true, native: false }, // wasm sums in the given axis order
  { shape: [7, 3], axis: [-2], keepDims: false, native: true },
  { shape: [3, 4, 5], axis: [1, 2], keepDims: false, native: false }, // innermost: wasm's own, no transpose
  { shape: [3, 4, 5], axis: [0, 2], keepDims: false, native: false }, // not adjacent
];

for (const c of SUM_CASES) {
  test(`Sum ${JSON.stringify(c.shape)} over ${JSON.stringify(c.axis)}${c.keepDims ? ' (keepDims)' : ''}: ${c.native ? 'native, the bits of wasm' : 'falls back to wasm'}; vs cpu`, { skip }, async () => {
    const xv = randn(`sum${c.shape.join('x')}${c.axis.join('')}`, c.shape);
    const fn = () => [tf.sum(t(xv), c.axis, c.keepDims)];
    const wasm = await run('wasm', fn);
    const { outs: native, calls } = await countingCalls('sumAxes', fn);
    assert.equal(calls, c.native ? 1 : 0, 'native sumAxes calls');
    assert.deepEqual(native[0].shape, wasm[0].shape);
    assert.deepEqual(native[0].values, wasm[0].values, 'native vs wasm bits');
    await agree(`sum ${c.shape}`, fn);
  });
}

test('Tile: block copies equal to cpu (float32 and int32, reps on every axis)', { skip }, async () => {
  const cases: { shape: number[]; reps: number[] }[] = [
    { shape: [32, 1, 64], reps: [1, 16, 1] }, // the Spatial-PAE's broadcastTo
    { shape: [2, 3], reps: [3, 2] },
    { shape: [3, 1, 2], reps: [2, 2, 3] },
    { shape: [5], reps: [4] },
  ];
  for (const c of cases) {
    const xv = randn(`tile${c.shape.join('x')}`, c.shape);
    const fn = () => [tf.tile(t(xv), c.reps), tf.tile(tf.tensor(Int32Array.from(xv.data, (v) => Math.round(v * 100)), c.shape, 'int32'), c.reps).toFloat()];
    const cpu = await run('cpu', fn);
    const native = await run('native', fn);
    for (let k = 0; k < 2; k++) {
      assert.deepEqual(native[k].shape, cpu[k].shape, `${JSON.stringify(c)} output ${k} shape`);
      assert.deepEqual(native[k].values, cpu[k].values, `${JSON.stringify(c)} output ${k}`);
    }
  }
});

// ---------------------------------------------------------------------------------------------
// Round 5: element-wise Add / Sub / Multiply / RealDiv on the heap

const BINARY_CASES: { a: number[]; b: number[]; native: boolean }[] = [
  { a: [32, 8, 8, 16], b: [16], native: true }, // a conv's bias
  { a: [16], b: [4, 5, 16], native: true }, // the repeated operand first
  { a: [3, 5, 7], b: [1, 7], native: true }, // leading 1s of the repeated operand
  { a: [32, 32, 64], b: [32, 32, 64], native: false }, // one shape: wasm's SIMD kernels (as fast)
  { a: [6, 5], b: [], native: false }, // scalar second: wasm's
  { a: [], b: [6, 5], native: false }, // scalar first: wasm's
  { a: [4, 1, 6], b: [4, 3, 6], native: false }, // a middle axis broadcast: wasm's
  { a: [3, 1, 7], b: [5, 7], native: false }, // each broadcast on some axis: wasm's
  { a: [0, 4], b: [4], native: false }, // empty
];

for (const c of BINARY_CASES) {
  test(`binary ops [${c.a}]·[${c.b}]: ${c.native ? 'native' : 'falls back to wasm'}; values equal to cpu, gradients too`, { skip }, async () => {
    const av = randn(`bin.a${c.a.join('x')}`, c.a);
    const bv = Float32Array.from(randn(`bin.b${c.b.join('x')}`, c.b).data, (v) => v + (v >= 0 ? 0.5 : -0.5)); // no divisor near 0
    const B = { data: bv, shape: c.b };
    const fn = () => [tf.add(t(av), t(B)), tf.sub(t(av), t(B)), tf.mul(t(av), t(B)), tf.div(t(av), t(B))];
    const cpu = await run('cpu', fn);
    const { outs: native, calls } = await countingCalls('binaryOp', fn);
    assert.equal(calls, c.native ? 4 : 0, 'native binaryOp calls');
    for (let k = 0; k < 4; k++) {
      assert.deepEqual(native[k].shape, cpu[k].shape, `output ${k} shape`);
      assert.deepEqual(native[k].values, cpu[k].values, `output ${k}: one IEEE operation per value, the same bits`);
    }
    if (c.a.includes(0)) return; // an empty gradient tells nothing (agree refuses all-zero outputs)
    await agree(`binary grads ${c.a}·${c.b}`, () => {
      const g = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.div(tf.mul(tf.sub(tf.add(x, y), y), x), y)));
      return g([t(av), t(B)]);
    });
  });
}

test('binary ops: int32 operands run wasm\'s kernels (same values as cpu)', { skip }, async () => {
  const fn = () => {
    const a = tf.tensor([1, 2, 3, 4, 5, 6], [2, 3], 'int32');
    const b = tf.tensor([7, 8, 9], [3], 'int32');
    return [tf.add(a, b).toFloat(), tf.mul(a, b).toFloat(), tf.sub(a, b).toFloat(), tf.div(a, b)];
  };
  const cpu = await run('cpu', fn);
  const { outs: native, calls } = await countingCalls('binaryOp', fn);
  assert.equal(calls, 0);
  for (let k = 0; k < 4; k++) assert.deepEqual(native[k].values, cpu[k].values, `output ${k}`);
});

const POOL_CASES: { x: [number, number, number, number]; size: number | [number, number]; stride: number | [number, number]; pad: 'valid' | 'same'; native: boolean }[] = [
  { x: [32, 32, 32, 32], size: 2, stride: 2, pad: 'valid', native: true }, // pir-small's pools
  { x: [2, 9, 9, 3], size: 3, stride: 2, pad: 'valid', native: true }, // overlapping windows
  { x: [2, 8, 9, 4], size: [2, 3], stride: [1, 2], pad: 'valid', native: true },
  { x: [2, 7, 7, 3], size: 2, stride: 2, pad: 'same', native: false }, // padded windows: the previous kernel
];

for (const c of POOL_CASES) {
  test(`AvgPoolGrad x ${JSON.stringify(c.x)} size ${JSON.stringify(c.size)} stride ${JSON.stringify(c.stride)} ${c.pad}: ${c.native ? 'native, the bits of the kit\'s JS kernel' : 'falls back'}; vs cpu`, { skip }, async () => {
    const xv = randn(`pool${c.x.join('x')}`, c.x);
    const fn = () => {
      const f = (x: tf.Tensor) => tf.avgPool(x as tf.Tensor4D, c.size, c.stride, c.pad);
      const r = tf.tensor(randn(`pool${c.x.join('x')}.r`, f(t(xv)).shape).data, f(t(xv)).shape);
      return [tf.grad((x: tf.Tensor) => f(x).mul(r).sum())(t(xv))];
    };
    const wasm = await run('wasm', fn);
    const { outs: native, calls } = await countingCalls('avgPoolGrad', fn);
    assert.equal(calls, c.native ? 1 : 0, 'native avgPoolGrad calls');
    assert.deepEqual(native[0].values, wasm[0].values, 'native vs wasm (the kit\'s JS kernel) bits');
    await agree(`avgPoolGrad ${c.x}`, fn);
  });
}

test('Slice and SplitV on heap views: equal to cpu (float32, int32, bool; whole trailing axes merged; size −1)', { skip }, async () => {
  const xv = randn('slice.x', [4, 5, 6, 3]);
  const fn = () => {
    const x = t(xv);
    const xi = tf.tensor(Int32Array.from(xv.data, (v) => Math.round(v * 100)), xv.shape, 'int32');
    const xb = tf.greater(x, 0);
    return [
      tf.slice(x, [1, 0, 0, 0], [2, 5, 6, 3]), // one run (trailing axes whole)
      tf.slice(x, [0, 1, 2, 1], [4, 3, 2, 2]), // innermost runs of 2
      tf.slice(x, [2, 1, 0, 0], [-1, 2, -1, -1]),
      tf.slice(xi, [0, 0, 3, 0], [4, 5, 3, 3]).toFloat(),
      tf.slice(xb, [1, 2, 0, 1], [2, 2, 6, 2]).toFloat(),
      tf.slice(tf.reshape(x, [120, 3]), [7, 1], [13, 2]),
      ...tf.split(x, [1, 3, 1], 1), // SplitV along a middle axis
      ...tf.split(x, 3, 2),
      ...tf.split(xi, [2, 1], 3).map((s) => s.toFloat()),
    ];
  };
  const cpu = await run('cpu', fn);
  const native = await run('native', fn);
  assert.equal(native.length, cpu.length);
  for (let k = 0; k < cpu.length; k++) {
    assert.deepEqual(native[k].shape, cpu[k].shape, `output ${k} shape`);
    assert.deepEqual(native[k].values, cpu[k].values, `output ${k}`);
  }
});

test('the AVX2 and baseline builds of the element-wise loops (LayerNorm, GELU, attention softmax, dropout mask, bias add) give the same bits (KIT_NATIVE_NO_AVX2=1)', { skip }, (t2) => {
  // a child process per variant: the choice is made once per process
  const root = projectRoot();
  const script = `
    import * as tf from '@tensorflow/tfjs';
    import { createHash } from 'crypto';
    import { initBackend } from '${path.join(root, 'src/backends/backend')}';
    import { attentionWithProbabilities, causalMask, gelu, layerNorm } from '${path.join(root, 'src/models/layers')}';
    import { loadNativeAddon, nativeDropoutMask } from '${path.join(root, 'src/backends/native_kernels')}';
    import { SeedStream } from '${path.join(root, 'src/utils/random')}';
    (async () => {
      await initBackend('native', { quiet: true });
      const x = tf.randomNormal([37, 96], 0, 2, 'float32', 3);
      const g = tf.randomNormal([96], 1, 0.1, 'float32', 4);
      const b = tf.randomNormal([96], 0, 0.1, 'float32', 5);
      const w = tf.randomNormal([37, 96], 0, 1, 'float32', 6);
      const f = (a: tf.Tensor) => tf.sum(tf.mul(gelu(layerNorm(a, g, b, 1e-5)), w));
      const q = tf.randomNormal([3, 13, 24], 0, 2, 'float32', 7); // 13 rows: one full and one partial block of interleaved rows
      const wa = tf.randomNormal([3, 13, 24], 0, 1, 'float32', 8);
      const fa = (a: tf.Tensor) =>
        tf.sum(tf.mul(attentionWithProbabilities(a, a, a, 3, { mask: causalMask(13), dropout: { rate: 0.2, seeds: new SeedStream(9) } }).out, wa));
      const outs = [layerNorm(x, g, b, 1e-5), gelu(x), tf.grad(f)(x), attentionWithProbabilities(q, q, q, 3).probabilities, tf.grad(fa)(q), nativeDropoutMask([1001], 0.3, 77), tf.div(tf.add(x, g), b)];
      const h = createHash('sha256');
      for (const o of outs) h.update(Buffer.from((o.dataSync() as Float32Array).buffer));
      const a = loadNativeAddon();
      console.log(('addon' in a ? a.addon.simdLevel() : 'none') + ' ' + h.digest('hex'));
    })();`;
  fs.mkdirSync(path.join(root, 'build'), { recursive: true });
  const dir = fs.mkdtempSync(path.join(root, 'build', 'test-avx2-')); // inside the project: the child resolves its packages
  const file = path.join(dir, 'variant.ts');
  fs.writeFileSync(file, script);
  const hash = (env: Record<string, string>): string => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', file], { cwd: root, env: { ...process.env, ...env }, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    return r.stdout.trim();
  };
  let wide: string;
  let base: string;
  try {
    wide = hash({ KIT_NATIVE_NO_AVX2: '0' });
    base = hash({ KIT_NATIVE_NO_AVX2: '1' });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  assert.match(wide, /^(avx2|baseline) [0-9a-f]{64}$/);
  assert.match(base, /^baseline /, 'KIT_NATIVE_NO_AVX2=1 runs the baseline loops');
  if (!wide.startsWith('avx2')) t2.diagnostic('this CPU has no AVX2: both runs used the baseline loops');
  assert.equal(wide.split(' ')[1], base.split(' ')[1], 'the same bits');
});
