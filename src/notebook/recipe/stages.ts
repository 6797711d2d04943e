/**
 * The training recipe as notebooks use it (05 stage 0/1, 06 stage 2, 07 ablations):
 *
 *   const st = await ensureStages(env.profile, env.seed, { live: liveLossCurve() });
 *   showTable(stageRows(st));
 *
 * `ensureStages` resolves the profile's preset and runs `runRecipe` (src/training/stages.ts), which
 * reuses every finished run by its run id (`<preset>__<stage>__s<seed>` — the ids `npm run main`
 * writes) and trains only what is missing, in the profile's own budget. So a notebook run after the
 * main job only loads; a notebook run on a fresh checkout trains the fast profile (a few minutes).
 */
import * as fs from 'fs';
import * as path from 'path';
import { ExperimentConfig, FULL_MODEL, resolveExperiment } from '../../config/experiment';
import { DeepPartial } from '../../config/resolve';
import { readRunRecord, runDir } from '../../runs/record';
import { readJson } from '../../utils/fs';
import { PreparedData } from '../../training/data_prep';
import { RecipeOutcome, StageName, STAGES, TestSummary, prepareExperimentData, runRecipe, stageRunIds, variantFinished } from '../../training/stages';
import { StepLog } from '../../training/train_state';
import { LossHistory } from '../../plotting/figures/loss_curves';
import { Row } from '../../evaluation/tables';
import { Profile } from '../setup';
import { LiveLossCurve, watchTrainingProgress } from './live';

/** Experiment preset of each notebook profile. */
export const PROFILE_PRESETS: Record<Profile, string> = { fast: 'embedded-fast', full: 'embedded-fast' };
/** Ablation suite of each notebook profile (what `npm run main` runs for it). */
export const PROFILE_SUITES: Record<Profile, string> = { fast: 'default', full: 'paper' };

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
  const exp = profileExperiment(profile);
  return variantFinished(exp, seed, FULL_MODEL, exp);
}

/**
 * The overrides notebooks run with: none when the main job's runs exist or the profile is `full`
 * (then the preset's own budget), else `notebookBudget`.
 */
export function notebookOverrides(profile: Profile, seed: number): DeepPartial<ExperimentConfig> | undefined {
  if (profile === 'full' || mainRunsFinished(profile, seed)) return undefined;
  return notebookBudget(PROFILE_PRESETS[profile]);
}

