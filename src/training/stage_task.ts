/**
 * One stage of the recipe (method.md §4.2) as pieces a caller can use alone — the recipe
 * (`recipe.ts`), the notebooks and the benchmarks build a stage from exactly these:
 *
 * - `stageModelConfig`: the model a stage trains (PIR stage 1: no prior, no PAE; PriorCLIP: the same towers);
 * - `createStageModel`: that model built at its seeded initialisation (a PriorCLIP stage-0 model also
 *   gets its scene-classification head `prior_head`, sized by the stage-0 corpus, which no later stage has);
 * - `loadInitialWeights`: stage 2 starts from the stage-0 prior and the stage-1 backbones (best
 *   checkpoints); a PriorCLIP stage 1 starts from the stage-0 prior too (frozen, read by the soft belief);
 * - `stageTask`: the trainer's task — batches of the stage's data view, the stage's loss (stage 0:
 *   cross-entropy of `encodePriorLogits` over the scene classes; stages 1–2: `totalLoss`), the
 *   trainable set (`stageTrainsGroup`), validation (stage 0: prior accuracy, else retrieval mR);
 * - `evalImageLoader`, `evaluateSplit`, `priorAccuracy`: evaluation at the model's own input.
 */
import * as tf from '@tensorflow/tfjs';
import { SeedStream } from '../utils/random';
import { ExperimentConfig } from '../config/experiment';
import { ModelConfig, RetrievalModel, ParamGroup } from '../models/model';
import { dataNeeds, modelForData, stage0HeadClasses, stage1Model } from '../models/family';
import { createModel } from '../models/factory';
import { totalLoss, LossConfig } from '../losses/total_loss';
import { Batch, TrainBatches, evalImageBatches } from '../data/batches';
import { preprocessImage } from '../data/image_preprocess';
import { RetrievalDataset, Split, splitImages } from '../data/types';
import { evaluateRetrieval } from '../evaluation/evaluate';
import { RetrievalMetrics } from '../evaluation/retrieval_metrics';
import { runFiles } from '../runs/files';
import { PreparedData, StageCorpus, augmentFor, dataSizes, imageView, priorCorpus, stage1Corpus } from './data_prep';
import { StageLoss, TrainConfig, TrainTask } from './trainer';
import { loadTrainState } from './train_state';
import { StageName, stage1Loss } from './run_cache';

/** Test metrics kept in run records and result tables. */
export interface TestSummary {
  i2t: { r1: number; r5: number; r10: number };
  t2i: { r1: number; r5: number; r10: number };
  mR: number;
  tieRule: string;
  numImages: number;
  numTexts: number;
}

/** The retrieval numbers kept in records and tables. */
export function summariseMetrics(m: RetrievalMetrics): TestSummary {
  return { i2t: { ...m.i2t }, t2i: { ...m.t2i }, mR: m.mR, tieRule: m.tieRule, numImages: m.numImages, numTexts: m.numTexts };
}

/** The model config a stage trains, sized for the data (stage 1: no prior, no PAE). */
export function stageModelConfig(exp: ExperimentConfig, data: PreparedData, stage: StageName): ModelConfig {
  const m = modelForData(exp.model, dataSizes(data, exp));
  return stage === 'stage1' ? stage1Model(m) : m;
}

/**
 * The model a stage trains, at its seeded initialisation (`seeds`: the recipe's `root.child('model')`).
 * Stage 0 of a PriorCLIP model adds the scene-classification head on the pooled prior
 * (`prior_head`, one output per class of the stage-0 corpus); the other stages build the open_clip
 * model alone, so their checkpoints and exports never hold the head.
 */
export function createStageModel(exp: ExperimentConfig, data: PreparedData, stage: StageName, seeds: SeedStream): RetrievalModel {
  const cfg = stageModelConfig(exp, data, stage);
  const headClasses = stage === 'stage0' ? stage0HeadClasses(cfg, stageCorpus(exp, data, 'stage0').dataset.classes.length) : 0;
  return createModel(cfg, seeds, headClasses > 0 ? { priorHeadClasses: headClasses } : {});
}

/** The loss config a stage optimises (null for stage 0: cross-entropy). */
export function stageLoss(exp: ExperimentConfig, stage: StageName): LossConfig | null {
  if (stage === 'stage0') return null;
  return stage === 'stage1' ? stage1Loss(exp) : exp.loss;
}

/**
 * The corpus a stage trains on, with its pixel source. v1 / real data: stage 0 one sample per
 * image of the dataset, stage 1 its coarse captions (unless `captions: 'fine'`), stage 2 the
 * dataset. Embedded v2: stage 0 the prior corpus (`train.stage0.corpus`), stage 1 the coarse
 * corpus (rendered on demand), stage 2 the fine corpus.
 */
