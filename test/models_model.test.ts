/**
 * The PIR-style kit model (src/models/pir.ts) through the factory: shapes over a config grid, every
 * ablation switch, reference parameter names, gradients on wasm, no tensor growth, determinism,
 * config validation, and the factory's routing to PriorCLIP.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backends/backend';
import { SeedStream } from '../src/utils/random';
import { createModel, loadModelPreset, resolveModelConfig, listModelPresets, summarizeParams } from '../src/models/factory';
import { ModelConfig, RetrievalModel } from '../src/models/model';
import { ParamStore } from '../src/models/params';
import { SpatialPae } from '../src/models/spatial_pae';
import { TINY_PIR_SMALL } from './models_tiny';
import { PirModel } from '../src/models/pir';

function tiny(override: Record<string, unknown> = {}): ModelConfig {
  const merged = resolveModelConfig(TINY_PIR_SMALL, 'tiny');
  return resolveModelConfig({ ...structuredClone(merged), ...override }, 'tiny+override');
}

const B = 3;
function inputs(imageSize = 16, L = 6): { images: tf.Tensor4D; tokens: tf.Tensor2D } {
  return {
    images: tf.randomNormal([B, imageSize, imageSize, 3], 0, 1, 'float32', 11) as tf.Tensor4D,
    tokens: tf.tensor2d(Array.from({ length: B * L }, (_, i) => (i * 7) % 20), [B, L], 'int32'),
  };
}

function rowNorms(t: tf.Tensor2D): number[] {
  return Array.from(tf.tidy(() => tf.norm(t, 'euclidean', -1)).dataSync());
}

const GRID: [string, Record<string, unknown>][] = [
  ['default (hard belief)', {}],
  ['soft-head belief', { spatialPae: { enabled: true, belief: 'soft-head', filterSize: 5, numRounds: 1 } }],
  ['soft-c20bbe30 belief', { spatialPae: { enabled: true, belief: 'soft-c20bbe30', filterSize: 5, numRounds: 1 } }],
  ['no prior', { prior: { enabled: false, channels: [4, 8], extraConvsPerStage: 0, downsample: 'avgpool-conv', numClasses: 3 } }],
  ['no S-PAE', { spatialPae: { enabled: false, belief: 'hard', filterSize: 5, numRounds: 1 } }],
  ['no T-PAE', { temporalPae: { enabled: false, numRounds: 1 } }],
  ['0 rounds', { spatialPae: { enabled: true, belief: 'hard', filterSize: 5, numRounds: 0 }, temporalPae: { enabled: true, numRounds: 0 } }],
  ['3 rounds, K > N (clamped)', { spatialPae: { enabled: true, belief: 'hard', filterSize: 100, numRounds: 3 }, temporalPae: { enabled: true, numRounds: 3 } }],
  ['width 24, 3 heads, strided convs', { embedDim: 24, heads: 3, image: { channels: [4, 8], extraConvsPerStage: 1, downsample: 'strided-conv' } }],
  ['conv-avgpool downsampling', { image: { channels: [4, 8, 8], extraConvsPerStage: 0, downsample: 'conv-avgpool' } }],
];

test('shapes, norms and beliefs over the config grid (wasm)', async () => {
  await initBackend('wasm');
  const before = tf.memory().numTensors;
  for (const [label, override] of GRID) {
    const cfg = tiny(override);
    if (cfg.kind === 'priorclip') throw new Error('unexpected kind');
    const model = createModel(cfg, new SeedStream(1));
    const E = cfg.embedDim;
    const grid = 16 / 2 ** cfg.image.channels.length;
    const N = 1 + grid * grid;
    tf.tidy(() => {
      const { images, tokens } = inputs();
      for (const training of [false, true]) {
        const out = model.forward(images, tokens, { training });
        assert.deepEqual(out.imageFeatures.shape, [B, E], `${label}: image features`);
        assert.deepEqual(out.textFeatures.shape, [B, E], `${label}: text features`);
        for (const n of [...rowNorms(out.imageFeatures), ...rowNorms(out.textFeatures)]) assert.ok(Math.abs(n - 1) < 1e-4, `${label}: unit norm, got ${n}`);
        assert.ok(Math.abs(out.logitScale.dataSync()[0] - 1 / 0.07) < 1e-3, `${label}: logitScale = 1/temp`);
        assert.ok(Math.abs((out.temp?.dataSync()[0] ?? NaN) - 0.07) < 1e-7, `${label}: temp`);
        assert.ok(Math.abs((out.temp2?.dataSync()[0] ?? NaN) - 0.07) < 1e-7, `${label}: temp2`);
        if (cfg.spatialPae.enabled) assert.deepEqual(out.belief?.shape, [B, N], `${label}: forward belief`);
        else assert.equal(out.belief, undefined);
      }
      assert.deepEqual(model.encodeImage(images).shape, [B, E]);
      assert.deepEqual(model.encodeText(tokens).shape, [B, E]);
      const bel = model.beliefs(images);
      assert.deepEqual(bel.grid, [grid, grid], `${label}: grid`);
      assert.deepEqual(bel.belief.shape, [B, N], `${label}: belief`);
      const sums = tf.sum(bel.belief, -1).dataSync();
      sums.forEach((s) => assert.ok(Math.abs(s - 1) < 1e-5, `${label}: belief rows sum to 1`));
      if (cfg.spatialPae.enabled && cfg.spatialPae.belief === 'hard') {
        const K = Math.min(cfg.spatialPae.filterSize, N);
        assert.deepEqual(bel.keptIdx?.shape, [B, K], `${label}: keptIdx`);
        // Kept indices are the top-K beliefs, in descending order.
        const b = bel.belief.arraySync() as number[][];
        const k = bel.keptIdx?.arraySync() as number[][];
        for (let r = 0; r < B; r++) {
          const sorted = [...b[r].keys()].sort((i, j) => b[r][j] - b[r][i]).slice(0, K);
          assert.deepEqual(k[r], sorted, `${label}: keptIdx row ${r}`);
        }
      } else {
        assert.equal(bel.keptIdx, undefined);
      }
      if (model instanceof PirModel) {
        const tr = model.imageTrace(images);
        if (cfg.spatialPae.enabled) {
          assert.deepEqual(Array.from(tr?.belief.dataSync() ?? []), Array.from(bel.belief.dataSync()), `${label}: trace belief = beliefs()`);
          assert.equal(tr?.rounds.length, cfg.spatialPae.numRounds);
          assert.deepEqual(Array.from(tr?.vEmb.dataSync() ?? []), Array.from(model.encodeImage(images).dataSync()), `${label}: trace embedding = encodeImage`);
        } else assert.equal(tr, null);
      }
      if (cfg.prior.enabled) assert.deepEqual(model.encodePriorLogits?.(images).shape, [B, 3]);
      else assert.equal(model.encodePriorLogits, undefined, `${label}: no stage-0 head without a prior`);
    });
    model.dispose();
  }
  assert.equal(tf.memory().numTensors, before, 'no tensor left behind');
});

test('parameter names follow the PIR reference', async () => {
  await initBackend('wasm');
  const model = createModel(tiny(), new SeedStream(1));
  const keys = new Set(model.params.list().map((e) => e.key));
  for (const k of [
    'vision_proj.weight',
    'text_proj.weight',
    'conv_proj.weight',
    'conv_proj.bias',
    'mapping_img.0.weight',
    'img_sa.0.mhatt.linear_q.weight',
    'img_sa.0.ffn.1.weight',
    'img_ca.0.mhatt_cross.linear_merge.bias',
    'img_ca.0.norm2.weight',
    'head_img.weight',
    'mapping_txt.0.bias',
    'txt_sa.0.mhatt.linear_v.weight',
    'txt_ca.0.mhatt_cross.linear_k.weight',
    'head_txt.bias',
    'temp',
    'temp2',
    'conv_encoder.fc.weight',
    'vision_encoder.convs.0.weight',
    'text_encoder.word_embeddings.weight',
  ]) {
    assert.ok(keys.has(k), `missing parameter ${k}`);
  }
  const layout = (k: string) => model.params.list().find((e) => e.key === k)?.layout;
  assert.equal(layout('vision_proj.weight'), 'linear');
  assert.equal(layout('vision_encoder.convs.0.weight'), 'conv2d');
  assert.equal(layout('temp'), 'raw');
  assert.equal(model.paramGroup?.('conv_encoder.fc.weight'), 'priorHead');
  assert.equal(model.paramGroup?.('conv_encoder.convs.1.bias'), 'prior');
  assert.equal(model.paramGroup?.('text_encoder.layers.0.norm1.weight'), 'text');
  assert.equal(model.paramGroup?.('text_proj.weight'), 'textProj');
  assert.equal(model.paramGroup?.('img_sa.0.norm1.weight'), 'fusion');
  assert.equal(model.paramGroup?.('temp2'), 'scale');
  const sum = summarizeParams(model);
  assert.equal(sum.total, model.params.numElements());
  assert.equal(Object.values(sum.byGroup).reduce((a, b) => a + b, 0), sum.total);
  assert.equal(sum.byGroup.scale, 2);
  for (const g of ['image', 'text', 'textProj', 'prior', 'priorHead', 'fusion']) assert.ok((sum.byGroup[g] ?? 0) > 0, `group ${g} is empty`);
  // Ablations drop their modules' parameters.
  const base = createModel(loadModelPreset('pir-small-baseline'), new SeedStream(1));
  const bk = base.params.list().map((e) => e.key);
  assert.ok(!bk.some((k) => /^(img_|txt_|mapping_|head_|conv_)/.test(k)), `baseline has PAE/prior params: ${bk.filter((k) => /^(img_|txt_|mapping_|head_|conv_)/.test(k))}`);
  base.dispose();
  model.dispose();
});

/** InfoNCE-style loss on the model's outputs (the real losses live in src/losses). */
function contrastive(model: RetrievalModel, images: tf.Tensor4D, tokens: tf.Tensor2D): tf.Scalar {
  const o = model.forward(images, tokens, { training: true });
  const logits = tf.mul(tf.matMul(o.imageFeatures, o.textFeatures, false, true), o.logitScale); // [B, B]
  const labels = tf.oneHot(tf.range(0, B, 1, 'int32'), B);
  return tf.losses.softmaxCrossEntropy(labels, logits) as tf.Scalar;
}

