/**
 * Saving figures: `saveFigure(fig, '06_recall_curves_rsitmd', {runs: [...]})` writes, atomically,
 *
 *   figures/<name>.json   the plotly spec + provenance (run ids, git commit, date): small, diffable, re-renderable
 *   figures/<name>.html   standalone interactive page; plotly.js comes from figures/assets/ (copied once from
 *                         node_modules), so it opens offline and never touches a CDN
 *   figures/<name>.png    static image through headless Chromium (render.ts), SAVE_SCALE× pixels
 *
 * Without Chromium the JSON and HTML are still written and a one-time message says how to get PNGs.
 * `KIT_FIGURES_DIR` overrides the folder (tests use a temporary one).
 */
import * as fs from 'fs';
import * as path from 'path';
import { atomicWriteFile, atomicWriteJson, projectRoot } from '../utils/fs';
import { gitState } from '../runs/record';
import { ChromiumNotFoundError, plotlyBundlePath, plotlyVersion, renderPng } from './render';
import { applyTheme, assertFigure, PlotlyFigure, SAVE_SCALE } from './theme';

/** Where a figure came from; stored in figures/<name>.json. */
export interface FigureProvenance {
  /** Run ids (`data/runs/<id>/`) whose results the figure shows. */
  runs?: string[];
  /** Config / preset names involved. */
  configs?: string[];
  /** The notebook or command that made it. */
  source?: string;
  /** Free text. */
  note?: string;
  [key: string]: unknown;
}

/** The stored figures/<name>.json. */
export interface SavedFigureSpec {
  name: string;
  createdAt: string;
  git: { commit: string; dirty: boolean } | null;
  plotly: string;
  provenance: FigureProvenance;
  figure: PlotlyFigure;
}

/** Paths written by saveFigure (png is null when no Chromium was available). */
export interface SavedFigureFiles {
  json: string;
  html: string;
  png: string | null;
  /** Milliseconds the PNG render took (null without PNG). */
  pngMs: number | null;
}

export interface SaveOptions {
  /** Write the PNG (default true). */
  png?: boolean;
  width?: number;
  height?: number;
  /** PNG pixel scale (default SAVE_SCALE). */
  scale?: number;
}

/** Folder of plotly.js inside the figures folder. */
export const ASSETS_DIR = 'assets';
/** Figure names: file-name safe, no folders. */
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** The figures folder: KIT_FIGURES_DIR, else <project>/figures. */
export function figuresDir(): string {
  return process.env.KIT_FIGURES_DIR ? path.resolve(process.env.KIT_FIGURES_DIR) : path.join(projectRoot(), 'figures');
}

/**
 * Copy plotly.js from node_modules into `<dir>/assets/plotly-<version>.min.js` unless an identical copy
 * is there; returns the path relative to `dir` (what the HTML's script tag uses).
 */
export function ensurePlotlyAsset(dir: string): string {
  const src = plotlyBundlePath();
  const rel = `${ASSETS_DIR}/plotly-${plotlyVersion()}${src.endsWith('.min.js') ? '.min' : ''}.js`;
  const dest = path.join(dir, rel);
  const srcSize = fs.statSync(src).size;
  if (!fs.existsSync(dest) || fs.statSync(dest).size !== srcSize) {
    atomicWriteFile(dest, fs.readFileSync(src));
  }
  return rel;
}

function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** JSON that is safe inside a <script> element. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

/**
 * A standalone HTML page showing `fig` interactively, loading plotly.js from `plotlySrc` (a relative
 * path, never a URL). The figure's JSON is embedded; the page makes no network request.
 */
