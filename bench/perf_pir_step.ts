/**
 * Perf probe of the default training step (stage 2 of `pir-small` on wasm, batch 32):
 * fwd + bwd + AdamW, timed (wall and process CPU), plus a per-kernel profile (tf.profile) of one step.
 *   npx tsx bench/perf_pir_step.ts [--iters N] [--batch B] [--top K] [--backend wasm|cpu]
 * Prints: ms/step (wall, cpu), kernels/step, the top kernels by total ms, a loss/params checksum
 * (determinism: same seed ⇒ same numbers).
 */
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backends/backend';
import { SeedStream } from '../src/utils/random';
import { createModel, PIR_SMALL } from '../src/models/factory';
import { PirModel, pirParamGroup } from '../src/models/pir';
import { AdamW } from '../src/training/adamw';
import { totalLoss, DEFAULT_LOSS_CONFIG } from '../src/losses/total_loss';

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}
function sarg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : def;
}

async function main(): Promise<void> {
  const backend = sarg('backend', 'wasm') as 'wasm' | 'cpu';
  await initBackend(backend);
  const iters = arg('iters', 10);
  const B = arg('batch', 32);
  const topK = arg('top', 25);
  const L = arg('len', PIR_SMALL.text.contextLength);
  const seeds = new SeedStream(1234);
  const model = createModel(structuredClone(PIR_SMALL), seeds.child('model')) as PirModel;
  const trainable = (k: string) => {
    const g = pirParamGroup(k);
    return g !== 'prior' && g !== 'priorHead' && g !== 'text';
  };
  const entries = model.params.list().filter((e) => e.trainable && trainable(e.key));
  const opt = new AdamW(entries, { beta1: 0.9, beta2: 0.98, eps: 1e-8, weightDecay: 0.01, noDecay: 'pir' });
  const vars = opt.variables();
  const ds = seeds.child('data');
  const img = new Float32Array(B * 64 * 64 * 3).map(() => ds.normal(0, 1));
  const tok = new Int32Array(B * L).map(() => ds.int(PIR_SMALL.text.vocabSize));
  const images = tf.tensor4d(img, [B, 64, 64, 3]);
  const tokens = tf.tensor2d(tok, [B, L], 'int32');
  const imageIds = Array.from({ length: B }, (_, i) => Math.floor(i / 2));
  const labels = Array.from({ length: B }, (_, i) => Math.floor(i / 4) % 18);
  let stepNo = 0;
  const lossFn = (): tf.Scalar => {
    model.dropoutSeeds = seeds.child('step').child(String(stepNo));
    const out = model.forward(images, tokens, { training: true });
    const l = totalLoss({ imageFeatures: out.imageFeatures, textFeatures: out.textFeatures, temp: out.temp, temp2: out.temp2, logitScale: out.logitScale, imageIds, labels }, DEFAULT_LOSS_CONFIG);
    for (const t of Object.values(l.parts)) t.dispose();
    return l.total;
  };
  const step = (): number => {
    const { value, grads } = tf.variableGrads(lossFn, vars);
    opt.apply(grads, 1e-3);
    const v = value.dataSync()[0];
    value.dispose();
    for (const g of Object.values(grads)) g.dispose();
    stepNo++;
    return v;
  };
  const losses: number[] = [];
  losses.push(step()); // warm-up
  const n0 = tf.memory().numTensors;
  const w0 = performance.now();
  const c0 = process.cpuUsage();
  for (let i = 0; i < iters; i++) losses.push(step());
  const wall = (performance.now() - w0) / iters;
  const cu = process.cpuUsage(c0);
  const cpu = (cu.user + cu.system) / 1000 / iters;
  const n1 = tf.memory().numTensors;
  if (process.argv.includes('--split')) {
    // CPU split: forward only (tape off), fwd+bwd (no optimiser), optimiser only
    const cpuOf = (f: () => void, n: number): number => {
      f();
      const c = process.cpuUsage();
      for (let i = 0; i < n; i++) f();
      const u = process.cpuUsage(c);
      return (u.user + u.system) / 1000 / n;
    };
    const fwd = cpuOf(() => tf.tidy(() => { lossFn().dataSync(); }), iters);
    let held: Record<string, tf.Tensor> = {};
    const fb = cpuOf(() => {
      const { value, grads } = tf.variableGrads(lossFn, vars);
      value.dataSync();
      value.dispose();
      for (const g of Object.values(held)) g.dispose();
      held = grads;
    }, iters);
    const ad = cpuOf(() => {
      opt.apply(held, 1e-3);
      tf.tidy(() => tf.sum(vars[0]).dataSync());
    }, iters);
    for (const g of Object.values(held)) g.dispose();
    const ov = cpuOf(() => {
      const a = tf.scalar(1);
      for (let i = 0; i < 1000; i++) tf.tidy(() => tf.add(a, a));
      a.dispose();
    }, 3);
    console.log(JSON.stringify({ fwdCpuMs: +fwd.toFixed(1), fwdBwdCpuMs: +fb.toFixed(1), adamCpuMs: +ad.toFixed(1), perKernelOverheadUs: +ov.toFixed(1) }));
  }
  // profile one step
  const prof = await tf.profile(() => {
    step();
  });
  const agg = new Map<string, { ms: number; n: number }>();
  let totalMs = 0;
  for (const k of prof.kernels) {
    const ms = typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
    totalMs += ms;
    const a = agg.get(k.name) ?? { ms: 0, n: 0 };
    a.ms += ms;
    a.n += 1;
    agg.set(k.name, a);
  }
  if (process.argv.includes('--shapes')) {
    const byShape = new Map<string, { ms: number; n: number }>();
    for (const k of prof.kernels) {
      const key = `${k.name} ${JSON.stringify(k.inputShapes)}`;
      const a = byShape.get(key) ?? { ms: 0, n: 0 };
      a.ms += typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
      a.n += 1;
      byShape.set(key, a);
    }
    for (const [key, a] of [...byShape.entries()].sort((x, y) => y[1].ms - x[1].ms).slice(0, 40)) console.log(`${a.ms.toFixed(1).padStart(8)} ms ${String(a.n).padStart(5)}  ${key}`);
  }
  const rows = [...agg.entries()].sort((a, b) => b[1].ms - a[1].ms).slice(0, topK);
  let sum = 0;
  for (const v of vars) sum += tf.tidy(() => tf.sum(tf.abs(v)).dataSync()[0]);
  console.log(JSON.stringify({ backend, B, L, iters, wallMs: +wall.toFixed(1), cpuMs: +cpu.toFixed(1), kernels: prof.kernels.length, kernelMsSum: +totalMs.toFixed(1), leak: n1 - n0, losses: losses.map((x) => +x.toFixed(6)), paramAbsSum: sum }));
  for (const [name, a] of rows) console.log(`${name.padEnd(28)} ${a.ms.toFixed(1).padStart(8)} ms ${String(a.n).padStart(6)}`);
  images.dispose();
  tokens.dispose();
  opt.dispose();
  model.dispose();
}
main().catch((e) => {
  console.error(e);
  process.exit(1);
});
