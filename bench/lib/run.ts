/**
 * The kit benchmark (`npm run bench`, bench/bench.ts is the command line). Every section is a
 * function of the options; `runBench` returns the JSON document and writes it atomically.
 *
 * Sections (names for `--only`): matmul, train, profile, torch, encode, vit, eval, eval10k, data.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backends/backend';
import { SeedStream } from '../../src/utils/random';
import { atomicWriteJson, projectRoot } from '../../src/utils/fs';
import { createModel, loadModelPreset } from '../../src/models/factory';
import { ModelConfig } from '../../src/models/model';
import { retrievalMetrics } from '../../src/evaluation/retrieval_metrics';
import { generateEmbeddedDataset } from '../../src/data/embedded/generate';
import { DEFAULT_EMBEDDED_DATA } from '../../src/data/embedded/config';
import { measureLoaderThroughput } from '../../src/data/batches';
import { PIR_AUGMENT } from '../../src/data/augment';
import { STAGE2_BATCH, STAGE2_OPTIM, StepPhases, buildStage2Step, randomBatch } from './train_step';
import { TORCH_ENV, TorchOutcome, TorchResult, runTorchReference } from './torch_ref';

export const SECTIONS = ['matmul', 'train', 'profile', 'torch', 'encode', 'vit', 'eval', 'eval10k', 'data'] as const;
export type Section = (typeof SECTIONS)[number];

/** Bench options (bench.ts parses them from the command line). */
export interface BenchOptions {
  /** 'full' (default), 'quick' (fewer iterations, no 10k×50k), 'tiny' (smoke test: no ViT-B/32, no 10k×50k, 2 steps). */
  mode: 'full' | 'quick' | 'tiny';
  /** Sections to run (default all the mode allows). */
  only: Section[] | null;
  /** Output file; default bench/results/bench-<date>.json plus bench/results/latest.json. */
  out: string | null;
  /** Backend (default wasm, the kit's fastest here). */
  backend: string;
  /** Print progress lines and the table (default true). */
  verbose: boolean;
}

/** Iteration counts per mode. */
interface Plan {
  trainWarmup: number;
  trainSteps: number;
  trainBatch: number;
  encodeIters: number;
  vitBatch: number;
  vitIters: number;
  matmulIters: number;
  torchSteps: number;
  torchWarmup: number;
  dataImagesPerClass: number;
  loaderImages: number;
  eval10k: boolean;
  vit: boolean;
}

const PLANS: Record<BenchOptions['mode'], Plan> = {
  full: { trainWarmup: 3, trainSteps: 20, trainBatch: STAGE2_BATCH, encodeIters: 10, vitBatch: 4, vitIters: 3, matmulIters: 20, torchSteps: 20, torchWarmup: 3, dataImagesPerClass: DEFAULT_EMBEDDED_DATA.imagesPerClass, loaderImages: 200, eval10k: true, vit: true },
  quick: { trainWarmup: 2, trainSteps: 8, trainBatch: STAGE2_BATCH, encodeIters: 4, vitBatch: 2, vitIters: 2, matmulIters: 10, torchSteps: 8, torchWarmup: 2, dataImagesPerClass: 10, loaderImages: 100, eval10k: false, vit: true },
  tiny: { trainWarmup: 1, trainSteps: 2, trainBatch: 8, encodeIters: 1, vitBatch: 1, vitIters: 1, matmulIters: 3, torchSteps: 2, torchWarmup: 1, dataImagesPerClass: 2, loaderImages: 18, eval10k: false, vit: false },
};

/** Timing summary in milliseconds. */
export interface Timing {
  n: number;
  meanMs: number;
  medianMs: number;
  minMs: number;
  maxMs: number;
}

export function summarise(ms: number[]): Timing {
  const s = [...ms].sort((a, b) => a - b);
  const n = s.length;
  const median = n === 0 ? NaN : n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
  return { n, meanMs: n ? s.reduce((a, b) => a + b, 0) / n : NaN, medianMs: median, minMs: n ? s[0] : NaN, maxMs: n ? s[n - 1] : NaN };
}

function nowMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/** Time `fn` `iters` times after `warmup` calls. */
function timeIt(fn: () => void, iters: number, warmup: number): Timing {
  for (let i = 0; i < warmup; i++) fn();
  const ms: number[] = [];
  for (let i = 0; i < iters; i++) {
    const t0 = nowMs();
    fn();
    ms.push(nowMs() - t0);
  }
  return summarise(ms);
}

function peakRssMb(): number {
  return process.resourceUsage().maxRSS / 1024; // maxRSS is in KiB
}

