/**
 * The ablation runner: ablations × seeds of a suite (src/configs/suites/<name>.json), each variant
 * trained by the recipe (stages.ts; stages identical to the preset's are shared, finished runs are
 * never retrained), then one results table — mean ± std over seeds of R@1/5/10 in both directions
 * and mR on the TEST split (checkpoints were selected on validation mR) — written as CSV / JSON /
 * Markdown under `data/runs/<suite>/` and `figures/`, plus an mR bar chart.
 */
import * as fs from 'fs';
import * as path from 'path';
import { spawn } from 'child_process';
import { ExperimentConfig, FULL_MODEL, SuiteSpec, loadAblation, loadSuite, resolveExperiment } from '../config/experiment';
import { RunRecord, readRunRecord, runsDir } from '../runs/record';
import { RESULT_RECORD_FORMAT, ResultRecord, packRanks, readResultRecord, unpackRanks, writeResultRecord } from '../runs/result_record';
import { QueryRanks } from '../evaluation/statistics';
import { diagnosticColumns, readDiagnostics } from '../evaluation/diagnostics';
import { projectRoot } from '../utils/fs';
import { chooseParallelism, workerEnv } from '../backends/parallelism';
import { PreparedData, prepareExperimentData } from './data_prep';
import { runRecipe, recipeTest } from './recipe';
import { STAGES, StageName, Variant, recordBestVal, resolveVariant, stageKeys, stageRunRecord, variantFinished, variantRunIds } from './run_cache';
import { TestSummary } from './stage_task';
import { ResultRow, SummaryRow, summarise, writeResults } from './results';
import { attachDiagnostics } from './diagnose';

/** Profile whose suites `npm run ablate` runs without `--suite`: the paper's ablations of both settings on v2 (v2-closed, v2-open), five seeds. */
export const DEFAULT_ABLATION_PROFILE = 'full';

/** Options of `runSuite`. */
export interface SuiteOptions {
  /** Seeds (default: the suite's). */
  seeds?: number[];
  /** Only these ablations (default: the suite's list). */
  ablations?: string[];
  /** Extra overrides applied to every variant (and the base), e.g. a smaller budget. */
  overrides?: unknown;
  /** Data prepared by the caller (the same data config). */
  data?: PreparedData;
  /** Log lines (default stderr). */
  log?: (line: string) => void;
  /** Progress bars per stage (default true). */
  progress?: boolean;
  /** Write the mR bar chart through saveFigure (default true). */
  figures?: boolean;
  /** Folder for the results (default `data/runs/<suite>/`). */
  outDir?: string;
  /** Folder for the copy of the table next to the figures (default `figures/`; null = none). */
  tableDir?: string | null;
  /**
   * Training processes in parallel (default 1 = in this process). tfjs-wasm runs one thread per
   * process, so 2 workers use both cores of a 2-core machine. Each worker is `src/cli/train.ts` in a
   * child process; a variant starts once its seed's full model (whose stages it shares) finished.
   */
  workers?: number;
}

/** What a suite produced. */
export interface SuiteOutcome {
  suite: string;
  preset: string;
  rows: ResultRow[];
  summary: SummaryRow[];
  /** Files written. */
  files: string[];
  /** Variants trained in this call / taken from finished run records. */
  trained: number;
  reused: number;
  seconds: number;
}

/** A finished variant × seed: its row, where it came from, and its per-query ranks when stored. */
interface Finished {
  row: ResultRow;
  /** `run`: the run folders are here; `record`: only the committed result record (data/results/). */
  source: 'run' | 'record';
  /** The record behind a `record` row. */
  record?: ResultRecord;
}

