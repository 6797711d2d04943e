/**
 * Finished runs as models, and their embeddings: what notebooks 05–06 compare "before" (after
 * stage 1) and "after" (stage 2).
 *
 *   const before = sessionModel(session, 'stage1').model;           // src/notebook/session.ts
 *   const evBefore = await embedAndEvaluate(session, before, 'test'); // metrics + embeddings
 *   const umap = umapPanel('after stage 1', evBefore, { seed: 0 });
 *
 * Every model comes from the session's `sessionModel` (the stage's config as the recipe builds it —
 * the stage-1 model has no prior and no PAE — and the run's BEST checkpoint, strictly).
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { SeedStream } from '../../utils/random';
import { runDir } from '../../runs/record';
import { BEST_CHECKPOINT, isStepCheckpoint } from '../../runs/files';
import { createModel } from '../../models/factory';
import { ModelConfig, RetrievalModel } from '../../models/model';
import { dataNeeds } from '../../models/family';
import { loadModelFileInto } from '../../models/checkpoint';
import { Split } from '../../data/types';
import { RgbImage } from '../../io/image_codecs';
import { evaluateRetrieval, EvaluationResult } from '../../evaluation/evaluate';
export type { EvaluationResult } from '../../evaluation/evaluate';
import { BatchTokenizer } from '../../evaluation/embed';
import { projectImageTextUmap, DEFAULT_UMAP_EPOCHS } from '../../evaluation/umap';
import { UmapPanel } from '../../plotting/figures/umap_clusters';
import { RecallRun } from '../../plotting/figures/recall_curves';
import { RetrievedImage, RetrievedCaption, topMatches } from '../../plotting/figures/retrieval_browser';
import { BeliefPanel } from '../../plotting/figures/belief_matrix';
import { Row } from '../../evaluation/tables';
import { StageName } from '../../training/run_cache';
import { PriorAccuracy, evalImageLoader, loadInitialWeights, priorAccuracy as stagePriorAccuracy, stageModelConfig as recipeStageModel } from '../../training/stage_task';
import { runStepLog } from '../../training/run_logs';
import { loadTrainState } from '../../training/train_state';
import { Session, sessionModel } from '../session';

/** The epoch checkpoints a run folder holds (`ckpt-*.safetensors`, oldest first). */
export function epochCheckpoints(runId: string): string[] {
  const dir = runDir(runId);
  if (!fs.existsSync(dir)) return [];
  const stepOf = (f: string) => Number((/(\d+)/.exec(f) ?? ['', '0'])[1]);
  return fs.readdirSync(dir).filter(isStepCheckpoint).sort((a, b) => stepOf(a) - stepOf(b));
}

/** Embed a split and compute the retrieval metrics (experiment tie rule), keeping the embeddings.
 *  `tokenize` defaults to the training tokenization (`st.data.encodeText`), `textBatchSize` to `eval.batchSize`. */
export async function embedAndEvaluate(st: Session, model: RetrievalModel, split: Split = 'test', opts: { tokenize?: BatchTokenizer; textBatchSize?: number } = {}): Promise<EvaluationResult> {
  return evaluateRetrieval(model, st.data.dataset, split, {
    tokenize: opts.tokenize ?? st.data.encodeText,
    imageSize: dataNeeds(st.exp.model).imageSize,
    loadImage: evalImageLoader(st.data, st.exp.model),
    tieRule: st.exp.eval.tieRule,
    imageBatchSize: st.exp.eval.batchSize,
    textBatchSize: opts.textBatchSize ?? st.exp.eval.batchSize,
    keepEmbeddings: true,
    progress: false,
  });
}

/** R@1/5/10 both directions and mR of named evaluations, one row each. */
export function recallRows(results: Record<string, EvaluationResult>): Row[] {
  const r2 = (x: number) => Math.round(x * 100) / 100;
  return Object.entries(results).map(([name, r]) => ({
    model: name,
    'i→t R@1': r2(r.metrics.i2t.r1),
    'i→t R@5': r2(r.metrics.i2t.r5),
    'i→t R@10': r2(r.metrics.i2t.r10),
    't→i R@1': r2(r.metrics.t2i.r1),
    't→i R@5': r2(r.metrics.t2i.r5),
    't→i R@10': r2(r.metrics.t2i.r10),
    mR: r2(r.metrics.mR),
    images: r.metrics.numImages,
    captions: r.metrics.numTexts,
    ties: r.metrics.tieRule,
  }));
}

