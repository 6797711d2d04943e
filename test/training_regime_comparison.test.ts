/**
 * The v1-against-v2 table: each mechanism's cell is the paired Δ, its t interval and the verdict's
 * reading of that regime's suite; a regime without the variant reads '—', one whose runs are missing
 * 'not run yet'; the committed records rebuild it without training.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { ResultRow, summarise } from '../src/training/results';
import { REGIMES, REGIME_MECHANISMS, RegimeSummary, regimeComparisonMarkdown, regimeSummaries } from '../src/training/regime_comparison';
import { loadSuite } from '../src/config/experiment';

function row(ablation: string, seed: number, mR: number): ResultRow {
  const m = { i2t_r1: mR, i2t_r5: mR, i2t_r10: mR, t2i_r1: mR, t2i_r5: mR, t2i_r10: mR };
  return { ablation, seed, runId: `${ablation}-${seed}`, ...m, mR, val_mR: mR } as ResultRow;
}

test('regime table: paired Δ with its interval and reading per regime, — where a regime has no such variant', () => {
  const seeds = [0, 1, 2, 3, 4];
  const v1 = [...seeds.map((s) => row('full', s, 50 + s)), ...seeds.map((s) => row('no-affiliation', s, 50 + s - 3 + (s % 2) * 0.2))];
  const open = seeds.map((s) => row('full', s, 10 + s));
  const regs: RegimeSummary[] = [
    { name: 'v1', suite: 'paper', summary: summarise(v1, ['full', 'no-affiliation']), found: v1.length, total: 90 },
    { name: 'closed', suite: 'v2-closed', summary: [], found: 0, total: 85 },
    { name: 'open', suite: 'v2-open', summary: summarise(open, ['full']), found: open.length, total: 40 },
  ];
  const md = regimeComparisonMarkdown(regs);
  const aff = md.split('\n').find((l) => l.startsWith('| affiliation loss |')) as string;
  const cells = aff.split('|').map((c) => c.trim());
  assert.match(cells[2], /^-2\.92 \[-3\.\d\d, -2\.\d\d\] below full \(5 seeds\)$/);
  assert.equal(cells[3], 'not run yet');
  assert.equal(cells[4], 'not run yet'); // open has the variant in its map but no rows
  const t = md.split('\n').find((l) => l.startsWith('| T-PAE |')) as string;
  assert.equal(t.split('|').map((c) => c.trim())[4], '—'); // the open setting has no T-PAE
  assert.match(md, /\| runs found \(variant × seed\) \| 10 \/ 90 \| 0 \/ 85 \| 5 \/ 40 \|/);
});

test('every mechanism names ablations its regime\'s suite runs', () => {
  for (const m of REGIME_MECHANISMS) {
    for (const [suite, ab] of Object.entries(m.ablations)) {
      assert.ok(REGIMES.some((r) => r.suite === suite), `${m.mechanism}: ${suite} is a regime`);
      assert.ok(loadSuite(suite).ablations.includes(ab as string), `${m.mechanism}: ${suite} runs ${ab}`);
    }
  }
});

test('the committed records rebuild v1 and v2-open whole (nothing trains)', () => {
  const regs = regimeSummaries();
  const byName = Object.fromEntries(regs.map((r) => [r.suite, r]));
  assert.equal(byName.paper.found, byName.paper.total);
  assert.equal(byName['v2-open'].found, byName['v2-open'].total);
});
