/**
 * Belief figures for the prior-instructed patch selection (PAE):
 * - `beliefOverlayFigure`: one image with its belief over patch tokens as a semi-transparent heatmap
 *   on the patch grid, the kept top-K tokens outlined;
 * - `beliefBatchFigure`: the B×N belief matrix of a batch (kept tokens marked);
 * - `beliefAcrossCheckpointsFigure`: the same image across checkpoints as a row of panels with a
 *   shared colour scale.
 * Token layout: when `hasGlobalToken` (PIR: N = 1 + gh·gw), token 0 is the global token; its belief
 * is reported in the panel title. Patch token 1 + r·gw + c covers grid cell (r, c).
 */
import { RgbImage } from '../../io/image_codecs';
import { NEUTRAL, PlotlyFigure, PlotlyTrace } from '../theme';
import { columnDomains, imageDataUri, subplotAxes } from './common';

/** Heatmap opacity over the image. */
export const BELIEF_OVERLAY_OPACITY = 0.5;
/** Colour scale of beliefs. */
export const BELIEF_COLORSCALE = 'Viridis';

/** One image's belief. */
export interface BeliefPanel {
  label: string;
  /** Belief per token [N]. */
  belief: Float32Array | number[];
  /** Kept token indices (same indexing as `belief`). */
  keptIdx?: number[];
}

/** Common inputs. */
export interface BeliefGridSpec {
  /** Patch grid [rows, cols]. */
  grid: [number, number];
  /** Token 0 is a global (CLS) token (default: inferred from N = 1 + rows·cols). */
  hasGlobalToken?: boolean;
}

function layoutTokens(panel: BeliefPanel, spec: BeliefGridSpec): { z: number[][]; global: number | null; offset: number } {
  const [gh, gw] = spec.grid;
  const n = panel.belief.length;
  const hasGlobal = spec.hasGlobalToken ?? n === gh * gw + 1;
  const offset = hasGlobal ? 1 : 0;
  if (n !== gh * gw + offset) throw new Error(`belief '${panel.label}': ${n} tokens do not fit a ${gh}×${gw} grid${hasGlobal ? ' + global token' : ''}`);
  const z: number[][] = [];
  for (let r = 0; r < gh; r++) z.push(Array.from({ length: gw }, (_, c) => Number(panel.belief[offset + r * gw + c])));
  return { z, global: hasGlobal ? Number(panel.belief[0]) : null, offset };
}

function overlayTraces(image: RgbImage, panel: BeliefPanel, spec: BeliefGridSpec, ax: { x: string; y: string }, range: [number, number], showScale: boolean): { traces: PlotlyTrace[]; global: number | null } {
  const [gh, gw] = spec.grid;
  const { z, global, offset } = layoutTokens(panel, spec);
  const cw = image.width / gw;
  const ch = image.height / gh;
  const traces: PlotlyTrace[] = [
    { type: 'image', source: imageDataUri(image), x0: 0, y0: 0, dx: 1, dy: 1, xaxis: ax.x, yaxis: ax.y, hoverinfo: 'skip', name: `${panel.label} image` },
    {
      type: 'heatmap',
      name: `${panel.label} belief`,
      z,
      x0: cw / 2,
      dx: cw,
      y0: ch / 2,
      dy: ch,
      opacity: BELIEF_OVERLAY_OPACITY,
      colorscale: BELIEF_COLORSCALE,
      zmin: range[0],
      zmax: range[1],
      showscale: showScale,
      colorbar: { title: { text: 'belief' } },
      hovertemplate: 'row %{y:.0f} col %{x:.0f}<br>belief %{z:.4f}<extra></extra>',
      xaxis: ax.x,
      yaxis: ax.y,
    },
  ];
  const kept = (panel.keptIdx ?? []).filter((k) => k >= offset).map((k) => k - offset);
  if (kept.length > 0) {
    traces.push({
      type: 'scatter',
      mode: 'markers',
      name: `${panel.label} kept (${kept.length})`,
      x: kept.map((k) => ((k % gw) + 0.5) * cw),
      y: kept.map((k) => (Math.floor(k / gw) + 0.5) * ch),
      marker: { symbol: 'square-open', size: Math.max(6, Math.min(cw, ch) * 0.6), color: '#FFFFFF', line: { width: 2, color: '#FFFFFF' } },
      hovertemplate: 'kept token<extra></extra>',
      xaxis: ax.x,
      yaxis: ax.y,
      showlegend: false,
    });
  }
  return { traces, global };
}

function beliefRange(panels: BeliefPanel[], spec: BeliefGridSpec): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const p of panels) {
    const { z } = layoutTokens(p, spec);
    for (const row of z) for (const v of row) {
      if (!Number.isFinite(v)) throw new Error(`belief '${p.label}': non-finite value`);
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
  }
  return hi > lo ? [lo, hi] : [lo, lo + 1];
}

