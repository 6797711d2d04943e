/**
 * End to end on a tiny embedded dataset with the real model, losses, batches and metrics: the recipe
 * (stage 0 → 1 → 2, test evaluation), an ablation suite that shares stages with the full model, and
 * a second call that retrains nothing.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backends/backend';
import { SuiteSpec } from '../src/config/experiment';
import { readRunRecord } from '../src/runs/record';
import { runSuite } from '../src/training/ablation_runner';
import { newerThanRuns, runMainJob } from '../src/training/main_job';
import { TINY } from './training_tiny';
import { readSafetensorsFile } from '../src/io/safetensors';


test('recipe + suite on tiny data: stages shared, records written, second call reuses everything', { timeout: 600000 }, async () => {
  await initBackend('wasm', { quiet: true });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kit-suite-'));
  process.env.KIT_RUNS_DIR = dir;
  const suite: SuiteSpec = { name: 'tiny-suite', description: 'test', preset: 'embedded-fast', ablations: ['full', 'no-spatial-pae'], seeds: [0] };
  const lines: string[] = [];
  const tensorsBefore = tf.memory().numTensors;
  const out = await runSuite(suite, { overrides: TINY, figures: false, progress: false, tableDir: null, log: (l) => lines.push(l) });
  assert.equal(out.trained, 2);
  assert.equal(out.rows.length, 2);
  for (const r of out.rows) {
    assert.ok(r.mR >= 0 && r.mR <= 100);
    assert.ok(Number.isFinite(r.val_mR));
  }
  // stage 0 and stage 1 ran once and were reused by the ablation
  assert.ok(lines.some((l) => /no-spatial-pae s0\] stage1: reusing finished run tiny__stage1__s0/.test(l)), lines.join('\n'));
  const s2 = readRunRecord('tiny__no-spatial-pae.stage2__s0');
  assert.ok(s2 && s2.status === 'finished');
  assert.deepEqual(s2.parents, ['tiny__stage0__s0', 'tiny__stage1__s0']);
  assert.ok((s2.metrics.val as unknown[]).length === 2, 'one validation per epoch');
  assert.ok(typeof (s2.metrics.test as { mR: number }).mR === 'number');
  // diagnostics are stored beside the recalls, and the suite rows carry their headline columns
  const diag = s2.metrics.diagnostics as { ranks: { t2i: number[] }; beliefLocalisation: unknown; classStructure: unknown } | undefined;
  assert.ok(diag && diag.ranks.t2i.length > 0 && diag.beliefLocalisation !== undefined && diag.classStructure !== undefined, 'diagnostics in run.json');
  assert.ok(out.rows.every((r) => r.diagnostics !== undefined), 'diagnostic columns in the suite rows');
  assert.ok(fs.existsSync(path.join(dir, 'tiny-suite', 'results.csv')));
  assert.ok(fs.existsSync(path.join(dir, 'tiny__stage2__s0', 'vocab.json')));
  // the prior was frozen in stage 2: its weights equal stage 0's best; the backbone moved on from stage 1
  const s0 = readSafetensorsFile(path.join(dir, 'tiny__stage0__s0', 'best.safetensors'));
  const s1 = readSafetensorsFile(path.join(dir, 'tiny__stage1__s0', 'best.safetensors'));
  const s2w = readSafetensorsFile(path.join(dir, 'tiny__stage2__s0', 'best.safetensors'));
  const priorKeys = [...s0.keys()].filter((k) => k.startsWith('conv_encoder.'));
  assert.ok(priorKeys.length > 0);
  for (const k of priorKeys) assert.deepEqual(s2w.get(k)?.data, s0.get(k)?.data, `prior weight ${k} changed in stage 2`);
  const textKeys = [...s1.keys()].filter((k) => k.startsWith('text_encoder.'));
  for (const k of textKeys) assert.deepEqual(s2w.get(k)?.data, s1.get(k)?.data, `text encoder ${k} changed in stage 2 (frozen by default)`);
  const visKeys = [...s1.keys()].filter((k) => k.startsWith('vision_encoder.'));
  const f32 = (t: { data: unknown } | undefined): number[] => Array.from((t?.data ?? new Float32Array(0)) as Float32Array);
  assert.ok(visKeys.some((k) => JSON.stringify(f32(s2w.get(k))) !== JSON.stringify(f32(s1.get(k)))), 'image encoder trained in stage 2');
  // the text tower is frozen but its projection trains (train.stage2.trainTextProjection)
  assert.ok(JSON.stringify(f32(s2w.get('text_proj.weight'))) !== JSON.stringify(f32(s1.get('text_proj.weight'))), 'text_proj trained in stage 2');
  const again = await runSuite(suite, { overrides: TINY, figures: false, progress: false, tableDir: null, log: () => undefined });
  assert.equal(again.trained, 0);
  assert.equal(again.reused, 2);
  assert.deepEqual(again.rows.map((r) => r.mR), out.rows.map((r) => r.mR));
  // a finished run is never reused under a config it was not trained with (a preset edited afterwards)
  const edited = { ...TINY, train: { ...TINY.train, stage1: { ...TINY.train?.stage1, lr: 0.0123 } } };
  await assert.rejects(runSuite(suite, { overrides: edited, figures: false, progress: false, tableDir: null, log: () => undefined }), /tiny__stage1__s0 .* was made from a different stage1 config/);
  assert.equal(tf.memory().numTensors, tensorsBefore, 'no tensors leaked by the recipe');
  delete process.env.KIT_RUNS_DIR;
  fs.rmSync(dir, { recursive: true, force: true });
});

test('main job on tiny data: every step runs once, then every step is skipped', { timeout: 600000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kit-main-'));
  process.env.KIT_RUNS_DIR = dir;
  const suite: SuiteSpec = { name: 'tiny-main', description: 'test', preset: 'embedded-fast', ablations: ['full', 'no-prior'], seeds: [0] };
  const first = await runMainJob({ suite, overrides: TINY, notebooks: false, figures: false, progress: false, workers: 2, log: () => undefined });
  const status = (r: typeof first) => Object.fromEntries(r.steps.map((s) => [s.step, s.status]));
  assert.equal(status(first).train, 'ran');
  assert.equal(status(first).ablations, 'ran');
  // no-prior trained in a worker process, the full model came from the train step
  assert.match(first.steps.find((x) => x.step === 'ablations')?.detail ?? '', /^1 trained, 1 reused, 2 rows/);
  assert.equal(status(first).evaluate, 'ran');
  assert.equal(status(first).notebooks, 'skipped');
  assert.ok(first.main && first.main.runId === 'tiny__stage2__s0');
  assert.ok(fs.existsSync(path.join(dir, 'tiny__stage2__s0', 'test_metrics.json')));
  assert.ok(fs.existsSync(path.join(dir, 'main_tiny-main.json')));
  const second = await runMainJob({ suite, overrides: TINY, notebooks: false, figures: false, progress: false, log: () => undefined });
  for (const s of second.steps) assert.equal(s.status, 'skipped', `${s.step} should be skipped on the second run`);
  assert.equal(second.main?.testMR, first.main?.testMR);
  delete process.env.KIT_RUNS_DIR;
  fs.rmSync(dir, { recursive: true, force: true });
});

test('main job figures are redrawn when a run they show was (re)trained after them', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kit-fig-'));
  process.env.KIT_RUNS_DIR = dir;
  try {
    const fig = path.join(dir, 'training_x.json');
    assert.equal(newerThanRuns(fig, ['r1']), false, 'no figure yet');
    fs.mkdirSync(path.join(dir, 'r1'));
    fs.writeFileSync(path.join(dir, 'r1', 'run.json'), '{}');
    fs.writeFileSync(fig, '{}');
    const t = Date.now() / 1000;
    fs.utimesSync(path.join(dir, 'r1', 'run.json'), t - 60, t - 60);
    fs.utimesSync(fig, t - 30, t - 30);
    assert.equal(newerThanRuns(fig, ['r1', 'absent']), true, 'figure drawn after the run');
    fs.utimesSync(path.join(dir, 'r1', 'run.json'), t, t);
    assert.equal(newerThanRuns(fig, ['r1']), false, 'run rewritten after the figure');
  } finally {
    delete process.env.KIT_RUNS_DIR;
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
