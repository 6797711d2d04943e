/**
 * Run records: every run (training stage, ablation, evaluation) writes `run.json` beside its results,
 * under a deterministic run id, so a result can always be traced to its config, seed, backend,
 * package versions, code version and data.
 *
 * Layout: `data/runs/<runId>/run.json` (+ checkpoints, metrics, logs written by the run itself).
 */
import * as fs from 'fs';
import * as path from 'path';
import { execFileSync } from 'child_process';
import { createHash } from 'crypto';
import { atomicWriteFile, atomicWriteJson, projectRoot, readJson } from '../utils/fs';
import { backendInfo } from '../backends/backend';

/** Status of a run: `running` only while its process lives; `interrupted` after SIGINT/SIGTERM. */
export type RunStatus = 'running' | 'finished' | 'failed' | 'interrupted';

/** The machine-readable record of one run. */
export interface RunRecord {
  /** Deterministic id: `<experiment>__<variant>__s<seed>` (see runId()). */
  runId: string;
  /** What kind of run this is, e.g. `stage0`, `stage1`, `stage2`, `evaluate`. */
  kind: string;
  /** Root seed of the run. */
  seed: number;
  /** The fully resolved config (defaults + preset + ablation + overrides). */
  config: unknown;
  /** Backend that ran it; on the native path its thread count, products' library and OpenBLAS core (the bits depend on them); why faster ones were skipped. */
  backend: { name: string; packageName: string; version: string; skipped: string[]; threads?: number; gemm?: string; blasCore?: string | null } | null;
  /** Versions of node, the kit and the packages that compute numbers. */
  versions: Record<string, string>;
  /** Git commit of the kit and whether the work tree had uncommitted changes. */
  git: { commit: string; dirty: boolean } | null;
  /** Data identity: name and a checksum of the manifest/annotation file. */
  data: { name: string; checksum: string } | null;
  /** Run ids this run started from (e.g. stage 2 from stage 1). */
  parents: string[];
  status: RunStatus;
  startedAt: string;
  updatedAt: string;
  finishedAt: string | null;
  /** Named wall-clock durations in seconds. */
  timings: Record<string, number>;
  /** Metrics, written as the run goes (last and best validation, final test). */
  metrics: Record<string, unknown>;
  /** One-line reason when status is `failed` or `interrupted` (the stack trace is in `error.log`). */
  error: string | null;
}

/** File beside run.json holding the full error (message and stack) of a failed run. */
export const ERROR_LOG = 'error.log';
/** Characters a run id may use (it names a folder directly under the runs folder). */
const RUN_ID_PATTERN = /^[A-Za-z0-9._-]+$/;
/** Longest run id (a folder name). */
const MAX_RUN_ID_LENGTH = 200;

/** Throws unless `id` is a plain folder name that stays inside the runs folder. */
export function validateRunId(id: string): string {
  if (!RUN_ID_PATTERN.test(id) || id.length > MAX_RUN_ID_LENGTH || id === '.' || id === '..') {
    throw new Error(`run id '${id}' is not allowed: use letters, digits, '.', '_' and '-' (no '/', not '.' or '..', at most ${MAX_RUN_ID_LENGTH} characters), so that the run stays inside ${runsDir()}`);
  }
  return id;
}

/** Folder holding all runs (override with KIT_RUNS_DIR). */
export function runsDir(): string {
  return process.env.KIT_RUNS_DIR ?? path.join(projectRoot(), 'data', 'runs');
}

/** Folder of one run (the id is validated: it cannot leave the runs folder). */
export function runDir(runId: string): string {
  return path.join(runsDir(), validateRunId(runId));
}

/** Deterministic run id from its parts; characters outside [A-Za-z0-9._-] become '-'. */
export function runId(experiment: string, variant: string, seed: number): string {
  const clean = (s: string) => s.replace(/[^A-Za-z0-9._-]+/g, '-');
  return `${clean(experiment)}__${clean(variant)}__s${seed}`;
}

function pkgVersion(name: string): string {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return (require(`${name}/package.json`) as { version: string }).version;
  } catch {
    return 'absent';
  }
}

