import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backends/backend';
import { projectRoot } from '../src/utils/fs';
import { SeedStream } from '../src/utils/random';
import { readSafetensorsFile, toFloat32, toInt32Numbers } from '../src/io/safetensors';
import { runRetrievalCase } from '../src/parity/retrieval_case';
import { retrievalMetrics, retrievalMetricsFromMatrix, TieRule, TIE_RULES, formatMetrics } from '../src/evaluation/retrieval_metrics';

const golden = path.resolve(projectRoot(), '..', 'shared', 'golden');

test('golden retrieval: aux ranks, topk hits and both reference protocols reproduced exactly', () => {
  const rows = runRetrievalCase(golden);
  assert.ok(rows.length >= 30, `expected all comparisons, got ${rows.length}`);
  for (const r of rows) assert.ok(r.pass, `${r.name}: maxAbs ${r.maxAbs}`);
});

test('golden retrieval: on queries with tie_query = 0 every rule gives the same rank', () => {
  const t = readSafetensorsFile(path.join(golden, 'retrieval.safetensors'));
  const [I] = t.get('input/sims')!.shape;
  const sims = toFloat32(t.get('input/sims')!);
  const txt2img = toInt32Numbers(t.get('input/txt2img')!);
  const ranks = TIE_RULES.map((rule) => retrievalMetricsFromMatrix(sims, I, txt2img, { tieRule: rule, keepRanks: true }).ranks!);
  for (const dir of ['i2t', 't2i'] as const) {
    const tie = toInt32Numbers(t.get(`aux/tie_query_${dir}`)!);
    const exp = toInt32Numbers(t.get(`aux/rank_${dir}_optimistic`)!);
    let checked = 0;
    tie.forEach((flag, q) => {
      if (flag !== 0) return;
      checked++;
      for (const r of ranks) assert.equal(r[dir][q], exp[q], `${dir} query ${q}`);
    });
    assert.ok(checked > 0);
  }
});

/** Brute force on the full matrix: sort every row with an explicit tie order, position of the first positive. */
function bruteForce(sims: Float32Array, I: number, T: number, txt2img: number[], rule: 'optimistic' | 'pessimistic') {
  const rank = (row: number[], pos: Set<number>) => {
    const order = row.map((s, j) => j);
    order.sort((a, b) => {
      if (row[b] !== row[a]) return row[b] - row[a];
      const pa = pos.has(a) ? 1 : 0;
      const pb = pos.has(b) ? 1 : 0;
      return rule === 'optimistic' ? pb - pa : pa - pb;
    });
    return order.findIndex((j) => pos.has(j));
  };
  const i2t: number[] = [];
  for (let i = 0; i < I; i++) {
    const row = Array.from(sims.subarray(i * T, (i + 1) * T));
    i2t.push(rank(row, new Set(txt2img.flatMap((im, t) => (im === i ? [t] : [])))));
  }
  const t2i: number[] = [];
  for (let t = 0; t < T; t++) {
    const col = Array.from({ length: I }, (_, i) => sims[i * T + t]);
    t2i.push(rank(col, new Set([txt2img[t]])));
  }
  const r = (ranks: number[], k: number) => (100 * ranks.filter((x) => x < k).length) / ranks.length;
  return { i2t, t2i, r };
}

/** Embeddings with values in multiples of 1/4 and small dims: dot products are exact and tie often. */
function tiedEmbeddings(seeds: SeedStream, n: number, dim: number, dup: number): Float32Array {
  const out = new Float32Array(n * dim);
  for (let r = 0; r < n; r++) {
    const src = r > 0 && seeds.random() < dup ? seeds.int(r) : -1;
    for (let d = 0; d < dim; d++) out[r * dim + d] = src >= 0 ? out[src * dim + d] : seeds.intBetween(-2, 2) / 4;
  }
  return out;
}