for (const belief of ['hard', 'soft-head'] as const) {
  test(`forward + gradients on wasm (${belief}), no tensor growth`, async () => {
    await initBackend('wasm');
    const model = createModel(tiny({ spatialPae: { enabled: true, belief, filterSize: 5, numRounds: 1 } }), new SeedStream(2));
    const vars = model.params.trainableVariables((k) => model.paramGroup?.(k) !== 'priorHead');
    const names = new Map(vars.map((v) => [v.name, model.params.list().find((e) => e.variable === v)?.key ?? '?']));
    const { images, tokens } = inputs();
    const step = (): Map<string, number> => {
      tf.engine().startScope();
      try {
        const { value, grads } = tf.variableGrads(() => contrastive(model, images, tokens), vars);
        assert.ok(Number.isFinite(value.dataSync()[0]));
        const absSum = new Map<string, number>();
        for (const [name, g] of Object.entries(grads)) {
          const s = tf.sum(tf.abs(g)).dataSync()[0];
          assert.ok(Number.isFinite(s), `gradient of ${names.get(name)} is not finite`);
          absSum.set(names.get(name) ?? name, s);
        }
        return absSum;
      } finally {
        tf.engine().endScope();
      }
    };
    const first = step();
    for (const k of ['vision_encoder.convs.0.weight', 'vision_proj.weight', 'img_sa.0.mhatt.linear_q.weight', 'mapping_img.0.weight', 'conv_proj.weight', 'conv_encoder.convs.0.weight', 'head_img.weight', 'text_encoder.word_embeddings.weight', 'txt_ca.0.ffn.3.weight', 'head_txt.weight', 'temp']) {
      assert.ok((first.get(k) ?? 0) > 0, `expected a non-zero gradient for ${k} (got ${first.get(k)})`);
    }
    const n0 = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) step();
    assert.equal(tf.memory().numTensors, n0, 'numTensors grew across forward/grad calls');
    images.dispose();
    tokens.dispose();
    model.dispose();
  });
}

