import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { readSafetensors, readSafetensorsFileIndex, writeSafetensors, f32Tensor, SafeTensor } from '../src/io/safetensors';
import { writeZip } from '../src/io/zip';
import { modelFileConfig, loadStateDict, readStateDictBytes } from '../src/models/checkpoint';
import { ParamStore, zerosInit } from '../src/models/params';
import { SeedStream } from '../src/utils/random';
import { detectCheckpointKind } from '../src/io/checkpoint_kind';

/** safetensors bytes with a hand-written header over `data`. */
function rawSafetensors(header: Record<string, unknown>, data: Uint8Array): Uint8Array {
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  json = Buffer.concat([json, Buffer.alloc((8 - (json.length % 8)) % 8, 0x20)]);
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

const f32 = (n: number): Uint8Array => new Uint8Array(Float32Array.from({ length: n }, (_, i) => i + 1).buffer);

test('safetensors: overlapping tensors are refused (they load silently otherwise and change results)', () => {
  const bytes = rawSafetensors({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, f32(3));
  assert.throws(() => readSafetensors(bytes, 'overlap.safetensors'), /overlap\.safetensors: tensor 'b' data_offsets \[4, 12\] overlap tensor 'a'/);
});

test('safetensors: trailing bytes and gaps are refused; an exact cover is read', () => {
  const hdr = { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } };
  assert.equal(readSafetensors(rawSafetensors(hdr, f32(2)), 'ok').get('a')?.data.length, 2);
  assert.throws(() => readSafetensors(rawSafetensors(hdr, f32(3)), 'trail.safetensors'), /trail\.safetensors: the tensors cover 8 bytes of the 12-byte data section: 4 trailing bytes/);
  const gap = { a: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } };
  assert.throws(() => readSafetensors(rawSafetensors(gap, f32(2)), 'gap.safetensors'), /gap\.safetensors: 4 bytes at data offset 0 belong to no tensor/);
  // The header-only reader checks the cover against the file size.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kit-st-'));
  try {
    const f = path.join(dir, 't.safetensors');
    fs.writeFileSync(f, rawSafetensors(hdr, f32(3)));
    assert.throws(() => readSafetensorsFileIndex(f), /t\.safetensors: the tensors cover 8 bytes of the 12-byte data section/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

function store(): ParamStore {
  const s = new ParamStore(new SeedStream(0));
  s.add('w', [2], zerosInit);
  s.add('n', [], zerosInit, 'raw', { torchDtype: 'I64' });
  return s;
}

test('an I8 (quantized) weight for a float parameter is refused by name, not cast', () => {
  const s = store();
  try {
    const t = new Map<string, SafeTensor>([['w', { dtype: 'I8', shape: [2], data: Int8Array.from([1, 2]) }], ['n', { dtype: 'I64', shape: [], data: BigInt64Array.from([0n]) }]]);
    assert.throws(() => loadStateDict(s, t, { source: 'q.safetensors' }), /q\.safetensors: [\s\S]*w: file dtype I8 for a float parameter/);
  } finally {
    for (const e of s.list()) e.variable.dispose();
  }
});

test('NaN or infinite weights are reported with the key and the count', () => {
  const s = store();
  try {
    const t = new Map<string, SafeTensor>([['w', f32Tensor([2], [NaN, Infinity])], ['n', { dtype: 'I64', shape: [], data: BigInt64Array.from([0n]) }]]);
    assert.throws(() => loadStateDict(s, t, { source: 'nan.safetensors' }), /nan\.safetensors: 1 tensor\(s\) hold NaN or infinite weights .*w: 2 of 2/);
    const ok = new Map<string, SafeTensor>([['w', f32Tensor([2], [1, 2])], ['n', { dtype: 'I64', shape: [], data: BigInt64Array.from([3n]) }]]);
    loadStateDict(s, ok, { source: 'ok' });
    assert.deepEqual(Array.from(s.list()[0].variable.dataSync()), [1, 2]);
  } finally {
    for (const e of s.list()) e.variable.dispose();
  }
  assert.equal(tf.memory().numTensors, 0);
});

/** The start of a legacy (pre-1.6) torch.save file: PROTO 2, LONG1 magic number. */
function legacyTorch(): Uint8Array {
  const magic = Buffer.alloc(10);
  let v = 0x1950a86a20f9469cfc6cn;
  for (let k = 0; k < 10; k++) { magic[k] = Number(v & 0xffn); v >>= 8n; }
  return Buffer.concat([Buffer.from([0x80, 0x02, 0x8a, 0x0a]), magic, Buffer.from('.\x80\x02M\xe9\x03.', 'latin1'), Buffer.alloc(64)]);
}

test('checkpoint kinds are told apart by content, each refused with its own message', () => {
  const torchscript = writeZip([{ name: 'model/data.pkl', data: Buffer.from([0x80, 0x02, 0x7d, 0x2e]) }, { name: 'model/code/__torch__/m.py', data: Buffer.from('x') }, { name: 'model/constants.pkl', data: Buffer.from([0x80, 0x02, 0x29, 0x2e]) }]);
  const tar = Buffer.alloc(1024); tar.write('archive', 0); tar.write('ustar', 257, 'latin1');
  const cases: [string, Uint8Array, RegExp][] = [
    ['empty.pt', new Uint8Array(0), /empty\.pt: empty file \(0 bytes\), not a checkpoint/],
    ['random.pt', Uint8Array.from({ length: 300 }, (_, i) => (i * 97 + 13) & 255), /random\.pt: not a checkpoint the kit reads \(300 bytes, starts with 0d 6e/],
    ['legacy.pt', legacyTorch(), /legacy\.pt: a legacy PyTorch checkpoint \(torch\.save before 1\.6/],
    ['plain.pkl', Buffer.from([0x80, 0x04, 0x95, 0, 0, 0, 0, 0, 0, 0, 0, 0x7d, 0x2e]), /plain\.pkl: a plain Python pickle \(protocol 4\)/],
    ['script.pt', torchscript, /script\.pt: a TorchScript archive \(torch\.jit\.save\)/],
    ['old.tar', tar, /old\.tar: a tar-format checkpoint/],
  ];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kit-kind-'));
  try {
    for (const [name, bytes, want] of cases) {
      assert.throws(() => readStateDictBytes(bytes, name), want, name);
      const f = path.join(dir, name);
      fs.writeFileSync(f, bytes);
      if (name !== 'script.pt') assert.throws(() => modelFileConfig(f), (e: Error) => want.test(e.message.replace(f, name)), `modelFileConfig ${name}`);
    }
    assert.equal(detectCheckpointKind(writeSafetensors({ a: f32Tensor([1], [1]) })), 'safetensors');
    assert.equal(detectCheckpointKind(writeZip([{ name: 'a/data.pkl', data: Buffer.from([0x80, 0x02, 0x7d, 0x2e]) }])), 'torch-zip');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