/** Versions recorded in every run. */
export function collectVersions(): Record<string, string> {
  const root = projectRoot();
  let kit = 'unknown';
  try {
    kit = readJson<{ version: string }>(path.join(root, 'package.json')).version;
  } catch {
    /* keep unknown */
  }
  return {
    node: process.version,
    kit,
    '@tensorflow/tfjs-core': pkgVersion('@tensorflow/tfjs-core'),
    '@tensorflow/tfjs-backend-wasm': pkgVersion('@tensorflow/tfjs-backend-wasm'),
    'umap-js': pkgVersion('umap-js'),
  };
}

/** Current git commit and dirty flag, or null outside a checkout. */
export function gitState(): { commit: string; dirty: boolean } | null {
  try {
    const cwd = projectRoot();
    const commit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd, stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .trim();
    const status = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], {
      cwd,
      stdio: ['ignore', 'pipe', 'ignore'],
    }).toString();
    return { commit, dirty: status.trim().length > 0 };
  } catch {
    return null;
  }
}

/** Runs of this process still `running`: marked `interrupted` if a signal ends the process. */
const activeRuns = new Set<RunRecord>();
let signalHandlersInstalled = false;

/** Signals after which a run is recorded as interrupted (then the default action ends the process). */
const INTERRUPT_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM'];

/**
 * Marks every active run interrupted. When nothing else listens for the signal, the process then
 * ends by it (its default action); when something else does (a notebook kernel interrupting a cell),
 * that listener decides, and a run that goes on is recorded again by `finishRun`.
 */
function onInterrupt(signal: NodeJS.Signals): void {
  const others = process.listeners(signal).filter((l) => l !== onInterrupt).length;
  for (const rec of activeRuns) {
    try {
      rec.status = 'interrupted';
      rec.error = `interrupted by ${signal}`;
      rec.finishedAt = new Date().toISOString();
      writeRunRecord(rec);
    } catch {
      /* the process is ending: nothing better to do */
    }
  }
  if (others > 0) return;
  activeRuns.clear();
  for (const s of INTERRUPT_SIGNALS) process.removeListener(s, onInterrupt);
  process.removeListener('exit', onExit);
  signalHandlersInstalled = false;
  process.kill(process.pid, signal); // default action: the exit status says which signal ended it
}

/** A process that exits (process.exit, an uncaught error) while a run is running records it failed. */
function onExit(code: number): void {
  for (const rec of activeRuns) {
    try {
      rec.status = 'failed';
      rec.error = `the process exited (code ${code}) while the run was running`;
      rec.finishedAt = new Date().toISOString();
      writeRunRecord(rec);
    } catch {
      /* exiting */
    }
  }
  activeRuns.clear();
}

function trackRun(rec: RunRecord): void {
  activeRuns.add(rec);
  if (!signalHandlersInstalled) {
    for (const s of INTERRUPT_SIGNALS) process.on(s, onInterrupt);
    process.on('exit', onExit);
    signalHandlersInstalled = true;
  }
}

function untrackRun(rec: RunRecord): void {
  activeRuns.delete(rec);
  if (activeRuns.size === 0 && signalHandlersInstalled) {
    for (const s of INTERRUPT_SIGNALS) process.removeListener(s, onInterrupt);
    process.removeListener('exit', onExit);
    signalHandlersInstalled = false;
  }
}

/** Options of `startRun`. */
export interface StartRunInit {
  runId: string;
  kind: string;
  seed: number;
  config: unknown;
  data?: { name: string; checksum: string } | null;
  parents?: string[];
  /**
   * Refuse to start when the run folder already holds a run of another config or data (compared as
   * JSON), instead of overwriting it (for ids the user may choose, e.g. `evaluate --run-id`).
   */
  refuseDifferent?: boolean;
  /** Result files of an earlier attempt to delete before starting, so a failed rerun never leaves them looking current. */
  staleOutputs?: string[];
}

/**
 * Start a run record (status `running`) and write it. Until `finishRun`, SIGINT/SIGTERM mark it
 * `interrupted` before the process ends.
 */
