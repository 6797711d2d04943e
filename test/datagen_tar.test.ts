import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { execFileSync } from 'child_process';
import {
  TAR_BLOCK,
  TarEntry,
  readTarEntries,
  readWebdatasetSamples,
  splitWebdatasetName,
  writeTar,
  writeTarFile,
} from '../src/io/tar';
import { SeedStream } from '../src/utils/random';

const enc = new TextEncoder();
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'datagen-tar-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

function sampleEntries(): TarEntry[] {
  const r = new SeedStream(7);
  const bytes = (n: number): Uint8Array => Uint8Array.from({ length: n }, () => r.int(256));
  return [
    { name: 'a.txt', data: enc.encode('hello') },
    { name: 'empty.bin', data: new Uint8Array(0) },
    { name: 'block.bin', data: bytes(TAR_BLOCK) },
    { name: 'big.bin', data: bytes(3 * TAR_BLOCK + 17) },
    // > 100 bytes, splittable into ustar prefix + name
    { name: `${'d'.repeat(120)}/${'x'.repeat(80)}.caption`, data: enc.encode('long path') },
    // > 100 bytes without a usable '/': needs a PAX header
    { name: `${'y'.repeat(140)}.txt`, data: enc.encode('pax') },
    { name: 'ünïcödé.txt', data: enc.encode('utf8 name') },
  ];
}

async function readAll(file: string, chunkSize?: number): Promise<TarEntry[]> {
  const out: TarEntry[] = [];
  for await (const e of readTarEntries(file, chunkSize ? { chunkSize } : {})) out.push(e);
  return out;
}

test('tar roundtrip: names and bytes survive, for several read chunk sizes', async () => {
  const entries = sampleEntries();
  const file = path.join(tmp, 'rt.tar');
  writeTarFile(file, entries);
  assert.equal(fs.statSync(file).size % TAR_BLOCK, 0);
  for (const chunk of [7, 512, 700, 1 << 20]) {
    const back = await readAll(file, chunk);
    assert.deepEqual(back.map((e) => e.name), entries.map((e) => e.name), `chunk ${chunk}`);
    back.forEach((e, i) => assert.deepEqual(e.data, entries[i].data, `entry ${e.name} chunk ${chunk}`));
  }
});

test('tar writer is deterministic (same entries ⇒ same bytes; mtime/uid fixed)', () => {
  const a = writeTar(sampleEntries());
  const b = writeTar(sampleEntries());
  assert.deepEqual(a, b);
  // mtime field (offset 136, 12 bytes) of the first header is octal zero.
  assert.equal(Buffer.from(a.subarray(136, 147)).toString('latin1'), '00000000000');
});

test('GNU tar and Python tarfile read what we write', { skip: !fs.existsSync('/usr/bin/python3') }, () => {
  const file = path.join(tmp, 'compat.tar');
  writeTarFile(file, sampleEntries());
  const listing = execFileSync('tar', ['-tf', file], { encoding: 'utf8' }).trim().split('\n');
  assert.deepEqual(listing, sampleEntries().map((e) => e.name));
  const py = execFileSync(
    '/usr/bin/python3',
    ['-c', 'import sys,tarfile\nt=tarfile.open(sys.argv[1])\nfor m in t.getmembers(): print(m.name, m.size, m.mtime, m.uid)', file],
    { encoding: 'utf8' },
  );
  const lines = py.trim().split('\n');
  assert.equal(lines.length, sampleEntries().length);
  sampleEntries().forEach((e, i) => assert.equal(lines[i], `${e.name} ${e.data.length} 0 0`));
});

test('reads archives written by Python tarfile (PAX, GNU formats)', { skip: !fs.existsSync('/usr/bin/python3') }, async () => {
  for (const fmt of ['PAX_FORMAT', 'GNU_FORMAT', 'USTAR_FORMAT']) {
    const file = path.join(tmp, `py-${fmt}.tar`);
    const script = [
      'import sys,tarfile,io',
      `t=tarfile.open(sys.argv[1],'w',format=tarfile.${fmt})`,
      "for n,d in [('s1.img_content',b'abc'*300),('s1.caption','caption é'.encode()),('s2.img_content',b'x'*1024),('s2.caption',b'two')]:",
      '  i=tarfile.TarInfo(n); i.size=len(d); t.addfile(i,io.BytesIO(d))',
      "d=tarfile.TarInfo('folder'); d.type=tarfile.DIRTYPE; t.addfile(d)",
      't.close()',
    ].join('\n');
    execFileSync('/usr/bin/python3', ['-c', script, file]);
    const back = await readAll(file);
    assert.deepEqual(back.map((e) => e.name), ['s1.img_content', 's1.caption', 's2.img_content', 's2.caption'], fmt);
    assert.equal(new TextDecoder().decode(back[1].data), 'caption é');
    assert.equal(back[0].data.length, 900);
  }
});

