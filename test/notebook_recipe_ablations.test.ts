import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { loadSuite } from '../src/config/experiment';
import { ResultRow, summarise } from '../src/training/results';
import { PIR_TABLE1, ablationBarData, ablationPlan, completeSuiteRows, diagnosticRows, effectRows, paperComparisonRows, summaryRows, verdict } from '../src/notebook/recipe/ablations';
import { configRows, notebookBudget, profileExperiment } from '../src/notebook/recipe/stages';
import { profilePreset } from '../src/training/profiles';
import { chanceRow } from '../src/notebook/recipe/models';
import { EvaluationResult } from '../src/evaluation/evaluate';

function row(ablation: string, seed: number, mR: number): ResultRow {
  return { ablation, seed, runId: `x__${ablation}__s${seed}`, i2t_r1: mR, i2t_r5: mR, i2t_r10: mR, t2i_r1: mR, t2i_r5: mR, t2i_r10: mR, mR, val_mR: mR, seconds: 1 };
}

test('PIR Table 1 rows: mR is the mean of the six recalls (method.md §7.1) and the paper Δs are +1.06 / +1.71', () => {
  for (const p of PIR_TABLE1) {
    const mean = [...p.i2t, ...p.t2i].reduce((a, b) => a + b, 0) / 6;
    assert.ok(Math.abs(mean - p.mR) < 0.006, `${p.dataset} ${p.method}: ${mean} vs ${p.mR}`);
  }
  const rows = paperComparisonRows([]);
  assert.deepEqual(rows.map((r) => r['Δ mR (full − other)']), [1.06, 1.71]);
});

test('effect rows and verdicts: one seed never claims a finding; two seeds compare Δ with the seed spread', () => {
  const one = summarise([row('full', 0, 10), row('no-prior', 0, 12)], ['full', 'no-prior']);
  assert.match(String(effectRows(one)[0].reading), /one seed: no noise estimate/);
  const noisy = summarise([row('full', 0, 10), row('full', 1, 14), row('no-prior', 0, 11), row('no-prior', 1, 12)], ['full', 'no-prior']);
  assert.match(verdict(noisy[1], noisy[0]), /^within seed noise: the interval includes 0/);
  const clear = summarise([row('full', 0, 20), row('full', 1, 20.2), row('no-prior', 0, 15), row('no-prior', 1, 15.1)], ['full', 'no-prior']);
  assert.match(verdict(clear[1], clear[0]), /^below full: the interval excludes 0/);
  assert.equal(effectRows(clear)[0]['Δ mR'], -5.05);
  // the interval columns show what the verdict read: a t interval over the two paired seeds, no bootstrap (no stored ranks)
  const ci = clear[1].pairedDeltaMR.ci;
  assert.ok(ci && ci.hi < 0);
  assert.equal(effectRows(clear)[0]['t interval (seeds)'], `[${ci.lo.toFixed(2)}, ${ci.hi.toFixed(2)}] (95 %)`);
  assert.equal(effectRows(clear)[0]['bootstrap (seeds × test images)'], '—');
  assert.equal(effectRows(one)[0]['t interval (seeds)'], '—');
  // diagnostics columns: null where no run stored diagnostics
  const diag = diagnosticRows(clear);
  assert.deepEqual(diag.map((r) => r.ablation), ['full', 'no-prior']);
  assert.equal(diag[0].belief_key_ratio, null);
  const cmp = paperComparisonRows(clear);
  assert.equal(cmp[2]['Δ mR (full − other)'], 5.05);
  assert.match(String(cmp[2].comparison), /one mechanism only/);
  assert.equal(summaryRows(clear)[0]['mR (test)'], '20.10 ± 0.14');
  assert.deepEqual(ablationBarData([row('full', 0, 1), row('full', 1, 2)], ['full', 'absent'], 'mR'), [{ variant: 'full', values: [1, 2] }]);
});

