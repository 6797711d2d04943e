/**
 * The two embedded-v2 recipes end to end on a tiny v2 benchmark (a few images per class, 1 epoch per
 * stage): each stage reads its own corpus — stage 0 the prior corpus (or the fine set with
 * `prior-fine-only`), stage 1 the coarse corpus (rendered on demand), stage 2 the fine corpus — and
 * v1 configs are untouched (no `version`, no `train.stage0.corpus`). The open recipe's stage 0
 * pretrains PriorCLIP's ModifiedResNet prior through a stage-0-only head; stages 1 and 2 carry that
 * prior frozen, and no later checkpoint holds the head.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { loadSuite, resolveExperiment, FULL_MODEL, isEmbeddedV2 } from '../src/config/experiment';
import { resolveVariant, stageKeys } from '../src/training/run_cache';
import { runRecipe } from '../src/training/recipe';
import { prepareExperimentData, RenderedPixels } from '../src/training/data_prep';
import { createStageModel, stageCorpus, stageModelConfig, stageTask } from '../src/training/stage_task';
import { readRunRecord } from '../src/runs/record';
import { runFiles } from '../src/runs/files';
import { readSafetensorsFile, toFloat32 } from '../src/io/safetensors';
import { toTorchLayout } from '../src/models/params';
import * as tf from '@tensorflow/tfjs';
import { loadInitModel } from '../src/cli/export';
import { exportStateDict, readStateDict } from '../src/models/checkpoint';
import { createModel } from '../src/models/factory';
import { SeedStream } from '../src/utils/random';
import { TINY_V2, TINY_V2_PRIOR } from './training_tiny';
import { initBackend } from '../src/backends/backend';

const PRIOR = TINY_V2_PRIOR;
/** A tiny v2 benchmark and one short epoch per stage. */
const TINY = TINY_V2;

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

/** The `res_visual.*` (prior) and `prior_head.*` tensors of a checkpoint, flattened. */
function priorTensors(file: string): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const [k, t] of readSafetensorsFile(file)) if (k.startsWith('res_visual.') || k.startsWith('prior_head.')) out.set(k, toFloat32(t));
  return out;
}

