/**
 * Runs bench/torch_reference.py (the PyTorch re-implementation of the same training step) as a
 * child process with Debian's /usr/bin/python3 (python3-torch), and parses the JSON it prints.
 * Never throws: when python or torch is missing, or the script fails, the result says why.
 */
import * as fs from 'fs';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { projectRoot } from '../../src/utils/fs';

/** Python with torch (Debian's python3-torch); the pyenv `python3` on PATH has no torch. */
export const TORCH_PYTHON = process.env.BENCH_TORCH_PYTHON ?? '/usr/bin/python3';
/** Wall-clock limit of the reference run. */
const TORCH_TIMEOUT_MS = 15 * 60 * 1000;

/** What the Python script prints (see torch_reference.py). */
export interface TorchResult {
  torchVersion: string;
  threads: number;
  batchSize: number;
  steps: number;
  warmup: number;
  stepMsMean: number;
  stepMsMedian: number;
  stepMsMin: number;
  pairsPerSec: number;
  losses: number[];
  paramCount: number;
  trainableCount: number;
  keysChecked: number;
  [k: string]: unknown;
}

export type TorchOutcome = { ok: true; result: TorchResult; seconds: number } | { ok: false; skipped: string };

/** Run the reference on a config file written by the bench. */
/**
 * libgomp's default busy-wait barriers collapse when the cores are oversubscribed (measured here at
 * load ~14 on 2 cores: 4.1 s per step with 2 threads vs 0.23 s with passive waiting), so the child
 * runs with OMP_WAIT_POLICY=PASSIVE unless the caller set one.
 */
export const TORCH_ENV = { OMP_WAIT_POLICY: process.env.OMP_WAIT_POLICY ?? 'PASSIVE' };

export function runTorchReference(configFile: string, threads?: number): TorchOutcome {
  if (!fs.existsSync(TORCH_PYTHON)) return { ok: false, skipped: `${TORCH_PYTHON} not found (install Debian python3-torch)` };
  const script = path.join(projectRoot(), 'bench', 'torch_reference.py');
  const t0 = Date.now();
  const argv = [script, '--config', configFile, ...(threads !== undefined ? ['--threads', String(threads)] : [])];
  const r = spawnSync(TORCH_PYTHON, argv, { env: { ...process.env, ...TORCH_ENV }, encoding: 'utf8', timeout: TORCH_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 });
  const seconds = (Date.now() - t0) / 1000;
  if (r.error) return { ok: false, skipped: `${TORCH_PYTHON} failed to start: ${r.error.message}` };
  const stderr = (r.stderr ?? '').trim();
  if (/No module named '?torch'?/.test(stderr)) return { ok: false, skipped: `${TORCH_PYTHON} has no torch module (install Debian python3-torch)` };
  if (r.status !== 0) return { ok: false, skipped: `torch_reference.py exited ${r.status}: ${stderr.split('\n').slice(-3).join(' | ')}` };
  const line = (r.stdout ?? '').trim().split('\n').filter((l) => l.startsWith('{')).pop();
  if (!line) return { ok: false, skipped: 'torch_reference.py printed no JSON' };
  try {
    return { ok: true, result: JSON.parse(line) as TorchResult, seconds };
  } catch (e) {
    return { ok: false, skipped: `torch_reference.py printed invalid JSON: ${(e as Error).message}` };
  }
}
