/**
 * Ablation bars: mean ± std (over seeds) of one metric per variant, the full model highlighted and
 * its mean drawn as a dashed reference line; individual seeds as dots.
 */
import { NEUTRAL, PlotlyFigure, PlotlyTrace, runColor } from '../theme';
import { stats } from './common';

/** One variant's metric over seeds. */
export interface AblationResult {
  variant: string;
  values: number[];
}

/** Options of `ablationBarsFigure`. */
export interface AblationBarsOptions {
  /** Metric label for the axis, e.g. 'mR (%)'. */
  metric: string;
  /** Name of the full model among the variants (highlighted, reference line). */
  fullModel?: string;
  title?: string;
  /** Show each seed as a dot (default true). */
  showSeeds?: boolean;
}

/** Build the ablation bar chart. */
export function ablationBarsFigure(results: AblationResult[], opts: AblationBarsOptions): PlotlyFigure {
  if (results.length === 0) throw new Error('ablationBarsFigure: no results');
  const s = results.map((r) => {
    if (r.values.length === 0) throw new Error(`ablationBarsFigure: variant '${r.variant}' has no values`);
    return stats(r.values);
  });
  const names = results.map((r) => r.variant);
  const colors = names.map((n) => (n === opts.fullModel ? runColor(0) : runColor(5)));
  const data: PlotlyTrace[] = [
    {
      type: 'bar',
      name: opts.metric,
      x: names,
      y: s.map((x) => x.mean),
      error_y: { type: 'data', array: s.map((x) => x.std), visible: true },
      marker: { color: colors },
      text: s.map((x) => `${x.mean.toFixed(2)} ± ${x.std.toFixed(2)} (n=${x.n})`),
      hovertemplate: '%{x}: %{text}<extra></extra>',
      showlegend: false,
    },
  ];
  if (opts.showSeeds !== false) {
    data.push({
      type: 'scatter',
      mode: 'markers',
      name: 'seeds',
      x: results.flatMap((r) => r.values.map(() => r.variant)),
      y: results.flatMap((r) => r.values),
      marker: { color: NEUTRAL.axis, size: 6, opacity: 0.7 },
      showlegend: false,
    });
  }
  const layout: Record<string, unknown> = {
    title: opts.title ?? `Ablations: ${opts.metric}`,
    xaxis: { title: 'variant' },
    yaxis: { title: opts.metric },
    shapes: [] as unknown[],
  };
  const fullIdx = opts.fullModel === undefined ? -1 : names.indexOf(opts.fullModel);
  if (opts.fullModel !== undefined && fullIdx < 0) throw new Error(`ablationBarsFigure: full model '${opts.fullModel}' is not among the variants`);
  if (fullIdx >= 0) {
    (layout.shapes as unknown[]).push({ type: 'line', xref: 'paper', x0: 0, x1: 1, y0: s[fullIdx].mean, y1: s[fullIdx].mean, line: { dash: 'dash', color: NEUTRAL.reference, width: 1 } });
  }
  return { data, layout };
}
