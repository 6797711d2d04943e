/**
 * Library helpers of the recipe notebooks 05–08 (stages 0/1, stage 2, ablations, real data and
 * checkpoints): finished runs reused by id, live loss curves, before/after embeddings, ablation
 * tables next to the paper's numbers, checkpoint key reports and tie-rule examples.
 */
export * from './live';
export * from './stages';
export * from './models';
export * from './ablations';
export * from './checkpoints';
