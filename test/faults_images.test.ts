import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as zlib from 'zlib';
import { decodeImage, encodeJpeg, encodePng, encodeTiff, maxImagePixels, RgbImage, setMaxImagePixels, DEFAULT_MAX_IMAGE_PIXELS } from '../src/io/image_codecs';
import { crc32 } from '../src/io/zip';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { checkDataset } from '../src/data/check';

function noise(w: number, h: number, seed = 1): RgbImage {
  const data = new Uint8Array(w * h * 3);
  let s = seed;
  for (let i = 0; i < data.length; i++) { s = (s * 1103515245 + 12345) >>> 0; data[i] = (s >>> 16) & 255; }
  return { width: w, height: h, data };
}

function chunk(type: string, data: Uint8Array): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}

/** A PNG with the given header size and IDAT payload (valid framing and CRCs). */
function craftPng(width: number, height: number, idat: Uint8Array): Uint8Array {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0); ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; ihdr[9] = 2; // 8-bit RGB
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', idat), chunk('IEND', new Uint8Array(0))]);
}

test('PNG whose compressed image data stops half-way (framing and CRCs valid) is refused, the same way every time', () => {
  const w = 128, h = 128;
  const rows = Buffer.alloc(h * (w * 3 + 1));
  const img = noise(w, h);
  for (let y = 0; y < h; y++) Buffer.from(img.data.subarray(y * w * 3, (y + 1) * w * 3)).copy(rows, y * (w * 3 + 1) + 1);
  const full = zlib.deflateSync(rows);
  const ok = decodeImage(craftPng(w, h, full), 'whole.png');
  assert.deepEqual(ok.data, img.data);
  const cut = craftPng(w, h, full.subarray(0, full.length >> 1));
  const msgs = new Set<string>();
  for (let k = 0; k < 3; k++) assert.throws(() => decodeImage(cut, 'half.png'), (e: Error) => { msgs.add(e.message); return /half\.png/.test(e.message) && /truncated/.test(e.message); });
  assert.equal(msgs.size, 1, [...msgs].join(' | '));
  // A complete zlib stream with too few scanlines is also refused (not black rows).
  const short = craftPng(w, h, zlib.deflateSync(rows.subarray(0, rows.length >> 1)));
  assert.throws(() => decodeImage(short, 'short.png'), /short\.png.*holds \d+ of the \d+ bytes.*truncated image data/);
});

test('PNG cut at several points (file truncation) names the file and the truncation', () => {
  const png = encodePng(noise(64, 64));
  for (const at of [10, 30, 60, png.length >> 1, png.length - 6]) {
    assert.throws(() => decodeImage(png.subarray(0, at), `cut${at}.png`), (e: Error) => e.message.startsWith(`cut${at}.png: cannot decode PNG image:`) && /truncated|CRC/.test(e.message), `cut at ${at}`);
  }
});

test('a ~109-byte PNG claiming 10000×10000 or 20000×20000 is refused from its header, fast and without allocating', () => {
  for (const side of [10000, 20000]) {
    const png = craftPng(side, side, zlib.deflateSync(Buffer.alloc(16)));
    assert.ok(png.length < 120, `${png.length} bytes`);
    const before = process.memoryUsage().rss;
    const t0 = Date.now();
    // 10000² is exactly the default 100 MP limit: refused because the data is 16 bytes, not 300 MB;
    // 20000² is above the limit: refused from the header alone.
    const want = side === 10000 ? /huge\.png.*holds 16 of the 300010000 bytes.*truncated image data/ : /huge\.png.*header says 20000×20000 = 400000000 pixels, above the limit of 100000000/;
    assert.throws(() => decodeImage(png, 'huge.png'), want);
    assert.ok(Date.now() - t0 < 500, `${Date.now() - t0} ms`);
    assert.ok(process.memoryUsage().rss - before < 100e6, 'no large allocation');
  }
});

