/**
 * Static rendering of plotly figures (PNG, SVG) through headless Chromium, driven by playwright-core.
 *
 * One browser per process: launched lazily on the first render (≈1.5 s) with plotly.js loaded once
 * into one page from node_modules (never a CDN; the context is offline), then reused; each figure
 * costs ~0.2–1 s. `closeRenderer()` closes it (the notebooks call it at the end; it also happens on
 * process exit). Chromium is Debian's /usr/bin/chromium or `KIT_CHROMIUM=/path/to/chrome`.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { BrowserContext, Page } from 'playwright-core';
import { atomicWriteFile, projectRoot } from '../utils/fs';
import { applyTheme, assertFigure, DEFAULT_SIZE, PlotlyFigure } from './theme';

export type { PlotlyFigure, PlotlyTrace } from './theme';

/** Chromium flags: headless, no sandbox (containers), no GPU, and no background network traffic. */
export const CHROMIUM_ARGS: readonly string[] = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
/** Where Chromium is looked for when KIT_CHROMIUM is not set. */
const CHROMIUM_CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome', '/usr/bin/google-chrome-stable'];
/**
 * Outside notebooks the browser closes itself after this many idle ms (KIT_RENDER_IDLE_MS overrides;
 * 0 = never), so a script that forgets `closeRenderer()` still exits. Notebook kernels keep it open.
 */
export const DEFAULT_IDLE_CLOSE_MS = 15_000;
/** Max time (ms) for plotly to draw a figure or for a saved HTML page to show its plot. */
const RENDER_TIMEOUT_MS = 120_000;

/** Thrown when no Chromium binary exists; the message says how to get one. */
export class ChromiumNotFoundError extends Error {
  constructor() {
    super(
      'no Chromium found for PNG rendering (looked at $KIT_CHROMIUM, ' +
        CHROMIUM_CANDIDATES.join(', ') +
        '). Install it with `apt-get install -y --no-install-recommends chromium` (or `npm run setup` as root), ' +
        'or set KIT_CHROMIUM=/path/to/chrome.',
    );
    this.name = 'ChromiumNotFoundError';
  }
}

/** The Chromium executable to use, or null if there is none. */
export function findChromium(): string | null {
  const env = process.env.KIT_CHROMIUM;
  if (env) return fs.existsSync(env) ? env : null;
  return CHROMIUM_CANDIDATES.find((c) => fs.existsSync(c)) ?? null;
}

/** Node's require, resolved at call time (keeps src/ loadable in tslab and plain Node alike). */
function nodeRequire(id: string): unknown {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require(id);
}

/** Absolute path of the plotly.js bundle shipped in node_modules (the minified package if one is installed). */
export function plotlyPackagePath(): string {
  for (const id of ['plotly.js-dist-min/plotly.min.js', 'plotly.js-dist/plotly.min.js', 'plotly.js-dist/plotly.js']) {
    try {
      return require.resolve(id);
    } catch {
      /* try the next */
    }
  }
  throw new Error('plotly.js is not installed: expected node_modules/plotly.js-dist/plotly.js (run `npm ci`)');
}

let bundleCache: string | null = null;

/**
 * The plotly.js file to load: plotly.js-dist ships only the 10 MB unminified bundle, which takes
 * Chromium ~7 s to parse; a minified copy (4.8 MB, ~4 s) is made once with esbuild (installed with
 * tsx) into build/cache/ and reused. Falls back to the package file if esbuild is unavailable.
 */
export function plotlyBundlePath(): string {
  if (bundleCache && fs.existsSync(bundleCache)) return bundleCache;
  const src = plotlyPackagePath();
  if (src.endsWith('.min.js')) return (bundleCache = src);
  const dest = path.join(projectRoot(), 'build', 'cache', `plotly-${packageVersionOf(src)}.min.js`);
  if (fs.existsSync(dest)) return (bundleCache = dest);
  try {
    const esbuild = nodeRequire('esbuild') as { transformSync(code: string, o: { minify: boolean; legalComments: string }): { code: string } };
    const out = esbuild.transformSync(fs.readFileSync(src, 'utf8'), { minify: true, legalComments: 'inline' });
    atomicWriteFile(dest, out.code);
    return (bundleCache = dest);
  } catch {
    return (bundleCache = src);
  }
}

