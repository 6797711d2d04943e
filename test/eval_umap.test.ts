import { test } from 'node:test';
import assert from 'node:assert/strict';
import { projectUmap, projectImageTextUmap } from '../src/evaluation/umap';
import { SeedStream } from '../src/utils/random';

function clusters(seed: number, perCluster: number, k: number, dim: number): { pts: Float32Array; label: number[] } {
  const s = new SeedStream(seed);
  const centers = Array.from({ length: k }, () => Array.from({ length: dim }, () => s.normal() * 4));
  const pts = new Float32Array(perCluster * k * dim);
  const label: number[] = [];
  for (let c = 0; c < k; c++) for (let p = 0; p < perCluster; p++) {
    const r = c * perCluster + p;
    label.push(c);
    for (let d = 0; d < dim; d++) pts[r * dim + d] = centers[c][d] + s.normal() * 0.3;
  }
  return { pts, label };
}

test('projectUmap is deterministic for a seed, differs across seeds, and separates clusters', () => {
  const { pts, label } = clusters(1, 30, 3, 16);
  const opts = { seed: 7, nEpochs: 80, metric: 'euclidean' as const };
  const a = projectUmap(pts, 16, opts);
  const b = projectUmap(pts, 16, opts);
  assert.equal(a.length, 90 * 2);
  assert.deepEqual(a, b, 'same seed must give identical coordinates');
  const c = projectUmap(pts, 16, { ...opts, seed: 8 });
  assert.notDeepEqual(a, c);
  assert.ok(a.every(Number.isFinite));
  // within-cluster spread is much smaller than between-centroid distance
  const cent = [0, 1, 2].map((k) => {
    const idx = label.map((l, i) => (l === k ? i : -1)).filter((i) => i >= 0);
    return [0, 1].map((d) => idx.reduce((acc, i) => acc + a[i * 2 + d], 0) / idx.length);
  });
  let within = 0;
  label.forEach((l, i) => (within += Math.hypot(a[i * 2] - cent[l][0], a[i * 2 + 1] - cent[l][1]) / label.length));
  const between = Math.min(Math.hypot(cent[0][0] - cent[1][0], cent[0][1] - cent[1][1]), Math.hypot(cent[0][0] - cent[2][0], cent[0][1] - cent[2][1]), Math.hypot(cent[1][0] - cent[2][0], cent[1][1] - cent[2][1]));
  assert.ok(between > 2 * within, `clusters not separated: within ${within}, between ${between}`);
  assert.throws(() => projectUmap(new Float32Array(5), 2, opts), /whole number/);
});

test('projectImageTextUmap splits one joint projection into image and caption coordinates', () => {
  const { pts } = clusters(2, 10, 2, 8); // 20 points: first 6 as images, 14 as captions
  const r = projectImageTextUmap(pts.slice(0, 6 * 8), pts.slice(6 * 8), 8, { seed: 1, nEpochs: 50 });
  const joint = projectUmap(pts, 8, { seed: 1, nEpochs: 50 });
  assert.equal(r.imageXY.length, 12);
  assert.equal(r.textXY.length, 28);
  assert.deepEqual(Array.from(r.imageXY), Array.from(joint.slice(0, 12)));
  assert.deepEqual(Array.from(r.textXY), Array.from(joint.slice(12)));
});
