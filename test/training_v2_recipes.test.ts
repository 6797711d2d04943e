/**
 * The two embedded-v2 recipes end to end on a tiny v2 benchmark (a few images per class, 1 epoch per
 * stage): each stage reads its own corpus — stage 0 the prior corpus (or the fine set with
 * `prior-fine-only`), stage 1 the coarse corpus (rendered on demand), stage 2 the fine corpus — and
 * v1 configs are untouched (no `version`, no `train.stage0.corpus`).
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { loadSuite, resolveExperiment, FULL_MODEL, isEmbeddedV2 } from '../src/config/experiment';
import { resolveVariant } from '../src/training/run_cache';
import { runRecipe } from '../src/training/recipe';
import { prepareExperimentData, RenderedPixels } from '../src/training/data_prep';
import { stageCorpus, stageModelConfig, stageTask } from '../src/training/stage_task';
import { readRunRecord } from '../src/runs/record';
import { createModel } from '../src/models/factory';
import { SeedStream } from '../src/utils/random';
import { EMBEDDED_SCENE_CLASSES } from '../src/data/embedded/config';
import { initBackend } from '../src/backends/backend';

const FINE = EMBEDDED_SCENE_CLASSES.slice(0, 3);
const PRIOR = [...FINE, 'bareland'];
const stage = { epochs: 1, batchSize: 4 };
/** A tiny v2 benchmark and one short epoch per stage. */
const TINY = {
  data: {
    embedded: {
      version: 2,
      name: 'test-v2-tiny',
      supersample: 1,
      cellGrids: [4, 8],
      fine: { classes: FINE, trainPerClass: 4, valPerClass: 1, testPerClass: 2 },
      prior: { classes: PRIOR, imagesPerClass: 5, valFraction: 0.2 },
      coarse: { classes: PRIOR, imagesPerClass: 4 },
    },
  },
  train: { stage0: stage, stage1: stage, stage2: stage },
  eval: { batchSize: 16 },
};

test.before(async () => {
  await initBackend(undefined, { quiet: true });
});

const runs = fs.mkdtempSync(path.join(os.tmpdir(), 'kit-v2-recipes-'));
process.env.KIT_RUNS_DIR = runs;

function trainable(task: { isTrainable?: (key: string) => boolean }, key: string): boolean {
  assert.ok(task.isTrainable, 'the task names its trainable set');
  return task.isTrainable(key);
}

function corpusOf(runId: string | null): { name: string; images: number; classes: number } {
  assert.ok(runId, 'stage has a run');
  const r = readRunRecord(runId);
  assert.ok(r && r.status === 'finished', `${runId} finished`);
  return r.metrics.trainCorpus as { name: string; images: number; classes: number };
}

test('v1 presets keep their config shape; train.stage0.corpus is v2-only', () => {
  const v1 = resolveExperiment('embedded-fast');
  assert.equal(isEmbeddedV2(v1.data.embedded), false);
  assert.equal('version' in v1.data.embedded, false);
  assert.equal('corpus' in v1.train.stage0, false);
  assert.throws(() => resolveExperiment('embedded-fast', null, { train: { stage0: { corpus: 'prior' } } }), /applies to embedded v2 data only/);
  assert.throws(() => resolveExperiment('embedded-fast', null, { data: { embedded: { version: 3 } } }), /"version" must be 1/);
  // back to v1 from a v2 preset: the v1 defaults, no v2 keys left behind
  const back = resolveExperiment('embedded-v2-closed', null, { data: { embedded: { version: 1 } } });
  assert.equal('version' in back.data.embedded, false);
  assert.equal('corpus' in back.train.stage0, false);
  const v2 = resolveExperiment('embedded-v2-closed');
  assert.ok(isEmbeddedV2(v2.data.embedded));
  assert.equal(v2.train.stage0.corpus, 'prior');
});

test('every variant of the v2 suites resolves, over five seeds', () => {
  for (const name of ['v2-closed', 'v2-open']) {
    const s = loadSuite(name);
    assert.ok(s.seeds.length >= 5);
    for (const a of s.ablations) resolveVariant(s.preset, a === FULL_MODEL ? null : a);
  }
});

