import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tCdf, tQuantile, pairedTInterval, mRFromRanks, bootstrapPairedDelta, bootstrapQueriesOnly, resolvableDifference, excludesZero, QueryRanks } from '../src/evaluation/statistics';
import { ResultRow, summarise, verdict, summaryMarkdown } from '../src/training/results';

const near = (a: number, b: number, tol: number, what: string): void => assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs ${b}`);

test('Student t quantiles match the published table', () => {
  // two-sided 95 % critical values (scipy.stats.t.ppf(0.975, df))
  near(tQuantile(0.975, 1), 12.7062047, 1e-5, 'df 1');
  near(tQuantile(0.975, 2), 4.30265273, 1e-6, 'df 2');
  near(tQuantile(0.975, 4), 2.77644511, 1e-6, 'df 4');
  near(tQuantile(0.975, 30), 2.04227246, 1e-6, 'df 30');
  near(tQuantile(0.8, 4), 0.94096457, 1e-6, 'df 4, 80 %');
  near(tCdf(0, 3), 0.5, 1e-12, 'symmetry');
  near(tCdf(-2.77644511, 4), 0.025, 1e-7, 'lower tail');
  assert.throws(() => tQuantile(1, 3), /p must be in \(0, 1\)/);
});

test('pairedTInterval: mean ± t·sd/√n; null with one seed', () => {
  const ci = pairedTInterval([-1, -2, -3]);
  assert.ok(ci);
  near(ci.mean, -2, 1e-12, 'mean');
  near(ci.hi - ci.mean, 4.30265273 * (1 / Math.sqrt(3)), 1e-6, 'half width');
  assert.equal(excludesZero(ci), false, '[-4.48, 0.48] includes 0');
  assert.equal(excludesZero(pairedTInterval([-2, -2.1, -1.9, -2.05, -1.95])), true);
  assert.equal(pairedTInterval([1]), null);
});

/** Ranks of 4 images × 2 captions. */
function ranks(i2t: number[], t2i: number[]): QueryRanks {
  return { i2t, t2i, txt2img: [0, 0, 1, 1, 2, 2, 3, 3] };
}

test('mRFromRanks reproduces the mean of the six recalls', () => {
  const r = ranks([0, 3, 7, 20], [0, 1, 4, 9, 0, 30, 2, 10]);
  // i2t R@1 25, R@5 50, R@10 75; t2i R@1 25, R@5 62.5, R@10 75
  near(mRFromRanks(r), (25 + 50 + 75 + 25 + 62.5 + 75) / 6, 1e-9, 'mR');
  near(mRFromRanks(r, [0, 0]), (300 + 50 + 100 + 100) / 6, 1e-9, 'image 0 twice: its own recalls (caption 1 misses R@1)');
});

test('bootstrap: identical runs give a zero-width interval; a uniform shift is resolved; test noise widens it', () => {
  const a = ranks([0, 3, 7, 20], [0, 1, 4, 9, 0, 30, 2, 10]);
  const same = bootstrapPairedDelta([{ seed: 0, full: a, variant: a }, { seed: 1, full: a, variant: a }], { resamples: 200 });
  assert.ok(same);
  assert.deepEqual([same.lo, same.hi, same.mean], [0, 0, 0]);
  // the variant misses every query the full model finds at rank 1 → lower in every resample
  const top = ranks([0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 0, 0]);
  const worse = ranks([20, 20, 20, 20], [20, 20, 20, 20, 20, 20, 20, 20]);
  const b = bootstrapPairedDelta([{ seed: 0, full: top, variant: worse }, { seed: 1, full: top, variant: worse }], { resamples: 500 });
  assert.ok(b && b.hi === -100 && b.lo === -100 && excludesZero(b), JSON.stringify(b));
  // a partial shift: reproducible from its seed, and the interval contains the observed Δ
  const part = ranks([1, 3, 7, 20], [1, 1, 4, 9, 1, 30, 2, 10]);
  const p1 = bootstrapPairedDelta([{ seed: 0, full: a, variant: part }, { seed: 1, full: a, variant: part }], { resamples: 500 });
  assert.deepEqual(bootstrapPairedDelta([{ seed: 0, full: a, variant: part }, { seed: 1, full: a, variant: part }], { resamples: 500 }), p1);
  assert.ok(p1 && p1.lo <= p1.mean && p1.mean <= p1.hi && p1.mean < 0);
  const q = bootstrapQueriesOnly(a, worse, { resamples: 500 });
  assert.ok(q.sd > 0 && q.lo <= q.mean && q.mean <= q.hi);
  assert.equal(bootstrapPairedDelta([{ seed: 0, full: a, variant: worse }]), null, 'one seed: no interval');
  assert.throws(() => bootstrapPairedDelta([{ seed: 0, full: a, variant: worse }, { seed: 1, full: a, variant: { ...worse, i2t: [0] } }]), /not the same test split/);
});

test('resolvableDifference: half-width and 80 %-power difference from the paired sd', () => {
  const r = resolvableDifference(1.5, 5);
  near(r.halfWidth, 2.77644511 * 1.5 / Math.sqrt(5), 1e-6, 'half width');
  near(r.detectable, (2.77644511 + 0.94096457) * 1.5 / Math.sqrt(5), 1e-6, 'detectable');
  assert.throws(() => resolvableDifference(1, 1), /n ≥ 2/);
});

function row(ablation: string, seed: number, mR: number): ResultRow {
  return { ablation, seed, runId: `${ablation}-${seed}`, i2t_r1: mR, i2t_r5: mR, i2t_r10: mR, t2i_r1: mR, t2i_r5: mR, t2i_r10: mR, mR, val_mR: mR, seconds: 1 };
}

test('verdict: above/below full only when the interval excludes 0', () => {
  // every seed lower and |mean| > sd (the old rule's "finding"), but three seeds: t interval includes 0
  const rows = [row('full', 0, 60), row('full', 1, 62), row('full', 2, 58), row('x', 0, 59.5), row('x', 1, 59), row('x', 2, 57.8)];
  const s = summarise(rows, ['full', 'x']);
  assert.ok(s[1].pairedDeltaMR.ci && !excludesZero(s[1].pairedDeltaMR.ci));
  assert.match(verdict(s[1], s[0]), /^within seed noise: the interval includes 0/);
  const clear = summarise([...rows.slice(0, 3), row('y', 0, 55), row('y', 1, 57.1), row('y', 2, 52.9)], ['full', 'y']);
  assert.match(verdict(clear[1], clear[0]), /^below full: the interval excludes 0 \(paired Δ −?-5\.00, 95 % t interval over 3 seeds \[/);
  // with ranks: the bootstrap over test images can veto the t interval
  const a = ranks([0, 3, 7, 20], [0, 1, 4, 9, 0, 30, 2, 9]);
  const b = ranks([0, 3, 7, 20], [0, 1, 4, 9, 0, 30, 2, 10]); // one caption of 8 drops out of the top 10
  const rr = [row('full', 0, mRFromRanks(a)), row('full', 1, mRFromRanks(a)), row('z', 0, mRFromRanks(b) - 0.001), row('z', 1, mRFromRanks(b) + 0.001)];
  const map = new Map([['full-0', a], ['full-1', a], ['z-0', b], ['z-1', b]]);
  const withB = summarise(rr, ['full', 'z'], {}, { ranks: map, resamples: 300 });
  assert.ok(withB[1].pairedDeltaMR.bootstrap, 'bootstrap computed');
  assert.ok(excludesZero(withB[1].pairedDeltaMR.ci), 'seeds agree closely');
  assert.match(verdict(withB[1], withB[0]), /^within test-split noise/);
  assert.match(summaryMarkdown(clear), /−?-?5\.00 ± [0-9.]+ \[[−\-+0-9., ]+\] \(3\/3 lower\)/);
});
