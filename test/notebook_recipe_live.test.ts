import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { liveLossCurve } from '../src/notebook/recipe/live';
import { liveSvg } from '../src/plotting/live_svg';
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
