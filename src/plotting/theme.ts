/**
 * The kit's one figure theme: figure types, palettes, font, sizes and `applyTheme`.
 *
 * Figures are plain plotly JSON (`{data, layout}`), built by pure functions in `figures/*.ts`, rendered
 * by `render.ts` and saved by `save.ts`. Notebooks never set colours: scene classes get a colour from
 * `classColor`/`classColors` (the same name gets the same colour in every figure), runs from `runColor`.
 */

/** A value plotly accepts in a data array. */
export type PlotlyDatum = number | string | boolean | null;

/** Plotly trace types the kit uses (any other plotly type string is allowed too). */
export type PlotlyTraceType =
  | 'scatter'
  | 'scattergl'
  | 'bar'
  | 'histogram'
  | 'heatmap'
  | 'box'
  | 'violin'
  | 'image'
  | 'table'
  | 'scatterpolar'
  | (string & {});

/** Marker / line styling (the common fields; plotly accepts more). */
export interface PlotlyMarker {
  color?: string | PlotlyDatum[];
  size?: number | number[];
  symbol?: string | string[];
  opacity?: number;
  colorscale?: string | [number, string][];
  line?: { color?: string; width?: number };
  [key: string]: unknown;
}
export interface PlotlyLine {
  color?: string;
  width?: number;
  dash?: 'solid' | 'dot' | 'dash' | 'longdash' | 'dashdot' | 'longdashdot' | (string & {});
  shape?: 'linear' | 'spline' | 'hv' | 'vh' | 'hvh' | 'vhv';
  [key: string]: unknown;
}

/** One plotly trace: the fields the kit's builders use are typed, the rest of plotly's schema passes through. */
export interface PlotlyTrace {
  type?: PlotlyTraceType;
  name?: string;
  mode?: 'lines' | 'markers' | 'lines+markers' | 'text' | 'markers+text' | 'lines+markers+text' | 'none' | (string & {});
  x?: PlotlyDatum[] | PlotlyDatum[][];
  y?: PlotlyDatum[] | PlotlyDatum[][];
  z?: PlotlyDatum[] | PlotlyDatum[][];
  text?: string | string[];
  hovertemplate?: string;
  marker?: PlotlyMarker;
  line?: PlotlyLine;
  error_y?: { type?: 'data' | 'percent' | 'constant'; array?: number[]; value?: number; visible?: boolean; [key: string]: unknown };
  showlegend?: boolean;
  legendgroup?: string;
  xaxis?: string;
  yaxis?: string;
  orientation?: 'v' | 'h';
  [key: string]: unknown;
}

/** A plotly figure as JSON: what every builder returns and every renderer accepts. */
export interface PlotlyFigure {
  data: PlotlyTrace[];
  layout: Record<string, unknown>;
}

/** Font stack: DejaVu Sans is what headless Chromium has on Debian, so PNGs look the same everywhere. */
export const FONT_FAMILY = 'DejaVu Sans, Helvetica, Arial, sans-serif';
/** Base font size (px). */
export const FONT_SIZE = 13;
/** Title font size (px). */
export const TITLE_FONT_SIZE = 16;
/** Default figure size (px) and PNG pixel scale. */
export const DEFAULT_SIZE = { width: 800, height: 450 } as const;
/** Named size presets for builders and `show`. */
export const SIZES = {
  default: DEFAULT_SIZE,
  wide: { width: 1100, height: 450 },
  square: { width: 600, height: 600 },
  tall: { width: 800, height: 800 },
  small: { width: 500, height: 320 },
} as const;
export type SizePreset = keyof typeof SIZES;
/** Pixel scale used for saved PNGs (2 = sharp on high-DPI screens and in papers). */
export const SAVE_SCALE = 2;

/**
 * Qualitative palette for scene classes: 48 distinct colours (plotly's Dark24 followed by Light24),
 * enough for RSICD's 30 and RSITMD's 32 classes without reuse.
 */
