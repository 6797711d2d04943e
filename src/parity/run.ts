/**
 * Run parity cases: dispatch each discovered case to its runner, collect rows, decide PASS/FAIL.
 *
 * Runners written by other parts of the kit take a directory and read `<dir>/<canonical>.safetensors`
 * (e.g. `spatial_pae.safetensors`); a case with another file name is staged for them in a temporary
 * folder under its canonical name (symlinks, removed afterwards).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { readJson } from '../utils/fs';
import { readSafetensorsFile } from '../io/safetensors';
import { PAE_PARITY_CASES } from './pae_cases';
import { runLossesCase } from './losses_case';
import { runRetrievalCase } from './retrieval_case';
import { CaseType, DiscoveredCase, discoverCases, NOTHING_MATCHED } from './discover';
import { toleranceTable } from './tolerance';
import { runPriorClipCase } from './priorclip_case';
import { runKeysCase } from './keys_case';
import { runClipTokenizerCase } from './clip_tokenizer_case';
import { CaseReport, ParityRow, allPass, worst } from './types';

/** Rows of a runner that gets a directory holding `<canonical>.safetensors` (+ `.json`). */
type DirRunner = (dir: string) => ParityRow[];

/** Directory runners by case type (canonical file stem = the type, except where noted). */
const DIR_RUNNERS: Partial<Record<CaseType, { stem: string; run: DirRunner }>> = {
  pir_blocks: { stem: 'pir_blocks', run: (d) => PAE_PARITY_CASES.pir_blocks(d).rows },
  spatial_pae: { stem: 'spatial_pae', run: (d) => PAE_PARITY_CASES.spatial_pae(d).rows },
  temporal_pae: { stem: 'temporal_pae', run: (d) => PAE_PARITY_CASES.temporal_pae(d).rows },
  soft_belief: { stem: 'soft_belief', run: (d) => PAE_PARITY_CASES.soft_belief(d).rows },
  losses: { stem: 'losses', run: (d) => runLossesCase(d) },
  retrieval: { stem: 'retrieval', run: (d) => runRetrievalCase(d) },
};

/** Call a directory runner, staging the case under its canonical name when needed. */
function runStaged(c: DiscoveredCase, stem: string, run: DirRunner): ParityRow[] {
  if (c.name === stem) return run(c.dir);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kit-parity-'));
  try {
    if (c.safetensors) fs.symlinkSync(path.resolve(c.safetensors), path.join(tmp, `${stem}.safetensors`));
    if (c.json) fs.symlinkSync(path.resolve(c.json), path.join(tmp, `${stem}.json`));
    return run(tmp);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/** Run one case (never throws: errors become an ERROR report). */
export function runCase(c: DiscoveredCase): CaseReport {
  const t0 = Date.now();
  const base = { name: c.name, type: c.type, detectedBy: c.detectedBy };
  const before = tf.memory().numTensors;
  try {
    if (c.type === 'unknown' && c.detectedBy !== NOTHING_MATCHED) return { ...base, status: 'ERROR', rows: [], message: c.detectedBy, ms: Date.now() - t0 };
    let rows: ParityRow[];
    const json = c.json ? readJson<Record<string, unknown>>(c.json) : {};
    const dirRunner = c.type === 'unknown' ? undefined : DIR_RUNNERS[c.type];
    if (dirRunner) {
      rows = runStaged(c, dirRunner.stem, dirRunner.run);
    } else if (c.type === 'priorclip' && c.safetensors) {
      rows = runPriorClipCase(c.safetensors, json, readSafetensorsFile(c.safetensors), c.checkpoints, toleranceTable(json));
    } else if (c.type === 'priorclip_keys' && c.json) {
      rows = runKeysCase(c.json, json);
    } else if (c.type === 'clip_tokenizer' && c.safetensors) {
      rows = runClipTokenizerCase(c.safetensors, json, readSafetensorsFile(c.safetensors));
    } else {
      return { ...base, status: 'NOT IMPLEMENTED', rows: [], message: `no runner for case type '${c.type}'`, ms: Date.now() - t0 };
    }
    const leaked = tf.memory().numTensors - before;
    if (leaked > 0) rows.push({ name: `tensor leak check (${leaked} tensors left behind)`, maxAbs: leaked, maxRel: 0, pass: false, exact: true });
    const ok = allPass(rows);
    return { ...base, status: ok ? 'PASS' : 'FAIL', rows, message: rows.length === 0 ? 'no outputs compared' : undefined, ms: Date.now() - t0 };
  } catch (e) {
    const msg = (e as Error).message;
    const notImpl = /Cannot find module|is not a function|not implemented/i.test(msg);
    return { ...base, status: notImpl ? 'NOT IMPLEMENTED' : 'ERROR', rows: [], message: msg, ms: Date.now() - t0 };
  }
}

/** Discover and run every case of a directory. */
export function runParityDir(dir: string, onCase?: (r: CaseReport) => void): CaseReport[] {
  const cases = discoverCases(dir);
  const out: CaseReport[] = [];
  for (const c of cases) {
    const r = runCase(c);
    onCase?.(r);
    out.push(r);
  }
  return out;
}

function fmt(x: number): string {
  if (!Number.isFinite(x)) return String(x).replace('Infinity', 'inf');
  return x === 0 ? '0' : x.toExponential(2);
}

/** The one summary line of a case. */
export function formatCaseLine(r: CaseReport): string {
  const w = worst(r.rows);
  const failed = r.rows.filter((x) => !x.pass).length;
  const status = r.status.padEnd(15);
  const head = `${status} ${r.name.padEnd(34)} ${`[${r.type}]`.padEnd(17)}`;
  if (r.status === 'ERROR' || r.status === 'NOT IMPLEMENTED') return `${head} ${r.message ?? ''}`;
  return `${head} max abs ${fmt(w.maxAbs).padEnd(8)} max rel ${fmt(w.maxRel).padEnd(8)} ${r.rows.length} outputs, ${failed} failed  (${(r.ms / 1000).toFixed(1)} s)`;
}

/** Detail lines (failing rows, or all rows when verbose). */
export function formatRows(r: CaseReport, verbose: boolean): string[] {
  return r.rows
    .filter((x) => verbose || !x.pass)
    .map((x) => {
      const tol = x.exact ? 'exact' : x.rtol !== undefined ? `rtol ${x.rtol} atol ${x.atol}` : '';
      return `    ${x.pass ? 'ok  ' : 'FAIL'} ${x.name}  abs ${fmt(x.maxAbs)} rel ${fmt(x.maxRel)} ${tol}${x.error ? `  — ${x.error}` : ''}`;
    });
}