export function figureHtml(fig: PlotlyFigure, opts: { title: string; plotlySrc: string; caption?: string }): string {
  if (/^[a-z]+:/i.test(opts.plotlySrc)) throw new Error(`figureHtml: plotlySrc must be a local relative path, got ${opts.plotlySrc}`);
  const themed = applyTheme(fig);
  const caption = opts.caption ? `\n<p class="caption">${escapeHtml(opts.caption)}</p>` : '';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${escapeHtml(opts.title)}</title>
<style>
  body { margin: 16px; font-family: "DejaVu Sans", Helvetica, Arial, sans-serif; color: #222; }
  .caption { font-size: 12px; color: #666; }
</style>
<script src="${escapeHtml(opts.plotlySrc)}"></script>
</head>
<body>
<div id="figure"></div>${caption}
<script id="figure-data" type="application/json">${scriptJson(themed)}</script>
<script>
  (function () {
    var fig = JSON.parse(document.getElementById('figure-data').textContent);
    if (typeof Plotly === 'undefined') {
      document.getElementById('figure').textContent = 'plotly.js did not load from ${escapeHtml(opts.plotlySrc)}';
      return;
    }
    Plotly.newPlot('figure', fig.data, fig.layout, { displaylogo: false, showLink: false, responsive: true });
  })();
</script>
</body>
</html>
`;
}

let warnedNoChromium = false;

/** Save a figure as JSON + HTML + PNG in figuresDir(); see the file comment. */
export async function saveFigure(
  fig: PlotlyFigure,
  name: string,
  provenance: FigureProvenance = {},
  opts: SaveOptions = {},
): Promise<SavedFigureFiles> {
  assertFigure(fig, `saveFigure('${name}')`);
  if (!NAME_RE.test(name)) {
    throw new Error(`saveFigure: name '${name}' must be a plain file name (letters, digits, '.', '_', '-'; no folders)`);
  }
  const dir = figuresDir();
  fs.mkdirSync(dir, { recursive: true });
  const files = {
    json: path.join(dir, `${name}.json`),
    html: path.join(dir, `${name}.html`),
    png: path.join(dir, `${name}.png`),
  };
  const createdAt = new Date().toISOString();
  const git = gitState();
  const spec: SavedFigureSpec = {
    name,
    createdAt,
    git,
    plotly: plotlyVersion(),
    provenance,
    figure: { data: fig.data, layout: fig.layout ?? {} },
  };
  atomicWriteJson(files.json, spec);

  const plotlySrc = ensurePlotlyAsset(dir);
  const caption = [
    provenance.runs?.length ? `runs: ${provenance.runs.join(', ')}` : '',
    git ? `commit ${git.commit.slice(0, 10)}${git.dirty ? ' (dirty)' : ''}` : '',
    createdAt.slice(0, 10),
  ]
    .filter(Boolean)
    .join(' · ');
  atomicWriteFile(files.html, figureHtml(fig, { title: name, plotlySrc, caption }));

  if (opts.png === false) return { json: files.json, html: files.html, png: null, pngMs: null };
  const t0 = Date.now();
  try {
    const png = await renderPng(fig, { width: opts.width, height: opts.height, scale: opts.scale ?? SAVE_SCALE });
    atomicWriteFile(files.png, png);
    return { json: files.json, html: files.html, png: files.png, pngMs: Date.now() - t0 };
  } catch (e) {
    if (!(e instanceof ChromiumNotFoundError)) throw e;
    // A PNG from an older version of the figure would now be wrong: remove it.
    if (fs.existsSync(files.png)) fs.rmSync(files.png);
    if (!warnedNoChromium) {
      warnedNoChromium = true;
      console.warn(`[priorclip-kit] figures: wrote JSON + HTML only. ${e.message}`);
    }
    return { json: files.json, html: files.html, png: null, pngMs: null };
  }
}

/** Read figures/<name>.json back (to re-render or restyle without recomputing). */
export function loadFigure(name: string, dir = figuresDir()): SavedFigureSpec {
  const file = path.join(dir, `${name}.json`);
  let spec: SavedFigureSpec;
  try {
    spec = JSON.parse(fs.readFileSync(file, 'utf8')) as SavedFigureSpec;
  } catch (e) {
    throw new Error(`loadFigure: cannot read ${file}: ${(e as Error).message}`);
  }
  assertFigure(spec.figure, file);
  return spec;
}
