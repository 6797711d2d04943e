import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { decodeImage, encodeJpeg, encodePng, encodeTiff, lzwDecode, packBits, readImageFile, sniffImageFormat, unpackBits, RgbImage } from '../src/io/image_codecs';
import { projectRoot, sha256 } from '../src/utils/fs';
import { JPEGTRAN_RESTART, PIL_JPEGS, PIL_JPEGS_EXTRA, PIL_RSICD, PIL_RSICD_SHA, PIL_TIFFS, PIL_UCM } from './dataload_pil_reference';

const REAL = path.resolve(projectRoot(), '..', 'shared', 'real', 'images');

function pattern(w: number, h: number): RgbImage {
  const data = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    const i = (y * w + x) * 3;
    data[i] = (x * 11) % 256; data[i + 1] = (y * 15) % 256; data[i + 2] = ((x * y) >> 1) % 256;
  }
  return { width: w, height: h, data };
}

test('all 9 UCM TIFFs decode byte-identical to Pillow', () => {
  assert.equal(Object.keys(PIL_UCM).length, 9);
  for (const [name, ref] of Object.entries(PIL_UCM)) {
    const img = readImageFile(path.join(REAL, name));
    assert.equal(img.width, 256, name);
    assert.equal(img.height, 256, name);
    assert.equal(sha256(img.data), ref.sha, name);
    const sums = [0, 0, 0];
    for (let i = 0; i < img.data.length; i++) sums[i % 3] += img.data[i];
    assert.deepEqual(sums, ref.sum, name);
    const at = (y: number, x: number): number[] => Array.from(img.data.subarray((y * 256 + x) * 3, (y * 256 + x) * 3 + 3));
    assert.deepEqual([at(0, 0), at(17, 33), at(255, 255)], ref.px, name);
  }
});

test('all 11 RSICD JPEGs decode byte-identical to Pillow (libjpeg-turbo ISLOW IDCT, fancy upsampling, YCC tables)', () => {
  assert.equal(Object.keys(PIL_RSICD_SHA).length, 11);
  for (const [name, sha] of Object.entries(PIL_RSICD_SHA)) {
    const img = readImageFile(path.join(REAL, name));
    assert.equal(img.width, 224, name);
    assert.equal(img.height, 224, name);
    assert.equal(sha256(img.data), sha, name);
    const ref = PIL_RSICD[name];
    const sums = [0, 0, 0];
    for (let i = 0; i < img.data.length; i++) sums[i % 3] += img.data[i];
    assert.deepEqual(sums, ref.sum, name);
    for (const [y, x, r, g, b] of ref.samples) assert.deepEqual(Array.from(img.data.subarray((y * 224 + x) * 3, (y * 224 + x) * 3 + 3)), [r, g, b], `${name} (${y},${x})`);
  }
});

test('progressive JPEG (jpeg-js fallback + libjpeg upsampling/colour) stays within ±3 of Pillow', () => {
  const ref = PIL_JPEGS_EXTRA.progressive;
  const img = decodeImage(Buffer.from(ref.jpeg, 'base64'), 'progressive.jpg');
  const want = Buffer.from(ref.pil, 'base64');
  let maxd = 0;
  for (let i = 0; i < want.length; i++) maxd = Math.max(maxd, Math.abs(img.data[i] - want[i]));
  assert.ok(maxd <= 3, `max |Δ| ${maxd}`);
});

test('TIFFs written by Pillow/libtiff: LZW, LZW+predictor, PackBits, gray, RGBA, big LZW with table resets', () => {
  const want = 'c55442263a1833f2b502b1681b9a940b7e4779a1521827309dd58006042bdf52';
  for (const k of ['tiff_lzw', 'lzw_pred', 'packbits', 'rgba']) {
    const img = decodeImage(Buffer.from(PIL_TIFFS[k], 'base64'), k);
    assert.equal(img.width, 23); assert.equal(img.height, 17);
    assert.equal(sha256(img.data), want, k);
  }
  const g = decodeImage(Buffer.from(PIL_TIFFS.gray_lzw, 'base64'), 'gray');
  const gray = new Uint8Array(23 * 17);
  for (let i = 0; i < gray.length; i++) { gray[i] = g.data[3 * i]; assert.equal(g.data[3 * i + 1], gray[i]); }
  assert.equal(sha256(gray), 'f28e197c8c4558a26fd6e67529beef7e43ffaffe3553b3582ec639d21e9f751b');
  const big = decodeImage(Buffer.from(PIL_TIFFS.big_lzw, 'base64'), 'big');
  assert.equal(big.width, 96); assert.equal(big.height, 64);
  assert.equal(sha256(big.data), '68b39ecf930ea4bd82817acd882915e153c3ab009cd9d5f4bdb2a007048d6c1a');
});