test('hard belief: no gradient reaches the prior through the sort; soft belief is differentiable', async () => {
  await initBackend('wasm');
  for (const [belief, expectZero] of [['hard', true], ['soft-head', false]] as const) {
    const store = new ParamStore(new SeedStream(4));
    const pae = new SpatialPae(store, 8, { enabled: true, belief, filterSize: 3, numRounds: 0, heads: 2, dropout: 0, mlpRatio: 2 });
    const V = tf.randomNormal([2, 6, 8], 0, 1, 'float32', 5) as tf.Tensor3D;
    const c = tf.variable(tf.randomNormal([2, 1, 8], 0, 1, 'float32', 6));
    const { value, grads } = tf.variableGrads(() => tf.sum(tf.mul(pae.apply(V, c as unknown as tf.Tensor3D), tf.range(0, 16).reshape([2, 8]))) as tf.Scalar, [c]);
    const g = Array.from(grads[c.name].dataSync());
    if (expectZero) assert.ok(g.every((x) => x === 0), `hard belief leaked a gradient into the prior: ${g}`);
    else assert.ok(g.some((x) => x !== 0), 'soft belief must pass a gradient to the prior');
    tf.dispose([value, grads, V, c]);
    store.dispose();
  }
});

test('determinism: same seed ⇒ same weights and outputs; fresh dropout per call', async () => {
  await initBackend('wasm');
  const a = createModel(tiny(), new SeedStream(9));
  const b = createModel(tiny(), new SeedStream(9));
  const c = createModel(tiny(), new SeedStream(10));
  const wa = a.params.list();
  const wb = b.params.list();
  assert.equal(wa.length, wb.length);
  let differsFromC = false;
  wa.forEach((e, i) => {
    assert.equal(e.key, wb[i].key);
    assert.deepEqual(Array.from(e.variable.dataSync()), Array.from(wb[i].variable.dataSync()), `weights of ${e.key}`);
    const ec = c.params.get(e.key);
    if (e.variable.size > 1 && Array.from(e.variable.dataSync()).some((v, j) => v !== ec.dataSync()[j])) differsFromC = true;
  });
  assert.ok(differsFromC, 'another seed must give other weights');
  tf.tidy(() => {
    const { images, tokens } = inputs();
    const ea = a.encodeImage(images).dataSync();
    assert.deepEqual(Array.from(ea), Array.from(a.encodeImage(images).dataSync()), 'eval is deterministic');
    const ta1 = a.forward(images, tokens, { training: true }).textFeatures.dataSync();
    const tb1 = b.forward(images, tokens, { training: true }).textFeatures.dataSync();
    assert.deepEqual(Array.from(ta1), Array.from(tb1), 'same seed ⇒ same dropout draws');
    const ta2 = a.forward(images, tokens, { training: true }).textFeatures.dataSync();
    assert.notDeepEqual(Array.from(ta1), Array.from(ta2), 'a second training call draws fresh dropout masks');
    const te = a.encodeText(tokens).dataSync();
    assert.notDeepEqual(Array.from(te), Array.from(ta2), 'training differs from eval');
  });
  [a, b, c].forEach((m) => m.dispose());
});

