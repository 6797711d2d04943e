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
import { atomicWriteJson, projectRoot, readJson } from '../utils/fs';
import { backendInfo } from '../backends/backend';

/** Status of a run. */
export type RunStatus = 'running' | 'finished' | 'failed';

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
  /** Backend that ran it, and why faster ones were skipped. */
  backend: { name: string; packageName: string; version: string; skipped: string[] } | null;
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
  /** Error message when status is `failed`. */
  error: string | null;
}

/** Folder holding all runs (override with KIT_RUNS_DIR). */
export function runsDir(): string {
  return process.env.KIT_RUNS_DIR ?? path.join(projectRoot(), 'data', 'runs');
}

/** Folder of one run. */
export function runDir(runId: string): string {
  return path.join(runsDir(), runId);
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

/** Start a run record (status `running`) and write it. */
export function startRun(init: {
  runId: string;
  kind: string;
  seed: number;
  config: unknown;
  data?: { name: string; checksum: string } | null;
  parents?: string[];
}): RunRecord {
  const now = new Date().toISOString();
  const b = backendInfo();
  const rec: RunRecord = {
    runId: init.runId,
    kind: init.kind,
    seed: init.seed,
    config: init.config,
    backend: b
      ? { name: b.name, packageName: b.packageName, version: b.version, skipped: b.skipped.map((s) => `${s.name}: ${s.reason}`) }
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

/** Mark a run finished (or failed) and write it. */
export function finishRun(rec: RunRecord, error?: Error): RunRecord {
  rec.status = error ? 'failed' : 'finished';
  rec.error = error ? (error.stack ?? error.message) : null;
  rec.finishedAt = new Date().toISOString();
  writeRunRecord(rec);
  return rec;
}
