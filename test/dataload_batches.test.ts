import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backends/backend';
import { loadDatasetSync } from '../src/data/loaders';
import { addIndexLabels, PixelCache, PreprocessedCache, TrainBatches, evalImageBatches, evalTextBatches, recordLabel, wordTextEncoder, clipTextEncoder } from '../src/data/batches';
import { PIR_AUGMENT } from '../src/data/augment';
import { WordTokenizer } from '../src/data/word_tokenizer';
import { ClipTokenizer } from '../src/data/clip_tokenizer';
import { preprocessImage } from '../src/data/image_preprocess';
import { readImageFile } from '../src/io/image_codecs';
import { ImageRecord, RetrievalDataset, collectClasses, splitView } from '../src/data/types';
import { SeedStream } from '../src/utils/random';
import { readSafetensorsFile, toInt32Array } from '../src/io/safetensors';
import { projectRoot } from '../src/utils/fs';

/** PIR's augmentation at 64 px, to keep the tests fast. */
const AUG64 = { ...PIR_AUGMENT, size: 64 };
const SHARED = path.resolve(projectRoot(), '..', 'shared');
const REAL = path.join(SHARED, 'real');

before(async () => {
  await initBackend('cpu', { quiet: true });
});

/** 11 RSICD JPEGs (numeric names, no class) + 9 UCM TIFFs given classes by hand (2 classes). */
function smallDataset(): RetrievalDataset {
  const rsicd = loadDatasetSync(path.join(REAL, 'captions', 'precomp', 'rsicd_sample_caps.txt'), { split: 'train', imagesRoot: path.join(REAL, 'images', 'rsicd') });
  const ucm = loadDatasetSync(path.join(REAL, 'captions', 'karpathy', 'ucm_dataset.json'), { imagesRoot: path.join(REAL, 'images', 'ucm') }).images.slice(0, 9);
  const images: ImageRecord[] = [...rsicd.images, ...ucm.map((r, i) => ({ ...r, sceneClass: i < 5 ? 'farmland' : 'meadow' }))];
  images.forEach((r, i) => { r.imageId = i; });
  return { name: 'small', format: 'test', imagesRoot: REAL, images, classes: collectClasses(images) };
}

async function collect(tb: TrainBatches, epoch: number, keep = false): Promise<{ ids: number[][]; caps: string[][]; px: number[]; n: number }> {
  const out = { ids: [] as number[][], caps: [] as string[][], px: [] as number[], n: 0 };
  for await (const b of tb.epoch(epoch)) {
    out.ids.push(Array.from(b.imageIds));
    out.caps.push(b.captions);
    const s = b.images.sum();
    out.px.push((await s.data())[0]);
    s.dispose();
    out.n++;
    if (!keep) b.dispose();
  }
  return out;
}

test('per-caption sampling: image ids, labels, captions belong together; drop_last; seeded epochs', async () => {
  const ds = smallDataset();
  const word = WordTokenizer.build(ds.images.flatMap((r) => r.captions));
  const start = tf.memory().numTensors;
  const tb = new TrainBatches(ds, new SeedStream(3).child('data'), { batchSize: 8, augment: PIR_AUGMENT, encodeText: wordTextEncoder(word), prefetch: 2 });
  assert.equal(tb.samples.length, 100); // 20 images × 5 captions
  assert.equal(tb.batchesPerEpoch, 12);
  const seen = new Set<string>();
  let batches = 0;
  let sharedImage = false;
  for await (const b of tb.epoch(0)) {
    batches++;
    assert.deepEqual(b.images.shape, [8, 224, 224, 3]);
    assert.deepEqual(b.tokens.shape, [8, 32]);
    assert.equal(b.tokens.dtype, 'int32');
    const toks = await b.tokens.array();
    for (let i = 0; i < 8; i++) {
      const rec = ds.images[b.imageIds[i]];
      assert.ok(rec.captions.includes(b.captions[i]));
      assert.equal(b.labels[i], recordLabel(ds, rec));
      assert.deepEqual(toks[i], Array.from(word.encodeRow(b.captions[i])));
      seen.add(`${b.imageIds[i]}|${b.captions[i]}|${i}`);
    }
    if (new Set(b.imageIds).size < 8) sharedImage = true;
    b.dispose();
  }
  assert.equal(batches, 12);
  assert.equal(seen.size, 96);
  assert.ok(sharedImage, 'with 20 images and batch 8, some batch should hold two captions of one image');
  // Labels: class index for UCM images, singleton labels (≥ classes.length) for numeric RSICD names.
  assert.deepEqual(ds.classes, ['farmland', 'meadow']);
  assert.equal(recordLabel(ds, ds.images[11]), 0);
  assert.equal(recordLabel(ds, ds.images[19]), 1);
  assert.equal(recordLabel(ds, ds.images[0]), 2);
  assert.equal(recordLabel(ds, ds.images[1]), 3);
  assert.equal(tf.memory().numTensors, start);
  // Reproducible: same seed → same order and same augmented pixels, whatever the prefetch depth.
  const a = await collect(new TrainBatches(ds, new SeedStream(3).child('data'), { batchSize: 8, augment: AUG64, encodeText: wordTextEncoder(word), prefetch: 0 }), 1);
  const b = await collect(new TrainBatches(ds, new SeedStream(3).child('data'), { batchSize: 8, augment: AUG64, encodeText: wordTextEncoder(word), prefetch: 4 }), 1);
  assert.deepEqual(a, b);
  const c = await collect(new TrainBatches(ds, new SeedStream(3).child('data'), { batchSize: 8, augment: AUG64, encodeText: wordTextEncoder(word) }), 2);
  assert.notDeepEqual(a.ids, c.ids);
  assert.equal(tf.memory().numTensors, start);
});

