/**
 * Result records: what a suite keeps of a finished variant × seed once its runs are gone.
 *
 * A run folder (`data/runs/<runId>/`) holds checkpoints and is never committed; a result record
 * (`data/results/<finalRunId>.json`, a few kB to ~30 kB) holds only what the results table and its
 * intervals need: the test recalls, the best validation mR, the headline diagnostics, the per-query
 * test ranks (for the bootstrap) and the stage keys of every stage the variant ran. The suite runner
 * writes one for every row it reports and, when a variant's runs are absent, uses the record whose
 * stage keys equal the ones the config gives now, so a suite measured on one machine (or over
 * several sessions) is finished on another without retraining what was measured. A record whose
 * keys differ (the preset or ablation changed since) is never used: that variant is trained again
 * and its record replaced. Records name the backend, thread count and commit that produced them;
 * the stage keys do not include the backend (numbers differ across backends by float rounding).
 */
import * as fs from 'fs';
import * as path from 'path';
import { atomicWriteFile, projectRoot, readJson } from '../utils/fs';
import { validateRunId } from './record';

/** Format tag of a result record file. */
export const RESULT_RECORD_FORMAT = 'priorclip-kit/result-record@1';

/** Per-query test ranks as stored (base64 little-endian Uint32; see `packRanks`). */
export interface PackedRanks {
  i2t: string;
  t2i: string;
  txt2img: string;
}

/** One finished variant × seed of a preset. */
export interface ResultRecord {
  format: typeof RESULT_RECORD_FORMAT;
  /** Preset (experiment name) the variant belongs to. */
  preset: string;
  /** Ablation name (`full` = the preset unchanged). */
  ablation: string;
  seed: number;
  /** Run id of the evaluated (last) stage. */
  runId: string;
  /** Stage key of every stage the variant runs (null where the stage does not apply). */
  stageKeys: Record<string, string | null>;
  /** Test recalls (R@1/5/10 both directions), mR, the tie rule and the split's size (the final run's `metrics.test`). */
  test: { i2t: { r1: number; r5: number; r10: number }; t2i: { r1: number; r5: number; r10: number }; mR: number; tieRule: string; numImages: number; numTexts: number };
  /** Best validation mR (the checkpoint-selection criterion). */
  valMR: number;
  /** Wall seconds of the variant's own stages when it was trained. */
  seconds: number;
  /** Headline diagnostics (`diagnosticColumns`), null for runs without diagnostics. */
  diagnostics: Record<string, number | null> | null;
  /** Per-query test ranks, null for runs without diagnostics. */
  ranks: PackedRanks | null;
  /** Who produced it: backend name and threads, commit, when the run finished. */
  producedBy: { backend: string | null; threads: number | null; commit: string | null; dirty: boolean | null; finishedAt: string | null };
}

/**
 * Folder of the result records: KIT_RESULTS_DIR, else `<KIT_RUNS_DIR>/.results` when the runs live
 * elsewhere (tests, scratch suites: their records stay beside their runs), else `data/results`.
 */
export function resultsDir(): string {
  if (process.env.KIT_RESULTS_DIR) return process.env.KIT_RESULTS_DIR;
  if (process.env.KIT_RUNS_DIR) return path.join(process.env.KIT_RUNS_DIR, '.results');
  return path.join(projectRoot(), 'data', 'results');
}

/** File of the record of a final run id. */
export function resultRecordFile(runId: string): string {
  return path.join(resultsDir(), `${validateRunId(runId)}.json`);
}

/** Integers ≥ 0 as base64 little-endian Uint32 (ranks of a 4,000-caption split: 21 kB instead of ~35 kB of JSON). */
export function packRanks(values: readonly number[]): string {
  const a = new Uint32Array(values.length);
  values.forEach((v, i) => {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new Error(`packRanks: value ${v} at ${i} is not an integer in [0, 2^32)`);
    a[i] = v;
  });
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');
}

/** Inverse of `packRanks`. */
export function unpackRanks(text: string, what = 'ranks'): number[] {
  const b = Buffer.from(text, 'base64');
  if (b.length % 4 !== 0) throw new Error(`${what}: ${b.length} bytes is not a whole number of Uint32 values`);
  const out: number[] = [];
  for (let i = 0; i < b.length; i += 4) out.push(b.readUInt32LE(i));
  return out;
}

/** Write (atomically, replacing an older one) the record of a finished variant. */
export function writeResultRecord(rec: ResultRecord): string {
  const file = resultRecordFile(rec.runId);
  atomicWriteFile(file, JSON.stringify(rec) + '\n');
  return file;
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/**
 * The record of a final run id whose stage keys equal `keys`, or null (absent, or made from another
 * config: `onStale` is told why). A file that is there but malformed is an error naming it.
 */
export function readResultRecord(runId: string, keys: Record<string, string | null>, onStale?: (why: string) => void): ResultRecord | null {
  const file = resultRecordFile(runId);
  if (!fs.existsSync(file)) return null;
  const r = readJson<unknown>(file);
  if (!isObject(r) || r.format !== RESULT_RECORD_FORMAT) throw new Error(`${file}: not a result record (expected "format": "${RESULT_RECORD_FORMAT}")`);
  const test = r.test;
  if (!isObject(test) || typeof test.mR !== 'number' || !isObject(test.i2t) || !isObject(test.t2i) || typeof test.numImages !== 'number' || !isObject(r.stageKeys) || typeof r.valMR !== 'number') {
    throw new Error(`${file}: a result record needs test.{i2t,t2i,mR,numImages}, stageKeys and valMR`);
  }
  const stored = r.stageKeys as Record<string, unknown>;
  for (const [stage, key] of Object.entries(keys)) {
    if ((stored[stage] ?? null) !== key) {
      onStale?.(`${file} was made from a different ${stage} config (stage key ${String(stored[stage]).slice(0, 10)}, the config now gives ${String(key).slice(0, 10)}): not used`);
      return null;
    }
  }
  return r as unknown as ResultRecord;
}