test('completeSuiteRows accepts a results file only when it covers every ablation × seed of the suite', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nbrecipe-runs-'));
  const prev = process.env.KIT_RUNS_DIR;
  process.env.KIT_RUNS_DIR = dir;
  try {
    const suite = loadSuite('default');
    assert.equal(completeSuiteRows(suite), null);
    fs.mkdirSync(path.join(dir, suite.name), { recursive: true });
    const all = suite.ablations.flatMap((a) => suite.seeds.map((s) => row(a, s, 5)));
    fs.writeFileSync(path.join(dir, suite.name, 'results.json'), JSON.stringify({ rows: all.slice(1) }));
    assert.equal(completeSuiteRows(suite), null);
    fs.writeFileSync(path.join(dir, suite.name, 'results.json'), JSON.stringify({ rows: all }));
    assert.equal(completeSuiteRows(suite)?.length, all.length);
  } finally {
    if (prev === undefined) delete process.env.KIT_RUNS_DIR;
    else process.env.KIT_RUNS_DIR = prev;
  }
});

test('the notebook budget renames the experiment and changes only stage 2', () => {
  const base = profileExperiment('v1');
  const nbExp = profileExperiment('v1', notebookBudget(profilePreset('v1')));
  assert.equal(nbExp.name, `${base.name}-nb`);
  assert.deepEqual(nbExp.train.stage0, base.train.stage0);
  assert.deepEqual(nbExp.train.stage1, base.train.stage1);
  assert.notDeepEqual(nbExp.train.stage2, base.train.stage2);
  const rows = configRows(base, ['train.stage1']);
  assert.ok(rows.some((r) => r.key === 'train.stage1.captions'));
  assert.throws(() => configRows(base, ['train.nope']), /not a config section/);
});

test('chanceRow: random ranking recall for I images with 5 captions each', () => {
  const r = { metrics: { numImages: 90, numTexts: 450 } } as unknown as EvaluationResult;
  const c = chanceRow(r);
  assert.equal(c['t→i R@10'], 11.11);
  // i→t R@1: 1 − (445/450)(444/449)…(441/446) ≈ 5 / 450
  assert.ok(Math.abs(Number(c['i→t R@1']) - 1.11) < 0.01);
});

test('pairedDeltas pairs each variant with the full model of the same seed', async () => {
  const { pairedDeltas } = await import('../src/notebook/recipe/ablations');
  const rows = [row('full', 0, 10), row('full', 1, 20), row('no-prior', 1, 17), row('no-prior', 0, 9), row('no-prior', 2, 5)];
  assert.deepEqual(pairedDeltas(rows, 'no-prior'), [{ seed: 0, delta: -1 }, { seed: 1, delta: -3 }]);
  const sum = summarise(rows.slice(0, 4), ['full', 'no-prior']);
  assert.equal(effectRows(sum, rows.slice(0, 4))[0]['Δ mR per seed (paired)'], 's0: -1.00, s1: -3.00');
});

test('ablationPlan per setting: the whole suite when every variant × seed has a result record (nothing trains), else the reduced suite', () => {
  const runs = fs.mkdtempSync(path.join(os.tmpdir(), 'nbrecipe-plan-'));
  const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'nbrecipe-plan-results-'));
  const prev = { runs: process.env.KIT_RUNS_DIR, results: process.env.KIT_RESULTS_DIR };
  process.env.KIT_RUNS_DIR = runs;
  try {
    // the committed records of suite v2-open (data/results/) cover its 8 variants × 5 seeds
    process.env.KIT_RESULTS_DIR = path.join(__dirname, '..', 'data', 'results');
    const open = ablationPlan('fast', { setting: 'open' });
    assert.equal(open.suite.name, 'v2-open');
    assert.equal(open.trainsNothing, true);
    assert.equal(open.reused, null);
    assert.deepEqual(open.seeds, [0, 1, 2, 3, 4]);
    assert.equal(open.options.overrides, undefined);
    // no records: the profile's own suite, one seed, in the notebook budget, never over a complete table
    process.env.KIT_RESULTS_DIR = empty;
    const reduced = ablationPlan('fast', { setting: 'open' });
    assert.equal(reduced.suite.name, 'default-open');
    assert.equal(reduced.trainsNothing, false);
    assert.deepEqual(reduced.seeds, [0]);
    assert.deepEqual(reduced.options.overrides, notebookBudget('embedded-v2-open'));
    assert.equal(reduced.options.outDir, path.join(runs, 'default-open-notebook'));
    assert.equal(ablationPlan('fast').suite.name, 'default-closed'); // no setting: the first (closed)
    assert.equal(ablationPlan('v1').suite.name, 'default');
  } finally {
    for (const [k, v] of [['KIT_RUNS_DIR', prev.runs], ['KIT_RESULTS_DIR', prev.results]] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
});