export function startRun(init: StartRunInit): RunRecord {
  const dir = runDir(init.runId);
  if (init.refuseDifferent) {
    const prev = readRunRecord(init.runId);
    if (prev !== null && (JSON.stringify(prev.config) !== JSON.stringify(init.config) || JSON.stringify(prev.data) !== JSON.stringify(init.data ?? null))) {
      throw new Error(`run id '${init.runId}' already holds a different ${prev.kind} run (${path.join(dir, 'run.json')}: other config or data); choose another run id or delete that folder`);
    }
  }
  for (const f of init.staleOutputs ?? []) fs.rmSync(path.join(dir, f), { force: true });
  fs.rmSync(path.join(dir, ERROR_LOG), { force: true });
  const now = new Date().toISOString();
  const b = backendInfo();
  const rec: RunRecord = {
    runId: init.runId,
    kind: init.kind,
    seed: init.seed,
    config: init.config,
    backend: b
      ? { name: b.name, packageName: b.packageName, version: b.version, skipped: b.skipped.map((s) => `${s.name}: ${s.reason}`), ...(b.native ? { threads: b.native.threads, gemm: b.native.gemm, blasCore: b.native.core } : {}) }
      : null,
    versions: collectVersions(),
    git: gitState(),
    data: init.data ?? null,
    parents: init.parents ?? [],
    status: 'running',
    startedAt: now,
    updatedAt: now,
    finishedAt: null,
    timings: {},
    metrics: {},
    error: null,
  };
  writeRunRecord(rec);
  trackRun(rec);
  return rec;
}

/** Write (atomically) a run record to `data/runs/<runId>/run.json`. */
export function writeRunRecord(rec: RunRecord): void {
  rec.updatedAt = new Date().toISOString();
  atomicWriteJson(path.join(runDir(rec.runId), 'run.json'), rec);
}

/** Read a run record, or null when the run does not exist. */
export function readRunRecord(id: string): RunRecord | null {
  const file = path.join(runDir(id), 'run.json');
  if (!fs.existsSync(file)) return null;
  return readJson<RunRecord>(file);
}

/** The first line of an error's message (what run.json records; the rest goes to error.log). */
export function oneLineReason(error: unknown): string {
  const msg = error instanceof Error ? error.message : String(error);
  const line = msg.split('\n').find((l) => l.trim().length > 0) ?? 'unknown error';
  return line.trim();
}

/**
 * Mark a run finished (or failed) and write it. A failure records a one-line reason in run.json and
 * the full message and stack trace in `error.log` beside it.
 */
export function finishRun(rec: RunRecord, error?: Error): RunRecord {
  untrackRun(rec);
  rec.status = error ? 'failed' : 'finished';
  rec.error = error ? oneLineReason(error) : null;
  rec.finishedAt = new Date().toISOString();
  if (error) atomicWriteFile(path.join(runDir(rec.runId), ERROR_LOG), `${error.stack ?? error.message}\n`);
  writeRunRecord(rec);
  return rec;
}

/** Bytes read at a time by `fileFingerprint`. */
const HASH_CHUNK_BYTES = 8 << 20;

/**
 * SHA-256 (hex) of a file's bytes, read in chunks (a 600 MB checkpoint is not held in memory); for a
 * folder (webdataset shards), of its sorted file names and sizes.
 */
export function fileFingerprint(file: string): string {
  const h = createHash('sha256');
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch (e) {
    throw new Error(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (st.isDirectory()) {
    for (const n of fs.readdirSync(file).sort()) {
      const s = fs.statSync(path.join(file, n));
      h.update(`${n}\0${s.isDirectory() ? 'dir' : s.size}\n`);
    }
    return h.digest('hex');
  }
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.alloc(Math.min(HASH_CHUNK_BYTES, Math.max(1, st.size)));
    for (;;) {
      const n = fs.readSync(fd, buf, 0, buf.length, null);
      if (n <= 0) break;
      h.update(buf.subarray(0, n));
    }
  } finally {
    fs.closeSync(fd);
  }
  return h.digest('hex');
}
