/** Tiny experiment overrides shared by the training tests (not a test file itself). */
import { EMBEDDED_SCENE_CLASSES } from '../src/data/embedded/config';

/** 3 classes × 10 images at 32 px, a small pir-small, a few steps per stage. */
export const TINY = {
  name: 'tiny',
  data: { embedded: { name: 'test-tiny', classes: ['airport', 'beach', 'forest'], imagesPerClass: 10, imageSize: 32, supersample: 1 } },
  model: { imageSize: 32, image: { channels: [16, 32] }, prior: { channels: [8, 16] }, text: { width: 32, layers: 1 }, embedDim: 32, spatialPae: { filterSize: 8, numRounds: 1 }, temporalPae: { numRounds: 1 } },
  train: {
    stage0: { epochs: 1, batchSize: 8, maxStepsPerEpoch: 2 },
    stage1: { epochs: 1, batchSize: 8, maxStepsPerEpoch: 2 },
    stage2: { epochs: 2, batchSize: 8, maxStepsPerEpoch: 2 },
  },
  eval: { batchSize: 16 },
};

/** TINY with a longer stage 2 checkpointed every step (the kill/resume test), dropout on. */
export const TINY_RESUME = {
  ...TINY,
  name: 'tinyresume',
  train: {
    ...TINY.train,
    stage2: { epochs: 3, batchSize: 8, maxStepsPerEpoch: 4, checkpointEverySteps: 1 },
  },
};

/** The fine classes of TINY_V2 (the first three scene classes). */
export const TINY_V2_FINE = EMBEDDED_SCENE_CLASSES.slice(0, 3);
/** Its prior (and coarse) classes: the fine ones and one the fine set does not have. */
export const TINY_V2_PRIOR = [...TINY_V2_FINE, 'bareland'];
const v2Stage = { epochs: 1, batchSize: 4 };
/** A tiny embedded v2 benchmark and one short epoch per stage (for the v2 presets). */
export const TINY_V2 = {
  data: {
    embedded: {
      version: 2,
      name: 'test-v2-tiny',
      supersample: 1,
      cellGrids: [4, 8],
      fine: { classes: TINY_V2_FINE, trainPerClass: 4, valPerClass: 1, testPerClass: 2 },
      prior: { classes: TINY_V2_PRIOR, imagesPerClass: 5, valFraction: 0.2 },
      coarse: { classes: TINY_V2_PRIOR, imagesPerClass: 4 },
    },
  },
  train: { stage0: v2Stage, stage1: v2Stage, stage2: v2Stage },
  eval: { batchSize: 16 },
};
