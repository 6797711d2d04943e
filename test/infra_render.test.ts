import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { PNG } from 'pngjs';
import { closeRenderer, findChromium, renderPng, renderSvg, renderTimings, screenshotHtml } from '../src/plotting/render';
import { figureHtml, loadFigure, saveFigure } from '../src/plotting/save';
import { applyTheme, classColors, CLASS_PALETTE, PlotlyFigure } from '../src/plotting/theme';

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const noChromium = findChromium() === null ? 'no Chromium on this machine (apt-get install chromium or KIT_CHROMIUM)' : false;

const fig: PlotlyFigure = {
  data: [
    { type: 'scatter', mode: 'lines', name: 'train', x: [1, 2, 3, 4], y: [1.0, 0.6, 0.4, 0.3] },
    { type: 'bar', name: 'val', x: [1, 2, 3, 4], y: [0.9, 0.7, 0.5, 0.45] },
  ],
  layout: { title: 'loss', xaxis: { title: 'epoch' }, yaxis: { title: 'loss' } },
};

after(async () => {
  await closeRenderer();
});

/** Fraction of pixels that are not (near) white: a blank render would be ~0. */
function inkFraction(png: PNG): number {
  let ink = 0;
  for (let i = 0; i < png.width * png.height; i++) {
    const [r, g, b] = [png.data[i * 4], png.data[i * 4 + 1], png.data[i * 4 + 2]];
    if (r < 200 || g < 200 || b < 200) ink++;
  }
  return ink / (png.width * png.height);
}

test('renderPng returns a real PNG of width·scale × height·scale pixels with something drawn', { skip: noChromium }, async () => {
  const t0 = Date.now();
  const bytes = await renderPng(fig, { width: 640, height: 360, scale: 1 });
  const first = Date.now() - t0;
  assert.deepEqual(Array.from(bytes.slice(0, 8)), PNG_SIGNATURE);
  const png = PNG.sync.read(Buffer.from(bytes));
  assert.equal(png.width, 640);
  assert.equal(png.height, 360);
  const ink = inkFraction(png);
  assert.ok(ink > 0.01 && ink < 0.5, `plot drawn (ink fraction ${ink.toFixed(3)})`);

  const t1 = Date.now();
  const big = PNG.sync.read(Buffer.from(await renderPng(fig, { width: 400, height: 300, scale: 2 })));
  const second = Date.now() - t1;
  assert.equal(big.width, 800);
  assert.equal(big.height, 600);
  const svg = await renderSvg(fig);
  assert.match(svg, /^<svg[\s\S]*<\/svg>$/);
  const t = renderTimings();
  console.log(`# render: first PNG ${first} ms (launch ${t.launchMs} ms, plotly load ${t.plotlyLoadMs} ms), next PNG ${second} ms`);
});

test('renderPng rejects bad input with a clear message', { skip: noChromium }, async () => {
  await assert.rejects(() => renderPng({ data: 'nope' } as unknown as PlotlyFigure), /figure\.data must be an array/);
  await assert.rejects(() => renderPng(fig, { width: -5 }), /width must be a positive number/);
});

