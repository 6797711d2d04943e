import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { SeedStream, hashString } from '../src/utils/random';
import { ParamStore, normalInit, uniformInit } from '../src/models/params';
import { initBackend } from '../src/backends/backend';

test('same seed gives the same stream; different seeds differ', () => {
  const a = new SeedStream(7);
  const b = new SeedStream(7);
  const c = new SeedStream(8);
  const xa = Array.from({ length: 100 }, () => a.random());
  const xb = Array.from({ length: 100 }, () => b.random());
  const xc = Array.from({ length: 100 }, () => c.random());
  assert.deepEqual(xa, xb);
  assert.notDeepEqual(xa, xc);
  for (const x of xa) assert.ok(x >= 0 && x < 1);
});

test('child streams depend on name and parent seed only, not on draws made', () => {
  const a = new SeedStream(3);
  const b = new SeedStream(3);
  for (let i = 0; i < 17; i++) b.random();
  assert.equal(a.child('shuffle').random(), b.child('shuffle').random());
  assert.notEqual(a.child('shuffle').random(), a.child('dropout').random());
  assert.equal(a.child('x').path, 'root(3)/x');
  assert.notEqual(hashString('a'), hashString('b'));
});

test('uniform ints, normals and shuffles behave', () => {
  const s = new SeedStream(11);
  const counts = new Array(5).fill(0);
  for (let i = 0; i < 5000; i++) counts[s.int(5)]++;
  for (const c of counts) assert.ok(c > 850 && c < 1150, `bucket count ${c}`);
  const zs = Array.from({ length: 20000 }, () => s.normal());
  const mean = zs.reduce((p, q) => p + q, 0) / zs.length;
  const variance = zs.reduce((p, q) => p + (q - mean) ** 2, 0) / zs.length;
  assert.ok(Math.abs(mean) < 0.03, `mean ${mean}`);
  assert.ok(Math.abs(variance - 1) < 0.05, `variance ${variance}`);
  const perm = s.permutation(50);
  assert.deepEqual([...perm].sort((p, q) => p - q), Array.from({ length: 50 }, (_, i) => i));
  assert.throws(() => s.int(0), /n must be > 0/);
  assert.throws(() => s.pick([]), /empty array/);
});

test('tfjs seeds are fresh on every call (no repeated dropout masks)', () => {
  const s = new SeedStream(5);
  const seeds = new Set(Array.from({ length: 1000 }, () => s.nextSeed()));
  assert.ok(seeds.size > 995);
});

test('ParamStore: same seed ⇒ identical initial weights, independent of creation order', async () => {
  await initBackend('cpu', { quiet: true });
  const build = (seed: number, order: string[]) => {
    const store = new ParamStore(new SeedStream(seed));
    for (const k of order) store.add(k, [4, 3], k === 'a.weight' ? normalInit(0.02) : uniformInit(0.1), 'linear');
    const out = Object.fromEntries(store.list().map((e) => [e.key, Array.from(e.variable.dataSync())]));
    store.dispose();
    return out;
  };
  const x = build(1, ['a.weight', 'b.weight']);
  const y = build(1, ['b.weight', 'a.weight']);
  const z = build(2, ['a.weight', 'b.weight']);
  assert.deepEqual(x, y);
  assert.notDeepEqual(x['a.weight'], z['a.weight']);
  const store = new ParamStore(new SeedStream(0));
  store.add('w', [2, 2], normalInit(1));
  assert.throws(() => store.add('w', [2, 2], normalInit(1)), /duplicate parameter key 'w'/);
  assert.throws(() => store.get('nope'), /no parameter 'nope'/);
  store.dispose();
  assert.equal(tf.memory().numTensors, 0);
});
