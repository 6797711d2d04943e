import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { liveLossCurve, liveSvg, parseLossInfo, seriesOfLabel, watchTrainingProgress } from '../src/notebook/recipe/live';
import { createProgress, progressSink, setProgressSink, ProgressState } from '../src/utils/progress';
import { LiveDisplay } from '../src/notebook/display';

function fakeDisplay(): LiveDisplay & { html: (s: string) => void; htmls: string[]; figs: number } {
  const d = { htmls: [] as string[], figs: 0 } as LiveDisplay & { htmls: string[]; figs: number };
  d.html = (s: string) => d.htmls.push(s);
  d.markdown = () => undefined;
  d.text = () => undefined;
  d.show = async () => {
    d.figs += 1;
  };
  return d;
}

test('parseLossInfo reads the loss the recipe reports and nothing else', () => {
  assert.equal(parseLossInfo('loss 3.4657'), 3.4657);
  assert.equal(parseLossInfo('epoch 2 | loss 1.5e-3'), 0.0015);
  assert.equal(parseLossInfo('accuracy 0.5'), null);
  assert.equal(parseLossInfo(''), null);
  assert.equal(seriesOfLabel('full s0 stage1'), 'stage1');
  assert.equal(seriesOfLabel('embed test'), 'embed test');
});

test('liveSvg draws one polyline per series with the last loss in the legend', () => {
  const svg = liveSvg(new Map([['stage0', [{ step: 1, loss: 2 }, { step: 2, loss: 1 }]], ['stage1', [{ step: 1, loss: 3.4 }]]]));
  assert.equal((svg.match(/<polyline/g) ?? []).length, 2);
  assert.match(svg, /stage0: 1\.000/);
  assert.match(svg, /stage1: 3\.400/);
  assert.match(liveSvg(new Map()), /waiting/);
});

test('liveLossCurve throttles redraws, drops non-increasing steps and shows the final figure', async () => {
  let t = 0;
  const d = fakeDisplay();
  const live = liveLossCurve({ display: d, redrawMs: 100, now: () => t });
  live.add({ series: 'stage1', step: 1, loss: 3 });
  t = 50;
  live.add({ series: 'stage1', step: 2, loss: 2.9 }); // within the interval: no redraw
  live.add({ series: 'stage1', step: 2, loss: 2.0 }); // same step again: ignored
  t = 200;
  live.add({ series: 'stage1', step: 3, loss: 2.5 });
  assert.equal(d.htmls.length, 2);
  assert.deepEqual(live.samples().get('stage1')?.map((p) => p.step), [1, 2, 3]);
  await live.finish([{ name: 'stage1', points: [{ step: 1, total: 3 }, { step: 2, total: 2.5 }] }]);
  assert.equal(d.figs, 1);
});

test('watchTrainingProgress forwards progress losses, keeps the previous sink, and restores it', () => {
  const seen: ProgressState[] = [];
  const prev = progressSink();
  setProgressSink(() => ({ update: (s) => seen.push(s), done: (s) => seen.push(s) }));
  const d = fakeDisplay();
  const live = liveLossCurve({ display: d, redrawMs: 0 });
  const stop = watchTrainingProgress(live);
  try {
    const bar = createProgress('full s0 stage2', 3);
    bar.tick(1, 'loss 5.5');
    bar.tick(1, 'loss 4.5'); // throttled by the counter; done() delivers the last state
    bar.done();
  } finally {
    stop();
  }
  const pts = live.samples().get('stage2') ?? [];
  assert.deepEqual(pts.map((p) => p.step), [1, 2]);
  assert.equal(pts[0].loss, 5.5);
  assert.equal(pts[1].loss, 4.5);
  assert.ok(seen.length >= 2, 'the previously registered sink still got its updates');
  assert.notEqual(progressSink(), null);
  setProgressSink(prev);
});
