/**
 * Training-step benchmark per backend: `npx tsx bench/backend_step.ts [--cpu-iters N] [--wasm-iters N] [--no-cpu]`
 * (`--no-cpu` re-measures wasm only and keeps the cpu entry of the previous results file, dated).
 *
 * Workloads (fwd + bwd + Adam, one optimiser step each):
 *   (a) small CNN: batch 32 of 64×64×3, 3× conv3×3 (16/32/64, explicit [[1,1],[1,1]] padding) + 2 maxpool + GAP + dense 10, softmax CE;
 *   (b) tiny transformer: 2 layers, d 64, 4 heads, seq 32, batch 32, token-embedding gather, LayerNorm, GELU-erf,
 *       mean pool + projection, symmetric InfoNCE between two token views (10% of tokens replaced);
 *   (c) 512×512 matmul (plain and with transposeA / transposeB), GFLOP/s.
 *   (a') the kit's small-CNN shape (stride-2 conv stages, explicit padding) — wasm only;
 * Prints a table and the slowest kernels of each wasm step (tf.profile), and writes bench/results/backend_step.json.
 * The cpu backend is slow (the CNN step takes about a minute): it runs few iterations and no warm-up.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { initBackend, backendInfo } from '../src/backends/backend';
import { SeedStream } from '../src/utils/random';
import { atomicWriteJson, projectRoot, readJson } from '../src/utils/fs';

type BackendKey = 'wasm' | 'cpu';

interface Args {
  wasmIters: number;
  cpuIters: number;
  cpu: boolean;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { wasmIters: 10, cpuIters: 1, cpu: true };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    if (k === '--no-cpu') a.cpu = false;
    else if (k === '--wasm-iters') a.wasmIters = Number(argv[++i]);
    else if (k === '--cpu-iters') a.cpuIters = Number(argv[++i]);
    else throw new Error(`bench/backend_step.ts: unknown argument '${k}' (use --wasm-iters N, --cpu-iters N, --no-cpu)`);
  }
  for (const [k, v] of Object.entries(a)) {
    if (typeof v === 'number' && !(Number.isInteger(v) && v >= 1)) throw new Error(`bench/backend_step.ts: --${k} must be an integer ≥ 1`);
  }
  return a;
}

const EXPLICIT_1: [[number, number], [number, number], [number, number], [number, number]] = [[0, 0], [1, 1], [1, 1], [0, 0]];

/** A workload: variables + a loss closure + the optimiser that trains them. */
interface Workload {
  name: string;
  step(): number; // one fwd+bwd+Adam step; returns the loss
  profileLoss(): tf.Scalar; // the loss alone (for tf.profile of fwd+bwd)
  vars: tf.Variable[];
  dispose(): void;
}

function normalTensor(s: SeedStream, shape: number[], std = 1): tf.Tensor {
  const n = shape.reduce((p, d) => p * d, 1);
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = s.normal(0, std);
  return tf.tensor(v, shape);
}

function makeStep(vars: tf.Variable[], loss: () => tf.Scalar): { step: () => number; opt: tf.Optimizer } {
  const opt = tf.train.adam(1e-3);
  const step = (): number => {
    const l = opt.minimize(loss, true, vars);
    const v = l ? l.dataSync()[0] : Number.NaN;
    if (l) l.dispose();
    return v;
  };
  return { step, opt };
}

