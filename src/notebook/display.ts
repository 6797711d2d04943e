/**
 * Notebook display adapters: the ONLY module that imports `tslab`, and only lazily, so all of src/
 * (this file included) also loads in plain Node, tests and CLIs.
 *
 *   show(fig)                       plotly figure → PNG (headless Chromium) [+ interactive plotly bundle]
 *   showTable(rows | DataFrame)     HTML table
 *   showImages([{pixels, width, height, caption}])   image grid (PNGs encoded with pngjs) with captions
 *   showMarkdown(text)              markdown
 *   showSource('losses/x.ts', 'f')  the real source of an exported function/class/const from src/
 *   liveDisplay()                   one output that updates in place (progress bars, live curves)
 *
 * Outside a notebook the same calls print text (tables, markdown, source) or write PNGs under
 * build/show/ and print their paths, so code written for notebooks also runs as a script.
 */
import * as fs from 'fs';
import * as path from 'path';
import { PNG } from 'pngjs';
import type { DataFrame } from 'danfojs-node';
import { projectRoot, atomicWriteFile } from '../utils/fs';
import { formatProgressLine, ProgressState, setProgressSink } from '../utils/progress';
import { plotlyBundlePath, renderPng } from '../plotting/render';
import { ensurePlotlyAsset } from '../plotting/save';
import { applyTheme, DEFAULT_SIZE, PlotlyFigure } from '../plotting/theme';
import { columnsOf, HtmlTableOptions, Row, rowsToHtml, toRows } from '../evaluation/tables';

/** The part of tslab's public API the kit uses (declared here so the import stays lazy). */
interface TslabDisplay {
  html(s: string): void;
  markdown(s: string): void;
  text(s: string): void;
  png(b: Uint8Array): void;
  raw(contentType: string, b: string | Uint8Array): unknown;
}
interface TslabModule {
  display: TslabDisplay;
  newDisplay(): TslabDisplay;
  versions: { tslab: string; typescript: string; node: string };
}
/** tslab's internal writer of one display_data message (lets us send several mime types at once). */
interface DisplayData {
  data: Record<string, unknown>;
  metadata: Record<string, unknown>;
  transient: Record<string, unknown>;
}
type WriteDisplayData = (data: DisplayData, update: boolean) => void;

/** PNG pixel scale for notebook figures (drawn at CSS size, sharp on high-DPI screens). */
export const NOTEBOOK_PNG_SCALE = 2;
/** Default CSS width of one image cell in showImages. */
const IMAGE_CELL_PX = 128;
/** Gap between image cells in showImages (CSS px). */
const IMAGE_GAP_PX = 8;

function nodeRequire(id: string): unknown {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require(id);
}

let tslabCache: TslabModule | null | undefined;

/** The tslab module when running inside a tslab kernel, else null. */
function tslab(): TslabModule | null {
  if (tslabCache !== undefined) return tslabCache;
  tslabCache = null;
  if (process.env.KIT_IN_NOTEBOOK !== '1' && !kernelReady()) return null;
  try {
    tslabCache = nodeRequire('tslab') as TslabModule;
  } catch {
    tslabCache = null;
  }
  return tslabCache;
}

/** tslab's current display writer, if a kernel is executing a cell. */
function writer(): WriteDisplayData | null {
  try {
    const j = nodeRequire('tslab/dist/jupyter') as { lastWriteDisplayData?: WriteDisplayData | null };
    return typeof j.lastWriteDisplayData === 'function' ? j.lastWriteDisplayData : null;
  } catch {
    return null;
  }
}

function kernelReady(): boolean {
  // Only look when tslab is already loaded (i.e. we run inside its kernel); never load it just to check.
  const cache = (nodeRequire('module') as { _cache?: Record<string, unknown> })._cache ?? {};
  const loaded = Object.keys(cache).some((k) => /[\\/]tslab[\\/]dist[\\/]jupyter\.js$/.test(k));
  return loaded && writer() !== null;
}

/**
 * True inside a tslab kernel: the kit's kernel script sets KIT_IN_NOTEBOOK=1; a kernel started some
 * other way (e.g. `tslab install`'s own kernelspec) is detected by tslab's display being ready.
 */
