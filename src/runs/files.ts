/**
 * The layout of a run folder `data/runs/<runId>/` — the one place that names its files:
 *
 *   run.json            the run record (src/runs/record.ts)
 *   best.safetensors    weights selected on validation (what later stages and evaluation load)
 *   final.safetensors   weights after the last step
 *   ckpt-<step>.safetensors + latest.json   the resumable trainer state (src/training/train_state.ts)
 *   losses.json         the per-step loss log
 *   vocab.json          the word vocabulary the run was trained with (PIR-structure models)
 */
import * as path from 'path';
import { runDir } from './record';

/** Validation-selected weights. */
export const BEST_CHECKPOINT = 'best.safetensors';
/** Weights after the last step. */
export const FINAL_CHECKPOINT = 'final.safetensors';
/** Pointer to the newest resumable checkpoint. */
export const LATEST_POINTER = 'latest.json';
/** Per-step loss log. */
export const LOSS_LOG = 'losses.json';
/** Word vocabulary of the run. */
export const RUN_VOCAB = 'vocab.json';

/** File name of the resumable checkpoint at optimiser step `step`. */
export function stepCheckpointName(step: number): string {
  return `ckpt-${String(step).padStart(7, '0')}.safetensors`;
}

/** True for a resumable (step) checkpoint file name. */
export function isStepCheckpoint(file: string): boolean {
  return /^ckpt-.*\.safetensors$/.test(file);
}

/** Paths of one run's files. */
export interface RunFiles {
  dir: string;
  best: string;
  final: string;
  latest: string;
  losses: string;
  vocab: string;
}

/** The paths of a run folder's files (by run id, or a folder path with `runFilesIn`). */
export function runFiles(id: string): RunFiles {
  return runFilesIn(runDir(id));
}

/** The paths of the run files inside `dir`. */
export function runFilesIn(dir: string): RunFiles {
  return {
    dir,
    best: path.join(dir, BEST_CHECKPOINT),
    final: path.join(dir, FINAL_CHECKPOINT),
    latest: path.join(dir, LATEST_POINTER),
    losses: path.join(dir, LOSS_LOG),
    vocab: path.join(dir, RUN_VOCAB),
  };
}
