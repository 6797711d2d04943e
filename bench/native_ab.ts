/**
 * Interleaved A/B of native-path kernels on the pir-small stage-2 training step (batch 32): mode A = the native
 * path as registered, mode B = the same with the named kit kernels unregistered (the kit then runs its tfjs
 * composition) and the named replaced tfjs kernels (e.g. Sum) put back to the ones they replaced, steps alternated A, B, A, B, … on ONE model and optimiser so load changes hit both alike.
 *   npx tsx bench/native_ab.ts [--without KitAttention,KitAttentionGrad] [--steps N] [--threads T] [--vit B]
 *   npx tsx bench/native_ab.ts --baseline-addon /tmp/old/kit_native.node   # B = the same kernels from another build
 * With --baseline-addon, mode B registers every native kernel from that addon (e.g. built from an earlier commit by
 * `bash native/build.sh` in a clone of it): an A/B of two builds of native/kit_native.c, e.g. a faster im2col.
 * The baseline must export every function the kernels call (the same addon ABI); an older one fails at its first call.
 * With --vit B the work is PriorCLIP ViT-B/32 `encodeImage` of B random 224-px images (eval mode) instead of the step.
 * Prints the median (and min) wall time of a step in each mode, the median process CPU time (user + system: at 1
 * thread it is the step's own work, much less sensitive to other jobs on the machine than wall time), B / A, and the
 * load average at start and end.
 */
import * as os from 'os';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backends/backend';
import { SeedStream } from '../src/utils/random';
import { PIR_SMALL, createModel, loadModelPreset } from '../src/models/factory';
import { loadNativeAddon, registerNativeKernels, restorePreviousKernel, setNativeThreads, KIT_ATTENTION, KIT_ATTENTION_GRAD, NATIVE_KIT_KERNELS, type NativeAddon } from '../src/backends/native_kernels';
import { buildStage2Step, randomBatch, STAGE2_BATCH } from './lib/train_step';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : def;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

async function main(): Promise<void> {
  const without = arg('without', `${KIT_ATTENTION},${KIT_ATTENTION_GRAD}`).split(',').filter((x) => x !== '');
  const steps = Number(arg('steps', '12'));
  const threads = Number(arg('threads', '1'));
  const load0 = os.loadavg()[0];
  await initBackend('native', { quiet: true });
  const loaded = loadNativeAddon();
  if ('reason' in loaded) throw new Error(loaded.reason);
  setNativeThreads(threads);
  const baselinePath = arg('baseline-addon', '');
  let baseline: NativeAddon | null = null;
  if (baselinePath !== '') {
    const m = { exports: {} as unknown };
    process.dlopen(m, baselinePath);
    baseline = m.exports as NativeAddon;
    baseline.setThreads(threads);
  }
  const vitBatch = Number(arg('vit', '0'));
  let work: () => Promise<void>;
  let dispose: () => void;
  if (vitBatch > 0) {
    const cfg = loadModelPreset('priorclip-vit-b-32');
    const model = createModel(cfg, new SeedStream(7).child('vit'));
    const { images, tokens } = randomBatch(cfg, vitBatch, new SeedStream(8));
    work = async () => {
      const e = tf.tidy(() => model.encodeImage(images));
      e.dataSync();
      e.dispose();
    };
    dispose = () => {
      tf.dispose([images, tokens]);
      model.dispose();
    };
  } else {
    const s = buildStage2Step(structuredClone(PIR_SMALL), STAGE2_BATCH, new SeedStream(11));
    work = async () => {
      await s.step();
    };
    dispose = () => s.dispose();
  }
  const useMode = (a: boolean): void => {
    registerNativeKernels(a || baseline === null ? loaded.addon : baseline);
    if (a || baseline !== null) return;
    for (const k of without) {
      // a replaced tfjs kernel (e.g. Sum): put back the one it replaced; a kit kernel: unregister it
      const replaced = NATIVE_KIT_KERNELS.find((n) => n === k);
      if (replaced) restorePreviousKernel(replaced);
      else if (tf.getKernel(k, 'wasm')) tf.unregisterKernel(k, 'wasm');
    }
  };
  const times: [number[], number[]] = [[], []];
  const cpu: [number[], number[]] = [[], []];
  for (let i = vitBatch > 0 ? -1 : -2; i < steps; i++) {
    for (const m of [0, 1] as const) {
      useMode(m === 0);
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      await work();
      const dt = performance.now() - t0;
      const c = process.cpuUsage(c0);
      if (i >= 0) {
        times[m].push(dt);
        cpu[m].push((c.user + c.system) / 1000);
      }
    }
  }
  registerNativeKernels(loaded.addon);
  const [a, b] = times.map(median);
  const [ca, cb] = cpu.map(median);
  console.log(`load ${load0.toFixed(2)} → ${os.loadavg()[0].toFixed(2)}; ${threads} thread(s); ${steps} ${vitBatch > 0 ? `ViT-B/32 encodes (B${vitBatch})` : 'training steps'} per mode, interleaved`);
  console.log(`A (native as registered):      wall median ${a.toFixed(1)} ms (min ${Math.min(...times[0]).toFixed(1)}), CPU median ${ca.toFixed(1)} ms`);
  console.log(`B (${baseline ? `baseline addon ${baselinePath}` : `without ${without.join(', ')}`}): wall median ${b.toFixed(1)} ms (min ${Math.min(...times[1]).toFixed(1)}), CPU median ${cb.toFixed(1)} ms`);
  console.log(`B / A = ${(b / a).toFixed(3)} (wall), ${(cb / ca).toFixed(3)} (CPU)`);
  dispose();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