export function stageCorpus(exp: ExperimentConfig, data: PreparedData, stage: StageName): StageCorpus {
  if (stage === 'stage0') {
    const c = priorCorpus(exp, data);
    return { dataset: imageView(c.dataset), cache: c.cache };
  }
  if (stage === 'stage1') return stage1Corpus(exp, data);
  return { dataset: data.dataset, cache: data.cache };
}

/** The training view of the data a stage reads (`stageCorpus` without its pixel source). */
export function stageDataset(exp: ExperimentConfig, data: PreparedData, stage: StageName): RetrievalDataset {
  return stageCorpus(exp, data, stage).dataset;
}

/** Parameter group of a key (models without `paramGroup` treat everything as one group). */
export function groupOf(model: RetrievalModel, key: string): ParamGroup | 'all' {
  return model.paramGroup ? model.paramGroup(key) : 'all';
}

function isPriorGroup(g: ParamGroup | 'all'): boolean {
  return g === 'prior' || g === 'priorHead';
}

/**
 * The weights a stage starts from: stage 2 loads the prior (and its head, where the model has one:
 * PIR) from stage 0's best checkpoint and everything else from stage 1's (non-strict: the PAE
 * modules keep their seeded initialisation). Stage 0 starts from the seeded initialisation; stage 1
 * too, except a stage-1 model with a prior (PriorCLIP: `stage1KeepsPrior`), which loads the prior
 * from stage 0 (and never trains it, `stageTrainsGroup`), so its ViT and `vision_proj_res` learn
 * against the prior stage 2 uses. Keys of the file the model lacks (PriorCLIP's `prior_head`) are ignored.
 */
export function loadInitialWeights(model: RetrievalModel, stage: StageName, ids: Record<StageName, string | null>): void {
  if (stage === 'stage1') {
    const hasPrior = model.params.list().some((e) => isPriorGroup(groupOf(model, e.key)));
    if (ids.stage0 && hasPrior) loadTrainState(runFiles(ids.stage0).best, model.params, null, { strict: false, only: (k) => isPriorGroup(groupOf(model, k)) });
    return;
  }
  if (stage !== 'stage2') return;
  if (ids.stage0) loadTrainState(runFiles(ids.stage0).best, model.params, null, { strict: false, only: (k) => isPriorGroup(groupOf(model, k)) });
  if (ids.stage1) loadTrainState(runFiles(ids.stage1).best, model.params, null, { strict: false, only: (k) => !isPriorGroup(groupOf(model, k)) });
}

/** Whether a stage trains a parameter group (stage 0: the prior and its head; later stages: the switches of `exp.train`). */
export function stageTrainsGroup(stage: StageName, exp: ExperimentConfig, g: ParamGroup | 'all'): boolean {
  if (stage === 'stage0') return isPriorGroup(g);
  if (g === 'priorHead') return false;
  if (g === 'prior') return stage === 'stage2' && exp.train.stage2.trainPrior;
  if (stage !== 'stage2') return true;
  if (g === 'text') return exp.train.stage2.trainTextEncoder;
  if (g === 'textProj') return exp.train.stage2.trainTextEncoder || exp.train.stage2.trainTextProjection;
  return true;
}

/** Eval-image loader at the model's input (size, eval transform), pixels from the shared cache, memoised per loader. */
export function evalImageLoader(data: PreparedData, model: ModelConfig): (rec: { imageId: number }) => Promise<Float32Array> {
  const memo = new Map<number, Float32Array>();
  const needs = dataNeeds(model);
  return async (rec) => {
    const hit = memo.get(rec.imageId);
    if (hit) return hit;
    const r = data.dataset.images.find((x) => x.imageId === rec.imageId);
    if (!r) throw new Error(`${data.dataset.name}: no image ${rec.imageId}`);
    const px = preprocessImage(await data.cache.get(r), { size: needs.imageSize, transform: needs.evalTransform });
    memo.set(rec.imageId, px);
    return px;
  };
}

/** Retrieval metrics of a split (tidy; the model is used in eval mode). */
export async function evaluateSplit(exp: ExperimentConfig, model: RetrievalModel, data: PreparedData, split: Split, loader?: (rec: { imageId: number }) => Promise<Float32Array>): Promise<RetrievalMetrics> {
  const res = await evaluateRetrieval(model, data.dataset, split, {
    tokenize: data.encodeText,
    imageSize: dataNeeds(exp.model).imageSize,
    loadImage: loader ?? evalImageLoader(data, exp.model),
    tieRule: exp.eval.tieRule,
    imageBatchSize: exp.eval.batchSize,
    textBatchSize: exp.eval.batchSize,
    progress: false,
  });
  return res.metrics;
}

/** Scene-classification accuracy of a prior. */
export interface PriorAccuracy {
  split: Split;
  /** Images of the split that have a scene class (the ones counted). */
  images: number;
  /** Accuracy (%) over those images; 0 when there are none or the model has no prior head. */
  accuracy: number;
  /** Chance level (%): 100 / classes. */
  chance: number;
}

