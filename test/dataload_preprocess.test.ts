import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'path';
import { readImageFile, RgbImage } from '../src/io/image_codecs';
import { CLIP_MEAN, CLIP_STD, centerCrop, crop, denormalize, evalResize, normalizeInto, preprocessImage, resizeBicubic, resizeShortestSide } from '../src/data/image_preprocess';
import { projectRoot, sha256 } from '../src/utils/fs';
import { PIL_UCM } from './dataload_pil_reference';

const REAL = path.resolve(projectRoot(), '..', 'shared', 'real', 'images');

test('bicubic resize is byte-identical to Pillow Image.resize(BICUBIC) on all 9 UCM TIFFs (down, anisotropic, up)', () => {
  for (const [name, ref] of Object.entries(PIL_UCM)) {
    const img = readImageFile(path.join(REAL, name));
    assert.equal(sha256(resizeBicubic(img, 224, 224).data), ref.r224sha, `${name} 224×224`);
    assert.equal(sha256(resizeBicubic(img, 100, 70).data), ref.r100x70sha, `${name} 100×70`);
    assert.equal(sha256(resizeBicubic(img, 300, 260).data), ref.r300x260sha, `${name} 300×260`);
  }
});

test('resize to the same size is an exact copy; a constant image stays constant', () => {
  const img = readImageFile(path.join(REAL, 'rsicd', '00003.jpg'));
  assert.deepEqual(resizeBicubic(img, 224, 224).data, img.data);
  const flat: RgbImage = { width: 50, height: 40, data: new Uint8Array(50 * 40 * 3).fill(77) };
  assert.ok(resizeBicubic(flat, 17, 23).data.every((v) => v === 77));
  assert.ok(resizeBicubic(flat, 120, 90).data.every((v) => v === 77));
});

test('resize with a box matches Pillow resize(box=...); crop-then-resize (torchvision resized_crop) matches Pillow too', () => {
  const img = readImageFile(path.join(REAL, 'ucm', '3.tif'));
  assert.equal(sha256(resizeBicubic(img, 64, 64, [10, 20, 210, 180]).data), 'ddc7d148821bdcbe6484e9710fec181d8012e8b888cca3a105e097400579e7c0');
  assert.equal(sha256(resizeBicubic(crop(img, 10, 20, 200, 160), 64, 64).data), '9dd2ee0981d2941d045269b2c9376300478b3007f06b624fb7ffdebe47d4ca3e');
  assert.deepEqual(centerCrop(img, 256).data, img.data);
});

test('open-domain eval transform: Resize(shortest side) + CenterCrop, torchvision sizes and offsets', () => {
  const wide: RgbImage = { width: 300, height: 200, data: new Uint8Array(300 * 200 * 3) };
  for (let x = 0; x < 300; x++) for (let y = 0; y < 200; y++) wide.data[(y * 300 + x) * 3] = x < 150 ? 0 : 255;
  const r = resizeShortestSide(wide, 224);
  assert.equal(r.height, 224);
  assert.equal(r.width, 336); // int(224·300/200)
  const cc = evalResize(wide, 224, 'resize-center-crop');
  assert.equal(cc.width, 224);
  assert.equal(cc.height, 224);
  // Offset (336−224)/2 = 56: the left-right edge sits at column 168 − 56 = 112.
  assert.equal(cc.data[(100 * 224 + 105) * 3], 0);
  assert.equal(cc.data[(100 * 224 + 119) * 3], 255);
  // Python round-half-even: (225 − 224)/2 = 0.5 → 0.
  const odd: RgbImage = { width: 225, height: 225, data: new Uint8Array(225 * 225 * 3).map((_, i) => Math.floor(i / 3) % 225) };
  const c = centerCrop(odd, 224);
  assert.equal(c.data[0], 0);
  const closed = evalResize(wide, 224, 'resize');
  assert.equal(closed.width, 224);
  assert.equal(closed.height, 224);
});

test('normalisation: (v/255 − mean)/std in float32, NHWC; denormalize inverts', () => {
  const img: RgbImage = { width: 2, height: 1, data: new Uint8Array([0, 128, 255, 10, 20, 30]) };
  const out = new Float32Array(12);
  normalizeInto(img, out, 6);
  const f = Math.fround;
  assert.equal(out[6], f(f(f(0 / 255) - f(CLIP_MEAN[0])) / f(CLIP_STD[0])));
  assert.equal(out[7], f(f(f(128 / 255) - f(CLIP_MEAN[1])) / f(CLIP_STD[1])));
  assert.ok(Math.abs(out[8] - (1 - 0.40821073) / 0.27577711) < 1e-6);
  assert.deepEqual(Array.from(out.subarray(0, 6)), [0, 0, 0, 0, 0, 0]);
  assert.deepEqual(denormalize(out.subarray(6), 2, 1).data, img.data);
  const x = preprocessImage(readImageFile(path.join(REAL, 'ucm', '1.tif')));
  assert.equal(x.length, 224 * 224 * 3);
  assert.ok(x.every((v) => Number.isFinite(v) && v > -2 && v < 2.2));
});

test('normalisation is bit-exact with torchvision ToTensor + Normalize (torch 1.13 float32) for all 256 values × 3 channels', () => {
  const img: RgbImage = { width: 256, height: 1, data: new Uint8Array(768) };
  for (let v = 0; v < 256; v++) img.data[3 * v] = img.data[3 * v + 1] = img.data[3 * v + 2] = v;
  const out = new Float32Array(768);
  normalizeInto(img, out, 0);
  const chw = new Float32Array(768); // torch layout [3, 256]
  for (let c = 0; c < 3; c++) for (let v = 0; v < 256; v++) chw[c * 256 + v] = out[3 * v + c];
  // sha256 of torch's `x.float().div(255).sub(mean).div(std)` as float32 bytes, computed with /usr/bin/python3 + torch.
  assert.equal(sha256(new Uint8Array(chw.buffer)), '5d23c0b115c373c73875b37dce36aa6a54af484dd4332d5f9d07d6ebecb20900');
});

test('end to end (decode → torchvision-style eval transform → normalise) is bit-exact with PIL + torch', () => {
  // Reference: PIL 9.4 resize(BICUBIC) [+ crop] → torch float32 ToTensor/Normalize, NHWC bytes hashed.
  const hash = (x: Float32Array): string => sha256(new Uint8Array(x.buffer, x.byteOffset, x.byteLength));
  const ucm1 = readImageFile(path.join(REAL, 'ucm', '1.tif'));
  assert.equal(hash(preprocessImage(ucm1, { transform: 'resize' })), '2b4e04ec471aa39e63d0f99f3b58945cbe6b1d201ffa73f67989a37d64a779bd');
  const rsicd1 = readImageFile(path.join(REAL, 'rsicd', '00001.jpg'));
  assert.equal(hash(preprocessImage(rsicd1, { transform: 'resize-center-crop', size: 200 })), '4cb77b69cb86fa119958ac9bc4aa56aa530483a437e2827475c1703a4a9d814e');
  // Non-square input: Resize(224) → 286×224, CenterCrop(224) at left offset 31.
  const ucm4 = crop(readImageFile(path.join(REAL, 'ucm', '4.tif')), 0, 0, 256, 200);
  assert.equal(resizeShortestSide(ucm4, 224).width, 286);
  assert.equal(hash(preprocessImage(ucm4, { transform: 'resize-center-crop' })), 'e3918fcc7c1943f47e2db99f47ff95081a05471b04a56c10aa41e14cb3149aa9');
});
