/**
 * A tiny line chart as SVG text (one polyline per series, shared y axis, stages drawn back to
 * back): the live training-loss preview, redrawn many times a minute without a browser round trip.
 * The exact figure is `figures/loss_curves.ts`.
 */

/** Size of the live SVG chart (CSS px). */
export const LIVE_SVG_SIZE = { width: 560, height: 220 };
/** Stroke colours of the live chart, one per series in order of appearance. */
const LIVE_COLORS = ['#4C72B0', '#DD8452', '#55A868', '#C44E52', '#8172B3'];

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
