/** A tiny PIR-style model config shared by the model tests (not a test file itself). */

/** 16-px images → 4×4 grid (N = 17), D = 16, 2 heads, K = 5, one round on each side. */
export const TINY_PIR_SMALL = {
  kind: 'pir-small',
  name: 'tiny',
  embedDim: 16,
  imageSize: 16,
  heads: 2,
  image: { channels: [4, 8] },
  prior: { channels: [4, 8], numClasses: 3 },
  text: { vocabSize: 20, contextLength: 8, width: 16, layers: 1, heads: 2 },
  spatialPae: { filterSize: 5, numRounds: 1 },
  temporalPae: { numRounds: 1 },
};
