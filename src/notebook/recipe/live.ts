/**
 * Live loss curves while a recipe trains.
 *
 *   const live = liveLossCurve();                 // one notebook output, updated in place
 *   await ensureStages(env.profile, env.seed, { live });
 *
 * While stages train, the output is a small SVG chart (cheap: no browser round trip per update) of
 * the loss each stage's progress counter reports; when training ends it is replaced by the exact
 * plotly figure built from the runs' `losses.json` (every step, loss parts, validation metric).
 *
 * How the live points are obtained: `runRecipe` (src/training/stages.ts) reports each optimiser
 * step to a progress counter labelled `<variant> s<seed> <stage>` with the info `loss <value>`.
 * `watchTrainingProgress` wraps the registered progress sink (the notebook's progress bars keep
 * working) and forwards those samples. Counter updates are throttled, so the live chart is a
 * sampled preview; the final figure is exact.
 */
import { ProgressSink, ProgressState, ProgressView, progressSink, setProgressSink } from '../../utils/progress';
import { LossHistory, lossCurvesFigure } from '../../plotting/figures/loss_curves';
import { LiveDisplay, inNotebook, liveDisplay } from '../display';

/** Minimum ms between two redraws of the live chart. */
export const LIVE_REDRAW_MS = 1000;
/** Size of the live SVG chart (CSS px). */
export const LIVE_SVG_SIZE = { width: 560, height: 220 };
/** EMA smoothing of the final figure. */
export const FINAL_SMOOTHING = 0.6;
/** Stroke colours of the live chart, one per stage in order of appearance. */
const LIVE_COLORS = ['#4C72B0', '#DD8452', '#55A868', '#C44E52', '#8172B3'];

/** One sampled point: series (stage) name, step within it, loss. */
export interface LivePoint {
  series: string;
  step: number;
  loss: number;
}

/** A live loss curve (see the file comment). */
export interface LiveLossCurve {
  /** Add one sample and redraw (throttled). */
  add(p: LivePoint): void;
  /** Samples so far, per series. */
  samples(): Map<string, { step: number; loss: number }[]>;
  /** Replace the live chart by the exact figure of these histories (empty: keep the samples). */
  finish(histories: LossHistory[], title?: string): Promise<void>;
}

/** Options of `liveLossCurve`. */
export interface LiveLossCurveOptions {
  /** Output to draw into (default: a new `liveDisplay()`). */
  display?: LiveDisplay;
  /** Redraw interval in ms (default LIVE_REDRAW_MS). */
  redrawMs?: number;
  /** Clock (tests). */
  now?: () => number;
}

/** Parse the loss out of a progress info string (`loss 0.1234`); null when absent. */
export function parseLossInfo(info: string): number | null {
  const m = /(?:^|\s|\|)loss\s+(-?[0-9.]+(?:e[-+]?\d+)?)/i.exec(info);
  if (!m) return null;
  const v = Number(m[1]);
  return Number.isFinite(v) ? v : null;
}

