import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { measureLoaderThroughput } from '../src/data/batches';
import { readImageFile, RgbImage } from '../src/io/image_codecs';
import { PIR_AUGMENT, OPEN_CLIP_AUGMENT, applyRandAugmentOp, augmentImage, autoContrast, brightness, equalize, hflip, randomResizedCropParams, sharpness, warpAffine } from '../src/data/augment';
import { SeedStream } from '../src/utils/random';
import { projectRoot, sha256 } from '../src/utils/fs';

const REAL = path.resolve(projectRoot(), '..', 'shared', 'real', 'images');

test('AutoContrast and Equalize are byte-identical to Pillow ImageOps on a real UCM image', () => {
  const im = readImageFile(path.join(REAL, 'ucm', '1.tif'));
  assert.equal(sha256(autoContrast(im).data), 'ececd265b9083eeaebc669a11bda7ea4bafa402cded9e080d47247804b818715');
  assert.equal(sha256(equalize(im).data), 'e52dbe4646abc66667440ff48d863e819ec1ac1f40f09a24811721b9877ca61f');
});

test('RandomResizedCrop parameters: area in scale range, ratio in range, inside the image', () => {
  const rng = new SeedStream(7);
  let minA = 1, maxA = 0;
  for (let i = 0; i < 2000; i++) {
    const p = randomResizedCropParams(256, 256, [0.5, 1], [3 / 4, 4 / 3], rng);
    assert.ok(p.top >= 0 && p.left >= 0 && p.top + p.h <= 256 && p.left + p.w <= 256);
    const a = (p.w * p.h) / (256 * 256);
    minA = Math.min(minA, a); maxA = Math.max(maxA, a);
    assert.ok(a >= 0.49 && a <= 1.0001, `area ${a}`);
    assert.ok(p.w / p.h > 0.74 && p.w / p.h < 1.35, `ratio ${p.w / p.h}`);
  }
  assert.ok(minA < 0.52 && maxA > 0.95, `areas span [${minA}, ${maxA}]`);
  // Fallback: a very wide image gets the centre crop at the max ratio.
  const fb = randomResizedCropParams(1000, 10, [0.99, 1], [1, 1], new SeedStream(1));
  assert.deepEqual(fb, { top: 0, left: 495, h: 10, w: 10 });
});

test('geometric and photometric ops', () => {
  const im = readImageFile(path.join(REAL, 'rsicd', '00004.jpg'));
  assert.deepEqual(hflip(hflip(im)).data, im.data);
  assert.equal(hflip(im).data[0], im.data[(223) * 3]);
  // Translate by an integer offset: exact shift, fill 128.
  const t = warpAffine(im, [1, 0, -7, 0, 1, 0]);
  assert.equal(t.data[(10 * 224 + 20) * 3 + 1], im.data[(10 * 224 + 27) * 3 + 1]);
  assert.equal(t.data[(10 * 224 + 220) * 3], 128);
  const b = brightness(im, 1.36);
  assert.equal(b.data[0], Math.min(255, Math.trunc(im.data[0] * 1.36)));
  assert.ok(b.data.some((v) => v === 255));
  const flat: RgbImage = { width: 8, height: 8, data: new Uint8Array(192).fill(90) };
  assert.deepEqual(sharpness(flat, 1.36).data, flat.data);
  const rot = applyRandAugmentOp(im, 'Rotate', 7, new SeedStream(3));
  assert.equal(rot.data[0], 128); // a corner leaves the image at ±21°
  const c = (112 * 224 + 112) * 3;
  assert.ok(Math.abs(rot.data[c] - im.data[c]) < 60);
  for (const op of ['ShearX', 'ShearY', 'TranslateY', 'Identity', 'Sharpness'] as const) {
    const o = applyRandAugmentOp(im, op, 7, new SeedStream(5));
    assert.equal(o.data.length, im.data.length, op);
  }
});

test('full train transform: size, determinism per seed, variety across seeds', () => {
  const im = readImageFile(path.join(REAL, 'ucm', '5.tif'));
  const a = augmentImage(im, PIR_AUGMENT, new SeedStream(11));
  const b = augmentImage(im, PIR_AUGMENT, new SeedStream(11));
  const c = augmentImage(im, PIR_AUGMENT, new SeedStream(12));
  assert.equal(a.width, 224);
  assert.equal(a.height, 224);
  assert.deepEqual(a.data, b.data);
  assert.notDeepEqual(a.data, c.data);
  const o = augmentImage(im, OPEN_CLIP_AUGMENT, new SeedStream(1));
  assert.equal(o.width, 224);
  const none = augmentImage(im, { ...PIR_AUGMENT, scale: null, flipProb: 0, randAugment: null }, new SeedStream(1));
  assert.equal(none.width, 224);
});

test('measureLoaderThroughput reports positive wall and CPU rates for every stage', () => {
  const files = ['1.tif', '2.tif'].map((f) => ({ name: f, bytes: fs.readFileSync(path.join(REAL, 'ucm', f)) }));
  const t = measureLoaderThroughput(files, { repeats: 1, augment: { ...PIR_AUGMENT, size: 32 }, size: 32, seeds: new SeedStream(0) });
  assert.equal(t.images, 2);
  for (const v of [t.decodePerSec, t.evalPerSec, t.trainPerSec, t.cachedTrainPerSec, ...Object.values(t.cpu)]) assert.ok(Number.isFinite(v) && v > 0);
});