test('drop_last false keeps the short batch; breaking early disposes prefetched batches; cache holds decoded images', async () => {
  const ds = smallDataset();
  const word = WordTokenizer.build(ds.images.flatMap((r) => r.captions));
  const start = tf.memory().numTensors;
  const cache = new PixelCache();
  const pre = new PreprocessedCache();
  const tb = new TrainBatches(ds, new SeedStream(1), { batchSize: 16, dropLast: false, augment: null, evalTransform: 'resize', size: 64, encodeText: wordTextEncoder(word, 'longest'), cache, preprocessed: pre });
  const r = await collect(tb, 0);
  assert.equal(pre.count, 20);
  const hitsBefore = cache.hits + cache.misses;
  assert.deepEqual(await collect(tb, 0), r); // second pass reads the preprocessed cache: same batches…
  assert.equal(cache.hits + cache.misses, hitsBefore); // …without touching the decoded-pixel cache
  assert.equal(r.n, 7);
  assert.equal(r.ids[6].length, 4);
  assert.equal(cache.count, 20);
  assert.equal(cache.misses, 20);
  let k = 0;
  for await (const b of tb.epoch(1)) { b.dispose(); if (++k === 2) break; }
  await new Promise((res) => setTimeout(res, 200));
  assert.equal(tf.memory().numTensors, start);
  assert.throws(() => new TrainBatches(ds, new SeedStream(1), { batchSize: 200, augment: null, encodeText: wordTextEncoder(word) }), /100 train captions < batch size 200/);
});

test('eval iteration: every image once in order (pixels = preprocessImage), every caption once with txt2img', async () => {
  const ds = loadDatasetSync(path.join(REAL, 'captions', 'precomp', 'rsicd_sample_caps.txt'), { split: 'test', imagesRoot: path.join(REAL, 'images', 'rsicd') });
  const start = tf.memory().numTensors;
  const order: number[] = [];
  for await (const b of evalImageBatches(ds, 'test', { batchSize: 4, transform: 'resize-center-crop' })) {
    const data = await b.images.data();
    b.imageIndices.forEach((idx, i) => {
      order.push(idx);
      const want = preprocessImage(readImageFile(ds.images[idx].path), { transform: 'resize-center-crop' });
      assert.deepEqual(data.subarray(i * want.length, (i + 1) * want.length), want);
    });
    b.dispose();
  }
  assert.deepEqual(order, Array.from({ length: 11 }, (_, i) => i));
  // Preprocessed cache: second pass reads cached pixels (equal to the first pass), no decoding.
  const pre = new PreprocessedCache();
  const decoded = new PixelCache();
  const pass = async (): Promise<number[]> => {
    const sums: number[] = [];
    for await (const b of evalImageBatches(ds, 'test', { batchSize: 5, size: 32, cache: decoded, preprocessed: pre })) {
      const d = await b.images.data();
      let s = 0;
      for (let i = 0; i < d.length; i++) s += d[i];
      sums.push(s);
      b.dispose();
    }
    return sums;
  };
  const first = await pass();
  assert.equal(pre.count, 11);
  assert.equal(decoded.misses, 11);
  assert.deepEqual(await pass(), first);
  assert.equal(decoded.misses + decoded.hits, 11);
  const clip = ClipTokenizer.fromFile(path.join(SHARED, 'vocab', 'bpe_simple_vocab_16e6.txt.gz'));
  const view = splitView(ds, 'test');
  const textIds: number[] = [];
  for (const b of evalTextBatches(ds, 'test', clipTextEncoder(clip, 77), 16)) {
    assert.equal(b.tokens.shape[1], 77);
    const rows = await b.tokens.array();
    b.textIds.forEach((t, i) => { textIds.push(t); assert.deepEqual(rows[i], Array.from(clip.encodeRow(view.captions[t].caption))); });
    b.dispose();
  }
  assert.deepEqual(textIds, Array.from({ length: 55 }, (_, i) => i));
  assert.deepEqual(Array.from(view.txt2img.subarray(0, 11)), [0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 2]);
  assert.equal(tf.memory().numTensors, start);
});