/** Scene-classification accuracy (%) of the model's prior on a split of the corpus it was trained on (`priorCorpus`; stage 0 selects on it, on `val`). */
export async function priorAccuracy(exp: ExperimentConfig, model: RetrievalModel, data: PreparedData, split: Split = 'val'): Promise<PriorAccuracy> {
  const corpus = priorCorpus(exp, data);
  const classes = corpus.dataset.classes;
  const chance = classes.length ? 100 / classes.length : 0;
  const enc = model.encodePriorLogits;
  if (!enc) return { split, images: 0, accuracy: 0, chance };
  const needs = dataNeeds(exp.model);
  const recs = splitImages(corpus.dataset, split);
  let correct = 0;
  let total = 0;
  for await (const b of evalImageBatches(corpus.dataset, split, { batchSize: exp.eval.batchSize, size: needs.imageSize, transform: needs.evalTransform, cache: corpus.cache })) {
    const pred = tf.tidy(() => tf.argMax(enc.call(model, b.images), 1)); // [B]
    const p = await pred.data();
    pred.dispose();
    b.imageIndices.forEach((ii, k) => {
      const cls = recs[ii].sceneClass;
      if (cls === null) return;
      total += 1;
      if (classes[p[k]] === cls) correct += 1;
    });
    b.dispose();
  }
  return { split, images: total, accuracy: total > 0 ? (100 * correct) / total : 0, chance };
}

/** What `stageTask` builds a task from. */
export interface StageTaskInput {
  exp: ExperimentConfig;
  stage: StageName;
  /** The stage's model (built from `stageModelConfig`, initial weights loaded). */
  model: RetrievalModel;
  data: PreparedData;
  /** The stage's stream (`new SeedStream(seed).child(stage)`): batches draw from its child `batches`. */
  seeds: SeedStream;
}

/** The trainer's task of a stage: caption batches (stages 1–2) or image batches (stage 0). */
export function stageTask(input: StageTaskInput): TrainTask<Batch> {
  const { exp, stage, model, data, seeds } = input;
  const train: TrainConfig = exp.train[stage];
  const loss = stageLoss(exp, stage);
  const needs = dataNeeds(exp.model);
  const corpus = stageCorpus(exp, data, stage);
  const batches = new TrainBatches(corpus.dataset, seeds.child('batches'), {
    batchSize: train.batchSize,
    augment: augmentFor(exp.data.augment, needs.imageSize),
    evalTransform: needs.evalTransform,
    size: needs.imageSize,
    encodeText: data.encodeText,
    prefetch: 0,
    cache: corpus.cache,
  });
  const loader = evalImageLoader(data, exp.model);
  const numClasses = corpus.dataset.classes.length;
  return {
    params: model.params,
    numExamples: batches.samples.length,
    isTrainable: (key) => stageTrainsGroup(stage, exp, groupOf(model, key)),
    makeBatch: (indices, rng) => batches.makeBatch(indices, rng),
    disposeBatch: (b) => b.dispose(),
    loss(b: Batch, stepSeeds: SeedStream): StageLoss {
      // dropout is a function of (seed, micro-step): exact resume needs it
      const opts = { training: true, seeds: stepSeeds.child('dropout') };
      if (loss === null) {
        if (!model.encodePriorLogits) throw new Error(`stage 0: model '${exp.model.kind}' has no encodePriorLogits`);
        const logits = model.encodePriorLogits(b.images, opts); // [B, C]
        const labels = Array.from(b.labels, (l) => (l < numClasses ? l : -1));
        if (labels.some((l) => l < 0)) throw new Error(`stage 0: a training image has no scene class (labels ${Array.from(b.labels).join(',')})`);
        const onehot = tf.oneHot(tf.tensor1d(labels, 'int32'), numClasses); // [B, C]
        const ce = tf.losses.softmaxCrossEntropy(onehot, logits) as tf.Scalar;
        return { total: ce, parts: { classification: ce } };
      }
      const out = model.forward(b.images, b.tokens, opts);
      const l = totalLoss(
        { imageFeatures: out.imageFeatures, textFeatures: out.textFeatures, temp: out.temp, temp2: out.temp2, logitScale: out.logitScale, imageIds: b.imageIds, labels: b.labels },
        loss,
      );
      return { total: l.total, parts: l.parts };
    },
    selectMetric: stage === 'stage0' ? 'accuracy' : 'mR',
    validate: async (): Promise<Record<string, number>> => {
      if (stage === 'stage0') return { accuracy: (await priorAccuracy(exp, model, data, 'val')).accuracy };
      const m = await evaluateSplit(exp, model, data, 'val', loader);
      return { mR: m.mR, i2t_r1: m.i2t.r1, i2t_r5: m.i2t.r5, i2t_r10: m.i2t.r10, t2i_r1: m.t2i.r1, t2i_r5: m.t2i.r5, t2i_r10: m.t2i.r10 };
    },
  };
}