test('chunked (tfjs matmul, several sizes and chunk sizes) equals the brute-force full matrix on data with ties', async () => {
  await initBackend('wasm', { quiet: true });
  const seeds = new SeedStream(42);
  const before = tf.memory().numTensors;
  for (const [I, perImage, dim] of [
    [7, 5, 3],
    [23, 5, 4],
    [40, 2, 2],
    [16, 1, 5],
  ] as const) {
    const T = I * perImage;
    const txt2img = Array.from({ length: T }, (_, t) => Math.floor(t / perImage));
    seeds.shuffle(txt2img);
    const V = tiedEmbeddings(seeds, I, dim, 0.2);
    const W = tiedEmbeddings(seeds, T, dim, 0.2);
    const sims = new Float32Array(I * T);
    for (let i = 0; i < I; i++) for (let t = 0; t < T; t++) {
      let s = 0;
      for (let d = 0; d < dim; d++) s += V[i * dim + d] * W[t * dim + d];
      sims[i * T + t] = s;
    }
    for (const rule of ['optimistic', 'pessimistic'] as const) {
      const bf = bruteForce(sims, I, T, txt2img, rule);
      for (const chunkSize of [1, 3, 64]) {
        const m = retrievalMetrics(V, W, Int32Array.from(txt2img), { tieRule: rule, chunkSize, keepRanks: true });
        assert.deepEqual(Array.from(m.ranks!.i2t), bf.i2t, `i2t ranks ${I}x${T} ${rule} chunk ${chunkSize}`);
        assert.deepEqual(Array.from(m.ranks!.t2i), bf.t2i, `t2i ranks ${I}x${T} ${rule} chunk ${chunkSize}`);
        assert.equal(m.i2t.r1, bf.r(bf.i2t, 1));
        assert.equal(m.t2i.r5, bf.r(bf.t2i, 5));
        // the curve and the table agree, and the curve ends at 100 %
        assert.equal(m.curves.i2t[0], m.i2t.r1);
        if (T >= 10) assert.equal(m.curves.i2t[9], m.i2t.r10);
        assert.equal(m.curves.t2i[m.curves.t2i.length - 1], 100);
        assert.equal(m.curves.i2t.length, T);
      }
    }
    // the pir-argsort / clip-topk rules are also independent of the chunking, and all rules agree off ties
    for (const rule of ['pir-argsort', 'clip-topk'] as TieRule[]) {
      const a = retrievalMetrics(V, W, Int32Array.from(txt2img), { tieRule: rule, chunkSize: 2, keepRanks: true });
      const b = retrievalMetricsFromMatrix(sims, I, txt2img, { tieRule: rule, keepRanks: true });
      assert.deepEqual(a.ranks, b.ranks);
      assert.deepEqual(a.curves, b.curves);
    }
    const opt = retrievalMetricsFromMatrix(sims, I, txt2img, { tieRule: 'optimistic' });
    assert.ok(opt.details.i2t.tiedQueries + opt.details.t2i.tiedQueries > 0, `no ties generated for ${I}x${T}`);
    const pes = retrievalMetricsFromMatrix(sims, I, txt2img, { tieRule: 'pessimistic' });
    assert.ok(opt.mR >= pes.mR);
  }
  assert.equal(tf.memory().numTensors, before, 'retrievalMetrics leaks tensors');
});

test('perfect, collapsed and per-class cases; default rule never overstates', () => {
  // identity: image i scores 1 with its captions, 0 otherwise
  const I = 4;
  const txt2img = [0, 0, 1, 1, 2, 2, 3, 3];
  const sims = new Float32Array(I * 8);
  txt2img.forEach((i, t) => (sims[i * 8 + t] = 1));
  const perfect = retrievalMetricsFromMatrix(sims, I, txt2img, { imageClasses: [0, 0, 1, -1], classNames: ['a', 'b'] });
  assert.equal(perfect.mR, 100);
  assert.equal(perfect.details.i2t.medianRank, 1);
  assert.equal(perfect.perClass!.length, 2);
  assert.deepEqual(perfect.perClass!.map((c) => [c.className, c.numImages, c.numTexts]), [['a', 2, 4], ['b', 1, 2]]);
  // collapsed model: all scores equal
  const flat = new Float32Array(I * 8).fill(0.5);
  const dflt = retrievalMetricsFromMatrix(flat, I, txt2img);
  assert.equal(dflt.tieRule, 'pessimistic');
  assert.equal(dflt.t2i.r1, 0);
  assert.equal(retrievalMetricsFromMatrix(flat, I, txt2img, { tieRule: 'optimistic' }).mR, 100);
  assert.equal(dflt.details.t2i.tiedQueries, 8);
  assert.match(formatMetrics(dflt), /I→T R@1\/5\/10/);
  assert.throws(() => retrievalMetricsFromMatrix(sims, I, [0, 0, 1, 1, 2, 2, 2, 2]), /image 3 has no caption/);
  assert.throws(() => retrievalMetricsFromMatrix(sims, I, [0, 0, 1, 1, 2, 2, 3, 9]), /txt2img\[7\] = 9/);
});
