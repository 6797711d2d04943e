import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawnSync } from 'child_process';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backends/backend';
import { projectRoot } from '../src/utils/fs';
import { SeedStream } from '../src/utils/random';
import { readSafetensorsFile, readSafetensors, readSafetensorsMetadata, toFloat32, toInt32Numbers, f32Tensor, SafeTensor } from '../src/io/safetensors';
import { ZipArchive, writeZip, crc32 } from '../src/io/zip';
import { PickleWriter, UnsafePickleError, readTorchZip, torchStateDict, unpickle, writeTorchStateDict, PyDict } from '../src/io/torch_pickle';
import { modelFileConfig, exportStateDict, loadModelFileInto, loadModelFile, loadStateDict, readStateDict, saveModelFile } from '../src/models/checkpoint';
import { createModel, loadModelPreset } from '../src/models/factory';
import { PriorClip } from '../src/models/priorclip';

const GOLDEN = path.resolve(projectRoot(), '..', 'shared', 'golden');

before(async () => {
  await initBackend(process.env.KIT_BACKEND ?? 'wasm', { quiet: true });
});

function goldenParams(): Map<string, SafeTensor> {
  const t = readSafetensorsFile(path.join(GOLDEN, 'priorclip_tiny.safetensors'));
  return new Map([...t].filter(([k]) => k.startsWith('param/')).map(([k, v]) => [k.slice(6), v]));
}

function sameTensor(a: SafeTensor, b: SafeTensor): boolean {
  if (a.dtype !== b.dtype || a.shape.join() !== b.shape.join()) return false;
  const x = a.dtype === 'I64' ? toInt32Numbers(a) : Array.from(toFloat32(a));
  const y = b.dtype === 'I64' ? toInt32Numbers(b) : Array.from(toFloat32(b));
  return x.every((v, i) => Object.is(v, y[i]));
}

/** A zip holding `archive/data.pkl` = `pkl` (+ storages). */
function torchZip(pkl: Uint8Array, storages: Record<string, Uint8Array> = {}, deflate = false): Uint8Array {
  return writeZip([
    { name: 'archive/data.pkl', data: pkl, deflate },
    ...Object.entries(storages).map(([k, v]) => ({ name: `archive/data/${k}`, data: v, deflate })),
    { name: 'archive/version', data: Buffer.from('3\n') },
  ]);
}

test('both golden .pt files (torch 1.13 zip: bare state_dict, open_clip training checkpoint with module.) give the safetensors params bit for bit', () => {
  const ref = goldenParams();
  for (const f of ['priorclip_tiny_state_dict.pt', 'priorclip_tiny_train_checkpoint.pt']) {
    const sd = readStateDict(path.join(GOLDEN, f));
    assert.equal(sd.format, 'torch-zip');
    assert.deepEqual([...sd.tensors.keys()].sort(), [...ref.keys()].sort(), f);
    for (const [k, v] of ref) assert.ok(sameTensor(sd.tensors.get(k) as SafeTensor, v), `${f}: ${k}`);
    assert.equal((sd.tensors.get('res_visual.bn1.num_batches_tracked') as SafeTensor).dtype, 'I64');
  }
  const train = readStateDict(path.join(GOLDEN, 'priorclip_tiny_train_checkpoint.pt'));
  assert.deepEqual(train.info, { epoch: 3, name: 'priorclip-tiny-fixture' });
});