export const CLASS_PALETTE: readonly string[] = [
  '#2E91E5', '#E15F99', '#1CA71C', '#FB0D0D', '#DA16FF', '#222A2A', '#B68100', '#750D86',
  '#EB663B', '#511CFB', '#00A08B', '#FB00D1', '#FC0080', '#B2828D', '#6C7C32', '#778AAE',
  '#862A16', '#A777F1', '#620042', '#1616A7', '#DA60CA', '#6C4516', '#0D2A63', '#AF0038',
  '#FD3216', '#00FE35', '#6A76FC', '#FED4C4', '#FE00CE', '#0DF9FF', '#F6F926', '#FF9616',
  '#479B55', '#EEA6FB', '#DC587D', '#D626FF', '#6E899C', '#00B5F7', '#B68E00', '#C9FBE5',
  '#FF0092', '#22FFA7', '#E3EE9E', '#86CE00', '#BC7196', '#7E7DCD', '#FC6955', '#E48F72',
];

/** Palette for runs / methods / ablation variants (colour-blind friendly Okabe–Ito first, then Tableau). */
export const RUN_PALETTE: readonly string[] = [
  '#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#F0E442', '#000000',
  '#4E79A7', '#F28E2B', '#59A14F', '#B07AA1', '#9C755F', '#BAB0AC',
];

/** Neutral colours for grids, axes and reference lines. */
export const NEUTRAL = { grid: '#E6E6E6', axis: '#444444', text: '#222222', reference: '#888888', background: '#FFFFFF' } as const;

/** FNV-1a hash, for stable palette slots from names. */
function hashName(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** Canonical form of a class name, so 'Dense Residential' and 'denseresidential' share a colour. */
export function canonicalClassName(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9]/g, '');
}

/** The colour of one scene class on its own (stable hash slot in CLASS_PALETTE). */
export function classColor(name: string): string {
  return CLASS_PALETTE[hashName(canonicalClassName(name)) % CLASS_PALETTE.length];
}

/**
 * Colours for a set of classes: each class takes its hash slot; on a collision it probes to the next
 * free slot in sorted-name order, so colours are distinct within the set (up to 48 classes) and the
 * same set always gets the same colours whatever order it is given in.
 */
export function classColors(names: readonly string[]): Record<string, string> {
  const unique = Array.from(new Set(names)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const used = new Set<number>();
  const out: Record<string, string> = {};
  for (const name of unique) {
    let slot = hashName(canonicalClassName(name)) % CLASS_PALETTE.length;
    if (used.size < CLASS_PALETTE.length) {
      while (used.has(slot)) slot = (slot + 1) % CLASS_PALETTE.length;
    }
    used.add(slot);
    out[name] = CLASS_PALETTE[slot];
  }
  return out;
}

/** Colour of the i-th run / method in a figure. */
export function runColor(index: number): string {
  return RUN_PALETTE[((index % RUN_PALETTE.length) + RUN_PALETTE.length) % RUN_PALETTE.length];
}

/** Axis styling applied to every xaxis*, yaxis* in a layout. */
const AXIS_STYLE: Record<string, unknown> = {
  gridcolor: NEUTRAL.grid,
  linecolor: NEUTRAL.axis,
  showline: true,
  zeroline: false,
  ticks: 'outside',
  tickcolor: NEUTRAL.axis,
  automargin: true,
  title: { standoff: 8 },
};

/** Layout defaults of the theme (the figure's own layout always wins). */
export const THEME_LAYOUT: Record<string, unknown> = {
  font: { family: FONT_FAMILY, size: FONT_SIZE, color: NEUTRAL.text },
  title: { font: { size: TITLE_FONT_SIZE }, x: 0.02, xanchor: 'left' },
  paper_bgcolor: NEUTRAL.background,
  plot_bgcolor: NEUTRAL.background,
  colorway: [...RUN_PALETTE],
  margin: { l: 64, r: 24, t: 56, b: 56 },
  legend: { bgcolor: 'rgba(255,255,255,0.8)', borderwidth: 0 },
  hoverlabel: { font: { family: FONT_FAMILY } },
};

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Deep merge: values from `over` win; nested plain objects merge; arrays are replaced. */
export function deepMerge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] = isPlainObject(b) && isPlainObject(v) ? deepMerge(b, v) : v;
  }
  return out;
}

