/**
 * Progress reporting for long loops (training steps, embedding batches, UMAP epochs).
 *
 *   const p = createProgress('stage 1', steps);
 *   for (...) { ...; p.tick(1, `loss ${loss.toFixed(3)}`); }
 *   p.done('best R@1 12.3');
 *
 * Where it goes:
 *   - a notebook sink, when one is registered with `setProgressSink` (src/notebook/display.ts does that
 *     under tslab; this file never imports tslab, so it loads anywhere);
 *   - a cli-progress bar when the stream is a TTY;
 *   - otherwise throttled plain lines (CI logs): one at every `percentStep` of progress or every
 *     `minIntervalMs`, whichever comes first, plus a final line.
 * `KIT_PROGRESS=off` silences all of it; `KIT_PROGRESS=lines` forces plain lines.
 */
import * as cliProgress from 'cli-progress';

/** Plain-line mode: print at most one line per this many ms unless a percent step was crossed. */
export const DEFAULT_LINE_INTERVAL_MS = 5000;
/** Plain-line mode: print a line every time progress crosses a multiple of this fraction. */
export const DEFAULT_PERCENT_STEP = 0.1;
/** Notebook sink: at most one display update per this many ms (the final update is always sent). */
export const DEFAULT_SINK_INTERVAL_MS = 250;
/** Width of the terminal bar in characters. */
const BAR_WIDTH = 30;

/** A snapshot of one progress counter. */
export interface ProgressState {
  label: string;
  total: number;
  current: number;
  /** Fraction done in [0, 1]; 1 when total is 0 and done() was called. */
  fraction: number;
  info: string;
  elapsedMs: number;
  /** Estimated ms left, or null before the first tick. */
  etaMs: number | null;
  /** Items per second, or null before the first tick. */
  rate: number | null;
  finished: boolean;
}

/** The handle `createProgress` returns. */
export interface Progress {
  /** Advance by `n` (default 1); `info` replaces the trailing text (e.g. the current loss). */
  tick(n?: number, info?: string): void;
  /** Mark finished (idempotent); `info` replaces the trailing text. */
  done(info?: string): void;
}

/** A live display for one progress counter (the notebook registers a factory of these). */
export interface ProgressView {
  update(state: ProgressState): void;
  done(state: ProgressState): void;
}
/** Creates a view for a new counter. */
export type ProgressSink = (label: string, total: number) => ProgressView;

export interface ProgressOptions {
  /** Where bars/lines go (default process.stderr). */
  stream?: NodeJS.WritableStream & { isTTY?: boolean };
  /** 'auto' (default): sink if registered, bar on a TTY, else lines. */
  mode?: 'auto' | 'bar' | 'lines' | 'silent';
  /** Plain-line mode throttle (ms). */
  minIntervalMs?: number;
  /** Plain-line mode: fraction step between lines. */
  percentStep?: number;
  /** Clock, for tests. */
  now?: () => number;
}

let sink: ProgressSink | null = null;

/** Register (or with null, remove) the notebook display used by every later `createProgress`. */
export function setProgressSink(s: ProgressSink | null): void {
  sink = s;
}

/** The registered sink, if any. */
export function progressSink(): ProgressSink | null {
  return sink;
}

