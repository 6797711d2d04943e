/**
 * What a finished run folder holds, read back: the per-step loss log, the validation history, the
 * test metrics, and the two as a `lossCurvesFigure` history (the main job's figures and the
 * notebooks' curves draw from these).
 */
import * as fs from 'fs';
import { readRunRecord, runDir } from '../runs/record';
import { runFiles } from '../runs/files';
import { readJson } from '../utils/fs';
import { LossHistory } from '../plotting/figures/loss_curves';
import { EvalLog, StepLog } from './train_state';
import { TestSummary } from './stage_task';

/** Validation history of a run: `{step, epoch, metrics}` per evaluation (from its record). */
export function runValidation(runId: string): EvalLog[] {
  const rec = readRunRecord(runId);
  if (!rec) throw new Error(`run ${runId}: no record in ${runDir(runId)}`);
  return (rec.metrics.val as EvalLog[] | undefined) ?? [];
}

/** The per-step loss log of a finished run (`losses.json`). */
export function runStepLog(runId: string): StepLog[] {
  const f = runFiles(runId).losses;
  if (!fs.existsSync(f)) throw new Error(`run ${runId}: ${f} is missing (the run has not finished)`);
  return readJson<StepLog[]>(f);
}

/** A run's loss log and validation curve (stage 0: accuracy %, else mR %) as a `lossCurvesFigure` history. */
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
