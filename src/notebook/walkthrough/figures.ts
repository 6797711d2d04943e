/**
 * Figure builders of the walkthrough notebooks (pure: `{data, layout}`, no I/O), for what the kit's
 * general builders in src/plotting/figures/ do not cover: per-round attention and change of the
 * PAEs, a logit matrix, the affiliation toy's loss curves, and its UMAP panels.
 */
import { NEUTRAL, PlotlyFigure, PlotlyTrace, runColor } from '../../plotting/theme';
import { UmapPanel } from '../../plotting/figures/umap_clusters';
import { projectImageTextUmap } from '../../evaluation/umap';
import { RoundSummary } from './spatial';
import { TemporalWalkthrough } from './temporal';
import { AffiliationToyResult, ToyState } from './losses_tour';

/** Plotly merges equal category labels: make repeats unique with zero-width-space suffixes. */
export function uniqueLabels(labels: readonly string[]): string[] {
  const seen = new Map<string, number>();
  return labels.map((l) => {
    const k = seen.get(l) ?? 0;
    seen.set(l, k + 1);
    return k === 0 ? l : `${l}${'\u200b'.repeat(k)}`;
  });
}

/** Colour scale of attention maps. */
export const ATTENTION_COLORSCALE = 'Viridis';

/**
 * Heatmap: one row per round, one column per key position; the cross-attention weight of query
 * row 0 of image/caption `item` (mean over heads). `keyLabels` name the columns.
 */
export function roundAttentionFigure(rounds: readonly RoundSummary[], item: number, keyLabels: readonly string[], title: string): PlotlyFigure {
  if (rounds.length === 0) throw new Error('roundAttentionFigure: no rounds');
  const z = rounds.map((r) => {
    const row = r.attention[item];
    if (!row || row.length !== keyLabels.length) throw new Error(`roundAttentionFigure: round ${r.round} has ${row?.length ?? 0} keys for item ${item}, labels give ${keyLabels.length}`);
    return row;
  });
  const x = uniqueLabels(keyLabels);
  return {
    data: [
      {
        type: 'heatmap',
        name: 'attention',
        z,
        x,
        y: rounds.map((r) => `round ${r.round}`),
        colorscale: ATTENTION_COLORSCALE,
        colorbar: { title: { text: 'weight' } },
        hovertemplate: '%{y}, key %{x}: %{z:.3f}<extra></extra>',
      },
    ],
    layout: { title, xaxis: { title: { text: 'key (what the query reads)' }, tickangle: -45, type: 'category' }, yaxis: { autorange: 'reversed' }, height: 200 + 40 * rounds.length, width: 900 },
  };
}

/** A PAE's rounds as lines: token–token similarity and cos(before, after), starting from round 0. */
export function roundChangeFigure(series: readonly { name: string; initialSimilarity: number; rounds: readonly RoundSummary[] }[], title: string): PlotlyFigure {
  const data: PlotlyTrace[] = [];
  series.forEach((s, i) => {
    const xs = [0, ...s.rounds.map((r) => r.round)];
    data.push({ type: 'scatter', mode: 'lines+markers', name: `${s.name}: token–token similarity`, x: xs, y: [s.initialSimilarity, ...s.rounds.map((r) => r.tokenSimilarity)], line: { color: runColor(i) } });
    data.push({ type: 'scatter', mode: 'lines+markers', name: `${s.name}: cos(before, after)`, x: s.rounds.map((r) => r.round), y: s.rounds.map((r) => r.meanCosToPrevious), line: { color: runColor(i), dash: 'dash' } });
  });
  return { data, layout: { title, xaxis: { title: { text: 'round' }, dtick: 1 }, yaxis: { title: { text: 'mean cosine' } } } };
}

/** Heatmap of how much each round rewrote each token of caption `b` (1 − cos(before, after)). */
export function tokenChangeFigure(w: TemporalWalkthrough, b: number, title?: string): PlotlyFigure {
  const x = uniqueLabels(w.words[b]);
  return {
    data: [
      {
        type: 'heatmap',
        name: 'change',
        z: w.rounds.map((r) => r.cosPerToken[b].map((c) => 1 - c)),
        x,
        y: w.rounds.map((r) => `round ${r.round}`),
        colorscale: 'Oranges',
        zmin: 0,
        colorbar: { title: { text: '1 − cos' } },
        hovertemplate: '%{y}, %{x}: %{z:.3f}<extra></extra>',
      },
    ],
    layout: { title: title ?? 'How much each round rewrites each token', xaxis: { tickangle: -45, type: 'category' }, yaxis: { autorange: 'reversed' }, height: 200 + 40 * w.rounds.length, width: 900 },
  };
}

