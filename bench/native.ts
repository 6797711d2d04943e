/**
 * Native CPU path, before/after, in ONE run (the machine is shared: load cancels only within a run).
 *
 *   npx tsx bench/native.ts [--quick] [--out file.json] [--vit-batch N] [--vit-wasm] [--no-vit]
 *
 * 1. The machine's own sgemm peak: the kit's addon on 1024² and 2048² at 1 thread and at all cores, on oneDNN (when
 *    built with it) and on OpenBLAS; tfjs-wasm's 1024² matMul; PyTorch's 1024² matmul (1 and 2 threads).
 * 2. The default training step (pir-small, stage 2, batch 32; bench/lib/train_step.ts) on `wasm` (before),
 *    `native` round 6 (round 5 with the products on oneDNN's dnnl_sgemm; when built with it) at all cores and at 1 thread,
 *    `native` round 5 (round 4 + Add, Sub, Multiply, RealDiv on the heap, AdamW in place; products on OpenBLAS, as in every
 *    round before 6) at all cores (and at 1 thread when the build has no oneDNN),
 *    `native` round 4 (round 3 + Sum over adjacent axes, Tile, AvgPoolGrad, Slice, SplitV in place; the round-5 kernels put back),
 *    `native` round 3 (round 2 + the fused attention, linear gradient, dropout mask and global norm; the round-4 kernels put back),
 *    `native` round 2 (products + the fused AdamW / GELU / LayerNorm kernels + BatchNorm; the round-3 kernels unregistered)
 *    and `native` round 1 (products only: the fused kernels unregistered, wasm's own FusedBatchNorm), steps interleaved on one model (see trainInterleaved);
 *    its GEMM+conv FLOPs counted from a tf.profile of one step (bench/lib/flops.ts) and the achieved GFLOP/s.
 * 3. PyTorch's same step (bench/torch_reference.py) at 2 and 1 threads, just before and just after the kit's steps (the
 *    machine's speed drifts over minutes); the kit's step is compared with PyTorch's best of the four.
 * 4. PriorCLIP ViT-B/32 image encoding (224 px) on `native` round 6 (when built with oneDNN), round 1, 2, 3, 4 and 5 (and `wasm` with --vit-wasm, slow),
 *    batches interleaved on one model, and in
 *    PyTorch (bench/torch_vitb32_encode.py) at the SAME batch, 1 and 2 threads; the torch model's state_dict
 *    keys and shapes are checked against the kit's image side.
 * Load average at start and end. Writes bench/results/native-<date>.json (atomic) and prints a table.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawnSync } from 'child_process';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backends/backend';
import {
  loadNativeAddon, GemmLibrary, parseGemmBuilds, setNativeThreads, defaultNativeThreads, registerNativeKernels, unregisterFusedKernels, restorePreviousKernel, NativeAddon,
  KIT_ATTENTION, KIT_ATTENTION_GRAD, KIT_LINEAR_GRAD, KIT_DROPOUT_MASK, KIT_GLOBAL_NORM, ROUND4_KERNELS, ROUND5_KERNELS, setAdamWInPlace,
} from '../src/backends/native_kernels';
import { SeedStream } from '../src/utils/random';
import { atomicWriteJson, projectRoot } from '../src/utils/fs';
import { createModel, loadModelPreset } from '../src/models/factory';
import { torchShape } from '../src/models/params';
import { STAGE2_BATCH, STAGE2_OPTIM, buildStage2Step, randomBatch } from './lib/train_step';
import { TORCH_ENV, TORCH_PYTHON, runTorchReference } from './lib/torch_ref';
import { countFlops, ProfiledKernel } from './lib/flops';

interface Opts {
  quick: boolean;
  out: string | null;
  vitBatch: number;
  vitWasm: boolean;
  vit: boolean;
}

function parse(argv: string[]): Opts {
  const o: Opts = { quick: false, out: null, vitBatch: 4, vitWasm: false, vit: true };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--quick') o.quick = true;
    else if (a === '--out') o.out = argv[++i];
    else if (a === '--vit-batch') o.vitBatch = Number(argv[++i]);
    else if (a === '--vit-wasm') o.vitWasm = true;
    else if (a === '--no-vit') o.vit = false;
    else throw new Error(`bench/native.ts: unknown argument '${a}' (use --quick, --out <file>, --vit-batch <n>, --vit-wasm, --no-vit)`);
  }
  if (!Number.isInteger(o.vitBatch) || o.vitBatch < 1) throw new Error(`bench/native.ts: --vit-batch must be a positive integer`);
  return o;
}

function nowMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

function log(msg: string): void {
  process.stderr.write(`[native-bench] ${msg}\n`);
}

/** Median ms of `fn` after `warmup` calls. */
function timeMs(fn: () => void, iters: number, warmup: number): { medianMs: number; minMs: number; n: number } {
  for (let i = 0; i < warmup; i++) fn();
  const ms: number[] = [];
  for (let i = 0; i < iters; i++) {
    const t = nowMs();
    fn();
    ms.push(nowMs() - t);
  }
  return { medianMs: median(ms), minMs: Math.min(...ms), n: ms.length };
}