/**
 * R@1/5/10 of RANDOM ranking for the same split sizes (the floor every number should be read
 * against): text→image R@K = K/I; image→text R@K = 1 − C(T−c, K)/C(T, K) with c captions per image.
 */
export function chanceRow(r: EvaluationResult): Row {
  const I = r.metrics.numImages;
  const T = r.metrics.numTexts;
  const c = Math.max(1, Math.round(T / Math.max(1, I)));
  const t2i = (k: number) => (100 * Math.min(k, I)) / I;
  const i2t = (k: number) => {
    let miss = 1;
    for (let j = 0; j < c; j++) miss *= Math.max(0, T - k - j) / (T - j);
    return 100 * (1 - miss);
  };
  const r2 = (x: number) => Math.round(x * 100) / 100;
  const vals = [i2t(1), i2t(5), i2t(10), t2i(1), t2i(5), t2i(10)];
  return {
    model: 'random ranking (chance)',
    'i→t R@1': r2(vals[0]),
    'i→t R@5': r2(vals[1]),
    'i→t R@10': r2(vals[2]),
    't→i R@1': r2(vals[3]),
    't→i R@5': r2(vals[4]),
    't→i R@10': r2(vals[5]),
    mR: r2(vals.reduce((a, b) => a + b, 0) / 6),
    images: I,
    captions: T,
    ties: '—',
  };
}

/** Mean training loss over the first and the last `n` logged steps of a run, and ln(batch size)
 *  (the contrastive loss of random embeddings). */
export function lossSummary(runId: string, batchSize: number, n = 10): Row {
  const logs = runStepLog(runId);
  const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : Number.NaN);
  const r3 = (x: number) => Math.round(x * 1000) / 1000;
  return {
    run: runId,
    steps: logs.length,
    [`first ${n} steps`]: r3(mean(logs.slice(0, n).map((l) => l.loss))),
    [`last ${n} steps`]: r3(mean(logs.slice(-n).map((l) => l.loss))),
    'ln(batch) (random embeddings, contrastive)': r3(Math.log(batchSize)),
  };
}

/** Recall-curve inputs (one seed each) for `recallCurvesFigure`. */
export function recallRuns(results: Record<string, EvaluationResult>): RecallRun[] {
  return Object.entries(results).map(([name, r]) => ({ name, seeds: [{ i2t: r.metrics.curves.i2t, t2i: r.metrics.curves.t2i }] }));
}

/** One UMAP panel (joint projection of the split's image and caption embeddings). */
export function umapPanel(title: string, r: EvaluationResult, opts: { seed: number; nEpochs?: number }): UmapPanel {
  const e = r.embeddings;
  if (!e) throw new Error(`umapPanel(${title}): evaluate with keepEmbeddings`);
  const { imageXY, textXY } = projectImageTextUmap(e.imageEmb, e.textEmb, e.dim, { seed: opts.seed, nEpochs: opts.nEpochs ?? DEFAULT_UMAP_EPOCHS });
  return {
    title,
    imageXY,
    textXY,
    txt2img: e.txt2img,
    imageClass: Array.from(e.classes, (c) => (c >= 0 ? e.classNames[c] : null)),
    imageLabels: e.images.map((x) => x.fileName),
    captions: e.captions,
  };
}

/** Top-k images of caption `textIndex` of the split (for `figures.textQuery`). */
export async function queryByText(st: Session, r: EvaluationResult, textIndex: number, k: number): Promise<{ caption: string; results: RetrievedImage[] }> {
  const e = r.embeddings;
  if (!e) throw new Error('queryByText: evaluate with keepEmbeddings');
  if (!(textIndex >= 0 && textIndex < e.numTexts)) throw new Error(`queryByText: caption ${textIndex} is outside 0..${e.numTexts - 1}`);
  const q = e.textEmb.subarray(textIndex * e.dim, (textIndex + 1) * e.dim);
  const top = topMatches(q, e.imageEmb, k);
  const results: RetrievedImage[] = [];
  for (let j = 0; j < top.index.length; j++) {
    const rec = e.images[top.index[j]];
    results.push({ image: await st.data.cache.get(rec), score: top.score[j], isPositive: top.index[j] === e.txt2img[textIndex], label: rec.fileName });
  }
  return { caption: e.captions[textIndex], results };
}