/** Test row from the finished run records of a variant, else from its result record, else null. */
function finishedVariant(v: Variant, seed: number, onStale?: (why: string) => void): Finished | null {
  const ids = variantRunIds(v, seed);
  const keys = stageKeys(v.exp, seed);
  const finalId = ids.stage2 ?? ids.stage1;
  if (!finalId) return null;
  let seconds = 0;
  let local = true;
  for (const s of STAGES) {
    const id = ids[s];
    if (id === null) continue;
    const r = stageRunRecord(id, s, keys[s]);
    if (!r) {
      local = false;
      break;
    }
    seconds += r.timings.totalSeconds ?? 0;
  }
  if (local) {
    const rec = readRunRecord(finalId);
    const test = rec?.metrics.test as TestSummary | undefined;
    if (test) return { row: rowOf(v.name, seed, finalId, test, recordBestVal(rec) ?? Number.NaN, seconds), source: 'run' };
  }
  const record = readResultRecord(finalId, keys, onStale);
  if (!record) return null;
  const row = rowOf(v.name, seed, finalId, record.test, record.valMR, record.seconds);
  if (record.diagnostics) row.diagnostics = Object.fromEntries(Object.entries(record.diagnostics).map(([k, x]) => [k, x ?? Number.NaN])) as ResultRow['diagnostics'];
  return { row, source: 'record', record };
}

/** Test row of a finished variant (runs or result record), or null when it has not finished. */
function finishedRow(v: Variant, seed: number): ResultRow | null {
  return finishedVariant(v, seed)?.row ?? null;
}

/**
 * The finished rows of a suite (their runs, or result records with today's stage keys) and their
 * summary, diagnostics and per-query ranks read as `runSuite` reads them (so the intervals and the
 * verdicts are the suite table's); trains nothing.
 */
export function finishedSuiteResults(suite: SuiteSpec, seeds: readonly number[] = suite.seeds): { rows: ResultRow[]; summary: SummaryRow[] } {
  const base = resolveExperiment(suite.preset);
  const rows: ResultRow[] = [];
  const fromRecords = new Map<string, ResultRecord>();
  for (const ab of suite.ablations) {
    const v: Variant = ab === FULL_MODEL ? { name: FULL_MODEL, exp: base, base } : resolveVariant(suite.preset, ab, undefined);
    for (const seed of seeds) {
      const done = finishedVariant(v, seed);
      if (!done) continue;
      rows.push(done.row);
      if (done.record) fromRecords.set(done.row.runId, done.record);
    }
  }
  const descriptions = Object.fromEntries(suite.ablations.map((a) => [a, loadAblation(a).description]));
  const summary = summarise(rows, suite.ablations, descriptions, { ranks: rowRanks(rows, fromRecords) });
  return { rows, summary };
}

/** Diagnostics onto the rows whose runs are here, and every row's per-query ranks (runs or records). */
function rowRanks(rows: ResultRow[], fromRecords: ReadonlyMap<string, ResultRecord>): Map<string, QueryRanks> {
  const ranks = attachDiagnostics(rows.filter((r) => !fromRecords.has(r.runId)));
  for (const [id, rec] of fromRecords) {
    const r = recordRanks(rec);
    if (r) ranks.set(id, r);
  }
  return ranks;
}

/** The result record of a row whose runs are here (ranks and diagnostics from the final run's record). */
function recordOfRun(preset: string, v: Variant, row: ResultRow, final: RunRecord | null): ResultRecord {
  const test = final?.metrics.test as TestSummary | undefined;
  if (!test) throw new Error(`run ${row.runId} has no test metrics in its record`);
  const d = readDiagnostics(final?.metrics);
  const cols = d ? diagnosticColumns(d) : null;
  return {
    format: RESULT_RECORD_FORMAT,
    preset,
    ablation: row.ablation,
    seed: row.seed,
    runId: row.runId,
    stageKeys: stageKeys(v.exp, row.seed),
    test,
    valMR: row.val_mR,
    seconds: row.seconds,
    diagnostics: cols ? Object.fromEntries(Object.entries(cols).map(([k, x]) => [k, Number.isFinite(x) ? x : null])) : null,
    ranks: d?.ranks && Array.isArray(d.ranks.txt2img) ? { i2t: packRanks(d.ranks.i2t), t2i: packRanks(d.ranks.t2i), txt2img: packRanks(d.ranks.txt2img) } : null,
    producedBy: { backend: final?.backend?.name ?? null, threads: final?.backend?.threads ?? null, commit: final?.git?.commit ?? null, dirty: final?.git?.dirty ?? null, finishedAt: final?.finishedAt ?? null },
  };
}