test('config resolution: presets, defaults, errors naming the key', () => {
  const presets = listModelPresets();
  for (const p of ['pir-small', 'pir-small-soft', 'pir-small-baseline', 'pir']) assert.ok(presets.includes(p), `preset ${p}`);
  const small = loadModelPreset('pir-small');
  assert.equal(small.kind, 'pir-small');
  const soft = loadModelPreset('pir-small-soft');
  assert.ok(soft.kind === 'pir-small' && soft.spatialPae.belief === 'soft-head');
  const ref = resolveModelConfig({ kind: 'pir' });
  assert.ok(ref.kind === 'pir' && ref.embedDim === 512 && ref.heads === 8 && ref.spatialPae.filterSize === 40 && ref.spatialPae.numRounds === 2 && ref.temporalPae.numRounds === 3 && ref.dropout === 0.2);
  assert.throws(() => resolveModelConfig({ spatialPae: { filterSzie: 3 } }, 'x.json'), /x\.json.*spatialPae\.filterSzie/);
  assert.throws(() => resolveModelConfig({ spatialPae: { belief: 'medium' } }), /spatialPae\.belief/);
  assert.throws(() => resolveModelConfig({ embedDim: 30, heads: 4 }), /divisible/);
  assert.throws(() => resolveModelConfig({ kind: 'vit-huge' }), /kind/);
  assert.throws(() => resolveModelConfig({ text: { layers: -1 } }), /text\.layers/);
});

