/**
 * Training curves: the total loss and each loss part per step for one or more runs (parts dashed),
 * optionally a validation metric on a second y axis.
 */
import { PlotlyFigure, PlotlyTrace, runColor } from '../theme';

/** One logged step. */
export interface LossPoint {
  step: number;
  total: number;
  /** Unweighted parts, e.g. {contrastive, affiliation}. */
  parts?: Record<string, number>;
}

/** One run's history. */
export interface LossHistory {
  name: string;
  points: LossPoint[];
  /** Validation metric (e.g. mR) by step, drawn on the right axis. */
  validation?: { step: number; value: number }[];
}

/** Options of `lossCurvesFigure`. */
export interface LossCurvesOptions {
  /** Exponential moving-average weight in [0, 1) (0 = raw, default 0). */
  smoothing?: number;
  /** Log-scale y (default false). */
  logY?: boolean;
  /** Draw the parts (default true). */
  showParts?: boolean;
  /** Label of the validation metric. */
  validationLabel?: string;
  title?: string;
}

const PART_DASH = ['dash', 'dot', 'dashdot', 'longdash'];

/** Exponential moving average (bias-corrected, as TensorBoard's smoothing). */
export function smooth(values: readonly number[], weight: number): number[] {
  if (!(weight >= 0 && weight < 1)) throw new Error(`smooth: weight must be in [0, 1), got ${weight}`);
  let last = 0;
  return values.map((v, i) => {
    last = last * weight + (1 - weight) * v;
    return last / (1 - weight ** (i + 1));
  });
}

/** Build the loss-curve figure. */
export function lossCurvesFigure(histories: LossHistory[], opts: LossCurvesOptions = {}): PlotlyFigure {
  if (histories.length === 0) throw new Error('lossCurvesFigure: no histories');
  const w = opts.smoothing ?? 0;
  const data: PlotlyTrace[] = [];
  let anyValidation = false;
  histories.forEach((h, r) => {
    const color = runColor(r);
    const steps = h.points.map((p) => p.step);
    data.push({ type: 'scatter', mode: 'lines', name: `${h.name} total`, x: steps, y: smooth(h.points.map((p) => p.total), w), line: { color, width: 2 }, legendgroup: h.name });
    if (opts.showParts !== false) {
      const partNames = [...new Set(h.points.flatMap((p) => Object.keys(p.parts ?? {})))].sort();
      partNames.forEach((part, j) => {
        const pts = h.points.filter((p) => p.parts && Number.isFinite(p.parts[part]));
        data.push({
          type: 'scatter',
          mode: 'lines',
          name: `${h.name} ${part}`,
          x: pts.map((p) => p.step),
          y: smooth(pts.map((p) => (p.parts as Record<string, number>)[part]), w),
          line: { color, width: 1.2, dash: PART_DASH[j % PART_DASH.length] },
          legendgroup: h.name,
        });
      });
    }
    if (h.validation && h.validation.length > 0) {
      anyValidation = true;
      data.push({
        type: 'scatter',
        mode: 'lines+markers',
        name: `${h.name} ${opts.validationLabel ?? 'validation'}`,
        x: h.validation.map((v) => v.step),
        y: h.validation.map((v) => v.value),
        yaxis: 'y2',
        line: { color, width: 1, dash: 'dot' },
        marker: { color, size: 6, symbol: 'diamond' },
        legendgroup: h.name,
      });
    }
  });
  const layout: Record<string, unknown> = {
    title: opts.title ?? 'Training loss',
    xaxis: { title: 'step' },
    yaxis: { title: w > 0 ? `loss (EMA ${w})` : 'loss', type: opts.logY ? 'log' : 'linear' },
  };
  if (anyValidation) layout.yaxis2 = { title: opts.validationLabel ?? 'validation', overlaying: 'y', side: 'right', showgrid: false };
  return { data, layout };
}
