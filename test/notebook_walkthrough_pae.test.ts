/**
 * Walkthrough helpers of notebooks 02/03 (src/notebook/walkthrough/spatial.ts, temporal.ts,
 * session.ts) on a tiny PIR model: the packaged intermediates agree with the model's own outputs,
 * attention rows are distributions, recomputed attention matches a naive loop, nothing leaks, and a
 * session's finished run is loaded back by `loadWalkthrough`.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backends/backend';
import { SeedStream } from '../src/utils/random';
import { createModel, resolveModelConfig } from '../src/models/factory';
import { PirModel } from '../src/models/pir';
import { saveModelFile } from '../src/models/checkpoint';
import { DEFAULT_EMBEDDED_DATA } from '../src/data/embedded';
import { WORD_EOT, WORD_PAD, WORD_SOT, WordTokenizer } from '../src/data/word_tokenizer';
import {
  beliefModePanels,
  beliefModes,
  beliefOnObjects,
  meanTokenSimilarity,
  softBeliefRows,
  traceSpatialPae,
} from '../src/notebook/walkthrough/spatial';
import { temporalRoundRows, tokenStrings, traceTemporalPae } from '../src/notebook/walkthrough/temporal';
import { BEST_CHECKPOINT as RUN_CHECKPOINT } from '../src/runs/files';
import { batchImages, loadWalkthrough, walkthroughBatch } from '../src/notebook/walkthrough/session';
import { Session, openSession, sessionModel } from '../src/notebook/session';
import { resolveExperiment } from '../src/config/experiment';
import { generateEmbeddedDataset } from '../src/data/embedded/generate';
import { splitImages } from '../src/data/types';
import { PixelCache, wordTextEncoder } from '../src/data/batches';
import { dataNeeds } from '../src/models/family';
import { PreparedData } from '../src/training/data_prep';
import { finishRun, runDir, startRun } from '../src/runs/record';
import { TINY_PIR_SMALL } from './models_tiny';

/** The shared tiny model (16-px images → 4×4 grid, N = 17, D = 16, K = 5) with two rounds on each side. */
const TINY = { ...TINY_PIR_SMALL, spatialPae: { filterSize: 5, numRounds: 2 }, temporalPae: { numRounds: 2 } };

let model: PirModel;
let images: tf.Tensor4D;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nb-walkthrough-pae-'));

before(async () => {
  await initBackend('wasm', { quiet: true });
  model = createModel(resolveModelConfig(TINY), new SeedStream(3)) as PirModel;
  images = tf.randomNormal([3, 16, 16, 3], 0, 1, 'float32', 11) as tf.Tensor4D;
});
after(() => {
  model.dispose();
  images.dispose();
  fs.rmSync(tmp, { recursive: true, force: true });
});

const close = (a: number, b: number, tol = 1e-5) => assert.ok(Math.abs(a - b) <= tol, `${a} vs ${b}`);

test('traceSpatialPae: belief rows are distributions, kept = top-K of the belief, attention rows sum to 1', () => {
  const n0 = tf.memory().numTensors;
  const w = traceSpatialPae(model, images);
  assert.equal(tf.memory().numTensors, n0, 'no tensor leak');
  assert.equal(w.numTokens, 17);
  assert.equal(w.kept, 5);
  assert.equal(w.rounds.length, 2);
  w.belief.forEach((row, b) => {
    close(row.reduce((s, v) => s + v, 0), 1);
    const top = Array.from(row.keys()).sort((i, j) => row[j] - row[i]).slice(0, 5);
    assert.deepEqual(new Set(w.keptIdx[b]), new Set(top));
  });
  for (const r of w.rounds) {
    assert.equal(r.attention.length, 3);
    for (const row of r.attention) {
      assert.equal(row.length, 5);
      close(row.reduce((s, v) => s + v, 0), 1);
    }
    assert.ok(r.meanCosToPrevious > -1 && r.meanCosToPrevious <= 1 + 1e-6);
  }
  // The packaged belief is the model's own `beliefs()`.
  const own = model.beliefs(images);
  const ownRows = own.belief.arraySync() as number[][];
  tf.dispose(own as unknown as tf.TensorContainerObject);
  ownRows.forEach((row, b) => row.forEach((v, j) => close(v, w.belief[b][j])));
  // cos(embedding, normalize(g)) is a cosine.
  for (const c of w.embeddingVsGlobal) assert.ok(c >= -1 - 1e-6 && c <= 1 + 1e-6);
});