test('hostile pickles are refused with the global named, and nothing runs', () => {
  const marker = path.join(os.tmpdir(), `kit-pwned-${process.pid}`);
  const cases: { pkl: Uint8Array; global: RegExp }[] = [
    // GLOBAL 'os system' + REDUCE
    { pkl: new PickleWriter().proto().global('os', 'system').str(`touch ${marker}`).op(0x85).reduce().stop().finish(), global: /'os\.system'/ },
    { pkl: new PickleWriter().proto().global('posix', 'system').str(`touch ${marker}`).op(0x85).reduce().stop().finish(), global: /'posix\.system'/ },
    // STACK_GLOBAL builtins.eval
    { pkl: new PickleWriter().proto(4).str('builtins').str('eval').op(0x93).str('1').op(0x85).reduce().stop().finish(), global: /'builtins\.eval'/ },
    // a valid-looking state_dict whose second value smuggles subprocess.Popen
    {
      pkl: new PickleWriter().proto().global('collections', 'OrderedDict').emptyTuple().reduce().mark().str('a').int(1).str('b').global('subprocess', 'Popen').str('id').op(0x85).reduce().setitems().stop().finish(),
      global: /'subprocess\.Popen'/,
    },
    // a persistent id naming a non-storage class
    { pkl: new PickleWriter().proto().mark().str('storage').global('torch', 'Tensor').str('0').str('cpu').int(1).tuple().binpersid().stop().finish(), global: /'torch\.Tensor'/ },
  ];
  for (const c of cases) {
    const zip = torchZip(c.pkl);
    assert.throws(() => readTorchZip(zip, 'evil.pt'), (e: unknown) => e instanceof UnsafePickleError && /evil\.pt/.test((e as Error).message) && c.global.test((e as Error).message));
    assert.throws(() => readStateDictBytesSafe(zip), c.global);
  }
  // Object construction opcodes are refused too.
  assert.throws(() => unpickle(new PickleWriter().proto().global('collections', 'OrderedDict').emptyTuple().op(0x81).stop().finish()), /opcode 0x81.*not allowed/);
  // An allowed storage class is still not callable.
  assert.throws(() => unpickle(new PickleWriter().proto().global('torch', 'FloatStorage').emptyTuple().reduce().stop().finish()), /cannot be called/);
  assert.equal(fs.existsSync(marker), false);
});

function readStateDictBytesSafe(zip: Uint8Array): void {
  const f = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'evil-')), 'evil.pt');
  fs.writeFileSync(f, zip);
  try {
    readStateDict(f);
  } finally {
    fs.rmSync(path.dirname(f), { recursive: true });
  }
}

test('_rebuild_tensor_v2 strides and storage offsets are honoured (non-contiguous views are copied), deflated entries read', () => {
  const storage = Buffer.from(Float32Array.from([0, 1, 2, 3, 4, 5, 6]).buffer);
  const w = new PickleWriter().proto();
  w.global('collections', 'OrderedDict').emptyTuple().reduce().mark();
  const tensor = (key: string, offset: number, size: number[], stride: number[]): void => {
    w.str(key).global('torch._utils', '_rebuild_tensor_v2').mark();
    w.mark().str('storage').global('torch', 'FloatStorage').str('0').str('cpu').int(7).tuple().binpersid();
    w.int(offset).intTuple(size).intTuple(stride).bool(false).global('collections', 'OrderedDict').emptyTuple().reduce().tuple().reduce();
  };
  tensor('t', 0, [3, 2], [1, 3]); // transpose of [[0,1,2],[3,4,5]]
  tensor('s', 1, [2], [2]); // [1, 3]
  tensor('c', 4, [1, 3], [3, 1]); // contiguous slice [4, 5, 6]
  tensor('b', 2, [2, 2], [0, 1]); // broadcast row [[2,3],[2,3]]
  w.setitems().stop();
  for (const deflate of [false, true]) {
    const ck = readTorchZip(torchZip(w.finish(), { '0': new Uint8Array(storage) }, deflate), 'strided.pt');
    const { tensors } = torchStateDict(ck);
    assert.deepEqual(Array.from(toFloat32(tensors.get('t') as SafeTensor)), [0, 3, 1, 4, 2, 5]);
    assert.deepEqual((tensors.get('t') as SafeTensor).shape, [3, 2]);
    assert.deepEqual(Array.from(toFloat32(tensors.get('s') as SafeTensor)), [1, 3]);
    assert.deepEqual(Array.from(toFloat32(tensors.get('c') as SafeTensor)), [4, 5, 6]);
    assert.deepEqual(Array.from(toFloat32(tensors.get('b') as SafeTensor)), [2, 3, 2, 3]);
  }
  // A view reading past its storage is an error naming the tensor.
  const bad = new PickleWriter().proto().emptyDict().str('x').global('torch._utils', '_rebuild_tensor_v2').mark();
  bad.mark().str('storage').global('torch', 'FloatStorage').str('0').str('cpu').int(7).tuple().binpersid();
  bad.int(5).intTuple([3]).intTuple([1]).bool(false).global('collections', 'OrderedDict').emptyTuple().reduce().tuple().reduce().op(0x73).stop();
  assert.throws(() => torchStateDict(readTorchZip(torchZip(bad.finish(), { '0': new Uint8Array(storage) }), 'oob.pt')), /oob\.pt: tensor 'x'.*outside its storage/);
});

