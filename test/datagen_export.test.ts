import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { DEFAULT_EMBEDDED_DATA, EmbeddedDataConfig, generateEmbeddedDataset } from '../src/data/embedded';
import { exportKarpathy, exportWebdataset } from '../src/data/export';
import { readWebdatasetSamples } from '../src/io/tar';
import { loadKarpathy } from '../src/data/loaders/karpathy';
import { loadWebdataset } from '../src/data/loaders/webdataset';
import {
  captionLengthFigure,
  classCountsFigure,
  exampleImages,
  imageGrid,
  imageGridPng,
  summarizeDataset,
} from '../src/data/summary';
import { decodeImage } from '../src/io/image_codecs';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'datagen-export-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const cfg: EmbeddedDataConfig = {
  ...DEFAULT_EMBEDDED_DATA,
  classes: ['airport', 'port', 'storagetanks', 'baseballfield'],
  imagesPerClass: 10,
  imageSize: 24,
};
const dec = new TextDecoder();

test('Karpathy export is read back by the Karpathy loader with the same records', async () => {
  const { dataset } = await generateEmbeddedDataset(cfg, { dataRoot: tmp });
  const out = path.join(tmp, 'karpathy');
  const res = exportKarpathy(dataset, { outDir: out });
  assert.equal(res.images, 40);
  assert.equal(res.captions, 200);
  const back = loadKarpathy(res.annotationFile, { imagesRoot: res.imagesDir });
  assert.equal(back.images.length, dataset.images.length);
  back.images.forEach((r, i) => {
    const src = dataset.images[i];
    assert.equal(r.fileName, src.fileName);
    assert.equal(r.split, src.split);
    assert.deepEqual(r.captions, src.captions);
    assert.equal(r.sceneClass, src.sceneClass);
    assert.deepEqual(fs.readFileSync(r.path), fs.readFileSync(src.path));
  });
  assert.deepEqual(back.classes, ['airport', 'baseballfield', 'port', 'storagetanks']);
  // Only the test split.
  const onlyTest = exportKarpathy(dataset, { outDir: path.join(tmp, 'karpathy-test'), splits: ['test'] });
  assert.equal(onlyTest.images, dataset.images.filter((r) => r.split === 'test').length);
});

test('webdataset export (pairs): RS5M fields, shard sizes, names, deterministic bytes, every pair once', async () => {
  const { dataset } = await generateEmbeddedDataset(cfg, { dataRoot: tmp });
  const out = path.join(tmp, 'wds-pairs');
  const res = exportWebdataset(dataset, { outDir: out, prefix: 'embedded', mode: 'pairs', samplesPerShard: 64 });
  const train = dataset.images.filter((r) => r.split === 'train');
  const trainShards = res.shards.filter((s) => s.split === 'train');
  assert.equal(trainShards.reduce((a, s) => a + s.samples, 0), train.length * 5);
  assert.equal(trainShards.length, Math.ceil((train.length * 5) / 64));
  assert.deepEqual(trainShards.map((s) => path.basename(s.file)).slice(0, 2), ['embedded-train-0000.tar', 'embedded-train-0001.tar']);
  assert.ok(trainShards.slice(0, -1).every((s) => s.samples === 64));
  // Fields of the first sample.
  const samples = [];
  for await (const s of readWebdatasetSamples(trainShards[0].file)) samples.push(s);
  assert.equal(samples.length, 64);
  const first = samples[0];
  assert.deepEqual([...first.fields.keys()], ['img_content', 'caption', 'img_name']);
  assert.equal(dec.decode(first.fields.get('img_name')), train[0].fileName);
  assert.equal(dec.decode(first.fields.get('caption')), train[0].captions[0]);
  assert.deepEqual(first.fields.get('img_content'), new Uint8Array(fs.readFileSync(train[0].path)));
  assert.equal(decodeImage(first.fields.get('img_content') as Uint8Array, 'x').width, 24);
  // Deterministic: exporting again gives identical shards.
  const again = exportWebdataset(dataset, { outDir: path.join(tmp, 'wds-pairs-2'), prefix: 'embedded', mode: 'pairs', samplesPerShard: 64 });
  assert.deepEqual(again.shards.map((s) => s.sha256), res.shards.map((s) => s.sha256));
  // Every (image, caption) pair of the split appears exactly once across its shards.
  const pairs: string[] = [];
  for (const sh of trainShards) {
    for await (const smp of readWebdatasetSamples(sh.file)) pairs.push(`${dec.decode(smp.fields.get('img_name'))}|${dec.decode(smp.fields.get('caption'))}`);
  }
  assert.deepEqual(pairs, train.flatMap((r) => r.captions.map((c) => `${r.fileName}|${c}`)));
  const manifest = JSON.parse(fs.readFileSync(res.manifestFile, 'utf8'));
  assert.equal(manifest.shards.length, res.shards.length);
  assert.equal(manifest.mode, 'pairs');
});

