import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { imageLocalisation, summariseLocalisation, objectCells, beliefWeights, measureBeliefLocalisation, BeliefSource } from '../src/evaluation/belief_localisation';
import { classStructure, silhouette } from '../src/evaluation/class_structure';
import { vocabularyShift, captionWords } from '../src/evaluation/vocabulary_shift';
import { AnnotatedObject } from '../src/data/embedded/annotations';

const near = (a: number, b: number, tol = 1e-6, what = ''): void => assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs ${b}`);

// A 2×2 grid: the key object covers cell (0,0) exactly, a distractor covers cell (1,1).
const objects: AnnotatedObject[] = [
  { kind: 'plane', colour: 'white', role: 'key', box: [0, 0, 0.5, 0.5] },
  { kind: 'car', colour: 'red', role: 'distractor', box: [0.5, 0.5, 1, 1] },
];

test('objectCells: coverage of key and distractor boxes per cell', () => {
  const c = objectCells(objects, [2, 2]);
  assert.deepEqual(Array.from(c.key), [1, 0, 0, 0]);
  assert.deepEqual(Array.from(c.distractor), [0, 0, 0, 1]);
});

test('imageLocalisation: uniform belief gives ratio 1, a belief on the key cell gives 1/area', () => {
  const cells = objectCells(objects, [2, 2]);
  // tokens: global + 4 cells
  const uni = imageLocalisation([0.2, 0.2, 0.2, 0.2, 0.2], cells, [1, 2]);
  near(uni.keyMass, 0.25, 1e-9, 'key mass');
  near(uni.keyArea, 0.25, 1e-9, 'key area');
  near(uni.globalShare, 0.2, 1e-9, 'global');
  near(uni.effectiveTokens, 5, 1e-9, 'effective tokens');
  near(uni.topKPrecision, 0.5, 1e-9, 'kept tokens 1, 2: one on the key cell');
  const onKey = imageLocalisation([0, 1, 0, 0, 0], cells, [1]);
  near(onKey.keyMass, 1, 1e-9, 'all on key');
  near(onKey.distractorMass, 0, 1e-9, 'none on distractor');
  near(onKey.topKPrecision, 1, 1e-9, 'precision');
  near(onKey.maxShare, 1, 1e-9, 'saturated');
  near(onKey.effectiveTokens, 1, 1e-9, 'one token');
  const onBg = imageLocalisation([0.5, 0, 0.5, 0, 0], cells, [0, 2]);
  near(onBg.keyMass, 0, 1e-9, 'background');
  near(onBg.topKPrecision, 0, 1e-9, 'global token not counted as a cell');
  const s = summariseLocalisation([uni, onKey], 1);
  near(s.keyRatio, (0.25 + 1) / (0.25 + 0.25), 1e-9, 'ratio of sums');
  near(s.distractorRatio, (0.25 + 0) / 0.5, 1e-9, 'distractor ratio');
  assert.throws(() => imageLocalisation([1, 2, 3], cells, []), /do not fit 4 grid cells/);
  assert.throws(() => imageLocalisation([0, 1, 0, 0, -1], cells, []), /expected a finite value/);
});

test('beliefWeights: a prior aligned with one token puts the hard belief and both soft shares there', () => {
  // V: [1, 5, 2]; token 1 points along the prior with a large norm, the others are orthogonal.
  const V = tf.tensor3d([[[0.1, 0], [5, 0], [0, 1], [0, 1], [0, 1]]]);
  const c = tf.tensor3d([[[2, 0]]]);
  const before = tf.memory().numTensors;
  const w = beliefWeights(V, c, 2);
  assert.equal(tf.memory().numTensors, before, 'no tensor leak');
  assert.equal(w.hard.topK[0][0], 1);
  near(w.hard.weights[0].reduce((a, b) => a + b, 0), 1, 1e-5, 'softmax sums to 1');
  assert.ok(w.hard.weights[0][1] > 0.99, `hard belief on token 1: ${w.hard.weights[0][1]}`);
  for (const r of ['soft-head', 'soft-c20bbe30'] as const) {
    near(w[r].weights[0].reduce((a, b) => a + b, 0), 1, 1e-5, `${r} shares sum to 1`);
    assert.equal(w[r].topK[0][0], 1, `${r}: token 1 has the largest share`);
  }
  V.dispose();
  c.dispose();
});

test('measureBeliefLocalisation: a model whose prior matches the key cell localises on it; no tensor leak', async () => {
  // 2×2 grid model: token j ≥ 1 is cell j−1; the key cell's token is aligned with the prior.
  const model: BeliefSource = {
    grid: [2, 2],
    imageTokens: (images) => tf.tidy(() => tf.tile(tf.tensor3d([[[0, 1], [8, 0], [0, 1], [0, 1], [0, 1]]]), [images.shape[0], 1, 1]) as tf.Tensor3D),
    priorToken: (images) => tf.tidy(() => tf.tile(tf.tensor3d([[[1, 0]]]), [images.shape[0], 1, 1]) as tf.Tensor3D),
  };
  const items = [0, 1, 2].map(() => ({ pixels: async () => new Float32Array(4 * 4 * 3), objects }));
  const before = tf.memory().numTensors;
  const r = await measureBeliefLocalisation(model, items, 4, { k: 1, batchSize: 2, modelRule: 'hard' });
  assert.equal(tf.memory().numTensors, before);
  assert.equal(r.rules.hard.images, 3);
  assert.ok(r.rules.hard.keyRatio > 3.9, `key ratio ${r.rules.hard.keyRatio} (max 4 = 1/area)`);
  near(r.rules.hard.topKPrecision, 1, 1e-9, 'top-1 on key');
  near(r.rules.hard.topKChance, 0.25, 1e-9, 'chance');
  assert.ok(r.rules.hard.distractorRatio < 0.01);
});

test('silhouette: separated classes → near 1, mixed → near or below 0', () => {
  // four unit vectors: class 0 around +x, class 1 around +y
  const a = Math.cos(0.05);
  const b = Math.sin(0.05);
  const x = Float32Array.from([a, b, a, -b, b, a, -b, a]);
  assert.ok(silhouette(x, 2, [0, 0, 1, 1]) > 0.9);
  assert.ok(silhouette(x, 2, [0, 1, 0, 1]) < 0);
  assert.ok(Number.isNaN(silhouette(x, 2, [0, 0, 0, 0])), 'one class: undefined');
});

test('classStructure: perfect class-aligned embeddings give 100 % class accuracy and a diagonal confusion', () => {
  // 4 images (classes 0,0,1,1) in 2-D, each with 2 captions at the same point
  const img = Float32Array.from([1, 0, 1, 0, 0, 1, 0, 1]);
  const txt = Float32Array.from([1, 0, 1, 0, 1, 0, 1, 0, 0, 1, 0, 1, 0, 1, 0, 1]);
  const cs = classStructure({ imageEmb: img, textEmb: txt, dim: 2, numImages: 4, numTexts: 8, txt2img: [0, 0, 1, 1, 2, 2, 3, 3], classes: [0, 0, 1, 1], classNames: ['a', 'b'] });
  assert.equal(cs.classAccuracy.t2i, 100);
  assert.equal(cs.classAccuracy.i2t, 100);
  assert.equal(cs.centroidAccuracy.image, 100);
  assert.deepEqual(cs.confusion, [[4, 0], [0, 4]]);
  // swapped text classes: every caption retrieves the other class
  const swapped = Float32Array.from([0, 1, 0, 1, 0, 1, 0, 1, 1, 0, 1, 0, 1, 0, 1, 0]);
  const cw = classStructure({ imageEmb: img, textEmb: swapped, dim: 2, numImages: 4, numTexts: 8, txt2img: [0, 0, 1, 1, 2, 2, 3, 3], classes: [0, 0, 1, 1], classNames: ['a', 'b'] });
  assert.equal(cw.classAccuracy.t2i, 0);
  assert.deepEqual(cw.confusion, [[0, 4], [4, 0]]);
  assert.ok(cw.silhouette.text > 0.9, 'text space still clusters (by the wrong class)');
});

test('vocabularyShift: queries with rare words split off with their own recall', () => {
  const train = ['a red plane', 'a red plane', 'a red plane', 'two red planes', 'a zeppelin'];
  const queries = ['a red plane', 'a zeppelin', 'an unseen ufo', 'red plane'];
  const ranks = [0, 7, 3, 0];
  const v = vocabularyShift(queries, ranks, train, 2);
  assert.equal(v.rare.queries, 2); // zeppelin (1 < 2), unseen words
  assert.equal(v.inVocabulary.queries, 2);
  assert.equal(v.inVocabulary.r1, 100);
  assert.equal(v.rare.r1, 0);
  assert.equal(v.rare.r5, 50);
  assert.equal(v.unseenQueries, 1);
  assert.equal(v.unseenWords, 3); // an, unseen, ufo
  assert.equal(v.gap.r1, 100);
  assert.deepEqual(captionWords('A Red-roofed, house.'), ['a', 'red', 'roofed', 'house']);
  assert.throws(() => vocabularyShift(queries, [0], train), /4 queries but 1 ranks/);
});