export function inNotebook(): boolean {
  return tslab() !== null;
}

/** Send one display_data with several representations (front ends pick the richest they render). */
function displayBundle(data: Record<string, unknown>, metadata: Record<string, unknown> = {}): void {
  const t = tslab();
  if (!t) throw new Error('displayBundle: not in a notebook');
  const w = writer();
  if (w) {
    w({ data, metadata, transient: {} }, false);
    return;
  }
  // Fallback through the public API: one output per mime type.
  for (const [mime, v] of Object.entries(data)) t.display.raw(mime, v as string);
}

let showCounter = 0;

/** Write bytes under build/show/ (outside notebooks) and say where. */
function writeShowFile(ext: string, data: string | Uint8Array, what: string): string {
  const file = path.join(projectRoot(), 'build', 'show', `${String(++showCounter).padStart(3, '0')}-${what}.${ext}`);
  atomicWriteFile(file, data);
  console.log(`[show] not in a notebook: wrote ${path.relative(process.cwd(), file) || file}`);
  return file;
}

export interface ShowOptions {
  width?: number;
  height?: number;
  /** PNG pixel scale (default NOTEBOOK_PNG_SCALE). */
  scale?: number;
  /**
   * Interactive output besides the PNG (see interactiveMode): true or 'html' = an HTML output that
   * draws the figure with plotly.js served by the notebook server (hover, zoom, legend toggling; the
   * PNG stays inside it until plotly has drawn, and stays if plotly.js cannot load); 'mime' = the
   * plotly JSON ('application/vnd.plotly.v1+json') for front ends with a plotly renderer
   * (JupyterLab + jupyterlab-plotly); false = PNG only. Default: interactiveMode().
   */
  interactive?: boolean | InteractiveMode;
}

/** How show() sends figures in a notebook. */
export type InteractiveMode = 'off' | 'html' | 'mime';

/**
 * The interactive mode from the environment: KIT_INTERACTIVE=0|off, 1|html, mime; unset → 'html'
 * when the kernel runs under `npm run lab` (KIT_FRONTEND is set), else 'off' (headless
 * `npm run notebooks` keeps PNG-only outputs).
 */
export function interactiveMode(env: NodeJS.ProcessEnv = process.env): InteractiveMode {
  const v = (env.KIT_INTERACTIVE ?? '').trim().toLowerCase();
  if (v === '') return env.KIT_FRONTEND ? 'html' : 'off';
  if (v === '0' || v === 'off' || v === 'false') return 'off';
  if (v === '1' || v === 'html' || v === 'on' || v === 'true') return 'html';
  if (v === 'mime' || v === 'plotly') return 'mime';
  throw new Error(`KIT_INTERACTIVE=${env.KIT_INTERACTIVE}: expected 0/off, 1/html or mime`);
}

/**
 * The URL path (relative to the notebook server's base URL) at which the server serves plotly.js:
 * `files/<path of the bundle under the server root>`. The server root is KIT_FRONTEND_ROOT (set by
 * `npm run lab`), else the project root. When the bundle is not inside the root (e.g. node_modules
 * is a symlink to elsewhere), a copy is made once in <root>/build/lab/assets/.
 */
export function plotlyServedPath(root = process.env.KIT_FRONTEND_ROOT || projectRoot()): string {
  const bundle = plotlyBundlePath();
  const real = (p: string) => (fs.existsSync(p) ? fs.realpathSync(p) : path.resolve(p));
  let rel = path.relative(real(root), real(bundle));
  if (rel.startsWith('..') || path.isAbsolute(rel)) {
    const dir = path.join(root, 'build', 'lab');
    rel = path.relative(root, path.join(dir, ensurePlotlyAsset(dir)));
  }
  return 'files/' + rel.split(path.sep).map(encodeURIComponent).join('/');
}

let interactiveCounter = 0;

/**
 * HTML of one interactive figure: the PNG (scaled to the output width) inside a div that a script
 * replaces with a plotly plot once plotly.js has loaded from `<base url><plotlyPath>` (one script tag
 * per page, shared by every figure). If it cannot load, the PNG stays and the console says why
 * (prefixed [priorclip-kit]).
 */