/** Top-k captions of image `imageIndex` of the split (for `figures.imageQuery`). */
export async function queryByImage(st: Session, r: EvaluationResult, imageIndex: number, k: number): Promise<{ image: RgbImage; results: RetrievedCaption[] }> {
  const e = r.embeddings;
  if (!e) throw new Error('queryByImage: evaluate with keepEmbeddings');
  if (!(imageIndex >= 0 && imageIndex < e.numImages)) throw new Error(`queryByImage: image ${imageIndex} is outside 0..${e.numImages - 1}`);
  const q = e.imageEmb.subarray(imageIndex * e.dim, (imageIndex + 1) * e.dim);
  const top = topMatches(q, e.textEmb, k);
  const results = top.index.map((t, j) => ({ text: e.captions[t], score: top.score[j], isPositive: e.txt2img[t] === imageIndex }));
  return { image: await st.data.cache.get(e.images[imageIndex]), results };
}

/** The belief of one image under a model (`beliefs()`; kept tokens when the belief is hard). */
export async function imageBelief(st: Session, model: RetrievalModel, imageIndex: number, label: string, split: Split = 'test'): Promise<{ panel: BeliefPanel; grid: [number, number]; image: RgbImage }> {
  const recs = st.data.dataset.images.filter((x) => x.split === split);
  const rec = recs[imageIndex];
  if (!rec) throw new Error(`imageBelief: ${split} image ${imageIndex} does not exist (${recs.length} images)`);
  const px = await evalImageLoader(st.data, st.exp.model)(rec);
  const S = dataNeeds(st.exp.model).imageSize;
  const out = tf.tidy(() => {
    const b = model.beliefs(tf.tensor4d(px, [1, S, S, 3])); // [1, N]
    return { belief: b.belief.dataSync() as Float32Array, kept: b.keptIdx ? Array.from(b.keptIdx.dataSync()) : undefined, grid: b.grid };
  });
  return { panel: { label, belief: Float32Array.from(out.belief), keptIdx: out.kept }, grid: out.grid, image: await st.data.cache.get(rec) };
}

/**
 * The belief of one test image across the stage-2 checkpoints that exist: stage-2 start (prior and
 * backbones loaded, PAE at initialisation), each epoch checkpoint, and the selected best.
 */
export async function beliefAcrossCheckpoints(st: Session, imageIndex: number): Promise<{ image: RgbImage; grid: [number, number]; panels: BeliefPanel[] }> {
  const id = st.ids.stage2;
  if (!id) throw new Error(`beliefAcrossCheckpoints: stage 2 is disabled in '${st.exp.name}'`);
  const models: { label: string; make: () => RetrievalModel }[] = [{ label: 'stage-2 start', make: () => sessionModel(st, 'stage2', { at: 'start' }).model }];
  for (const f of epochCheckpoints(id)) models.push({ label: f.replace('.safetensors', ''), make: () => sessionModel(st, 'stage2', { at: f }).model });
  models.push({ label: 'best (selected)', make: () => sessionModel(st, 'stage2').model });
  const panels: BeliefPanel[] = [];
  let image: RgbImage | null = null;
  let grid: [number, number] = [0, 0];
  for (const m of models) {
    const model = m.make();
    try {
      const b = await imageBelief(st, model, imageIndex, m.label);
      panels.push(b.panel);
      image = b.image;
      grid = b.grid;
    } finally {
      model.dispose();
    }
  }
  return { image: image as RgbImage, grid, panels };
}

/** Scene-classification accuracy (%) of the stage-0 prior on a split, and the chance level (the recipe's `priorAccuracy`). */
export async function priorAccuracy(st: Session, split: Split = 'test'): Promise<PriorAccuracy> {
  const model = sessionModel(st, 'stage0').model;
  try {
    if (!model.encodePriorLogits) throw new Error(`priorAccuracy: model '${st.exp.model.kind}' has no prior classification head`);
    return await stagePriorAccuracy(st.exp, model, st.data, split);
  } finally {
    model.dispose();
  }
}
