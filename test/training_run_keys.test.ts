/**
 * Stage keys and run ids of the default and paper suites (and their notebook budget) are pinned:
 * a refactor that changed them would retrain every finished run instead of reusing it. The fixture
 * was computed before the recipe was split into run cache / stage task / recipe (commit 740431a).
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { loadSuite, resolveExperiment, FULL_MODEL, loadAblation } from '../src/config/experiment';
import { stageKeys, stageRunIds } from '../src/training/run_cache';
import { notebookBudget } from '../src/notebook/recipe/stages';

const FIXTURE = path.join(__dirname, 'fixtures', 'recipe_stage_keys.json');

test('stage keys and run ids of the default and paper suites are unchanged', () => {
  const want = JSON.parse(fs.readFileSync(FIXTURE, 'utf8')) as Record<string, unknown>;
  const got: Record<string, unknown> = {};
  for (const [tag, overrides] of [['', undefined], ['nb:', notebookBudget('embedded-fast')]] as const) {
    for (const name of ['default', 'paper']) {
      const s = loadSuite(name);
      const base = resolveExperiment(s.preset, null, overrides);
      for (const seed of s.seeds) {
        for (const ab of s.ablations) {
          const exp = resolveExperiment(s.preset, ab === FULL_MODEL ? null : loadAblation(ab), overrides);
          got[`${tag}${name}/${ab}/s${seed}`] = { keys: stageKeys(exp, seed), ids: stageRunIds(exp, seed, ab, base) };
        }
      }
    }
  }
  // the paper suite's seeds 3 and 4 were added to the fixture when the suite went from three seeds to five
  // (the 120 entries pinned before were unchanged)
  assert.deepEqual(Object.keys(got).sort(), Object.keys(want).sort());
  for (const k of Object.keys(want)) assert.deepEqual(got[k], want[k], k);
});