function torchMatmulGflops(n: number, threads: number): number | null {
  const code = `import torch,time\ntorch.set_num_threads(${threads})\na=torch.randn(${n},${n});b=torch.randn(${n},${n})\nfor _ in range(3): a@b\nts=[]\nfor _ in range(10):\n t=time.perf_counter();a@b;ts.append(time.perf_counter()-t)\nts.sort();print(2*${n}**3/ts[5]/1e9)`;
  const r = spawnSync(TORCH_PYTHON, ['-c', code], { encoding: 'utf8', env: { ...process.env, ...TORCH_ENV }, timeout: 120_000 });
  const v = Number((r.stdout ?? '').trim());
  return r.status === 0 && Number.isFinite(v) ? v : null;
}

interface StepResult {
  backend: string;
  threads: number | null;
  /** Native only: the kit's fused kernels on (round 2 or 3) or off (round 1: products only). */
  fused: boolean | null;
  /** Native only: 1 products only, 2 + AdamW/GELU/LayerNorm/BatchNorm, 3 + attention/linear gradient/dropout mask/global norm, 4 + Sum/Tile/AvgPoolGrad/Slice/SplitV, 5 + Add/Sub/Multiply/RealDiv and the in-place AdamW. */
  round: Round | null;
  medianMs: number;
  minMs: number;
  steps: number;
  pairsPerSec: number;
  flops: number;
  gflops: number;
  flopsByKernel: Record<string, number>;
  kernelCalls: number;
  losses: number[];
}

/**
 * The three paths share ONE model and optimiser (the kit backends 'wasm' and 'native' are both the tfjs
 * wasm backend; only the registered kernels differ), and the timed steps are interleaved — wasm, native ×
 * all cores, native × 1, wasm, … — so that a load change on this shared machine hits all three alike.
 */
type Round = 1 | 2 | 3 | 4 | 5 | 6;
type Mode = { backend: 'wasm' | 'native'; threads: number | null; round: Round | null };

/** Wait after an OpenBLAS mode before a oneDNN one: OpenBLAS's THREAD_TIMEOUT (2²⁸ cycles) with a margin. */
const OPENBLAS_SPIN_WAIT_MS = 200;

/** The kernels round 3 added (unregistered for the round-2 mode). */
const ROUND3_KERNELS = [KIT_ATTENTION, KIT_ATTENTION_GRAD, KIT_LINEAR_GRAD, KIT_DROPOUT_MASK, KIT_GLOBAL_NORM];