test('worker threads: identical batches to the main-thread path; errors name the file and record', async () => {
  const ds = smallDataset();
  const word = WordTokenizer.build(ds.images.flatMap((r) => r.captions));
  const mk = (workers: number): TrainBatches => new TrainBatches(ds, new SeedStream(9), { batchSize: 10, augment: AUG64, encodeText: wordTextEncoder(word), workers, prefetch: 2 });
  const main = mk(0);
  const pool = mk(2);
  const a: number[][] = [];
  const b: number[][] = [];
  let k = 0;
  for await (const x of main.epoch(0)) { a.push(Array.from(await x.images.data()).filter((_, i) => i % 97 === 0)); x.dispose(); if (++k === 3) break; }
  k = 0;
  for await (const x of pool.epoch(0)) { b.push(Array.from(await x.images.data()).filter((_, i) => i % 97 === 0)); x.dispose(); if (++k === 3) break; }
  assert.deepEqual(a, b);
  await pool.close();
  const broken: RetrievalDataset = { ...ds, images: ds.images.map((r, i) => (i === 3 ? { ...r, path: '/nonexistent/gone_3.jpg' } : r)) };
  const bad = new TrainBatches(broken, new SeedStream(9), { batchSize: 100, augment: null, size: 32, encodeText: wordTextEncoder(word), workers: 1 });
  await assert.rejects(async () => { for await (const x of bad.epoch(0)) x.dispose(); }, /\/nonexistent\/gone_3\.jpg: missing image file for image 3 "00004\.jpg" \(train\)/);
  await bad.close();
});

test('a bad image in a prefetched batch surfaces when that batch is reached (no unhandled rejection)', async () => {
  const ds = smallDataset();
  const word = WordTokenizer.build(ds.images.flatMap((r) => r.captions));
  const broken: RetrievalDataset = { ...ds, images: ds.images.map((r) => (r.imageId === 19 ? { ...r, path: '/nonexistent/gone_19.tif' } : r)) };
  const tb = new TrainBatches(broken, new SeedStream(2), { batchSize: 5, augment: null, size: 16, encodeText: wordTextEncoder(word), prefetch: 8 });
  const order = tb.epochOrder(0);
  const firstBad = Math.floor(order.findIndex((i) => tb.samples[i].rec.imageId === 19) / 5);
  let good = 0;
  await assert.rejects(async () => { for await (const b of tb.epoch(0)) { good++; b.dispose(); } }, /gone_19\.tif: missing image file for image 19 "9\.tif" \(train\)/);
  assert.equal(good, firstBad);
});

test('addIndexLabels reproduces the losses fixture labels (add_index over img_names)', () => {
  const golden = JSON.parse(fs.readFileSync(path.join(SHARED, 'golden', 'losses.json'), 'utf8')) as { img_names: string[] };
  const want = readSafetensorsFile(path.join(SHARED, 'golden', 'losses.safetensors')).get('input/labels');
  assert.ok(want !== undefined);
  assert.deepEqual(Array.from(addIndexLabels(golden.img_names)), Array.from(toInt32Array(want, 'input/labels')));
  // Same partition as Batch.labels on a dataset: equal labels ⇔ equal add_index labels.
  const ds = smallDataset();
  const recs = [ds.images[0], ds.images[12], ds.images[0], ds.images[1], ds.images[13], ds.images[18]];
  const a = addIndexLabels(recs.map((r) => (r.sceneClass === null ? r.fileName : `${r.sceneClass}_${r.imageId}.tif`)));
  const b = recs.map((r) => recordLabel(ds, r));
  for (let i = 0; i < recs.length; i++) for (let j = 0; j < recs.length; j++) assert.equal(a[i] === a[j], b[i] === b[j]);
});