test('one pixel limit for every format, overridable (setMaxImagePixels and KIT_MAX_IMAGE_PIXELS)', () => {
  const img = noise(40, 30);
  const files: [string, Uint8Array][] = [['a.png', encodePng(img)], ['a.jpg', encodeJpeg(img, 90)], ['a.tif', encodeTiff(img)]];
  assert.equal(maxImagePixels(), DEFAULT_MAX_IMAGE_PIXELS);
  try {
    setMaxImagePixels(1000);
    for (const [name, bytes] of files) assert.throws(() => decodeImage(bytes, name), new RegExp(`${name.replace('.', '\\.')}.*40×30 = 1200 pixels, above the limit of 1000`));
    setMaxImagePixels(null);
    process.env.KIT_MAX_IMAGE_PIXELS = '1199';
    for (const [name, bytes] of files) assert.throws(() => decodeImage(bytes, name), /above the limit of 1199/);
    process.env.KIT_MAX_IMAGE_PIXELS = '1200';
    for (const [name, bytes] of files) assert.equal(decodeImage(bytes, name).width, 40);
    process.env.KIT_MAX_IMAGE_PIXELS = 'lots';
    assert.throws(() => decodeImage(files[0][1], 'a.png'), /KIT_MAX_IMAGE_PIXELS='lots': expected a positive integer/);
  } finally {
    delete process.env.KIT_MAX_IMAGE_PIXELS;
    setMaxImagePixels(null);
  }
});

test('baseline JPEG whose entropy-coded data stops early (EOI kept) is refused, not padded with grey blocks', () => {
  const jpg = encodeJpeg(noise(96, 96), 95);
  // Find the start of scan, keep half the scan data, then put the EOI back.
  let sos = 2;
  while (!(jpg[sos] === 0xff && jpg[sos + 1] === 0xda)) sos += 2 + ((jpg[sos + 2] << 8) | jpg[sos + 3]);
  const mid = sos + ((jpg.length - sos) >> 1);
  const cut = Buffer.concat([jpg.subarray(0, mid), Buffer.from([0xff, 0xd9])]);
  assert.throws(() => decodeImage(cut, 'cut.jpg'), /cut\.jpg: cannot decode JPEG image: .*(truncated|corrupt)/);
  assert.throws(() => decodeImage(jpg.subarray(0, mid), 'nomarker.jpg'), /nomarker\.jpg: cannot decode JPEG image: .*truncated/);
});

test('data check refuses a PNG whose image data stops half-way, naming the file', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'faults-check-'));
  try {
    const good = encodePng(noise(64, 64, 3));
    const w = 256, h = 256;
    const rows = Buffer.alloc(h * (w * 3 + 1));
    Buffer.from(noise(w, h, 5).data).forEach((v, i) => { rows[Math.floor(i / (w * 3)) * (w * 3 + 1) + 1 + (i % (w * 3))] = v; });
    const full = zlib.deflateSync(rows);
    fs.mkdirSync(path.join(dir, 'images'));
    fs.writeFileSync(path.join(dir, 'images', 'airport_1.png'), good);
    fs.writeFileSync(path.join(dir, 'images', 'airport_2.png'), craftPng(w, h, full.subarray(0, full.length >> 1)));
    const img = (filename: string, imgid: number) => ({ filename, imgid, split: 'train', sentences: [{ raw: 'a plane', tokens: ['a', 'plane'], imgid, sentid: imgid }], sentids: [imgid] });
    fs.writeFileSync(path.join(dir, 'dataset.json'), JSON.stringify({ dataset: 'x', images: [img('airport_1.png', 0), img('airport_2.png', 1)] }));
    const report = await checkDataset(path.join(dir, 'dataset.json'), { imagesRoot: path.join(dir, 'images') });
    assert.equal(report.ok, false);
    assert.equal(report.problems.length, 1);
    assert.match(report.problems[0].message, /airport_2\.png: cannot decode PNG image: .*truncated/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
