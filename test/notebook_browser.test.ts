/**
 * The interactive front end, end to end in a real browser: `npm run lab`'s server (scripts/lab.ts,
 * classic Jupyter Notebook + the kit's tslab kernel) and headless Chromium driven by playwright-core.
 *
 * For 00_smoke and 02_spatial_pae (copies in build/notebook_browser/notebooks/, so nothing tracked is
 * touched) it clicks Cell → Run All, waits for the kernel, and asserts: every code cell ran; no error
 * output and no stderr output; every <img> decoded with a non-zero size and none wider than its output
 * area (the image row fits); every figure is interactive (plotly drew it, with modebar and hover layer)
 * and the first one answers a real mouse hover with a hover label; the page made no request outside
 * 127.0.0.1 and logged no error from kit code; File → Save writes the notebook back byte-identical to
 * the committed, stripped one. Screenshots: build/notebook_browser/*.png.
 *
 * Skips when jupyter-notebook or Chromium is missing, unless KIT_REQUIRE_BROWSER_TEST=1 (CI sets it).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { BrowserContext, Page } from 'playwright-core';
import { projectRoot } from '../src/utils/fs';
import { CHROMIUM_ARGS, findChromium } from '../src/plotting/render';
import { findNotebookServer, RunningLab, startLab } from '../scripts/lab';
import { cleanNotebookText } from '../scripts/clean_notebooks';

const ROOT = projectRoot();
const OUT = path.join(ROOT, 'build', 'notebook_browser');
const NOTEBOOKS = ['00_smoke', '02_spatial_pae'];
/** Max time for Run All of one notebook (fast profile; 02 may train a small run when none exists). */
const RUN_ALL_TIMEOUT_MS = 15 * 60_000;
const VIEWPORT = { width: 1280, height: 1000 };

const server = findNotebookServer();
const chromium = findChromium();
const required = process.env.KIT_REQUIRE_BROWSER_TEST === '1';
const missing = [!server && 'jupyter-notebook (npm run setup installs it)', !chromium && 'Chromium'].filter(Boolean).join(', ');
if (missing && required) throw new Error(`KIT_REQUIRE_BROWSER_TEST=1 but ${missing} is missing`);

/** What window.kitTest.report() (test/browser/notebook_page.js) returns. */
interface CellReport {
  codeCells: number;
  unexecuted: number[];
  errors: string[];
  stderr: string[];
  images: { src: string; complete: boolean; w: number; h: number; right: number; areaRight: number }[];
  tables: { cell: number; right: number; areaRight: number }[];
  figures: { cell: number; status: string | null; modebar: boolean; hoverlayer: boolean }[];
}

const PAGE_HELPERS = path.join(__dirname, 'browser', 'notebook_page.js');

/** Move the real mouse onto a data point of the first interactive figure; true if a hover label appears. */
/** Attempts at the hover (the point is recomputed each time: a loaded machine may still be laying out the page). */
const HOVER_ATTEMPTS = 4;

async function hoverFirstFigure(page: Page): Promise<{ ok: boolean; at: { x: number; y: number } }> {
  let at = { x: 0, y: 0 };
  for (let i = 0; i < HOVER_ATTEMPTS; i++) {
    at = (await page.evaluate('window.kitTest.hoverPoint()')) as { x: number; y: number };
    await page.waitForTimeout(250); // let scrollIntoView settle, then measure again
    at = (await page.evaluate('window.kitTest.hoverPoint()')) as { x: number; y: number };
    await page.mouse.move(at.x - 40, at.y - 40);
    await page.mouse.move(at.x, at.y, { steps: 8 });
    try {
      await page.waitForSelector('.kit-plotly g.hoverlayer .hovertext', { timeout: 5_000 });
      return { ok: true, at };
    } catch {
      await page.mouse.move(0, 0);
    }
  }
  return { ok: false, at };
}

/** Screenshot of the whole notebook (it scrolls inside #site, so grow the viewport first). */
async function fullScreenshot(page: Page, file: string): Promise<void> {
  const h = Math.min(16_000, Math.max(VIEWPORT.height, (await page.evaluate('window.kitTest.contentHeight()')) as number));
  await page.setViewportSize({ width: VIEWPORT.width, height: h });
  await page.screenshot({ path: file });
  await page.setViewportSize(VIEWPORT);
}