test('webdataset export (coarse): one sample per image with its coarse caption; shuffling is seeded', async () => {
  const { dataset } = await generateEmbeddedDataset(cfg, { dataRoot: tmp });
  const res = exportWebdataset(dataset, { outDir: path.join(tmp, 'wds-coarse'), mode: 'coarse', samplesPerShard: 1000, splits: ['train'] });
  assert.equal(res.shards.length, 1);
  const train = dataset.images.filter((r) => r.split === 'train');
  const captions: string[] = [];
  for await (const s of readWebdatasetSamples(res.shards[0].file)) captions.push(dec.decode(s.fields.get('caption')));
  assert.deepEqual(captions, train.map((r) => r.coarseCaption));
  // The dataload webdataset loader reads it: one record per image, classes from img_name.
  const loaded = await loadWebdataset(res.shards.map((sh) => sh.file), { split: 'train' });
  assert.equal(loaded.images.length, train.length);
  assert.deepEqual(loaded.classes, ['airport', 'baseballfield', 'port', 'storagetanks']);
  // The record comes back whole: fine captions from <key>.json, the coarse caption as coarseCaption.
  assert.deepEqual(loaded.images.map((r) => r.coarseCaption), train.map((r) => r.coarseCaption));
  assert.deepEqual(loaded.images.map((r) => r.captions), train.map((r) => r.captions));
  const a = exportWebdataset(dataset, { outDir: path.join(tmp, 'wds-shuf-a'), mode: 'coarse', samplesPerShard: 1000, splits: ['train'], shuffleSeed: 3 });
  const b = exportWebdataset(dataset, { outDir: path.join(tmp, 'wds-shuf-b'), mode: 'coarse', samplesPerShard: 1000, splits: ['train'], shuffleSeed: 3 });
  assert.equal(a.shards[0].sha256, b.shards[0].sha256);
  assert.notEqual(a.shards[0].sha256, res.shards[0].sha256);
  // Records without coarse captions: error by default, first caption on request.
  const plain = { ...dataset, images: dataset.images.map((r) => ({ ...r, coarseCaption: undefined })) };
  assert.throws(() => exportWebdataset(plain, { outDir: path.join(tmp, 'x'), mode: 'coarse', samplesPerShard: 10 }), /no coarse caption/);
  const fb = exportWebdataset(plain, { outDir: path.join(tmp, 'wds-fb'), mode: 'coarse', samplesPerShard: 1000, splits: ['test'], coarseFallback: 'first-caption' });
  assert.equal(fb.shards[0].samples, dataset.images.filter((r) => r.split === 'test').length);
  assert.throws(() => exportWebdataset(dataset, { outDir: tmp, mode: 'pairs', samplesPerShard: 0 }), /samplesPerShard/);
});

test('summary: counts, caption lengths, vocabulary, figures, example grid', async () => {
  const { dataset } = await generateEmbeddedDataset(cfg, { dataRoot: tmp });
  const s = summarizeDataset(dataset);
  assert.equal(s.images, 40);
  assert.equal(s.captions, 200);
  assert.equal(s.classes, 4);
  assert.equal(s.perSplit.train.images + s.perSplit.val.images + s.perSplit.test.images, 40);
  assert.equal(s.perSplit.test.captions, s.perSplit.test.images * 5);
  assert.deepEqual(s.perClass.map((c) => c.sceneClass), ['airport', 'baseballfield', 'port', 'storagetanks']);
  assert.ok(s.perClass.every((c) => c.total === 10 && c.train + c.val + c.test === 10));
  assert.equal(s.captionLength.histogram.counts.reduce((a, b) => a + b, 0), 200);
  assert.ok(s.captionLength.min >= 4 && s.captionLength.max <= 60 && s.captionLength.mean > s.captionLength.min);
  assert.ok(s.vocabularySize > 50 && s.vocabularySize < 1000, `vocab ${s.vocabularySize}`);
  assert.equal(s.withCoarseCaption, 40);
  const fig = classCountsFigure(s);
  assert.equal(fig.data.length, 3);
  assert.deepEqual(fig.data[0].x, ['airport', 'baseballfield', 'port', 'storagetanks']);
  assert.equal(fig.layout.barmode, 'stack');
  const lf = captionLengthFigure(s);
  assert.deepEqual(lf.data[0].x, s.captionLength.histogram.values);
  JSON.stringify(fig);
  const ex = exampleImages(dataset, { perClass: 2 });
  assert.equal(ex.length, 8);
  assert.equal(ex[0].image.width, 24);
  assert.equal(ex[0].captions.length, 5);
  const grid = imageGrid(ex.map((e) => e.image), { cols: 4, cell: 48, pad: 2 });
  assert.equal(grid.width, 4 * 48 + 3 * 2);
  assert.equal(grid.height, 2 * 48 + 2);
  const png = decodeImage(imageGridPng(ex.map((e) => e.image), { cols: 4 }), 'grid.png');
  assert.equal(png.width, 4 * 24 + 3 * 2);
});
