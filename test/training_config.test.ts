/**
 * Experiment configs: presets resolve, ablations and suites load, unknown keys and wrong types are
 * rejected naming the key path and the source, model kind switches, stage sharing by run id.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { ConfigError } from '../src/utils/merge_config';
import { configsDir, defaultExperiment, listAblations, listPresets, loadSuite, resolveExperiment, FULL_MODEL } from '../src/config/experiment';
import * as fs from 'fs';
import * as path from 'path';
import { stageKeys, stageRunIds } from '../src/training/run_cache';
import { stageTrainsGroup } from '../src/training/stage_task';
import { ParamGroup } from '../src/models/model';
import { parseArgs, setsToOverrides } from '../src/training/cli_args';
import { summarise, summaryMarkdown } from '../src/training/results';

test('presets resolve and every ablation applies cleanly', () => {
  assert.ok(listPresets().includes('embedded-fast'));
  const base = resolveExperiment('embedded-fast');
  assert.equal(base.name, 'embedded-fast');
  assert.equal(base.model.kind, 'pir-small');
  // an ablation applies to the presets of the suites that list it (embedded-fast when none does):
  // v2-only ablations (train.stage0.corpus, PriorCLIP's softBelief) cannot apply to the v1 pir-small preset
  const suites = fs.readdirSync(path.join(configsDir(), 'suites')).filter((f) => f.endsWith('.json')).map((f) => loadSuite(f.slice(0, -5)));
  for (const a of listAblations()) {
    const presets = [...new Set(suites.filter((s) => s.ablations.includes(a.name)).map((s) => s.preset))];
    for (const p of presets.length ? presets : ['embedded-fast']) {
      const cfg = resolveExperiment(p, a.name);
      assert.notDeepEqual(cfg, resolveExperiment(p), `ablation ${a.name} changes nothing on ${p}`);
    }
  }
  const k4 = resolveExperiment('embedded-fast', 'filter-size-k4');
  assert.equal(k4.model.kind === 'pir-small' && k4.model.spatialPae.filterSize, 4);
});

test('unknown keys and wrong types are rejected naming the key path', () => {
  assert.throws(
    () => resolveExperiment('embedded-fast', null, { train: { stage2: { learningRate: 1 } } }),
    (e: unknown) => e instanceof ConfigError && e.keyPath === 'train.stage2.learningRate' && /unknown config key 'train.stage2.learningRate'/.test(e.message),
  );
  assert.throws(
    () => resolveExperiment('embedded-fast', null, { model: { spatialPae: { filterSize: '8' } } }),
    (e: unknown) => e instanceof ConfigError && e.keyPath === 'model.spatialPae.filterSize',
  );
  assert.throws(
    () => resolveExperiment('embedded-fast', null, { loss: { affiliationWeight: true } }),
    (e: unknown) => e instanceof ConfigError && e.keyPath === 'loss.affiliationWeight',
  );
  assert.throws(() => resolveExperiment('embedded-fast', null, { train: { stage1: { schedule: 'step' } } }), /train\.stage1\.schedule/);
  assert.throws(() => resolveExperiment('embedded-fast', null, { eval: { tieRule: 'random' } }), /eval\.tieRule/);
  assert.throws(() => resolveExperiment('no-such-preset'), /unknown experiment preset 'no-such-preset'/);
  assert.throws(() => resolveExperiment('embedded-fast', 'no-such-ablation'), /unknown ablation 'no-such-ablation'/);
});

test('switching the model kind starts from that kind\'s defaults', () => {
  const cfg = resolveExperiment('embedded-fast', null, { model: { kind: 'pir' } });
  assert.equal(cfg.model.kind, 'pir');
  assert.equal(cfg.model.kind === 'pir' && cfg.model.embedDim, 512);
});

test('suites load and name existing ablations', () => {
  for (const name of ['default', 'paper']) {
    const s = loadSuite(name);
    assert.ok(s.ablations.includes(FULL_MODEL));
    assert.ok(s.seeds.length >= 1);
  }
  // The paper suite: every ablation the issue lists, five seeds (issue 16), on the default profile's recipe
  // (so the default profile's runs are a subset of it).
  const paper = loadSuite('paper');
  assert.deepEqual(paper.seeds, [0, 1, 2, 3, 4]);
  assert.equal(paper.preset, loadSuite('default').preset);
  for (const a of ['full', 'no-spatial-pae', 'no-temporal-pae', 'no-affiliation', 'no-stage1', 'no-prior', 'belief-soft-head', 'belief-soft-c20bbe30', 'filter-size-k4', 'filter-size-k65', 'nv-1', 'nv-3', 'nt-1', 'nt-3']) {
    assert.ok(paper.ablations.includes(a), a);
  }
  for (const a of loadSuite('default').ablations) assert.ok(paper.ablations.includes(a), a);
});

test('stages shared with the preset keep the preset run id; changed stages get the ablation name', () => {
  const base = resolveExperiment('embedded-fast');
  const noSpae = resolveExperiment('embedded-fast', 'no-spatial-pae');
  const ids = stageRunIds(noSpae, 0, 'no-spatial-pae', base);
  assert.equal(ids.stage0, 'embedded-fast__stage0__s0');
  assert.equal(ids.stage1, 'embedded-fast__stage1__s0'); // stage 1 has no PAE: shared
  assert.equal(ids.stage2, 'embedded-fast__no-spatial-pae.stage2__s0');
  const noPrior = stageRunIds(resolveExperiment('embedded-fast', 'no-prior'), 1, 'no-prior', base);
  assert.equal(noPrior.stage0, null);
  assert.equal(noPrior.stage1, 'embedded-fast__stage1__s1');
  // settings of modules stage 1 leaves out (K, n_v, n_t, belief) do not split stage 1 off
  for (const ab of ['filter-size-k4', 'nv-3', 'nt-1', 'belief-soft-head']) {
    const ids = stageRunIds(resolveExperiment('embedded-fast', ab), 2, ab, base);
    assert.equal(ids.stage1, 'embedded-fast__stage1__s2', ab);
    assert.equal(ids.stage2, `embedded-fast__${ab}.stage2__s2`, ab);
  }
  // …but the stage-1 model itself does (a wider text encoder is another stage-1 run)
  const wide = resolveExperiment('embedded-fast', null, { model: { text: { width: 32 } } });
  assert.notEqual(stageKeys(wide, 0).stage1, stageKeys(base, 0).stage1);
  const noS1 = stageRunIds(resolveExperiment('embedded-fast', 'no-stage1'), 0, 'no-stage1', base);
  assert.equal(noS1.stage1, null);
  assert.equal(noS1.stage2, 'embedded-fast__no-stage1.stage2__s0');
  // seeds change every key
  assert.notEqual(stageKeys(base, 0).stage1, stageKeys(base, 1).stage1);
  assert.equal(defaultExperiment().train.stage2.trainTextEncoder, false);
});

test('stage trainable groups: the prior only in stage 0, the text tower frozen in stage 2 but not its projection', () => {
  const exp = resolveExperiment('embedded-fast');
  assert.deepEqual(['prior', 'priorHead', 'image', 'text', 'textProj', 'fusion', 'scale'].filter((g) => stageTrainsGroup('stage0', exp, g as ParamGroup)), ['prior', 'priorHead']);
  assert.deepEqual(['prior', 'priorHead', 'image', 'text', 'textProj', 'fusion', 'scale'].filter((g) => stageTrainsGroup('stage1', exp, g as ParamGroup)), ['image', 'text', 'textProj', 'fusion', 'scale']);
  assert.deepEqual(['prior', 'priorHead', 'image', 'text', 'textProj', 'fusion', 'scale'].filter((g) => stageTrainsGroup('stage2', exp, g as ParamGroup)), ['image', 'textProj', 'fusion', 'scale']);
  const locked = resolveExperiment('embedded-fast', undefined, { train: { stage2: { trainTextProjection: false } } });
  assert.equal(stageTrainsGroup('stage2', locked, 'textProj'), false);
  const open = resolveExperiment('embedded-fast', 'no-stage1');
  assert.equal(stageTrainsGroup('stage2', open, 'text'), true);
  assert.equal(stageTrainsGroup('stage2', open, 'textProj'), true);
});

test('CLI helpers: --set overrides and option errors', () => {
  assert.deepEqual(setsToOverrides(['train.stage2.lr=0.01', 'model.spatialPae.belief=soft-head']), {
    train: { stage2: { lr: 0.01 } },
    model: { spatialPae: { belief: 'soft-head' } },
  });
  assert.deepEqual(parseArgs(['--suite', 'x', '--no-figures', '--set', 'a=1', '--set=b=2'], { suite: 'string', figures: 'boolean', set: 'list' }, 'cmd'), {
    suite: 'x',
    figures: false,
    set: ['a=1', 'b=2'],
  });
  assert.throws(() => parseArgs(['--nope'], { suite: 'string' }, 'cmd'), /unknown option --nope/);
});

test('results: mean ± sample std, the delta to the full model and the delta paired by seed', () => {
  const row = (ablation: string, seed: number, mR: number) => ({ ablation, seed, runId: `${ablation}${seed}`, i2t_r1: mR, i2t_r5: mR, i2t_r10: mR, t2i_r1: mR, t2i_r5: mR, t2i_r10: mR, mR, val_mR: mR, seconds: 1 });
  const s = summarise([row('full', 0, 10), row('full', 1, 12), row('no-prior', 0, 8), row('no-prior', 1, 8), row('nv-1', 0, 11), row('nv-1', 1, 11), row('nv-1', 2, 30)], ['full', 'no-prior', 'nv-1']);
  assert.equal(s[0].mean.mR, 11);
  assert.equal(s[1].deltaMR, -3);
  assert.equal(s[1].std.mR, 0);
  // paired: (8−10, 8−12) = (−2, −4) → −3 ± √2, both seeds lower
  assert.equal(s[1].pairedDeltaMR.mean, -3);
  assert.ok(Math.abs(s[1].pairedDeltaMR.std - Math.SQRT2) < 1e-12);
  assert.deepEqual([s[1].pairedDeltaMR.n, s[1].pairedDeltaMR.lower], [2, 2]);
  // seed 2 has no full run: unpaired mean uses it (Δ = 52/3 − 11), the paired delta does not ((+1, −1) → 0)
  assert.ok(Math.abs(s[2].deltaMR - (52 / 3 - 11)) < 1e-12);
  assert.deepEqual([s[2].pairedDeltaMR.mean, s[2].pairedDeltaMR.n, s[2].pairedDeltaMR.lower], [0, 2, 1]);
  const md = summaryMarkdown(s);
  assert.match(md, /\| no-prior \| 2 \|.*\| -3\.00 \| -3\.00 ± 1\.41 \[-15\.71, \+9\.71\] \(2\/2 lower\) \|/); // t(0.975, 1) = 12.706: −3 ± 12.706·√2/√2
  assert.match(md, /\| full \| 2 \|.*\| \+0\.00 \|  \|/);
  // a summary without `full`: deltas are NaN, never invented
  const alone = summarise([row('no-prior', 0, 8)], ['no-prior']);
  assert.ok(Number.isNaN(alone[0].deltaMR));
  assert.equal(alone[0].pairedDeltaMR.n, 0);
});
