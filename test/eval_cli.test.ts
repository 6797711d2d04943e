import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backends/backend';
import { projectRoot } from '../src/utils/fs';
import { SeedStream } from '../src/utils/random';
import { createModel, PIR_SMALL } from '../src/models/factory';
import { ModelConfig } from '../src/models/model';
import { stateDictFromStore } from '../src/models/checkpoint';
import { writeSafetensors } from '../src/io/safetensors';
import { loadDataset } from '../src/data/loaders/index';
import { WordTokenizer } from '../src/data/word_tokenizer';
import { evaluateRetrieval } from '../src/evaluation/evaluate';
import { parseEvaluateArgs, runEvaluateCli, formatTable } from '../src/cli/evaluate';

const real = path.resolve(projectRoot(), '..', 'shared', 'real');
const data = path.join(real, 'captions', 'precomp', 'rsicd_sample_caps.txt');
const images = path.join(real, 'images', 'rsicd');

test('evaluate CLI: state_dict safetensors of a small model on the real RSICD sample (precomp + JPEG)', async () => {
  await initBackend('wasm', { quiet: true });
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kit-eval-'));
  process.env.KIT_RUNS_DIR = path.join(tmp, 'runs');
  const config: ModelConfig = { ...structuredClone(PIR_SMALL), name: 'pir-small-e2e', dropout: 0, text: { ...PIR_SMALL.text, dropout: 0 } };
  const ds = await loadDataset(data, { imagesRoot: images, split: 'test' });
  const tok = WordTokenizer.build(ds.images.flatMap((r) => r.captions));
  const vocabFile = path.join(tmp, 'vocab.json');
  tok.save(vocabFile);
  // weights as a plain PyTorch-named state_dict (no kit metadata), config passed with --model
  const model = createModel(config, new SeedStream(123));
  const ckpt = path.join(tmp, 'weights.safetensors');
  fs.writeFileSync(ckpt, writeSafetensors(stateDictFromStore(model.params)));
  const cfgFile = path.join(tmp, 'model.json');
  fs.writeFileSync(cfgFile, JSON.stringify(config));
  const out = path.join(tmp, 'out');
  const before = tf.memory().numTensors;
  const { result, runId } = await runEvaluateCli(['--model', cfgFile, '--checkpoint', ckpt, '--data', data, '--images', images, '--split', 'test', '--vocab', vocabFile, '--out', out, '--seed', '7', '--quiet', '--batch', '4', '--tie-rule', 'optimistic']);
  assert.equal(tf.memory().numTensors, before, 'the CLI must dispose its model and tensors');
  const m = result.metrics;
  assert.equal(m.numImages, 11);
  assert.equal(m.numTexts, 55);
  assert.equal(m.tieRule, 'optimistic');
  for (const v of [m.i2t.r1, m.i2t.r5, m.i2t.r10, m.t2i.r1, m.t2i.r5, m.t2i.r10]) assert.ok(v >= 0 && v <= 100);
  const written = JSON.parse(fs.readFileSync(path.join(out, 'metrics.json'), 'utf8'));
  assert.equal(written.mR, m.mR);
  assert.equal(written.curves.i2t.length, 55);
  assert.equal(JSON.parse(fs.readFileSync(path.join(out, 'run.json'), 'utf8')).status, 'finished');
  assert.equal(JSON.parse(fs.readFileSync(path.join(tmp, 'runs', runId, 'run.json'), 'utf8')).metrics.test.mR, m.mR);
  // the checkpoint really was loaded: the CLI (model seed 7 + checkpoint) equals the exported model evaluated directly
  const direct = await evaluateRetrieval(model, ds, 'test', {
    imageSize: config.imageSize,
    transform: 'resize',
    tokenize: (caps) => tok.encodeBatch(caps, { padding: 'longest' }),
    tieRule: 'optimistic',
    progress: false,
  });
  assert.deepEqual(direct.metrics.curves, m.curves);
  assert.deepEqual(direct.metrics.details, m.details);
  model.dispose();
  // …and it would not be without the checkpoint (the CLI's own init differs)
  const unloaded = createModel(config, new SeedStream(7).child('model'));
  const init = await evaluateRetrieval(unloaded, ds, 'test', { imageSize: config.imageSize, tokenize: (caps) => tok.encodeBatch(caps, { padding: 'longest' }), tieRule: 'optimistic', progress: false, keepRanks: true });
  unloaded.dispose();
  assert.notDeepEqual(init.metrics.curves, m.curves, 'test cannot tell a loaded checkpoint from the initial weights');
  assert.match(formatTable(m, 't'), /I→T\s+\d+\.\d\d/);
  // a kit checkpoint (config in metadata) needs no --model
  const fresh = createModel(config, new SeedStream(9));
  const kitCkpt = path.join(tmp, 'kit.safetensors');
  const { saveModelFile } = await import('../src/models/checkpoint');
  saveModelFile(kitCkpt, fresh);
  fresh.dispose();
  const again = await runEvaluateCli(['--checkpoint', kitCkpt, '--data', data, '--images', images, '--vocab', vocabFile, '--quiet', '--limit', '4']);
  assert.equal(again.result.metrics.numImages, 4);
  assert.equal(again.result.metrics.tieRule, 'pessimistic');
  fs.rmSync(tmp, { recursive: true, force: true });
});

test('evaluate CLI: argument errors are clear', () => {
  assert.throws(() => parseEvaluateArgs(['--data', 'x']), /--checkpoint is required/);
  assert.throws(() => parseEvaluateArgs(['--checkpoint', 'c', '--data', 'd', '--tie-rule', 'random']), /tie-rule must be one of/);
  assert.throws(() => parseEvaluateArgs(['--checkpoint', 'c', '--data', 'd', '--bogus', '1']), /unknown option --bogus/);
  const a = parseEvaluateArgs(['--checkpoint=c', '--data', 'd', '--split', 'val', '--batch', '8']);
  assert.equal(a.split, 'val');
  assert.equal(a.imageBatch, 8);
  assert.equal(a.tieRule, 'pessimistic');
});
