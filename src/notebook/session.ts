/**
 * The one notebook session: an experiment, its prepared data and the run ids of its stages, and
 * one way to get a stage's model from them. Every notebook that works with a model starts here.
 *
 *   const session = await openSession(env.profile, env.seed);          // nothing trains (notebooks 01–04, 08)
 *   const m = sessionModel(session, 'stage2');                         // the finished run, else initial weights
 *
 *   const out = await runRecipe(exp, { seed: env.seed, data, onStepEnd: live.onStepEnd });
 *   const session = sessionOf(env.profile, exp, data, out);            // notebooks 05–06 run the recipe themselves
 *
 * Everything here is the library's: `resolveExperiment` (the profile's preset + the notebook budget),
 * `prepareExperimentData` (the tokenizer and image size the model needs), the run cache's run ids
 * (`variantRunIds`, the ids `npm run main` writes), `stageModelConfig` / `loadInitialWeights` (as
 * `runRecipe` builds a stage) and `loadModelFileInto` (strict). The notebook layer adds no loading of
 * its own.
 */
import * as fs from 'fs';
import * as path from 'path';
import { ExperimentConfig, resolveExperiment } from '../config/experiment';
import { DeepPartial, mergeConfig } from '../utils/merge_config';
import { SeedStream } from '../utils/random';
import { readRunRecord, runDir } from '../runs/record';
import { runFiles } from '../runs/files';
import { createModel, resolveModelConfig } from '../models/factory';
import { refuseOpenClipKeys } from '../interop/open_clip_keys';
import { ModelConfig, RetrievalModel } from '../models/model';
import { loadModelFileInto } from '../models/checkpoint';
import { PreparedData, prepareExperimentData } from '../training/data_prep';
import { RecipeOutcome } from '../training/recipe';
import { STAGES, StageName, StageOutcome, disabledStage, fullVariant, reusedStage, variantFinished, variantRunIds } from '../training/run_cache';
import { loadInitialWeights, stageCorpus, stageModelConfig } from '../training/stage_task';
import { stage0HeadClasses } from '../models/family';
import { loadTrainState } from '../training/train_state';
import { PROFILES, Profile, Setting, experimentSetting, isFullProfile, profilePreset, profileSettings } from '../training/profiles';

/**
 * Budget of the fast profile when the main job's runs are absent: the same preset under its own
 * name (so its run ids never collide with the main job's), stage 2 cut to a few optimiser steps.
 * Stages 0 and 1 keep the preset's budget. Notebooks 02–08 share these runs.
 */
export function notebookBudget(preset: string): DeepPartial<ExperimentConfig> {
  return { name: `${preset}${NOTEBOOK_BUDGET_SUFFIX}`, train: { stage2: { epochs: NOTEBOOK_STAGE2_EPOCHS, maxStepsPerEpoch: NOTEBOOK_STAGE2_STEPS } } };
}
/** Suffix of the notebook-budget experiment's name (`embedded-fast-nb`). */
export const NOTEBOOK_BUDGET_SUFFIX = '-nb';
/** Stage-2 epochs of the notebook budget. */
export const NOTEBOOK_STAGE2_EPOCHS = 2;
/** Stage-2 optimiser steps per epoch of the notebook budget. */
export const NOTEBOOK_STAGE2_STEPS = 16;

/** The resolved experiment of a profile's setting (default: its first) (preset + optional overrides). */
export function profileExperiment(profile: Profile, overrides?: DeepPartial<ExperimentConfig>, setting?: Setting): ExperimentConfig {
  if (!PROFILES.includes(profile)) throw new Error(`profileExperiment: unknown profile '${String(profile)}' (known: ${PROFILES.join(', ')})`);
  return resolveExperiment(profilePreset(profile, setting), null, overrides);
}

/** True when every enabled stage of the profile's full model (of `setting`, default the first) has a finished run for `seed`. */
export function mainRunsFinished(profile: Profile, seed: number, setting?: Setting): boolean {
  return variantFinished(fullVariant(profileExperiment(profile, undefined, setting)), seed);
}

/**
 * The overrides notebooks run with: none when the main job's runs exist or the profile is `full`
 * (then the preset's own budget), else `notebookBudget`.
 */
export function notebookOverrides(profile: Profile, seed: number, setting?: Setting): DeepPartial<ExperimentConfig> | undefined {
  if (isFullProfile(profile) || mainRunsFinished(profile, seed, setting)) return undefined;
  return notebookBudget(profilePreset(profile, setting));
}

