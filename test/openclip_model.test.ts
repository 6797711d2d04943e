import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backends/backend';
import { projectRoot, readJson } from '../src/utils/fs';
import { SeedStream } from '../src/utils/random';
import { readSafetensorsFile, toFloat32, toInt32Array, SafeTensor } from '../src/io/safetensors';
import { PriorClip, createPriorClip, priorClipShapePlan, PRIORCLIP_VIT_B_32, resolvePriorClipConfig } from '../src/models/priorclip';
import { loadStateDict } from '../src/models/checkpoint';
import { createModel, loadModelPreset } from '../src/models/factory';
import { runPriorClipCase } from '../src/parity/priorclip_case';
import { openClipToKitKeys } from '../src/interop/open_clip_keys';
import { fromForkModelConfig } from '../src/interop/open_clip_config';
import { toleranceTable } from '../src/parity/tolerance';

const GOLDEN = path.resolve(projectRoot(), '..', 'shared', 'golden');

before(async () => {
  await initBackend(process.env.KIT_BACKEND ?? 'wasm', { quiet: true });
});

interface KeysJson {
  keys: { key: string; shape: number[]; dtype: string }[];
  n_elements: number;
  model_config: Record<string, unknown>;
}

test('ViT-B/32 PriorCLIP shape plan = the reference state_dict (643 keys, order, shapes, dtypes) without allocating', () => {
  const ref = readJson<KeysJson>(path.join(GOLDEN, 'priorclip_vitb32_keys.json'));
  const n0 = tf.memory().numTensors;
  const bytes0 = tf.memory().numBytes;
  const plan = priorClipShapePlan(PRIORCLIP_VIT_B_32);
  assert.equal(tf.memory().numTensors, n0);
  assert.ok(tf.memory().numBytes - bytes0 < 1e6);
  assert.equal(plan.length, ref.keys.length);
  plan.forEach((p, i) => {
    const r = ref.keys[i];
    assert.equal(p.key, r.key, `key #${i}`);
    assert.deepEqual(p.shape, r.shape, `shape of ${p.key}`);
    assert.equal(p.dtype, r.dtype === 'int64' ? 'I64' : 'F32', `dtype of ${p.key}`);
  });
  assert.equal(plan.reduce((s, p) => s + p.shape.reduce((a, b) => a * b, 1), 0), ref.n_elements);
  // Buffers are not trainable: running stats and num_batches_tracked.
  const buffers = plan.filter((p) => !p.trainable).map((p) => p.key);
  assert.ok(buffers.length > 0 && buffers.every((k) => /running_(mean|var)|num_batches_tracked/.test(k)));
  // The JSON's own model_config (open_clip, snake_case; converted by the interop key table) resolves to the same plan.
  const { output_tokens: _o, ...vision } = ref.model_config.vision_cfg as Record<string, unknown>;
  const plan2 = priorClipShapePlan(openClipToKitKeys({ ...ref.model_config, vision_cfg: vision }, 'priorclip_vitb32_keys.json model_config'));
  assert.deepEqual(plan2.map((p) => p.key), plan.map((p) => p.key));
});

test('tiny PriorCLIP reproduces every golden output and intermediate (safetensors and both .pt files)', () => {
  const file = path.join(GOLDEN, 'priorclip_tiny.safetensors');
  const json = readJson<Record<string, unknown>>(path.join(GOLDEN, 'priorclip_tiny.json'));
  const tensors = readSafetensorsFile(file);
  const n0 = tf.memory().numTensors;
  const rows = runPriorClipCase(file, json, tensors, [path.join(GOLDEN, 'priorclip_tiny_state_dict.pt'), path.join(GOLDEN, 'priorclip_tiny_train_checkpoint.pt')], toleranceTable(json));
  assert.equal(tf.memory().numTensors, n0, 'no tensor leak');
  const outputs = [...tensors.keys()].filter((k) => k.startsWith('output/'));
  assert.equal(outputs.length, 21);
  assert.equal(rows.length, 3 * outputs.length + 2); // 3 weight sources + 2 checkpoint equality rows
  for (const r of rows) assert.ok(r.pass, `${r.name}: abs ${r.maxAbs} ${r.error ?? ''}`);
  // The strict tolerances really are applied to the final features.
  const feat = rows.find((r) => r.name === 'output/image_features');
  assert.equal(feat?.rtol, 1e-4);
  assert.equal(feat?.atol, 1e-5);
  assert.ok(rows.find((r) => r.name === 'output/vit/sorted_ind')?.exact);
});

