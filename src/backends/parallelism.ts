/**
 * Workers × threads for parallel training processes (the ablation runner), chosen by measurement.
 *
 * On the wasm backend a process uses one core, so more workers are the only way to use more cores. On
 * the native backend each process also runs OpenBLAS threads, and on a shared machine 2 workers × 1
 * thread and 1 worker × 2 threads can differ either way. `chooseParallelism` measures it: for every
 * worker count w ≤ maxWorkers (threads = ⌊cores / w⌋, at least 1) it starts w probe processes at once
 * (./parallel_probe.ts: a conv + matmul + element-wise forward/backward mix like a training step), each for
 * PROBE_MS, and keeps the (w, t) with the highest total probe steps per second. The choice is kept for the
 * process; `workerEnv()` is the environment a training child process needs to use it. Without the native
 * path nothing is measured (one core per process: min(maxWorkers, cores) workers), nor where the products' bits
 * depend on the thread count (OpenBLAS on its AVX2 kernels, blas_core.ts: min(maxWorkers, cores) workers × 1
 * thread, so that a command's numbers do not depend on a timing); `KIT_PARALLELISM=2x1` forces a choice.
 */
import * as os from 'os';
import * as path from 'path';
import { spawn } from 'child_process';
import { projectRoot } from '../utils/fs';
import { threadInvariantGemm } from './blas_core';
import { GemmLibrary, loadNativeAddon, nativeProducts } from './native_kernels';

/** Wall time each probe process measures for (after its warm-up). */
export const PROBE_MS = 1500;
/** Give up on a probe process after this long. */
const PROBE_TIMEOUT_MS = 120_000;

/** One measured candidate. */
export interface ParallelCandidate {
  workers: number;
  threads: number;
  /** Sum over the workers of probe steps per second. */
  stepsPerSec: number;
}

/** What chooseParallelism decided, and why. */
export interface ParallelPlan {
  workers: number;
  /** Native (OpenBLAS) threads per worker; 1 on wasm/cpu (single-threaded there). */
  threads: number;
  /** Backend the probes ran on ('native' or 'wasm'). */
  backend: string;
  candidates: ParallelCandidate[];
  /** One line for the log. */
  summary: string;
}

let chosen: ParallelPlan | null = null;

/** The environment variables a training child process needs for the chosen plan ({} before a choice). */
export function workerEnv(): Record<string, string> {
  return chosen && chosen.backend === 'native' ? { KIT_NATIVE_THREADS: String(chosen.threads) } : {};
}

/** The last plan chooseParallelism made in this process, or null. */
export function parallelPlan(): ParallelPlan | null {
  return chosen;
}

function cores(): number {
  return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
}

/** Run one probe process; resolves to its steps per second. */
function probe(threads: number, backend: string): Promise<{ stepsPerSec: number; backend: string }> {
  const file = path.join(projectRoot(), 'src', 'backends', 'parallel_probe.ts');
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', file, String(PROBE_MS)], {
      cwd: projectRoot(),
      env: { ...process.env, KIT_BACKEND: backend, KIT_NATIVE_THREADS: String(threads) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), PROBE_TIMEOUT_MS);
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      const line = out.split('\n').find((l) => l.startsWith('PROBE '));
      if (code !== 0 || !line) {
        reject(new Error(`parallelism probe (${backend}, ${threads} threads) failed with ${code}: ${err.trim().split('\n').slice(-3).join(' | ')}`));
        return;
      }
      const j = JSON.parse(line.slice(6)) as { stepsPerSec: number; backend: string };
      resolve(j);
    });
  });
}

/** Options of chooseParallelism. */
export interface ParallelismOptions {
  /** Backend the probes ask for (default `KIT_BACKEND`, else auto). */
  backend?: string;
  /** Where the log lines go. */
  log?: (l: string) => void;
  /** Products' library to decide for (default: the one the training processes will use, `nativeProducts`). */
  gemm?: GemmLibrary;
  /** OpenBLAS core to decide for (default: the loaded addon's; tests pass gemm and core to reach either rule). */
  core?: string | null;
}

