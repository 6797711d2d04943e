/**
 * Smoke test of the benchmark (bench/bench.ts → bench/lib/run.ts) in its tiny mode: every section
 * but ViT-B/32 and 10k×50k, 2 training steps at batch 8, then the JSON document is checked for its
 * fields and sane values (no timing thresholds: the machine is shared).
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { BenchResult, aggregateKernels, runBench, summarise } from '../bench/lib/run';
import { formatTable } from '../bench/lib/table';
import { stage2Trainable } from '../bench/lib/train_step';

function positiveFinite(x: unknown, what: string): void {
  assert.equal(typeof x, 'number', `${what} is not a number`);
  assert.ok(Number.isFinite(x as number) && (x as number) > 0, `${what} = ${String(x)} is not a positive finite number`);
}

test('summarise and aggregateKernels compute what they say', () => {
  const s = summarise([4, 1, 3, 2]);
  assert.deepEqual(s, { n: 4, meanMs: 2.5, medianMs: 2.5, minMs: 1, maxMs: 4 });
  assert.equal(summarise([5, 1, 3]).medianMs, 3);
  const agg = aggregateKernels([
    { name: 'A', kernelTimeMs: 1 },
    { name: 'B', kernelTimeMs: 5 },
    { name: 'A', kernelTimeMs: 2 },
    { name: 'C', kernelTimeMs: { error: 'n/a' } },
  ]);
  assert.deepEqual(agg, [
    { name: 'B', ms: 5, calls: 1 },
    { name: 'A', ms: 3, calls: 2 },
    { name: 'C', ms: 0, calls: 1 },
  ]);
});

test('stage-2 trainable set freezes the text encoder and the prior, not the text projection (embedded-fast preset)', () => {
  const stage2Trains = stage2Trainable();
  assert.equal(stage2Trains('text'), false);
  assert.equal(stage2Trains('textProj'), true);
  assert.equal(stage2Trains('prior'), false);
  assert.equal(stage2Trains('priorHead'), false);
  assert.equal(stage2Trains('image'), true);
  assert.equal(stage2Trains('fusion'), true);
  assert.equal(stage2Trains('scale'), true);
});

test('bench --tiny writes a complete JSON document with sane values', { timeout: 10 * 60 * 1000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pck-bench-test-'));
  const out = path.join(dir, 'bench.json');
  try {
    const { result, files } = await runBench({ mode: 'tiny', only: null, out, backend: 'wasm', verbose: false });
    assert.deepEqual(files, [out]);
    const r = JSON.parse(fs.readFileSync(out, 'utf8')) as BenchResult;
    assert.deepEqual(r, JSON.parse(JSON.stringify(result)));
    assert.equal(r.schema, 'priorclip-kit-bench/1');
    assert.equal(r.mode, 'tiny');
    assert.ok(!r.sections.includes('vit') && !r.sections.includes('eval10k'), 'tiny mode must skip ViT-B/32 and 10k×50k');
    // machine and backend
    assert.equal(r.machine.loadavgStart.length, 3);
    assert.equal(r.machine.loadavgEnd.length, 3);
    assert.equal(r.backend.name, 'wasm');
    assert.ok(r.backend.summary.length > 0);
    // matmul reference
    assert.deepEqual(r.matmul?.map((m) => m.size), [512, 1024]);
    for (const m of r.matmul ?? []) positiveFinite(m.gflops, `matmul ${m.size} GFLOP/s`);
    // training step
    const t = r.train;
    assert.ok(t, 'train section missing');
    assert.equal(t.stage, 2);
    assert.equal(t.config, 'pir-small');
    assert.equal(t.batchSize, 8);
    assert.equal(t.timing.n, 2);
    positiveFinite(t.pairsPerSec, 'pairs/s');
    assert.equal(t.tensorsPerStep, 0, 'the training step leaks tensors');
    assert.ok(t.losses.length === 3 && t.losses.every((l) => Number.isFinite(l) && l > 0), `losses ${t.losses}`);
    assert.ok(t.params.trainable > 0 && t.params.trainable < t.params.total, 'stage 2 freezes some parameters');
    // profile
    assert.ok(r.profile && r.profile.kernels.length > 5, 'profile has kernels');
    const names = r.profile.kernels.map((k) => k.name);
    assert.ok(names.includes('BatchMatMul') || names.includes('_FusedMatMul'), `no matmul kernel in ${names.join(',')}`);
    assert.ok(names.includes('Conv2D'), 'no Conv2D kernel in the profile');
    const shares = r.profile.kernels.reduce((a, k) => a + k.share, 0); // nested customGrad scopes have share 0
    assert.ok(Math.abs(shares - 1) < 1e-6, `kernel shares sum to ${shares}`);
    for (let i = 1; i < r.profile.kernels.length; i++) assert.ok(r.profile.kernels[i - 1].ms >= r.profile.kernels[i].ms, 'kernels sorted by time');
    // torch reference: either a result with the same batch, or a stated reason
    assert.ok(r.torch, 'torch section missing');
    if (r.torch.ok) {
      assert.equal(r.torch.result.batchSize, 8);
      assert.equal(r.torch.result.threads, 2);
      assert.ok(r.torch.result.keysChecked > 50, 'the reference checked the parameter keys');
      assert.equal(r.torch.result.trainableCount, t.params.trainable, 'same trainable parameter count as the kit');
      assert.equal(r.torch.result.paramCount, t.params.total, 'same parameter count as the kit');
      positiveFinite(r.torch.kitOverTorchStepTime, 'kit/torch ratio');
    } else {
      assert.ok(r.torch.skipped.length > 0);
    }
    // encoders (default config only in tiny mode)
    assert.equal(r.encode?.length, 1);
    positiveFinite(r.encode?.[0].imagesPerSec, 'images/s');
    positiveFinite(r.encode?.[0].textsPerSec, 'texts/s');
    // evaluation at RSICD size: random embeddings give near-chance recall
    assert.equal(r.eval?.length, 1);
    const ev = r.eval?.[0];
    assert.equal(ev?.images, 1093);
    assert.equal(ev?.texts, 5465);
    positiveFinite(ev?.seconds, 'eval seconds');
    assert.ok((ev?.mR ?? 100) < 5, `random embeddings should give near-zero mR, got ${ev?.mR}`);
    // data
    assert.ok(r.data && r.data.generate.images > 0);
    positiveFinite(r.data?.loader.trainPerSec, 'loader images/s');
    positiveFinite(r.peakRssMb, 'peak RSS');
    // the table prints every section
    const table = formatTable(r);
    for (const s of ['training pairs/s', 'matmul 512²', 'retrievalMetrics', 'kernel ', 'peak RSS']) assert.ok(table.includes(s), `table lacks '${s}'`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
