/**
 * Recall curves R@K (K = 1…N) for several runs in one figure; the seeds of a run are drawn as a
 * band (mean line + min/max or ±std fill). One panel per direction.
 */
import { PlotlyFigure, PlotlyTrace, runColor } from '../theme';
import { BAND_OPACITY, columnDomains, subplotAxes, withAlpha } from './common';

/** Curves of one seed: `i2t[K-1]` = I→T R@K (percent), as `RetrievalMetrics.curves`. */
export interface RecallCurves {
  i2t: number[];
  t2i: number[];
}

/** One run (method / variant) with one or more seeds. */
export interface RecallRun {
  name: string;
  seeds: RecallCurves[];
}

/** Options of `recallCurvesFigure`. */
export interface RecallCurvesOptions {
  /** Directions to draw (default both, side by side). */
  directions?: ('i2t' | 't2i')[];
  /** Largest K shown (default: the shortest curve). */
  maxK?: number;
  /** Band: 'minmax' (default) or 'std' (mean ± std). */
  band?: 'minmax' | 'std';
  /** Logarithmic K axis (default true: the interesting part is K ≤ 50). */
  logK?: boolean;
  title?: string;
}

const DIRECTION_LABEL = { i2t: 'Image → text', t2i: 'Text → image' } as const;

/** Build the recall-curve figure. */
export function recallCurvesFigure(runs: RecallRun[], opts: RecallCurvesOptions = {}): PlotlyFigure {
  if (runs.length === 0) throw new Error('recallCurvesFigure: no runs');
  const dirs = opts.directions ?? ['i2t', 't2i'];
  const domains = columnDomains(dirs.length);
  const data: PlotlyTrace[] = [];
  const layout: Record<string, unknown> = {
    title: opts.title ?? 'Recall@K',
    legend: { orientation: 'h', y: -0.25 },
    annotations: [] as unknown[],
  };
  dirs.forEach((dir, p) => {
    const ax = subplotAxes(p);
    runs.forEach((run, r) => {
      if (run.seeds.length === 0) throw new Error(`recallCurvesFigure: run '${run.name}' has no seeds`);
      const len = Math.min(opts.maxK ?? Infinity, ...run.seeds.map((s) => s[dir].length));
      const ks = Array.from({ length: len }, (_, i) => i + 1);
      const mean: number[] = [];
      const lo: number[] = [];
      const hi: number[] = [];
      for (let k = 0; k < len; k++) {
        const v = run.seeds.map((s) => s[dir][k]);
        const m = v.reduce((a, b) => a + b, 0) / v.length;
        mean.push(m);
        if (opts.band === 'std') {
          const sd = v.length > 1 ? Math.sqrt(v.reduce((a, b) => a + (b - m) ** 2, 0) / (v.length - 1)) : 0;
          lo.push(Math.max(0, m - sd));
          hi.push(Math.min(100, m + sd));
        } else {
          lo.push(Math.min(...v));
          hi.push(Math.max(...v));
        }
      }
      const color = runColor(r);
      if (run.seeds.length > 1) {
        data.push({ type: 'scatter', mode: 'lines', x: ks, y: hi, line: { width: 0, color }, hoverinfo: 'skip', showlegend: false, legendgroup: run.name, xaxis: ax.x, yaxis: ax.y, name: `${run.name} upper` });
        data.push({ type: 'scatter', mode: 'lines', x: ks, y: lo, line: { width: 0, color }, fill: 'tonexty', fillcolor: withAlpha(color, BAND_OPACITY), hoverinfo: 'skip', showlegend: false, legendgroup: run.name, xaxis: ax.x, yaxis: ax.y, name: `${run.name} lower` });
      }
      data.push({
        type: 'scatter',
        mode: 'lines',
        name: run.seeds.length > 1 ? `${run.name} (${run.seeds.length} seeds)` : run.name,
        x: ks,
        y: mean,
        line: { color, width: 2 },
        legendgroup: run.name,
        showlegend: p === 0,
        xaxis: ax.x,
        yaxis: ax.y,
        hovertemplate: `${run.name}<br>K=%{x}<br>R@K=%{y:.2f}%<extra></extra>`,
      });
    });
    layout[ax.xKey] = { title: 'K', type: opts.logK === false ? 'linear' : 'log', domain: domains[p], anchor: ax.y };
    layout[ax.yKey] = { title: p === 0 ? 'R@K (%)' : '', range: [0, 100], anchor: ax.x };
    (layout.annotations as unknown[]).push({ text: DIRECTION_LABEL[dir], showarrow: false, xref: 'paper', yref: 'paper', x: (domains[p][0] + domains[p][1]) / 2, y: 1.04, xanchor: 'center' });
  });
  return { data, layout };
}