test('zip reader: CRC, truncation and non-zip errors name the file', () => {
  const zip = writeZip([{ name: 'a/b', data: Uint8Array.from([1, 2, 3]) }]);
  assert.deepEqual(Array.from(new ZipArchive(zip, 'z.zip').read('a/b')), [1, 2, 3]);
  assert.equal(crc32(Buffer.from('123456789')), 0xcbf43926);
  const corrupt = Uint8Array.from(zip);
  corrupt[corrupt.indexOf(2)] = 9;
  assert.throws(() => new ZipArchive(corrupt, 'c.zip').read('a/b'), /c\.zip: entry 'a\/b': CRC-32 mismatch/);
  assert.throws(() => new ZipArchive(zip.subarray(0, zip.length - 30), 't.zip'), /t\.zip: .*(truncated|not a ZIP)/);
  assert.throws(() => readTorchZip(Buffer.from('not a zip at all'), 'legacy.pt'), /legacy\.pt: not a zip-format PyTorch checkpoint/);
});

test('state_dict mismatch: ONE error lists missing, unexpected and wrongly shaped keys; nothing is assigned', () => {
  const model = createModel(loadModelPreset('priorclip-tiny'), new SeedStream(2)) as PriorClip;
  const sd = goldenParams();
  sd.delete('ln_final.bias');
  sd.delete('visual.proj');
  sd.set('visual.extra_head.weight', f32Tensor([2], [1, 2]));
  sd.set('logit_scale', f32Tensor([1], [2]));
  const before = model.params.get('visual.conv1.weight').dataSync().slice();
  assert.throws(
    () => loadStateDict(model.params, sd, { source: 'bad.safetensors' }),
    (e: unknown) => {
      const m = (e as Error).message;
      return /^bad\.safetensors: state_dict does not match/.test(m) && /missing \(2\): ln_final\.bias, visual\.proj|missing \(2\): visual\.proj, ln_final\.bias/.test(m) && /unexpected \(1\): visual\.extra_head\.weight/.test(m) && /wrong shape \(1\): logit_scale: file \[1\] vs model \[\]/.test(m);
    },
  );
  assert.deepEqual(Array.from(model.params.get('visual.conv1.weight').dataSync()), Array.from(before));
  // Non-strict: loads what matches (shapes still must match).
  sd.set('logit_scale', f32Tensor([], [2]));
  const r = loadStateDict(model.params, sd, { strict: false });
  assert.deepEqual(r.missing.sort(), ['ln_final.bias', 'visual.proj']);
  assert.deepEqual(r.unexpected, ['visual.extra_head.weight']);
  model.dispose();
});

