import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { detectFormat, loadDataset, loadDatasetSync, loadPirJsonSplits, precompLayout } from '../src/data/loaders';
import { CAPTIONS_PER_IMAGE, RetrievalDataset, sceneClassFromFileName, splitView } from '../src/data/types';
import { projectRoot } from '../src/utils/fs';

const CAPS = path.resolve(projectRoot(), '..', 'shared', 'real', 'captions');
const IMGS = path.resolve(projectRoot(), '..', 'shared', 'real', 'images');

function nCaptions(ds: RetrievalDataset): number {
  return ds.images.reduce((a, r) => a + r.captions.length, 0);
}
function last<T>(xs: T[]): T {
  return xs[xs.length - 1];
}

test('every file in ../shared/real/captions is covered by this test', () => {
  const files: string[] = [];
  for (const d of fs.readdirSync(CAPS)) for (const f of fs.readdirSync(path.join(CAPS, d))) files.push(`${d}/${f}`);
  const covered = ['karpathy/ucm_dataset.json', 'pir-json/rsicd_test.json', 'pir-json/rsicd_val.json', 'pir-json/rsitmd_test.json',
    'pir-json/rsitmd_train.json', 'pir-json/rsitmd_val.json', 'precomp/rsicd_sample_caps.txt', 'precomp/rsicd_sample_filename.txt',
    'precomp/rsicd_test_caps.txt', 'precomp/rsicd_test_filename.txt', 'precomp/rsitmd_test_caps.txt', 'precomp/rsitmd_test_filename.txt'];
  assert.deepEqual(files.sort(), covered.sort());
});

test('Karpathy UCM: 2,100 images × 5, splits 1680/210/210, raw captions kept, numeric names → no class', () => {
  const f = path.join(CAPS, 'karpathy', 'ucm_dataset.json');
  assert.equal(detectFormat(f), 'karpathy');
  const ds = loadDatasetSync(f, { imagesRoot: path.join(IMGS, 'ucm') });
  assert.equal(ds.name, 'UCM');
  assert.equal(ds.format, 'karpathy');
  assert.equal(ds.images.length, 2100);
  assert.equal(nCaptions(ds), 10500);
  const count = (s: string): number => ds.images.filter((r) => r.split === s).length;
  assert.deepEqual([count('train'), count('val'), count('test')], [1680, 210, 210]);
  const first = ds.images[0];
  assert.equal(first.fileName, '1.tif');
  assert.equal(first.path, path.join(IMGS, 'ucm', '1.tif'));
  assert.equal(first.captions[0], 'There is a piece of farmland .');
  assert.equal(first.sceneClass, null);
  assert.equal(first.sourceId, 0);
  const l = last(ds.images);
  assert.equal(l.fileName, '2100.tif');
  assert.equal(l.split, 'test');
  assert.equal(l.captions[4], 'There are four tennis courts with a road and some houses beside .');
  assert.deepEqual(ds.classes, []);
  const v = splitView(ds, 'test');
  assert.equal(v.captions.length, 1050);
  assert.equal(v.txt2img[5], 1);
  assert.deepEqual(v.img2txt[209], [1045, 1046, 1047, 1048, 1049]);
});

test('PIR JSON RSITMD train: one record per caption grouped into 3,435 images × 5; classes = label_name set', () => {
  const f = path.join(CAPS, 'pir-json', 'rsitmd_train.json');
  assert.equal(detectFormat(f), 'pir-json');
  const ds = loadDatasetSync(f);
  assert.equal(ds.images.length, 3435);
  assert.equal(nCaptions(ds), 17175);
  assert.ok(ds.images.every((r) => r.split === 'train' && r.captions.length === 5));
  assert.equal(ds.images[0].fileName, 'train/bridge_942.tif');
  assert.equal(ds.images[0].sourceId, 539);
  assert.equal(ds.images[0].captions[0], 'The river banks decorated with trees, grass and houses are connected by bridges.');
  assert.equal(last(ds.images).fileName, 'train/intersection_479.tif');
  assert.equal(last(last(ds.images).captions), 'On one side of the crossroads there was an open field');
  assert.equal(last(ds.images).sourceId, 28);
  const raw = JSON.parse(fs.readFileSync(f, 'utf8')) as { image: string; label_name: string }[];
  const labelNames = [...new Set(raw.map((r) => r.label_name))].sort();
  assert.equal(labelNames.length, 33);
  assert.deepEqual(ds.classes, labelNames);
  for (const r of raw.slice(0, 500)) assert.equal(sceneClassFromFileName(r.image), r.label_name);
  assert.equal(ds.images.filter((r) => r.sceneClass === 'plane').length, 5);
});