function packageVersionOf(file: string): string {
  try {
    return (JSON.parse(fs.readFileSync(path.join(path.dirname(file), 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/** Version of the installed plotly.js bundle. */
export function plotlyVersion(): string {
  return packageVersionOf(plotlyPackagePath());
}

export interface RenderOptions {
  /** CSS pixels; default: layout.width, else 800. */
  width?: number;
  /** CSS pixels; default: layout.height, else 450. */
  height?: number;
  /** Device pixel ratio of the PNG (2 doubles width and height in pixels). Default 1. */
  scale?: number;
  /** Apply the kit theme (default true; it never overrides the figure's own layout). */
  theme?: boolean;
}

/** Timings of this process's renderer, for benchmarks and reports. */
export interface RenderTimings {
  launchMs: number | null;
  plotlyLoadMs: number | null;
  renders: number;
  lastRenderMs: number | null;
}

interface Renderer {
  context: BrowserContext;
  page: Page;
  userDataDir: string;
}

let renderer: Promise<Renderer> | null = null;
let queue: Promise<unknown> = Promise.resolve();
let exitHookInstalled = false;
let liveUserDataDir: string | null = null;
const timings: RenderTimings = { launchMs: null, plotlyLoadMs: null, renders: 0, lastRenderMs: null };

/** Timings so far (launch, plotly load, last render). */
export function renderTimings(): RenderTimings {
  return { ...timings };
}

/** Is a browser running in this process? */
export function rendererRunning(): boolean {
  return renderer !== null;
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Playwright kills the browsers it launched when the process exits; we remove the profile folder.
  process.once('exit', () => {
    if (liveUserDataDir) fs.rmSync(liveUserDataDir, { recursive: true, force: true });
  });
}

async function launch(): Promise<Renderer> {
  const executablePath = findChromium();
  if (!executablePath) throw new ChromiumNotFoundError();
  const pw = nodeRequire('playwright-core') as typeof import('playwright-core');
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kit-chromium-'));
  liveUserDataDir = userDataDir;
  installExitHook();
  const t0 = Date.now();
  let context: BrowserContext;
  try {
    context = await pw.chromium.launchPersistentContext(userDataDir, {
      executablePath,
      headless: true,
      args: [...CHROMIUM_ARGS],
      offline: true, // nothing we render may fetch from the network
      viewport: { width: DEFAULT_SIZE.width, height: DEFAULT_SIZE.height },
    });
  } catch (e) {
    fs.rmSync(userDataDir, { recursive: true, force: true });
    liveUserDataDir = null;
    throw new Error(`could not launch Chromium (${executablePath}): ${(e as Error).message.split('\n')[0]}`);
  }
  timings.launchMs = Date.now() - t0;
  const page = context.pages()[0] ?? (await context.newPage());
  const t1 = Date.now();
  await page.setContent('<!doctype html><html><head><meta charset="utf-8"></head><body></body></html>');
  await page.addScriptTag({ path: plotlyBundlePath() });
  timings.plotlyLoadMs = Date.now() - t1;
  return { context, page, userDataDir };
}

function getRenderer(): Promise<Renderer> {
  if (!renderer) {
    renderer = launch().catch((e: unknown) => {
      renderer = null;
      throw e;
    });
  }
  return renderer;
}

let idleTimer: ReturnType<typeof setTimeout> | null = null;
let pendingJobs = 0;

function idleCloseMs(): number {
  const env = Number(process.env.KIT_RENDER_IDLE_MS);
  if (process.env.KIT_RENDER_IDLE_MS !== undefined && Number.isFinite(env) && env >= 0) return env;
  return process.env.KIT_IN_NOTEBOOK === '1' ? 0 : DEFAULT_IDLE_CLOSE_MS;
}

function scheduleIdleClose(): void {
  if (idleTimer) clearTimeout(idleTimer);
  idleTimer = null;
  const ms = idleCloseMs();
  if (ms <= 0 || !renderer || pendingJobs > 0) return;
  idleTimer = setTimeout(() => {
    idleTimer = null;
    void closeRenderer();
  }, ms);
  // The timer alone never keeps the process alive; it only fires while the browser's pipes do.
  idleTimer.unref();
}

/** Run `job` after every earlier render job (one page, one figure at a time). */
function serialize<T>(job: () => Promise<T>): Promise<T> {
  if (idleTimer) clearTimeout(idleTimer);
  idleTimer = null;
  pendingJobs++;
  const run = queue.then(job, job);
  queue = run.catch(() => undefined);
  void queue.then(() => {
    pendingJobs--;
    scheduleIdleClose();
  });
  return run;
}

function sizeOf(fig: PlotlyFigure, opts: RenderOptions): { width: number; height: number; scale: number } {
  const lw = typeof fig.layout.width === 'number' ? fig.layout.width : DEFAULT_SIZE.width;
  const lh = typeof fig.layout.height === 'number' ? fig.layout.height : DEFAULT_SIZE.height;
  const width = opts.width ?? lw;
  const height = opts.height ?? lh;
  const scale = opts.scale ?? 1;
  for (const [k, v] of Object.entries({ width, height, scale })) {
    if (!(typeof v === 'number' && v > 0 && Number.isFinite(v))) throw new Error(`render: ${k} must be a positive number, got ${v}`);
  }
  return { width, height, scale };
}

type ImageFormat = 'png' | 'svg';

async function renderDataUrl(fig: PlotlyFigure, opts: RenderOptions, format: ImageFormat, where: string): Promise<string> {
  assertFigure(fig, where);
  const themed = opts.theme === false ? { data: fig.data, layout: fig.layout ?? {} } : applyTheme(fig);
  const size = sizeOf(themed, opts);
  const layout = { ...themed.layout, width: size.width, height: size.height };
  return serialize(async () => {
    const { page } = await getRenderer();
    const t0 = Date.now();
    const result = await page.evaluate(
      async (arg: { data: unknown[]; layout: Record<string, unknown>; format: ImageFormat; width: number; height: number; scale: number }) => {
        type PlotlyApi = {
          toImage(
            fig: { data: unknown[]; layout: Record<string, unknown> },
            o: { format: string; width: number; height: number; scale: number },
          ): Promise<string>;
        };
        const plotly = (globalThis as unknown as { Plotly?: PlotlyApi }).Plotly;
        if (!plotly) return { ok: false as const, error: 'plotly.js is not loaded in the render page' };
        try {
          const url = await plotly.toImage(
            { data: arg.data, layout: arg.layout },
            { format: arg.format, width: arg.width, height: arg.height, scale: arg.scale },
          );
          return { ok: true as const, url };
        } catch (e) {
          return { ok: false as const, error: String((e as { message?: string }).message ?? e) };
        }
      },
      { data: themed.data as unknown[], layout, format, width: size.width, height: size.height, scale: size.scale },
    );
    timings.lastRenderMs = Date.now() - t0;
    timings.renders++;
    if (!result.ok) throw new Error(`${where}: plotly could not render the figure: ${result.error}`);
    return result.url;
  });
}

/** Render a figure to PNG bytes (width·scale × height·scale pixels). */
export async function renderPng(fig: PlotlyFigure, opts: RenderOptions = {}): Promise<Uint8Array> {
  const url = await renderDataUrl(fig, opts, 'png', 'renderPng');
  const comma = url.indexOf(',');
  return new Uint8Array(Buffer.from(url.slice(comma + 1), 'base64'));
}

/** Render a figure to an SVG document string. */
export async function renderSvg(fig: PlotlyFigure, opts: RenderOptions = {}): Promise<string> {
  const url = await renderDataUrl(fig, opts, 'svg', 'renderSvg');
  const comma = url.indexOf(',');
  const body = url.slice(comma + 1);
  return url.slice(0, comma).endsWith(';base64') ? Buffer.from(body, 'base64').toString('utf8') : decodeURIComponent(body);
}

/**
 * Open a saved HTML file (file://) in the offline browser, wait until plotly has drawn into it and
 * return a PNG screenshot. This is how tests prove a saved .html works without network.
 */
export async function screenshotHtml(
  file: string,
  opts: { width?: number; height?: number; selector?: string } = {},
): Promise<Uint8Array> {
  const abs = path.resolve(file);
  if (!fs.existsSync(abs)) throw new Error(`screenshotHtml: ${abs} does not exist`);
  return serialize(async () => {
    const { context } = await getRenderer();
    const page = await context.newPage();
    try {
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.setViewportSize({ width: opts.width ?? DEFAULT_SIZE.width + 40, height: opts.height ?? DEFAULT_SIZE.height + 40 });
      await page.goto('file://' + abs, { waitUntil: 'load' });
      try {
        await page.waitForSelector(opts.selector ?? '.main-svg', { timeout: RENDER_TIMEOUT_MS });
      } catch {
        throw new Error(`screenshotHtml: ${abs} drew no plot${errors.length ? `; page errors: ${errors.join('; ')}` : ''}`);
      }
      return new Uint8Array(await page.screenshot({ type: 'png', fullPage: true }));
    } finally {
      await page.close();
    }
  });
}

/** Close this process's browser (safe to call when none runs). Later renders launch a new one. */
export async function closeRenderer(): Promise<void> {
  if (idleTimer) clearTimeout(idleTimer);
  idleTimer = null;
  const r = renderer;
  renderer = null;
  if (!r) return;
  await queue.catch(() => undefined);
  try {
    const live = await r;
    await live.context.close();
    fs.rmSync(live.userDataDir, { recursive: true, force: true });
    if (liveUserDataDir === live.userDataDir) liveUserDataDir = null;
  } catch {
    /* launch had failed: nothing to close */
  }
}