/** (a) small CNN, batch 32 of 64×64×3. */
function smallCnn(seeds: SeedStream): Workload {
  const B = 32;
  const CLASSES = 10;
  const init = seeds.child('cnn');
  const he = (fanIn: number) => Math.sqrt(2 / fanIn);
  const w1 = tf.variable(normalTensor(init, [3, 3, 3, 16], he(27)));
  const b1 = tf.variable(tf.zeros([16]));
  const w2 = tf.variable(normalTensor(init, [3, 3, 16, 32], he(144)));
  const b2 = tf.variable(tf.zeros([32]));
  const w3 = tf.variable(normalTensor(init, [3, 3, 32, 64], he(288)));
  const b3 = tf.variable(tf.zeros([64]));
  const wd = tf.variable(normalTensor(init, [64, CLASSES], he(64)));
  const bd = tf.variable(tf.zeros([CLASSES]));
  const vars = [w1, b1, w2, b2, w3, b3, wd, bd];
  const x = normalTensor(init, [B, 64, 64, 3]) as tf.Tensor4D;
  const labels = tf.oneHot(tf.tensor1d(Array.from({ length: B }, () => init.int(CLASSES)), 'int32'), CLASSES);
  const loss = (): tf.Scalar =>
    tf.tidy(() => {
      const h1 = tf.relu(tf.add(tf.conv2d(x, w1 as tf.Tensor4D, 1, EXPLICIT_1), b1)) as tf.Tensor4D; // [B, 64, 64, 16]
      const p1 = tf.maxPool(h1, 2, 2, 'valid'); // [B, 32, 32, 16]
      const h2 = tf.relu(tf.add(tf.conv2d(p1, w2 as tf.Tensor4D, 1, EXPLICIT_1), b2)) as tf.Tensor4D; // [B, 32, 32, 32]
      const p2 = tf.maxPool(h2, 2, 2, 'valid'); // [B, 16, 16, 32]
      const h3 = tf.relu(tf.add(tf.conv2d(p2, w3 as tf.Tensor4D, 1, EXPLICIT_1), b3)); // [B, 16, 16, 64]
      const g = tf.mean(h3, [1, 2]); // [B, 64]
      const logits = tf.add(tf.matMul(g, wd), bd); // [B, 10]
      return tf.losses.softmaxCrossEntropy(labels, logits) as tf.Scalar;
    });
  const { step, opt } = makeStep(vars, loss);
  return {
    name: 'small CNN (B32, 64×64×3)',
    step,
    profileLoss: loss,
    vars,
    dispose: () => {
      tf.dispose([...vars, x, labels]);
      opt.dispose();
    },
  };
}

/** (a') the kit's small-CNN shape: stride-2 conv stages (explicit padding 1) + one stride-1 conv each, GAP, dense. */
function stridedCnn(seeds: SeedStream): Workload {
  const B = 32;
  const CLASSES = 10;
  const CHANNELS = [16, 32, 64];
  const init = seeds.child('stridedCnn');
  const convs: { w: tf.Variable; b: tf.Variable; stride: number }[] = [];
  let cin = 3;
  for (const cout of CHANNELS) {
    for (const stride of [2, 1]) {
      convs.push({ w: tf.variable(normalTensor(init, [3, 3, cin, cout], Math.sqrt(2 / (9 * cin)))), b: tf.variable(tf.zeros([cout])), stride });
      cin = cout;
    }
  }
  const wd = tf.variable(normalTensor(init, [cin, CLASSES], Math.sqrt(2 / cin)));
  const bd = tf.variable(tf.zeros([CLASSES]));
  const vars = [...convs.flatMap((c) => [c.w, c.b]), wd, bd];
  const x = normalTensor(init, [B, 64, 64, 3]) as tf.Tensor4D;
  const labels = tf.oneHot(tf.tensor1d(Array.from({ length: B }, () => init.int(CLASSES)), 'int32'), CLASSES);
  const loss = (): tf.Scalar =>
    tf.tidy(() => {
      let h = x;
      for (const c of convs) h = tf.relu(tf.add(tf.conv2d(h, c.w as tf.Tensor4D, c.stride, EXPLICIT_1), c.b)) as tf.Tensor4D; // [B, h', w', Cout]
      const logits = tf.add(tf.matMul(tf.mean(h, [1, 2]), wd), bd); // [B, 10]
      return tf.losses.softmaxCrossEntropy(labels, logits) as tf.Scalar;
    });
  const { step, opt } = makeStep(vars, loss);
  return {
    name: 'kit-style strided CNN (B32, 64×64×3)',
    step,
    profileLoss: loss,
    vars,
    dispose: () => {
      tf.dispose([...vars, x, labels]);
      opt.dispose();
    },
  };
}