test("the CA block trace's attention probabilities equal a naive per-head loop over its weights", () => {
  const q = tf.randomNormal([1, 3, 16], 0, 1, 'float32', 5) as tf.Tensor3D; // CroSA: the residual is the keys, so Lq = Lk
  const k = tf.randomNormal([1, 3, 16], 0, 1, 'float32', 6) as tf.Tensor3D;
  const pae = model.spatialPae;
  assert.ok(pae);
  const tr = pae.ca[0].trace(q, k);
  const att = tr.attention.arraySync() as number[][][][]; // [B, H, Lq, Lk]
  tf.dispose(tr as unknown as tf.TensorContainerObject);
  const p = model.params;
  const W = (name: string) => p.get(`img_ca.0.mhatt_cross.${name}.weight`).arraySync() as number[][]; // [in, out]
  const bias = (name: string) => p.get(`img_ca.0.mhatt_cross.${name}.bias`).arraySync() as number[];
  const proj = (x: number[], name: string) => bias(name).map((b0, o) => b0 + x.reduce((s, xi, i) => s + xi * W(name)[i][o], 0));
  const qs = (q.arraySync() as number[][][])[0].map((r) => proj(r, 'linear_q'));
  const ks = (k.arraySync() as number[][][])[0].map((r) => proj(r, 'linear_k'));
  for (let h = 0; h < 2; h++) {
    for (let i = 0; i < 3; i++) {
      const scores = ks.map((kr) => kr.slice(h * 8, h * 8 + 8).reduce((s, v, d) => s + v * qs[i][h * 8 + d], 0) / Math.sqrt(8));
      const m = Math.max(...scores);
      const e = scores.map((s) => Math.exp(s - m));
      const z = e.reduce((a, b) => a + b, 0);
      e.forEach((v, j) => close(att[0][h][i][j], v / z, 1e-4));
    }
  }
  tf.dispose([q, k]);
});

test('meanTokenSimilarity is 1 for identical tokens and 0 for orthogonal ones', () => {
  const same = tf.tensor3d([[[1, 2], [1, 2], [2, 4]]]);
  const orth = tf.tensor3d([[[1, 0], [0, 1]]]);
  close(meanTokenSimilarity(same), 1);
  close(meanTokenSimilarity(orth), 0);
  tf.dispose([same, orth]);
});

test('beliefModes: hard keeps the top-K, soft weights follow w[j] = 1/sqrt(1 + sorted_ind[j])', () => {
  const n0 = tf.memory().numTensors;
  const m = beliefModes(model, images);
  assert.equal(tf.memory().numTensors, n0);
  for (let b = 0; b < 3; b++) {
    const row = m.hard.belief[b];
    const best = Math.max(...row);
    assert.equal(row[m.hard.keptIdx[b][0]], best);
    assert.equal(m.softHead[b].length, 17);
    for (const r of softBeliefRows(m, b, 4)) {
      close(r['w[j] (multiplies token j)'], 1 / Math.sqrt(1 + r['sorted_ind[j] (token of rank j)']));
    }
  }
  const panels = beliefModePanels(m, 0);
  assert.equal(panels.length, 3);
  for (const p of panels) close(Math.max(...Array.from(p.belief)), 1); // each scaled to its maximum
});

