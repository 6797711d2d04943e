/**
 * Per-kernel wall time of the pir-small stage-2 training step (batch 32) on a kit backend, without tf.profile
 * (which inflates small kernels): every kernel registered on the backend is wrapped with a timer.
 *   npx tsx bench/kernel_times.ts [--backend native|wasm] [--steps N] [--top K] [--shapes]
 * Prints ms per step by kernel name (and by name + input shapes with --shapes), launches per step, and the
 * wall time of a step with and without the timers' share (the rest is JS outside kernels).
 */
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backends/backend';
import { SeedStream } from '../src/utils/random';
import { PIR_SMALL } from '../src/models/factory';
import { buildStage2Step, STAGE2_BATCH } from './lib/train_step';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : def;
}

async function main(): Promise<void> {
  const backend = arg('backend', 'native') as 'native' | 'wasm';
  const steps = Number(arg('steps', '3'));
  const topK = Number(arg('top', '30'));
  const shapes = process.argv.includes('--shapes');
  await initBackend(backend, { quiet: true });
  const s = buildStage2Step(structuredClone(PIR_SMALL), STAGE2_BATCH, new SeedStream(7));
  await s.step();
  await s.step();
  const byName = new Map<string, { ms: number; n: number }>();
  let depth = 0;
  const wrapped: tf.KernelConfig[] = [];
  for (const k of tf.getKernelsForBackend('wasm')) {
    wrapped.push(k);
    const inner = k.kernelFunc;
    const fn: tf.KernelFunc = (args) => {
      if (depth > 0) return inner(args);
      depth++;
      const t0 = performance.now();
      try {
        return inner(args);
      } finally {
        const dt = performance.now() - t0;
        depth--;
        const ins = Object.values(args.inputs).filter((t) => t !== undefined) as tf.TensorInfo[];
        const key = shapes ? `${k.kernelName} ${ins.map((t) => `[${t.shape}]`).join('·')}` : k.kernelName;
        const e = byName.get(key) ?? { ms: 0, n: 0 };
        e.ms += dt;
        e.n++;
        byName.set(key, e);
      }
    };
    Object.assign(fn, k.kernelFunc);
    tf.unregisterKernel(k.kernelName, 'wasm');
    tf.registerKernel({ ...k, kernelFunc: fn });
  }
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) await s.step();
  const wall = (performance.now() - t0) / steps;
  for (const k of wrapped) {
    tf.unregisterKernel(k.kernelName, 'wasm');
    tf.registerKernel(k);
  }
  const rows = [...byName.entries()].sort((a, b) => b[1].ms - a[1].ms);
  const total = rows.reduce((p, [, e]) => p + e.ms, 0) / steps;
  const launches = rows.reduce((p, [, e]) => p + e.n, 0) / steps;
  console.log(`backend ${backend}: step ${wall.toFixed(1)} ms (timed), kernels ${total.toFixed(1)} ms in ${launches.toFixed(0)} launches, outside kernels ${(wall - total).toFixed(1)} ms`);
  for (const [k, e] of rows.slice(0, topK)) console.log(`${(e.ms / steps).toFixed(2).padStart(8)} ms ${String(e.n / steps).padStart(6)}×  ${k}`);
  s.dispose();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
