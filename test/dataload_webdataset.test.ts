import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { writeTarFile, TarEntry } from '../src/io/tar';
import { decodeRecordImage, detectFormat, loadDataset, readRecordImageBytes, streamWebdataset } from '../src/data/loaders';
import { readImageFile } from '../src/io/image_codecs';
import { projectRoot } from '../src/utils/fs';

const IMGS = path.resolve(projectRoot(), '..', 'shared', 'real', 'images');
const enc = new TextEncoder();

function rs5mSample(key: string, file: string, name: string, caption: string): TarEntry[] {
  return [
    { name: `${key}.img_content`, data: fs.readFileSync(file) },
    { name: `${key}.caption`, data: enc.encode(caption) },
    { name: `${key}.img_name`, data: enc.encode(name) },
  ];
}

test('webdataset shards (RS5M layout): streamed, grouped by key, split from the shard name, images decodable', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dl-wds-'));
  const a = path.join(dir, 'rs3-train-0000.tar');
  const b = path.join(dir, 'rs3-train-0001.tar');
  writeTarFile(a, [
    ...rs5mSample('000000', path.join(IMGS, 'rsicd', '00001.jpg'), 'airport_1.jpg', 'an airport with two runways'),
    ...rs5mSample('000001', path.join(IMGS, 'ucm', '2.tif'), 'farmland_2.tif', 'green farmland'),
  ]);
  writeTarFile(b, [
    { name: 'x/000002.png', data: fs.readFileSync(path.join(IMGS, 'rsicd', '00002.jpg')) }, // bytes are JPEG: sniffed, not trusted by extension
    { name: 'x/000002.json', data: enc.encode(JSON.stringify({ captions: ['c1', 'c2', 'c3', 'c4', 'c5'], coarse_caption: 'coarse' })) },
  ]);
  assert.equal(detectFormat(dir), 'webdataset');
  assert.equal(detectFormat(a), 'webdataset');
  const ds = await loadDataset(dir);
  assert.equal(ds.format, 'webdataset');
  assert.equal(ds.images.length, 3);
  assert.deepEqual(ds.images.map((r) => r.fileName), ['airport_1.jpg', 'farmland_2.tif', '000002.png']);
  assert.deepEqual(ds.images.map((r) => r.split), ['train', 'train', 'train']);
  assert.deepEqual(ds.classes, ['airport', 'farmland']);
  assert.deepEqual(ds.images[2].captions, ['c1', 'c2', 'c3', 'c4', 'c5']);
  assert.equal(ds.images[2].coarseCaption, 'coarse');
  assert.equal(ds.images[0].path, `${a}#000000`);
  const img = await decodeRecordImage(ds.images[1]);
  assert.deepEqual(img, readImageFile(path.join(IMGS, 'ucm', '2.tif')));
  // Without kept bytes, images are re-read from the shard by key.
  const lean = await loadDataset(dir, { keepImageBytes: false });
  assert.equal(lean.images[0].bytes, undefined);
  const budget = await loadDataset(dir, { keepImageBytes: fs.statSync(path.join(IMGS, 'rsicd', '00001.jpg')).size });
  assert.deepEqual(budget.images.map((r) => r.bytes !== undefined), [true, false, false]);
  assert.deepEqual(await decodeRecordImage(budget.images[2]), await decodeRecordImage(ds.images[2]));
  assert.deepEqual(Buffer.from(await readRecordImageBytes(lean.images[1])), fs.readFileSync(path.join(IMGS, 'ucm', '2.tif')));
  // Streaming interface yields records one by one with their bytes.
  let n = 0;
  for await (const r of streamWebdataset([a])) { n++; assert.ok(r.imageBytes.length > 1000); }
  assert.equal(n, 2);
  fs.rmSync(dir, { recursive: true, force: true });
});
