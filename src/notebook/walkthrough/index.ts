/**
 * Library helpers of the walkthrough notebooks 01–04 (data tour, Spatial-PAE, Temporal-PAE, losses):
 * they package the model's own intermediates for tables and figures, so the notebooks stay short
 * and contain no model or loss code.
 */
export * from './session';
export * from './data_tour';
export * from './spatial';
export * from './temporal';
export * from './losses_tour';
export * from './figures';