/** Select a mode: the backend, the thread count, and (native) whether the fused kernels are registered. */
async function useMode(m: Mode, addon: NativeAddon): Promise<void> {
  await initBackend(m.backend, { quiet: true });
  if (m.threads !== null) setNativeThreads(m.threads);
  if (m.round === null) return;
  // round 6: round 5's kernels with the products on oneDNN's dnnl_sgemm; rounds 1–5 ran them on OpenBLAS
  const gemm = m.round === 6 ? 'onednn' : 'openblas';
  if (gemm === 'onednn' && addon.gemmLibrary() === 'openblas') {
    // OpenBLAS's idle threads spin for 2²⁸ cycles (~0.1 s) after a product before they sleep, and would take the
    // second core from oneDNN's threads in the interleaved step that follows: let them fall asleep first
    await new Promise((r) => setTimeout(r, OPENBLAS_SPIN_WAIT_MS));
  }
  addon.setGemm(gemm);
  registerNativeKernels(addon); // idempotent: puts every native kernel back
  if (m.round === 1) {
    // round 1: the products only (no fused kernels, wasm's own FusedBatchNorm)
    unregisterFusedKernels();
    restorePreviousKernel('FusedBatchNorm');
  }
  if (m.round === 2) for (const k of ROUND3_KERNELS) if (tf.getKernel(k, 'wasm')) tf.unregisterKernel(k, 'wasm');
  // rounds 1–3: the kernels that round 4 replaced are back (im2col's rewrite is inside Conv2D: not switchable)
  if (m.round <= 3) for (const k of ROUND4_KERNELS) restorePreviousKernel(k);
  // rounds 1–4: the element-wise kernels round 5 replaced are back and AdamW is one KitAdamW launch again (the
  // softmax and dropout loops are inside kernels: not switchable)
  if (m.round <= 4) for (const k of ROUND5_KERNELS) restorePreviousKernel(k);
  setAdamWInPlace(m.round >= 5);
}

/** Row label of a mode. */
function modeLabel(m: { backend: string; round: Round | null }): string {
  if (m.backend === 'wasm') return 'wasm';
  if (m.round === 6) return 'native round 6 (round 5, products on oneDNN)';
  if (m.round === 5) return 'native round 5 (round 4 + Add, Sub, Multiply, RealDiv, AdamW in place)';
  if (m.round === 4) return 'native round 4 (round 3 + Sum, Tile, AvgPoolGrad, Slice, SplitV)';
  if (m.round === 3) return 'native round 3 (round 2 + fused attention, linear gradient, dropout mask, global norm)';
  return `native ${m.round === 2 ? 'round 2 (products + fused AdamW/GELU/LayerNorm, BatchNorm)' : 'round 1 (products only)'}`;
}

/** The round the kit ships: 6 (oneDNN products) when the build has oneDNN, else 5. */
function shippedRound(addon: NativeAddon): Round {
  return parseGemmBuilds(addon.gemmBuilds()).some((b) => b.library === 'onednn') ? 6 : 5;
}

async function trainInterleaved(o: Opts, cores: number, addon: NativeAddon): Promise<StepResult[]> {
  // index 1 = the native path as shipped (all cores); then it at 1 thread, the earlier rounds, and round 1 last
  const shipped = shippedRound(addon);
  const modes: Mode[] = [{ backend: 'wasm', threads: null, round: null }, { backend: 'native', threads: cores, round: shipped }];
  if (cores > 1) modes.push({ backend: 'native', threads: 1, round: shipped });
  if (shipped === 6) modes.push({ backend: 'native', threads: cores, round: 5 });
  modes.push({ backend: 'native', threads: cores, round: 4 });
  modes.push({ backend: 'native', threads: cores, round: 3 });
  modes.push({ backend: 'native', threads: cores, round: 2 });
  modes.push({ backend: 'native', threads: cores, round: 1 });
  const use = (m: Mode): Promise<void> => useMode(m, addon);
  await initBackend('native', { quiet: true });
  const st = buildStage2Step(loadModelPreset('pir-small'), STAGE2_BATCH, new SeedStream(20240517).child('train'));
  try {
    const warm = o.quick ? 2 : 3;
    const steps = o.quick ? 8 : 20;
    const ms = modes.map(() => [] as number[]);
    const losses = modes.map(() => [] as number[]);
    for (let i = 0; i < warm + steps; i++) {
      for (const [k, m] of modes.entries()) {
        await use(m);
        const t = nowMs();
        const l = (await st.step()).loss;
        if (i >= warm) ms[k].push(nowMs() - t);
        losses[k].push(l);
      }
    }
    await use(modes[1]);
    const prof = await tf.profile(async () => {
      await st.step();
    });
    const kernels = prof.kernels as unknown as ProfiledKernel[];
    const f = countFlops(kernels);
    return modes.map((m, k) => {
      const med = median(ms[k]);
      return {
        backend: m.backend, threads: m.threads, fused: m.round === null ? null : m.round > 1, round: m.round, medianMs: med, minMs: Math.min(...ms[k]), steps, pairsPerSec: (STAGE2_BATCH * 1000) / med,
        flops: f.total, gflops: f.total / (med * 1e6), flopsByKernel: f.byKernel, kernelCalls: kernels.length, losses: losses[k],
      };
    });
  } finally {
    st.dispose();
    await initBackend('native', { quiet: true });
    setNativeThreads(defaultNativeThreads());
  }
}

