import { test } from 'node:test';
import assert from 'node:assert/strict';
import { recallCurvesFigure } from '../src/plotting/figures/recall_curves';
import { umapClustersFigure } from '../src/plotting/figures/umap_clusters';
import { beliefOverlayFigure, beliefAcrossCheckpointsFigure, beliefBatchFigure } from '../src/plotting/figures/belief_matrix';
import { textQueryFigure, imageQueryFigure, topMatches } from '../src/plotting/figures/retrieval_browser';
import { ablationBarsFigure } from '../src/plotting/figures/ablation_bars';
import { lossCurvesFigure, smooth } from '../src/plotting/figures/loss_curves';
import { PlotlyFigure } from '../src/plotting/theme';
import { RgbImage } from '../src/io/image_codecs';

/** Every number in the figure is finite (nulls are allowed: plotly line breaks). */
function assertNoNaN(fig: PlotlyFigure, where: string): void {
  const walk = (v: unknown, p: string): void => {
    if (typeof v === 'number') assert.ok(Number.isFinite(v), `${where}: non-finite number at ${p}`);
    else if (Array.isArray(v)) v.forEach((x, i) => walk(x, `${p}[${i}]`));
    else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) walk(x, `${p}.${k}`);
  };
  walk(fig, 'fig');
  assert.doesNotThrow(() => JSON.stringify(fig));
}

const img: RgbImage = { width: 8, height: 8, data: new Uint8Array(8 * 8 * 3).map((_, i) => (i * 37) % 256) };

test('recall curves: one mean line per run and direction, seed bands, K axis and 0–100 range', () => {
  const curve = (o: number) => ({ i2t: [10 + o, 30 + o, 50, 70, 100], t2i: [5, 20 + o, 40, 80, 100] });
  const fig = recallCurvesFigure([{ name: 'full', seeds: [curve(0), curve(2), curve(4)] }, { name: 'no prior', seeds: [curve(1)] }]);
  const lines = fig.data.filter((t) => t.line && t.line.width === 2);
  assert.equal(lines.length, 4); // 2 runs × 2 directions
  assert.equal(fig.data.filter((t) => t.fill === 'tonexty').length, 2, 'band only for the multi-seed run, both panels');
  const mean = lines[0].y as number[];
  assert.deepEqual(mean.slice(0, 2), [12, 32]);
  const lower = fig.data.find((t) => t.fill === 'tonexty')!.y as number[];
  assert.equal(lower[0], 10);
  assert.deepEqual((fig.layout.yaxis as { range: number[] }).range, [0, 100]);
  assert.equal((fig.layout.xaxis2 as { title: string }).title, 'K');
  const std = recallCurvesFigure([{ name: 'a', seeds: [curve(0), curve(4)] }], { band: 'std', directions: ['t2i'], maxK: 3 });
  assert.equal((std.data[2].x as number[]).length, 3);
  assertNoNaN(fig, 'recall');
  assertNoNaN(std, 'recall std');
});

test('UMAP clusters: per-class image + caption traces, pair lines, side-by-side panels', () => {
  const panel = (title: string) => ({
    title,
    imageXY: [0, 0, 1, 1, 5, 5],
    textXY: [0.1, 0, 0.9, 1, 5.2, 5, 4.8, 5.1],
    txt2img: [0, 1, 2, 2],
    imageClass: ['airport', 'airport', null],
    imageLabels: ['airport_1.jpg', 'airport_2.jpg', '00001.jpg'],
    captions: ['a', 'b', 'c', 'd'],
  });
  const fig = umapClustersFigure([panel('run A'), panel('run B')]);
  const airport = fig.data.filter((t) => t.legendgroup === 'airport');
  assert.equal(airport.length, 4, 'image + caption trace per panel');
  assert.equal((airport[0].marker as { symbol: string }).symbol, 'circle');
  assert.equal((airport[1].marker as { symbol: string }).symbol, 'x-thin');
  assert.equal((airport[1].text as string[])[0], 'caption 0 → image 0: a');
  const pairs = fig.data.filter((t) => t.legendgroup === 'pairs');
  assert.equal(pairs.length, 2);
  assert.equal((pairs[0].x as unknown[]).length, 4 * 3);
  assert.ok(fig.layout.xaxis2, 'second panel axes');
  assert.equal(fig.data.filter((t) => t.xaxis === 'x2').length, fig.data.filter((t) => t.xaxis === 'x').length);
  assertNoNaN(fig, 'umap');
  assert.throws(() => umapClustersFigure([{ ...panel('bad'), textXY: [0, 0] }]), /caption points/);
});

