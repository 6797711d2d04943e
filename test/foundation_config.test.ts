import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mergeConfig, ConfigError, checkEnum } from '../src/utils/merge_config';

const base = {
  name: 'x',
  model: { width: 64, spatialPae: { enabled: true, filterSize: 6, belief: 'hard' }, heads: [4, 4] },
  init: null as null | string,
};

test('overrides merge deeply and leave the base untouched', () => {
  const r = mergeConfig(base, { model: { spatialPae: { filterSize: 8 } } });
  assert.equal(r.model.spatialPae.filterSize, 8);
  assert.equal(r.model.spatialPae.enabled, true);
  assert.equal(base.model.spatialPae.filterSize, 6);
  const arr = mergeConfig(base, { model: { heads: [2] } });
  assert.deepEqual(arr.model.heads, [2]);
  const nul = mergeConfig(base, { init: 'run-a' });
  assert.equal(nul.init, 'run-a');
});

test('unknown keys are rejected with the key path', () => {
  assert.throws(
    () => mergeConfig(base, { model: { spatialPae: { filtersize: 8 } } }, 'ablation.json'),
    (e: unknown) => e instanceof ConfigError && e.keyPath === 'model.spatialPae.filtersize' && /ablation\.json/.test(e.message),
  );
});

test('wrong types are rejected with the key path', () => {
  assert.throws(
    () => mergeConfig(base, { model: { width: '64' } }),
    (e: unknown) => e instanceof ConfigError && e.keyPath === 'model.width' && /must be number, got string/.test(e.message),
  );
  assert.throws(() => mergeConfig(base, { model: 3 }), /'model' must be an object/);
  assert.throws(() => mergeConfig(base, { model: { heads: ['a'] } }), /model\.heads\[0\]/);
  assert.throws(() => mergeConfig(base, { model: { width: Number.NaN } }), /finite/);
  assert.throws(() => checkEnum('soft', ['hard', 'soft-head'] as const, 'model.spatialPae.belief'), /model\.spatialPae\.belief/);
});