/** (b) tiny transformer, InfoNCE between two token views. */
function tinyTransformer(seeds: SeedStream): Workload {
  const B = 32;
  const L = 32;
  const D = 64;
  const H = 4;
  const DH = D / H;
  const V = 1000;
  const LAYERS = 2;
  const TEMPERATURE = 0.07;
  const REPLACE = 0.1;
  const init = seeds.child('transformer');
  const std = 0.02;
  const emb = tf.variable(normalTensor(init, [V, D], std));
  const pos = tf.variable(normalTensor(init, [L, D], std));
  const layers = Array.from({ length: LAYERS }, () => ({
    ln1g: tf.variable(tf.ones([D])),
    ln1b: tf.variable(tf.zeros([D])),
    wqkv: tf.variable(normalTensor(init, [D, 3 * D], std)),
    bqkv: tf.variable(tf.zeros([3 * D])),
    wo: tf.variable(normalTensor(init, [D, D], std)),
    bo: tf.variable(tf.zeros([D])),
    ln2g: tf.variable(tf.ones([D])),
    ln2b: tf.variable(tf.zeros([D])),
    w1: tf.variable(normalTensor(init, [D, 4 * D], std)),
    b1: tf.variable(tf.zeros([4 * D])),
    w2: tf.variable(normalTensor(init, [4 * D, D], std)),
    b2: tf.variable(tf.zeros([D])),
  }));
  const lnfG = tf.variable(tf.ones([D]));
  const lnfB = tf.variable(tf.zeros([D]));
  const proj = tf.variable(normalTensor(init, [D, D], std));
  const vars = [emb, pos, ...layers.flatMap((l) => Object.values(l)), lnfG, lnfB, proj];
  const tokA = Int32Array.from({ length: B * L }, () => init.int(V));
  const tokB = tokA.map((t) => (init.random() < REPLACE ? init.int(V) : t));
  const tokensA = tf.tensor2d(tokA, [B, L], 'int32');
  const tokensB = tf.tensor2d(tokB, [B, L], 'int32');
  const eye = tf.eye(B);

  const layerNorm = (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor): tf.Tensor => {
    const { mean, variance } = tf.moments(x, -1, true);
    return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, 1e-5))), g), b);
  };
  const gelu = (x: tf.Tensor): tf.Tensor => tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2))));
  const encode = (tokens: tf.Tensor2D): tf.Tensor2D => {
    let x = tf.add(tf.gather(emb, tokens), pos) as tf.Tensor3D; // [B, L, D]
    for (const p of layers) {
      const h = layerNorm(x, p.ln1g, p.ln1b).reshape([B * L, D]); // [B·L, D]
      const qkv = tf.add(tf.matMul(h, p.wqkv), p.bqkv).reshape([B, L, 3, H, DH]); // [B, L, 3, H, Dh]
      const t = tf.transpose(qkv, [2, 0, 3, 1, 4]); // [3, B, H, L, Dh]
      const [q, k, v] = tf.unstack(t, 0) as tf.Tensor4D[]; // each [B, H, L, Dh]
      const att = tf.softmax(tf.div(tf.matMul(q, k, false, true), Math.sqrt(DH))); // [B, H, L, L]
      const ctx = tf.transpose(tf.matMul(att, v), [0, 2, 1, 3]).reshape([B * L, D]); // [B·L, D]
      x = tf.add(x, tf.add(tf.matMul(ctx, p.wo), p.bo).reshape([B, L, D])) as tf.Tensor3D;
      const h2 = layerNorm(x, p.ln2g, p.ln2b).reshape([B * L, D]); // [B·L, D]
      const m = tf.add(tf.matMul(gelu(tf.add(tf.matMul(h2, p.w1), p.b1)), p.w2), p.b2); // [B·L, D]
      x = tf.add(x, m.reshape([B, L, D])) as tf.Tensor3D;
    }
    const pooled = tf.mean(layerNorm(x, lnfG, lnfB), 1); // [B, D]
    const z = tf.matMul(pooled, proj); // [B, D]
    return tf.div(z, tf.norm(z, 2, -1, true)) as tf.Tensor2D; // L2-normalised [B, D]
  };
  const loss = (): tf.Scalar =>
    tf.tidy(() => {
      const a = encode(tokensA);
      const b = encode(tokensB);
      const logits = tf.div(tf.matMul(a, b, false, true), TEMPERATURE); // [B, B]
      const l1 = tf.losses.softmaxCrossEntropy(eye, logits);
      const l2 = tf.losses.softmaxCrossEntropy(eye, tf.transpose(logits));
      return tf.mul(tf.add(l1, l2), 0.5) as tf.Scalar;
    });
  const { step, opt } = makeStep(vars, loss);
  return {
    name: 'tiny transformer InfoNCE (B32, L32, d64)',
    step,
    profileLoss: loss,
    vars,
    dispose: () => {
      tf.dispose([...vars, tokensA, tokensB, eye]);
      opt.dispose();
    },
  };
}