/** "1.2 s", "3 min 05 s", "1 h 02 min". */
export function formatDuration(ms: number): string {
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${String(Math.round(s - m * 60)).padStart(2, '0')} s`;
  const h = Math.floor(m / 60);
  return `${h} h ${String(m - h * 60).padStart(2, '0')} min`;
}

/** One human line for a state: `[label] 30/100 (30%) 1.2 s, eta 2.8 s | info`. */
export function formatProgressLine(st: ProgressState): string {
  const pct = st.total > 0 ? ` (${Math.round(st.fraction * 100)}%)` : '';
  const count = st.total > 0 ? `${st.current}/${st.total}` : `${st.current}`;
  const time = st.finished
    ? `done in ${formatDuration(st.elapsedMs)}`
    : `${formatDuration(st.elapsedMs)}${st.etaMs !== null ? `, eta ${formatDuration(st.etaMs)}` : ''}`;
  return `[${st.label}] ${count}${pct} ${time}${st.info ? ` | ${st.info}` : ''}`;
}

/** Create a progress counter for `total` items (0 if unknown). */
export function createProgress(label: string, total: number, opts: ProgressOptions = {}): Progress {
  if (!Number.isFinite(total) || total < 0) throw new Error(`createProgress('${label}'): total must be >= 0, got ${total}`);
  const now = opts.now ?? (() => Date.now());
  const stream = opts.stream ?? process.stderr;
  const env = process.env.KIT_PROGRESS;
  let mode = opts.mode ?? 'auto';
  if (env === 'off') mode = 'silent';
  else if (env === 'lines' && mode === 'auto') mode = 'lines';

  const start = now();
  let current = 0;
  let info = '';
  let finished = false;
  const state = (): ProgressState => {
    const elapsedMs = now() - start;
    const fraction = total > 0 ? Math.min(1, current / total) : finished ? 1 : 0;
    const rate = current > 0 && elapsedMs > 0 ? (current * 1000) / elapsedMs : null;
    const etaMs = rate !== null && total > 0 && !finished ? (Math.max(0, total - current) / rate) * 1000 : null;
    return { label, total, current, fraction, info, elapsedMs, etaMs, rate, finished };
  };

  if (mode === 'silent') {
    return {
      tick(n = 1) {
        current += n;
      },
      done() {
        finished = true;
      },
    };
  }

  if (mode === 'auto' && sink) {
    const view = sink(label, total);
    const interval = DEFAULT_SINK_INTERVAL_MS;
    let last = -Infinity;
    view.update(state());
    return {
      tick(n = 1, i?: string) {
        if (finished) return;
        current += n;
        if (i !== undefined) info = i;
        const t = now();
        if (t - last >= interval) {
          last = t;
          view.update(state());
        }
      },
      done(i?: string) {
        if (finished) return;
        finished = true;
        if (i !== undefined) info = i;
        view.done(state());
      },
    };
  }

  const useBar = mode === 'bar' || (mode === 'auto' && stream.isTTY === true);
  if (useBar) {
    const bar = new cliProgress.SingleBar(
      {
        stream: stream as NodeJS.WritableStream,
        format: `${label} [{bar}] {percentage}% | {value}/{total} | {duration_formatted} < {eta_formatted} | {info}`,
        barsize: BAR_WIDTH,
        hideCursor: false,
        clearOnComplete: false,
        etaBuffer: 50,
      },
      cliProgress.Presets.shades_classic,
    );
    bar.start(Math.max(total, 1), 0, { info });
    return {
      tick(n = 1, i?: string) {
        if (finished) return;
        current += n;
        if (i !== undefined) info = i;
        bar.update(Math.min(current, Math.max(total, 1)), { info });
      },
      done(i?: string) {
        if (finished) return;
        finished = true;
        if (i !== undefined) info = i;
        bar.update(Math.max(total, current, 1), { info });
        bar.stop();
      },
    };
  }

  // Plain throttled lines.
  const minInterval = opts.minIntervalMs ?? DEFAULT_LINE_INTERVAL_MS;
  const step = opts.percentStep ?? DEFAULT_PERCENT_STEP;
  let lastLine = start;
  let lastBucket = 0;
  const write = (st: ProgressState) => stream.write(formatProgressLine(st) + '\n');
  return {
    tick(n = 1, i?: string) {
      if (finished) return;
      current += n;
      if (i !== undefined) info = i;
      const t = now();
      const bucket = total > 0 && step > 0 ? Math.floor(Math.min(1, current / total) / step + 1e-9) : 0;
      if (bucket > lastBucket || t - lastLine >= minInterval) {
        lastBucket = Math.max(lastBucket, bucket);
        lastLine = t;
        if (total > 0 && current >= total) return; // the final line comes from done()
        write(state());
      }
    },
    done(i?: string) {
      if (finished) return;
      finished = true;
      if (i !== undefined) info = i;
      write(state());
    },
  };
}