interface VitResult {
  backend: string;
  batch: number;
  medianS: number;
  imagesPerSec: number;
}

/**
 * PriorCLIP ViT-B/32 `encodeImage` on each of `modes` (one model; batches interleaved mode by mode, as the
 * training step is, so a load change hits every mode alike): images/s per mode and the image side's torch shapes.
 */
async function kitVit(modes: Mode[], batch: number, iters: number, addon: NativeAddon): Promise<{ r: VitResult[]; keys: Record<string, number[]> }> {
  await useMode(modes[0], addon);
  const cfg = loadModelPreset('priorclip-vit-b-32');
  const model = createModel(cfg, new SeedStream(7).child('vit'));
  const { images, tokens } = randomBatch(cfg, batch, new SeedStream(8));
  try {
    const ms = modes.map(() => [] as number[]);
    for (let i = 0; i < iters + 1; i++) {
      for (const [k, m] of modes.entries()) {
        await useMode(m, addon);
        const t = nowMs();
        tf.tidy(() => {
          model.encodeImage(images).dataSync();
        });
        if (i > 0) ms[k].push(nowMs() - t); // the first round warms up
      }
    }
    const keys: Record<string, number[]> = {};
    for (const e of model.params.list()) {
      if (/^(visual|res_visual|vision_proj_res)\./.test(e.key)) keys[e.key] = torchShape(e.variable.shape, e.layout);
    }
    const r = modes.map((m, k) => {
      const med = median(ms[k]);
      return { backend: modeLabel(m), batch, medianS: med / 1000, imagesPerSec: (batch * 1000) / med };
    });
    return { r, keys };
  } finally {
    tf.dispose([images, tokens]);
    model.dispose();
  }
}

function torchVit(batch: number, iters: number, threads: number): { ok: true; imagesPerSec: number; medianS: number; keys: Record<string, number[]>; params: number } | { ok: false; why: string } {
  const script = path.join(projectRoot(), 'bench', 'torch_vitb32_encode.py');
  const r = spawnSync(TORCH_PYTHON, [script, '--batch', String(batch), '--iters', String(iters), '--threads', String(threads)], {
    encoding: 'utf8', env: { ...process.env, ...TORCH_ENV }, timeout: 20 * 60_000, maxBuffer: 64 * 1024 * 1024,
  });
  if (r.status !== 0) return { ok: false, why: `torch_vitb32_encode.py exited ${r.status}: ${(r.stderr ?? r.error?.message ?? '').trim().split('\n').slice(-2).join(' | ')}` };
  const line = (r.stdout ?? '').trim().split('\n').filter((l) => l.startsWith('{')).pop();
  if (!line) return { ok: false, why: 'torch_vitb32_encode.py printed no JSON' };
  const j = JSON.parse(line) as { imagesPerSec: number; secondsMedian: number; keys: Record<string, number[]>; params: number };
  return { ok: true, imagesPerSec: j.imagesPerSec, medianS: j.secondsMedian, keys: j.keys, params: j.params };
}