/** Per-iteration wall-clock statistics (ms). */
interface Timing {
  median: number;
  min: number;
  mean: number;
  iters: number;
}

function timeIt(fn: () => void, iters: number, warmup: number): Timing {
  for (let i = 0; i < warmup; i++) fn();
  const ts: number[] = [];
  for (let i = 0; i < iters; i++) {
    const t0 = performance.now();
    fn();
    ts.push(performance.now() - t0);
  }
  const sorted = ts.slice().sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  return { median, min: sorted[0], mean: ts.reduce((a, b) => a + b, 0) / ts.length, iters };
}

interface MatmulResult {
  case: string;
  ms: number;
  gflops: number;
}

function matmulBench(seeds: SeedStream, iters: number): MatmulResult[] {
  const N = 512;
  const s = seeds.child('matmul');
  const a = normalTensor(s, [N, N]);
  const b = normalTensor(s, [N, N]);
  const out: MatmulResult[] = [];
  for (const [label, ta, tb] of [
    ['A·B', false, false],
    ['Aᵀ·B', true, false],
    ['A·Bᵀ', false, true],
  ] as const) {
    const ms = timeIt(
      () => {
        const c = tf.matMul(a, b, ta, tb); // [512, 512]
        c.dataSync();
        c.dispose();
      },
      iters,
      1,
    ).median;
    out.push({ case: `512² ${label}`, ms, gflops: (2 * N * N * N) / (ms * 1e6) });
  }
  tf.dispose([a, b]);
  return out;
}

interface KernelTime {
  kernel: string;
  ms: number;
  calls: number;
}

async function topKernels(w: Workload, n: number): Promise<KernelTime[]> {
  const info = await tf.profile(() => {
    const { value, grads } = tf.variableGrads(() => w.profileLoss(), w.vars);
    tf.dispose([value, ...Object.values(grads)]);
  });
  const agg = new Map<string, KernelTime>();
  for (const k of info.kernels) {
    const ms = typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
    const e = agg.get(k.name) ?? { kernel: k.name, ms: 0, calls: 0 };
    e.ms += ms;
    e.calls += 1;
    agg.set(k.name, e);
  }
  return [...agg.values()].sort((x, y) => y.ms - x.ms).slice(0, n);
}

interface WorkloadResult {
  name: string;
  step: Timing;
  loss: number;
  topKernels?: KernelTime[];
}

interface BackendResult {
  backend: BackendKey;
  /** When this backend was measured (a `--no-cpu` run keeps the previous cpu entry). */
  date: string;
  /** 1-minute load average when the measurement ended. */
  loadAverage1m: number;
  workloads: Record<string, WorkloadResult>;
  matmul: MatmulResult[];
}

const WORKLOADS: { key: string; make: (s: SeedStream) => Workload; onCpu: boolean }[] = [
  { key: 'cnn', make: smallCnn, onCpu: true },
  { key: 'transformer', make: tinyTransformer, onCpu: true },
  { key: 'stridedCnn', make: stridedCnn, onCpu: false },
];

async function runBackend(backend: BackendKey, iters: number, seeds: SeedStream): Promise<BackendResult> {
  await initBackend(backend, { quiet: true });
  const workloads: Record<string, WorkloadResult> = {};
  for (const spec of WORKLOADS) {
    if (backend === 'cpu' && !spec.onCpu) continue;
    const wl = spec.make(seeds);
    // cpu: the CNN step takes about a minute, so no warm-up; the transformer gets one.
    const warm = backend === 'wasm' ? 2 : spec.key === 'cnn' ? 0 : 1;
    const n = backend === 'wasm' ? iters : spec.key === 'cnn' ? iters : Math.max(iters, 2);
    let loss = Number.NaN;
    process.stdout.write(`[${backend}] ${wl.name}: ${warm} warm-up + ${n} steps… `);
    const step = timeIt(() => void (loss = wl.step()), n, warm);
    process.stdout.write(`median ${step.median.toFixed(1)} ms\n`);
    const topKernels = backend === 'wasm' ? await topKernels6(wl) : undefined;
    workloads[spec.key] = { name: wl.name, step, loss, topKernels };
    wl.dispose();
  }
  const matmul = matmulBench(seeds, backend === 'wasm' ? 20 : 2);
  return { backend, date: new Date().toISOString(), loadAverage1m: os.loadavg()[0], workloads, matmul };
}

