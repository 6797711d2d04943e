import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { SeedStream } from '../src/utils/random';
import { createModel, resolveModelConfig } from '../src/models/factory';
import { DEFAULT_EMBEDDED_DATA, generateEmbeddedDataset } from '../src/data/embedded';
import { WordTokenizer } from '../src/data/word_tokenizer';
import { wordTextEncoder } from '../src/data/batches';
import { splitImages } from '../src/data/types';
import { computeDiagnostics, diagnosticColumns, readDiagnostics } from '../src/evaluation/diagnostics';
import { retrievalMetrics } from '../src/evaluation/retrieval_metrics';
import { embedSplit } from '../src/evaluation/embed';
import { defaultImageLoader } from '../src/evaluation/evaluate';
import { imageAnatomy, summariseAnatomy, pearson } from '../src/evaluation/belief_saturation';
import { objectCells } from '../src/evaluation/belief_localisation';
import { TINY_PIR_SMALL } from './models_tiny';

test('computeDiagnostics on a tiny PIR model and generated embedded data: every diagnostic, ranks equal to the metrics, no tensor leak', async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'diag-'));
  try {
    const cfg = { ...DEFAULT_EMBEDDED_DATA, classes: ['airport', 'port', 'church'], imagesPerClass: 10, imageSize: 16, distractorRate: 1 };
    const gen = await generateEmbeddedDataset(cfg, { dataRoot: tmp });
    const ds = gen.dataset;
    const tok = WordTokenizer.build(splitImages(ds, 'train').flatMap((r) => r.captions), { contextLength: 8 });
    const mc = resolveModelConfig({ ...TINY_PIR_SMALL, text: { ...TINY_PIR_SMALL.text, vocabSize: tok.vocabSize } });
    const model = createModel(mc, new SeedStream(3));
    const encode = wordTextEncoder(tok, 'max');
    const before = tf.memory().numTensors;
    const d = await computeDiagnostics(model, ds, 'test', { tokenize: encode, imageSize: 16, tieRule: 'pessimistic', batchSize: 4 });
    assert.equal(tf.memory().numTensors, before, 'no tensor leak');
    const nTest = splitImages(ds, 'test').length;
    assert.equal(d.ranks.i2t.length, nTest);
    assert.equal(d.ranks.t2i.length, nTest * cfg.captionsPerImage);
    assert.deepEqual(d.notes, []);
    // the stored ranks are those of the ordinary evaluation
    const emb = await embedSplit(model, ds, 'test', { loadImage: defaultImageLoader(16), imageSize: 16, tokenize: encode, progress: false });
    const m = retrievalMetrics(emb.imageEmb, emb.textEmb, emb.txt2img, { keepRanks: true });
    assert.deepEqual(d.ranks.t2i, Array.from(m.ranks!.t2i));
    assert.deepEqual(d.ranks.txt2img, Array.from(emb.txt2img));
    const bl = d.beliefLocalisation!;
    assert.equal(bl.modelRule, 'hard');
    assert.deepEqual(bl.grid, [4, 4]);
    for (const r of ['hard', 'soft-head', 'soft-c20bbe30'] as const) {
      assert.equal(bl.rules[r].images, nTest);
      assert.ok(bl.rules[r].keyArea > 0 && bl.rules[r].keyArea < 1, `${r}: key area ${bl.rules[r].keyArea}`);
      assert.ok(bl.rules[r].effectiveTokens >= 1 && bl.rules[r].effectiveTokens <= 17, JSON.stringify(bl.rules[r]));
    }
    assert.ok(bl.rules.hard.distractorImages > 0, JSON.stringify(bl.rules.hard));
    assert.equal(d.classStructure!.numClasses, 3);
    assert.equal(d.vocabularyShift.rare.queries + d.vocabularyShift.inVocabulary.queries, nTest * cfg.captionsPerImage);
    const cols = diagnosticColumns(d);
    assert.equal(cols.belief_key_ratio, bl.rules.hard.keyRatio);
    // round trip through JSON (the run record) and old records without diagnostics
    assert.deepEqual(readDiagnostics(JSON.parse(JSON.stringify({ diagnostics: d }))), JSON.parse(JSON.stringify(d)));
    assert.equal(readDiagnostics({ test: {} }), null);
    // a dataset without boxes: belief localisation is null with a note
    const plain = await computeDiagnostics(model, { ...ds, format: 'karpathy' }, 'test', { tokenize: encode, imageSize: 16, tieRule: 'pessimistic', batchSize: 4 });
    assert.equal(plain.beliefLocalisation, null, JSON.stringify(plain.notes));
    assert.match(plain.notes.join(' '), /records no object boxes/);
    model.dispose();
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

test('imageAnatomy: a prior with a large norm saturates the scores; the ranking follows the cosine, not the norms', () => {
  const objects = [{ kind: 'plane' as const, colour: 'white', role: 'key' as const, box: [0, 0, 0.5, 0.5] as [number, number, number, number] }];
  const cells = objectCells(objects, [2, 2]);
  // cell 0 (key) points along c; background cells are longer but orthogonal-ish
  const tokens = [[1, 0], [0.2, 3], [0.1, 3], [0, 3]];
  const a = imageAnatomy(tokens, [40, 0], cells, 1);
  assert.equal(a.topRole, 'key');
  assert.equal(a.cosTopKPrecision, 1);
  assert.ok(a.scoreStd > 10, `score spread ${a.scoreStd}`);
  assert.ok(a.cosCorr > 0.9 && a.normCorr < 0, JSON.stringify(a));
  assert.ok(Math.abs(a.keyNormRatio - 1 / 3) < 0.01, `key/background norm ${a.keyNormRatio}`);
  const b = imageAnatomy(tokens, [0, 1], cells, 1);
  assert.equal(b.topRole, 'background');
  const s = summariseAnatomy([a, b]);
  assert.equal(s.topOnKey, 0.5);
  assert.equal(s.topOnBackground, 0.5);
  assert.ok(Math.abs(pearson([1, 2, 3], [2, 4, 6]) - 1) < 1e-12);
  assert.ok(Number.isNaN(pearson([1, 1], [1, 2])));
});