test('open-domain recipe: stage 0 pretrains the prior on the prior corpus, stage 1 on the coarse corpus (rendered on demand), stage 2 on the fine corpus, prior and text tower frozen', { timeout: 300000 }, async () => {
  const v = resolveVariant('embedded-v2-open', null, TINY);
  const data = await prepareExperimentData(v.exp);
  const coarse = data.corpora.coarse;
  assert.ok(coarse && coarse.cache instanceof RenderedPixels);
  assert.ok(coarse.dataset.images.every((r) => r.bytes === undefined), 'the coarse corpus holds no pixels');
  const out = await runRecipe(v, { data, seed: 0, progress: false, log: () => undefined });
  assert.deepEqual(out.stages.map((s) => s.status), ['trained', 'trained', 'trained']);
  // stage 0: scene classification on the prior corpus, its val accuracy recorded (the selection metric)
  assert.deepEqual(corpusOf(out.stages[0].runId), { name: 'test-v2-tiny-prior', images: 16, classes: 4 });
  const acc = out.stages[0].bestVal;
  assert.ok(acc !== null && acc >= 0 && acc <= 100, `stage-0 best val accuracy ${acc}`);
  const r0 = readRunRecord(out.stages[0].runId as string);
  assert.equal((r0?.metrics.bestVal as { metric: string } | undefined)?.metric, 'accuracy');
  // stage 1 names stage 0 as its parent (it starts from the prior)
  assert.deepEqual(readRunRecord(out.stages[1].runId as string)?.parents, [out.stages[0].runId]);
  const f0 = priorTensors(runFiles(out.stages[0].runId as string).best);
  const f1 = priorTensors(runFiles(out.stages[1].runId as string).best);
  const f2 = priorTensors(runFiles(out.stages[2].runId as string).best);
  // the head: [classes of the prior corpus, embedDim] in stage 0's checkpoint only
  assert.equal(f0.get('prior_head.weight')?.length, 4 * 32);
  assert.ok(![...f1.keys(), ...f2.keys()].some((k) => k.startsWith('prior_head.')), 'no prior_head in the stage-1/2 checkpoints');
  // the prior of stages 1 and 2 is stage 0's best, bit for bit (frozen), and stage 0 moved it off its seeded initialisation
  const resKeys = [...f0.keys()].filter((k) => k.startsWith('res_visual.'));
  assert.ok(resKeys.length > 10);
  for (const k of resKeys) {
    assert.deepEqual(f1.get(k), f0.get(k), `stage 1 ${k} = stage 0's`);
    assert.deepEqual(f2.get(k), f0.get(k), `stage 2 ${k} = stage 0's`);
  }
  const init = createStageModel(v.exp, data, 'stage2', new SeedStream(0).child('model'));
  try {
    const moved = init.params.list().filter((e) => e.key.startsWith('res_visual.') && e.trainable).filter((e) => {
      const seeded = tf.tidy(() => toTorchLayout(e.variable, e.layout).dataSync() as Float32Array);
      return f2.get(e.key)?.some((x, i) => x !== seeded[i]) ?? false;
    });
    assert.ok(moved.some((e) => e.key === 'res_visual.conv1.weight') && moved.some((e) => e.key.startsWith('res_visual.attnpool.')), `stage 0 trained the stem and the attention pool (${moved.length} tensors moved)`);
    assert.ok(!init.params.list().some((e) => e.key.startsWith('prior_head.')), 'the stage-2 model has no head');
  } finally {
    init.dispose();
  }
  // stage 0 trains the prior and its head only
  const m0 = createStageModel(v.exp, data, 'stage0', new SeedStream(0).child('model'));
  try {
    const t0 = stageTask({ exp: v.exp, stage: 'stage0', model: m0, data, seeds: new SeedStream(0).child('stage0') });
    assert.ok(m0.encodePriorLogits, 'the stage-0 model has a prior head');
    const trained = m0.params.list().filter((e) => trainable(t0, e.key)).map((e) => e.key);
    assert.ok(trained.every((k) => k.startsWith('res_visual.') || k.startsWith('prior_head.')) && trained.includes('prior_head.weight'));
  } finally {
    m0.dispose();
  }
  // the stage-0 run as the open_clip fork's initial weights (what `npm run export -- open-clip --experiment <stage-0 run>`
  // writes; the CLI itself needs a CLIP-BPE tower): the pretrained prior, no head
  const initModel = loadInitModel(runFiles(out.stages[0].runId as string).best, stageModelConfig(v.exp, data, 'stage0'));
  const ptFile = path.join(runs, 'init-stage0.pt');
  try {
    exportStateDict(ptFile, initModel);
  } finally {
    initModel.dispose();
  }
  const pt = readStateDict(ptFile).tensors;
  assert.ok(![...pt.keys()].some((k) => k.startsWith('prior_head.')) && pt.has('visual.proj'), 'the exported state_dict is the open_clip model');
  for (const k of resKeys) {
    const t = pt.get(k);
    assert.ok(t, `exported ${k}`);
    assert.deepEqual(toFloat32(t), f0.get(k), `exported ${k} = stage 0's`);
  }
  // open-prior-random: no stage 0, and its stage 1 is not the full model's (which starts from the stage-0 prior)
  const rnd = resolveVariant('embedded-v2-open', 'open-prior-random', TINY);
  const kFull = stageKeys(v.exp, 0);
  const kRnd = stageKeys(rnd.exp, 0);
  assert.equal(kRnd.stage0, null);
  assert.notEqual(kRnd.stage1, kFull.stage1);
  // without the belief the ViT ignores the prior: nothing to pretrain
  assert.equal(stageKeys(resolveVariant('embedded-v2-open', 'open-no-belief', TINY).exp, 0).stage0, null);
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
    assert.equal(trainable(task, 'res_visual.conv1.weight'), false, 'stage 1 keeps the prior frozen');
    assert.equal(trainable(task, 'vision_proj_res.weight'), true);
    const t2 = stageTask({ exp: v.exp, stage: 'stage2', model, data, seeds: new SeedStream(0).child('stage2') });
    assert.equal(trainable(t2, 'vision_proj_res.weight'), true);
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
    // open-prior-trained: stage 2 trains the (pretrained) prior
    const pt = resolveVariant('embedded-v2-open', 'open-prior-trained', TINY);
    const t2p = stageTask({ exp: pt.exp, stage: 'stage2', model: model2, data, seeds: new SeedStream(0).child('stage2') });
    assert.equal(trainable(t2p, 'res_visual.conv1.weight'), true);
  } finally {
    model2.dispose();
  }
});
