/**
 * Trainer pieces: AdamW against torch.optim.AdamW (when /usr/bin/python3 has torch), no-decay rules,
 * schedules, global-norm clipping, freezing, logit-scale clamp, accumulation, and a full epoch with a
 * constant tensor count.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawnSync } from 'child_process';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backends/backend';
import { ParamStore, constantInit } from '../src/models/params';
import { SeedStream } from '../src/utils/random';
import { AdamW, clipByGlobalNorm, decays } from '../src/training/adamw';
import { learningRateAt } from '../src/training/schedule';
import { readBestValue } from '../src/training/train_state';
import { MAX_LOGIT_SCALE } from '../src/models/model';
import { defaultTrainConfig, epochOrder, stepsPerEpoch, train } from '../src/training/trainer';
import { StandinBatch, standinTask } from './training_standin';

const TORCH_PY = '/usr/bin/python3';

test('setup backend', async () => {
  await initBackend('cpu');
});

test('no-decay rules follow the references', () => {
  assert.equal(decays('visual.transformer.resblocks.0.ln_1.weight', 1, 'open_clip'), false);
  assert.equal(decays('visual.conv1.weight', 4, 'open_clip'), true);
  assert.equal(decays('logit_scale', 0, 'open_clip'), false);
  assert.equal(decays('visual.bn1.weight', 1, 'open_clip'), false);
  assert.equal(decays('text_projection', 2, 'open_clip'), true);
  assert.equal(decays('text_encoder.encoder.layer.0.attention.output.LayerNorm.weight', 1, 'pir'), false);
  assert.equal(decays('vision_encoder.layers.0.blocks.0.norm1.weight', 1, 'pir'), false);
  assert.equal(decays('temp', 0, 'pir'), true); // PIR decays its temperature (method.md §3.1)
  assert.equal(decays('vision_proj.bias', 1, 'pir'), false);
  assert.equal(decays('anything.bias', 1, 'none'), true);
});

test('schedules: open_clip cosine and HF linear warmup', () => {
  const cos = { kind: 'cosine' as const, warmupSteps: 10, warmupFraction: 0 };
  assert.equal(learningRateAt(cos, 1, 0, 100), 0.1);
  assert.equal(learningRateAt(cos, 1, 9, 100), 1);
  assert.equal(learningRateAt(cos, 1, 10, 100), 1);
  assert.ok(Math.abs(learningRateAt(cos, 1, 55, 100) - 0.5) < 1e-12);
  const lin = { kind: 'linear' as const, warmupSteps: 0, warmupFraction: 0.1 };
  assert.equal(learningRateAt(lin, 2, 0, 100), 0);
  assert.equal(learningRateAt(lin, 2, 5, 100), 1);
  assert.equal(learningRateAt(lin, 2, 10, 100), 2);
  assert.equal(learningRateAt(lin, 2, 55, 100), 1);
  assert.equal(learningRateAt(lin, 2, 100, 100), 0);
});

test('global-norm clipping matches torch clip_grad_norm_', () => {
  const g = { a: tf.tensor1d([3, 0]), b: tf.tensor1d([4]) };
  const { grads, norm } = clipByGlobalNorm(g, 1);
  assert.equal(norm, 5);
  const a = grads.a.dataSync();
  assert.ok(Math.abs(a[0] - 3 / (5 + 1e-6)) < 1e-7);
  const same = clipByGlobalNorm(g, 10);
  assert.equal(same.scaled, false);
  assert.equal(same.grads.a, g.a); // below the threshold: the same tensors, no copies
  assert.equal(clipByGlobalNorm(g, 0).norm, 5); // 0 = off, the norm is still reported
  for (const t of [...Object.values(g), ...Object.values(grads)]) t.dispose();
});

test('AdamW matches torch.optim.AdamW (decay and no-decay groups)', (t) => {
  const probe = spawnSync(TORCH_PY, ['-c', 'import torch'], { encoding: 'utf8' });
  if (probe.status !== 0) {
    t.skip('torch not available at /usr/bin/python3');
    return;
  }
  const w0 = [0.5, -1.0, 2.0, 0.25];
  const b0 = [0.1, -0.2];
  const gradsW = [[0.1, -0.3, 0.2, 0.05], [-0.2, 0.1, 0.4, -0.1], [0.3, 0.3, -0.1, 0.2]];
  const gradsB = [[0.5, -0.5], [0.1, 0.2], [-0.3, 0.4]];
  const lrs = [0.1, 0.05, 0.02];
  const py = `
import torch, json
w = torch.nn.Parameter(torch.tensor(${JSON.stringify(w0)}, dtype=torch.float32).reshape(2,2))
b = torch.nn.Parameter(torch.tensor(${JSON.stringify(b0)}, dtype=torch.float32))
opt = torch.optim.AdamW([{'params':[w],'weight_decay':0.3},{'params':[b],'weight_decay':0.0}], lr=0.1, betas=(0.9,0.98), eps=1e-8)
gw = ${JSON.stringify(gradsW)}; gb = ${JSON.stringify(gradsB)}; lrs = ${JSON.stringify(lrs)}
for i in range(3):
    for g in opt.param_groups: g['lr'] = lrs[i]
    w.grad = torch.tensor(gw[i]).reshape(2,2); b.grad = torch.tensor(gb[i])
    opt.step()
print(json.dumps({'w': w.detach().reshape(-1).tolist(), 'b': b.detach().tolist()}))
`;
  const r = spawnSync(TORCH_PY, ['-c', py], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const want = JSON.parse(r.stdout) as { w: number[]; b: number[] };
  const store = new ParamStore(new SeedStream(0));
  const w = store.add('fc.weight', [2, 2], constantInit(0), 'raw');
  const b = store.add('fc.bias', [2], constantInit(0), 'raw');
  w.assign(tf.tensor2d(w0, [2, 2]));
  b.assign(tf.tensor1d(b0));
  const opt = new AdamW(store.list(), { beta1: 0.9, beta2: 0.98, eps: 1e-8, weightDecay: 0.3, noDecay: 'open_clip' });
  assert.deepEqual(opt.groups(), { decay: ['fc.weight'], noDecay: ['fc.bias'] });
  for (let i = 0; i < 3; i++) {
    const gw = tf.tensor2d(gradsW[i], [2, 2]);
    const gb = tf.tensor1d(gradsB[i]);
    opt.apply({ [w.name]: gw, [b.name]: gb }, lrs[i]);
    gw.dispose();
    gb.dispose();
  }
  const gotW = Array.from(w.dataSync());
  const gotB = Array.from(b.dataSync());
  gotW.forEach((v, i) => assert.ok(Math.abs(v - want.w[i]) < 1e-6, `w[${i}] ${v} vs ${want.w[i]}`));
  gotB.forEach((v, i) => assert.ok(Math.abs(v - want.b[i]) < 1e-6, `b[${i}] ${v} vs ${want.b[i]}`));
  opt.dispose();
  store.dispose();
});

test('a full epoch leaves the tensor count constant; frozen prefixes stay put; logit_scale clamped', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kit-train-'));
  const task = standinTask(64, 1);
  const before = task.params.get('prior.weight').dataSync().slice();
  const base = tf.memory().numTensors;
  const counts: number[] = [];
  const cfg = { ...defaultTrainConfig(), epochs: 1, batchSize: 8, lr: 5, freezePrefixes: ['prior.'] };
  assert.equal(stepsPerEpoch(cfg, 64), 8);
  const res = await train(task, cfg, { dir, seeds: new SeedStream(1), onStepEnd: () => counts.push(tf.memory().numTensors) });
  assert.equal(res.state.log.length, 8);
  assert.equal(new Set(counts).size, 1, `tensor counts over the epoch: ${counts.join(',')}`);
  assert.equal(tf.memory().numTensors, base, 'no tensors left after the run');
  assert.deepEqual(Array.from(task.params.get('prior.weight').dataSync()), Array.from(before));
  const ls = task.params.get('logit_scale').dataSync()[0];
  assert.ok(ls >= 0 && ls <= MAX_LOGIT_SCALE + 1e-6, `logit_scale ${ls}`);
  // validation picked a best checkpoint and losses.json exists
  assert.ok(res.state.best !== null);
  assert.ok(fs.existsSync(path.join(dir, 'best.safetensors')));
  task.dispose();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('accumulating 2×8 (no dropout) = the mean loss and mean gradient of the two micro-batches', async () => {
  const dirA = fs.mkdtempSync(path.join(os.tmpdir(), 'kit-acc-'));
  const task = standinTask(32, 2, 0);
  const seeds = new SeedStream(2);
  const res = await train(task, { ...defaultTrainConfig(), epochs: 1, batchSize: 8, accumSteps: 2, lr: 0, clampLogitScale: false }, { dir: dirA, seeds });
  assert.equal(res.state.log.length, 2);
  // recompute step 1 by hand: micro-batches = the first two slices of the epoch order
  const order = epochOrder(seeds, 0, 32);
  const vars = task.params.list().map((e) => e.variable);
  const micro = [order.slice(0, 8), order.slice(8, 16)].map((idx) => {
    const b = task.makeBatch(idx, seeds) as StandinBatch;
    const r = tf.tidy(() => {
      const { value, grads } = tf.variableGrads(() => task.loss(b, seeds).total, vars);
      return { value, sq: tf.addN(Object.values(grads).map((g) => tf.sum(tf.square(g)))), grads };
    });
    task.disposeBatch(b);
    return r;
  });
  const meanLoss = (micro[0].value.dataSync()[0] + micro[1].value.dataSync()[0]) / 2;
  const meanNorm = tf.tidy(() => tf.sqrt(tf.addN(Object.keys(micro[0].grads).map((k) => tf.sum(tf.square(tf.div(tf.add(micro[0].grads[k], micro[1].grads[k]), 2)))))).dataSync()[0]);
  assert.ok(Math.abs(res.state.log[0].loss - meanLoss) < 1e-5, `${res.state.log[0].loss} vs ${meanLoss}`);
  assert.ok(Math.abs(res.state.log[0].gradNorm - meanNorm) < 1e-5, `${res.state.log[0].gradNorm} vs ${meanNorm}`);
  for (const m of micro) tf.dispose([m.value, m.sq, ...Object.values(m.grads)]);
  task.dispose();
  fs.rmSync(dirA, { recursive: true, force: true });
});

test('best values are read in the current form and in the form written before the rename ({mR, …})', () => {
  assert.deepEqual(readBestValue({ metric: 'accuracy', value: 88.5, step: 40, epoch: 9 }), { metric: 'accuracy', value: 88.5, step: 40, epoch: 9 });
  assert.deepEqual(readBestValue({ mR: 61.1, step: 2, epoch: 0 }), { metric: 'mR', value: 61.1, step: 2, epoch: 0 });
  assert.equal(readBestValue(null), null);
  assert.equal(readBestValue({ step: 1 }), null);
});