/** The JSON document. */
export interface BenchResult {
  schema: 'priorclip-kit-bench/1';
  date: string;
  mode: BenchOptions['mode'];
  sections: Section[];
  machine: { cpus: number; cpuModel: string; totalMemGb: number; node: string; platform: string; loadavgStart: number[]; loadavgEnd: number[] };
  backend: { name: string; tfjsBackend: string; packageName: string; version: string; kitKernels: string[]; summary: string };
  matmul?: { size: number; timing: Timing; gflops: number }[];
  train?: {
    config: string;
    stage: 2;
    batchSize: number;
    warmup: number;
    timing: Timing;
    pairsPerSec: number;
    losses: number[];
    tensorsPerStep: number;
    numTensorsAfter: number;
    /** Median wall ms of each part of a step, and of a forward-only pass (training mode). */
    phases: { forwardMs: number; gradsMs: number; clipMs: number; adamwMs: number };
    params: { total: number; trainable: number };
    optimizer: typeof STAGE2_OPTIM;
  };
  profile?: {
    /** Sum over kernels, without the nested 'unnamed scope' entries (tf.customGrad ops). */
    totalKernelMs: number;
    wallMs: number;
    kernels: { name: string; ms: number; calls: number; share: number }[];
    /** The same grouped by kernel name + input shapes (top 25): which matmul / conv costs. */
    byShape: { name: string; shapes: string; ms: number; calls: number }[];
  };
  torch?:
    | {
        ok: true;
        /** The reference at `threads` (2) threads, as asked: the headline ratio. */
        result: TorchResult;
        seconds: number;
        env: Record<string, string>;
        kitOverTorchStepTime: number;
        kitPairsPerSecOverTorch: number;
        /** The same at 1 thread (the kit's wasm backend is single-threaded in Node): per-core ratio. */
        oneThread: { ok: true; stepMsMedian: number; pairsPerSec: number; kitOverTorchStepTime: number } | { ok: false; skipped: string };
      }
    | { ok: false; skipped: string };
  encode?: { config: string; imageSize: number; batchSize: number; image: Timing; text: Timing; imagesPerSec: number; textsPerSec: number; buildSeconds: number; skipped?: string }[];
  eval?: { name: string; images: number; texts: number; dim: number; seconds: number; mR: number }[];
  data?: {
    generate: { images: number; imagesPerClass: number; seconds: number; imagesPerSec: number };
    loader: { images: number; size: number; decodePerSec: number; evalPerSec: number; trainPerSec: number; cachedTrainPerSec: number };
  };
  peakRssMb: number;
  totalSeconds: number;
  notes: string[];
}

function log(opts: BenchOptions, msg: string): void {
  if (opts.verbose) process.stderr.write(`[bench] ${msg}\n`);
}

function defaultSmallConfig(): ModelConfig {
  return loadModelPreset('pir-small');
}

/** Random L2-normalised rows `[n, d]`. */
function randomUnitRows(seeds: SeedStream, n: number, d: number): Float32Array {
  const v = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    let ss = 0;
    for (let j = 0; j < d; j++) {
      const x = seeds.normal();
      v[i * d + j] = x;
      ss += x * x;
    }
    const inv = 1 / Math.sqrt(ss);
    for (let j = 0; j < d; j++) v[i * d + j] *= inv;
  }
  return v;
}

/** tf.profile's name for a tf.customGrad op; its time includes its inner kernels (listed separately). */
export const NESTED_SCOPE = 'unnamed scope';

/** Aggregate tf.profile kernels by name. */
export function aggregateKernels(kernels: { name: string; kernelTimeMs: unknown }[]): { name: string; ms: number; calls: number }[] {
  const by = new Map<string, { ms: number; calls: number }>();
  for (const k of kernels) {
    const ms = typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
    const e = by.get(k.name) ?? { ms: 0, calls: 0 };
    e.ms += ms;
    e.calls += 1;
    by.set(k.name, e);
  }
  return [...by.entries()].map(([name, e]) => ({ name, ...e })).sort((a, b) => b.ms - a.ms);
}

/** Aggregate tf.profile kernels by name and input shapes. */
export function aggregateByShape(kernels: { name: string; kernelTimeMs: unknown; inputShapes?: number[][] }[]): { name: string; shapes: string; ms: number; calls: number }[] {
  const by = new Map<string, { name: string; shapes: string; ms: number; calls: number }>();
  for (const k of kernels) {
    const shapes = (k.inputShapes ?? []).map((s) => `[${s ? s.join(',') : ''}]`).join(' ');
    const key = `${k.name} ${shapes}`;
    const e = by.get(key) ?? { name: k.name, shapes, ms: 0, calls: 0 };
    e.ms += typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
    e.calls += 1;
    by.set(key, e);
  }
  return [...by.values()].sort((a, b) => b.ms - a.ms);
}

