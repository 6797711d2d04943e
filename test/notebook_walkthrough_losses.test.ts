/**
 * Walkthrough helpers of notebook 04 (src/notebook/walkthrough/losses_tour.ts) and the walkthrough
 * figure builders (figures.ts): cluster statistics on hand-made embeddings, the affiliation toy's
 * effect and determinism, the batch loss table against the loss functions, and figure structure.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backends/backend';
import { SeedStream } from '../src/utils/random';
import { createModel, resolveModelConfig } from '../src/models/factory';
import { affiliationToy, centroidLogits, clusterStats, lossesOnBatch, toyStatsRows } from '../src/notebook/walkthrough/losses_tour';
import { logitMatrixFigure, roundAttentionFigure, sideBySide, toyLossFigure, uniqueLabels } from '../src/notebook/walkthrough/figures';
import { PlotlyFigure } from '../src/plotting/theme';

before(async () => {
  await initBackend('wasm', { quiet: true });
});

const close = (a: number, b: number, tol = 1e-5) => assert.ok(Math.abs(a - b) <= tol, `${a} vs ${b}`);

test('clusterStats: perfect class clusters and pairs give intra 1, centroid accuracy 1, R@1 1', () => {
  // 2 classes × 2 pairs in 2-D: class 0 on the x axis, class 1 on the y axis.
  const img = Float32Array.from([1, 0, 1, 0, 0, 1, 0, 1]);
  const txt = Float32Array.from(img);
  const s = clusterStats(img, txt, [0, 0, 1, 1], 2);
  close(s.intraClass, 1);
  close(s.interClass, 0);
  assert.equal(s.centroidAccuracy, 1);
  // identical images inside a class: the first one wins ties, so R@1 = 1/2
  assert.equal(s.pairR1, 0.5);
  const swapped = clusterStats(img, Float32Array.from([0, 1, 0, 1, 1, 0, 1, 0]), [0, 0, 1, 1], 2);
  assert.equal(swapped.centroidAccuracy, 0);
});

test('affiliationToy: affiliation widens the class gap that contrastive training alone narrows; deterministic', () => {
  const cfg = { classes: 4, perClass: 6, dim: 8, steps: 60 };
  const n0 = tf.memory().numTensors;
  const a = affiliationToy(new SeedStream(4), cfg);
  assert.equal(tf.memory().numTensors, n0, 'no tensor leak');
  const gap = (s: { stats: { intraClass: number; interClass: number } }) => s.stats.intraClass - s.stats.interClass;
  assert.ok(gap(a.withAffiliation) > gap(a.contrastive) + 0.02, `gap ${gap(a.withAffiliation)} vs ${gap(a.contrastive)}`);
  assert.ok(a.withAffiliation.stats.centroidAccuracy >= a.contrastive.stats.centroidAccuracy);
  const h = a.contrastive.history;
  assert.equal(h.length, 60);
  assert.ok(h[h.length - 1].contrastive < h[0].contrastive, 'contrastive loss decreases');
  const ha = a.withAffiliation.history;
  assert.ok(ha[ha.length - 1].affiliation < ha[0].affiliation, 'affiliation loss decreases when optimised');
  close(ha[0].total, ha[0].contrastive + ha[0].affiliation, 1e-4);
  const b = affiliationToy(new SeedStream(4), cfg);
  assert.deepEqual(Array.from(b.withAffiliation.images), Array.from(a.withAffiliation.images));
  assert.equal(toyStatsRows(a).length, 3);
  const fig = toyLossFigure(a);
  assert.equal(fig.data.length, 5);
});

test('lossesOnBatch and centroidLogits on a tiny model: finite, the two contrastive flavours agree, same-class columns equal', () => {
  const model = createModel(
    resolveModelConfig({ kind: 'pir-small', embedDim: 16, imageSize: 16, heads: 2, image: { channels: [4, 8] }, prior: { channels: [4, 8], numClasses: 2 }, text: { vocabSize: 20, contextLength: 6, width: 16, layers: 1, heads: 2 } }),
    new SeedStream(2),
  );
  const images = tf.randomNormal([4, 16, 16, 3], 0, 1, 'float32', 3) as tf.Tensor4D;
  const tokens = tf.tensor2d([[2, 5, 6, 3], [2, 7, 3, 0], [2, 8, 9, 3], [2, 10, 3, 0]], [4, 4], 'int32');
  const labels = [0, 0, 1, 1];
  const n0 = tf.memory().numTensors;
  const rows = lossesOnBatch(model, images, tokens, [0, 1, 2, 3], labels);
  const logits = centroidLogits(model, images, tokens, labels);
  assert.equal(tf.memory().numTensors, n0);
  for (const r of rows) assert.ok(Number.isFinite(r.value), r.loss);
  close(rows[0].value, rows[1].value, 1e-4); // distinct image ids, logit scale = 1/temp
  close(rows[0].chance as number, Math.log(4));
  for (const row of logits) {
    close(row[0], row[1]);
    close(row[2], row[3]);
  }
  tf.dispose([images, tokens]);
  model.dispose();
});

test('figure builders: unique category labels, shared colour range, shape checks', () => {
  assert.deepEqual(uniqueLabels(['a', 'b', 'a', 'a']).map((s) => s.length), [1, 1, 2, 3]);
  const heat = (z: number[][]): PlotlyFigure => ({ data: [{ type: 'heatmap', z }], layout: { xaxis: {}, yaxis: { scaleanchor: 'x' } } });
  const f = sideBySide([heat([[0, 1]]), heat([[2, 5]])], ['one', 'two'], 'both');
  assert.equal(f.data.length, 2);
  assert.equal(f.data[1].xaxis, 'x2');
  assert.equal(f.data[0].zmin, 0);
  assert.equal(f.data[1].zmax, 5);
  assert.equal(f.data[0].showscale, false);
  assert.equal(f.data[1].showscale, true);
  assert.equal((f.layout.yaxis2 as { scaleanchor: string }).scaleanchor, 'x2');
  const rounds = [{ round: 1, meanCosToPrevious: 0.9, tokenSimilarity: 0.5, attention: [[0.5, 0.5]] }];
  assert.equal(roundAttentionFigure(rounds, 0, ['x', 'x'], 't').data[0].x?.length, 2);
  assert.throws(() => roundAttentionFigure(rounds, 0, ['x'], 't'), /labels give 1/);
  const m = logitMatrixFigure([[1, 2], [3, 4]], ['r', 'r'], ['c', 'c'], 'm');
  assert.equal(new Set(m.data[0].x as string[]).size, 2);
});
