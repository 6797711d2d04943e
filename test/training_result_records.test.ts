/**
 * Result records (src/runs/result_record.ts): a suite measured in one runs folder is finished in a
 * fresh one (another clone, another session) from its committed records without retraining; a
 * record made from another config is never used; an ablation missing from the records is trained
 * on top of the record-only full model (its shared stages 0–1 first, in a worker) and gives the
 * same numbers as when the whole suite was trained in one place.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { initBackend } from '../src/backends/backend';
import { SuiteSpec } from '../src/config/experiment';
import { pendingVariants, runSuite } from '../src/training/ablation_runner';
import { resolveExperiment } from '../src/config/experiment';
import { packRanks, readResultRecord, resultsDir, unpackRanks } from '../src/runs/result_record';
import { TINY } from './training_tiny';

const suite: SuiteSpec = { name: 'tiny-records', description: 'test', preset: 'embedded-fast', ablations: ['full', 'no-spatial-pae'], seeds: [0] };
const quiet = { overrides: TINY, figures: false, progress: false, tableDir: null } as const;

function withRuns<T>(dir: string, f: () => Promise<T>): Promise<T> {
  process.env.KIT_RUNS_DIR = dir;
  return f().finally(() => delete process.env.KIT_RUNS_DIR);
}

test('packRanks round-trips and refuses what is not a rank', () => {
  const v = [0, 1, 3869, 70000, 2 ** 32 - 1];
  assert.deepEqual(unpackRanks(packRanks(v)), v);
  assert.throws(() => packRanks([1.5]), /not an integer/);
  assert.throws(() => packRanks([-1]), /not an integer/);
  assert.throws(() => unpackRanks('AAA='), /not a whole number/);
});

test('a suite is finished in a fresh runs folder from its result records; stale records are not used', { timeout: 900000 }, async () => {
  await initBackend('wasm', { quiet: true });
  process.env.KIT_BACKEND = 'wasm'; // the worker processes below: same backend as this process
  const a = fs.mkdtempSync(path.join(os.tmpdir(), 'kit-rec-a-'));
  const b = fs.mkdtempSync(path.join(os.tmpdir(), 'kit-rec-b-'));
  const c = fs.mkdtempSync(path.join(os.tmpdir(), 'kit-rec-c-'));
  try {
    const first = await withRuns(a, () => runSuite(suite, { ...quiet, log: () => undefined }));
    assert.equal(first.trained, 2);
    const files = await withRuns(a, async () => fs.readdirSync(resultsDir()).sort());
    assert.deepEqual(files, ['tiny__no-spatial-pae.stage2__s0.json', 'tiny__stage2__s0.json']);
    const full = JSON.parse(fs.readFileSync(path.join(a, '.results', 'tiny__stage2__s0.json'), 'utf8'));
    assert.equal(full.producedBy.backend, 'wasm');
    assert.ok(full.ranks && unpackRanks(full.ranks.t2i).length === full.test.numTexts, 'per-query ranks stored');

    // b: a fresh runs folder holding only the records (what a clone of the repository has)
    fs.cpSync(path.join(a, '.results'), path.join(b, '.results'), { recursive: true });
    const lines: string[] = [];
    const again = await withRuns(b, () => runSuite(suite, { ...quiet, log: (l) => lines.push(l) }));
    assert.equal(again.trained, 0, lines.join('\n'));
    assert.deepEqual(again.rows.map((r) => r.mR), first.rows.map((r) => r.mR));
    assert.deepEqual(again.rows.map((r) => r.diagnostics), first.rows.map((r) => r.diagnostics));
    assert.deepEqual(again.summary.map((s) => s.pairedDeltaMR), first.summary.map((s) => s.pairedDeltaMR), 'same intervals (bootstrap from the stored ranks)');
    assert.ok(lines.some((l) => /from its result record \(wasm backend/.test(l)), lines.join('\n'));
    assert.deepEqual(fs.readdirSync(b).sort(), ['.results', 'tiny-records'], 'nothing trained in b');

    // a record made from another config (stage-2 lr changed) is not used: the variant trains again
    const edited = { ...TINY, train: { ...TINY.train, stage2: { ...TINY.train.stage2, lr: 0.0123 } } };
    const keysNow = await withRuns(b, async () => {
      const why: string[] = [];
      const exp = resolveExperiment('embedded-fast', null, edited);
      const { stageKeys } = await import('../src/training/run_cache');
      const rec = readResultRecord('tiny__stage2__s0', stageKeys(exp, 0), (w) => why.push(w));
      assert.equal(rec, null);
      assert.match(why[0], /different stage2 config .* not used/);
      return stageKeys(exp, 0);
    });
    const stale = await withRuns(b, () => runSuite({ ...suite, ablations: ['full'] }, { ...quiet, overrides: edited, log: () => undefined }));
    assert.equal(stale.trained, 1);
    await withRuns(b, async () => assert.ok(readResultRecord('tiny__stage2__s0', keysNow), 'the record was replaced by the new run'));

    // c: only the full model's record; the ablation must train, and needs the full model's stages 0-1 first
    fs.mkdirSync(path.join(c, '.results'));
    fs.copyFileSync(path.join(a, '.results', 'tiny__stage2__s0.json'), path.join(c, '.results', 'tiny__stage2__s0.json'));
    const pending = await withRuns(c, async () => pendingVariants(suite, suite.ablations, suite.seeds, resolveExperiment('embedded-fast', null, TINY), TINY));
    assert.deepEqual(pending, [{ ablation: 'full', seed: 0, upTo: 'stage1' }, { ablation: 'no-spatial-pae', seed: 0 }]);
    // the main job needs the full model's weights, not only its record
    const needRuns = await withRuns(c, async () => pendingVariants(suite, ['full'], suite.seeds, resolveExperiment('embedded-fast', null, TINY), TINY, { requireRuns: true }));
    assert.deepEqual(needRuns, [{ ablation: 'full', seed: 0 }]);
    const third = await withRuns(c, () => runSuite(suite, { ...quiet, workers: 2, log: () => undefined }));
    assert.equal(third.trained, 1);
    assert.deepEqual(third.rows.map((r) => r.mR), first.rows.map((r) => r.mR), 'the ablation trained on the re-made stages 0-1 equals the one-place suite');
    assert.ok(!fs.existsSync(path.join(c, 'tiny__stage2__s0')), 'the full model itself was not retrained');
  } finally {
    delete process.env.KIT_BACKEND;
    for (const d of [a, b, c]) fs.rmSync(d, { recursive: true, force: true });
  }
});
