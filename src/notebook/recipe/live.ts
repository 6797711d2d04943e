/**
 * Live loss curves while a recipe trains.
 *
 *   const live = liveLossCurve();                 // one notebook output, updated in place
 *   await ensureSession(env.profile, env.seed, { live });
 *
 * While stages train, the output is a small SVG chart (`plotting/live_svg.ts`: cheap, no browser
 * round trip per update) of every optimiser step's loss, which `runRecipe` hands to its
 * `onStepEnd(stage, log)` callback (`ensureSession` passes `live.onStepEnd` to `runRecipe`); redraws are throttled.
 * When training ends it is replaced by the exact plotly figure built from the runs' `losses.json`
 * (every step, loss parts, validation metric).
 */
import { LossHistory, lossCurvesFigure } from '../../plotting/figures/loss_curves';
import { liveSvg } from '../../plotting/live_svg';
import { LiveDisplay, inNotebook, liveDisplay } from '../display';
import { StepLog } from '../../training/train_state';

/** Minimum ms between two redraws of the live chart. */
export const LIVE_REDRAW_MS = 1000;
/** EMA smoothing of the final figure. */
export const FINAL_SMOOTHING = 0.6;

/** One sampled point: series (stage) name, step within it, loss. */
export interface LivePoint {
  series: string;
  step: number;
  loss: number;
}

/** A live loss curve (see the file comment). */
export interface LiveLossCurve {
  /** Add one sample and redraw (throttled). */
  add(p: LivePoint): void;
  /** `runRecipe`'s `onStepEnd`: one sample per optimiser step (series = stage). */
  onStepEnd(stage: string, log: StepLog): void;
  /** Samples so far, per series. */
  samples(): Map<string, { step: number; loss: number }[]>;
  /** Replace the live chart by the exact figure of these histories (empty: keep the samples). */
  finish(histories: LossHistory[], title?: string): Promise<void>;
}

/** Options of `liveLossCurve`. */
export interface LiveLossCurveOptions {
  /** Output to draw into (default: a new `liveDisplay()`). */
  display?: LiveDisplay;
  /** Redraw interval in ms (default LIVE_REDRAW_MS). */
  redrawMs?: number;
  /** Clock (tests). */
  now?: () => number;
}

/** Create a live loss curve bound to one notebook output. */
export function liveLossCurve(opts: LiveLossCurveOptions = {}): LiveLossCurve {
  const display = opts.display ?? liveDisplay();
  const redrawMs = opts.redrawMs ?? LIVE_REDRAW_MS;
  const now = opts.now ?? (() => Date.now());
  const series = new Map<string, { step: number; loss: number }[]>();
  let last = -Infinity;
  // outside a notebook the progress bars already print; the chart is drawn only in a kernel
  const live = opts.display !== undefined || inNotebook();
  const draw = () => {
    if (live) display.html(liveSvg(series));
  };
  const curve: LiveLossCurve = {
    onStepEnd: (stage, log) => curve.add({ series: stage, step: log.step, loss: log.loss }),
    add(p) {
      if (!Number.isFinite(p.loss)) return;
      const pts = series.get(p.series) ?? [];
      if (!series.has(p.series)) series.set(p.series, pts);
      if (pts.length > 0 && pts[pts.length - 1].step >= p.step) return;
      pts.push({ step: p.step, loss: p.loss });
      const t = now();
      if (t - last >= redrawMs) {
        last = t;
        draw();
      }
    },
    samples: () => series,
    async finish(histories, title) {
      if (histories.length === 0) {
        draw();
        return;
      }
      const fig = lossCurvesFigure(histories, { smoothing: FINAL_SMOOTHING, validationLabel: 'validation (stage 0: accuracy %, stages 1–2: mR %)', title: title ?? 'Training loss per stage (EMA-smoothed) and validation metric' });
      await display.show(fig);
    },
  };
  return curve;
}