function compareKeys(kit: Record<string, number[]>, torch: Record<string, number[]>): { same: number; onlyKit: string[]; onlyTorch: string[]; shapeDiffers: string[] } {
  const onlyKit = Object.keys(kit).filter((k) => !(k in torch));
  const onlyTorch = Object.keys(torch).filter((k) => !(k in kit));
  const shapeDiffers = Object.keys(kit).filter((k) => k in torch && JSON.stringify(kit[k]) !== JSON.stringify(torch[k]));
  return { same: Object.keys(kit).length - onlyKit.length - shapeDiffers.length, onlyKit, onlyTorch, shapeDiffers };
}

async function main(): Promise<void> {
  const o = parse(process.argv.slice(2));
  const t0 = nowMs();
  const cores = os.cpus().length;
  const loadStart = os.loadavg();
  const res: Record<string, unknown> = { schema: 'priorclip-kit-native-bench/1', date: new Date().toISOString(), mode: o.quick ? 'quick' : 'full', cores, cpuModel: os.cpus()[0]?.model, node: process.version, loadavgStart: loadStart };
  const rows: [string, string, string][] = [];

  // 1. sgemm peak.
  const loaded = loadNativeAddon();
  if ('reason' in loaded) throw new Error(`bench/native.ts needs the native build: ${loaded.reason}`);
  const addon = loaded.addon;
  const peak: { n: number; threads: number; gemm: GemmLibrary; gflops: number }[] = [];
  const gemms: GemmLibrary[] = shippedRound(addon) === 6 ? ['onednn', 'openblas'] : ['openblas'];
  for (const gemm of gemms) {
    addon.setGemm(gemm);
    for (const n of [1024, 2048]) {
      const a = new Float32Array(n * n).map((_, i) => ((i * 7919) % 1000) / 1000 - 0.5);
      const b = a.slice();
      const c = new Float32Array(n * n);
      for (const th of [1, cores]) {
        addon.setThreads(th);
        const t = timeMs(() => addon.sgemmBatched(a, b, c, 1, n, n, n, 0, 0, 0, 0, 0, 0), n === 1024 ? 10 : 4, 2);
        peak.push({ n, threads: th, gemm, gflops: (2 * n ** 3) / (t.medianMs * 1e6) });
      }
    }
  }
  addon.setGemm(gemms[0]);
  addon.setThreads(defaultNativeThreads());
  const peakBest = Math.max(...peak.map((p) => p.gflops));
  await initBackend('wasm', { quiet: true });
  const wa = tf.randomNormal([1024, 1024], 0, 1, 'float32', 1);
  const wb = tf.randomNormal([1024, 1024], 0, 1, 'float32', 2);
  const wt = timeMs(() => tf.tidy(() => {
    tf.matMul(wa, wb).dataSync(); // [1024, 1024]·[1024, 1024]
  }), 4, 1);
  tf.dispose([wa, wb]);
  const wasmGflops = (2 * 1024 ** 3) / (wt.medianMs * 1e6);
  const torchMm = { t1: torchMatmulGflops(1024, 1), t2: torchMatmulGflops(1024, Math.min(2, cores)) };
  res.sgemm = { native: peak, wasm1024: wasmGflops, torch1024: torchMm, blas: addon.blasConfig(), gemmBuilds: addon.gemmBuilds() };
  log(`sgemm peak ${peakBest.toFixed(0)} GFLOP/s (native), wasm ${wasmGflops.toFixed(0)}, torch ${torchMm.t1?.toFixed(0)} / ${torchMm.t2?.toFixed(0)}`);
  for (const p of peak) rows.push([`sgemm ${p.n}² native ${p.gemm === 'onednn' ? 'oneDNN' : 'OpenBLAS'}, ${p.threads} thread(s)`, `${p.gflops.toFixed(1)} GFLOP/s`, p.gemm === 'onednn' ? `oneDNN ${parseGemmBuilds(addon.gemmBuilds()).find((b) => b.library === 'onednn')?.version ?? '?'} via the kit addon` : `OpenBLAS (${addon.blasConfig().replace(/^.*; core /, 'core ')}) via the kit addon`]);
  rows.push(['matMul 1024² wasm (before)', `${wasmGflops.toFixed(1)} GFLOP/s`, 'tfjs-backend-wasm, 1 thread']);
  rows.push(['matmul 1024² PyTorch 1 / 2 threads', `${torchMm.t1?.toFixed(1) ?? '—'} / ${torchMm.t2?.toFixed(1) ?? '—'} GFLOP/s`, '']);

  // 2 and 3. the training step: PyTorch's (1 and 2 threads) just before AND just after the kit's interleaved steps,
  // since this machine's speed drifts over minutes; the kit is compared with PyTorch's best of the four.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pck-native-bench-'));
  try {
    await initBackend('native', { quiet: true });
    const st = buildStage2Step(loadModelPreset('pir-small'), STAGE2_BATCH, new SeedStream(20240517).child('train'));
    const cfgFile = path.join(dir, 'torch_config.json');
    atomicWriteJson(cfgFile, {
      model: loadModelPreset('pir-small'), batchSize: st.batchSize, steps: o.quick ? 8 : 20, warmup: o.quick ? 2 : 3,
      threads: Math.min(2, cores), imageIds: st.imageIds, labels: st.labels, loss: st.loss, optimizer: STAGE2_OPTIM, params: st.params, seed: 0,
    });
    st.dispose();
    const torchRun = (): { twoThreads: number | null; oneThread: number | null; skipped: string | null } => {
      const t2 = runTorchReference(cfgFile);
      const t1 = runTorchReference(cfgFile, 1);
      return { twoThreads: t2.ok ? t2.result.stepMsMedian : null, oneThread: t1.ok ? t1.result.stepMsMedian : null, skipped: t2.ok ? null : t2.skipped };
    };
    const torchBefore = torchRun();
    log(`PyTorch step before the kit's: ${torchBefore.twoThreads?.toFixed(1) ?? '—'} / ${torchBefore.oneThread?.toFixed(1) ?? '—'} ms (2 / 1 threads)`);

    const steps = await trainInterleaved(o, cores, addon);
    const r1 = steps[steps.length - 1];
    const r2 = steps[steps.length - 2];
    const r3 = steps[steps.length - 3];
    const r4 = steps[steps.length - 4];
    const oneThread = cores > 1 ? steps[2] : null;
    const r5 = steps.find((x) => x.round === 5 && x.threads === cores) ?? steps[1];
    const shipped = steps[1].round ?? 5;
    for (const st2 of steps) log(`step ${modeLabel(st2)}${st2.threads ? ` × ${st2.threads}` : ''}: ${st2.medianMs.toFixed(1)} ms`);
    res.train = { config: 'pir-small', stage: 2, batch: STAGE2_BATCH, interleaved: true, steps };
    for (const s2 of steps) {
      rows.push([`train step ${modeLabel(s2)}${s2.threads ? `, ${s2.threads} thread(s)` : ''} (B${STAGE2_BATCH})`, `${s2.medianMs.toFixed(1)} ms`, `min ${s2.minMs.toFixed(1)}, ${s2.pairsPerSec.toFixed(1)} pairs/s, ${s2.gflops.toFixed(1)} GFLOP/s (${((100 * s2.gflops) / peakBest).toFixed(1)} % of sgemm peak)`]);
    }
    rows.push(['step GEMM+conv FLOPs', `${(steps[1].flops / 1e9).toFixed(2)} GFLOP`, `${steps[1].kernelCalls} kernel calls; ` + Object.entries(steps[1].flopsByKernel).map(([k, v]) => `${k} ${(v / 1e9).toFixed(2)}`).join(', ')]);

    const torchAfter = torchRun();
    const all = [torchBefore.twoThreads, torchBefore.oneThread, torchAfter.twoThreads, torchAfter.oneThread].filter((x): x is number => x !== null);
    const best = all.length > 0 ? Math.min(...all) : Infinity;
    // twoThreads / oneThread: the better of before and after (the fields earlier result files have)
    const better = (a: number | null, b2: number | null): number | null => (a === null ? b2 : b2 === null ? a : Math.min(a, b2));
    const torch = { twoThreads: better(torchBefore.twoThreads, torchAfter.twoThreads), oneThread: better(torchBefore.oneThread, torchAfter.oneThread), skipped: torchBefore.skipped ?? torchAfter.skipped, before: torchBefore, after: torchAfter };
    res.torchStep = torch;
    rows.push(['PyTorch step 2 / 1 threads, before → after the kit\'s', `${torchBefore.twoThreads?.toFixed(1) ?? '—'} / ${torchBefore.oneThread?.toFixed(1) ?? '—'} → ${torchAfter.twoThreads?.toFixed(1) ?? '—'} / ${torchAfter.oneThread?.toFixed(1) ?? '—'} ms`, torch.skipped ?? 'OMP_WAIT_POLICY=PASSIVE; the kit is compared with the best of the four']);
    if (Number.isFinite(best)) {
      const chain = shipped === 6 ? [steps[0], r1, r2, r3, r4, r5, steps[1]] : [steps[0], r1, r2, r3, r4, steps[1]];
      rows.push([`kit / PyTorch best step time: wasm → native round 1 → … → ${shipped}`, chain.map((x) => `${(x.medianMs / best).toFixed(2)}×`).join(' → '), `round ${shipped} at 1 thread: ${oneThread ? (oneThread.medianMs / best).toFixed(2) + '×' : '—'}`]);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }

  // 4. ViT-B/32 encoding at the same batch.
  if (o.vit) {
    const iters = o.quick ? 2 : 3;
    const shipped = shippedRound(addon);
    const nativeS: Mode = { backend: 'native', threads: defaultNativeThreads(), round: shipped };
    const vitModes: Mode[] = [nativeS, { ...nativeS, round: 1 }, { ...nativeS, round: 2 }, { ...nativeS, round: 3 }, { ...nativeS, round: 4 }];
    if (shipped === 6) vitModes.push({ ...nativeS, round: 5 });
    if (o.vitWasm) vitModes.push({ backend: 'wasm', threads: null, round: null });
    const vitRes = await kitVit(vitModes, o.vitBatch, iters, addon);
    await useMode(nativeS, addon);
    const kitN = { r: vitRes.r[0], keys: vitRes.keys };
    const kitN1 = { r: vitRes.r[1] };
    const kitN2 = { r: vitRes.r[2] };
    const kitN3 = { r: vitRes.r[3] };
    const kitN4 = { r: vitRes.r[4] };
    const kitN5 = shipped === 6 ? { r: vitRes.r[5] } : null;
    const kitW = o.vitWasm ? { r: vitRes.r[vitRes.r.length - 1] } : null;
    log(`vit native round ${shipped} / round 1 / round 2 / round 3 / round 4${kitN5 ? ' / round 5' : ''}${kitW ? ' / wasm' : ''}: ${vitRes.r.map((x) => x.imagesPerSec.toFixed(2)).join(' / ')} images/s`);
    const tv2 = torchVit(o.vitBatch, iters, Math.min(2, cores));
    const tv1 = torchVit(o.vitBatch, iters, 1);
    const keys = tv2.ok ? compareKeys(kitN.keys, tv2.keys) : null;
    res.vit = { batch: o.vitBatch, kitNativeRound: shipped, kitNative: kitN.r, kitNativeRound5: kitN5?.r ?? null, kitNativeRound1: kitN1.r, kitNativeRound2: kitN2.r, kitNativeRound3: kitN3.r, kitNativeRound4: kitN4.r, kitWasm: kitW?.r ?? null, torch2: tv2, torch1: tv1, keys: keys && { ...keys, torchParams: tv2.ok ? tv2.params : null } };
    if (tv2.ok) delete (tv2 as { keys?: unknown }).keys;
    if (tv1.ok) delete (tv1 as { keys?: unknown }).keys;
    rows.push([`ViT-B/32 encodeImage native round ${shipped} (B${o.vitBatch})`, `${kitN.r.imagesPerSec.toFixed(2)} images/s`, `${kitN.r.medianS.toFixed(2)} s per batch`]);
    if (kitN5) rows.push([`ViT-B/32 encodeImage native round 5 (B${o.vitBatch})`, `${kitN5.r.imagesPerSec.toFixed(2)} images/s`, `${kitN5.r.medianS.toFixed(2)} s per batch`]);
    rows.push([`ViT-B/32 encodeImage native round 4 (B${o.vitBatch})`, `${kitN4.r.imagesPerSec.toFixed(2)} images/s`, `${kitN4.r.medianS.toFixed(2)} s per batch`]);
    rows.push([`ViT-B/32 encodeImage native round 3 (B${o.vitBatch})`, `${kitN3.r.imagesPerSec.toFixed(2)} images/s`, `${kitN3.r.medianS.toFixed(2)} s per batch`]);
    rows.push([`ViT-B/32 encodeImage native round 2 (B${o.vitBatch})`, `${kitN2.r.imagesPerSec.toFixed(2)} images/s`, `${kitN2.r.medianS.toFixed(2)} s per batch`]);
    rows.push([`ViT-B/32 encodeImage native round 1 (B${o.vitBatch})`, `${kitN1.r.imagesPerSec.toFixed(2)} images/s`, `${kitN1.r.medianS.toFixed(2)} s per batch`]);
    if (kitW) rows.push([`ViT-B/32 encodeImage wasm (B${o.vitBatch})`, `${kitW.r.imagesPerSec.toFixed(2)} images/s`, `${kitW.r.medianS.toFixed(2)} s per batch`]);
    rows.push([`ViT-B/32 PyTorch 2 / 1 threads (B${o.vitBatch})`, `${tv2.ok ? tv2.imagesPerSec.toFixed(2) : '—'} / ${tv1.ok ? tv1.imagesPerSec.toFixed(2) : '—'} images/s`, tv2.ok ? '' : tv2.why]);
    if (keys) rows.push(['ViT-B/32 torch model = kit image side', `${keys.same} keys same shape`, `only kit ${keys.onlyKit.length}, only torch ${keys.onlyTorch.length}, shape differs ${keys.shapeDiffers.length}`]);
    if (tv2.ok && tv1.ok) rows.push(['kit native / PyTorch best throughput', `${(kitN.r.imagesPerSec / Math.max(tv2.imagesPerSec, tv1.imagesPerSec)).toFixed(2)}×`, '']);
  }

  res.loadavgEnd = os.loadavg();
  res.seconds = (nowMs() - t0) / 1000;
  rows.unshift(['load average (1 min) start → end', `${loadStart[0].toFixed(2)} → ${(res.loadavgEnd as number[])[0].toFixed(2)}`, `${cores} cores`]);
  const file = o.out ? path.resolve(o.out) : path.join(projectRoot(), 'bench', 'results', `native-${String(res.date).slice(0, 10)}.json`);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  atomicWriteJson(file, res);
  const w0 = Math.max(...rows.map((r) => r[0].length));
  const w1 = Math.max(...rows.map((r) => r[1].length));
  console.log(`| ${'what'.padEnd(w0)} | ${'value'.padStart(w1)} | note |\n|${'-'.repeat(w0 + 2)}|${'-'.repeat(w1 + 2)}|---|`);
  for (const r of rows) console.log(`| ${r[0].padEnd(w0)} | ${r[1].padStart(w1)} | ${r[2]} |`);
  console.log(`wrote ${file} (${(res.seconds as number).toFixed(0)} s)`);
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.stack ?? e.message : String(e));
  process.exitCode = 1;
});