test('closed-domain recipe: stage 0 on the prior corpus, no stage 1, stage 2 on the fine corpus', { timeout: 300000 }, async () => {
  const v = resolveVariant('embedded-v2-closed', null, TINY);
  const data = await prepareExperimentData(v.exp);
  const out = await runRecipe(v, { data, seed: 0, progress: false, log: () => undefined });
  assert.deepEqual(out.stages.map((s) => s.status), ['trained', 'disabled', 'trained']);
  const s0 = corpusOf(out.stages[0].runId);
  assert.deepEqual(s0, { name: 'test-v2-tiny-prior', images: 16, classes: 4 }); // 4 classes × 5, 1 per class held out
  const s2 = corpusOf(out.stages[2].runId);
  assert.equal(s2.images, 12);
  assert.equal(s2.classes, 3);
  assert.notEqual(s2.name, s0.name);
  assert.ok(out.test && out.test.numImages === 6);
  // the stage-2 model's prior head has the prior corpus's classes (it loads stage 0's weights)
  const m2 = stageModelConfig(v.exp, data, 'stage2');
  assert.ok(m2.kind !== 'priorclip' && m2.prior.numClasses === 4);
  // the stage-0 batches are prior-corpus images with prior-corpus labels
  const model = createModel(stageModelConfig(v.exp, data, 'stage0'), new SeedStream(0).child('model'));
  try {
    const task = stageTask({ exp: v.exp, stage: 'stage0', model, data, seeds: new SeedStream(0).child('stage0') });
    const b = await task.makeBatch([0, 5, 10, 15], new SeedStream(1));
    const files = new Set(data.corpora.prior?.dataset.images.map((r) => r.fileName));
    const ds = stageCorpus(v.exp, data, 'stage0').dataset;
    b.imageIds.forEach((id, k) => {
      assert.ok(files.has(ds.images[id].fileName));
      assert.equal(ds.classes[b.labels[k]], ds.images[id].sceneClass, 'label = the prior-corpus class index');
    });
    assert.deepEqual(ds.classes, [...PRIOR].sort());
    assert.ok(!data.dataset.classes.includes('bareland') && ds.images.some((r) => r.sceneClass === 'bareland'), 'stage 0 sees a class the fine set lacks');
    b.dispose();
  } finally {
    model.dispose();
  }

  // the ablation: the prior trained on the fine set only (its own run, the fine classes)
  const fineOnly = resolveVariant('embedded-v2-closed', 'prior-fine-only', TINY);
  const o2 = await runRecipe(fineOnly, { data, seed: 0, progress: false, log: () => undefined });
  assert.match(o2.stages[0].runId ?? '', /prior-fine-only\.stage0/);
  assert.deepEqual(corpusOf(o2.stages[0].runId), { name: s2.name, images: 12, classes: 3 });
});

test('open-domain recipe: stage 1 on the coarse corpus (rendered on demand), stage 2 on the fine corpus, text tower frozen', { timeout: 300000 }, async () => {
  const v = resolveVariant('embedded-v2-open', null, TINY);
  const data = await prepareExperimentData(v.exp);
  const coarse = data.corpora.coarse;
  assert.ok(coarse && coarse.cache instanceof RenderedPixels);
  assert.ok(coarse.dataset.images.every((r) => r.bytes === undefined), 'the coarse corpus holds no pixels');
  const out = await runRecipe(v, { data, seed: 0, progress: false, log: () => undefined });
  assert.deepEqual(out.stages.map((s) => s.status), ['disabled', 'trained', 'trained']);
  assert.deepEqual(corpusOf(out.stages[1].runId), { name: 'test-v2-tiny-coarse', images: 16, classes: 4 });
  const s2 = corpusOf(out.stages[2].runId);
  assert.deepEqual([s2.images, s2.classes], [12, 3]);
  assert.ok(coarse.cache.rendered >= 16, `rendered ${coarse.cache.rendered} coarse images`);
  // stage-1 batches carry coarse captions; the word vocabulary has <eot> as its largest id (CLIP pools at argmax)
  const m1 = stageModelConfig(v.exp, data, 'stage1');
  assert.ok(m1.kind === 'priorclip' && m1.text.vocabSize === (data.wordTokenizer?.vocabSize ?? 0) + 1);
  const model = createModel(m1, new SeedStream(0).child('model'));
  try {
    const task = stageTask({ exp: v.exp, stage: 'stage1', model, data, seeds: new SeedStream(0).child('stage1') });
    const b = await task.makeBatch([0, 1, 2, 3], new SeedStream(1));
    const caps = new Set(coarse.dataset.images.map((r) => r.captions[0]));
    for (const c of b.captions) assert.ok(caps.has(c), `"${c}" is a coarse caption`);
    const ids = await b.tokens.array();
    for (const row of ids) assert.equal(row.indexOf(Math.max(...row)), row.indexOf(m1.text.vocabSize - 1));
    b.dispose();
    // stage 2 freezes the text tower (its projection too) and trains the image side
    const t2 = stageTask({ exp: v.exp, stage: 'stage2', model, data, seeds: new SeedStream(0).child('stage2') });
    assert.equal(trainable(t2, 'token_embedding.weight'), false);
    assert.equal(trainable(t2, 'text_projection'), false);
    assert.equal(trainable(t2, 'res_visual.conv1.weight'), false);
    assert.ok(model.params.list().some((e) => e.key.startsWith('visual.') && trainable(t2, e.key)));
  } finally {
    model.dispose();
  }
  // the variant with the text tower trained
  const tt = resolveVariant('embedded-v2-open', 'text-encoder-trained', TINY);
  const model2 = createModel(stageModelConfig(tt.exp, data, 'stage2'), new SeedStream(0).child('model'));
  try {
    const t2 = stageTask({ exp: tt.exp, stage: 'stage2', model: model2, data, seeds: new SeedStream(0).child('stage2') });
    assert.equal(trainable(t2, 'token_embedding.weight'), true);
  } finally {
    model2.dispose();
  }
});
