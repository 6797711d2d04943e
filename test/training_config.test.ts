/**
 * Experiment configs: presets resolve, ablations and suites load, unknown keys and wrong types are
 * rejected naming the key path and the source, model kind switches, stage sharing by run id.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { ConfigError } from '../src/config/resolve';
import { defaultExperiment, listAblations, listPresets, loadSuite, resolveExperiment, FULL_MODEL } from '../src/config/experiment';
import { stageKeys, stageRunIds } from '../src/training/stages';
import { parseArgs, setsToOverrides } from '../src/training/cli_args';
import { meanStd, summarise, summaryMarkdown } from '../src/training/results';

test('presets resolve and every ablation applies cleanly', () => {
  assert.ok(listPresets().includes('embedded-fast'));
  const base = resolveExperiment('embedded-fast');
  assert.equal(base.name, 'embedded-fast');
  assert.equal(base.model.kind, 'pir-small');
  for (const a of listAblations()) {
    const cfg = resolveExperiment('embedded-fast', a.name);
    assert.notDeepEqual(cfg, base, `ablation ${a.name} changes nothing`);
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
  for (const name of ['default', 'full']) {
    const s = loadSuite(name);
    assert.ok(s.ablations.includes(FULL_MODEL));
    assert.ok(s.seeds.length >= 1);
  }
  assert.ok(loadSuite('full').seeds.length >= 3);
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
  const noS1 = stageRunIds(resolveExperiment('embedded-fast', 'no-stage1'), 0, 'no-stage1', base);
  assert.equal(noS1.stage1, null);
  assert.equal(noS1.stage2, 'embedded-fast__no-stage1.stage2__s0');
  // seeds change every key
  assert.notEqual(stageKeys(base, 0).stage1, stageKeys(base, 1).stage1);
  assert.equal(defaultExperiment().train.stage2.trainTextEncoder, false);
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

test('results: mean ± sample std and the delta to the full model', () => {
  assert.deepEqual(meanStd([1, 2, 3]), { mean: 2, std: 1 });
  const row = (ablation: string, seed: number, mR: number) => ({ ablation, seed, runId: `${ablation}${seed}`, i2t_r1: mR, i2t_r5: mR, i2t_r10: mR, t2i_r1: mR, t2i_r5: mR, t2i_r10: mR, mR, val_mR: mR, seconds: 1 });
  const s = summarise([row('full', 0, 10), row('full', 1, 12), row('no-prior', 0, 8), row('no-prior', 1, 8)], ['full', 'no-prior']);
  assert.equal(s[0].mean.mR, 11);
  assert.equal(s[1].deltaMR, -3);
  assert.equal(s[1].std.mR, 0);
  assert.match(summaryMarkdown(s), /\| no-prior \| 2 \|.*-3\.00/);
});
