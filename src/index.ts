/**
 * The kit's public surface, one namespace per concern: `import * as kit from './src'`, then
 * `kit.models.createModel(...)`, `kit.recipe.runRecipe(kit.runCache.resolveVariant('embedded-fast', 'no-prior'))`,
 * `kit.recallCurves.recallCurvesFigure(...)`.
 *
 * Notebooks import the specific modules they narrate (so each cell shows where a function lives);
 * this barrel is for scripts and for exploring the library in a REPL. Importing it loads every
 * module, including the figure renderer (Chromium is only launched on first use).
 */
export * as backends from './backends/backend';
export * as random from './utils/random';
export * as files from './utils/fs';
export * as json from './utils/json';
export * as progress from './utils/progress';
export * as config from './utils/merge_config';
export * as experiment from './config/experiment';
export * as runs from './runs/record';

export * as dataTypes from './data/types';
export * as embedded from './data/embedded/index';
export * as loaders from './data/loaders/index';
export * as exportData from './data/export';
export * as summary from './data/summary';
export * as images from './data/image_preprocess';
export * as codecs from './io/image_codecs';
export * as wordTokenizer from './data/word_tokenizer';
export * as clipTokenizer from './data/clip_tokenizer';
export * as batches from './data/batches';
export * as augment from './data/augment';

export * as params from './models/params';
export * as layers from './models/layers';
export * as spatialPae from './models/spatial_pae';
export * as softBelief from './models/soft_belief';
export * as temporalPae from './models/temporal_pae';
export * as models from './models/factory';
export * as modelTypes from './models/model';
export * as priorclip from './models/priorclip';
export * as checkpoint from './models/checkpoint';
export * as safetensors from './io/safetensors';

export * as contrastiveLoss from './losses/contrastive_loss';
export * as affiliationLoss from './losses/affiliation_loss';
export * as tripletLoss from './losses/triplet_loss';
export * as losses from './losses/total_loss';

export * as metrics from './evaluation/retrieval_metrics';
export * as evaluation from './evaluation/evaluate';
export * as embed from './evaluation/embed';
export * as umap from './evaluation/umap';
export * as tables from './evaluation/tables';
export * as diagnostics from './evaluation/diagnostics';
export * as beliefLocalisation from './evaluation/belief_localisation';
export * as beliefSaturation from './evaluation/belief_saturation';
export * as classStructure from './evaluation/class_structure';
export * as vocabularyShift from './evaluation/vocabulary_shift';
export * as statistics from './evaluation/statistics';

export * as recipe from './training/recipe';
export * as runCache from './training/run_cache';
export * as stageTask from './training/stage_task';
export * as runLogs from './training/run_logs';
export * as dataPrep from './training/data_prep';
export * as runFiles from './runs/files';
export * as family from './models/family';
export * as trainer from './training/trainer';
export * as ablations from './training/ablation_runner';
export * as mainJob from './training/main_job';
export * as diagnose from './training/diagnose';

export * as render from './plotting/render';
export * as save from './plotting/save';
export * as theme from './plotting/theme';
export * as recallCurves from './plotting/figures/recall_curves';
export * as umapClusters from './plotting/figures/umap_clusters';
export * as beliefMatrix from './plotting/figures/belief_matrix';
export * as retrievalBrowser from './plotting/figures/retrieval_browser';
export * as ablationBars from './plotting/figures/ablation_bars';
export * as lossCurves from './plotting/figures/loss_curves';
export * as liveSvg from './plotting/live_svg';