/** Run the benchmark. */
export async function runBench(opts: BenchOptions): Promise<{ result: BenchResult; files: string[] }> {
  const t0 = nowMs();
  const plan = PLANS[opts.mode];
  const allowed = SECTIONS.filter((s) => (s === 'eval10k' ? plan.eval10k : s === 'vit' ? plan.vit : true));
  const sections = opts.only ? opts.only : allowed;
  const want = (s: Section) => sections.includes(s);
  const loadavgStart = os.loadavg();
  const info = await initBackend(opts.backend, { quiet: !opts.verbose });
  const cpus = os.cpus();
  const result: BenchResult = {
    schema: 'priorclip-kit-bench/1',
    date: new Date().toISOString(),
    mode: opts.mode,
    sections,
    machine: { cpus: cpus.length, cpuModel: cpus[0]?.model ?? 'unknown', totalMemGb: os.totalmem() / 2 ** 30, node: process.version, platform: `${os.platform()} ${os.release()}`, loadavgStart, loadavgEnd: [] },
    backend: { name: info.name, tfjsBackend: info.tfjsBackend, packageName: info.packageName, version: info.version, kitKernels: info.kitKernels, summary: info.summary },
    peakRssMb: 0,
    totalSeconds: 0,
    notes: [],
  };
  if (loadavgStart[0] > cpus.length) result.notes.push(`load average ${loadavgStart[0].toFixed(1)} on ${cpus.length} cores at start: timings are pessimistic`);
  const seeds = new SeedStream(20240517);

  if (want('matmul')) {
    result.matmul = [];
    for (const n of [512, 1024]) {
      const iters = n === 512 ? plan.matmulIters : Math.max(1, Math.ceil(plan.matmulIters / 4));
      const s = seeds.child(`matmul${n}`);
      const a = tf.tensor2d(randomUnitRows(s, n, n), [n, n]);
      const b = tf.tensor2d(randomUnitRows(s, n, n), [n, n]);
      const timing = timeIt(() => tf.tidy(() => {
        tf.matMul(a, b).dataSync(); // [n, n]·[n, n]; nothing returned: tidy walks a returned TypedArray element by element
      }), iters, 1);
      tf.dispose([a, b]);
      result.matmul.push({ size: n, timing, gflops: (2 * n ** 3) / (timing.medianMs * 1e6) });
      log(opts, `matmul ${n}²: ${timing.medianMs.toFixed(1)} ms`);
    }
  }

  const smallCfg = defaultSmallConfig();
  let kitStepMedianMs: number | null = null;
  let stepBatch = plan.trainBatch;
  if (want('train') || want('profile') || want('torch')) {
    const st = buildStage2Step(smallCfg, plan.trainBatch, seeds.child('train'));
    stepBatch = st.batchSize;
    try {
      if (want('train') || want('torch')) {
        const losses: number[] = [];
        for (let i = 0; i < plan.trainWarmup; i++) losses.push((await st.step()).loss);
        const before = tf.memory().numTensors;
        const ms: number[] = [];
        for (let i = 0; i < plan.trainSteps; i++) {
          const a = nowMs();
          losses.push((await st.step()).loss);
          ms.push(nowMs() - a);
        }
        const after = tf.memory().numTensors;
        const timing = summarise(ms);
        const ph = { grads: [] as number[], clip: [] as number[], adamw: [] as number[], fwd: [] as number[] };
        for (let i = 0; i < Math.max(1, Math.min(plan.trainSteps, 5)); i++) {
          const p: StepPhases = { gradsMs: 0, clipMs: 0, adamwMs: 0 };
          await st.step(p);
          ph.grads.push(p.gradsMs);
          ph.clip.push(p.clipMs);
          ph.adamw.push(p.adamwMs);
          const a = nowMs();
          st.forwardOnly();
          ph.fwd.push(nowMs() - a);
        }
        kitStepMedianMs = timing.medianMs;
        result.train = {
          config: smallCfg.name,
          stage: 2,
          batchSize: st.batchSize,
          warmup: plan.trainWarmup,
          timing,
          pairsPerSec: (st.batchSize * 1000) / timing.medianMs,
          losses,
          tensorsPerStep: (after - before) / plan.trainSteps,
          numTensorsAfter: after,
          phases: { forwardMs: summarise(ph.fwd).medianMs, gradsMs: summarise(ph.grads).medianMs, clipMs: summarise(ph.clip).medianMs, adamwMs: summarise(ph.adamw).medianMs },
          params: { total: st.params.reduce((a, p) => a + p.torchShape.reduce((x, y) => x * y, 1), 0), trainable: st.params.filter((p) => p.trainable).reduce((a, p) => a + p.torchShape.reduce((x, y) => x * y, 1), 0) },
          optimizer: STAGE2_OPTIM,
        };
        log(opts, `train step (B${st.batchSize}): median ${timing.medianMs.toFixed(1)} ms, ${result.train.pairsPerSec.toFixed(1)} pairs/s, tensors/step ${result.train.tensorsPerStep}`);
      }
      if (want('profile')) {
        const w = nowMs();
        const prof = await tf.profile(async () => {
          await st.step();
        });
        const wallMs = nowMs() - w;
        const raw = prof.kernels as unknown as { name: string; kernelTimeMs: unknown; inputShapes?: number[][] }[];
        const agg = aggregateKernels(raw);
        // 'unnamed scope' = a tf.customGrad op (the kit's LayerNorm, GELU, sort/gather helpers): its time
        // includes the kernels it runs, which are listed on their own too, so it is left out of the total.
        const total = agg.reduce((a, k) => a + (k.name === NESTED_SCOPE ? 0 : k.ms), 0);
        result.profile = {
          totalKernelMs: total,
          wallMs,
          kernels: agg.map((k) => ({ ...k, share: total > 0 && k.name !== NESTED_SCOPE ? k.ms / total : 0 })),
          byShape: aggregateByShape(raw).slice(0, 25),
        };
        log(opts, `profile: ${agg.length} kernel types, ${total.toFixed(1)} ms kernel time, ${wallMs.toFixed(1)} ms wall`);
      }
      if (want('torch')) {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pck-bench-torch-'));
        const cfgFile = path.join(dir, 'torch_config.json');
        atomicWriteJson(cfgFile, {
          model: smallCfg,
          batchSize: st.batchSize,
          steps: plan.torchSteps,
          warmup: plan.torchWarmup,
          threads: os.cpus().length >= 2 ? 2 : 1,
          imageIds: st.imageIds,
          labels: st.labels,
          loss: st.loss,
          optimizer: STAGE2_OPTIM,
          params: st.params,
          seed: 0,
        });
        log(opts, `torch reference (${plan.torchSteps} steps) …`);
        const out: TorchOutcome = runTorchReference(cfgFile);
        const one: TorchOutcome = out.ok ? runTorchReference(cfgFile, 1) : out;
        if (process.env.BENCH_KEEP_TMP) log(opts, `kept ${cfgFile}`);
        else fs.rmSync(dir, { recursive: true, force: true });
        if (out.ok) {
          const tMs = out.result.stepMsMedian;
          const kMs = kitStepMedianMs ?? NaN;
          result.torch = {
            ok: true,
            result: out.result,
            seconds: out.seconds,
            env: TORCH_ENV,
            kitOverTorchStepTime: kMs / tMs,
            kitPairsPerSecOverTorch: tMs / kMs,
            oneThread: one.ok
              ? { ok: true, stepMsMedian: one.result.stepMsMedian, pairsPerSec: one.result.pairsPerSec, kitOverTorchStepTime: kMs / one.result.stepMsMedian }
              : { ok: false, skipped: one.skipped },
          };
          log(opts, `torch step median ${tMs.toFixed(1)} ms (${out.result.threads} threads) → kit/torch time ${(kMs / tMs).toFixed(2)}×`);
        } else {
          result.torch = out;
          result.notes.push(`PyTorch ratio skipped: ${out.skipped}`);
          log(opts, `torch skipped: ${out.skipped}`);
        }
      }
    } finally {
      st.dispose();
    }
  }

  if (want('encode') || want('vit')) {
    result.encode = [];
    const cases: { cfg: () => ModelConfig; batch: number; iters: number; warmup: number; section: Section }[] = [];
    if (want('encode')) cases.push({ cfg: defaultSmallConfig, batch: Math.max(stepBatch, 8), iters: plan.encodeIters, warmup: 1, section: 'encode' });
    if (want('vit')) cases.push({ cfg: () => loadModelPreset('priorclip-vit-b-32'), batch: plan.vitBatch, iters: plan.vitIters, warmup: 1, section: 'vit' });
    for (const c of cases) {
      const cfg = c.cfg();
      const b0 = nowMs();
      const model = createModel(cfg, seeds.child(`encode-${cfg.name}`));
      const buildSeconds = (nowMs() - b0) / 1000;
      const { images, tokens } = randomBatch(cfg, c.batch, seeds.child(`encode-data-${cfg.name}`));
      try {
        const image = timeIt(() => tf.tidy(() => {
          model.encodeImage(images).dataSync();
        }), c.iters, c.warmup);
        const text = timeIt(() => tf.tidy(() => {
          model.encodeText(tokens).dataSync();
        }), c.iters, c.warmup);
        const size = (images.shape as number[])[1];
        result.encode.push({ config: cfg.name, imageSize: size, batchSize: c.batch, image, text, imagesPerSec: (c.batch * 1000) / image.medianMs, textsPerSec: (c.batch * 1000) / text.medianMs, buildSeconds });
        log(opts, `encode ${cfg.name}: ${((c.batch * 1000) / image.medianMs).toFixed(1)} images/s, ${((c.batch * 1000) / text.medianMs).toFixed(1)} texts/s`);
      } finally {
        tf.dispose([images, tokens]);
        model.dispose();
      }
    }
  }

  if (want('eval') || want('eval10k')) {
    result.eval = [];
    const DIM = 512;
    const CAPS = 5;
    const cases: { name: string; images: number }[] = [];
    if (want('eval')) cases.push({ name: 'RSICD test (1,093 × 5,465)', images: 1093 });
    if (want('eval10k')) cases.push({ name: '10k × 50k', images: 10000 });
    for (const c of cases) {
      const s = seeds.child(`eval${c.images}`);
      const T = c.images * CAPS;
      const img = randomUnitRows(s, c.images, DIM);
      const txt = randomUnitRows(s, T, DIM);
      const txt2img = new Int32Array(T);
      for (let t = 0; t < T; t++) txt2img[t] = Math.floor(t / CAPS);
      log(opts, `eval ${c.name} …`);
      const a = nowMs();
      const m = retrievalMetrics(img, txt, txt2img);
      const seconds = (nowMs() - a) / 1000;
      result.eval.push({ name: c.name, images: c.images, texts: T, dim: DIM, seconds, mR: m.mR });
      log(opts, `eval ${c.name}: ${seconds.toFixed(2)} s`);
    }
  }

  if (want('data')) {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'pck-bench-data-'));
    try {
      const cfg = { ...structuredClone(DEFAULT_EMBEDDED_DATA), imagesPerClass: plan.dataImagesPerClass, name: 'bench-embedded' };
      const a = nowMs();
      const g = await generateEmbeddedDataset(cfg, { dataRoot: root, force: true });
      const seconds = (nowMs() - a) / 1000;
      const n = g.dataset.images.length;
      const files = g.dataset.images.slice(0, plan.loaderImages).map((r) => ({ name: r.fileName, bytes: new Uint8Array(fs.readFileSync(r.path)) }));
      const size = cfg.imageSize;
      const lt = measureLoaderThroughput(files, { repeats: 2, augment: { ...PIR_AUGMENT, size }, size, transform: 'resize', seeds: seeds.child('loader') });
      result.data = {
        generate: { images: n, imagesPerClass: cfg.imagesPerClass, seconds, imagesPerSec: n / seconds },
        loader: { images: lt.images, size, decodePerSec: lt.decodePerSec, evalPerSec: lt.evalPerSec, trainPerSec: lt.trainPerSec, cachedTrainPerSec: lt.cachedTrainPerSec },
      };
      log(opts, `data: generated ${n} images in ${seconds.toFixed(1)} s; loader ${lt.trainPerSec.toFixed(0)} images/s (PIR augment)`);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  }

  result.machine.loadavgEnd = os.loadavg();
  result.peakRssMb = peakRssMb();
  result.totalSeconds = (nowMs() - t0) / 1000;
  const files: string[] = [];
  if (opts.out) {
    atomicWriteJson(path.resolve(opts.out), result);
    files.push(path.resolve(opts.out));
  } else {
    const dir = path.join(projectRoot(), 'bench', 'results');
    fs.mkdirSync(dir, { recursive: true });
    const dated = path.join(dir, `bench-${result.date.slice(0, 10)}.json`);
    atomicWriteJson(dated, result);
    atomicWriteJson(path.join(dir, 'latest.json'), result);
    files.push(dated, path.join(dir, 'latest.json'));
  }
  return { result, files };
}
