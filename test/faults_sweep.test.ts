/**
 * Corruption sweep: every loader and reader is fed corrupted variants of a valid file (truncations at
 * several points, flipped bytes at several places, huge headers). Each variant must give either a
 * clear error (an Error naming the file, not a raw TypeError/RangeError from deep inside) or a correct
 * result, within bounded time and memory, and leave no file behind.
 *
 * "Correct" is strict where the format can tell: a truncated file is an error unless the cut only
 * removed bytes the format does not need (then the result equals the original); flipped bytes in
 * CRC-checked formats (PNG chunks, zip entries) are errors or the original result. Formats without
 * any checksum over their payload (JPEG/TIFF pixels, safetensors/tar data, text files) cannot detect
 * a flipped payload byte: there the result must be well-formed (right size/shape), and that limit is
 * stated in the README.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { decodeImage, encodeJpeg, encodePng, encodeTiff, RgbImage } from '../src/io/image_codecs';
import { readSafetensors, writeSafetensors, f32Tensor, i64Tensor, SafeTensor } from '../src/io/safetensors';
import { writeTorchStateDict } from '../src/io/torch_pickle';
import { readStateDictBytes } from '../src/models/checkpoint';
import { writeTar } from '../src/io/tar';
import { loadWebdataset } from '../src/data/loaders/webdataset';
import { loadKarpathy } from '../src/data/loaders/karpathy';
import { loadDataset } from '../src/data/loaders/index';
import { WordTokenizer } from '../src/data/word_tokenizer';
import { ClipTokenizer } from '../src/data/clip_tokenizer';
import { crc32 } from '../src/io/zip';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'faults-sweep-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Longest a single corrupted variant may take. */
const MAX_MS = 3000;
/** Largest RSS growth over one reader's whole sweep. */
const MAX_RSS_GROWTH = 400e6;

function noise(w: number, h: number): RgbImage {
  const data = new Uint8Array(w * h * 3);
  let s = 7;
  for (let i = 0; i < data.length; i++) { s = (s * 1103515245 + 12345) >>> 0; data[i] = (s >>> 16) & 255; }
  return { width: w, height: h, data };
}

/** Cut points and flip points spread over the file (first bytes, middle, last bytes). */
function cuts(n: number): number[] {
  return [...new Set([0, 1, 4, 8, 12, 16, 33, Math.floor(n / 4), Math.floor(n / 2), Math.floor((3 * n) / 4), n - 16, n - 5, n - 1].filter((k) => k >= 0 && k < n))];
}
function flips(n: number): number[] {
  return [...new Set([0, 2, 5, 9, 13, 17, 24, 40, 100, Math.floor(n / 3), Math.floor(n / 2), Math.floor((2 * n) / 3), n - 20, n - 3, n - 1].filter((k) => k >= 0 && k < n))];
}
function flip(b: Uint8Array, at: number): Uint8Array {
  const c = Uint8Array.from(b);
  c[at] ^= 0x5a;
  return c;
}

/** A raw JS error from deep inside a parser rather than a message a user can act on. */
const RAW = /Cannot read propert|is not a function|is not iterable|out of bounds|Invalid typed array length|Invalid array length|Offset is outside|Maximum call stack|RangeError|TypeError/;

type Verdict = 'error' | 'same' | 'sane';

interface Reader<T> {
  name: string;
  /** The file name that must appear in errors. */
  source: string;
  read: (bytes: Uint8Array) => T | Promise<T>;
  same: (a: T, b: T) => boolean;
  sane: (a: T) => boolean;
  /** Whether a flipped payload byte can be detected by the format (then only error/same pass). */
  checksummed: boolean;
  /** Extra crafted variants (huge headers). */
  huge: [string, Uint8Array][];
  /** False for plain text lists, whose truncation at a line (or mid-line) is a shorter valid file. */
  cutDetectable?: boolean;
}