/** A square logit matrix (rows and columns labelled) as a heatmap. */
export function logitMatrixFigure(matrix: readonly (readonly number[])[], rowLabels: readonly string[], colLabels: readonly string[], title: string): PlotlyFigure {
  return {
    data: [{ type: 'heatmap', name: 'logits', z: matrix.map((r) => [...r]), x: uniqueLabels(colLabels), y: uniqueLabels(rowLabels), colorscale: 'RdBu', reversescale: true, colorbar: { title: { text: 'logit' } }, hovertemplate: '%{y} · %{x}: %{z:.2f}<extra></extra>' }],
    layout: { title, xaxis: { tickangle: -45, type: 'category' }, yaxis: { autorange: 'reversed', type: 'category' }, width: 760, height: 640 },
  };
}

/** Loss curves of the toy: contrastive (solid) and affiliation (dashed) for both variants. */
export function toyLossFigure(r: AffiliationToyResult): PlotlyFigure {
  const data: PlotlyTrace[] = [];
  [r.contrastive, r.withAffiliation].forEach((s: ToyState, i) => {
    const x = s.history.map((h) => h.step);
    data.push({ type: 'scatter', mode: 'lines', name: `${s.name}: contrastive`, x, y: s.history.map((h) => h.contrastive), line: { color: runColor(i) } });
    data.push({ type: 'scatter', mode: 'lines', name: `${s.name}: affiliation`, x, y: s.history.map((h) => h.affiliation), line: { color: runColor(i), dash: 'dash' } });
  });
  const lnN = Math.log(r.labels.length);
  data.push({ type: 'scatter', mode: 'lines', name: `ln N (chance, N = ${r.labels.length})`, x: [1, r.config.steps], y: [lnN, lnN], line: { color: NEUTRAL.reference, dash: 'dot' } });
  return { data, layout: { title: 'Toy training: both losses, with and without the affiliation term', xaxis: { title: { text: 'step' } }, yaxis: { title: { text: 'loss' } } } };
}

/** UMAP panels (start, contrastive, contrastive + affiliation) of the toy, one joint projection each. */
export function toyUmapPanels(r: AffiliationToyResult, seed: number): UmapPanel[] {
  const names = Array.from(r.labels, (c) => `class ${c + 1}`);
  const txt2img = Array.from(r.labels, (_, i) => i);
  return [r.initial, r.contrastive, r.withAffiliation].map((s) => {
    const xy = projectImageTextUmap(s.images, s.captions, r.config.dim, { seed });
    return { title: s.name, imageXY: xy.imageXY, textXY: xy.textXY, txt2img, imageClass: names };
  });
}

/**
 * Put single-panel figures (each using axes `x`/`y`) side by side as one figure: traces move to
 * axes `x{i}`/`y{i}`, each panel keeps its own axis settings in its column, titles become
 * annotations; heatmaps share one colour range (the union of the panels' values), shown once.
 */
export function sideBySide(figs: readonly PlotlyFigure[], titles: readonly string[], title: string, panelWidth = 300): PlotlyFigure {
  if (figs.length === 0) throw new Error('sideBySide: no figures');
  const n = figs.length;
  const gap = 0.02;
  const w = (1 - gap * (n - 1)) / n;
  const data: PlotlyTrace[] = [];
  const layout: Record<string, unknown> = { title, width: Math.max(500, panelWidth * n), height: panelWidth + 140, annotations: [] as unknown[], showlegend: false, margin: { t: 100 } };
  let lo = Infinity;
  let hi = -Infinity;
  for (const f of figs) {
    for (const t of f.data) {
      if (t.type !== 'heatmap' || !Array.isArray(t.z)) continue;
      for (const row of t.z as unknown[]) {
        for (const v of Array.isArray(row) ? row : [row]) {
          if (typeof v === 'number' && Number.isFinite(v)) {
            lo = Math.min(lo, v);
            hi = Math.max(hi, v);
          }
        }
      }
    }
  }
  const range = hi > lo ? { zmin: lo, zmax: hi } : {};
  figs.forEach((f, i) => {
    const s = i === 0 ? '' : String(i + 1);
    const last = i === n - 1;
    for (const t of f.data) {
      const moved: PlotlyTrace = { ...t, xaxis: `x${s}`, yaxis: `y${s}` };
      if (t.type === 'heatmap') Object.assign(moved, range, { showscale: last });
      data.push(moved);
    }
    const domain = [i * (w + gap), i * (w + gap) + w];
    const xa = (f.layout.xaxis ?? {}) as Record<string, unknown>;
    const ya = (f.layout.yaxis ?? {}) as Record<string, unknown>;
    layout[`xaxis${s}`] = { ...xa, domain, anchor: `y${s}` };
    layout[`yaxis${s}`] = { ...ya, anchor: `x${s}`, ...(ya.scaleanchor !== undefined ? { scaleanchor: `x${s}` } : {}) };
    (layout.annotations as unknown[]).push({ text: titles[i] ?? '', showarrow: false, xref: 'paper', yref: 'paper', x: (domain[0] + domain[1]) / 2, y: 1.02, xanchor: 'center', yanchor: 'bottom', font: { size: 11 } });
  });
  return { data, layout };
}