/** Per-query ranks stored in a result record. */
function recordRanks(r: ResultRecord): QueryRanks | null {
  if (!r.ranks) return null;
  const what = `result record ${r.runId}`;
  return { i2t: unpackRanks(r.ranks.i2t, `${what} i2t`), t2i: unpackRanks(r.ranks.t2i, `${what} t2i`), txt2img: unpackRanks(r.ranks.txt2img, `${what} txt2img`) };
}

function rowOf(ablation: string, seed: number, id: string, t: TestSummary, valMR: number, seconds: number): ResultRow {
  return {
    ablation,
    seed,
    runId: id,
    i2t_r1: t.i2t.r1,
    i2t_r5: t.i2t.r5,
    i2t_r10: t.i2t.r10,
    t2i_r1: t.t2i.r1,
    t2i_r5: t.t2i.r5,
    t2i_r10: t.t2i.r10,
    mR: t.mR,
    val_mR: valMR,
    seconds,
  };
}

/** Run (or complete) a suite and write its results table. */
export async function runSuite(suiteArg: string | SuiteSpec, opts: SuiteOptions = {}): Promise<SuiteOutcome> {
  const t0 = Date.now();
  const suite = typeof suiteArg === 'string' ? loadSuite(suiteArg) : suiteArg;
  const log = opts.log ?? ((l: string) => process.stderr.write(l + '\n'));
  const seeds = opts.seeds ?? suite.seeds;
  const ablations = opts.ablations ?? suite.ablations;
  const base = resolveExperiment(suite.preset, null, opts.overrides);
  let data = opts.data ?? null;
  // Variants the workers trained are read back below as finished runs: count them as trained.
  const trainedByWorkers = (opts.workers ?? 1) > 1 ? await trainInWorkers(suite, ablations, seeds, base, opts.overrides, opts.workers ?? 1, log) : 0;
  const rows: ResultRow[] = [];
  const fromRecords = new Map<string, ResultRecord>();
  const descriptions: Record<string, string> = {};
  let trained = trainedByWorkers;
  const total = ablations.length * seeds.length;
  let k = 0;
  for (const seed of seeds) {
    for (const ab of ablations) {
      k += 1;
      descriptions[ab] = loadAblation(ab).description;
      const variant = resolveVariant(suite.preset, ab, opts.overrides);
      const done = finishedVariant(variant, seed, (why) => log(`[suite ${suite.name} ${k}/${total}] ${ab} s${seed}: ${why}`));
      if (done) {
        rows.push(done.row);
        if (done.record) fromRecords.set(done.row.runId, done.record);
        else writeResultRecord(recordOfRun(suite.preset, variant, done.row, readRunRecord(done.row.runId)));
        const from = done.record ? `its result record (${done.record.producedBy.backend ?? '?'} backend, commit ${(done.record.producedBy.commit ?? '?').slice(0, 8)})` : 'its runs';
        log(`[suite ${suite.name} ${k}/${total}] ${ab} s${seed}: finished earlier, test mR ${done.row.mR.toFixed(2)}, from ${from}`);
        continue;
      }
      if (!data) data = await prepareExperimentData(base);
      log(`[suite ${suite.name} ${k}/${total}] ${ab} s${seed}: training`);
      const out = await runRecipe(variant, { seed, data, log, progress: opts.progress });
      const secs = out.stages.reduce((a, s) => a + s.seconds, 0);
      const test = recipeTest(out);
      const row = rowOf(ab, seed, out.finalRunId, test, out.valBest, secs);
      rows.push(row);
      writeResultRecord(recordOfRun(suite.preset, variant, row, readRunRecord(out.finalRunId)));
      trained += 1;
      log(`[suite ${suite.name} ${k}/${total}] ${ab} s${seed}: test mR ${test.mR.toFixed(2)} (val ${out.valBest.toFixed(2)}) in ${out.seconds.toFixed(0)} s`);
    }
  }
  const reused = rows.length - trained;
  const summary = summarise(rows, ablations, descriptions, { ranks: rowRanks(rows, fromRecords) });
  const outDir = opts.outDir ?? path.join(runsDir(), suite.name);
  fs.mkdirSync(outDir, { recursive: true });
  const files = [...writeResults(path.join(outDir, 'results'), rows, summary)];
  const { figuresDir } = await import('../plotting/save');
  const tableDir = opts.tableDir === undefined ? figuresDir() : opts.tableDir;
  if (tableDir !== null) files.push(...writeResults(path.join(tableDir, `ablations_${suite.name}`), rows, summary));
  if (opts.figures !== false) {
    try {
      const { ablationBarsFigure } = await import('../plotting/figures/ablation_bars');
      const { saveFigure } = await import('../plotting/save');
      const fig = ablationBarsFigure(
        summary.map((s) => ({ variant: s.ablation, values: rows.filter((r) => r.ablation === s.ablation).map((r) => r.mR) })),
        { metric: 'test mR (%)', fullModel: FULL_MODEL, title: `Ablations (${suite.name}, ${suite.preset}): test mR over seeds ${seeds.join(', ')}` },
      );
      const saved = await saveFigure(fig, `ablations_${suite.name}_mR`, { runs: rows.map((r) => r.runId), configs: [suite.preset, `suite:${suite.name}`], source: 'src/training/ablation_runner.ts' });
      files.push(saved.json, saved.html, ...(saved.png ? [saved.png] : []));
    } catch (e) {
      log(`[suite ${suite.name}] figure not written: ${(e as Error).message}`);
    }
  }
  return { suite: suite.name, preset: suite.preset, rows, summary, files, trained, reused, seconds: (Date.now() - t0) / 1000 };
}