test('beliefOnObjects: all belief on a key object cell → key share 1; uniform → key share = area', () => {
  const grid: [number, number] = [2, 2];
  const objs = [{ kind: 'plane' as const, colour: 'red', role: 'key' as const, box: [0, 0, 0.5, 0.5] as [number, number, number, number] }];
  const focused = beliefOnObjects([0.2, 0.8, 0, 0, 0], grid, objs, 'a');
  close(focused.keyBelief, 1);
  close(focused.keyArea, 0.25);
  close(focused.globalToken, 0.2);
  const uniform = beliefOnObjects([0, 0.25, 0.25, 0.25, 0.25], grid, objs, 'b');
  close(uniform.keyBelief, 0.25);
  assert.equal(uniform.distractorBelief, 0);
  assert.throws(() => beliefOnObjects([1, 0, 0], grid, objs, 'c'), /do not fit/);
});

test('traceTemporalPae: per-token change, token-0 attention over all L keys, word strings', () => {
  const tok = WordTokenizer.build(['a red plane', 'two ships at the pier'], { contextLength: 8 });
  const { ids, length } = tok.encodeBatch(['a red plane', 'two ships at the pier'], { padding: 'longest' });
  const n0 = tf.memory().numTensors;
  const w = traceTemporalPae(model, tok, ids, length);
  assert.equal(tf.memory().numTensors, n0);
  assert.equal(w.rounds.length, 2);
  assert.deepEqual(w.words[0].slice(0, 5), ['<sot>', 'a', 'red', 'plane', '<eot>']);
  assert.equal(w.words[0][length - 1], '<pad>');
  assert.deepEqual(tokenStrings(tok, Int32Array.from([WORD_SOT, WORD_EOT, WORD_PAD]), 3), [['<sot>', '<eot>', '<pad>']]);
  for (const r of w.rounds) {
    assert.equal(r.cosPerToken.length, 2);
    assert.equal(r.cosPerToken[0].length, length);
    for (const row of r.attention) close(row.reduce((s, v) => s + v, 0), 1);
    assert.ok(Number.isFinite(r.meanCosWords) && Number.isFinite(r.meanCosPads));
  }
  assert.equal(temporalRoundRows(w).length, 3);
});

