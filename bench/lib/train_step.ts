/**
 * The stage-2 training step of the default kit config: the trainer's own `trainStep`
 * (src/training/trainer.ts, `accumSteps = 1`: `tf.variableGrads` of `totalLoss(model.forward(...))`
 * inside `tf.tidy`, the loss-part vector, `clipByGlobalNorm` (called even with `gradClipNorm = 0`),
 * then `AdamW.apply`; loss and grad norm downloaded) on a fixed batch, with the dropout stream the
 * recipe's stage task passes (`EncodeOptions.seeds`).
 *
 * Stage-2 trainable set: `stageTrainsGroup('stage2', …)` of the embedded-fast preset
 * (`trainTextEncoder: false`, `trainTextProjection: true`, `trainPrior: false`): image backbone +
 * projections, text_proj, fusion (S-PAE, T-PAE, conv_proj), temperatures. The text encoder and the
 * prior encoder run forward (in training mode, with dropout) but are frozen.
 */
import * as tf from '@tensorflow/tfjs';
import { SeedStream } from '../../src/utils/random';
import { createModel } from '../../src/models/factory';
import { ModelConfig, ParamGroup, RetrievalModel } from '../../src/models/model';
import { pirParamGroup } from '../../src/models/pir';
import { torchShape } from '../../src/models/params';
import { DEFAULT_LOSS_CONFIG, LossConfig, totalLoss } from '../../src/losses/total_loss';
import { AdamW, AdamWConfig } from '../../src/training/adamw';
import { StepCounters, StepPhases, TrainTask, optimisedEntries, trainStep } from '../../src/training/trainer';
import { stageTrainsGroup } from '../../src/training/stage_task';
import { resolveExperiment } from '../../src/config/experiment';

/** Stage-2 optimiser settings of the default preset (src/configs/experiments/embedded-fast.json). */
export const STAGE2_OPTIM = { lr: 1e-3, weightDecay: 0.01, beta1: 0.9, beta2: 0.98, eps: 1e-8, noDecay: 'pir' as const, gradClipNorm: 0 };
/** Stage-2 batch size of the default preset. */
export const STAGE2_BATCH = 32;
/** Scene classes of the embedded data. */
const NUM_CLASSES = 18;

/** One parameter as the PyTorch reference must build it. */
export interface ParamSpec {
  key: string;
  /** PyTorch shape (kit layout converted). */
  torchShape: number[];
  trainable: boolean;
  decay: boolean;
}

export type { StepPhases };

/** A ready-to-time training step. */
export interface KitTrainStep {
  model: RetrievalModel;
  batchSize: number;
  /** Image ids and scene labels of the fixed batch (also given to the PyTorch reference). */
  imageIds: number[];
  labels: number[];
  params: ParamSpec[];
  loss: LossConfig;
  /** One optimiser step; returns the loss and the gradient norm (both downloaded, as the trainer does). */
  step(phases?: StepPhases): Promise<{ loss: number; gradNorm: number }>;
  /** Forward pass + loss only (training mode, no tape), downloaded: the forward share of a step. */
  forwardOnly(): number;
  dispose(): void;
}

/**
 * Stage-2 trainability of parameter groups under the default preset (the rule `runRecipe` applies),
 * with the preset resolved once, not once per parameter.
 */
export function stage2Trainable(): (group: ParamGroup | 'all') => boolean {
  const exp = resolveExperiment('embedded-fast');
  return (group) => stageTrainsGroup('stage2', exp, group);
}

/** Random CLIP-normalised-looking images `[B, S, S, 3]` (values ~N(0,1), like normalised pixels). */
function randomImages(seeds: SeedStream, B: number, S: number): tf.Tensor4D {
  const n = B * S * S * 3;
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = seeds.normal();
  return tf.tensor4d(v, [B, S, S, 3]);
}

/** Random token rows int32 `[B, L]` with ids in [1, vocab). */
function randomTokens(seeds: SeedStream, B: number, L: number, vocab: number): tf.Tensor2D {
  const v = new Int32Array(B * L);
  for (let i = 0; i < v.length; i++) v[i] = 1 + seeds.int(vocab - 1);
  return tf.tensor2d(v, [B, L], 'int32');
}

