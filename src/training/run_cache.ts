/**
 * The run cache of the recipe: which run holds a stage, and whether it can be reused.
 *
 * Each stage of a variant is a run with its own record under `data/runs/<runId>/`. Run ids are
 * `<preset>__<stage>__s<seed>` for the preset's own stages; an ablation whose stage is identical
 * (same stage key: every config field that stage depends on) reuses that run, otherwise it gets
 * `<preset>__<ablation>.<stage>__s<seed>`. A finished run is never retrained; an unfinished one
 * resumes from its latest checkpoint; a run made from another config of its stage is an error.
 *
 * A `Variant` is an experiment together with its un-ablated base (`resolveVariant` derives the base
 * from the preset, so callers never resolve it twice); the base decides which stages are shared.
 */
import * as fs from 'fs';
import { sha256 } from '../utils/fs';
import { canonicalJson } from '../utils/json';
import { RunRecord, readRunRecord, runDir, runId } from '../runs/record';
import { runFiles } from '../runs/files';
import { ExperimentConfig, FULL_MODEL, loadAblation, resolveExperiment } from '../config/experiment';
import { priorModel, stage1KeepsPrior, stage1Model } from '../models/family';
import { LossConfig } from '../losses/total_loss';
import { readBestValue } from './train_state';

/** The stages, in order. */
export type StageName = 'stage0' | 'stage1' | 'stage2';
export const STAGES: readonly StageName[] = ['stage0', 'stage1', 'stage2'];

/** An experiment to run and the un-ablated experiment whose runs it may share. */
export interface Variant {
  /** `full` or the ablation name (the middle part of its own run ids). */
  name: string;
  exp: ExperimentConfig;
  /** The preset with the same overrides and no ablation. */
  base: ExperimentConfig;
}

/**
 * The variant `ablation` (default the full model) of a preset under `overrides`, with its base.
 * A resolved experiment passed as `preset` is its own base.
 */
export function resolveVariant(preset: string | ExperimentConfig, ablation: string | null = null, overrides?: unknown): Variant {
  const base = resolveExperiment(preset, null, overrides);
  if (ablation === null || ablation === FULL_MODEL) return { name: FULL_MODEL, exp: base, base };
  return { name: ablation, exp: resolveExperiment(preset, loadAblation(ablation), overrides), base };
}

/** The full model of an experiment that is already resolved (its own base). */
export function fullVariant(exp: ExperimentConfig): Variant {
  return { name: FULL_MODEL, exp, base: exp };
}

/** The loss config of stage 1 (the experiment loss with the stage-1 affiliation weight). */
export function stage1Loss(exp: ExperimentConfig): LossConfig {
  return { ...exp.loss, affiliationWeight: exp.train.stage1.affiliationWeight };
}

/**
 * Everything a stage's result depends on, hashed: equal keys ⇒ the same run can be shared.
 * stage 0: data, seed, the prior encoder config, stage-0 training.
 * stage 1: data, seed, the stage-1 model (no prior / PAE), stage-1 loss and training; for a
 *   stage-1 model that keeps the prior (PriorCLIP, `stage1KeepsPrior`) also the stage-0 key it
 *   starts from (only when stage 0 runs: a PIR stage-1 key, or one without stage 0, is unchanged).
 * stage 2: everything, plus the keys of the stages it starts from.
 */
export function stageKeys(exp: ExperimentConfig, seed: number): Record<StageName, string | null> {
  const m = exp.model;
  const t = exp.train;
  const data = { ...exp.data };
  const prior = priorModel(m);
  const s0 = prior !== null && t.stage0.enabled ? sha256(canonicalJson({ stage: 0, data, seed, model: prior, train: t.stage0 })) : null;
  const s1Parent = stage1KeepsPrior(m) && s0 !== null ? { parents: [s0] } : {};
  const s1 = t.stage1.enabled ? sha256(canonicalJson({ stage: 1, data, seed, model: stage1Model(m), loss: stage1Loss(exp), train: t.stage1, ...s1Parent })) : null;
  const s2 = t.stage2.enabled
    ? sha256(canonicalJson({ stage: 2, data, seed, model: m, loss: exp.loss, train: t.stage2, eval: exp.eval, parents: [s0, s1] }))
    : null;
  return { stage0: s0, stage1: s1, stage2: s2 };
}