async function sweep<T>(r: Reader<T>, valid: Uint8Array): Promise<Record<Verdict, number>> {
  const ref = await r.read(valid);
  assert.ok(r.sane(ref), `${r.name}: the valid file reads`);
  const counts: Record<Verdict, number> = { error: 0, same: 0, sane: 0 };
  const before = fs.readdirSync(tmp).sort();
  const rss0 = process.memoryUsage().rss;
  const variants: [string, Uint8Array, 'cut' | 'flip' | 'huge'][] = [
    ...cuts(valid.length).map((k) => [`cut@${k}`, valid.subarray(0, k), 'cut'] as [string, Uint8Array, 'cut']),
    ...flips(valid.length).map((k) => [`flip@${k}`, flip(valid, k), 'flip'] as [string, Uint8Array, 'flip']),
    ...r.huge.map(([n, b]) => [n, b, 'huge'] as [string, Uint8Array, 'huge']),
  ];
  for (const [label, bytes, kind] of variants) {
    const what = `${r.name} ${label}`;
    const t0 = Date.now();
    let out: T | null = null;
    let err: unknown = null;
    try {
      out = await r.read(bytes);
    } catch (e) {
      err = e;
    }
    assert.ok(Date.now() - t0 < MAX_MS, `${what}: took ${Date.now() - t0} ms`);
    if (err !== null) {
      assert.ok(err instanceof Error, `${what}: threw a non-Error`);
      assert.ok(err.message.includes(r.source), `${what}: error does not name ${r.source}: ${err.message}`);
      assert.ok(!RAW.test(err.message), `${what}: raw error: ${err.message}`);
      counts.error++;
      continue;
    }
    const o = out as T;
    if (r.same(o, ref)) { counts.same++; continue; }
    const undetectable = (kind === 'flip' && !r.checksummed) || (kind === 'cut' && r.cutDetectable === false);
    assert.ok(undetectable, `${what}: read without error but the result differs from the original`);
    assert.ok(r.sane(o), `${what}: read without error into a malformed result`);
    counts.sane++;
  }
  assert.ok(process.memoryUsage().rss - rss0 < MAX_RSS_GROWTH, `${r.name}: RSS grew by ${((process.memoryUsage().rss - rss0) / 1e6).toFixed(0)} MB`);
  assert.deepEqual(fs.readdirSync(tmp).sort(), before, `${r.name}: files left behind`);
  return counts;
}

const sameImage = (a: RgbImage, b: RgbImage): boolean => a.width === b.width && a.height === b.height && Buffer.compare(Buffer.from(a.data), Buffer.from(b.data)) === 0;
const saneImage = (a: RgbImage): boolean => a.width > 0 && a.height > 0 && a.data.length === a.width * a.height * 3;

function pngWithIhdr(w: number, h: number): Uint8Array {
  const ihdr = Buffer.alloc(17);
  ihdr.write('IHDR', 0, 'latin1');
  ihdr.writeUInt32BE(w, 4); ihdr.writeUInt32BE(h, 8); ihdr[12] = 8; ihdr[13] = 2;
  const len = Buffer.alloc(4); len.writeUInt32BE(13);
  const crc = Buffer.alloc(4); crc.writeUInt32BE(crc32(ihdr));
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), len, ihdr, crc, Buffer.alloc(64)]);
}

test('sweep: image decoders (PNG, JPEG, TIFF none/PackBits)', async () => {
  const img = noise(40, 28);
  const jpg = encodeJpeg(img, 90);
  const sofAt = (() => { let i = 2; while (!(jpg[i] === 0xff && (jpg[i + 1] === 0xc0 || jpg[i + 1] === 0xc1))) i += 2 + ((jpg[i + 2] << 8) | jpg[i + 3]); return i; })();
  const hugeJpg = Uint8Array.from(jpg); hugeJpg[sofAt + 5] = 0xff; hugeJpg[sofAt + 6] = 0xff; hugeJpg[sofAt + 7] = 0xff; hugeJpg[sofAt + 8] = 0xff;
  const tif = encodeTiff(img, { rowsPerStrip: 7 });
  const hugeTif = Uint8Array.from(tif); new DataView(hugeTif.buffer).setUint32(8 + 2 + 8, 0xffffffff, true); // ImageWidth value
  const files: [string, Uint8Array, boolean, [string, Uint8Array][]][] = [
    ['img.png', encodePng(img), true, [['huge 2^31×2^31', pngWithIhdr(0x7fffffff, 0x7fffffff)], ['huge 100000×100000', pngWithIhdr(100000, 100000)]]],
    ['img.jpg', jpg, false, [['huge 65535×65535', hugeJpg]]],
    ['img.tif', tif, false, [['huge width 2^32-1', hugeTif]]],
    ['packbits.tif', encodeTiff(img, { compression: 'packbits', rowsPerStrip: 5 }), false, []],
  ];
  for (const [name, bytes, checksummed, huge] of files) {
    const c = await sweep<RgbImage>({ name, source: name, read: (b) => decodeImage(b, name), same: sameImage, sane: saneImage, checksummed, huge }, bytes);
    assert.ok(c.error >= cuts(bytes.length).length - 2, `${name}: ${JSON.stringify(c)}`);
  }
});

