/**
 * The recipe notebooks' figures: thin wrappers that feed the figure builders of
 * src/plotting/figures/ from the recipe helpers' outputs, with the titles the notebooks use.
 * Imported as a namespace: `import * as figures from './src/notebook/recipe/figures'`.
 */
import * as path from 'path';
import { PlotlyFigure } from '../../plotting/theme';
import { FigureProvenance, saveFigure } from '../../plotting/save';
import { projectRoot } from '../../utils/fs';
import { lossCurvesFigure } from '../../plotting/figures/loss_curves';
import { RecallRun, recallCurvesFigure } from '../../plotting/figures/recall_curves';
import { UmapPanel, umapClustersFigure } from '../../plotting/figures/umap_clusters';
import { BeliefPanel, beliefAcrossCheckpointsFigure } from '../../plotting/figures/belief_matrix';
import { RetrievedCaption, RetrievedImage, imageQueryFigure, textQueryFigure } from '../../plotting/figures/retrieval_browser';
import { AblationResult, ablationBarsFigure } from '../../plotting/figures/ablation_bars';
import { RgbImage } from '../../io/image_codecs';
import { StageName } from '../../training/run_cache';
import { Session } from '../session';
import { runLossHistory } from '../../training/run_logs';

/** EMA smoothing of loss curves in the notebooks. */
export const LOSS_SMOOTHING = 0.6;
/** Largest K drawn in recall curves. */
export const RECALL_MAX_K = 50;

/** Loss (total + parts) and validation metric of one stage's run. */
export function stageLossFigure(st: Session, stage: StageName, title: string): PlotlyFigure {
  const id = st.ids[stage];
  if (!id) throw new Error(`stageLossFigure: ${stage} is disabled in '${st.exp.name}'`);
  return lossCurvesFigure([runLossHistory(id, stage)], { smoothing: LOSS_SMOOTHING, validationLabel: stage === 'stage0' ? 'val accuracy (%)' : 'val mR (%)', title });
}

/** Recall@K curves of several evaluations (both directions side by side). */
export function recallBeforeAfter(runs: RecallRun[], title = 'Recall@K on the test split: before (stage 1) vs after (stage 2)'): PlotlyFigure {
  return recallCurvesFigure(runs, { maxK: RECALL_MAX_K, title });
}

/** UMAP panels side by side. */
export function umapBeforeAfter(panels: UmapPanel[], title = 'Test images (●) and captions (×) by scene class: before vs after stage 2'): PlotlyFigure {
  return umapClustersFigure(panels, { title, maxPairLines: 150 });
}

/** One image's belief across checkpoints (shared colour scale). */
export function beliefFigure(b: { image: RgbImage; grid: [number, number]; panels: BeliefPanel[] }, title: string): PlotlyFigure {
  return beliefAcrossCheckpointsFigure(b.image, b.panels, { grid: b.grid }, title);
}

/** A caption and its top images. */
export function textQuery(q: { caption: string; results: RetrievedImage[] }): PlotlyFigure {
  return textQueryFigure(q.caption, q.results, `Text query → top ${q.results.length} images: “${q.caption.length > 90 ? q.caption.slice(0, 89) + '…' : q.caption}”`);
}

/** An image and its top captions. */
export function imageQuery(q: { image: RgbImage; results: RetrievedCaption[] }): PlotlyFigure {
  return imageQueryFigure(q.image, q.results, `Image query → top ${q.results.length} captions`);
}

/** mR (or another metric) per ablation, mean ± std over seeds, seeds as dots. */
export function ablationBars(results: AblationResult[], metric: string, title: string): PlotlyFigure {
  return ablationBarsFigure(results, { metric, fullModel: 'full', title });
}

/** Save a figure to figures/ (PNG + HTML + JSON with provenance) and print one line saying where. */
export async function save(fig: PlotlyFigure, name: string, provenance: FigureProvenance): Promise<void> {
  const files = await saveFigure(fig, name, provenance);
  const rel = path.relative(projectRoot(), files.html).replace(/\.html$/, '');
  console.log(`saved ${rel}.{${files.png ? 'png,' : ''}html,json}`);
}
