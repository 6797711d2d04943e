import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backends/backend';
import { SeedStream } from '../src/utils/random';
import { createModel } from '../src/models/factory';
import { loadModelFileInto, readStateDict } from '../src/models/checkpoint';
import { CLIP_VOCAB_SIZE } from '../src/data/clip_tokenizer';
import {
  checkpointKeyReport,
  checkpointSource,
  evaluateCommand,
  keyReportRows,
  maxWeightDifference,
  tieRuleRows,
  tiedExample,
  tinyPriorClipConfig,
  writeBrokenStateDict,
} from '../src/notebook/recipe/checkpoints';

test('the stand-in is priorclip-tiny with the CLIP vocabulary; its .pt and .safetensors exports load back exactly', async () => {
  await initBackend('wasm', { quiet: true });
  const cfg = tinyPriorClipConfig();
  assert.equal(cfg.kind, 'priorclip');
  if (cfg.kind === 'priorclip') assert.equal(cfg.text.vocabSize, CLIP_VOCAB_SIZE);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nbrecipe-ck-'));
  const before = tf.memory().numTensors;
  const ck = checkpointSource(new SeedStream(3), dir);
  assert.equal(ck.kind, process.env.KIT_PRIORCLIP_CHECKPOINT ? 'released' : 'stand-in');
  if (ck.kind !== 'stand-in' || !ck.source) return;
  assert.equal(readStateDict(ck.files[1]).format, 'torch-zip');
  assert.equal(readStateDict(ck.files[0]).format, 'safetensors');
  for (const f of ck.files) {
    const fresh = createModel(ck.config, new SeedStream(99));
    assert.ok(maxWeightDifference(ck.source, fresh) > 0, 'a different seed gives different weights before loading');
    const rep = loadModelFileInto(fresh, f);
    assert.equal(rep.missing.length + rep.unexpected.length, 0);
    assert.equal(maxWeightDifference(ck.source, fresh), 0);
    fresh.dispose();
  }
  ck.source.dispose();
  assert.equal(tf.memory().numTensors, before);
});

test('a broken state_dict: the report names the dropped, renamed and transposed keys, and the strict loader assigns nothing', async () => {
  await initBackend('wasm', { quiet: true });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nbrecipe-broken-'));
  const model = createModel(tinyPriorClipConfig(), new SeedStream(5));
  const b = writeBrokenStateDict(model, path.join(dir, 'broken.safetensors'));
  const snapshot = maxWeightDifference(model, model);
  const other = createModel(tinyPriorClipConfig(), new SeedStream(6));
  const rep = checkpointKeyReport(other, b.file);
  assert.ok(rep.missing.includes(b.dropped));
  assert.ok(rep.missing.includes(b.renamed[0]));
  assert.deepEqual(rep.unexpected, [b.renamed[1]]);
  assert.deepEqual(rep.wrongShape.map((w) => w.key), [b.transposed]);
  assert.ok(rep.loaderError && rep.loaderError.includes(b.dropped) && rep.loaderError.includes(b.transposed));
  assert.equal(keyReportRows(rep).length, 4);
  assert.ok(maxWeightDifference(model, other) > 0, 'nothing was assigned by the failed load');
  assert.equal(snapshot, 0);
  model.dispose();
  other.dispose();
});

test('tie rules differ exactly on the tied captions of the example, and agree on the tie-free one', () => {
  const rows = tieRuleRows(tiedExample());
  const ranks = Object.fromEntries(rows.map((r) => [r['tie rule'], String(r['t→i ranks (0-based)']).split(', ').map(Number)]));
  // caption 0: own image tied with image 1; caption 1: tied with all three; caption 2: no tie
  assert.deepEqual(ranks.pessimistic, [1, 2, 0]);
  assert.deepEqual(ranks.optimistic, [0, 0, 0]);
  for (const r of Object.values(ranks) as number[][]) assert.equal(r[2], 0);
  for (const r of rows) assert.equal(r['t→i tied queries'], 2);
  // the pessimistic rule never scores above the optimistic one
  const p = rows.find((r) => r['tie rule'] === 'pessimistic');
  const o = rows.find((r) => r['tie rule'] === 'optimistic');
  assert.ok(Number(p?.['t→i R@1']) <= Number(o?.['t→i R@1']));
});

test('evaluateCommand quotes JSON and relativises absolute paths', () => {
  const cmd = evaluateCommand(['--model', '{"kind":"priorclip"}', '--checkpoint', path.join(process.cwd(), 'build', 'x.pt')]);
  assert.equal(cmd, `npm run evaluate -- --model '{"kind":"priorclip"}' --checkpoint build/x.pt`);
});