test('sweep: safetensors and torch zip checkpoints', async () => {
  const tensors = new Map<string, SafeTensor>([['w', f32Tensor([4, 4], Array.from({ length: 16 }, (_, i) => i / 3))], ['n', i64Tensor([], [5])]]);
  const st = writeSafetensors(tensors, { format: 'pt' });
  const sameMap = (a: Map<string, SafeTensor>, b: Map<string, SafeTensor>): boolean =>
    a.size === b.size && [...a].every(([k, t]) => { const u = b.get(k); return u !== undefined && u.dtype === t.dtype && JSON.stringify(u.shape) === JSON.stringify(t.shape) && Buffer.compare(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength), Buffer.from(u.data.buffer, u.data.byteOffset, u.data.byteLength)) === 0; });
  const saneMap = (a: Map<string, SafeTensor>): boolean => [...a.values()].every((t) => t.data.length === t.shape.reduce((x, y) => x * y, 1));
  const hugeLen = Uint8Array.from(st); new DataView(hugeLen.buffer).setBigUint64(0, 0x7fffffffffffffffn, true);
  const hugeShape = writeSafetensors(new Map([['w', f32Tensor([1], [1])]]));
  const text = Buffer.from(hugeShape).toString('latin1').replace('"shape":[1]', '"shape":[1e15]');
  await sweep({ name: 'safetensors', source: 'w.safetensors', read: (b) => readSafetensors(b, 'w.safetensors'), same: sameMap, sane: saneMap, checksummed: false, huge: [['header length 2^63', hugeLen], ['shape 1e15', Buffer.from(text, 'latin1')]] }, st);
  // Checkpoints through the content-detecting reader: safetensors and torch zip.
  const pt = writeTorchStateDict(tensors, 'archive');
  const readPt = (b: Uint8Array): Map<string, SafeTensor> => readStateDictBytes(b, 'w.pt').tensors;
  const eocd = pt.length - 22;
  const hugeDir = Uint8Array.from(pt); new DataView(hugeDir.buffer).setUint32(eocd + 12, 0x7fffffff, true); new DataView(hugeDir.buffer).setUint16(eocd + 10, 0xffff, true);
  await sweep({ name: 'torch zip', source: 'w.pt', read: readPt, same: sameMap, sane: saneMap, checksummed: true, huge: [['central directory 2 GB, 65535 entries', hugeDir]] }, pt);
  await sweep({ name: 'checkpoint (safetensors)', source: 'w.pt', read: readPt, same: sameMap, sane: saneMap, checksummed: false, huge: [['header length 2^63', hugeLen]] }, st);
});

