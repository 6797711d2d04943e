/**
 * Heavy (~760 MB of weights, twice): a random full-size ViT-B/32 PriorCLIP round-trips
 * kit → state_dict safetensors → kit exactly, under the reference's 643 keys.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backends/backend';
import { projectRoot, readJson } from '../src/utils/fs';
import { SeedStream } from '../src/utils/random';
import { readSafetensors, readSafetensorsIndex, toFloat32 } from '../src/io/safetensors';
import { createPriorClip, PRIORCLIP_VIT_B_32 } from '../src/models/priorclip';
import { modelFileBytes, loadStateDict } from '../src/models/checkpoint';
import { toTorchLayout } from '../src/models/params';

before(async () => {
  await initBackend(process.env.KIT_BACKEND ?? 'wasm', { quiet: true });
});

test('full ViT-B/32 PriorCLIP: kit → safetensors → kit is exact, with the reference state_dict keys', () => {
  const ref = readJson<{ keys: { key: string; shape: number[] }[] }>(path.resolve(projectRoot(), '..', 'shared', 'golden', 'priorclip_vitb32_keys.json'));
  const n0 = tf.memory().numTensors;
  const a = createPriorClip(PRIORCLIP_VIT_B_32, new SeedStream(1));
  assert.equal(a.params.numElements(), 188992408);
  const probeKey = 'visual.transformer.resblocks.11.mlp.c_proj.weight';
  const probeA = a.params.get(probeKey).dataSync().slice(0, 16);
  const bytes = modelFileBytes(a);
  a.dispose();
  const index = readSafetensorsIndex(bytes);
  assert.deepEqual([...index.keys()].sort(), ref.keys.map((k) => k.key).sort());
  for (const k of ref.keys) assert.deepEqual(index.get(k.key)?.shape, k.shape, k.key);

  const b = createPriorClip(PRIORCLIP_VIT_B_32, new SeedStream(2));
  assert.notDeepEqual(Array.from(b.params.get(probeKey).dataSync().slice(0, 16)), Array.from(probeA));
  const tensors = readSafetensors(bytes);
  loadStateDict(b.params, tensors, { source: 'roundtrip' });
  assert.deepEqual(Array.from(b.params.get(probeKey).dataSync().slice(0, 16)), Array.from(probeA));
  let compared = 0;
  for (const e of b.params.list()) {
    const t = toTorchLayout(e.variable, e.layout); // no tf.tidy here: tidy walks a returned typed array element by element
    const got = t.dataSync();
    t.dispose();
    const want = toFloat32(tensors.get(e.key) as NonNullable<ReturnType<typeof tensors.get>>);
    assert.equal(got.length, want.length, e.key);
    for (let i = 0; i < want.length; i++) {
      if (got[i] !== want[i]) assert.fail(`${e.key}[${i}]: ${got[i]} vs ${want[i]}`);
    }
    compared += want.length;
  }
  assert.equal(compared, 188992408);
  b.dispose();
  assert.equal(tf.memory().numTensors, n0);
});