test('belief figures: image + heatmap overlay on the patch grid, kept tokens, batch matrix, checkpoints row', () => {
  const grid: [number, number] = [2, 2];
  const belief = [0.9, 0.1, 0.2, 0.3, 0.4]; // global token + 2×2
  const fig = beliefOverlayFigure(img, { label: 'img0', belief, keptIdx: [0, 3, 4] }, { grid });
  assert.deepEqual(fig.data.map((t) => t.type), ['image', 'heatmap', 'scatter']);
  assert.ok(String(fig.data[0].source).startsWith('data:image/png;base64,'));
  assert.deepEqual(fig.data[1].z, [[0.1, 0.2], [0.3, 0.4]]);
  assert.equal(fig.data[1].opacity, 0.5);
  assert.deepEqual(fig.data[2].x, [2, 6], 'kept patch tokens at cell centres (global token not drawn)');
  assert.deepEqual(fig.data[2].y, [6, 6]);
  assert.match(String(fig.layout.title), /global token 0\.900/);
  const row = beliefAcrossCheckpointsFigure(img, [{ label: 'epoch 1', belief }, { label: 'epoch 5', belief: [0.5, 0.4, 0.3, 0.2, 0.1] }], { grid });
  assert.equal(row.data.filter((t) => t.type === 'heatmap').length, 2);
  assert.equal(row.data.filter((t) => t.type === 'heatmap' && t.showscale).length, 1, 'one shared colour bar');
  assert.equal(row.data[1].zmax, 0.4);
  const batch = beliefBatchFigure(new Float32Array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6]), 2, [[1], [0, 2]]);
  assert.equal((batch.data[0].z as number[][]).length, 2);
  assert.equal((batch.data[1].x as number[]).length, 3);
  for (const f of [fig, row, batch]) assertNoNaN(f, 'belief');
  assert.throws(() => beliefOverlayFigure(img, { label: 'x', belief: [1, 2, 3] }, { grid }), /do not fit/);
});

test('retrieval browser: top matches, caption → images row, image → captions table', () => {
  const cands = new Float32Array([1, 0, 0, 1, 0.7, 0.7]);
  const top = topMatches(new Float32Array([1, 0]), cands, 2);
  assert.deepEqual(top.index, [0, 2]);
  const f1 = textQueryFigure('two planes parked', [{ image: img, score: 0.8, isPositive: true, label: 'airport_1.jpg' }, { image: img, score: 0.5, isPositive: false }]);
  assert.equal(f1.data.length, 2);
  assert.equal((f1.layout.shapes as unknown[]).length, 1, 'ground truth outlined');
  const f2 = imageQueryFigure(img, [{ text: 'a', score: 0.9, isPositive: false }, { text: 'b', score: 0.3, isPositive: true }]);
  const cells = (f2.data[1].cells as { values: unknown[][] }).values;
  assert.deepEqual(cells[2], ['', '✓']);
  for (const f of [f1, f2]) assertNoNaN(f, 'browser');
});

test('ablation bars: mean ± std per variant, full-model reference line; loss curves with parts and validation', () => {
  const fig = ablationBarsFigure([{ variant: 'full', values: [60, 62] }, { variant: 'no S-PAE', values: [55, 57, 56] }], { metric: 'mR (%)', fullModel: 'full' });
  assert.deepEqual(fig.data[0].y, [61, 56]);
  assert.ok(Math.abs((fig.data[0].error_y!.array as number[])[0] - Math.SQRT2) < 1e-12);
  assert.equal((fig.layout.shapes as { y0: number }[])[0].y0, 61);
  assert.equal((fig.layout.yaxis as { title: string }).title, 'mR (%)');
  assert.throws(() => ablationBarsFigure([{ variant: 'a', values: [1] }], { metric: 'm', fullModel: 'zz' }), /full model/);
  const loss = lossCurvesFigure(
    [{ name: 'run', points: [{ step: 1, total: 3, parts: { contrastive: 2, affiliation: 1 } }, { step: 2, total: 2, parts: { contrastive: 1.5, affiliation: 0.5 } }], validation: [{ step: 2, value: 40 }] }],
    { smoothing: 0.5, validationLabel: 'val mR' },
  );
  assert.equal(loss.data.length, 4); // total + 2 parts + validation
  assert.equal(loss.data[3].yaxis, 'y2');
  assert.ok(loss.layout.yaxis2);
  assert.deepEqual(smooth([2, 2, 2], 0.9).map((v) => Number(v.toFixed(12))), [2, 2, 2], 'bias-corrected EMA of a constant');
  for (const f of [fig, loss]) assertNoNaN(f, 'ablation/loss');
});
