import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { finishRun, runDir, startRun } from '../src/runs/record';
import { stageRunIds } from '../src/training/run_cache';
import { PreparedData } from '../src/training/data_prep';
import { ensureSession, mainRunsFinished, notebookBudget, notebookOverrides, profileExperiment, runLossHistory, stageRows } from '../src/notebook/recipe/stages';
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

test('ensureSession reuses finished runs by id without training, and the notebook budget applies only when they are absent', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nbrecipe-stages-'));
  const prev = process.env.KIT_RUNS_DIR;
  process.env.KIT_RUNS_DIR = dir;
  try {
    assert.equal(mainRunsFinished('fast', 0), false);
    assert.deepEqual(notebookOverrides('fast', 0), notebookBudget(profilePreset('fast')));
    assert.equal(notebookOverrides('full', 0), undefined);
    const exp = profileExperiment('fast');
    const ids = stageRunIds(exp, 0, 'full', exp);
    for (const s of ['stage0', 'stage1', 'stage2'] as const) if (ids[s]) fakeFinishedRun(ids[s] as string, s, s === 'stage0' ? 60 : 10);
    assert.equal(mainRunsFinished('fast', 0), true);
    assert.equal(notebookOverrides('fast', 0), undefined);
    const lines: string[] = [];
    const fakeData = {} as PreparedData; // never touched: nothing is trained
    const st = await ensureSession('fast', 0, { data: fakeData, log: (l) => lines.push(l) });
    assert.equal(st.allReused, true);
    assert.equal(st.outcome?.test?.mR, 2); // runRecipe read the finished stage-2 record
    assert.equal(st.finalRunId, ids.stage2);
    // upTo: stage 1 (reused as a parent of stage 2, so never tested): no training, no test metrics, stage 2 reported disabled
    const s1 = await ensureSession('fast', 0, { data: fakeData, upTo: 'stage1', log: () => undefined });
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
    const opened = await openSession('fast', 0, { data: fakeData });
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