export function interactiveFigureHtml(fig: PlotlyFigure, png: Uint8Array, o: { width: number; height: number; plotlyPath: string }): string {
  const id = `kit-fig-${process.pid}-${++interactiveCounter}`;
  const spec = JSON.stringify({ data: fig.data, layout: { ...fig.layout, width: o.width, height: o.height } })
    .replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
  const img = `<img src="data:image/png;base64,${Buffer.from(png).toString('base64')}" width="${o.width}" style="max-width:100%;height:auto;display:block" alt="figure (static PNG)">`;
  return `<div class="kit-plotly" id="${id}" data-kit-status="png" style="max-width:100%">${img}</div>
<script type="application/json" id="${id}-data">${spec}</script>
<script>
(function () {
  var el = document.getElementById(${JSON.stringify(id)});
  if (!el) return;
  var base = (document.body && document.body.getAttribute('data-base-url')) || '/';
  var url = base + ${JSON.stringify(o.plotlyPath)};
  function fail(e) {
    el.setAttribute('data-kit-status', 'png');
    console.error('[priorclip-kit] interactive figure: plotly.js did not load from ' + url + ' (' + (e && e.message || e) + '); showing the PNG');
  }
  function draw(Plotly) {
    try {
      var fig = JSON.parse(document.getElementById(${JSON.stringify(id)} + '-data').textContent);
      var avail = el.parentElement ? el.parentElement.clientWidth : 0;
      if (avail > 0 && fig.layout.width > avail) {
        fig.layout.height = Math.round(fig.layout.height * avail / fig.layout.width);
        fig.layout.width = avail;
      }
      var img = el.querySelector('img');
      var plot = document.createElement('div');
      el.appendChild(plot);
      Plotly.newPlot(plot, fig.data, fig.layout, { displaylogo: false, showLink: false, responsive: false }).then(function () {
        if (img) el.removeChild(img);
        el.setAttribute('data-kit-status', 'interactive');
      }, function (e) { if (plot.parentNode) el.removeChild(plot); fail(e); });
    } catch (e) { fail(e); }
  }
  // plotly.js 4's bundle registers no AMD module, so a plain script tag works beside the classic
  // Notebook's require.js; it sets window.Plotly.
  if (!window.__kitPlotly) {
    window.__kitPlotly = window.Plotly && window.Plotly.newPlot ? Promise.resolve(window.Plotly) : new Promise(function (resolve, reject) {
      var s = document.createElement('script');
      s.src = url;
      s.onload = function () { window.Plotly && window.Plotly.newPlot ? resolve(window.Plotly) : reject(new Error('the script defined no Plotly global')); };
      s.onerror = function () { reject(new Error('the request failed')); };
      document.head.appendChild(s);
    });
  }
  window.__kitPlotly.then(draw, fail);
})();
</script>`;
}

/** Display a plotly figure: a PNG, plus an interactive version when interactiveMode() asks for one. */
export async function show(fig: PlotlyFigure, opts: ShowOptions = {}): Promise<void> {
  const themed = applyTheme(fig);
  const width = opts.width ?? (typeof themed.layout.width === 'number' ? themed.layout.width : DEFAULT_SIZE.width);
  const height = opts.height ?? (typeof themed.layout.height === 'number' ? themed.layout.height : DEFAULT_SIZE.height);
  const png = await renderPng(themed, { width, height, scale: opts.scale ?? NOTEBOOK_PNG_SCALE, theme: false });
  if (!inNotebook()) {
    writeShowFile('png', png, 'figure');
    return;
  }
  const mode: InteractiveMode =
    opts.interactive === undefined ? interactiveMode() : opts.interactive === true ? 'html' : opts.interactive === false ? 'off' : opts.interactive;
  const data: Record<string, unknown> = {
    'image/png': Buffer.from(png).toString('base64'),
    'text/plain': `<plotly figure: ${fig.data.length} trace(s)>`,
  };
  if (mode === 'mime') data['application/vnd.plotly.v1+json'] = { data: themed.data, layout: { ...themed.layout, width, height } };
  if (mode === 'html') data['text/html'] = interactiveFigureHtml(themed, png, { width, height, plotlyPath: plotlyServedPath() });
  displayBundle(data, { 'image/png': { width, height } });
}