/**
 * Measure workers × threads and return the best plan for up to `maxWorkers` parallel jobs. `backend`
 * is the backend the workers will use ('native', 'wasm', …; default KIT_BACKEND or auto). Without the
 * native path, or where the products' bits depend on the thread count, nothing is measured: the plan is
 * `min(maxWorkers, cores)` workers with 1 thread.
 */
export async function chooseParallelism(maxWorkers: number, opts: ParallelismOptions = {}): Promise<ParallelPlan> {
  if (!Number.isInteger(maxWorkers) || maxWorkers < 1) throw new Error(`chooseParallelism: maxWorkers must be a positive integer, got ${maxWorkers}`);
  const n = cores();
  const backend = opts.backend ?? (process.env.KIT_BACKEND || 'auto');
  const forced = process.env.KIT_PARALLELISM;
  if (forced) {
    const m = /^(\d+)x(\d+)$/.exec(forced);
    if (!m || Number(m[1]) < 1 || Number(m[2]) < 1) throw new Error(`KIT_PARALLELISM='${forced}' must be <workers>x<threads>, e.g. 2x1`);
    chosen = { workers: Math.min(Number(m[1]), maxWorkers), threads: Number(m[2]), backend: 'native', candidates: [], summary: `[parallelism] ${forced} (KIT_PARALLELISM)` };
    opts.log?.(chosen.summary);
    return chosen;
  }
  const loaded = loadNativeAddon();
  const nativeLikely = (backend === 'native' || backend === 'auto') && !('reason' in loaded);
  const products = 'addon' in loaded ? nativeProducts(loaded.addon) : null;
  const core = opts.core !== undefined ? opts.core : products?.core ?? null;
  const gemm = opts.gemm ?? products?.gemm ?? 'openblas';
  if (nativeLikely && !threadInvariantGemm(gemm, core)) {
    // The bits depend on the thread count on this core: a measured (timing-dependent) choice would make the
    // numbers of one command differ from run to run, so every worker runs one thread, as the committed records do.
    const w = Math.min(maxWorkers, n);
    chosen = { workers: w, threads: 1, backend: 'native', candidates: [], summary: `[parallelism] ${w} worker(s) × 1 thread on native (not measured: on OpenBLAS's ${core ?? '?'} kernels the bits depend on the thread count, so it is fixed at 1; KIT_PARALLELISM overrides)` };
    opts.log?.(chosen.summary);
    return chosen;
  }
  if (!nativeLikely) {
    // wasm / cpu use one core per process: the only choice is the worker count.
    const w = Math.min(maxWorkers, n);
    chosen = { workers: w, threads: 1, backend, candidates: [], summary: `[parallelism] ${w} worker(s) × 1 thread on ${backend} (single-threaded backend: nothing to measure)` };
    opts.log?.(chosen.summary);
    return chosen;
  }
  const candidates: ParallelCandidate[] = [];
  let ran = backend;
  for (let w = 1; w <= Math.min(maxWorkers, n); w++) {
    const threads = Math.max(1, Math.floor(n / w));
    const rs = await Promise.all(Array.from({ length: w }, () => probe(threads, backend)));
    ran = rs[0].backend;
    candidates.push({ workers: w, threads: ran === 'native' ? threads : 1, stepsPerSec: rs.reduce((a, r) => a + r.stepsPerSec, 0) });
    opts.log?.(`[parallelism] ${w} worker(s) × ${ran === 'native' ? threads : 1} thread(s) on ${ran}: ${candidates[candidates.length - 1].stepsPerSec.toFixed(2)} probe steps/s`);
  }
  const best = candidates.reduce((a, c) => (c.stepsPerSec > a.stepsPerSec ? c : a));
  const load = os.loadavg()[0];
  chosen = {
    workers: best.workers,
    threads: best.threads,
    backend: ran,
    candidates,
    summary: `[parallelism] ${best.workers} worker(s) × ${best.threads} thread(s) on ${ran} (measured: ${candidates
      .map((c) => `${c.workers}×${c.threads} ${c.stepsPerSec.toFixed(2)}/s`)
      .join(', ')}; load ${load.toFixed(1)} on ${n} cores)`,
  };
  opts.log?.(chosen.summary);
  return chosen;
}
