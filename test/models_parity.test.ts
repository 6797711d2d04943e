/**
 * PAE parity against the shared golden fixtures (golden README §1–§4), on wasm and cpu.
 * Every output of every case must be within the fixture tolerance; indices exactly.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backends/backend';
import { projectRoot } from '../src/utils/fs';
import { PAE_PARITY_CASES } from '../src/parity/pae_cases';
import { CaseRows, allPass } from '../src/parity/types';

const GOLDEN = path.resolve(projectRoot(), '..', 'shared', 'golden');

function describe(r: CaseRows): string {
  return r.rows
    .filter((o) => !o.pass)
    .map((o) => `${o.name}: maxAbs ${o.maxAbs.toExponential(2)} maxRel ${o.maxRel.toExponential(2)} ${o.error ?? ''}`)
    .join('\n');
}

for (const backend of ['wasm', 'cpu'] as const) {
  for (const [name, run] of Object.entries(PAE_PARITY_CASES)) {
    test(`${name} parity on ${backend}`, async () => {
      await initBackend(backend);
      const before = tf.memory().numTensors;
      const r = run(GOLDEN);
      assert.ok(r.rows.length >= 4, `${name}: too few outputs compared (${r.rows.length})`);
      assert.ok(allPass(r.rows), `${name} on ${backend} failed:\n${describe(r)}`);
      assert.equal(tf.memory().numTensors, before, `${name}: tensors leaked`);
    });
  }
}