/** The resolved experiment of a profile (preset + optional overrides). */
export function profileExperiment(profile: Profile, overrides?: DeepPartial<ExperimentConfig>): ExperimentConfig {
  const preset = PROFILE_PRESETS[profile];
  if (!preset) throw new Error(`profileExperiment: unknown profile '${String(profile)}' (known: ${Object.keys(PROFILE_PRESETS).join(', ')})`);
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

/** What happened to one stage (the part of `StageOutcome` notebooks show). */
export interface StageStatus {
  stage: StageName;
  runId: string | null;
  status: 'trained' | 'reused' | 'disabled';
  /** Wall seconds spent in this call (0 when reused). */
  seconds: number;
  examplesPerSecond: number | null;
  /** Best validation value (stage 0: accuracy %, else mR). */
  bestVal: number | null;
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
  stages: StageStatus[];
  /** Run id of the last enabled retrieval stage. */
  finalRunId: string;
  /** `runRecipe`'s outcome, or null when every stage was already finished and nothing was called. */
  outcome: RecipeOutcome | null;
  /** True when every stage was reused from finished runs. */
  allReused: boolean;
}

/**
 * Make sure stages 0–2 of the profile's preset exist for `seed` (reusing finished runs by id,
 * training missing ones) and return their run ids and outcome.
 */
export async function ensureStages(profile: Profile, seed: number, opts: EnsureStagesOptions = {}): Promise<StagesHandle> {
  const budget = opts.overrides ?? notebookOverrides(profile, seed);
  const full = profileExperiment(profile, budget);
  // stopping early disables the later stages; stage keys of the earlier ones do not change
  const exp = opts.upTo === 'stage1' ? resolveExperiment(full, null, { train: { stage2: { enabled: false } } }) : full;
  const data = opts.data ?? (await prepareExperimentData(exp));
  const log = opts.log ?? ((l: string) => console.log(l));
  const ids = stageRunIds(exp, seed, 'full', exp);
  const stop = opts.live ? watchTrainingProgress(opts.live) : null;
  let outcome: RecipeOutcome | null = null;
  let stages: StageStatus[];
  if (variantFinished(exp, seed, FULL_MODEL, exp)) {
    // everything exists: read the records (runRecipe would also demand test metrics from a stage-1
    // run that the main job trained as a parent of stage 2, which has none)
    stages = STAGES.map((s) => reusedOutcome(s, ids[s]));
    for (const o of stages) if (o.runId) log(`[full s${seed}] ${o.stage}: reusing finished run ${o.runId}`);
    stop?.();
  } else {
    try {
      outcome = await runRecipe(exp, { seed, base: exp, data, log });
    } finally {
      stop?.();
    }
    stages = outcome.stages.map((o) => ({ stage: o.stage, runId: o.runId, status: o.status, seconds: o.seconds, examplesPerSecond: o.examplesPerSecond, bestVal: o.bestVal }));
  }
  const finalRunId = ids.stage2 ?? ids.stage1;
  if (!finalRunId) throw new Error(`ensureStages: experiment '${exp.name}' has neither stage 1 nor stage 2 enabled`);
  if (opts.live) {
    // the finished curve from the run logs (exact values, every stage that trained or was reused)
    await opts.live.finish(STAGES.filter((s) => ids[s] !== null).map((s) => runLossHistory(ids[s] as string, s)));
  }
  return { profile, seed, exp, budget: budget ? 'notebook' : 'preset', data, ids, stages, finalRunId, outcome, allReused: stages.every((s) => s.status !== 'trained') };
}

/** The outcome of a stage read from its finished run record. */
function reusedOutcome(stage: StageName, id: string | null): StageStatus {
  if (id === null) return { stage, runId: null, status: 'disabled', seconds: 0, examplesPerSecond: null, bestVal: null };
  const rec = readRunRecord(id);
  const best = rec?.metrics.bestVal as { mR: number } | null | undefined;
  return { stage, runId: id, status: 'reused', seconds: 0, examplesPerSecond: (rec?.metrics.examplesPerSecond as number | null | undefined) ?? null, bestVal: best ? best.mR : null };
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

/** Validation history of a run: `{step, epoch, metrics}` per evaluation (from its record). */
export function runValidation(runId: string): { step: number; epoch: number; metrics: Record<string, number> }[] {
  const rec = readRunRecord(runId);
  if (!rec) throw new Error(`run ${runId}: no record in ${runDir(runId)}`);
  return (rec.metrics.val as { step: number; epoch: number; metrics: Record<string, number> }[] | undefined) ?? [];
}

/** The per-step loss log of a finished run (`losses.json`). */
export function runStepLog(runId: string): StepLog[] {
  const f = path.join(runDir(runId), 'losses.json');
  if (!fs.existsSync(f)) throw new Error(`run ${runId}: ${f} is missing (the run has not finished)`);
  return readJson<StepLog[]>(f);
}

/** A run's loss log and validation curve as a `lossCurvesFigure` history. */
export function runLossHistory(runId: string, name = runId): LossHistory {
  const logs = runStepLog(runId);
  const val = runValidation(runId);
  return {
    name,
    points: logs.map((l) => ({ step: l.step, total: l.loss, parts: l.parts })),
    validation: val.map((v) => ({ step: v.step, value: v.metrics.mR ?? v.metrics.accuracy ?? Number.NaN })),
  };
}

/** The test metrics a run record holds (final stages only). */
export function runTestSummary(runId: string): TestSummary {
  const rec = readRunRecord(runId);
  const t = rec?.metrics.test as TestSummary | undefined;
  if (!t) throw new Error(`run ${runId}: its record has no test metrics (only the last enabled stage is tested)`);
  return t;
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
