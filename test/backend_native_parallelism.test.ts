/**
 * Workers × threads by measurement (src/backends/parallelism.ts), as the ablation runner uses it.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import { chooseParallelism, parallelPlan, workerEnv } from '../src/backends/parallelism';
import { nativeAddonPath } from '../src/backends/native_kernels';

const built = fs.existsSync(nativeAddonPath());

test('KIT_PARALLELISM forces the plan and is validated', async () => {
  const saved = process.env.KIT_PARALLELISM;
  try {
    process.env.KIT_PARALLELISM = '2x1';
    const p = await chooseParallelism(4);
    assert.equal(p.workers, 2);
    assert.equal(p.threads, 1);
    assert.deepEqual(workerEnv(), { KIT_NATIVE_THREADS: '1' });
    assert.equal((await chooseParallelism(1)).workers, 1, 'never more workers than jobs');
    process.env.KIT_PARALLELISM = 'two';
    await assert.rejects(chooseParallelism(2), /KIT_PARALLELISM='two' must be <workers>x<threads>/);
  } finally {
    if (saved === undefined) delete process.env.KIT_PARALLELISM;
    else process.env.KIT_PARALLELISM = saved;
  }
});

test('on wasm nothing is measured: min(maxWorkers, cores) workers × 1 thread', async () => {
  const p = await chooseParallelism(64, { backend: 'wasm' });
  assert.equal(p.threads, 1);
  assert.equal(p.candidates.length, 0);
  assert.ok(p.workers >= 1 && p.workers <= 64);
  assert.deepEqual(workerEnv(), {});
});

test('on native with thread-invariant products (OpenBLAS on an AVX-512 core) every worker count is measured and the fastest total wins', { skip: built ? false : 'native build missing', timeout: 120_000 }, async () => {
  const lines: string[] = [];
  const p = await chooseParallelism(2, { backend: 'native', log: (l) => lines.push(l), gemm: 'openblas', core: 'SkylakeX' });
  assert.equal(parallelPlan(), p);
  assert.equal(p.backend, 'native');
  assert.ok(p.candidates.length >= 1);
  for (const c of p.candidates) assert.ok(c.stepsPerSec > 0, `${c.workers}×${c.threads} measured`);
  const best = Math.max(...p.candidates.map((c) => c.stepsPerSec));
  const winner = p.candidates.find((c) => c.workers === p.workers && c.threads === p.threads);
  assert.ok(winner && winner.stepsPerSec === best);
  assert.deepEqual(workerEnv(), { KIT_NATIVE_THREADS: String(p.threads) });
  assert.match(lines[lines.length - 1], /\[parallelism\] \d worker\(s\) × \d thread\(s\) on native \(measured: /);
});

test('on native with a core whose bits depend on the thread count nothing is measured: min(maxWorkers, cores) workers × 1 thread', { skip: built ? false : 'native build missing' }, async () => {
  const lines: string[] = [];
  const p = await chooseParallelism(64, { backend: 'native', log: (l) => lines.push(l), gemm: 'openblas', core: 'Haswell' });
  assert.equal(p.threads, 1);
  assert.equal(p.candidates.length, 0, 'no probe ran');
  assert.ok(p.workers >= 1 && p.workers <= 64);
  assert.deepEqual(workerEnv(), { KIT_NATIVE_THREADS: '1' });
  assert.match(lines[0], /not measured: on OpenBLAS's Haswell kernels the bits depend on the thread count/);
  assert.equal((await chooseParallelism(1, { backend: 'native', gemm: 'openblas', core: 'Haswell' })).workers, 1, 'never more workers than jobs');
});

test('oneDNN products are thread-invariant whatever the OpenBLAS core: the worker counts are measured', { skip: built ? false : 'native build missing', timeout: 120_000 }, async () => {
  const p = await chooseParallelism(2, { backend: 'native', gemm: 'onednn', core: 'Haswell' });
  assert.ok(p.candidates.length >= 1, 'measured');
});