test('PIR JSON eval files: RSITMD val/test, RSICD val/test, 5 captions each, numeric RSICD names have no class', () => {
  const cases: [string, number, string, string, string, string, number][] = [
    ['rsitmd_test.json', 452, 'test/parking_229.tif', 'Next door is a wide road.', 'test/desert_113.tif', 'Two dark green cracks cross the yellow desert.', 0],
    ['rsitmd_val.json', 856, 'val/farmland_1767.tif', 'Some land is naked big surface.', 'val/beach_833.tif', 'White waves between the yellow sand beach and the green ocean.', 0],
    ['rsicd_test.json', 1093, 'test/bridge_358.jpg', 'a large number of trees are planted on both sides of the bridge .', 'test/commercial_49.jpg', 'many buildings are in a commercial area .', 66],
    ['rsicd_val.json', 1966, 'val/00017.jpg', 'a basketball court stands at the street corner with a spare area .', 'val/port_121.jpg', 'several boats are in a large port near many buildings .', 166],
  ];
  for (const [file, n, firstName, firstCap, lastName, lastCap, numeric] of cases) {
    const ds = loadDatasetSync(path.join(CAPS, 'pir-json', file));
    const split = file.includes('test') ? 'test' : 'val';
    assert.equal(ds.images.length, n, file);
    assert.equal(nCaptions(ds), n * CAPTIONS_PER_IMAGE, file);
    assert.ok(ds.images.every((r) => r.split === split), file);
    assert.equal(ds.images[0].fileName, firstName, file);
    assert.equal(ds.images[0].captions[0], firstCap, file);
    assert.equal(last(ds.images).fileName, lastName, file);
    assert.equal(last(ds.images).captions[4], lastCap, file);
    assert.equal(ds.images.filter((r) => r.sceneClass === null).length, numeric, file);
  }
  const rsicd = loadDatasetSync(path.join(CAPS, 'pir-json', 'rsicd_test.json'));
  assert.equal(rsicd.classes.length, 30);
});

test('PIR JSON trio merges into one dataset with unique ids', () => {
  const ds = loadPirJsonSplits({
    train: path.join(CAPS, 'pir-json', 'rsitmd_train.json'),
    val: path.join(CAPS, 'pir-json', 'rsitmd_val.json'),
    test: path.join(CAPS, 'pir-json', 'rsitmd_test.json'),
  });
  assert.equal(ds.name, 'rsitmd');
  assert.equal(ds.images.length, 3435 + 856 + 452);
  assert.deepEqual(ds.images.map((r) => r.imageId), ds.images.map((_, i) => i));
  assert.equal(ds.images[3435].fileName, 'val/farmland_1767.tif');
  assert.equal(ds.classes.length, 33);
});

test('precomp: sample (grouped 11 names ↔ 55 captions) and test files (one name per caption)', () => {
  const sample = path.join(CAPS, 'precomp', 'rsicd_sample_caps.txt');
  assert.equal(detectFormat(sample), 'precomp');
  assert.equal(precompLayout(sample), 'grouped');
  const s = loadDatasetSync(sample, { split: 'train', imagesRoot: path.join(IMGS, 'rsicd') });
  assert.equal(s.images.length, 11);
  assert.equal(nCaptions(s), 55);
  assert.equal(s.images[0].fileName, '00001.jpg');
  assert.equal(s.images[0].captions[0], 'a football field with several buildiings surroudned .');
  assert.equal(s.images[0].captions[2], 'many buildings and green trees are around a playground .');
  assert.equal(last(s.images).fileName, '00011.jpg');
  assert.equal(last(s.images).captions[4], 'some white storage tanks are semi-surrounded by many blue simple workshop .');
  assert.ok(s.images.every((r) => fs.existsSync(r.path)));
  const cases: [string, number, string, string, string, string, number][] = [
    ['rsicd_test', 1093, 'airport_348.jpg', 'the airport is very large .', '00720.jpg', 'three tennis courts are next to a crossroads .', 30],
    ['rsitmd_test', 452, 'boat_0.tif', 'Two large ships loaded with cargo were moored on both sides of the gray port.', 'storagetanks_451.tif',
      'The storage tanks are on the floor and some containers are arranged neatly.', 32],
  ];
  for (const [prefix, n, firstName, firstCap, lastName, lastCap, nClasses] of cases) {
    const viaNames = path.join(CAPS, 'precomp', `${prefix}_filename.txt`);
    assert.equal(precompLayout(viaNames), 'per-caption');
    const ds = loadDatasetSync(viaNames);
    assert.equal(ds.name, prefix);
    assert.equal(ds.images.length, n, prefix);
    assert.equal(nCaptions(ds), 5 * n, prefix);
    assert.ok(ds.images.every((r) => r.split === 'test' && r.captions.length === 5), prefix);
    assert.equal(ds.images[0].fileName, firstName);
    assert.equal(ds.images[0].captions[0], firstCap);
    assert.equal(last(ds.images).fileName, lastName);
    assert.equal(last(last(ds.images).captions), lastCap);
    assert.equal(ds.classes.length, nClasses, prefix);
  }
});

test('precomp test files and PIR JSON test files describe the same RSITMD/RSICD test images', () => {
  for (const name of ['rsitmd', 'rsicd']) {
    const a = loadDatasetSync(path.join(CAPS, 'precomp', `${name}_test_caps.txt`));
    const b = loadDatasetSync(path.join(CAPS, 'pir-json', `${name}_test.json`));
    const strip = (f: string): string => f.replace(/^test\//, '');
    assert.deepEqual(a.images.map((r) => r.fileName).sort(), b.images.map((r) => strip(r.fileName)).sort(), name);
    assert.deepEqual(a.classes, b.classes, name);
  }
});

test('loadDataset (async entry point) agrees with the sync loaders', async () => {
  const f = path.join(CAPS, 'pir-json', 'rsitmd_test.json');
  assert.deepEqual(await loadDataset(f), loadDatasetSync(f));
});

test('sceneClassFromFileName follows the reference prefix rule', () => {
  assert.equal(sceneClassFromFileName('airport_12.jpg'), 'airport');
  assert.equal(sceneClassFromFileName('train/bridge_942.tif'), 'bridge');
  assert.equal(sceneClassFromFileName('00001.jpg'), null);
  assert.equal(sceneClassFromFileName('val/00017.jpg'), null);
  assert.equal(sceneClassFromFileName('fmow_stadium_211_3_msrgb.jpg'), 'fmow');
  assert.equal(sceneClassFromFileName('viaduct.png'), 'viaduct');
});
