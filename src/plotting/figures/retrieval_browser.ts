/**
 * Retrieval browser figures:
 * - `textQueryFigure`: for a caption, the top-k images with their scores (a row of image panels,
 *   ground truth marked ✓);
 * - `imageQueryFigure`: for an image, the image and a table of its top-k captions with scores.
 * `topMatches` computes the top-k candidates of one query from embeddings (pure JS, O(N·E)).
 */
import { RgbImage } from '../../io/image_codecs';
import { NEUTRAL, PlotlyFigure, PlotlyTrace, runColor } from '../theme';
import { columnDomains, imageDataUri, subplotAxes, shorten } from './common';

/** Top-k candidate indices and scores (descending; ties by lower index) of `query` [E] against `candidates` [N, E]. */
export function topMatches(query: Float32Array, candidates: Float32Array, k: number): { index: number[]; score: number[] } {
  const e = query.length;
  if (e === 0 || candidates.length % e !== 0) throw new Error(`topMatches: candidates (${candidates.length}) are not rows of width ${e}`);
  const n = candidates.length / e;
  const scores = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    let s = 0;
    for (let d = 0; d < e; d++) s += query[d] * candidates[j * e + d];
    scores[j] = s;
  }
  const order = Array.from({ length: n }, (_, j) => j).sort((a, b) => scores[b] - scores[a] || a - b);
  const top = order.slice(0, Math.min(k, n));
  return { index: top, score: top.map((j) => scores[j]) };
}

/** One retrieved image. */
export interface RetrievedImage {
  image: RgbImage;
  score: number;
  /** Whether this is (one of) the query's ground-truth image(s). */
  isPositive: boolean;
  label?: string;
}

/** Top-k images for a caption. */
export function textQueryFigure(caption: string, results: RetrievedImage[], title?: string): PlotlyFigure {
  if (results.length === 0) throw new Error('textQueryFigure: no results');
  const domains = columnDomains(results.length, 0.015);
  const data: PlotlyTrace[] = [];
  const layout: Record<string, unknown> = {
    title: title ?? `“${shorten(caption, 90)}”`,
    annotations: [] as unknown[],
    shapes: [] as unknown[],
    width: Math.max(600, 190 * results.length),
    height: 300,
  };
  results.forEach((r, i) => {
    const ax = subplotAxes(i);
    data.push({ type: 'image', source: imageDataUri(r.image), xaxis: ax.x, yaxis: ax.y, name: `#${i + 1}`, hovertemplate: `#${i + 1} score ${r.score.toFixed(4)}<extra></extra>` });
    layout[ax.xKey] = { domain: domains[i], range: [0, r.image.width], showticklabels: false, showgrid: false, showline: false, ticks: '', anchor: ax.y };
    layout[ax.yKey] = { range: [r.image.height, 0], showticklabels: false, showgrid: false, showline: false, ticks: '', scaleanchor: ax.x, anchor: ax.x };
    (layout.annotations as unknown[]).push({
      text: `#${i + 1} ${r.isPositive ? '✓ ' : ''}${r.score.toFixed(3)}${r.label ? `<br>${shorten(r.label, 24)}` : ''}`,
      showarrow: false,
      xref: 'paper',
      yref: 'paper',
      x: (domains[i][0] + domains[i][1]) / 2,
      y: -0.02,
      xanchor: 'center',
      yanchor: 'top',
      font: { color: r.isPositive ? runColor(2) : NEUTRAL.text },
    });
    if (r.isPositive) {
      (layout.shapes as unknown[]).push({ type: 'rect', xref: ax.x, yref: ax.y, x0: 0, y0: 0, x1: r.image.width, y1: r.image.height, line: { color: runColor(2), width: 4 } });
    }
  });
  return { data, layout };
}

/** One retrieved caption. */
export interface RetrievedCaption {
  text: string;
  score: number;
  isPositive: boolean;
}

/** An image and its top-k captions (table). */
export function imageQueryFigure(image: RgbImage, results: RetrievedCaption[], title?: string): PlotlyFigure {
  if (results.length === 0) throw new Error('imageQueryFigure: no results');
  const data: PlotlyTrace[] = [
    { type: 'image', source: imageDataUri(image), xaxis: 'x', yaxis: 'y', name: 'query', hoverinfo: 'skip' },
    {
      type: 'table',
      name: 'captions',
      domain: { x: [0.36, 1], y: [0, 1] },
      columnwidth: [0.6, 1, 0.6, 6],
      header: { values: ['rank', 'score', 'GT', 'caption'], align: 'left', fill: { color: NEUTRAL.grid } },
      cells: {
        values: [results.map((_, i) => i + 1), results.map((r) => r.score.toFixed(4)), results.map((r) => (r.isPositive ? '✓' : '')), results.map((r) => r.text)],
        align: 'left',
        fill: { color: [results.map((r) => (r.isPositive ? 'rgba(0,158,115,0.15)' : NEUTRAL.background))] },
      },
    },
  ];
  return {
    data,
    layout: {
      title: title ?? 'Image → text: top captions',
      xaxis: { domain: [0, 0.33], range: [0, image.width], showticklabels: false, showgrid: false, showline: false, ticks: '' },
      yaxis: { range: [image.height, 0], showticklabels: false, showgrid: false, showline: false, ticks: '', scaleanchor: 'x' },
      width: 1000,
      height: 360,
    },
  };
}
