/**
 * UMAP map of image and text embeddings in one plot: colour = scene class, marker = modality
 * (circle = image, cross = caption), matching pairs traceable (thin lines from each caption to its
 * image, and hover ids). Several runs side by side as subplots. Coordinates come from
 * `projectUmap` (src/evaluation/umap.ts) run on the concatenated [images; texts] embeddings.
 */
import { classColors, NEUTRAL, PlotlyFigure, PlotlyTrace } from '../theme';
import { columnDomains, shorten, subplotAxes } from './common';

/** One panel (one run / checkpoint). */
export interface UmapPanel {
  title: string;
  /** Row-major [I, 2] image coordinates. */
  imageXY: Float32Array | number[];
  /** Row-major [T, 2] caption coordinates. */
  textXY: Float32Array | number[];
  /** Owning image of every caption. */
  txt2img: Int32Array | number[];
  /** Scene class name per image (null = no class). */
  imageClass: (string | null)[];
  /** Optional label per image (e.g. file name) and caption text, for hover. */
  imageLabels?: string[];
  captions?: string[];
}

/** Options of `umapClustersFigure`. */
export interface UmapClustersOptions {
  /** Draw caption→image lines (default true). */
  pairLines?: boolean;
  /** At most this many pair lines per panel (default 600; the first captions in order). */
  maxPairLines?: number;
  /** Marker size (default 6). */
  markerSize?: number;
  title?: string;
}

/** Name shown for images without a scene class. */
export const NO_CLASS = '(no class)';

/** Build the UMAP cluster figure (one subplot per panel). */
export function umapClustersFigure(panels: UmapPanel[], opts: UmapClustersOptions = {}): PlotlyFigure {
  if (panels.length === 0) throw new Error('umapClustersFigure: no panels');
  const allClasses = [...new Set(panels.flatMap((p) => p.imageClass.map((c) => c ?? NO_CLASS)))].sort();
  const colors = classColors(allClasses);
  const domains = columnDomains(panels.length);
  const size = opts.markerSize ?? 6;
  const data: PlotlyTrace[] = [];
  const layout: Record<string, unknown> = {
    title: opts.title ?? 'UMAP of image and caption embeddings',
    legend: { itemsizing: 'constant' },
    annotations: [] as unknown[],
  };
  panels.forEach((p, pi) => {
    const I = p.imageClass.length;
    const T = p.txt2img.length;
    if (p.imageXY.length !== 2 * I) throw new Error(`umapClustersFigure: panel '${p.title}' has ${p.imageXY.length / 2} image points for ${I} images`);
    if (p.textXY.length !== 2 * T) throw new Error(`umapClustersFigure: panel '${p.title}' has ${p.textXY.length / 2} caption points for ${T} captions`);
    const ax = subplotAxes(pi);
    const cls = p.imageClass.map((c) => c ?? NO_CLASS);
    if (opts.pairLines !== false) {
      const max = Math.min(T, opts.maxPairLines ?? 600);
      const x: (number | null)[] = [];
      const y: (number | null)[] = [];
      for (let t = 0; t < max; t++) {
        const i = p.txt2img[t];
        x.push(p.textXY[2 * t], p.imageXY[2 * i], null);
        y.push(p.textXY[2 * t + 1], p.imageXY[2 * i + 1], null);
      }
      data.push({ type: 'scatter', mode: 'lines', name: 'caption → image', x, y, line: { color: NEUTRAL.grid, width: 0.6 }, hoverinfo: 'skip', showlegend: pi === 0, legendgroup: 'pairs', xaxis: ax.x, yaxis: ax.y });
    }
    for (const c of allClasses) {
      const imgs = cls.map((k, i) => (k === c ? i : -1)).filter((i) => i >= 0);
      if (imgs.length === 0) continue;
      const txts: number[] = [];
      for (let t = 0; t < T; t++) if (cls[p.txt2img[t]] === c) txts.push(t);
      data.push({
        type: 'scatter',
        mode: 'markers',
        name: c,
        legendgroup: c,
        showlegend: pi === 0,
        x: imgs.map((i) => p.imageXY[2 * i]),
        y: imgs.map((i) => p.imageXY[2 * i + 1]),
        marker: { color: colors[c], size: size + 1, symbol: 'circle', line: { color: NEUTRAL.background, width: 0.5 } },
        text: imgs.map((i) => `image ${i}${p.imageLabels ? ` (${p.imageLabels[i]})` : ''} · ${c}`),
        hovertemplate: '%{text}<extra></extra>',
        xaxis: ax.x,
        yaxis: ax.y,
      });
      data.push({
        type: 'scatter',
        mode: 'markers',
        name: `${c} captions`,
        legendgroup: c,
        showlegend: false,
        x: txts.map((t) => p.textXY[2 * t]),
        y: txts.map((t) => p.textXY[2 * t + 1]),
        marker: { color: colors[c], size, symbol: 'x-thin', line: { color: colors[c], width: 1.5 }, opacity: 0.8 },
        text: txts.map((t) => `caption ${t} → image ${p.txt2img[t]}${p.captions ? `: ${shorten(p.captions[t])}` : ''}`),
        hovertemplate: '%{text}<extra></extra>',
        xaxis: ax.x,
        yaxis: ax.y,
      });
    }
    layout[ax.xKey] = { domain: domains[pi], showticklabels: false, title: '', anchor: ax.y };
    layout[ax.yKey] = { showticklabels: false, title: '', anchor: ax.x };
    (layout.annotations as unknown[]).push({ text: p.title, showarrow: false, xref: 'paper', yref: 'paper', x: (domains[pi][0] + domains[pi][1]) / 2, y: 1.04, xanchor: 'center' });
  });
  // Marker legend for the modalities.
  data.push({ type: 'scatter', mode: 'markers', name: '● image  ✕ caption', x: [null], y: [null], marker: { color: NEUTRAL.axis, symbol: 'circle' }, showlegend: true, hoverinfo: 'skip' });
  return { data, layout };
}
