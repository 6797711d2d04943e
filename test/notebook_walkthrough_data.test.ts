import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { DEFAULT_EMBEDDED_DATA, EmbeddedDataConfig, AnnotatedObject, generateEmbeddedDataset, readEmbeddedObjects } from '../src/data/embedded';
import { loadDataset, loadPirJsonSplits } from '../src/data/loaders';
import { RgbImage } from '../src/io/image_codecs';
import {
  ROLE_COLOURS,
  captionRows,
  distractorExamples,
  distractorRows,
  drawObjectBoxes,
  exportSmallCopy,
  objectRows,
  upscale,
} from '../src/notebook/walkthrough/data_tour';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nb-walkthrough-data-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const cfg: EmbeddedDataConfig = { ...DEFAULT_EMBEDDED_DATA, classes: ['airport', 'port', 'church'], imagesPerClass: 12, imageSize: 24, distractorRate: 0.5 };

function solid(w: number, h: number, v: number): RgbImage {
  return { width: w, height: h, data: new Uint8Array(w * h * 3).fill(v) };
}

test('upscale repeats every pixel factor×factor times', () => {
  const img: RgbImage = { width: 2, height: 1, data: Uint8Array.from([1, 2, 3, 4, 5, 6]) };
  const up = upscale(img, 3);
  assert.equal(up.width, 6);
  assert.equal(up.height, 3);
  assert.deepEqual(Array.from(up.data.subarray(0, 3)), [1, 2, 3]);
  assert.deepEqual(Array.from(up.data.subarray((2 * 6 + 5) * 3, (2 * 6 + 5) * 3 + 3)), [4, 5, 6]);
  assert.throws(() => upscale(img, 0), /factor/);
});

test('drawObjectBoxes outlines key objects and distractors in their colours and skips context', () => {
  const objs: AnnotatedObject[] = [
    { kind: 'plane', colour: 'red', role: 'key', box: [0, 0, 0.5, 0.5] },
    { kind: 'ship', colour: 'blue', role: 'distractor', box: [0.5, 0.5, 1, 1], sourceClass: 'port' },
    { kind: 'tree', colour: 'green', role: 'context', box: [0.25, 0.25, 0.75, 0.75] },
  ];
  const out = drawObjectBoxes(solid(10, 10, 100), objs, { scale: 2 });
  const px = (x: number, y: number) => Array.from(out.data.subarray((y * out.width + x) * 3, (y * out.width + x) * 3 + 3));
  assert.equal(out.width, 20);
  assert.deepEqual(px(0, 5), ROLE_COLOURS.key); // left edge of the key box
  assert.deepEqual(px(19, 15), ROLE_COLOURS.distractor); // right edge of the distractor box
  assert.deepEqual(px(5, 5), [100, 100, 100]); // inside the key box: untouched
  assert.deepEqual(px(5, 12), [100, 100, 100]); // on the context box's left edge (x = 5, y 5..15): not drawn
  assert.deepEqual(objectRows(objs).map((r) => [r.role, r.from]), [['key', ''], ['distractor', 'port'], ['context', '']]);
});

test('distractor rows, examples and caption rows describe the generated data', async () => {
  const gen = await generateEmbeddedDataset(cfg, { dataRoot: tmp });
  const objects = readEmbeddedObjects(gen.dir);
  const rows = distractorRows(gen.dataset, objects);
  assert.deepEqual(rows.map((r) => r.sceneClass), gen.dataset.classes);
  for (const r of rows) {
    assert.equal(r.images, 12);
    assert.equal(r.withDistractors, 6); // exact quota: round(0.5 · 12)
    assert.ok(r.mentionRate >= 0 && r.mentionRate <= 1);
    assert.ok(r.distractorKinds.length > 0);
  }
  const ex = distractorExamples(gen.dataset, objects, { split: 'train', count: 4 });
  assert.equal(ex.images.length, 4);
  for (const [i, im] of ex.images.entries()) {
    assert.equal(im.width, 24 * 3);
    assert.equal(im.pixels.length, im.width * im.height * 3);
    assert.ok(objects.get(ex.records[i].fileName)?.some((o) => o.role === 'distractor'));
    assert.match(im.caption, /\+.*\(from /);
  }
  const rec = gen.dataset.images[0];
  const caps = captionRows(rec);
  assert.equal(caps.length, rec.captions.length + 1);
  assert.equal(caps[caps.length - 1].caption, rec.coarseCaption);
});

test('exportSmallCopy writes Karpathy and PIR JSON copies that the loaders read back identically', async () => {
  const gen = await generateEmbeddedDataset(cfg, { dataRoot: tmp });
  const copy = exportSmallCopy(gen.dataset, path.join(tmp, 'copy'), { perClassPerSplit: 1 });
  assert.equal(copy.images, 3 * 3); // 3 classes × 3 splits × 1
  assert.equal(copy.captions, 9 * 5);
  const k = await loadDataset(copy.karpathyDir);
  const p = loadPirJsonSplits(copy.pirFiles, { imagesRoot: copy.imagesDir });
  for (const ds of [k, p]) {
    assert.equal(ds.images.length, 9);
    assert.deepEqual(ds.classes, ['airport', 'church', 'port']);
    assert.equal(ds.images.filter((r) => r.split === 'test').length, 3);
  }
  const byName = new Map(p.images.map((r) => [r.fileName, r]));
  for (const r of k.images) assert.deepEqual(byName.get(r.fileName)?.captions, r.captions);
  const train = JSON.parse(fs.readFileSync(copy.pirFiles.train, 'utf8')) as { caption: string; image: string; label_name: string }[];
  assert.equal(train.length, 3 * 5); // one record per caption
  assert.equal(typeof train[0].caption, 'string');
  const test = JSON.parse(fs.readFileSync(copy.pirFiles.test, 'utf8')) as { caption: string[] }[];
  assert.equal(test[0].caption.length, 5); // one record per image
});