/** A notebook session: one experiment, its data, and its stages' runs. */
export interface Session {
  profile: Profile;
  /** The setting the experiment trains (closed / open / v1 hybrid), from its preset. */
  setting: Setting;
  seed: number;
  exp: ExperimentConfig;
  /** 'preset': the preset's own runs (the main job's); 'notebook': the `notebookBudget` runs. */
  budget: 'preset' | 'notebook';
  data: PreparedData;
  /** Run id per stage (null: the stage does not apply); the run may not exist yet (see `finished`). */
  ids: Record<StageName, string | null>;
  /** True per stage when its run has finished. */
  finished: Record<StageName, boolean>;
  /** Outcome per finished or disabled stage (trained / reused / disabled). */
  stages: StageOutcome[];
  /** Run id of the last enabled retrieval stage. */
  finalRunId: string;
  /** `runRecipe`'s outcome; null when the session was opened without running the recipe. */
  outcome: RecipeOutcome | null;
  /** True when no stage trained in this session. */
  allReused: boolean;
}

/** Options of `openSession`. */
export interface OpenSessionOptions {
  /** Overrides of the profile's preset (default `notebookOverrides(profile, seed)`). */
  overrides?: DeepPartial<ExperimentConfig>;
  /** An experiment resolved elsewhere (then `overrides` is ignored). */
  exp?: ExperimentConfig;
  /** Data prepared earlier (same data config). */
  data?: PreparedData;
  /** The profile's setting (default: its first). */
  setting?: Setting;
}

/** 'preset' when `exp` is one of the profile's own presets (whatever its setting), else 'notebook'. */
function budgetOf(profile: Profile, exp: ExperimentConfig): 'preset' | 'notebook' {
  return profileSettings(profile).some((s) => s.preset === exp.name) ? 'preset' : 'notebook';
}

/**
 * Resolve the profile's experiment, prepare its data and look up its stages' runs. Nothing trains:
 * a stage whose run is missing has `finished[stage] === false` (`sessionModel` then falls back to
 * initial weights when asked to; notebooks 05–06 or `npm run main` create the runs).
 */
export async function openSession(profile: Profile, seed: number, opts: OpenSessionOptions = {}): Promise<Session> {
  const exp = opts.exp ?? profileExperiment(profile, opts.overrides ?? notebookOverrides(profile, seed, opts.setting), opts.setting);
  const data = opts.data ?? (await prepareExperimentData(exp));
  const ids = variantRunIds(fullVariant(exp), seed);
  const finished = { stage0: false, stage1: false, stage2: false } as Record<StageName, boolean>;
  const stages: StageOutcome[] = [];
  for (const s of STAGES) {
    const id = ids[s];
    if (id === null) {
      stages.push(disabledStage(s));
      continue;
    }
    const rec = readRunRecord(id);
    finished[s] = rec !== null && rec.status === 'finished';
    if (rec && finished[s]) stages.push(reusedStage(s, rec));
  }
  const finalRunId = (ids.stage2 ?? ids.stage1) as string;
  return { profile, setting: experimentSetting(exp), seed, exp, budget: budgetOf(profile, exp), data, ids, finished, stages, finalRunId, outcome: null, allReused: true };
}

/**
 * The session of a recipe the notebook ran itself:
 *
 *   const out = await runRecipe(exp, { seed: env.seed, data, onStepEnd: live.onStepEnd });
 *   const session = sessionOf(env.profile, exp, data, out);
 */
export function sessionOf(profile: Profile, exp: ExperimentConfig, data: PreparedData, outcome: RecipeOutcome, budget: 'preset' | 'notebook' = budgetOf(profile, exp)): Session {
  const ids = { stage0: null, stage1: null, stage2: null } as Record<StageName, string | null>;
  const finished = { stage0: false, stage1: false, stage2: false } as Record<StageName, boolean>;
  for (const o of outcome.stages) {
    ids[o.stage] = o.runId;
    finished[o.stage] = o.status !== 'disabled';
  }
  const stages = outcome.stages;
  return { profile, setting: experimentSetting(exp), seed: outcome.seed, exp, budget, data, ids, finished, stages, finalRunId: outcome.finalRunId, outcome, allReused: stages.every((s) => s.status !== 'trained') };
}

/** Where a session model's weights came from. */
export type WeightsSource = { kind: 'initial'; experiment: string } | { kind: 'run'; runId: string; file: string } | { kind: 'start'; runIds: string[] };

