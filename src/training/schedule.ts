/**
 * Learning-rate schedules, stepped per optimiser step (not per epoch), as both references do.
 *
 * - `cosine`: open_clip `cosine_lr` — linear warmup `lr·(step+1)/warmup`, then
 *   `0.5·(1 + cos(π·e/es))·lr` with `e = step − warmup`, `es = total − warmup`.
 * - `linear`: HuggingFace `get_linear_schedule_with_warmup` (PIR) — warmup `lr·step/warmup`, then
 *   `lr·max(0, (total − step)/(total − warmup))`.
 * - `constant`: warmup as `cosine`, then constant.
 */

/** Schedule shape. */
export type ScheduleKind = 'cosine' | 'linear' | 'constant';

/** How the learning rate moves over a run. */
export interface ScheduleConfig {
  /** Decay after warmup: `cosine` (open_clip), `linear` (PIR / HF), `constant`. */
  kind: ScheduleKind;
  /** Warmup length in optimiser steps; when 0, `warmupFraction` of the total steps is used. */
  warmupSteps: number;
  /** Warmup as a fraction of the total optimiser steps (PIR: 0.1); used when `warmupSteps` is 0. */
  warmupFraction: number;
}

/** Number of warmup steps for a run of `totalSteps` optimiser steps. */
export function warmupStepsFor(cfg: ScheduleConfig, totalSteps: number): number {
  if (cfg.warmupSteps > 0) return Math.min(cfg.warmupSteps, totalSteps);
  return Math.floor(cfg.warmupFraction * totalSteps);
}

/**
 * Learning rate at optimiser step `step` (0-based) of `totalSteps`, for base rate `baseLr`.
 */
export function learningRateAt(cfg: ScheduleConfig, baseLr: number, step: number, totalSteps: number): number {
  if (totalSteps <= 0) throw new Error(`learningRateAt: totalSteps must be > 0, got ${totalSteps}`);
  const warmup = warmupStepsFor(cfg, totalSteps);
  switch (cfg.kind) {
    case 'linear': {
      if (step < warmup) return (baseLr * step) / Math.max(1, warmup);
      return baseLr * Math.max(0, (totalSteps - step) / Math.max(1, totalSteps - warmup));
    }
    case 'cosine': {
      if (step < warmup) return (baseLr * (step + 1)) / warmup;
      const e = step - warmup;
      const es = totalSteps - warmup;
      return es <= 0 ? baseLr : 0.5 * (1 + Math.cos((Math.PI * e) / es)) * baseLr;
    }
    case 'constant':
      return step < warmup ? (baseLr * (step + 1)) / warmup : baseLr;
  }
}