/** One (ablation, seed) to train. */
/** One variant to train: an ablation of the suite (or the full model) with one seed. */
export interface Job {
  ablation: string;
  seed: number;
  /**
   * Train only up to this stage: the full model's shared stages 0–1 of a seed whose full-model row
   * came from a result record, so that the seed's ablations (which start from those runs) can run.
   */
  upTo?: StageName;
}

/** What a worker process trains: one variant of a preset under the suite's overrides, one seed. */
export interface WorkerJob {
  preset: string;
  ablation: string;
  seed: number;
  overrides: unknown;
  /** Last stage to run (default all; see `Job.upTo`). */
  upTo?: StageName;
}

/** The worker entry point (relative to the project root). */
export const SUITE_WORKER_ENTRY = path.join('src', 'training', 'suite_worker.ts');

/** Lines of a failed worker's stderr quoted in the error. */
const WORKER_ERROR_TAIL = 20;

/** Train one variant in a worker process (`suite_worker.ts`: `runRecipe` of one job, no CLI in between). */
function spawnTrain(preset: string, job: Job, overrides: unknown, log: (l: string) => void): Promise<void> {
  const payload: WorkerJob = { preset, ablation: job.ablation, seed: job.seed, overrides, ...(job.upTo ? { upTo: job.upTo } : {}) };
  const args = ['--import', 'tsx', path.join(projectRoot(), SUITE_WORKER_ENTRY), JSON.stringify(payload)];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: projectRoot(), env: { ...process.env, ...workerEnv() }, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    const tag = `[worker ${job.ablation}${job.upTo ? ` up to ${job.upTo}` : ''} s${job.seed}]`;
    child.stdout.on('data', (d: Buffer) => d.toString().split('\n').filter((l) => l.trim()).forEach((l) => log(`${tag} ${l}`)));
    child.stderr.on('data', (d: Buffer) => {
      const text = d.toString();
      err += text;
      text.split('\n').filter((l) => /^\[/.test(l) && !/^\[priorclip-kit\]/.test(l)).forEach((l) => log(`${tag} ${l}`));
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`${tag} exited with ${code ?? signal}:\n${err.split('\n').slice(-WORKER_ERROR_TAIL).join('\n')}`));
    });
  });
}

