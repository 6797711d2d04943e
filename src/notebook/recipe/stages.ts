/**
 * The training recipe as notebooks use it (05 stage 0/1, 06 stage 2, 07 ablations):
 *
 *   const st = await ensureStages(env.profile, env.seed, { live: liveLossCurve() });
 *   showTable(stageRows(st));
 *
 * `ensureStages` resolves the profile's preset and runs `runRecipe` (src/training/recipe.ts), which
 * reuses every finished run by its run id (`<preset>__<stage>__s<seed>` — the ids `npm run main`
 * writes) and trains only what is missing, in the profile's own budget. So a notebook run after the
 * main job only loads; a notebook run on a fresh checkout trains the fast profile (a few minutes).
 */
import { ExperimentConfig, resolveExperiment } from '../../config/experiment';
import { DeepPartial } from '../../utils/merge_config';
import { readRunRecord } from '../../runs/record';
import { PreparedData, prepareExperimentData } from '../../training/data_prep';
import { RecipeOutcome, runRecipe } from '../../training/recipe';
import { StageName, StageOutcome, fullVariant, variantFinished } from '../../training/run_cache';
import { runValidation } from '../../training/run_logs';
import { Row } from '../../evaluation/tables';
import { LossHistory } from '../../plotting/figures/loss_curves';
import { PROFILES, Profile, profilePreset } from '../../training/profiles';
import { LiveLossCurve } from './live';

import { runLossHistory } from '../../training/run_logs';
export { runLossHistory, runStepLog, runTestSummary, runValidation } from '../../training/run_logs';

export { PROFILE_SUITES } from '../../training/profiles';

/**
 * Budget of the fast profile when the main job's runs are absent: the same preset under its own
 * name (so its run ids never collide with the main job's), stage 2 cut to a few optimiser steps.
 * Stages 0 and 1 keep the preset's budget. Notebooks 05, 06 and 07 share these runs.
 */
export function notebookBudget(preset: string): DeepPartial<ExperimentConfig> {
  return { name: `${preset}-nb`, train: { stage2: { epochs: NOTEBOOK_STAGE2_EPOCHS, maxStepsPerEpoch: NOTEBOOK_STAGE2_STEPS } } };
}
/** Stage-2 epochs of the notebook budget. */
export const NOTEBOOK_STAGE2_EPOCHS = 2;
/** Stage-2 optimiser steps per epoch of the notebook budget. */
export const NOTEBOOK_STAGE2_STEPS = 16;

/** True when every enabled stage of the profile's full model has a finished run for `seed`. */
export function mainRunsFinished(profile: Profile, seed: number): boolean {
  return variantFinished(fullVariant(profileExperiment(profile)), seed);
}

/**
 * The overrides notebooks run with: none when the main job's runs exist or the profile is `full`
 * (then the preset's own budget), else `notebookBudget`.
 */
export function notebookOverrides(profile: Profile, seed: number): DeepPartial<ExperimentConfig> | undefined {
  if (profile === 'full' || mainRunsFinished(profile, seed)) return undefined;
  return notebookBudget(profilePreset(profile));
}

/** The resolved experiment of a profile (preset + optional overrides). */
export function profileExperiment(profile: Profile, overrides?: DeepPartial<ExperimentConfig>): ExperimentConfig {
  if (!PROFILES.includes(profile)) throw new Error(`profileExperiment: unknown profile '${String(profile)}' (known: ${PROFILES.join(', ')})`);
  const preset = profilePreset(profile);
  return resolveExperiment(preset, null, overrides);
}

/** Options of `ensureStages`. */
export interface EnsureStagesOptions {
  /** Overrides of the profile's preset (default `notebookOverrides(profile, seed)`). Changing a stage's
   *  config changes its stage key: give the experiment a new `name` too, or runRecipe refuses to mix
   *  configs under one run id. */
  overrides?: DeepPartial<ExperimentConfig>;
  /** Last stage to run (default stage2): `stage1` stops after the coarse pre-training. */
  upTo?: 'stage1' | 'stage2';
  /** Live loss curve fed while stages train (nothing happens when every stage is reused). */
  live?: LiveLossCurve;
  /** Data prepared earlier (same data config). */
  data?: PreparedData;
  /** Log lines (default: console.log, so the notebook shows them). */
  log?: (line: string) => void;
}

/** The stages of one seed of the profile's full model, trained or reused. */
export interface StagesHandle {
  profile: Profile;
  seed: number;
  exp: ExperimentConfig;
  /** 'main-job budget' (the preset's own runs) or 'notebook budget' (see `notebookBudget`). */
  budget: 'preset' | 'notebook';
  data: PreparedData;
  /** Run ids per stage (null: the stage does not apply). */
  ids: Record<StageName, string | null>;
  /** Per-stage outcome (trained / reused / disabled). */
  stages: StageOutcome[];
  /** Run id of the last enabled retrieval stage. */
  finalRunId: string;
  /** `runRecipe`'s outcome. */
  outcome: RecipeOutcome;
  /** True when every stage was reused from finished runs. */
  allReused: boolean;
}