test('saveFigure writes JSON (spec + provenance), offline HTML and PNG atomically into KIT_FIGURES_DIR', { skip: noChromium }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kit-figs-'));
  const prev = process.env.KIT_FIGURES_DIR;
  process.env.KIT_FIGURES_DIR = dir;
  try {
    const saved = await saveFigure(fig, 'test_loss', { runs: ['demo__base__s0'], source: 'test' });
    assert.ok(saved.png && fs.existsSync(saved.png));
    const png = PNG.sync.read(fs.readFileSync(saved.png));
    assert.equal(png.width, 1600, 'saved PNGs use SAVE_SCALE = 2');

    const spec = loadFigure('test_loss', dir);
    assert.deepEqual(spec.provenance.runs, ['demo__base__s0']);
    assert.deepEqual(spec.figure.data, fig.data);
    assert.match(spec.createdAt, /^\d{4}-\d{2}-\d{2}T/);

    const html = fs.readFileSync(saved.html, 'utf8');
    assert.doesNotMatch(html, /https?:\/\//, 'the HTML references no http(s) URL (no CDN)');
    const src = /<script src="([^"]+)"><\/script>/.exec(html);
    assert.ok(src, 'HTML loads plotly from a local file');
    assert.ok(fs.statSync(path.join(dir, src[1])).size > 1_000_000, 'plotly.js copied next to the figures');
    assert.equal(fs.readdirSync(dir).filter((f) => f.endsWith('.tmp')).length, 0, 'no temp files left');

    // Open the HTML in the offline browser: plotly must draw it from the local copy.
    const shot = PNG.sync.read(Buffer.from(await screenshotHtml(saved.html)));
    assert.ok(inkFraction(shot) > 0.01, 'the offline HTML page shows a plot');
  } finally {
    if (prev === undefined) delete process.env.KIT_FIGURES_DIR;
    else process.env.KIT_FIGURES_DIR = prev;
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('without Chromium, saveFigure still writes JSON + HTML and says how to get PNGs', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kit-figs-nochrome-'));
  const prev = { figs: process.env.KIT_FIGURES_DIR, chrome: process.env.KIT_CHROMIUM };
  process.env.KIT_FIGURES_DIR = dir;
  process.env.KIT_CHROMIUM = path.join(dir, 'no-such-chrome');
  await closeRenderer();
  const warnings: string[] = [];
  const origWarn = console.warn;
  console.warn = (...a: unknown[]) => void warnings.push(a.join(' '));
  try {
    const saved = await saveFigure(fig, 'no_png');
    const again = await saveFigure(fig, 'no_png_2');
    assert.equal(saved.png, null);
    assert.equal(again.png, null);
    assert.ok(fs.existsSync(saved.json) && fs.existsSync(saved.html));
    assert.equal(fs.existsSync(path.join(dir, 'no_png.png')), false);
    assert.equal(warnings.length, 1, 'the message is printed once');
    assert.match(warnings[0], /apt-get install .*chromium/);
    assert.match(warnings[0], /KIT_CHROMIUM/);
  } finally {
    console.warn = origWarn;
    for (const [k, v] of [['KIT_FIGURES_DIR', prev.figs], ['KIT_CHROMIUM', prev.chrome]] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('theme: distinct stable class colours, figure layout wins over theme, HTML refuses URLs', () => {
  const classes = Array.from({ length: 32 }, (_, i) => `class_${i}`);
  const colors = classColors(classes);
  assert.equal(new Set(Object.values(colors)).size, 32, '32 classes get 32 distinct colours');
  assert.deepEqual(classColors([...classes].reverse()), colors, 'order of the class list does not matter');
  assert.ok(Object.values(colors).every((c) => CLASS_PALETTE.includes(c)));
  const themed = applyTheme({ data: [], layout: { title: 'T', font: { size: 20 } } });
  assert.deepEqual((themed.layout.font as { size: number }).size, 20);
  assert.equal((themed.layout.title as { text: string }).text, 'T');
  assert.equal(themed.layout.width, 800);
  const many = { data: classes.map((c) => ({ type: 'scatter', name: c, x: [0], y: [0] })), layout: {} };
  assert.equal((applyTheme(many).layout.legend as { orientation?: string }).orientation, 'h', '32 entries: legend moves below the plot');
  assert.equal((applyTheme({ data: many.data.slice(0, 5), layout: {} }).layout.legend as { orientation?: string }).orientation, undefined);
  const placed = applyTheme({ data: many.data, layout: { legend: { x: 1.02 } } }).layout.legend as { orientation?: string; x: number };
  assert.deepEqual([placed.orientation, placed.x], [undefined, 1.02], 'a legend the figure placed itself is left alone');
  assert.throws(() => figureHtml(fig, { title: 'x', plotlySrc: 'https://cdn.plot.ly/plotly.min.js' }), /local relative path/);
});
