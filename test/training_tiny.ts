/** Tiny experiment overrides shared by the training tests (not a test file itself). */

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