test('kit checkpoint = state_dict-named safetensors (torch layout, config in metadata); save → load reproduces weights and outputs', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ckpt-'));
  const cfg = loadModelPreset('priorclip-tiny');
  const a = createModel(cfg, new SeedStream(7)) as PriorClip;
  loadStateDict(a.params, goldenParams());
  const file = path.join(dir, 'model.safetensors');
  saveModelFile(file, a, { run: 'test' });
  const bytes = new Uint8Array(fs.readFileSync(file));
  const meta = readSafetensorsMetadata(bytes);
  assert.equal(meta.format, 'pt');
  assert.equal(meta.run, 'test');
  assert.deepEqual(modelFileConfig(file), cfg);
  // Stored in torch layout under the torch keys, exactly the golden tensors.
  const stored = readSafetensors(bytes);
  const ref = goldenParams();
  assert.equal(stored.size, ref.size);
  for (const [k, v] of ref) assert.ok(sameTensor(stored.get(k) as SafeTensor, v), k);
  const b = createModel(cfg, new SeedStream(8)) as PriorClip;
  const rep = loadModelFileInto(b, file);
  assert.equal(rep.loaded.length, ref.size);
  const x = tf.randomNormal([1, 64, 64, 3], 0, 1, 'float32', 9) as tf.Tensor4D;
  const d = tf.tidy(() => tf.max(tf.abs(tf.sub(a.encodeImage(x), b.encodeImage(x)))).dataSync()[0]);
  assert.equal(d, 0);
  // A kit checkpoint alone rebuilds the model (config from its metadata); a foreign file needs a config.
  const c = loadModelFile(file);
  assert.ok(c instanceof PriorClip);
  assert.equal(tf.tidy(() => tf.max(tf.abs(tf.sub(a.encodeImage(x), c.encodeImage(x)))).dataSync()[0]), 0);
  c.dispose();
  assert.throws(() => loadModelFile(path.join(GOLDEN, 'priorclip_tiny_state_dict.pt')), /not a kit checkpoint.*pass the model config/);
  const fromPt = loadModelFile(path.join(GOLDEN, 'priorclip_tiny_train_checkpoint.pt'), { config: cfg });
  assert.equal(tf.tidy(() => tf.max(tf.abs(tf.sub(a.encodeImage(x), fromPt.encodeImage(x)))).dataSync()[0]), 0);
  fromPt.dispose();
  // .pt export reads back identically (and, when PyTorch is installed, torch.load reads it).
  const pt = path.join(dir, 'model.pt');
  exportStateDict(pt, b);
  const back = readStateDict(pt);
  for (const [k, v] of ref) assert.ok(sameTensor(back.tensors.get(k) as SafeTensor, v), `.pt ${k}`);
  const py = spawnSync('/usr/bin/python3', ['-c', `import torch,sys\nsd=torch.load(sys.argv[1])\nprint(len(sd), sd['res_visual.bn1.num_batches_tracked'].dtype, tuple(sd['visual.conv1.weight'].shape))`, pt], { encoding: 'utf8' });
  if (py.status === 0) assert.equal(py.stdout.trim(), `${ref.size} torch.int64 (64, 3, 16, 16)`);
  else assert.match(py.stderr + String(py.error ?? ''), /No module named 'torch'|ENOENT/); // only skipped when torch is absent
  tf.dispose(x);
  a.dispose();
  b.dispose();
  fs.rmSync(dir, { recursive: true });
});

test('writeTorchStateDict round-trips every dtype through the restricted reader', () => {
  const m = new Map<string, SafeTensor>([
    ['f', f32Tensor([2, 2], [1, -2, 3.5, 4])],
    ['i', { dtype: 'I64', shape: [2], data: BigInt64Array.from([5n, -6n]) }],
    ['s', f32Tensor([], [7])],
    ['h', { dtype: 'F16', shape: [3], data: Uint16Array.from([0x3c00, 0xc000, 0x3555]) }], // 1, -2, 0.333…
    ['bf', { dtype: 'BF16', shape: [1], data: Uint16Array.from([0x4049]) }], // 3.140625
  ]);
  const { tensors } = torchStateDict(readTorchZip(writeTorchStateDict(m, 'x'), 'x.pt'));
  for (const [k, v] of m) assert.ok(sameTensor(tensors.get(k) as SafeTensor, v), k);
  // Half-precision checkpoints load as float32 values.
  assert.deepEqual(Array.from(toFloat32(tensors.get('h') as SafeTensor)), [1, -2, Math.fround(0.333251953125)]);
  assert.deepEqual(Array.from(toFloat32(tensors.get('bf') as SafeTensor)), [3.140625]);
  // The top level is an OrderedDict, as torch.save writes a state_dict.
  const root = readTorchZip(writeTorchStateDict(m, 'x'), 'x.pt').root;
  assert.ok(root instanceof PyDict && root.ordered);
});