/** Options of `pendingVariants` / `trainInWorkers`. */
export interface PendingOptions {
  /**
   * A variant counts as finished only when its runs are here, checkpoints included (not from a
   * result record): the main job trains the full model this way, since the notebooks and its
   * evaluation step load its weights.
   */
  requireRuns?: boolean;
}

/** True when the full model's stages 0–1 of a seed are finished here, checkpoints included (what its ablations start from). */
function sharedStagesHere(full: Variant, seed: number): boolean {
  return variantFinished(full, seed, ['stage0', 'stage1']);
}

/**
 * The (ablation, seed) pairs the suite runner would train: the full model of every seed first (the
 * ablations of a seed start from its stages 0–1; when the full model's row comes from a result
 * record but some ablation of that seed is pending, its stages 0–1 alone: `upTo: 'stage1'`), then
 * the unfinished ablations, seed by seed. Empty when every variant × seed is finished (runs or records).
 */
export function pendingVariants(suite: SuiteSpec, ablations: readonly string[], seeds: readonly number[], base: ExperimentConfig, overrides: unknown, opts: PendingOptions = {}): Job[] {
  const others = ablations.filter((ab) => ab !== FULL_MODEL).map((ab) => resolveVariant(suite.preset, ab, overrides));
  const full: Variant = { name: FULL_MODEL, exp: base, base };
  const done = (v: Variant, seed: number): boolean => (opts.requireRuns ? variantFinished(v, seed) : finishedRow(v, seed) !== null);
  const rest: Job[] = [];
  for (const seed of seeds) {
    for (const v of others) if (!done(v, seed)) rest.push({ ablation: v.name, seed });
  }
  const first: Job[] = [];
  for (const seed of seeds) {
    if (!done(full, seed)) first.push({ ablation: FULL_MODEL, seed });
    else if (rest.some((j) => j.seed === seed) && !sharedStagesHere(full, seed)) first.push({ ablation: FULL_MODEL, seed, upTo: 'stage1' });
  }
  return [...first, ...rest];
}

/**
 * Train every unfinished (ablation, seed) with `workers` child processes. The full model of a seed
 * goes first (its stages 0–1 are shared by the ablations of that seed); an ablation starts once the
 * full model of its seed has finished, so no two processes ever train the same run. Returns the
 * number of variants trained.
 */
export async function trainInWorkers(suite: SuiteSpec, ablations: readonly string[], seeds: readonly number[], base: ExperimentConfig, overrides: unknown, workers: number, log: (l: string) => void, opts: PendingOptions = {}): Promise<number> {
  const pending = pendingVariants(suite, ablations, seeds, base, overrides, opts);
  const fullDone = new Set(seeds.filter((seed) => !pending.some((j) => j.ablation === FULL_MODEL && j.seed === seed)));
  if (pending.length === 0) return 0;
  workers = (await chooseParallelism(Math.min(workers, pending.length), { log })).workers; // workers × native threads, measured
  const toTrain = pending.filter((j) => !j.upTo).length;
  log(`[suite ${suite.name}] ${toTrain} variants to train with ${workers} worker processes`);
  const running = new Set<Promise<void>>();
  let failure: Error | null = null;
  while ((pending.length > 0 || running.size > 0) && failure === null) {
    let idx = pending.findIndex((j) => j.ablation === FULL_MODEL || fullDone.has(j.seed));
    while (running.size < workers && idx >= 0) {
      const job = pending.splice(idx, 1)[0];
      log(`[suite ${suite.name}] start ${job.ablation} s${job.seed}`);
      const p: Promise<void> = spawnTrain(suite.preset, job, overrides, log).then(
        () => {
          if (job.ablation === FULL_MODEL) fullDone.add(job.seed);
          log(`[suite ${suite.name}] done ${job.ablation} s${job.seed}`);
          running.delete(p);
        },
        (e: unknown) => {
          failure = e as Error;
          running.delete(p);
        },
      );
      running.add(p);
      idx = pending.findIndex((j) => j.ablation === FULL_MODEL || fullDone.has(j.seed));
    }
    if (running.size === 0) break;
    await Promise.race(running);
  }
  await Promise.allSettled([...running]);
  if (failure) throw failure;
  return toTrain;
}