/** Plain-text table (for terminals). */
export function rowsToText(rows: readonly Row[], opts: { columns?: string[]; digits?: number; maxRows?: number } = {}): string {
  const columns = opts.columns ?? columnsOf(rows);
  const digits = opts.digits ?? 4;
  const shown = rows.slice(0, opts.maxRows ?? 200);
  const cell = (v: Row[string] | undefined): string =>
    v === null || v === undefined ? '' : typeof v === 'number' && !Number.isInteger(v) ? v.toFixed(digits) : String(v);
  const grid = [columns, ...shown.map((r) => columns.map((c) => cell(r[c])))];
  const widths = columns.map((_, j) => Math.max(...grid.map((row) => row[j].length)));
  const line = (row: string[]) => row.map((s, j) => s.padEnd(widths[j])).join('  ').trimEnd();
  const out = [line(grid[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...grid.slice(1).map(line)];
  if (rows.length > shown.length) out.push(`… ${rows.length - shown.length} more rows`);
  return out.join('\n');
}

/** Display rows (or a danfo DataFrame) as an HTML table; a text table outside notebooks. */
export function showTable(table: readonly Row[] | DataFrame, opts: HtmlTableOptions = {}): void {
  const rows = toRows(table);
  const t = tslab();
  if (!t) {
    if (opts.caption) console.log(opts.caption);
    console.log(rowsToText(rows, opts));
    return;
  }
  // Wide tables scroll inside their own box instead of widening the output area.
  t.display.html(`<div class="kit-table-wrap" style="max-width:100%;overflow-x:auto">${rowsToHtml(rows, opts)}</div>`);
}

/** Display markdown (printed as is outside notebooks). */
export function showMarkdown(text: string): void {
  const t = tslab();
  if (!t) {
    console.log(text);
    return;
  }
  t.display.markdown(text);
}

/** One image for showImages: RGB pixels, row-major, `width*height*3` values. */
export interface ImageItem {
  /** Uint8Array in 0..255, or Float32Array in [0, 1] (clamped). */
  pixels: Float32Array | Uint8Array;
  width: number;
  height: number;
  caption?: string;
}

/** Encode RGB pixels as PNG bytes (pngjs). */
export function encodeRgbPng(item: ImageItem, where = 'encodeRgbPng'): Uint8Array {
  const { pixels, width, height } = item;
  if (!(Number.isInteger(width) && width > 0 && Number.isInteger(height) && height > 0)) {
    throw new Error(`${where}: width and height must be positive integers, got ${width}×${height}`);
  }
  if (pixels.length !== width * height * 3) {
    throw new Error(`${where}: expected ${width}×${height}×3 = ${width * height * 3} RGB values, got ${pixels.length}`);
  }
  const png = new PNG({ width, height });
  const isFloat = pixels instanceof Float32Array;
  for (let i = 0, n = width * height; i < n; i++) {
    for (let c = 0; c < 3; c++) {
      const v = pixels[i * 3 + c];
      png.data[i * 4 + c] = isFloat ? Math.round(Math.min(1, Math.max(0, Number.isNaN(v) ? 0 : v)) * 255) : v;
    }
    png.data[i * 4 + 3] = 255;
  }
  return new Uint8Array(PNG.sync.write(png));
}

/**
 * All images in one PNG grid (row-major, `columns` per row, `pad` white pixels between cells; cells as
 * large as the largest image). For saving grids to files; showImages adds captions as text.
 */
export function imageGridPng(items: readonly ImageItem[], opts: { columns?: number; pad?: number } = {}): Uint8Array {
  if (!items.length) throw new Error('imageGridPng: no images');
  const columns = Math.max(1, Math.min(opts.columns ?? 8, items.length));
  const pad = opts.pad ?? 2;
  const cw = Math.max(...items.map((i) => i.width));
  const ch = Math.max(...items.map((i) => i.height));
  const rows = Math.ceil(items.length / columns);
  const W = columns * cw + (columns + 1) * pad;
  const H = rows * ch + (rows + 1) * pad;
  const grid = new Uint8Array(W * H * 3).fill(255);
  items.forEach((item, k) => {
    encodeRgbPng(item, `imageGridPng: image ${k}`); // validates sizes
    const x0 = pad + (k % columns) * (cw + pad);
    const y0 = pad + Math.floor(k / columns) * (ch + pad);
    const isFloat = item.pixels instanceof Float32Array;
    for (let y = 0; y < item.height; y++) {
      for (let x = 0; x < item.width; x++) {
        for (let c = 0; c < 3; c++) {
          const v = item.pixels[(y * item.width + x) * 3 + c];
          grid[((y0 + y) * W + x0 + x) * 3 + c] = isFloat ? Math.round(Math.min(1, Math.max(0, v)) * 255) : v;
        }
      }
    }
  });
  return encodeRgbPng({ pixels: grid, width: W, height: H }, 'imageGridPng');
}

function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Display images in a grid with captions (each image a PNG; small images are upscaled pixelated). */
export function showImages(items: readonly ImageItem[], opts: { columns?: number; cellPx?: number; title?: string } = {}): void {
  if (!items.length) throw new Error('showImages: no images');
  const t = tslab();
  if (!t) {
    writeShowFile('png', imageGridPng(items, { columns: opts.columns }), 'images');
    items.forEach((it, i) => it.caption && console.log(`  [${i}] ${it.caption}`));
    return;
  }
  const columns = Math.max(1, Math.min(opts.columns ?? 6, items.length));
  const cell = opts.cellPx ?? IMAGE_CELL_PX;
  const figures = items
    .map((it, i) => {
      const b64 = Buffer.from(encodeRgbPng(it, `showImages: image ${i}`)).toString('base64');
      const h = Math.round((cell * it.height) / it.width);
      const cap = it.caption ? `<figcaption style="font-size:11px;line-height:1.25;margin-top:2px;overflow-wrap:anywhere">${escapeHtml(it.caption)}</figcaption>` : '';
      // width/height attributes keep the aspect ratio; CSS lets the cell shrink to the output width.
      return `<figure style="margin:0;min-width:0"><img src="data:image/png;base64,${b64}" width="${cell}" height="${h}" style="image-rendering:pixelated;display:block;width:100%;max-width:${cell}px;height:auto" alt="image ${i}">${cap}</figure>`;
    })
    .join('');
  const title = opts.title ? `<div style="font-weight:bold;margin-bottom:4px">${escapeHtml(opts.title)}</div>` : '';
  // Columns are at most `cell` px and shrink (never overflow) when the output area is narrower.
  t.display.html(`${title}<div class="kit-images" style="display:grid;grid-template-columns:repeat(${columns}, minmax(0, ${cell}px));gap:${IMAGE_GAP_PX}px;max-width:100%">${figures}</div>`);
}

/** Node kinds showSource can extract, with the name they declare. */
interface TsNode {
  kind: number;
  name?: { text?: string };
  modifiers?: readonly { kind: number }[];
  declarationList?: { declarations: readonly { name: { text?: string } }[] };
  getStart(sf?: unknown, includeJsDoc?: boolean): number;
  getEnd(): number;
}
interface TsApi {
  createSourceFile(file: string, text: string, target: number, setParents: boolean): { statements: readonly TsNode[] };
  ScriptTarget: { ES2022: number };
  SyntaxKind: Record<string, number>;
}

/**
 * The source text (with its doc comment) of the top-level declaration `symbol` in `src/<relPath>`,
 * found with the TypeScript parser; with its 1-based first line.
 */
export function extractSource(relPath: string, symbol: string): { file: string; line: number; text: string } {
  const root = projectRoot();
  const clean = relPath.replace(/^\.?\/?(src\/)?/, '');
  const file = path.join(root, 'src', clean.endsWith('.ts') ? clean : `${clean}.ts`);
  if (!fs.existsSync(file)) throw new Error(`showSource: ${path.relative(root, file)} does not exist`);
  const text = fs.readFileSync(file, 'utf8');
  const ts = nodeRequire('typescript') as TsApi;
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true);
  const K = ts.SyntaxKind;
  const names: string[] = [];
  for (const st of sf.statements) {
    let declared: string[] = [];
    if (st.kind === K.FunctionDeclaration || st.kind === K.ClassDeclaration || st.kind === K.InterfaceDeclaration ||
      st.kind === K.TypeAliasDeclaration || st.kind === K.EnumDeclaration) {
      declared = st.name?.text ? [st.name.text] : [];
    } else if (st.kind === K.VariableStatement && st.declarationList) {
      declared = st.declarationList.declarations.map((d) => d.name.text ?? '').filter(Boolean);
    }
    names.push(...declared);
    if (declared.includes(symbol)) {
      const start = st.getStart(sf, true);
      const line = text.slice(0, start).split('\n').length;
      return { file, line, text: text.slice(start, st.getEnd()) };
    }
  }
  throw new Error(
    `showSource: no top-level declaration '${symbol}' in ${path.relative(root, file)} (it declares: ${names.join(', ') || 'nothing'})`,
  );
}

/** Show the real source of `symbol` from `src/<relPath>` (for teaching: never retype library code). */
export function showSource(relPath: string, symbol: string): void {
  const { file, line, text } = extractSource(relPath, symbol);
  const rel = path.relative(projectRoot(), file);
  const t = tslab();
  if (!t) {
    console.log(`// ${rel}:${line}\n${text}`);
    return;
  }
  t.display.markdown(`\`${rel}\` line ${line}\n\n\`\`\`ts\n${text}\n\`\`\``);
}

/** One notebook output that is replaced in place on each call (console lines outside notebooks). */
export interface LiveDisplay {
  html(s: string): void;
  markdown(s: string): void;
  text(s: string): void;
  /** Replace the output with a figure (PNG). */
  show(fig: PlotlyFigure, opts?: ShowOptions): Promise<void>;
}

/** A display that updates in place: progress, live loss curves, status lines. */
export function liveDisplay(): LiveDisplay {
  const t = tslab();
  if (!t) {
    return {
      html: (s) => console.log(s.replace(/<[^>]+>/g, '')),
      markdown: (s) => console.log(s),
      text: (s) => console.log(s),
      show: (fig, opts) => show(fig, opts),
    };
  }
  const d = t.newDisplay();
  return {
    html: (s) => d.html(s),
    markdown: (s) => d.markdown(s),
    text: (s) => d.text(s),
    show: async (fig, opts = {}) => {
      const themed = applyTheme(fig);
      const png = await renderPng(themed, { width: opts.width, height: opts.height, scale: opts.scale ?? NOTEBOOK_PNG_SCALE, theme: false });
      d.png(png);
    },
  };
}

/** HTML of one progress state: a <progress> bar and the same line terminals print. */
export function progressHtml(st: ProgressState): string {
  const bar = st.total > 0 ? `<progress value="${st.current}" max="${st.total}" style="width:240px;vertical-align:middle"></progress> ` : '';
  return `<div style="font-family:monospace;font-size:12px">${bar}${escapeHtml(formatProgressLine(st))}</div>`;
}

/**
 * Route every later `createProgress` (src/utils/progress.ts) to an updating notebook output.
 * setupNotebook() calls this when it runs inside a kernel. Returns false outside notebooks.
 */
export function enableNotebookProgress(): boolean {
  const t = tslab();
  if (!t) return false;
  setProgressSink(() => {
    const d = t.newDisplay();
    return {
      update: (st) => d.html(progressHtml(st)),
      done: (st) => d.html(progressHtml(st)),
    };
  });
  return true;
}

/** tslab / TypeScript versions when in a kernel (for setupNotebook's banner). */
export function tslabVersions(): { tslab: string; typescript: string } | null {
  const t = tslab();
  return t ? { tslab: t.versions.tslab, typescript: t.versions.typescript } : null;
}