/** The stage part of a recipe progress label (`full s0 stage1` → `stage1`), else the label. */
export function seriesOfLabel(label: string): string {
  const m = /\b(stage\d)\b/.exec(label);
  return m ? m[1] : label;
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** A tiny line chart as SVG (one polyline per series, shared y axis, per-series x = step). */
export function liveSvg(series: Map<string, { step: number; loss: number }[]>, size = LIVE_SVG_SIZE): string {
  const { width, height } = size;
  const pad = { l: 48, r: 110, t: 12, b: 28 };
  const all = [...series.values()].flat();
  if (all.length === 0) return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><text x="10" y="20" font-size="12">waiting for the first step…</text></svg>`;
  const ymin = Math.min(...all.map((p) => p.loss));
  const ymax = Math.max(...all.map((p) => p.loss));
  const yr = ymax - ymin || 1;
  // stages are drawn one after another on a common x axis (stage k starts where stage k-1 ended)
  let offset = 0;
  const lines: string[] = [];
  const legend: string[] = [];
  const total = [...series.values()].reduce((a, pts) => a + (pts.length ? pts[pts.length - 1].step : 0), 0) || 1;
  const W = width - pad.l - pad.r;
  const H = height - pad.t - pad.b;
  [...series.entries()].forEach(([name, pts], i) => {
    const c = LIVE_COLORS[i % LIVE_COLORS.length];
    const xy = pts.map((p) => `${(pad.l + ((offset + p.step) / total) * W).toFixed(1)},${(pad.t + (1 - (p.loss - ymin) / yr) * H).toFixed(1)}`);
    lines.push(`<polyline fill="none" stroke="${c}" stroke-width="1.5" points="${xy.join(' ')}"/>`);
    const last = pts[pts.length - 1];
    legend.push(`<text x="${width - pad.r + 8}" y="${pad.t + 14 + 16 * i}" font-size="11" fill="${c}">${esc(name)}: ${last ? last.loss.toFixed(3) : '–'}</text>`);
    offset += last ? last.step : 0;
  });
  const axis = [
    `<line x1="${pad.l}" y1="${pad.t}" x2="${pad.l}" y2="${pad.t + H}" stroke="#888"/>`,
    `<line x1="${pad.l}" y1="${pad.t + H}" x2="${pad.l + W}" y2="${pad.t + H}" stroke="#888"/>`,
    `<text x="${pad.l - 4}" y="${pad.t + 10}" font-size="10" text-anchor="end">${ymax.toFixed(2)}</text>`,
    `<text x="${pad.l - 4}" y="${pad.t + H}" font-size="10" text-anchor="end">${ymin.toFixed(2)}</text>`,
    `<text x="${pad.l + W / 2}" y="${height - 6}" font-size="11" text-anchor="middle">optimiser steps (stages back to back) · training loss (sampled)</text>`,
  ];
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif">${axis.join('')}${lines.join('')}${legend.join('')}</svg>`;
}

/** Create a live loss curve bound to one notebook output. */
export function liveLossCurve(opts: LiveLossCurveOptions = {}): LiveLossCurve {
  const display = opts.display ?? liveDisplay();
  const redrawMs = opts.redrawMs ?? LIVE_REDRAW_MS;
  const now = opts.now ?? (() => Date.now());
  const series = new Map<string, { step: number; loss: number }[]>();
  let last = -Infinity;
  // outside a notebook the progress bars already print; the chart is drawn only in a kernel
  const live = opts.display !== undefined || inNotebook();
  const draw = () => {
    if (live) display.html(liveSvg(series));
  };
  return {
    add(p) {
      if (!Number.isFinite(p.loss)) return;
      const pts = series.get(p.series) ?? [];
      if (!series.has(p.series)) series.set(p.series, pts);
      if (pts.length > 0 && pts[pts.length - 1].step >= p.step) return;
      pts.push({ step: p.step, loss: p.loss });
      const t = now();
      if (t - last >= redrawMs) {
        last = t;
        draw();
      }
    },
    samples: () => series,
    async finish(histories, title) {
      if (histories.length === 0) {
        draw();
        return;
      }
      const fig = lossCurvesFigure(histories, { smoothing: FINAL_SMOOTHING, validationLabel: 'validation (stage 0: accuracy %, stages 1–2: mR %)', title: title ?? 'Training loss per stage (EMA-smoothed) and validation metric' });
      await display.show(fig);
    },
  };
}

/**
 * Forward the loss samples of every progress counter created from now on to `live` (see the file
 * comment), keeping the previously registered sink's views. Returns a function that restores the
 * previous sink.
 */
export function watchTrainingProgress(live: LiveLossCurve): () => void {
  const prev = progressSink();
  const sink: ProgressSink = (label: string, total: number): ProgressView => {
    const inner = prev ? prev(label, total) : null;
    const series = seriesOfLabel(label);
    const feed = (st: ProgressState) => {
      const loss = parseLossInfo(st.info);
      if (loss !== null && st.current > 0) live.add({ series, step: st.current, loss });
    };
    return {
      update(st) {
        inner?.update(st);
        feed(st);
      },
      done(st) {
        inner?.done(st);
        feed(st);
      },
    };
  };
  setProgressSink(sink);
  return () => setProgressSink(prev);
}