function topKernels6(wl: Workload): Promise<KernelTime[]> {
  return topKernels(wl, 6);
}

/** The cpu entry of an earlier run, if the results file has one in the current format. */
function previousCpu(file: string): BackendResult | null {
  if (!fs.existsSync(file)) return null;
  try {
    const prev = readJson<{ results?: BackendResult[] }>(file);
    const cpu = prev.results?.find((r) => r.backend === 'cpu');
    return cpu && cpu.date && cpu.workloads?.cnn && cpu.workloads?.transformer && cpu.matmul ? cpu : null;
  } catch {
    return null;
  }
}

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const seeds = new SeedStream(0, 'bench/backend_step');
  const results: BackendResult[] = [];
  results.push(await runBackend('wasm', args.wasmIters, seeds));
  const wasmInfo = backendInfo();
  const file = path.join(projectRoot(), 'bench', 'results', 'backend_step.json');
  if (args.cpu) results.push(await runBackend('cpu', args.cpuIters, seeds));
  else {
    const prev = previousCpu(file);
    if (prev) {
      console.log(`(cpu column: kept from the run of ${prev.date}; pass no --no-cpu to re-measure it)`);
      results.push(prev);
    }
  }

  const rows: [string, ...string[]][] = [['workload (fwd+bwd+Adam step)', ...results.map((r) => `${r.backend}: median ms (min, n) @ load ${r.loadAverage1m.toFixed(1)}`)]];
  for (const spec of WORKLOADS) {
    const name = results[0].workloads[spec.key].name;
    rows.push([
      name,
      ...results.map((r) => {
        const w = r.workloads[spec.key];
        return w ? `${w.step.median.toFixed(1)} (${w.step.min.toFixed(1)}, n=${w.step.iters})` : 'not run';
      }),
    ]);
  }
  for (let i = 0; i < results[0].matmul.length; i++) {
    rows.push([results[0].matmul[i].case, ...results.map((r) => `${r.matmul[i].ms.toFixed(2)} ms = ${r.matmul[i].gflops.toFixed(2)} GFLOP/s`)]);
  }
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  console.log('');
  for (const r of rows) console.log(r.map((c, i) => pad(c, widths[i])).join(' | '));
  if (results.length === 2) {
    const [w, c] = results;
    console.log(
      `\nwasm speed-up over cpu (medians): CNN ×${(c.workloads.cnn.step.median / w.workloads.cnn.step.median).toFixed(1)}, ` +
        `transformer ×${(c.workloads.transformer.step.median / w.workloads.transformer.step.median).toFixed(1)}, ` +
        `512² matmul ×${(c.matmul[0].ms / w.matmul[0].ms).toFixed(1)}`,
    );
  }
  for (const spec of WORKLOADS) {
    const wl = results[0].workloads[spec.key];
    if (!wl.topKernels) continue;
    console.log(`\nwasm ${wl.name}, fwd+bwd slowest kernels (tf.profile, ms/calls): ` + wl.topKernels.map((k) => `${k.kernel} ${k.ms.toFixed(1)}/${k.calls}`).join(', '));
  }
  console.log(`\nload average during the run: ${os.loadavg().map((v) => v.toFixed(2)).join(' ')} on ${os.cpus().length} cores`);
  atomicWriteJson(file, {
    date: new Date().toISOString(),
    node: process.version,
    tfjs: tf.version.tfjs,
    wasmKitKernels: wasmInfo?.kitKernels ?? [],
    loadAverage: os.loadavg(),
    cores: os.cpus().length,
    note: 'per-step wall clock after warm-up (wasm: 2 warm-up steps; cpu: none for the CNN, 1 for the transformer); the machine may be shared',
    results,
  });
  console.log(`\nwrote ${path.relative(projectRoot(), file)}`);
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.stack ?? e.message : String(e));
  process.exitCode = 1;
});
