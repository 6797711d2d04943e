/**
 * Small helpers shared by the figure builders (pure: no I/O, no tslab).
 */
import { encodePng, RgbImage } from '../../io/image_codecs';

/** Opacity of confidence bands and overlays. */
export const BAND_OPACITY = 0.18;

/** `#RRGGBB` → `rgba(r,g,b,a)`. Other colour strings are returned unchanged. */
export function withAlpha(hex: string, alpha: number): string {
  const m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(hex);
  if (!m) return hex;
  return `rgba(${parseInt(m[1], 16)},${parseInt(m[2], 16)},${parseInt(m[3], 16)},${alpha})`;
}

/** Mean, sample standard deviation (0 for one value), min and max of a non-empty list. */
export function stats(values: readonly number[]): { mean: number; std: number; min: number; max: number; n: number } {
  const n = values.length;
  if (n === 0) throw new Error('stats: empty list');
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const varc = n > 1 ? values.reduce((a, b) => a + (b - mean) * (b - mean), 0) / (n - 1) : 0;
  return { mean, std: Math.sqrt(varc), min: Math.min(...values), max: Math.max(...values), n };
}

/** A data URI (PNG) of an RGB image, for a plotly `image` trace's `source`. */
export function imageDataUri(img: RgbImage): string {
  return `data:image/png;base64,${Buffer.from(encodePng(img)).toString('base64')}`;
}

/** Axis ids for the i-th subplot (0-based): `x`/`y`, `x2`/`y2`, … and their layout keys. */
export function subplotAxes(i: number): { x: string; y: string; xKey: string; yKey: string } {
  const s = i === 0 ? '' : String(i + 1);
  return { x: `x${s}`, y: `y${s}`, xKey: `xaxis${s}`, yKey: `yaxis${s}` };
}

/** Horizontal domains for `n` side-by-side panels with a gap (fraction of the width). */
export function columnDomains(n: number, gap = 0.06): [number, number][] {
  const w = (1 - gap * (n - 1)) / n;
  return Array.from({ length: n }, (_, i) => [i * (w + gap), i * (w + gap) + w] as [number, number]);
}

/** Truncate a caption for labels. */
export function shorten(text: string, max = 60): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