test('sweep: webdataset shards, Karpathy JSON, precomp text, word vocabulary', async () => {
  const img = encodePng(noise(8, 8));
  const enc = new TextEncoder();
  const samples = [0, 1, 2].flatMap((k) => [
    { name: `s${k}.img_content`, data: img },
    { name: `s${k}.caption`, data: enc.encode(`caption number ${k}`) },
    { name: `s${k}.img_name`, data: enc.encode(`airport_${k}.png`) },
  ]);
  const tar = writeTar(samples);
  const shard = path.join(tmp, 'shard-train-0000.tar');
  type Ds = { names: string[]; caps: string[][] };
  const viaFile = async (file: string, bytes: Uint8Array, load: (f: string) => Promise<Ds> | Ds): Promise<Ds> => {
    fs.writeFileSync(file, bytes);
    try { return await load(file); } finally { fs.rmSync(file, { force: true }); }
  };
  const summary = (d: { images: { fileName: string; captions: string[] }[] }): Ds => ({ names: d.images.map((r) => r.fileName), caps: d.images.map((r) => r.captions) });
  const sameDs = (a: Ds, b: Ds): boolean => JSON.stringify(a) === JSON.stringify(b);
  const saneDs = (a: Ds): boolean => a.names.length > 0 && a.caps.every((c) => c.length > 0 && c.every((x) => typeof x === 'string'));
  const hugeTar = Uint8Array.from(tar); hugeTar.set(enc.encode('77777777777\0'), 124); // size field: 8 GB
  await sweep({ name: 'webdataset tar', source: shard, read: (b) => viaFile(shard, b, async (f) => summary(await loadWebdataset(f, { keepImageBytes: false }))), same: sameDs, sane: saneDs, checksummed: false, huge: [['entry size 8 GB', hugeTar]] }, tar);

  const kj = path.join(tmp, 'dataset.json');
  const sent = (raw: string, imgid: number, sentid: number) => ({ raw, tokens: raw.split(' '), imgid, sentid });
  const karpathy = enc.encode(JSON.stringify({ dataset: 'x', images: [0, 1].map((i) => ({ filename: `airport_${i}.jpg`, imgid: i, split: 'test', sentences: [0, 1, 2, 3, 4].map((k) => sent(`a plane ${k}`, i, i * 5 + k)), sentids: [0, 1, 2, 3, 4].map((k) => i * 5 + k) })) }));
  await sweep({ name: 'karpathy json', source: kj, read: (b) => viaFile(kj, b, (f) => summary(loadKarpathy(f))), same: sameDs, sane: saneDs, checksummed: false, huge: [] }, karpathy);

  const caps = path.join(tmp, 'x_test_caps.txt');
  const names = path.join(tmp, 'x_test_filename.txt');
  fs.writeFileSync(names, 'airport_1.jpg\nport_2.jpg\n');
  const capsText = enc.encode([0, 1].flatMap((i) => [0, 1, 2, 3, 4].map((k) => `image ${i} caption ${k}`)).join('\n') + '\n');
  try {
    await sweep({ name: 'precomp caps', source: 'x_test_' /* the caps file or its file-name list */, read: (b) => viaFile(caps, b, async (f) => summary(await loadDataset(f, { imagesRoot: tmp }))), same: sameDs, sane: saneDs, checksummed: false, huge: [], cutDetectable: false }, capsText);
  } finally {
    fs.rmSync(names, { force: true });
  }

  const vf = path.join(tmp, 'vocab.json');
  const tok = WordTokenizer.build(['a plane on the runway', 'two ships in the port']);
  tok.save(vf);
  const vocabBytes = fs.readFileSync(vf);
  fs.rmSync(vf);
  await sweep({ name: 'word vocabulary', source: vf, read: (b) => viaFile(vf, b, (f) => { const t = WordTokenizer.load(f); return { names: [...t.tokens], caps: [[String(t.contextLength)]] }; }), same: sameDs, sane: saneDs, checksummed: false, huge: [] }, vocabBytes);
});

test('sweep: PIR JSON annotations and the CLIP BPE vocabulary', async () => {
  const enc = new TextEncoder();
  const pj = path.join(tmp, 'x_test.json');
  const pir = enc.encode(JSON.stringify([0, 1].map((i) => ({ image: `test/airport_${i}.tif`, caption: [0, 1, 2, 3, 4].map((k) => `a plane ${i} ${k} .`) }))));
  type Ds = { names: string[]; caps: string[][] };
  const viaFile = async (file: string, bytes: Uint8Array, load: (f: string) => Promise<Ds> | Ds): Promise<Ds> => {
    fs.writeFileSync(file, bytes);
    try { return await load(file); } finally { fs.rmSync(file, { force: true }); }
  };
  const summary = (d: { images: { fileName: string; captions: string[] }[] }): Ds => ({ names: d.images.map((r) => r.fileName), caps: d.images.map((r) => r.captions) });
  const sameDs = (a: Ds, b: Ds): boolean => JSON.stringify(a) === JSON.stringify(b);
  const saneDs = (a: Ds): boolean => a.names.length > 0 && a.caps.every((c) => c.length > 0);
  await sweep({ name: 'pir json', source: pj, read: (b) => viaFile(pj, b, async (f) => summary(await loadDataset(f, { imagesRoot: tmp }))), same: sameDs, sane: saneDs, checksummed: false, huge: [] }, pir);
  const shippedBpe = path.resolve(__dirname, '..', '..', 'shared', 'vocab', 'bpe_simple_vocab_16e6.txt.gz');
  if (!fs.existsSync(shippedBpe)) return;
  const bf = path.join(tmp, 'bpe.txt.gz');
  const ids = (t: ClipTokenizer): Ds => ({ names: [String(t.vocabSize)], caps: [Array.from(t.encodeBatch(['two planes near a runway'], { contextLength: 12 })).map(String)] });
  await sweep({ name: 'clip bpe', source: bf, read: (b) => viaFile(bf, b, (f) => ids(ClipTokenizer.fromFile(f))), same: sameDs, sane: saneDs, checksummed: true, huge: [] }, fs.readFileSync(shippedBpe));
});