test('loadWalkthrough: the session\'s stage-2 model at initial weights until its run finishes, then that run', async () => {
  const embedded = { ...DEFAULT_EMBEDDED_DATA, classes: ['airport', 'port'], imagesPerClass: 8, imageSize: 16 };
  const modelOv = { imageSize: 16, image: { channels: [4, 8] }, prior: { channels: [4, 8] }, embedDim: 16, heads: 2, text: { width: 16, layers: 1, heads: 2 } };
  const exp = resolveExperiment('embedded-fast', null, { name: 'unit', data: { embedded }, model: modelOv });
  // the session's data as prepareExperimentData builds it, generated under tmp/ (not the project's data/)
  const gen = await generateEmbeddedDataset(embedded, { dataRoot: tmp });
  const caps = splitImages(gen.dataset, 'train').flatMap((r) => (r.coarseCaption ? [...r.captions, r.coarseCaption] : r.captions));
  const tok = WordTokenizer.build(caps, { contextLength: dataNeeds(exp.model).contextLength });
  const data: PreparedData = { identity: { name: 'unit', checksum: gen.checksum }, dataset: gen.dataset, encodeText: wordTextEncoder(tok, 'max'), wordTokenizer: tok, cache: new PixelCache(1 << 24), seconds: 0, corpora: { prior: null, coarse: null } };
  const prev = process.env.KIT_RUNS_DIR;
  process.env.KIT_RUNS_DIR = path.join(tmp, 'runs');
  const fresh = loadWalkthrough(await openSession('fast', 0, { exp, data }), { dataRoot: tmp });
  try {
    assert.equal(fresh.source.kind, 'initial');
    assert.match(fresh.note, /no finished run unit__stage2__s0 yet/);
    assert.equal(fresh.config.text.vocabSize, fresh.tokenizer.vocabSize);
    assert.equal(fresh.config.prior.numClasses, 2);
    assert.ok(fresh.objects.size > 0, 'object boxes read from the generated folder');
    const batch = walkthroughBatch(fresh, { size: 2, split: 'train', perClass: 1 });
    assert.deepEqual(batch.records.map((r) => r.sceneClass).sort(), ['airport', 'port']);
    const grouped = walkthroughBatch(fresh, { size: 4, split: 'train', perClass: 2 });
    assert.deepEqual(Array.from(grouped.labels), [0, 0, 1, 1]);
    // Save it as the finished stage-2 run: a new session loads it (strictly) instead of initial weights.
    const session = await openSession('fast', 0, { exp, data });
    const id = session.ids.stage2 as string;
    assert.equal(id, 'unit__stage2__s0');
    const rec = startRun({ runId: id, kind: 'stage2', seed: 0, config: exp });
    saveModelFile(path.join(runDir(id), RUN_CHECKPOINT), fresh.model);
    finishRun(rec);
    const loaded = loadWalkthrough(await openSession('fast', 0, { exp, data }), { dataRoot: tmp });
    assert.deepEqual(loaded.source, { kind: 'run', runId: id, file: path.join(runDir(id), RUN_CHECKPOINT) });
    assert.equal(loaded.session.finished.stage2, true);
    const a = batchImages(batch);
    const e1 = fresh.model.encodeImage(a);
    const e2 = loaded.model.encodeImage(a);
    const diff = tf.max(tf.abs(tf.sub(e1, e2))).dataSync()[0];
    assert.equal(diff, 0, `embeddings differ by ${diff}`);
    tf.dispose([a, e1, e2]);
    loaded.model.dispose();
    // at: 'start' = stage 2 as runRecipe starts it: the prior from stage 0's run, the rest from stage 1's
    const { createModel: make } = await import('../src/models/factory');
    const m0 = make(fresh.config, new SeedStream(7));
    const m1 = make(fresh.config, new SeedStream(8));
    for (const [stage, m] of [['stage0', m0], ['stage1', m1]] as const) {
      const sid = session.ids[stage] as string;
      const r = startRun({ runId: sid, kind: stage, seed: 0, config: exp });
      saveModelFile(path.join(runDir(sid), RUN_CHECKPOINT), m);
      finishRun(r);
    }
    const start = sessionModel(await openSession('fast', 0, { exp, data }), 'stage2', { at: 'start' });
    assert.deepEqual(start.source, { kind: 'start', runIds: [session.ids.stage0, session.ids.stage1] });
    const same = (x: typeof m0, key: string) => tf.tidy(() => tf.max(tf.abs(tf.sub(x.params.get(key), start.model.params.get(key)))).dataSync()[0]);
    const keys = start.model.params.list().map((e) => e.key);
    const priorKey = keys.find((k) => start.model.paramGroup?.(k) === 'prior') as string;
    const textKey = keys.find((k) => start.model.paramGroup?.(k) === 'text') as string;
    assert.ok(priorKey && textKey);
    assert.equal(same(m0, priorKey), 0, 'prior from stage 0');
    assert.ok(same(m1, priorKey) > 0);
    assert.equal(same(m1, textKey), 0, 'text tower from stage 1');
    m0.dispose();
    m1.dispose();
    start.model.dispose();
    // a priorclip experiment is refused by name
    const clip = { ...session, exp: { ...exp, model: { ...exp.model, kind: 'priorclip' } } } as unknown as Session;
    assert.throws(() => loadWalkthrough(clip), /needs a PIR-structure model/);
  } finally {
    if (prev === undefined) delete process.env.KIT_RUNS_DIR;
    else process.env.KIT_RUNS_DIR = prev;
    fresh.model.dispose();
  }
});