function goldenTinyModel(): { model: PriorClip; tensors: Map<string, SafeTensor> } {
  const json = readJson<{ model_config: Record<string, unknown> }>(path.join(GOLDEN, 'priorclip_tiny.json'));
  const tensors = readSafetensorsFile(path.join(GOLDEN, 'priorclip_tiny.safetensors'));
  const model = new PriorClip(fromForkModelConfig(json.model_config, 'tiny', 'priorclip_tiny.json model_config'), new SeedStream(5));
  const params = new Map([...tensors].filter(([k]) => k.startsWith('param/')).map(([k, v]) => [k.slice(6), v]));
  loadStateDict(model.params, params, { source: 'golden' });
  return { model, tensors };
}

function goldenInputs(tensors: Map<string, SafeTensor>): { images: tf.Tensor4D; tokens: tf.Tensor2D } {
  const img = tensors.get('input/image') as SafeTensor;
  const txt = tensors.get('input/text') as SafeTensor;
  const images = tf.tidy(() => tf.transpose(tf.tensor4d(toFloat32(img), img.shape as [number, number, number, number]), [0, 2, 3, 1]));
  return { images, tokens: tf.tensor2d(toInt32Array(txt), txt.shape as [number, number], 'int32') };
}

test('RetrievalModel contract: encoders, forward, beliefs; the old soft-belief formula and the plain ViT differ', () => {
  const { model, tensors } = goldenTinyModel();
  const { images, tokens } = goldenInputs(tensors);
  const n0 = tf.memory().numTensors;
  const out = model.forward(images, tokens);
  assert.deepEqual(out.imageFeatures.shape, [2, 32]);
  assert.deepEqual(out.textFeatures.shape, [3, 32]);
  const norms = tf.tidy(() => tf.norm(out.imageFeatures, 2, -1).arraySync() as number[]);
  for (const n of norms) assert.ok(Math.abs(n - 1) < 1e-5);
  assert.ok(Math.abs(out.logitScale.dataSync()[0] - 1 / 0.07) < 1e-3);
  const expImg = toFloat32(tensors.get('output/image_features') as SafeTensor);
  const gotImg = out.imageFeatures.dataSync();
  for (let i = 0; i < expImg.length; i++) assert.ok(Math.abs(gotImg[i] - expImg[i]) <= 1e-5 + 1e-4 * Math.abs(expImg[i]));
  const b = model.beliefs(images);
  assert.deepEqual(b.belief.shape, [2, 17]);
  assert.deepEqual(b.grid, [4, 4]);
  const expBelief = toFloat32(tensors.get('output/vit/belief_matrix') as SafeTensor);
  const gotBelief = b.belief.dataSync();
  for (let i = 0; i < expBelief.length; i++) assert.ok(Math.abs(gotBelief[i] - expBelief[i]) < 1e-5);
  tf.dispose([out.imageFeatures, out.textFeatures, out.logitScale, b.belief]);
  assert.equal(tf.memory().numTensors, n0);
  assert.equal(model.paramGroup('res_visual.layer1.0.conv1.weight'), 'prior');
  assert.equal(model.paramGroup('visual.proj'), 'image');
  assert.equal(model.paramGroup('token_embedding.weight'), 'text');
  assert.equal(model.paramGroup('text_projection'), 'textProj');
  assert.equal(model.paramGroup('logit_scale'), 'scale');
  // Other formulas on the same weights give other image features (and the text side is unchanged).
  for (const soft of ['c20bbe30', 'none'] as const) {
    const other = new PriorClip({ ...model.config, softBelief: soft }, new SeedStream(5));
    loadStateDict(other.params, new Map([...tensors].filter(([k]) => k.startsWith('param/')).map(([k, v]) => [k.slice(6), v])));
    const d = tf.tidy(() => tf.max(tf.abs(tf.sub(other.encodeImage(images), model.encodeImage(images)))).dataSync()[0]);
    assert.ok(d > 1e-3, `${soft} should change the image features`);
    const dt = tf.tidy(() => tf.max(tf.abs(tf.sub(other.encodeText(tokens), model.encodeText(tokens)))).dataSync()[0]);
    assert.equal(dt, 0);
    other.dispose();
  }
  assert.throws(() => model.encodeImage(tf.zeros([1, 32, 32, 3]) as tf.Tensor4D), /32×32.*vision\.imageSize is 64/);
  tf.dispose([images, tokens]);
  model.dispose();
});