/** A stage's model of a session, with where its weights came from. */
export interface SessionModel {
  stage: StageName;
  config: ModelConfig;
  model: RetrievalModel;
  source: WeightsSource;
  /** One line saying which weights are in use (for notebook output). */
  note: string;
}

/** Options of `sessionModel`. */
export interface SessionModelOptions {
  /**
   * Which weights: 'best' (the run's selected checkpoint, default), 'start' (stage 2 as it starts:
   * the recipe's `loadInitialWeights`, the PAE at initialisation), or a file in the run folder
   * (`ckpt-<step>.safetensors`) / an absolute path.
   */
  at?: 'best' | 'start' | string;
  /** When the run has not finished: 'initial' builds the stage's model at its seeded initial weights
   *  (with a note saying so); 'error' (default) throws. */
  missing?: 'initial' | 'error';
  /** Overrides merged onto the stage's model config (e.g. `{ spatialPae: { belief: 'soft-head' } }`). */
  modelOverrides?: Record<string, unknown>;
}

/** The stage's model config of a session (`stageModelConfig`, plus overrides). */
export function sessionModelConfig(s: Session, stage: StageName, overrides?: Record<string, unknown>): ModelConfig {
  const cfg = stageModelConfig(s.exp, s.data, stage);
  if (overrides && cfg.kind === 'priorclip') refuseOpenClipKeys(overrides, 'modelOverrides');
  return overrides ? resolveModelConfig(mergeConfig(cfg, overrides, 'modelOverrides'), `${stage} model of '${s.exp.name}' + modelOverrides`) : cfg;
}

/** Build a stage's model as `runRecipe` builds it and load its weights (see `SessionModelOptions`). Caller disposes `.model`. */
export function sessionModel(s: Session, stage: StageName, opts: SessionModelOptions = {}): SessionModel {
  const id = s.ids[stage];
  if (id === null) throw new Error(`sessionModel: ${stage} is disabled in experiment '${s.exp.name}'`);
  const at = opts.at ?? 'best';
  const file = at === 'start' ? null : at === 'best' ? runFiles(id).best : path.isAbsolute(at) ? at : path.join(runDir(id), at);
  if (at === 'start' && stage !== 'stage2') throw new Error(`sessionModel: 'start' is defined for stage 2 (got ${stage})`);
  const parentsDone = (['stage0', 'stage1'] as const).every((x) => s.ids[x] === null || s.finished[x]);
  const ready = file === null ? parentsDone : s.finished[stage] && fs.existsSync(file);
  const config = sessionModelConfig(s, stage, opts.modelOverrides);
  if (!ready && (opts.missing ?? 'error') === 'error') {
    throw new Error(`sessionModel: ${at === 'start' ? `the parents of ${id}` : (file ?? id)} ${at === 'start' ? 'have' : 'has'} not finished (run notebooks 05–06 or \`npm run main\`)`);
  }
  // a PriorCLIP stage-0 model carries its scene-classification head (as `createStageModel` builds it)
  const headClasses = stage === 'stage0' ? stage0HeadClasses(config, stageCorpus(s.exp, s.data, 'stage0').dataset.classes.length) : 0;
  const model = createModel(config, new SeedStream(s.seed).child('model'), headClasses > 0 ? { priorHeadClasses: headClasses } : {});
  try {
    if (!ready) {
      return { stage, config, model, source: { kind: 'initial', experiment: s.exp.name }, note: `weights: seeded initial weights of '${s.exp.name}' ${stage} (no finished run ${id} yet: notebooks 05–06 or \`npm run main\` create it)` };
    }
    if (at === 'start') {
      loadInitialWeights(model, 'stage2', s.ids);
      const parents = [s.ids.stage0, s.ids.stage1].filter((x): x is string => x !== null);
      return { stage, config, model, source: { kind: 'start', runIds: parents }, note: `weights: stage-2 start (prior and backbones of ${parents.join(', ')}, PAE at initialisation)` };
    }
    const f = file as string;
    if (path.basename(f).startsWith('ckpt-')) loadTrainState(f, model.params, null, { strict: true });
    else loadModelFileInto(model, f); // strict: every weight of the config must be in the file
    return { stage, config, model, source: { kind: 'run', runId: id, file: f }, note: `weights: trained run ${id} (${path.basename(f)})` };
  } catch (e) {
    model.dispose();
    throw e;
  }
}