/** Fixed random inputs for an encoder/training benchmark. */
export function randomBatch(config: ModelConfig, B: number, seeds: SeedStream): { images: tf.Tensor4D; tokens: tf.Tensor2D } {
  if (config.kind === 'priorclip') {
    const S = config.vision.imageSize;
    return { images: randomImages(seeds, B, S), tokens: randomTokens(seeds, B, config.text.contextLength, config.text.vocabSize) };
  }
  return { images: randomImages(seeds, B, config.imageSize), tokens: randomTokens(seeds, B, config.text.contextLength, config.text.vocabSize) };
}

/** Build the stage-2 step for a PIR-style config. */
export function buildStage2Step(config: ModelConfig, batchSize: number, seeds: SeedStream): KitTrainStep {
  if (config.kind === 'priorclip') throw new Error('bench: the training-step benchmark expects a pir-small / pir config');
  const model = createModel(config, seeds.child('model'));
  const group = (k: string): ParamGroup | 'all' => (model.paramGroup ? model.paramGroup(k) : pirParamGroup(k));
  const trains = stage2Trainable();
  const entries = optimisedEntries(model.params, [], (k) => trains(group(k)));
  const optCfg: AdamWConfig = { beta1: STAGE2_OPTIM.beta1, beta2: STAGE2_OPTIM.beta2, eps: STAGE2_OPTIM.eps, weightDecay: STAGE2_OPTIM.weightDecay, noDecay: STAGE2_OPTIM.noDecay };
  const optimizer = new AdamW(entries, optCfg);
  const vars = optimizer.variables();
  const decaySet = new Set(optimizer.groups().decay);
  const trainSet = new Set(entries.map((e) => e.key));
  const params: ParamSpec[] = model.params.list().map((e) => ({
    key: e.key,
    torchShape: torchShape(e.variable.shape, e.layout),
    trainable: trainSet.has(e.key),
    decay: decaySet.has(e.key),
  }));
  const data = seeds.child('data');
  const { images, tokens } = randomBatch(config, batchSize, data);
  // A caption batch: random image ids (a few repeats, i.e. several captions of one image) and their scene labels.
  const imageIds: number[] = [];
  const labels: number[] = [];
  for (let i = 0; i < batchSize; i++) {
    const id = data.int(batchSize);
    imageIds.push(id);
    labels.push(id % NUM_CLASSES);
  }
  const ids = tf.tensor1d(imageIds, 'int32');
  const labs = tf.tensor1d(labels, 'int32');
  const loss = { ...DEFAULT_LOSS_CONFIG };
  const stepStream = seeds.child('step');
  const counters: StepCounters = { step: 0, microStep: 0 };
  const lossOf = (dropout: SeedStream) => {
    const o = model.forward(images, tokens, { training: true, seeds: dropout });
    return totalLoss({ imageFeatures: o.imageFeatures, textFeatures: o.textFeatures, temp: o.temp, temp2: o.temp2, logitScale: o.logitScale, imageIds: ids, labels: labs }, loss);
  };
  // the fixed batch as a one-batch task: the trainer's step reads examples 0..B−1
  const task: TrainTask<null> = {
    params: model.params,
    numExamples: batchSize,
    makeBatch: () => null,
    disposeBatch: () => undefined,
    loss: (_b, stepSeeds) => {
      const l = lossOf(stepSeeds.child('dropout'));
      return { total: l.total, parts: l.parts };
    },
  };
  const order = Array.from({ length: batchSize }, (_, i) => i);
  const stepCfg = { accumSteps: 1, batchSize, gradClipNorm: STAGE2_OPTIM.gradClipNorm };
  const forwardOnly = (): number => {
    const microSeeds = stepStream.child(`fwd${counters.microStep++}`);
    const l = tf.tidy(() => lossOf(microSeeds.child('model').child('dropout')).total);
    const v = l.dataSync()[0];
    l.dispose();
    return v;
  };
  const step = async (phases?: StepPhases): Promise<{ loss: number; gradNorm: number }> => {
    const log = await trainStep(task, stepCfg, optimizer, vars, order, 0, stepStream, counters, STAGE2_OPTIM.lr, 0, phases);
    return { loss: log.loss, gradNorm: log.gradNorm };
  };
  return {
    model,
    batchSize,
    imageIds,
    labels,
    params,
    loss,
    step,
    forwardOnly,
    dispose: () => {
      optimizer.dispose();
      model.dispose();
      tf.dispose([images, tokens, ids, labs]);
    },
  };
}
