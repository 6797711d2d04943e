/**
 * The training recipe as notebooks use it (05 stage 0/1, 06 stage 2, 07 ablations): the notebook
 * session (src/notebook/session.ts) after `runRecipe`, and tables of its stages and configs.
 *
 *   const session = await ensureSession(env.profile, env.seed, { live: liveLossCurve() });
 *   showTable(stageRows(session));
 *
 * `ensureSession` resolves the profile's preset and runs `runRecipe` (src/training/recipe.ts), which
 * reuses every finished run by its run id (`<preset>__<stage>__s<seed>` — the ids `npm run main`
 * writes) and trains only what is missing, in the profile's own budget. So a notebook run after the
 * main job only loads; a notebook run on a fresh checkout trains the fast profile (a few minutes).
 */
import { ExperimentConfig } from '../../config/experiment';
import { DeepPartial } from '../../utils/merge_config';
import { readRunRecord } from '../../runs/record';
import { PreparedData, prepareExperimentData } from '../../training/data_prep';
import { RecipeOutcome, runRecipe } from '../../training/recipe';
import { runValidation } from '../../training/run_logs';
import { Row } from '../../evaluation/tables';
import { LossHistory } from '../../plotting/figures/loss_curves';
import { Profile } from '../../training/profiles';
import { Session, notebookOverrides, profileExperiment, sessionOf } from '../session';
import { LiveLossCurve } from './live';

import { runLossHistory } from '../../training/run_logs';
export { runLossHistory, runStepLog, runTestSummary, runValidation } from '../../training/run_logs';
export { PROFILE_SUITES, SETTING_TITLES, profileSettings } from '../../training/profiles';
import { SETTING_TITLES, Setting, experimentSetting } from '../../training/profiles';
export { NOTEBOOK_STAGE2_EPOCHS, NOTEBOOK_STAGE2_STEPS, mainRunsFinished, notebookBudget, notebookOverrides, profileExperiment, sessionOf } from '../session';
export type { Session } from '../session';

/** Options of `ensureSession`. */
export interface EnsureSessionOptions {
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
  /** The profile's setting (default: its first: closed for `fast` and `full`). */
  setting?: Setting;
}

/**
 * The same calls notebooks 05–06 make in their cells, in one function (for notebook 08, tests and
 * scripts): resolve the profile's experiment, prepare its data, `runRecipe` (reusing finished runs,
 * training missing ones), and the session of the outcome.
 */
export async function ensureSession(profile: Profile, seed: number, opts: EnsureSessionOptions = {}): Promise<Session> {
  const budget = opts.overrides ?? notebookOverrides(profile, seed, opts.setting);
  const exp = profileExperiment(profile, budget, opts.setting);
  const data = opts.data ?? (await prepareExperimentData(exp));
  const log = opts.log ?? ((l: string) => console.log(l));
  const live = opts.live;
  const outcome = await runRecipe(exp, { seed, upTo: opts.upTo, data, log, onStepEnd: live?.onStepEnd });
  // the finished curve from the run logs (exact values, every stage that trained or was reused)
  if (live) await live.finish(outcomeLossHistories(outcome));
  return sessionOf(profile, exp, data, outcome, budget ? 'notebook' : 'preset');
}

/** The loss history of every stage run of a recipe outcome (trained or reused), for `live.finish` and figures. */
export function outcomeLossHistories(outcome: RecipeOutcome): LossHistory[] {
  return outcome.stages.filter((o) => o.runId !== null).map((o) => runLossHistory(o.runId as string, o.stage));
}

/** One row per stage: run id, trained/reused, seconds, examples/s, best validation value. */
export function stageRows(st: Session): Row[] {
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
export function priorAccuracyRows(st: Session): Row[] {
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

/** One row per setting's experiment: what each recipe trains on which corpus (notebooks 05–07). */
export function settingRows(exps: readonly ExperimentConfig[]): Row[] {
  return exps.map((exp) => {
    const t = exp.train;
    const setting = experimentSetting(exp);
    return {
      setting,
      experiment: exp.name,
      model: exp.model.kind === 'priorclip' ? `priorclip (${exp.model.softBelief === 'none' ? 'no belief' : `soft belief: ${exp.model.softBelief}`})` : `${exp.model.kind} (${exp.model.spatialPae.belief} belief, K ${exp.model.spatialPae.filterSize})`,
      'stage 0 (prior)': t.stage0.enabled ? `${t.stage0.epochs} epochs on the ${t.stage0.corpus ?? 'fine'} corpus, then frozen` : 'off',
      'stage 1 (coarse)': t.stage1.enabled ? `${t.stage1.epochs} epoch(s), ${t.stage1.captions} captions` : 'off',
      'stage 2 (fine)': `${t.stage2.epochs} epochs${t.stage2.maxStepsPerEpoch ? ` × ≤ ${t.stage2.maxStepsPerEpoch} steps` : ''}, text tower ${t.stage2.trainTextEncoder ? 'trained' : 'frozen'}, affiliation weight ${exp.loss.affiliationWeight}`,
      what: SETTING_TITLES[setting],
    };
  });
}
