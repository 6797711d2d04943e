import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {
  readSafetensors,
  readSafetensorsFile,
  readSafetensorsMetadata,
  writeSafetensors,
  writeSafetensorsFile,
  toFloat32,
  toInt32Numbers,
  f32Tensor,
  i64Tensor,
  SafeTensor,
} from '../src/io/safetensors';
import { projectRoot } from '../src/utils/fs';

const GOLDEN = path.resolve(projectRoot(), '..', 'shared', 'golden');

test('round-trips F32/I64/I32/U8/F16 tensors with metadata, sorted names, 8-byte padded header', () => {
  const m = new Map<string, SafeTensor>();
  m.set('zeta', f32Tensor([2, 3], [1, 2, 3, 4, 5, -6.5]));
  m.set('alpha', i64Tensor([3], [0, -7, 123456789012]));
  m.set('flags', { dtype: 'I32', shape: [2], data: Int32Array.from([0, 1]) });
  m.set('bytes', { dtype: 'U8', shape: [1, 3], data: Uint8Array.from([1, 2, 255]) });
  m.set('half', { dtype: 'F16', shape: [2], data: Uint16Array.from([0x3c00, 0xc000]) });
  m.set('scalar', f32Tensor([], [3.25]));
  const bytes = writeSafetensors(m, { format: 'pt', note: 'x' });
  const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assert.equal(n % 8, 0);
  const headerText = Buffer.from(bytes.subarray(8, 8 + n)).toString('utf8');
  const keys = Object.keys(JSON.parse(headerText)).filter((k) => k !== '__metadata__');
  assert.deepEqual(keys, ['alpha', 'bytes', 'flags', 'half', 'scalar', 'zeta']);
  const back = readSafetensors(bytes);
  assert.deepEqual([...back.keys()], keys);
  assert.deepEqual(Array.from(toFloat32(back.get('zeta') as SafeTensor)), [1, 2, 3, 4, 5, -6.5]);
  assert.deepEqual(toInt32Numbers(back.get('alpha') as SafeTensor), [0, -7, 123456789012]);
  assert.deepEqual(Array.from(toFloat32(back.get('half') as SafeTensor)), [1, -2]);
  assert.deepEqual((back.get('scalar') as SafeTensor).shape, []);
  assert.deepEqual(Array.from((back.get('bytes') as SafeTensor).data as Uint8Array), [1, 2, 255]);
  assert.deepEqual(readSafetensorsMetadata(bytes), { format: 'pt', note: 'x' });
});

test('clear errors on truncated header and out-of-range offsets, naming the file', () => {
  const bytes = writeSafetensors(new Map([['a', f32Tensor([4], [1, 2, 3, 4])]]));
  assert.throws(() => readSafetensors(bytes.subarray(0, 5), 'x.safetensors'), /x\.safetensors: truncated/);
  assert.throws(() => readSafetensors(bytes.subarray(0, 20), 'y.safetensors'), /y\.safetensors: truncated safetensors header/);
  assert.throws(() => readSafetensors(bytes.subarray(0, bytes.length - 4), 'z.safetensors'), /z\.safetensors: tensor 'a': data_offsets \[0, 16\] out of range/);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'st-'));
  const f = path.join(dir, 'bad.safetensors');
  fs.writeFileSync(f, bytes.subarray(0, bytes.length - 1));
  assert.throws(() => readSafetensorsFile(f), new RegExp(`${f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}.*out of range`));
  writeSafetensorsFile(f, new Map([['b', f32Tensor([1], [9])]]));
  assert.deepEqual(Array.from(toFloat32(readSafetensorsFile(f).get('b') as SafeTensor)), [9]);
  fs.rmSync(dir, { recursive: true });
});

test('reads the golden priorclip_tiny fixture (187 params, I64 text input)', () => {
  const t = readSafetensorsFile(path.join(GOLDEN, 'priorclip_tiny.safetensors'));
  const params = [...t.keys()].filter((k) => k.startsWith('param/'));
  assert.equal(params.length, 187);
  const text = t.get('input/text') as SafeTensor;
  assert.equal(text.dtype, 'I64');
  assert.deepEqual(text.shape, [3, 16]);
  assert.equal(toInt32Numbers(text)[0], 98);
  const ls = t.get('output/logit_scale') as SafeTensor;
  assert.ok(Math.abs(toFloat32(ls)[0] - 1 / 0.07) < 1e-4);
});