test('own TIFF writer round-trips: little/big endian, strips, PackBits, gray', () => {
  const img = pattern(31, 13);
  for (const opts of [{}, { littleEndian: false }, { rowsPerStrip: 4 }, { compression: 'packbits' as const, rowsPerStrip: 5, littleEndian: false }]) {
    const back = decodeImage(encodeTiff(img, opts), `tiff ${JSON.stringify(opts)}`);
    assert.deepEqual(back, img, JSON.stringify(opts));
  }
  const g = decodeImage(encodeTiff(img, { gray: true }), 'gray');
  for (let i = 0; i < 31 * 13; i++) assert.equal(g.data[3 * i + 2], img.data[3 * i]);
});

test('PackBits and LZW primitives', () => {
  const src = new Uint8Array([1, 1, 1, 1, 2, 3, 4, 4, 5, ...new Array(200).fill(9), 7]);
  assert.deepEqual(unpackBits(packBits(src), src.length), src);
  // Apple's documented example.
  const packed = new Uint8Array([0xfe, 0xaa, 0x02, 0x80, 0x00, 0x2a, 0xfd, 0xaa, 0x03, 0x80, 0x00, 0x2a, 0x22, 0xf7, 0xaa]);
  assert.deepEqual(Array.from(unpackBits(packed, 24)), [0xaa, 0xaa, 0xaa, 0x80, 0x00, 0x2a, 0xaa, 0xaa, 0xaa, 0xaa, 0x80, 0x00, 0x2a, 0x22, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa]);
  assert.throws(() => unpackBits(new Uint8Array([0x05, 1, 2]), 6), /truncated/);
  assert.throws(() => lzwDecode(new Uint8Array([0x80, 0x00]), 10), /truncated|LZW/);
});

test('PNG and JPEG round trips', () => {
  const img = pattern(40, 30);
  assert.deepEqual(decodeImage(encodePng(img), 'x.png'), img);
  const j = decodeImage(encodeJpeg(img, 95), 'x.jpg');
  assert.equal(j.width, 40);
  let err = 0;
  for (let i = 0; i < img.data.length; i++) err += Math.abs(j.data[i] - img.data[i]);
  assert.ok(err / img.data.length < 8, `JPEG q95 mean error ${err / img.data.length}`);
  assert.equal(sniffImageFormat(encodePng(img)), 'png');
});

test('undecodable and unsupported input → errors naming the file', () => {
  assert.throws(() => decodeImage(new Uint8Array([1, 2, 3, 4, 5]), 'junk.bin'), /junk\.bin: not a PNG, JPEG or TIFF/);
  const tif = encodeTiff(pattern(16, 16));
  assert.throws(() => decodeImage(tif.subarray(0, tif.length - 100), 'cut.tif'), /cut\.tif: cannot decode TIFF.*truncated/);
  const lzwish = new Uint8Array(tif);
  // Compression tag value (entry 4 of the IFD) → 7 (JPEG-in-TIFF): unsupported.
  const v = new DataView(lzwish.buffer);
  const e = 8 + 2 + 3 * 12;
  assert.equal(v.getUint16(e, true), 259);
  v.setUint16(e + 8, 7, true);
  assert.throws(() => decodeImage(lzwish, 'jpeg-in.tif'), /jpeg-in\.tif: cannot decode TIFF image: compression 7 is not supported/);
  const jpg = fs.readFileSync(path.join(REAL, 'rsicd', '00001.jpg'));
  assert.throws(() => decodeImage(jpg.subarray(0, 600), 'cut.jpg'), /cut\.jpg: cannot decode JPEG/);
  assert.throws(() => readImageFile('/nonexistent/x.tif'), /\/nonexistent\/x\.tif: cannot read image file: ENOENT/);
});

test('JPEG sampling layouts 4:2:0, 4:2:2, 4:4:4 and gray at an odd size (37×29) are byte-identical to Pillow', () => {
  for (const [name, ref] of Object.entries(PIL_JPEGS)) {
    const img = decodeImage(Buffer.from(ref.jpeg, 'base64'), name);
    const want = Buffer.from(ref.pil, 'base64');
    assert.equal(img.width, 37, name);
    assert.equal(img.height, 29, name);
    assert.equal(img.data.length, want.length, name);
    assert.deepEqual(Buffer.from(img.data), want, name);
  }
});

test('restart intervals (jpegtran -restart, lossless) decode to the same pixels as Pillow gives the original', () => {
  for (const [name, b64] of Object.entries(JPEGTRAN_RESTART)) {
    const bytes = Buffer.from(b64, 'base64');
    assert.ok(bytes.includes(Buffer.from([0xff, 0xdd])), `${name} has a DRI segment`);
    const img = decodeImage(bytes, `${name}-restart.jpg`);
    assert.deepEqual(Buffer.from(img.data), Buffer.from(PIL_JPEGS[name].pil, 'base64'), name);
  }
});