/**
 * Make sure stages 0–2 of the profile's preset exist for `seed` (reusing finished runs by id,
 * training missing ones) and return their run ids and outcome.
 */
export async function ensureStages(profile: Profile, seed: number, opts: EnsureStagesOptions = {}): Promise<StagesHandle> {
  const budget = opts.overrides ?? notebookOverrides(profile, seed);
  const exp = profileExperiment(profile, budget);
  const data = opts.data ?? (await prepareExperimentData(exp));
  const log = opts.log ?? ((l: string) => console.log(l));
  const live = opts.live;
  const outcome = await runRecipe(exp, { seed, upTo: opts.upTo, data, log, onStepEnd: live?.onStepEnd });
  // the finished curve from the run logs (exact values, every stage that trained or was reused)
  if (live) await live.finish(outcomeLossHistories(outcome));
  return stagesHandle(profile, exp, data, outcome, budget ? 'notebook' : 'preset');
}

/** The loss history of every stage run of a recipe outcome (trained or reused), for `live.finish` and figures. */
export function outcomeLossHistories(outcome: RecipeOutcome): LossHistory[] {
  return outcome.stages.filter((o) => o.runId !== null).map((o) => runLossHistory(o.runId as string, o.stage));
}

/**
 * The handle the notebook helpers read, from a recipe the notebook ran itself:
 *
 *   const out = await runRecipe(exp, { seed: env.seed, data, onStepEnd: live.onStepEnd });
 *   const st = recipe.stagesHandle(env.profile, exp, data, out);
 */
export function stagesHandle(profile: Profile, exp: ExperimentConfig, data: PreparedData, outcome: RecipeOutcome, budget: 'preset' | 'notebook' = exp.name === profilePreset(profile) ? 'preset' : 'notebook'): StagesHandle {
  const ids = { stage0: null, stage1: null, stage2: null } as Record<StageName, string | null>;
  for (const o of outcome.stages) ids[o.stage] = o.runId;
  const stages = outcome.stages;
  return { profile, seed: outcome.seed, exp, budget, data, ids, stages, finalRunId: outcome.finalRunId, outcome, allReused: stages.every((s) => s.status !== 'trained') };
}

/** One row per stage: run id, trained/reused, seconds, examples/s, best validation value. */
export function stageRows(st: StagesHandle): Row[] {
  return st.stages.map((s) => {
    const rec = s.runId ? readRunRecord(s.runId) : null;
    const secs = s.status === 'reused' ? (rec?.timings.totalSeconds ?? null) : s.seconds;
    return {
      stage: s.stage,
      runId: s.runId ?? '—',
      status: s.status,
      'train seconds': secs === null ? null : Math.round(secs * 10) / 10,
      'examples/s': s.examplesPerSecond === null ? null : Math.round(s.examplesPerSecond),
      'best val': s.bestVal === null ? null : Math.round(s.bestVal * 100) / 100,
      'selected on': s.stage === 'stage0' ? 'val accuracy (%)' : 'val mR (%)',
    };
  });
}

/** The validation-accuracy curve of stage 0 as rows (epoch, accuracy %). */
export function priorAccuracyRows(st: StagesHandle): Row[] {
  const id = st.ids.stage0;
  if (!id) return [];
  return runValidation(id).map((v) => ({ epoch: v.epoch + 1, step: v.step, 'val accuracy (%)': Math.round(v.metrics.accuracy * 100) / 100 }));
}

/** Leaf values of config sections as rows (`key`, `value`), e.g. `configRows(exp, ['train.stage1'])`. */
export function configRows(exp: ExperimentConfig, sections: readonly string[]): Row[] {
  const rows: Row[] = [];
  const walk = (prefix: string, v: unknown) => {
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      for (const [k, x] of Object.entries(v as Record<string, unknown>)) walk(`${prefix}.${k}`, x);
      return;
    }
    rows.push({ key: prefix, value: Array.isArray(v) ? JSON.stringify(v) : (v as string | number | boolean | null) });
  };
  for (const s of sections) {
    let v: unknown = exp;
    for (const part of s.split('.')) {
      if (v === null || typeof v !== 'object' || !(part in (v as Record<string, unknown>))) throw new Error(`configRows: '${s}' is not a config section (at '${part}')`);
      v = (v as Record<string, unknown>)[part];
    }
    walk(s, v);
  }
  return rows;
}