test('factory routes kind "priorclip" to PriorCLIP', async () => {
  await initBackend('wasm');
  const cfg = loadModelPreset('priorclip-tiny');
  assert.equal(cfg.kind, 'priorclip');
  const model = createModel(cfg, new SeedStream(1));
  tf.tidy(() => {
    const img = model.encodeImage(tf.randomNormal([2, 64, 64, 3], 0, 1, 'float32', 3) as tf.Tensor4D);
    assert.equal(img.shape[0], 2);
    assert.ok(model.params.has('visual.proj'));
  });
  model.dispose();
});

test('the tiny model can fit a fixed batch (Adam, wasm)', async () => {
  await initBackend('wasm');
  const n = 8;
  const model = createModel(tiny({ image: { channels: [8, 16], extraConvsPerStage: 0, downsample: 'avgpool-conv' } }), new SeedStream(3));
  const images = tf.randomNormal([n, 16, 16, 3], 0, 1, 'float32', 4) as tf.Tensor4D;
  const tokens = tf.tensor2d(Array.from({ length: n * 6 }, (_, i) => (i * 7 + Math.floor(i / 6) * 3) % 20), [n, 6], 'int32');
  const vars = model.params.trainableVariables((k) => k !== 'temp' && k !== 'temp2');
  const opt = tf.train.adam(3e-3);
  const losses: number[] = [];
  for (let s = 0; s < 40; s++) {
    const l = opt.minimize(
      () => {
        const o = model.forward(images, tokens, { training: true });
        const logits = tf.mul(tf.matMul(o.imageFeatures, o.textFeatures, false, true), o.logitScale); // [n, n]
        return tf.losses.softmaxCrossEntropy(tf.oneHot(tf.range(0, n, 1, 'int32'), n), logits) as tf.Scalar;
      },
      true,
      vars,
    );
    losses.push(l?.dataSync()[0] ?? NaN);
    l?.dispose();
  }
  const tail = losses.slice(-5).reduce((a, b) => a + b, 0) / 5;
  assert.ok(tail < 0.5 * losses[0], `loss did not drop: ${losses[0].toFixed(3)} → ${tail.toFixed(3)}`);
  opt.dispose();
  tf.dispose([images, tokens]);
  model.dispose();
});

test('per-call dropout stream (opts.seeds) makes a training call reproducible alone', async () => {
  await initBackend('wasm');
  const model = createModel(tiny(), new SeedStream(12));
  tf.tidy(() => {
    const { images, tokens } = inputs();
    const run = (s: SeedStream | undefined) => Array.from(model.forward(images, tokens, { training: true, seeds: s }).textFeatures.dataSync());
    model.forward(images, tokens, { training: true }); // advance the model's own stream
    const a = run(new SeedStream(5).child('dropout'));
    const b = run(new SeedStream(5).child('dropout'));
    const c = run(new SeedStream(6).child('dropout'));
    assert.deepEqual(a, b, 'same per-call stream ⇒ same dropout');
    assert.notDeepEqual(a, c, 'another stream ⇒ other dropout');
  });
  model.dispose();
});