test('the factory builds the priorclip-tiny preset; every trainable parameter gets a finite gradient, buffers none', () => {
  const cfg = loadModelPreset('priorclip-tiny');
  assert.equal(cfg.kind, 'priorclip');
  const model = createModel(cfg, new SeedStream(11));
  assert.ok(model instanceof PriorClip);
  const seeds = new SeedStream(3);
  const images = tf.randomNormal([2, 64, 64, 3], 0, 1, 'float32', seeds.nextSeed()) as tf.Tensor4D;
  const tokens = tf.tensor2d([[98, 5, 7, 99, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], [98, 12, 99, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]], [2, 16], 'int32');
  const trainable = model.params.trainableVariables();
  const all = model.params.list();
  assert.equal(trainable.length, all.filter((e) => !/running_|num_batches/.test(e.key)).length);
  // Initial bn3 weights are zero (open_clip init) and logit_scale = ln(1/0.07).
  assert.equal(tf.tidy(() => tf.max(tf.abs(model.params.get('res_visual.layer1.0.bn3.weight'))).dataSync()[0]), 0);
  assert.ok(Math.abs(model.params.get('logit_scale').dataSync()[0] - Math.log(1 / 0.07)) < 1e-6);
  const n0 = tf.memory().numTensors;
  const { value, grads } = tf.variableGrads(() => {
    const out = model.forward(images, tokens, { training: true });
    const logits = tf.mul(out.logitScale, tf.matMul(out.imageFeatures, out.textFeatures, false, true)); // [2, 2]
    const labels = tf.oneHot(tf.tensor1d([0, 1], 'int32'), 2);
    return tf.losses.softmaxCrossEntropy(labels, logits) as tf.Scalar;
  }, trainable);
  assert.ok(Number.isFinite(value.dataSync()[0]));
  const byName = new Map(all.map((e) => [e.variable.name, e.key]));
  const zero: string[] = [];
  const groups = new Set<string>();
  for (const [name, g] of Object.entries(grads)) {
    const d = g.dataSync();
    const key = byName.get(name) ?? name;
    assert.ok(d.every((x) => Number.isFinite(x)), `finite grad for ${key}`);
    if (d.some((x) => x !== 0)) groups.add((model as PriorClip).paramGroup(key));
    else zero.push(key);
  }
  assert.equal(Object.keys(grads).length, trainable.length);
  // Only the residual branches behind the zero-initialised bn3.weight are cut off at init.
  for (const k of zero) assert.match(k, /^res_visual\.layer\d\.\d+\.(conv[123]\.weight|bn[12]\.(weight|bias))$/);
  assert.ok(zero.length < trainable.length / 4, `${zero.length} zero gradients`);
  for (const g of ['image', 'prior', 'fusion', 'text', 'textProj', 'scale']) assert.ok(groups.has(g), `gradient reaches ${g}`);
  tf.dispose([value, ...Object.values(grads)]);
  assert.equal(tf.memory().numTensors, n0);
  tf.dispose([images, tokens]);
  model.dispose();
});

test('config errors name the key; quickGelu switches the activation', () => {
  assert.throws(() => resolvePriorClipConfig({ vision: { widht: 3 } }, 'cfg.json'), /cfg\.json: unknown config key 'vision\.widht'/);
  assert.throws(() => resolvePriorClipConfig({ vision: { width: 100 } }, 'cfg.json'), /cfg\.json: vision\.width 100 is not a multiple of vision\.headWidth 64/);
  assert.throws(() => resolvePriorClipConfig({ vision: { imageSize: 16, patchSize: 8 } }, 'c'), /c: vision\.imageSize 16 gives a 0×0 prior feature map/);
  assert.equal(resolvePriorClipConfig({ vision: { imageSize: 80, patchSize: 16 } }).vision.imageSize, 80); // 80 → 2×2, as in PyTorch
  const base = resolvePriorClipConfig(loadModelPreset('priorclip-tiny'));
  const a = createPriorClip(base, new SeedStream(1));
  const b = createPriorClip({ ...base, quickGelu: true }, new SeedStream(1));
  const tokens = tf.tensor2d([[98, 5, 99, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]], [1, 16], 'int32');
  const d = tf.tidy(() => tf.max(tf.abs(tf.sub(a.encodeText(tokens), b.encodeText(tokens)))).dataSync()[0]);
  assert.ok(d > 0);
  tokens.dispose();
  a.dispose();
  b.dispose();
});
