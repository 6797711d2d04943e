import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backends/backend';
import { projectRoot } from '../src/utils/fs';
import { runLossesCase } from '../src/parity/losses_case';
import { pirContrastiveLoss, clipLoss } from '../src/losses/contrastive_loss';
import { pirAffiliationLoss, clipAffiliationLoss, classCentroids } from '../src/losses/affiliation_loss';
import { tripletLoss } from '../src/losses/triplet_loss';
import { totalLoss, DEFAULT_LOSS_CONFIG, CLIP_LOSS_CONFIG } from '../src/losses/total_loss';
import { readSafetensorsFile, toFloat32, toInt32Numbers } from '../src/io/safetensors';
import { SeedStream } from '../src/utils/random';

const golden = path.resolve(projectRoot(), '..', 'shared', 'golden');

test('losses match the golden reference (every output, rtol 1e-4 atol 1e-5) on wasm', async () => {
  await initBackend('wasm', { quiet: true });
  const before = tf.memory().numTensors;
  const rows = runLossesCase(golden);
  assert.equal(tf.memory().numTensors, before, 'runLossesCase leaks tensors');
  assert.ok(rows.length >= 10, `expected every golden output, got ${rows.length}`);
  for (const r of rows) assert.ok(r.pass, `${r.name}: maxAbs ${r.maxAbs} maxRel ${r.maxRel}`);
});

test('class centroids reproduce aux/img_centers and aux/txt_centers (not renormalised)', async () => {
  await initBackend('wasm', { quiet: true });
  const t = readSafetensorsFile(path.join(golden, 'losses.safetensors'));
  const v = t.get('input/image_features')!;
  const labels = toInt32Numbers(t.get('input/labels')!);
  const got = tf.tidy(() => classCentroids(tf.tensor2d(toFloat32(v), v.shape as [number, number]), labels).dataSync());
  const exp = toFloat32(t.get('aux/img_centers')!);
  for (let i = 0; i < exp.length; i++) assert.ok(Math.abs(got[i] - exp[i]) <= 1e-6, `centroid element ${i}`);
});

function randomFeatures(seeds: SeedStream, n: number, e: number): tf.Tensor2D {
  const a = new Float32Array(n * e).map(() => seeds.normal());
  return tf.tidy(() => {
    const x = tf.tensor2d(a, [n, e]);
    return tf.div(x, tf.norm(x, 'euclidean', 1, true)) as tf.Tensor2D;
  });
}

test('gradients flow to features and temperatures on wasm (any width), no leaks', async () => {
  await initBackend('wasm', { quiet: true });
  const seeds = new SeedStream(7);
  const n = 6;
  const e = 24; // not 512: the width is read from the data
  const img = tf.variable(randomFeatures(seeds, n, e));
  const txt = tf.variable(randomFeatures(seeds, n, e));
  const temp = tf.variable(tf.scalar(0.07));
  const temp2 = tf.variable(tf.scalar(0.07));
  const scale = tf.variable(tf.scalar(1 / 0.07));
  const ids = [0, 0, 1, 2, 2, 3];
  const labels = [0, 0, 1, 0, 2, 1];
  const before = tf.memory().numTensors;
  for (const cfg of [DEFAULT_LOSS_CONFIG, CLIP_LOSS_CONFIG, { ...DEFAULT_LOSS_CONFIG, tripletWeight: 1, tripletMaxViolation: true }]) {
    const { value, grads } = tf.variableGrads(() => {
      const out = totalLoss({ imageFeatures: img, textFeatures: txt, temp, temp2, logitScale: scale, imageIds: ids, labels }, cfg);
      Object.values(out.parts).forEach((p) => p.dispose());
      return out.total;
    });
    assert.ok(Number.isFinite(value.dataSync()[0]));
    for (const name of [img.name, txt.name]) {
      const g = grads[name];
      assert.ok(g, `no gradient for ${name}`);
      assert.ok(tf.tidy(() => tf.sum(tf.abs(g)).dataSync()[0]) > 0, `zero gradient for ${name}`);
    }
    const tempName = cfg.contrastive === 'pir' ? temp.name : scale.name;
    assert.ok(grads[tempName] && Math.abs(grads[tempName].dataSync()[0]) > 0, `no temperature gradient (${cfg.contrastive})`);
    value.dispose();
    Object.values(grads).forEach((g) => g.dispose());
  }
  assert.equal(tf.memory().numTensors, before, 'loss + gradients leak tensors');
  [img, txt, temp, temp2, scale].forEach((v) => v.dispose());
});

test('loss semantics: multi-positive vs diagonal, PIR vs CLIP affiliation, weights switch parts off', async () => {
  await initBackend('wasm', { quiet: true });
  const seeds = new SeedStream(3);
  tf.tidy(() => {
    const img = randomFeatures(seeds, 5, 8);
    const txt = randomFeatures(seeds, 5, 8);
    const temp = tf.scalar(0.1);
    // all ids distinct → multi-positive equals diagonal; and PIR contrastive with temp = CLIP with s = 1/temp
    const a = pirContrastiveLoss(img, txt, temp, [0, 1, 2, 3, 4]).dataSync()[0];
    const b = pirContrastiveLoss(img, txt, temp).dataSync()[0];
    const c = clipLoss(img, txt, tf.scalar(10)).dataSync()[0];
    assert.ok(Math.abs(a - b) < 1e-5 && Math.abs(b - c) < 1e-5, `${a} ${b} ${c}`);
    const d = pirContrastiveLoss(img, txt, temp, [0, 0, 1, 1, 2]).dataSync()[0];
    assert.ok(Math.abs(d - b) > 1e-4, 'shared ids must change the PIR loss');
    // the transpose matters once classes repeat
    const labels = [0, 0, 1, 1, 2];
    const pa = pirAffiliationLoss(img, txt, temp, labels).dataSync()[0];
    const ca = clipAffiliationLoss(img, txt, tf.scalar(10), labels).dataSync()[0];
    assert.ok(Math.abs(pa - ca) > 1e-4, `PIR (transposed) and CLIP affiliation should differ: ${pa} ${ca}`);
    // triplet: identical features and a tiny margin → only positive-ish costs; zero margin with perfect pairs
    assert.ok(tripletLoss(img, img, 0).dataSync()[0] >= 0);
    const out = totalLoss({ imageFeatures: img, textFeatures: txt, temp, labels }, { ...DEFAULT_LOSS_CONFIG, affiliationWeight: 0, useImageIds: false });
    assert.deepEqual(Object.keys(out.parts), ['contrastive']);
    assert.ok(Math.abs(out.total.dataSync()[0] - b) < 1e-6);
    assert.throws(() => totalLoss({ imageFeatures: img, textFeatures: txt, temp }, DEFAULT_LOSS_CONFIG), /imageIds/);
  });
});