function imageAxes(image: RgbImage, domain?: [number, number], anchor?: string): { x: Record<string, unknown>; y: Record<string, unknown> } {
  return {
    x: { range: [0, image.width], showgrid: false, showticklabels: false, showline: false, ticks: '', ...(domain ? { domain } : {}), ...(anchor ? { anchor: anchor.replace('x', 'y') } : {}) },
    y: { range: [image.height, 0], showgrid: false, showticklabels: false, showline: false, ticks: '', scaleanchor: anchor ?? 'x', ...(anchor ? { anchor } : {}) },
  };
}

/** One image with its belief heatmap and the kept tokens. */
export function beliefOverlayFigure(image: RgbImage, panel: BeliefPanel, spec: BeliefGridSpec, title?: string): PlotlyFigure {
  const { traces, global } = overlayTraces(image, panel, spec, { x: 'x', y: 'y' }, beliefRange([panel], spec), true);
  const axes = imageAxes(image);
  const g = global === null ? '' : ` (global token ${global.toFixed(3)})`;
  return { data: traces, layout: { title: title ?? `Belief: ${panel.label}${g}`, xaxis: axes.x, yaxis: axes.y, width: 560, height: 520 } };
}

/** The same image across checkpoints (one panel each, shared colour scale). */
export function beliefAcrossCheckpointsFigure(image: RgbImage, panels: BeliefPanel[], spec: BeliefGridSpec, title?: string): PlotlyFigure {
  if (panels.length === 0) throw new Error('beliefAcrossCheckpointsFigure: no panels');
  const range = beliefRange(panels, spec);
  const domains = columnDomains(panels.length, 0.02);
  const data: PlotlyTrace[] = [];
  const layout: Record<string, unknown> = { title: title ?? 'Belief across checkpoints', annotations: [] as unknown[], width: Math.max(500, 300 * panels.length), height: 420, margin: { t: 110 } };
  panels.forEach((p, i) => {
    const ax = subplotAxes(i);
    const { traces, global } = overlayTraces(image, p, spec, ax, range, i === panels.length - 1);
    data.push(...traces);
    const axes = imageAxes(image, domains[i], ax.y);
    layout[ax.xKey] = { ...axes.x, anchor: ax.y };
    layout[ax.yKey] = { ...axes.y, anchor: ax.x, scaleanchor: ax.x };
    const g = global === null ? '' : `<br>global ${global.toFixed(3)}`;
    (layout.annotations as unknown[]).push({ text: `${p.label}${g}`, showarrow: false, xref: 'paper', yref: 'paper', x: (domains[i][0] + domains[i][1]) / 2, y: 1.02, xanchor: 'center', yanchor: 'bottom' });
  });
  return { data, layout };
}

/** The B×N belief matrix of a batch; kept tokens marked. `rowLabels` name the images. */
export function beliefBatchFigure(belief: Float32Array | number[], batch: number, keptIdx?: number[][], rowLabels?: string[], title?: string): PlotlyFigure {
  if (batch <= 0 || belief.length % batch !== 0) throw new Error(`beliefBatchFigure: ${belief.length} values are not ${batch} rows`);
  const n = belief.length / batch;
  const z: number[][] = [];
  for (let b = 0; b < batch; b++) z.push(Array.from({ length: n }, (_, j) => Number(belief[b * n + j])));
  if (z.some((r) => r.some((v) => !Number.isFinite(v)))) throw new Error('beliefBatchFigure: non-finite belief');
  const labels = rowLabels ?? Array.from({ length: batch }, (_, b) => `image ${b}`);
  const data: PlotlyTrace[] = [{ type: 'heatmap', name: 'belief', z, x: Array.from({ length: n }, (_, j) => j), y: labels, colorscale: BELIEF_COLORSCALE, colorbar: { title: { text: 'belief' } }, hovertemplate: '%{y} token %{x}: %{z:.4f}<extra></extra>' }];
  if (keptIdx) {
    const xs: number[] = [];
    const ys: string[] = [];
    keptIdx.forEach((row, b) => row.forEach((j) => {
      xs.push(j);
      ys.push(labels[b]);
    }));
    data.push({ type: 'scatter', mode: 'markers', name: 'kept', x: xs, y: ys, marker: { symbol: 'circle-open', size: 7, color: NEUTRAL.background, line: { width: 1.5, color: NEUTRAL.background } }, hovertemplate: 'kept token %{x}<extra></extra>' });
  }
  return { data, layout: { title: title ?? `Belief over tokens (${batch}×${n})`, xaxis: { title: 'token' }, yaxis: { title: '', autorange: 'reversed' } } };
}