/** Run ids of the stages of a variant (null for stages that do not apply). */
export function stageRunIds(exp: ExperimentConfig, seed: number, variant: string, base?: ExperimentConfig): Record<StageName, string | null> {
  const keys = stageKeys(exp, seed);
  const baseKeys = base ? stageKeys(base, seed) : null;
  const out = { stage0: null, stage1: null, stage2: null } as Record<StageName, string | null>;
  for (const s of STAGES) {
    if (keys[s] === null) continue;
    const shared = variant === FULL_MODEL || (baseKeys !== null && baseKeys[s] === keys[s]);
    out[s] = runId(exp.name, shared ? s : `${variant}.${s}`, seed);
  }
  return out;
}

/** Run ids of a variant's stages. */
export function variantRunIds(v: Variant, seed: number): Record<StageName, string | null> {
  return stageRunIds(v.exp, seed, v.name, v.base);
}

/**
 * The record of a stage run that is there and was made from the same stage config (`key`): the
 * record when it finished, null when it is absent or unfinished (resumable). A run made from another
 * config of that stage (a preset edited after the run, say) throws: a finished run is never reused,
 * and an unfinished one never resumed, under a config it was not trained with.
 */
export function stageRunRecord(id: string, stage: StageName, key: string | null): RunRecord | null {
  const r = readRunRecord(id);
  if (!r) return null;
  const recorded = r.metrics.stageKey;
  if (recorded !== undefined && key !== null && recorded !== key) {
    throw new Error(
      `run ${id} (${runDir(id)}) was made from a different ${stage} config (stage key ${String(recorded).slice(0, 10)}, ` +
        `the config now gives ${key.slice(0, 10)}): delete or move that folder (or set KIT_RUNS_DIR to a fresh folder) to retrain it, or give the changed experiment its own name (--set name=…)`,
    );
  }
  return r.status === 'finished' ? r : null;
}

/**
 * True when every stage run of a variant (or of `stages` only) finished with the current config and
 * holds its best checkpoint (throws on a stale run, see `stageRunRecord`).
 */
export function variantFinished(v: Variant, seed: number, stages: readonly StageName[] = STAGES): boolean {
  const ids = variantRunIds(v, seed);
  const keys = stageKeys(v.exp, seed);
  return stages.every((s) => {
    const id = ids[s];
    return id === null || (stageRunRecord(id, s, keys[s]) !== null && fs.existsSync(runFiles(id).best));
  });
}

/** What happened to one stage of a recipe. */
export interface StageOutcome {
  stage: StageName;
  /** Run id (null when the stage does not apply, e.g. stage 0 without a prior). */
  runId: string | null;
  status: 'trained' | 'reused' | 'disabled';
  /** Wall seconds spent in this process (0 when reused). */
  seconds: number;
  /** Training throughput (examples/s wall clock; stage 0 counts images, stages 1–2 image–caption pairs). */
  examplesPerSecond: number | null;
  /** Examples per CPU second (what an idle machine would show). */
  examplesPerCpuSecond: number | null;
  /** CPU seconds (user + system) this process spent in the stage. */
  cpuSeconds: number;
  /** Best validation value of the stage's selection metric (stage 0: accuracy %, else mR). */
  bestVal: number | null;
}

/** The outcome of a stage that does not run. */
export function disabledStage(stage: StageName): StageOutcome {
  return { stage, runId: null, status: 'disabled', seconds: 0, examplesPerSecond: null, examplesPerCpuSecond: null, cpuSeconds: 0, bestVal: null };
}

/** The best validation value a run record holds (its selection metric: stage 0 accuracy %, else mR). */
export function recordBestVal(r: RunRecord | null): number | null {
  return readBestValue(r?.metrics.bestVal)?.value ?? null;
}

/** The outcome of a stage taken from its finished run record. */
export function reusedStage(stage: StageName, r: RunRecord): StageOutcome {
  return {
    stage,
    runId: r.runId,
    status: 'reused',
    seconds: 0,
    examplesPerSecond: (r.metrics.examplesPerSecond as number | null | undefined) ?? null,
    examplesPerCpuSecond: (r.metrics.examplesPerCpuSecond as number | null | undefined) ?? null,
    cpuSeconds: 0,
    bestVal: recordBestVal(r),
  };
}