/** Plotly accepts `title: 'text'`; normalise to `{text}` so it merges with the theme's title style. */
function normaliseTitles(layout: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(layout)) {
    if (k === 'title' && typeof v === 'string') out[k] = { text: v };
    else if (/^[xy]axis\d*$/.test(k) && isPlainObject(v) && typeof v.title === 'string') out[k] = { ...v, title: { text: v.title } };
    else out[k] = v;
  }
  return out;
}

/**
 * The figure with the theme applied underneath it: theme font, background, margins, grid and axis
 * style, run colourway; the figure's own layout keys win. Does not modify `fig`. Also sets width and
 * height to DEFAULT_SIZE when the figure has none.
 */
export function applyTheme(fig: PlotlyFigure): PlotlyFigure {
  const own = normaliseTitles(fig.layout ?? {});
  const axes: Record<string, unknown> = { xaxis: AXIS_STYLE, yaxis: AXIS_STYLE };
  for (const k of Object.keys(own)) if (/^[xy]axis\d*$/.test(k)) axes[k] = AXIS_STYLE;
  const layout = deepMerge(deepMerge(deepMerge(THEME_LAYOUT, axes), { width: DEFAULT_SIZE.width, height: DEFAULT_SIZE.height }), own);
  const legendMove = crowdedLegend(fig.data, layout);
  if (legendMove) layout.legend = deepMerge(legendMove, isPlainObject(own.legend) ? own.legend : {});
  // The theme styles titles but must not invent an empty one.
  if (isPlainObject(layout.title) && layout.title.text === undefined) delete layout.title;
  return { data: fig.data.map((t) => ({ ...t })), layout };
}

/** Height (px) of one vertical legend entry at the theme font size. */
const LEGEND_ENTRY_PX = 20;

/**
 * When more legend entries exist than fit beside the plot (e.g. 30 scene classes in a 450 px figure),
 * a horizontal legend below the plot, which wraps into rows; null when the legend fits or the figure
 * placed its legend itself.
 */
function crowdedLegend(data: readonly PlotlyTrace[], layout: Record<string, unknown>): Record<string, unknown> | null {
  const own = isPlainObject(layout.legend) ? layout.legend : {};
  if (own.orientation !== undefined || own.x !== undefined || own.y !== undefined || layout.showlegend === false) return null;
  const groups = new Set<string>();
  let entries = 0;
  for (const t of data) {
    if (t.showlegend === false) continue;
    if (t.legendgroup) {
      if (groups.has(t.legendgroup)) continue;
      groups.add(t.legendgroup);
    }
    entries++;
  }
  if (entries < 2) return null;
  const height = typeof layout.height === 'number' ? layout.height : DEFAULT_SIZE.height;
  const margin = isPlainObject(layout.margin) ? layout.margin : {};
  const usable = height - (typeof margin.t === 'number' ? margin.t : 0) - (typeof margin.b === 'number' ? margin.b : 0);
  if (entries * LEGEND_ENTRY_PX <= usable) return null;
  return { orientation: 'h', x: 0, xanchor: 'left', y: -0.12, yanchor: 'top', font: { size: FONT_SIZE - 2 } };
}

/** Throw a clear error if a figure is not plotly JSON (used by render/save before doing any work). */
export function assertFigure(fig: unknown, where: string): asserts fig is PlotlyFigure {
  if (!isPlainObject(fig)) throw new Error(`${where}: figure must be an object {data, layout}, got ${typeof fig}`);
  if (!Array.isArray(fig.data)) throw new Error(`${where}: figure.data must be an array of traces`);
  fig.data.forEach((t, i) => {
    if (!isPlainObject(t)) throw new Error(`${where}: figure.data[${i}] is not a trace object`);
  });
  if (fig.layout !== undefined && !isPlainObject(fig.layout)) throw new Error(`${where}: figure.layout must be an object`);
}
