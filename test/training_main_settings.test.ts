/**
 * The default profile runs both settings of embedded v2: the main job goes through default-closed and
 * default-open (here in-process, on a tiny v2 benchmark), reports each setting's suite, preset and main
 * model, and a second call reuses everything.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { runMainJob } from '../src/training/main_job';
import { initBackend } from '../src/backends/backend';
import { TINY_V2 as TINY } from './training_tiny';

test('npm run main (profile fast): the closed and the open setting, each its own suite and main model; rerun reuses all', async () => {
  await initBackend(undefined, { quiet: true });
  const runs = fs.mkdtempSync(path.join(os.tmpdir(), 'kit-main-settings-'));
  const prev = process.env.KIT_RUNS_DIR;
  process.env.KIT_RUNS_DIR = runs;
  try {
    const opts = { profile: 'fast', overrides: TINY, notebooks: false, figures: false, progress: false, workers: 1, log: () => undefined };
    const first = await runMainJob(opts);
    assert.equal(first.profile, 'fast');
    assert.deepEqual(first.settings.map((s) => [s.setting, s.suite, s.preset]), [['closed', 'default-closed', 'embedded-v2-closed'], ['open', 'default-open', 'embedded-v2-open']]);
    assert.equal(first.settings[0].main?.runId, 'embedded-v2-closed__stage2__s0');
    assert.equal(first.settings[1].main?.runId, 'embedded-v2-open__stage2__s0');
    for (const s of first.settings) assert.ok(Number.isFinite(s.main?.testMR), `${s.setting}: test mR`);
    assert.deepEqual([...new Set(first.steps.filter((s) => s.step === 'ablations').map((s) => s.setting))], ['closed', 'open']);
    for (const suite of ['default-closed', 'default-open']) assert.ok(fs.existsSync(path.join(runs, suite, 'results.json')), `${suite} table written`);
    assert.ok(fs.existsSync(path.join(runs, 'main_fast.json')));
    const second = await runMainJob(opts);
    assert.ok(second.steps.filter((s) => s.step !== 'notebooks' && s.step !== 'figures').every((s) => s.status === 'skipped'), 'everything reused');
    assert.deepEqual(second.settings.map((s) => s.main?.testMR), first.settings.map((s) => s.main?.testMR));
  } finally {
    if (prev === undefined) delete process.env.KIT_RUNS_DIR;
    else process.env.KIT_RUNS_DIR = prev;
  }
});