async function runNotebook(context: BrowserContext, lab: RunningLab, name: string): Promise<void> {
  const original = fs.readFileSync(path.join(ROOT, 'notebooks', `${name}.ipynb`), 'utf8');
  const rel = path.join('build', 'notebook_browser', 'notebooks', `${name}.ipynb`);
  fs.mkdirSync(path.dirname(path.join(ROOT, rel)), { recursive: true });
  fs.writeFileSync(path.join(ROOT, rel), original);

  const page = await context.newPage();
  const consoleErrors: string[] = [];
  const pageErrors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(`${m.text()} (${m.location().url})`);
  });
  page.on('pageerror', (e) => pageErrors.push(e.message));
  try {
    await page.goto(lab.notebookUrl(rel), { waitUntil: 'load' });
    await page.waitForFunction('window.kitTest.idle()', undefined, { timeout: 120_000, polling: 500 });
    const t0 = Date.now();
    await page.click('#celllink');
    await page.click('#run_all_cells > a');
    // Wait until cells are queued, then until nothing runs; figures draw once plotly.js has loaded.
    await page.waitForFunction('window.kitTest.busy()', undefined, { timeout: 60_000, polling: 100 });
    await page.waitForFunction('window.kitTest.idle()', undefined, { timeout: RUN_ALL_TIMEOUT_MS, polling: 500 });
    const seconds = (Date.now() - t0) / 1000;
    await page.waitForFunction('window.kitTest.figuresSettled()', undefined, { timeout: 60_000, polling: 250 }).catch(() => undefined);
    const r = (await page.evaluate('window.kitTest.report()')) as CellReport;
    await fullScreenshot(page, path.join(OUT, `${name}.png`));

    assert.ok(r.codeCells > 0, `${name}: no code cells`);
    assert.deepEqual(r.unexecuted, [], `${name}: code cells that did not run`);
    assert.deepEqual(r.errors, [], `${name}: error outputs`);
    assert.deepEqual(r.stderr, [], `${name}: stderr outputs (tslab reports errors there)`);
    const pngs = (await page.evaluate('window.kitTest.decodeOutputImages()')) as { cell: number; w: number; h: number }[];
    assert.ok(pngs.length > 0, `${name}: no image/png outputs`);
    for (const p of pngs) assert.ok(p.w > 0 && p.h > 0, `${name}: a PNG output of cell ${p.cell} did not decode`);
    for (const t of r.tables) assert.ok(t.right <= t.areaRight + 1, `${name}: the table of cell ${t.cell} overflows its output area`);
    for (const im of r.images) {
      assert.ok(im.complete && im.w > 0 && im.h > 0, `${name}: ${im.src} did not decode (${im.w}×${im.h})`);
      assert.ok(im.right <= im.areaRight + 1, `${name}: ${im.src} overflows its output area (${im.right.toFixed(0)} > ${im.areaRight.toFixed(0)} px)`);
    }
    assert.ok(r.figures.length > 0, `${name}: no interactive figure`);
    r.figures.forEach((f, i) => {
      assert.equal(f.status, 'interactive', `${name}: figure ${i} (cell ${f.cell}) was not drawn by plotly`);
      assert.ok(f.modebar && f.hoverlayer, `${name}: figure ${i} (cell ${f.cell}) has no modebar / hover layer`);
    });
    const hover = await hoverFirstFigure(page);
    await page.screenshot({ path: path.join(OUT, `${name}-hover.png`) });
    assert.ok(hover.ok, `${name}: no hover label after moving the mouse to (${hover.at.x.toFixed(0)}, ${hover.at.y.toFixed(0)})`);

    const isKit = (e: string) => /priorclip-kit|kit-plotly|kit-fig|files\/build\//.test(e);
    const kitErrors = consoleErrors.filter(isKit);
    const otherErrors = consoleErrors.filter((e) => !isKit(e));
    assert.deepEqual(kitErrors, [], `${name}: console errors from kit code`);
    assert.deepEqual(pageErrors, [], `${name}: uncaught page errors`);

    // File → Save: the pre-save hook strips outputs, so the file is the committed one, byte for byte.
    await page.click('#filelink');
    await page.click('#save_checkpoint > a');
    await page.waitForFunction('!window.kitTest.dirty()', undefined, { timeout: 30_000 });
    const saved = fs.readFileSync(path.join(ROOT, rel), 'utf8');
    assert.equal(cleanNotebookText(saved), saved, `${name}: the saved notebook is not clean`);
    assert.equal(saved, original, `${name}: saving from the front end changed the notebook`);
    console.log(`# ${name}: ${r.codeCells} code cells in ${seconds.toFixed(1)} s through the UI; ${pngs.length} PNG outputs, ${r.images.length} <img> on screen, ` +
      `${r.figures.length} interactive figures; other console errors: ${otherErrors.length}`);
    for (const e of otherErrors) console.log(`#   console (not kit): ${e.slice(0, 200)}`);
  } finally {
    await page.close();
  }
}

test('notebooks run through the front end in headless Chromium, with interactive figures', { skip: missing ? `missing: ${missing}` : false, timeout: 40 * 60_000 }, async () => {
  fs.mkdirSync(OUT, { recursive: true });
  const lab = await startLab({
    labDir: path.join(OUT, 'lab'),
    figuresDir: path.join(OUT, 'figures'),
    env: { KIT_PROFILE: 'fast' },
    log: (s) => fs.appendFileSync(path.join(OUT, 'server.log'), s),
  });
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kit-nb-browser-'));
  const { chromium: pw } = await import('playwright-core');
  let context: BrowserContext | null = null;
  const external: string[] = [];
  try {
    assert.match(lab.baseUrl, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    context = await pw.launchPersistentContext(userDataDir, { executablePath: chromium!, headless: true, args: [...CHROMIUM_ARGS], viewport: VIEWPORT });
    await context.addInitScript({ path: PAGE_HELPERS });
    await context.route('**/*', (route) => {
      const u = new URL(route.request().url());
      if (u.hostname === '127.0.0.1' || u.protocol === 'data:' || u.protocol === 'blob:') return route.continue();
      external.push(u.href);
      return route.abort();
    });
    for (const name of NOTEBOOKS) await runNotebook(context, lab, name);
    assert.deepEqual(external, [], 'requests outside 127.0.0.1 (a CDN?)');
    assert.ok(!fs.existsSync(path.join(OUT, 'notebooks', '.ipynb_checkpoints')), 'checkpoints must go to build/…/lab/checkpoints');
  } finally {
    if (context) await context.close();
    fs.rmSync(userDataDir, { recursive: true, force: true });
    await lab.stop();
  }
  assert.notEqual(lab.child.exitCode, null, 'the notebook server is still running after stop()');
  // Its kernels are gone too (their command lines name connection files in <labDir>/runtime).
  const runtime = path.join(OUT, 'lab', 'runtime');
  const left = (fs.existsSync('/proc') ? fs.readdirSync('/proc') : []).filter((pid) => /^\d+$/.test(pid)).filter((pid) => {
    try {
      return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(runtime);
    } catch {
      return false;
    }
  });
  assert.deepEqual(left, [], 'kernel processes left after stop()');
});