test('truncated, empty and corrupt archives give errors naming the file and entry', async () => {
  const entries = sampleEntries();
  const full = writeTar(entries);
  const file = path.join(tmp, 'cut.tar');

  // Cut inside the data of big.bin (header 3 starts after a.txt, empty.bin, block.bin).
  const bigHeader = 3 * TAR_BLOCK + 2 * TAR_BLOCK; // a.txt: header + 1 data block; empty: header; block: header + 1
  fs.writeFileSync(file, full.subarray(0, bigHeader + TAR_BLOCK + 100));
  await assert.rejects(readAll(file), (e: Error) => e.message.includes(file) && e.message.includes('truncated') && e.message.includes('"big.bin"'));

  // Cut inside a header.
  fs.writeFileSync(file, full.subarray(0, bigHeader + 100));
  await assert.rejects(readAll(file), (e: Error) => e.message.includes(file) && /partial header/.test(e.message) && e.message.includes('block.bin'));

  // Cut exactly after an entry: no end-of-archive marker.
  fs.writeFileSync(file, full.subarray(0, 2 * TAR_BLOCK));
  await assert.rejects(readAll(file), (e: Error) => e.message.includes(file) && /end-of-archive/.test(e.message) && e.message.includes('a.txt'));
  const lenient: TarEntry[] = [];
  for await (const e of readTarEntries(file, { requireEndMarker: false })) lenient.push(e);
  assert.deepEqual(lenient.map((e) => e.name), ['a.txt']);

  // Empty file.
  fs.writeFileSync(file, new Uint8Array(0));
  await assert.rejects(readAll(file), (e: Error) => e.message.includes(file) && /empty/.test(e.message));

  // Corrupt header checksum.
  const bad = full.slice();
  bad[TAR_BLOCK * 2 + 5] ^= 0xff; // inside the name of the 2nd header (empty.bin)
  fs.writeFileSync(file, bad);
  await assert.rejects(readAll(file), (e: Error) => e.message.includes(file) && /checksum/.test(e.message) && e.message.includes('a.txt'));

  // Missing file.
  await assert.rejects(readAll(path.join(tmp, 'nope.tar')), /cannot open tar archive/);

  // An archive with zero entries (only the end marker) is valid and yields nothing.
  fs.writeFileSync(file, writeTar([]));
  assert.deepEqual(await readAll(file), []);
});

test('webdataset grouping: key = name up to the first dot of the base name', async () => {
  assert.deepEqual(splitWebdatasetName('dir/a.b/s1.img_content'), { key: 'dir/a.b/s1', ext: 'img_content' });
  assert.deepEqual(splitWebdatasetName('s1.seg.png'), { key: 's1', ext: 'seg.png' });
  const file = path.join(tmp, 'wds.tar');
  writeTarFile(file, [
    { name: 'k1.img_content', data: enc.encode('I1') },
    { name: 'k1.caption', data: enc.encode('c1') },
    { name: 'k2.img_content', data: enc.encode('I2') },
    { name: 'k2.caption', data: enc.encode('c2') },
    { name: 'k2.img_name', data: enc.encode('airport_2.png') },
  ]);
  const samples = [];
  for await (const s of readWebdatasetSamples(file)) samples.push(s);
  assert.deepEqual(samples.map((s) => s.key), ['k1', 'k2']);
  assert.deepEqual([...samples[1].fields.keys()], ['img_content', 'caption', 'img_name']);
  writeTarFile(file, [
    { name: 'k1.caption', data: enc.encode('a') },
    { name: 'k1.caption', data: enc.encode('b') },
  ]);
  await assert.rejects(async () => {
    for await (const s of readWebdatasetSamples(file)) void s;
  }, /field "caption" twice/);
});
