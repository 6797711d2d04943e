import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { finishRun, runDir, startRun } from '../src/runs/record';
import { stageRunIds } from '../src/training/run_cache';
import { PreparedData } from '../src/training/data_prep';
import { ensureSession, mainRunsFinished, notebookBudget, notebookOverrides, profileExperiment, profileSettings, runLossHistory, settingRows, stageRows } from '../src/notebook/recipe/stages';
import { profilePreset } from '../src/training/profiles';
import { openSession, sessionModel } from '../src/notebook/session';

/** Write a finished run folder the way the trainer leaves it (record, best checkpoint, loss log). */
function fakeFinishedRun(id: string, kind: string, bestVal: number): void {
  const rec = startRun({ runId: id, kind, seed: 0, config: {} });
  rec.metrics.bestVal = { mR: bestVal, step: 2, epoch: 0 };
  rec.metrics.val = [{ step: 2, epoch: 0, metrics: { mR: bestVal } }];
  rec.timings.totalSeconds = 12;
  if (kind === 'stage2') rec.metrics.test = { i2t: { r1: 1, r5: 2, r10: 3 }, t2i: { r1: 1, r5: 2, r10: 3 }, mR: 2, tieRule: 'pessimistic', numImages: 1, numTexts: 5 };
  finishRun(rec);
  fs.writeFileSync(path.join(runDir(id), 'best.safetensors'), '');
  fs.writeFileSync(path.join(runDir(id), 'losses.json'), JSON.stringify([{ step: 1, epoch: 0, loss: 3, parts: { contrastive: 3 }, lr: 0.001, gradNorm: 1 }, { step: 2, epoch: 0, loss: 2.5, parts: { contrastive: 2.5 }, lr: 0.001, gradNorm: 1 }]));
}

test('ensureSession reuses finished runs by id without training, and the notebook budget applies only when they are absent (v1 profile: three stages)', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nbrecipe-stages-'));
  const prev = process.env.KIT_RUNS_DIR;
  process.env.KIT_RUNS_DIR = dir;
  try {
    assert.equal(mainRunsFinished('v1', 0), false);
    assert.deepEqual(notebookOverrides('v1', 0), notebookBudget(profilePreset('v1')));
    assert.equal(notebookOverrides('full', 0), undefined);
    const exp = profileExperiment('v1');
    const ids = stageRunIds(exp, 0, 'full', exp);
    for (const s of ['stage0', 'stage1', 'stage2'] as const) if (ids[s]) fakeFinishedRun(ids[s] as string, s, s === 'stage0' ? 60 : 10);
    assert.equal(mainRunsFinished('v1', 0), true);
    assert.equal(notebookOverrides('v1', 0), undefined);
    const lines: string[] = [];
    const fakeData = {} as PreparedData; // never touched: nothing is trained
    const st = await ensureSession('v1', 0, { data: fakeData, log: (l) => lines.push(l) });
    assert.equal(st.allReused, true);
    assert.equal(st.outcome?.test?.mR, 2); // runRecipe read the finished stage-2 record
    assert.equal(st.finalRunId, ids.stage2);
    // upTo: stage 1 (reused as a parent of stage 2, so never tested): no training, no test metrics, stage 2 reported disabled
    const s1 = await ensureSession('v1', 0, { data: fakeData, upTo: 'stage1', log: () => undefined });
    assert.equal(s1.finalRunId, ids.stage1);
    assert.equal(s1.outcome?.test, null);
    assert.deepEqual(s1.stages.map((s) => s.status), ['reused', 'reused', 'disabled']);
    assert.equal(s1.ids.stage2, null);
    assert.equal(st.budget, 'preset');
    const rows = stageRows(st);
    assert.deepEqual(rows.map((r) => r.status), ['reused', 'reused', 'reused']);
    assert.equal(rows[0]['best val'], 60);
    assert.equal(lines.length, 3);
    // openSession: the same run ids without running the recipe; a stage's model needs its finished run
    const opened = await openSession('v1', 0, { data: fakeData });
    assert.deepEqual(opened.ids, st.ids);
    assert.deepEqual(opened.finished, { stage0: true, stage1: true, stage2: true });
    assert.equal(opened.outcome, null);
    assert.deepEqual(opened.stages.map((s) => s.status), ['reused', 'reused', 'reused']);
    assert.equal(opened.finalRunId, st.finalRunId);
    assert.throws(() => sessionModel(opened, 'stage0', { at: 'start' }), /'start' is defined for stage 2/);
    const h = runLossHistory(ids.stage1 as string);
    assert.deepEqual(h.points.map((p) => p.total), [3, 2.5]);
    assert.deepEqual(h.validation, [{ step: 2, value: 10 }]);
  } finally {
    if (prev === undefined) delete process.env.KIT_RUNS_DIR;
    else process.env.KIT_RUNS_DIR = prev;
  }
});

test('profile fast: the closed and the open setting of embedded v2, each with its own budget and runs', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nbrecipe-settings-'));
  const prev = process.env.KIT_RUNS_DIR;
  process.env.KIT_RUNS_DIR = dir;
  try {
    const settings = profileSettings('fast');
    assert.deepEqual(settings.map((s) => [s.setting, s.suite.name, s.preset]), [['closed', 'default-closed', 'embedded-v2-closed'], ['open', 'default-open', 'embedded-v2-open']]);
    assert.deepEqual(profileSettings('full').map((s) => s.suite.name), ['v2-closed', 'v2-open']);
    assert.deepEqual(profileSettings('v1').map((s) => [s.setting, s.preset]), [['hybrid', 'embedded-fast']]);
    assert.equal(profilePreset('fast'), 'embedded-v2-closed'); // no setting: the first
    assert.throws(() => profilePreset('v1', 'open'), /profile 'v1' has no open setting/);
    // the budget of each setting is decided by its own main-job runs
    const open = profileExperiment('fast', undefined, 'open');
    const ids = stageRunIds(open, 0, 'full', open);
    assert.ok(ids.stage0 && ids.stage1 && ids.stage2, 'the open recipe has three stages');
    for (const s of ['stage0', 'stage1', 'stage2'] as const) fakeFinishedRun(ids[s] as string, s, 10);
    assert.equal(notebookOverrides('fast', 0, 'open'), undefined);
    assert.deepEqual(notebookOverrides('fast', 0, 'closed'), notebookBudget('embedded-v2-closed'));
    const closed = profileExperiment('fast', undefined, 'closed');
    assert.equal(stageRunIds(closed, 0, 'full', closed).stage1, null, 'the closed recipe has no stage 1');
    const st = await ensureSession('fast', 0, { setting: 'open', data: {} as PreparedData, log: () => undefined });
    assert.equal(st.setting, 'open');
    assert.equal(st.budget, 'preset');
    assert.equal(st.allReused, true);
    const rows = settingRows([closed, open]);
    assert.deepEqual(rows.map((r) => r.setting), ['closed', 'open']);
    assert.equal(rows[0]['stage 1 (coarse)'], 'off');
    assert.match(String(rows[1]['stage 1 (coarse)']), /coarse captions/);
  } finally {
    if (prev === undefined) delete process.env.KIT_RUNS_DIR;
    else process.env.KIT_RUNS_DIR = prev;
  }
});
