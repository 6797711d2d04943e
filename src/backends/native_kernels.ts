/**
 * The kit's native CPU path: kernels on oneDNN's or OpenBLAS's sgemm (native/kit_native.c, an N-API addon built by
 * `npm run setup` into build/native/kit_native.node) registered on the tfjs wasm backend.
 *
 * The wasm backend stays the host (every other kernel, the memory manager, `tf.memory()`); the heavy
 * kernels below are replaced by ones that call the addon on views of the WebAssembly.Memory heap
 * (`typedArrayFromHeap`): zero-copy, the addon reads the inputs and writes the output buffer in place.
 *
 * | kernel | native form |
 * |---|---|
 * | `BatchMatMul` | `cblas_sgemm` per batch entry (a side with batch 1 is broadcast; a shared right operand folds the batch into M: one product) |
 * | `_FusedMatMul` | the same product, then bias (`[N]` or scalar) and linear/relu/relu6/leakyrelu in one pass |
 * | `Conv2D` | im2col (row chunks of ≤ 64 MB) + `cblas_sgemm`; a 1×1 stride-1 conv is one product on the input |
 * | `Conv2DBackpropInput` | `dy · Wᵀ` + col2im |
 * | `Conv2DBackpropFilter` | `im2col(x)ᵀ · dy`, chunks accumulated in order |
 * | `FusedBatchNorm` | one pass over NHWC with the per-channel factor scale/√(var + eps) computed once (the RN50 prior's frozen BN) |
 * | `Sum` | over an ascending run of adjacent axes with axes after it (a conv's bias gradient), read in place: wasm's bits without its transpose |
 * | `Tile` | block copies on the heap (wasm's kernel computes every output index) |
 * | `AvgPoolGrad` | unpadded windows in C, the arithmetic (and bits) of the kit's JS kernel |
 * | `Slice`, `SplitV` | copies between heap views (wasm's Slice first copies the whole input out with `readSync`) |
 * | `Add`, `Sub`, `Multiply`, `RealDiv` | float32 with one operand repeated over the other's leading axes (a bias, a per-channel scale): one vector loop (wasm computes every source index) |
 *
 * | `KitAdamW` (new kernel) | one AdamW step of every parameter in one launch (`fusedAdamW`, used by src/training/adamw.ts when `fusedAdamWActive()`) |
 * | `KitLayerNorm`, `KitLayerNormGrad` (new) | LayerNorm over the last axis forward / gradient (x̂, rstd, dγ, dβ), one launch each, double sums (`fusedLayerNorm`, used by src/models/layers.ts `layerNorm`) |
 * | `KitGelu`, `KitGeluGrad` (new) | the kit's exact GELU (erf rational form) forward / gradient, one launch each (`fusedGelu`, used by src/models/layers.ts `gelu`) |
 * | `KitLinear`, `KitLinearGrad` (new) | `linear` forward on x [..., in] as it is (the native `_FusedMatMul`'s sgemm + bias calls, no reshapes) and its gradient (dx, dw, db: the same three sgemm calls as the tfjs matMuls), one launch each (`fusedLinear`, used by src/models/layers.ts `linear`) |
 * | `KitDropoutMask` (new) | the inverted-dropout mask of layers.ts `dropoutMask` (same mulberry32 draws, same bits) written on the heap: no JS loop, no upload (`nativeDropoutMask`, used by layers.ts `dropout` and the fused attention) |
 * | `KitGlobalNorm` (new) | ‖(g₀, g₁, …)‖₂ of every gradient in one launch, sums of squares in double (`fusedGlobalNorm`, used by src/training/adamw.ts `clipByGlobalNorm`) |
 * | `KitAttention`, `KitAttentionGrad` (new) | multi-head scaled dot-product attention (scores, mask, softmax, dropout map, ·V) over every batch entry and head in one launch, and its gradient (q, k, v, mask, probabilities) in one more; no head transposes (`fusedAttention`, used by src/models/layers.ts `attentionWithProbabilities`) |
 *
 * Cases the native kernels do not cover (non-float32, NCHW, general batch broadcasting, the prelu epilogue) run the kernel that was registered before (the kit's wasm kernel or wasm's own).
 *
 * Element-wise ops of operands of one shape, or with a scalar, stay on wasm: a native loop on the heap views was
 * slower than wasm's SIMD kernels in round 2 (160 vs 69 µs on [32, 32, 128]) and as fast in round 5 (28–53 µs
 * each, interleaved). Only the repeated-operand form (a bias or a per-channel factor) is native, 3× wasm's.
 *
 * Determinism: the products' thread count is set once (`setNativeThreads`). On oneDNN (matrix-vector products on one
 * thread) and on OpenBLAS's AVX-512 kernels the numbers do not depend on it (checked in test/backend_native.test.ts);
 * on OpenBLAS's AVX2 (Haswell/Zen) kernels a threaded product differs in the last bits (blas_core.ts). Products of
 * ≤ small-gemm multiply-adds and im2col/col2im run single-threaded in a fixed order. The LayerNorm, GELU, attention
 * softmax, dropout-mask and binary loops exist as an AVX2 and a baseline build with the same float operations (same
 * bits; `KIT_NATIVE_NO_AVX2=1`).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { projectRoot } from '../utils/fs';
import { coreOfBlasConfig, threadInvariantGemm } from './blas_core';
import { unpaddedAvgPoolGrad } from './wasm_kernels';

type TensorInfo = tf.TensorInfo;
type KernelArgs = Parameters<tf.KernelFunc>[0];
type Backend = tf.KernelBackend;

const BACKEND = 'wasm';
/** The addon's ABI version this module speaks (native/kit_native.c `abiVersion`). */
const ADDON_ABI = 16;
/** globalThis key: kernels that were registered before the native ones (fallback and restore). */
const PREVIOUS_KEY = Symbol.for('priorclip-kit.nativeKernels.previous');
/** globalThis key: the loaded addon (one per process, whatever copy of this module loads it). */
const ADDON_KEY = Symbol.for('priorclip-kit.nativeKernels.addon');

/** Names of the kernels the native path replaces on the wasm backend, in registration order. */
export const NATIVE_KIT_KERNELS = [
  'BatchMatMul', '_FusedMatMul', 'Conv2D', 'Conv2DBackpropInput', 'Conv2DBackpropFilter', 'FusedBatchNorm', 'Sum', 'Tile', 'AvgPoolGrad', 'Slice', 'SplitV',
  'Add', 'Sub', 'Multiply', 'RealDiv',
] as const;

/** The replacements round 4 added (bench/native.ts puts the previous kernels back for its round-3 mode). */
export const ROUND4_KERNELS = ['Sum', 'Tile', 'AvgPoolGrad', 'Slice', 'SplitV'] as const;

/** The replacements round 5 added (bench/native.ts puts the previous kernels back for its round-4 mode). */
export const ROUND5_KERNELS = ['Add', 'Sub', 'Multiply', 'RealDiv'] as const;

/** The addon's functions (native/kit_native.c). Sizes are element counts; arrays are written in place. */
export interface NativeAddon {
  /** abiVersion of the built addon. */
  abiVersion: number;
  /** C[i] = op(A[i])·op(B[i]) + beta·C[i] for i < batch; strides in elements (0 broadcasts); beta 0 or 1. */
  sgemmBatched(
    a: Float32Array, b: Float32Array, c: Float32Array, batch: number, m: number, n: number, k: number,
    transA: number, transB: number, strideA: number, strideB: number, strideC: number, beta: number,
  ): void;
  /** y = conv2d(x, filter), NHWC / HWIO; geometry: n h w cin kh kw cout oh ow sh sw dh dw padTop padLeft. */
  conv2d(x: Float32Array, filter: Float32Array, y: Float32Array, ...geometry: number[]): void;
  /** dx = gradient of conv2d w.r.t. x (overwritten). */
  conv2dBackpropInput(dy: Float32Array, filter: Float32Array, dx: Float32Array, ...geometry: number[]): void;
  /** df = gradient of conv2d w.r.t. the filter (overwritten). */
  conv2dBackpropFilter(x: Float32Array, dy: Float32Array, df: Float32Array, ...geometry: number[]): void;
  /** y[r, j] = act(y[r, j] + bias[j]); act 0 linear, 1 relu, 2 relu6, 3 leakyrelu(alpha), 4 elu, 5 sigmoid. */
  biasAct(y: Float32Array, bias: Float32Array, rows: number, n: number, act: number, alpha: number): void;
  /**
   * One AdamW step of one parameter into pOut/mOut/vOut (float32 ops in the order of src/training/adamw.ts):
   * m' = m·β1 + g·(1−β1); v' = v·β2 + g²·(1−β2); p' = p·decayFactor − m' / (sqrt(v')/bc2Sqrt + ε) · stepSize.
   */
  adamw(
    p: Float32Array, m: Float32Array, v: Float32Array, g: Float32Array, pOut: Float32Array, mOut: Float32Array, vOut: Float32Array,
    beta1: number, oneMinusBeta1: number, beta2: number, oneMinusBeta2: number, decayFactor: number, bc2Sqrt: number, eps: number, stepSize: number,
  ): void;
  /** The same step with p, m, v overwritten (four distinct buffers; the same bits as `adamw`). */
  adamwInPlace(
    p: Float32Array, m: Float32Array, v: Float32Array, g: Float32Array,
    beta1: number, oneMinusBeta1: number, beta2: number, oneMinusBeta2: number, decayFactor: number, bc2Sqrt: number, eps: number, stepSize: number,
  ): void;
  /** cdf = Φ(x) by the kit's float32 erf rational form (src/models/layers.ts), y = x·cdf: the bits of the tfjs composition. */
  geluForward(x: Float32Array, y: Float32Array, cdf: Float32Array): void;
  /** dx = dy·(cdf + x·φ(x)). */
  geluBackward(dy: Float32Array, x: Float32Array, cdf: Float32Array, dx: Float32Array): void;
  /** Per row of d: rstd = 1/√(σ² + eps) (biased σ², double sums), xhat = (x − μ)·rstd, y = xhat·γ + β. */
  layerNormForward(x: Float32Array, gamma: Float32Array, beta: Float32Array, y: Float32Array, xhat: Float32Array, rstd: Float32Array, rows: number, d: number, eps: number): void;
  /** dx = rstd·(ĝ − mean ĝ − xhat·mean(ĝ·xhat)), ĝ = dy·γ; dγ = Σ dy·xhat, dβ = Σ dy over rows. */
  layerNormBackward(dy: Float32Array, xhat: Float32Array, rstd: Float32Array, gamma: Float32Array, dx: Float32Array, dgamma: Float32Array, dbeta: Float32Array, rows: number, d: number): void;
  /** Inference batch norm over the last axis: y = (x − mean)·scale/√(variance + eps) + offset (per-channel arrays of c or 1 values; offset/scale may be empty). */
  batchNorm(x: Float32Array, mean: Float32Array, variance: Float32Array, offset: Float32Array, scale: Float32Array, y: Float32Array, rows: number, c: number, eps: number): void;
  /**
   * Attention over B·H heads (heads = contiguous slices of D): P = softmax((Q·Kᵀ)·scale + mask), out = (P∘drop)·V.
   * q [B, Lq, D], k / v [B, Lk, D], mask [Lq, Lk] or empty, drop [B, H, Lq, Lk] or empty; out [B, Lq, D], probs [B, H, Lq, Lk].
   */
  attentionForward(
    q: Float32Array, k: Float32Array, v: Float32Array, mask: Float32Array, drop: Float32Array, out: Float32Array, probs: Float32Array,
    B: number, Lq: number, Lk: number, H: number, scale: number,
  ): void;
  /** Gradient of attentionForward w.r.t. q, k, v and the mask (dprobs: gradient reaching the probabilities, or empty; dmask empty = not wanted). */
  attentionBackward(
    dout: Float32Array, dprobs: Float32Array, q: Float32Array, k: Float32Array, v: Float32Array, probs: Float32Array, drop: Float32Array,
    dq: Float32Array, dk: Float32Array, dv: Float32Array, dmask: Float32Array, B: number, Lq: number, Lk: number, H: number, scale: number,
  ): void;
  /** dx = dy·wᵀ, dw = xᵀ·dy, db = 1ᵀ·dy (db empty: no bias) for x [n, in], w [in, out]. */
  linearBackward(dy: Float32Array, x: Float32Array, w: Float32Array, dx: Float32Array, dw: Float32Array, db: Float32Array, n: number, fin: number, fout: number): void;
  /** The inverted-dropout mask of src/models/layers.ts `dropoutMask(out.length, rate, seed)`, bit for bit, into out. */
  dropoutMask(out: Float32Array, rate: number, seed: number): void;
  /** Σ x² in double (fixed summation order). */
  sumSquares(x: Float32Array): number;
  /** out[o, j] = Σ_r x[o, r, j] for x viewed as [outer, red, inner], float sums with r ascending (tfjs-wasm's Sum bits). */
  sumAxes(x: Float32Array, out: Float32Array, outer: number, red: number, inner: number): void;
  /** out = a op b over [outer, inner] (op 0 add, 1 sub, 2 mul, 3 div); a and b each of outer·inner values or inner (repeated over outer). */
  binaryOp(a: Float32Array, b: Float32Array, out: Float32Array, op: number, outer: number, inner: number): void;
  /** dx (overwritten) = the unpadded average-pool gradient, in the double arithmetic of the kit's JS kernel (same bits). */
  avgPoolGrad(dy: Float32Array, dx: Float32Array, n: number, h: number, w: number, c: number, oh: number, ow: number, sh: number, sw: number, fh: number, fw: number): void;
  /** Thread count of the products (OpenBLAS's, or oneDNN's OpenMP threads). */
  setThreads(n: number): void;
  /** The library the products run on: oneDNN's dnnl_sgemm (builds with libdnnl-dev) or OpenBLAS's cblas_sgemm. */
  setGemm(name: GemmLibrary): void;
  gemmLibrary(): GemmLibrary;
  /** The libraries this build can use, e.g. "onednn 2.6.3,openblas". */
  gemmBuilds(): string;
  getThreads(): number;
  /** Products of at most this many multiply-adds run on one thread (default 2²²; 0 = never). */
  setSmallGemm(macs: number): void;
  /** Which build of the element-wise loops runs on this CPU: "avx2" or "baseline" (KIT_NATIVE_NO_AVX2=1 forces the baseline). */
  simdLevel(): 'avx2' | 'baseline';
  /** OpenBLAS build config and the core type it picked, e.g. "OpenBLAS 0.3.21 … ; core SkylakeX". */
  blasConfig(): string;
}

/** A library that runs the native path's products. */
export type GemmLibrary = 'onednn' | 'openblas';

/** One library an addon build can run the products on, with its version where the build reports one. */
export interface GemmBuild {
  library: GemmLibrary;
  version: string | null;
}

/** The addon's `gemmBuilds()` string read: "onednn 2.6.3,openblas" → [{onednn, 2.6.3}, {openblas, null}]. */
export function parseGemmBuilds(builds: string): GemmBuild[] {
  return builds.split(',').map((b) => {
    const [library, version] = b.trim().split(' ');
    if (library !== 'onednn' && library !== 'openblas') throw new Error(`kit_native.gemmBuilds: unknown library '${b}' in '${builds}'`);
    return { library, version: version ?? null };
  });
}

/**
 * `KIT_NATIVE_GEMM` if set ("onednn" or "openblas"), else oneDNN when the build has it (it uses the CPU's widest
 * vectors whatever `OPENBLAS_CORETYPE` says), else OpenBLAS.
 */
export function defaultGemm(builds: string): GemmLibrary {
  const env = process.env.KIT_NATIVE_GEMM;
  const hasDnnl = parseGemmBuilds(builds).some((b) => b.library === 'onednn');
  if (env !== undefined && env !== '') {
    if (env !== 'onednn' && env !== 'openblas') throw new Error(`KIT_NATIVE_GEMM='${env}' must be onednn or openblas`);
    if (env === 'onednn' && !hasDnnl) throw new Error(`KIT_NATIVE_GEMM=onednn, but this build has no oneDNN (install libdnnl-dev, then bash native/build.sh --force)`);
    return env;
  }
  return hasDnnl ? 'onednn' : 'openblas';
}

/** What runs an addon's products (`defaultGemm`), OpenBLAS's core, and whether the bits depend on the thread count. */
export interface NativeProducts {
  gemm: GemmLibrary;
  /** The library's version where the build reports one (oneDNN). */
  version: string | null;
  /** OpenBLAS's kernel set ("Haswell", "SkylakeX", …), or null when its config does not say. */
  core: string | null;
  /** The products give the same bits at every thread count (blas_core.ts). */
  threadInvariant: boolean;
}

/** The products the kit's default choice runs on this addon (the backend line, run records, the ablation runner). */
export function nativeProducts(addon: NativeAddon): NativeProducts {
  const builds = addon.gemmBuilds();
  const gemm = defaultGemm(builds);
  const core = coreOfBlasConfig(addon.blasConfig());
  const version = parseGemmBuilds(builds).find((b) => b.library === gemm)?.version ?? null;
  return { gemm, version, core, threadInvariant: threadInvariantGemm(gemm, core) };
}

/** Where the addon is looked for: `KIT_NATIVE_ADDON`, else build/native/kit_native.node. */
export function nativeAddonPath(): string {
  return process.env.KIT_NATIVE_ADDON || path.join(projectRoot(), 'build', 'native', 'kit_native.node');
}

function store<T>(key: symbol): { get(): T | undefined; set(v: T | undefined): void } {
  const g = globalThis as unknown as Record<symbol, T | undefined>;
  return { get: () => g[key], set: (v) => { g[key] = v; } };
}

/** Load the addon once; returns it, or why it cannot run here (one line, for the backend summary). */
export function loadNativeAddon(): { addon: NativeAddon } | { reason: string } {
  const cached = store<NativeAddon>(ADDON_KEY).get();
  if (cached) return { addon: cached };
  const file = nativeAddonPath();
  if (!fs.existsSync(file)) {
    const rel = path.relative(projectRoot(), file) || file;
    return { reason: `${rel} is not built (needs gcc + libopenblas-dev: \`npm run setup\` or \`bash native/build.sh\`)` };
  }
  try {
    const m = { exports: {} as unknown };
    process.dlopen(m, file);
    const addon = m.exports as Partial<NativeAddon>;
    if (addon.abiVersion !== ADDON_ABI || typeof addon.sgemmBatched !== 'function') {
      return { reason: `${file} is a different build (abiVersion ${String(addon.abiVersion)}, expected ${ADDON_ABI}): rebuild with \`bash native/build.sh --force\`` };
    }
    store<NativeAddon>(ADDON_KEY).set(addon as NativeAddon);
    return { addon: addon as NativeAddon };
  } catch (e) {
    return { reason: `${file} cannot load: ${(e as Error).message.split('\n')[0]}` };
  }
}

/** `KIT_NATIVE_THREADS` if set (a positive integer), else the machine's cores. */
export function defaultNativeThreads(): number {
  const env = process.env.KIT_NATIVE_THREADS;
  if (env !== undefined && env !== '') {
    const n = Number(env);
    if (!Number.isInteger(n) || n < 1) throw new Error(`KIT_NATIVE_THREADS='${env}' is not a positive integer`);
    return n;
  }
  return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
}

/** Default of `KIT_NATIVE_SMALL_GEMM`: products of ≤ 2²² multiply-adds (e.g. [1024,64]·[64,64]) run on one thread. */
export const SMALL_GEMM_MACS = 2 ** 22;

/** `KIT_NATIVE_SMALL_GEMM` if set (multiply-adds; 0 = thread every product), else SMALL_GEMM_MACS. */
export function defaultSmallGemm(): number {
  const env = process.env.KIT_NATIVE_SMALL_GEMM;
  if (env === undefined || env === '') return SMALL_GEMM_MACS;
  const n = Number(env);
  if (!Number.isInteger(n) || n < 0) throw new Error(`KIT_NATIVE_SMALL_GEMM='${env}' is not a non-negative integer`);
  return n;
}

/** Set the native path's thread count (the products'); throws if the addon is not loaded. */
export function setNativeThreads(n: number): void {
  if (!Number.isInteger(n) || n < 1) throw new Error(`native threads must be a positive integer, got ${n}`);
  const a = store<NativeAddon>(ADDON_KEY).get();
  if (!a) throw new Error('setNativeThreads: the native addon is not loaded (initBackend("native") first)');
  a.setThreads(n);
}

/** The native path's thread count, or null when the addon is not loaded. */
export function nativeThreads(): number | null {
  const a = store<NativeAddon>(ADDON_KEY).get();
  return a ? a.getThreads() : null;
}

// ---------------------------------------------------------------------------------------------
// wasm backend plumbing

interface HeapBackend {
  makeOutput(shape: number[], dtype: tf.DataType): TensorInfo;
  typedArrayFromHeap(t: TensorInfo): Float32Array | Int32Array | Uint8Array;
}

function heapBackend(b: unknown): Backend & HeapBackend {
  const h = b as Partial<HeapBackend>;
  if (typeof h.makeOutput !== 'function' || typeof h.typedArrayFromHeap !== 'function') {
    throw new Error('native kernels: the backend is not tfjs-backend-wasm 4.x (no makeOutput / typedArrayFromHeap)');
  }
  return b as Backend & HeapBackend;
}

function previous(): Map<string, tf.KernelConfig> {
  const s = store<Map<string, tf.KernelConfig>>(PREVIOUS_KEY);
  let m = s.get();
  if (!m) {
    m = new Map();
    s.set(m);
  }
  return m;
}

/** The kernel that `name` replaced (the kit's wasm kernel or wasm's own): the fallback. */
function fallback(name: string, args: KernelArgs): TensorInfo | TensorInfo[] {
  const k = previous().get(name);
  if (!k) throw new Error(`native kernels: no previous '${name}' kernel on wasm to fall back to`);
  return k.kernelFunc(args);
}

function prod(xs: readonly number[]): number {
  return xs.reduce((p, d) => p * d, 1);
}

function f32(backend: HeapBackend, t: TensorInfo): Float32Array {
  return backend.typedArrayFromHeap(t) as Float32Array;
}

/** Allocate the output on the heap, THEN take the views (an allocation may grow and detach the heap). */
function withOutput(
  backend: Backend & HeapBackend,
  shape: number[],
  inputs: TensorInfo[],
  body: (ins: Float32Array[], out: Float32Array) => void,
): TensorInfo {
  const out = backend.makeOutput(shape, 'float32');
  try {
    if (prod(shape) > 0) body(inputs.map((t) => f32(backend, t)), f32(backend, out));
  } catch (e) {
    backend.disposeData(out.dataId);
    throw e;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// MatMul

interface MatMulPlan {
  outShape: number[];
  batch: number;
  m: number;
  n: number;
  k: number;
  strideA: number;
  strideB: number;
}

/** How to run a (batched) product natively, or null when the batch broadcasting is not covered. */
function planMatMul(aShape: number[], bShape: number[], ta: boolean, tb: boolean): MatMulPlan | null {
  if (aShape.length < 2 || bShape.length < 2) return null;
  const ra = aShape.length;
  const rb = bShape.length;
  const m = ta ? aShape[ra - 1] : aShape[ra - 2];
  const ka = ta ? aShape[ra - 2] : aShape[ra - 1];
  const kb = tb ? bShape[rb - 1] : bShape[rb - 2];
  const n = tb ? bShape[rb - 2] : bShape[rb - 1];
  if (ka !== kb) return null;
  const outerA = aShape.slice(0, -2);
  const outerB = bShape.slice(0, -2);
  const ba = prod(outerA);
  const bb = prod(outerB);
  let outer: number[];
  try {
    outer = tf.backend_util.assertAndGetBroadcastShape(outerA, outerB);
  } catch {
    return null;
  }
  const batch = prod(outer);
  // Covered: equal batches (same broadcast result), or one side with a single matrix.
  if (!(ba === batch && bb === batch) && !(ba === 1 && bb === batch) && !(bb === 1 && ba === batch)) return null;
  return { outShape: [...outer, m, n], batch, m, n, k: ka, strideA: ba === 1 ? 0 : m * ka, strideB: bb === 1 ? 0 : ka * n };
}

function nativeMatMul(addon: NativeAddon, a: Float32Array, b: Float32Array, c: Float32Array, p: MatMulPlan, ta: boolean, tb: boolean): void {
  if (p.strideB === 0 && !ta && p.batch > 1) {
    // A shared right operand: [batch·M, K] · [K, N] is one product (better threading).
    addon.sgemmBatched(a, b, c, 1, p.batch * p.m, p.n, p.k, 0, tb ? 1 : 0, 0, 0, 0, 0);
    return;
  }
  addon.sgemmBatched(a, b, c, p.batch, p.m, p.n, p.k, ta ? 1 : 0, tb ? 1 : 0, p.strideA, p.strideB, p.m * p.n, 0);
}

function batchMatMul(addon: NativeAddon): tf.KernelFunc {
  return (args: KernelArgs) => {
    const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
    const { transposeA, transposeB } = args.attrs as unknown as { transposeA: boolean; transposeB: boolean };
    const plan = a.dtype === 'float32' && b.dtype === 'float32' ? planMatMul(a.shape, b.shape, transposeA, transposeB) : null;
    if (!plan) return fallback('BatchMatMul', args);
    const backend = heapBackend(args.backend);
    return withOutput(backend, plan.outShape, [a, b], ([av, bv], out) => nativeMatMul(addon, av, bv, out, plan, transposeA, transposeB));
  };
}

/**
 * Epilogues done natively. All but prelu: tfjs-wasm 4.22's own _FusedMatMul gives wrong values when the right
 * operand is broadcast over the batch ([2,2,3]·[1,3,2] + bias: 1.6 where cpu gives 1.9), so falling back to it
 * is avoided wherever the addon can do the epilogue itself.
 */
const FUSED_ACTIVATIONS: Record<string, number> = { linear: 0, relu: 1, relu6: 2, leakyrelu: 3, elu: 4, sigmoid: 5 };

function fusedMatMul(addon: NativeAddon): tf.KernelFunc {
  return (args: KernelArgs) => {
    const { a, b, bias, preluActivationWeights } = args.inputs as {
      a: TensorInfo; b: TensorInfo; bias?: TensorInfo; preluActivationWeights?: TensorInfo;
    };
    const { transposeA, transposeB, activation, leakyreluAlpha } = args.attrs as unknown as {
      transposeA: boolean; transposeB: boolean; activation?: string; leakyreluAlpha?: number;
    };
    const act = FUSED_ACTIVATIONS[activation ?? 'linear'];
    const plan = a.dtype === 'float32' && b.dtype === 'float32' ? planMatMul(a.shape, b.shape, transposeA, transposeB) : null;
    const biasOk = !bias || (bias.dtype === 'float32' && (prod(bias.shape) === 1 || (plan !== null && prod(bias.shape) === plan.n && bias.shape[bias.shape.length - 1] === plan.n)));
    if (!plan || act === undefined || preluActivationWeights || !biasOk) return fallback('_FusedMatMul', args);
    const backend = heapBackend(args.backend);
    const ins = bias ? [a, b, bias] : [a, b];
    return withOutput(backend, plan.outShape, ins, ([av, bv, biasv], out) => {
      nativeMatMul(addon, av, bv, out, plan, transposeA, transposeB);
      if (biasv || act !== 0) {
        addon.biasAct(out, biasv ?? new Float32Array(0), plan.batch * plan.m, plan.n, act, leakyreluAlpha ?? 0.2);
      }
    });
  };
}

// ---------------------------------------------------------------------------------------------
// Conv2D and its gradients (NHWC, HWIO)

type Pad = 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;

interface ConvAttrs {
  strides: number | [number, number];
  pad: Pad;
  dataFormat?: string;
  dilations?: number | [number, number];
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

function isNHWC(dataFormat: string | undefined): boolean {
  return dataFormat === undefined || dataFormat === 'NHWC' || dataFormat === 'channelsLast';
}

/** The addon's 15 geometry integers for x `xShape` and filter `fShape` (HWIO). */
function convGeometry(xShape: number[], fShape: number[], a: ConvAttrs): number[] {
  const info = tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number], fShape as [number, number, number, number],
    a.strides, a.dilations ?? 1, a.pad, a.dimRoundingMode, false, 'channelsLast',
  );
  return [
    info.batchSize, info.inHeight, info.inWidth, info.inChannels,
    info.filterHeight, info.filterWidth, info.outChannels, info.outHeight, info.outWidth,
    info.strideHeight, info.strideWidth, info.dilationHeight, info.dilationWidth, info.padInfo.top, info.padInfo.left,
  ];
}

function conv2D(addon: NativeAddon): tf.KernelFunc {
  return (args: KernelArgs) => {
    const { x, filter } = args.inputs as { x: TensorInfo; filter: TensorInfo };
    const a = args.attrs as unknown as ConvAttrs;
    if (!isNHWC(a.dataFormat) || x.dtype !== 'float32' || filter.dtype !== 'float32' || x.shape.length !== 4) return fallback('Conv2D', args);
    const g = convGeometry(x.shape, filter.shape, a);
    const backend = heapBackend(args.backend);
    return withOutput(backend, [g[0], g[7], g[8], g[6]], [x, filter], ([xv, fv], out) => addon.conv2d(xv, fv, out, ...g)); // [B, OH, OW, Cout]
  };
}

function conv2DBackpropInput(addon: NativeAddon): tf.KernelFunc {
  return (args: KernelArgs) => {
    const { dy, filter } = args.inputs as { dy: TensorInfo; filter: TensorInfo };
    const a = args.attrs as unknown as ConvAttrs & { inputShape: [number, number, number, number] };
    if (!isNHWC(a.dataFormat) || dy.dtype !== 'float32' || filter.dtype !== 'float32') return fallback('Conv2DBackpropInput', args);
    const g = convGeometry(a.inputShape, filter.shape, { ...a, dilations: 1 });
    const backend = heapBackend(args.backend);
    return withOutput(backend, [...a.inputShape], [dy, filter], ([dyv, fv], out) => addon.conv2dBackpropInput(dyv, fv, out, ...g)); // [B, H, W, Cin]
  };
}

function conv2DBackpropFilter(addon: NativeAddon): tf.KernelFunc {
  return (args: KernelArgs) => {
    const { x, dy } = args.inputs as { x: TensorInfo; dy: TensorInfo };
    const a = args.attrs as unknown as ConvAttrs & { filterShape: [number, number, number, number] };
    if (!isNHWC(a.dataFormat) || dy.dtype !== 'float32' || x.dtype !== 'float32') return fallback('Conv2DBackpropFilter', args);
    const g = convGeometry(x.shape, a.filterShape, { ...a, dilations: 1 });
    const backend = heapBackend(args.backend);
    return withOutput(backend, [...a.filterShape], [x, dy], ([xv, dyv], out) => addon.conv2dBackpropFilter(xv, dyv, out, ...g)); // [KH, KW, Cin, Cout]
  };
}

// ---------------------------------------------------------------------------------------------
// FusedBatchNorm (inference form; tfjs composes its gradient from other ops)

function batchNorm(addon: NativeAddon): tf.KernelFunc {
  return (args: KernelArgs) => {
    const { x, mean, variance, offset, scale } = args.inputs as { x: TensorInfo; mean: TensorInfo; variance: TensorInfo; offset?: TensorInfo; scale?: TensorInfo };
    const { varianceEpsilon } = args.attrs as unknown as { varianceEpsilon: number };
    const c = x.shape.length > 0 ? x.shape[x.shape.length - 1] : 0;
    const perChannel = (t: TensorInfo | undefined, optional: boolean): boolean =>
      t === undefined ? optional : t.dtype === 'float32' && (prod(t.shape) === c || prod(t.shape) === 1);
    if (x.dtype !== 'float32' || c < 1 || !perChannel(mean, false) || !perChannel(variance, false) || !perChannel(offset, true) || !perChannel(scale, true)) {
      return fallback('FusedBatchNorm', args);
    }
    const backend = heapBackend(args.backend);
    const out = backend.makeOutput([...x.shape], 'float32');
    const rows = prod(x.shape) / c;
    if (rows > 0) {
      const none = new Float32Array(0);
      addon.batchNorm(f32(backend, x), f32(backend, mean), f32(backend, variance), offset ? f32(backend, offset) : none, scale ? f32(backend, scale) : none, f32(backend, out), rows, c, varianceEpsilon);
    }
    return out;
  };
}

// ---------------------------------------------------------------------------------------------
// Sum over a block of adjacent axes, Tile, AvgPoolGrad (round 4: what the profile showed next)

/**
 * Sum over adjacent axes with at least one axis after them (a conv's bias gradient: [B, H, W, C] → [C]).
 * tfjs-wasm transposes the reduced axes innermost first (a copy of the whole input; 2.5 ms of a pir-small step
 * for [32, 32, 32, 32]); the native kernel reads in place with the same float sums in the same order (same bits,
 * test/backend_native.test.ts). Innermost reductions, other dtypes, and axes that are not an ascending run
 * (wasm sums in the order they are given) run wasm's own.
 */
function sum(addon: NativeAddon): tf.KernelFunc {
  return (args: KernelArgs) => {
    const { x } = args.inputs as { x: TensorInfo };
    const { axis, keepDims } = args.attrs as unknown as { axis: number | number[]; keepDims: boolean };
    // wasm adds the reduced values in the order the axes are given (row-major over them): only ascending runs match
    const axes = tf.util.parseAxisParam(axis, x.shape);
    const adjacent = axes.length > 0 && axes.every((a, i) => i === 0 || a === axes[i - 1] + 1);
    const last = axes.length > 0 ? axes[axes.length - 1] : -1;
    if (x.dtype !== 'float32' || !adjacent || last === x.shape.length - 1) return fallback('Sum', args);
    const [kept, reduced] = tf.backend_util.computeOutAndReduceShapes(x.shape, axes);
    const outer = prod(x.shape.slice(0, axes[0]));
    const inner = prod(x.shape.slice(last + 1));
    const red = prod(reduced);
    const outShape = keepDims ? tf.backend_util.expandShapeToKeepDim(kept, axes) : kept;
    const backend = heapBackend(args.backend);
    return withOutput(backend, outShape, [x], ([xv], out) => addon.sumAxes(xv, out, outer, red, inner)); // x [outer, red, inner] → [outer, inner]
  };
}

/** The addon's op codes of the element-wise binary kernels (native/kit_native.c `binaryOp`). */
const BINARY_OPS = { Add: 0, Sub: 1, Multiply: 2, RealDiv: 3 } as const;

/** `small` without its leading 1s equals the trailing axes of `big` (a bias [C] on [B, H, W, C], a scalar). */
function isTrailing(small: number[], big: number[]): boolean {
  let i = 0;
  while (i < small.length && small[i] === 1) i++;
  const t = small.slice(i);
  return t.length <= big.length && t.every((d, j) => d === big[big.length - t.length + j]);
}

/**
 * The geometry of a binary kernel the addon runs: one operand repeated over the other's leading axes (a conv's bias
 * [C] on [B, H, W, C], a per-channel scale), at least two values wide. Null: same shapes, a scalar, or another
 * broadcast, which wasm's own kernels run as fast or faster (bench/README.md, round 5).
 */
export function planBinary(aShape: number[], bShape: number[]): { outShape: number[]; outer: number; inner: number } | null {
  const outShape = tf.backend_util.assertAndGetBroadcastShape(aShape, bShape);
  const n = prod(outShape), na = prod(aShape), nb = prod(bShape);
  if (n === 0 || na === nb) return null;
  if (na === n && nb >= 2 && isTrailing(bShape, aShape)) return { outShape, outer: n / nb, inner: nb };
  if (nb === n && na >= 2 && isTrailing(aShape, bShape)) return { outShape, outer: n / na, inner: na };
  return null;
}

/**
 * Add / Sub / Multiply / RealDiv of float32 operands where one is repeated over the other's leading axes: one
 * vectorised loop on the heap. tfjs-wasm's broadcasting loop computes every value's source index: 850 µs for a
 * conv's bias add on [32, 32, 32, 32] + [32], 3–3.5× the native loop's. One IEEE operation per value: the same
 * numbers as every backend. Same shapes and scalars stay on wasm's SIMD kernels (measured as fast), as do other
 * dtypes and broadcasts.
 */
function binaryKernel(addon: NativeAddon, name: keyof typeof BINARY_OPS): tf.KernelFunc {
  return (args: KernelArgs) => {
    const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
    const plan = a.dtype === 'float32' && b.dtype === 'float32' ? planBinary(a.shape, b.shape) : null;
    if (!plan) return fallback(name, args);
    const backend = heapBackend(args.backend);
    return withOutput(backend, plan.outShape, [a, b], ([av, bv], out) => addon.binaryOp(av, bv, out, BINARY_OPS[name], plan.outer, plan.inner));
  };
}

/**
 * Tile by block copies on the heap (wasm's kernel computes every output index: 2.3 ms for [32, 1, 64] × [1, 16, 1]
 * in the Spatial-PAE's broadcastTo). A copy: the same values on every backend.
 */
function tile(): tf.KernelFunc {
  return (args: KernelArgs) => {
    const { x } = args.inputs as { x: TensorInfo };
    const { reps } = args.attrs as unknown as { reps: number[] };
    if ((x.dtype !== 'float32' && x.dtype !== 'int32') || reps.length !== x.shape.length || x.shape.length === 0) return fallback('Tile', args);
    const backend = heapBackend(args.backend);
    const shape = x.shape;
    const outShape = shape.map((d, i) => d * reps[i]);
    const out = backend.makeOutput(outShape, x.dtype);
    if (prod(outShape) === 0) return out;
    const src = backend.typedArrayFromHeap(x) as Float32Array | Int32Array;
    const dst = backend.typedArrayFromHeap(out) as Float32Array | Int32Array;
    const rank = shape.length;
    // inSize[i] / outSize[i]: elements of one index of axis i (the row-major strides) in x / out
    const inSize = [...tf.util.computeStrides(shape), 1];
    const outSize = [...tf.util.computeStrides(outShape), 1];
    const fill = (axis: number, srcOff: number, dstOff: number): void => {
      if (axis === rank - 1) {
        const run = src.subarray(srcOff, srcOff + shape[axis]);
        for (let r = 0; r < reps[axis]; r++) dst.set(run, dstOff + r * shape[axis]);
        return;
      }
      for (let i = 0; i < shape[axis]; i++) fill(axis + 1, srcOff + i * inSize[axis], dstOff + i * outSize[axis]);
      // the first copy of this axis is written; the other reps repeat it as one block
      const block = shape[axis] * outSize[axis];
      for (let r = 1; r < reps[axis]; r++) dst.copyWithin(dstOff + r * block, dstOff, dstOff + block);
    };
    fill(0, 0, 0);
    return out;
  };
}

/** A heap view of a float32 / int32 / bool tensor (the typed array matching its dtype). */
type HeapArray = Float32Array | Int32Array | Uint8Array;

/**
 * Copy the box `begin`/`size` of x (shape `xShape`, row-major) into dst, one `set` per innermost run. Trailing axes
 * taken whole are merged into the run, so a slice along the first axis is a single copy.
 */
function copyBox(src: HeapArray, xShape: number[], begin: number[], size: number[], dst: HeapArray): void {
  const rank = xShape.length;
  let runAxis = rank - 1; // the run spans axes runAxis… (taken whole after the first)
  while (runAxis > 0 && begin[runAxis] === 0 && size[runAxis] === xShape[runAxis]) runAxis--;
  const strides = [...tf.util.computeStrides(xShape), 1];
  const run = size[runAxis] * strides[runAxis];
  let out = 0;
  const walk = (axis: number, off: number): void => {
    if (axis === runAxis) {
      const from = off + begin[axis] * strides[axis];
      dst.set(src.subarray(from, from + run), out);
      out += run;
      return;
    }
    for (let i = begin[axis]; i < begin[axis] + size[axis]; i++) walk(axis + 1, off + i * strides[axis]);
  };
  walk(0, 0);
}

const COPYABLE = new Set<tf.DataType>(['float32', 'int32', 'bool']);

/**
 * Slice on heap views. tfjs-wasm 4.22's Slice starts with `readSync`, a copy of the WHOLE input into a new JS
 * buffer, for every slice (and SplitV calls it once per output): for ViT-B/32's qkv split, 17 MB of fresh pages per
 * image batch. Same values (a copy).
 */
function sliceKernel(): tf.KernelFunc {
  return (args: KernelArgs) => {
    const { x } = args.inputs as { x: TensorInfo };
    const { begin, size } = args.attrs as unknown as { begin: number | number[]; size: number | number[] };
    if (!COPYABLE.has(x.dtype) || x.shape.length === 0) return fallback('Slice', args);
    const [b, sz] = tf.slice_util.parseSliceParams(x as unknown as tf.Tensor, begin, size);
    const backend = heapBackend(args.backend);
    const out = backend.makeOutput(sz, x.dtype);
    if (prod(sz) > 0) copyBox(backend.typedArrayFromHeap(x), x.shape, b, sz, backend.typedArrayFromHeap(out));
    return out;
  };
}

/** SplitV as one heap-view slice per output (see sliceKernel). */
function splitVKernel(): tf.KernelFunc {
  return (args: KernelArgs) => {
    const { x } = args.inputs as { x: TensorInfo };
    const { numOrSizeSplits, axis } = args.attrs as unknown as { numOrSizeSplits: number | number[]; axis: number };
    if (!COPYABLE.has(x.dtype) || x.shape.length === 0) return fallback('SplitV', args);
    const ax = tf.util.parseAxisParam(axis, x.shape)[0];
    const sizes = tf.backend_util.prepareSplitSize(x as unknown as tf.Tensor, numOrSizeSplits, ax);
    const backend = heapBackend(args.backend);
    // allocate every output first, THEN take the heap views (an allocation may grow and detach the heap)
    const outs = sizes.map((n) => backend.makeOutput(x.shape.map((d, i) => (i === ax ? n : d)), x.dtype));
    const src = backend.typedArrayFromHeap(x);
    let at = 0;
    outs.forEach((o, k) => {
      const begin = x.shape.map((_, i) => (i === ax ? at : 0));
      if (prod(o.shape) > 0) copyBox(src, x.shape, begin, o.shape, backend.typedArrayFromHeap(o));
      at += sizes[k];
    });
    return outs;
  };
}

/** The unpadded AvgPoolGrad in C (the kit's JS scatter's arithmetic: same bits); padded windows run the previous kernel. */
function avgPoolGrad(addon: NativeAddon): tf.KernelFunc {
  return (args: KernelArgs) => {
    const { dy, input } = args.inputs as { dy: TensorInfo; input: TensorInfo };
    const g = unpaddedAvgPoolGrad(args);
    if (!g) return fallback('AvgPoolGrad', args);
    const backend = heapBackend(args.backend);
    return withOutput(backend, [...input.shape], [dy], ([dyv], out) =>
      addon.avgPoolGrad(dyv, out, g.n, g.h, g.w, g.c, g.oh, g.ow, g.sh, g.sw, g.fh, g.fw),
    );
  };
}

// ---------------------------------------------------------------------------------------------
// Fused AdamW: one kernel launch for the update of every parameter (instead of ~12 per parameter)

/** Name of the kit's fused AdamW kernel (registered on wasm by the native path only). */
export const KIT_ADAMW = 'KitAdamW';

/** The scalars of one AdamW step (the same numbers src/training/adamw.ts passes to the tfjs ops). */
export interface AdamWScalars {
  beta1: number;
  oneMinusBeta1: number;
  beta2: number;
  oneMinusBeta2: number;
  /** √(1 − β2^t). */
  bc2Sqrt: number;
  eps: number;
  /** lr / (1 − β1^t). */
  stepSize: number;
}

/** Inputs p0 m0 v0 g0 p1 …; attrs: the scalars and `decayFactors` (1 − lr·wd, or 1, per parameter). Outputs p0' m0' v0' p1' …. */
function kitAdamW(addon: NativeAddon): tf.KernelFunc {
  return (args: KernelArgs) => {
    const ins = args.inputs as Record<string, TensorInfo>;
    const a = args.attrs as unknown as AdamWScalars & { decayFactors: number[] };
    const n = a.decayFactors.length;
    const backend = heapBackend(args.backend);
    const quad: TensorInfo[][] = [];
    for (let i = 0; i < n; i++) {
      const q = [ins[`p${i}`], ins[`m${i}`], ins[`v${i}`], ins[`g${i}`]];
      const size = prod(q[0].shape);
      for (const t of q) {
        if (!t || t.dtype !== 'float32' || prod(t.shape) !== size) throw new Error(`${KIT_ADAMW}: parameter ${i}: p, m, v, g must be float32 tensors of one size`);
      }
      quad.push(q);
    }
    // Allocate every output first, THEN take the heap views (an allocation may grow and detach the heap).
    const outs = quad.map((q) => [q[0].shape, q[0].shape, q[0].shape].map((sh) => backend.makeOutput([...sh], 'float32')));
    quad.forEach((q, i) => {
      if (prod(q[0].shape) === 0) return;
      const [p, m, v, g] = q.map((t) => f32(backend, t));
      const [po, mo, vo] = outs[i].map((t) => f32(backend, t));
      addon.adamw(p, m, v, g, po, mo, vo, a.beta1, a.oneMinusBeta1, a.beta2, a.oneMinusBeta2, a.decayFactors[i], a.bc2Sqrt, a.eps, a.stepSize);
    });
    return outs.flat();
  };
}

/** True when the fused AdamW kernel can run here (the native path is the active backend's kernel set). */
export function fusedAdamWActive(): boolean {
  return tf.getBackend() === BACKEND && tf.getKernel(KIT_ADAMW, BACKEND) !== undefined;
}

/**
 * One AdamW step of every parameter in ONE kernel launch (native path only; check `fusedAdamWActive()`).
 * Returns [p', m', v'] per parameter (new tensors; the caller assigns and disposes them). Bit-identical to the
 * tfjs-op formula of src/training/adamw.ts on cpu and wasm (test/backend_native.test.ts).
 */
export function fusedAdamW(
  params: { p: tf.Tensor; m: tf.Tensor; v: tf.Tensor; g: tf.Tensor; decayFactor: number }[],
  s: AdamWScalars,
): [tf.Tensor, tf.Tensor, tf.Tensor][] {
  if (params.length === 0) return [];
  const inputs: Record<string, tf.Tensor> = {};
  params.forEach((q, i) => {
    inputs[`p${i}`] = q.p;
    inputs[`m${i}`] = q.m;
    inputs[`v${i}`] = q.v;
    inputs[`g${i}`] = q.g;
  });
  const attrs = { ...s, decayFactors: params.map((q) => q.decayFactor) };
  const out = tf.engine().runKernel(KIT_ADAMW, inputs as unknown as tf.NamedTensorMap, attrs as unknown as tf.NamedAttrMap) as tf.Tensor[];
  return params.map((_, i) => [out[3 * i], out[3 * i + 1], out[3 * i + 2]]);
}

/** globalThis key: the in-place AdamW update is off (bench/native.ts round ≤ 4 modes). */
const ADAMW_IN_PLACE_OFF_KEY = Symbol.for('priorclip-kit.nativeKernels.adamwInPlaceOff');

/** Allow (default) or forbid `nativeAdamWInPlace` (forbidden: every native step is one KitAdamW launch, as in round 4). */
export function setAdamWInPlace(on: boolean): void {
  store<boolean>(ADAMW_IN_PLACE_OFF_KEY).set(!on);
}

/** The wasm backend's reference count of a buffer (how many tensors share it). */
interface RefCounted {
  refCount(dataId: tf.DataId): number;
}

/**
 * One AdamW step of every parameter written IN PLACE into the buffers of p, m and v: no kernel launch, no new
 * tensors, no assign (the kernel form allocates 3 outputs per parameter: ~450 per pir-small step). Only when each
 * p, m and v is the sole holder of its heap buffer (reference count 1: no clone or snapshot of the parameter
 * shares it, so nothing else sees the update) and none of them shares a buffer with another or with a gradient. Returns false and
 * writes nothing otherwise (and off the native path): the caller then runs `fusedAdamW`. The same float
 * operations as `fusedAdamW`, so the same bits (test/backend_native.test.ts).
 */
export function nativeAdamWInPlace(
  params: { p: tf.Variable; m: tf.Variable; v: tf.Variable; g: tf.Tensor; decayFactor: number }[],
  s: AdamWScalars,
): boolean {
  const addon = store<NativeAddon>(ADDON_KEY).get();
  if (!addon || typeof addon.adamwInPlace !== 'function' || !fusedAdamWActive() || store<boolean>(ADAMW_IN_PLACE_OFF_KEY).get()) return false;
  const backend = tf.backend() as unknown as Partial<HeapBackend & RefCounted>;
  if (typeof backend.refCount !== 'function' || typeof backend.typedArrayFromHeap !== 'function') return false;
  const written = new Set<tf.DataId>();
  const read = new Set<tf.DataId>(params.map((q) => q.g.dataId)); // gradients may share buffers among themselves
  for (const q of params) {
    if ([q.p, q.m, q.v, q.g].some((x) => x.dtype !== 'float32' || x.size !== q.p.size || x.isDisposed)) return false;
    for (const x of [q.p, q.m, q.v]) {
      if (written.has(x.dataId) || read.has(x.dataId) || backend.refCount!(x.dataId) !== 1) return false;
      written.add(x.dataId);
    }
  }
  const hb = backend as HeapBackend;
  for (const q of params) {
    if (q.p.size === 0) continue;
    const [p, m, v, g] = [q.p, q.m, q.v, q.g].map((x) => f32(hb, x));
    addon.adamwInPlace(p, m, v, g, s.beta1, s.oneMinusBeta1, s.beta2, s.oneMinusBeta2, q.decayFactor, s.bc2Sqrt, s.eps, s.stepSize);
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Fused exact GELU (the kit's erf rational form): one launch forward, one backward

/** Kernel names of the fused GELU (registered on wasm by the native path only). */
export const KIT_GELU = 'KitGelu';
export const KIT_GELU_GRAD = 'KitGeluGrad';

function checkF32(name: string, ts: TensorInfo[]): void {
  const n = prod(ts[0].shape);
  for (const t of ts) {
    if (!t || t.dtype !== 'float32' || prod(t.shape) !== n) throw new Error(`${name}: float32 inputs of one size expected`);
  }
}

/** x → [y, cdf]. */
function kitGelu(addon: NativeAddon): tf.KernelFunc {
  return (args: KernelArgs) => {
    const { x } = args.inputs as { x: TensorInfo };
    checkF32(KIT_GELU, [x]);
    const backend = heapBackend(args.backend);
    const y = backend.makeOutput([...x.shape], 'float32');
    const cdf = backend.makeOutput([...x.shape], 'float32');
    if (prod(x.shape) > 0) addon.geluForward(f32(backend, x), f32(backend, y), f32(backend, cdf));
    return [y, cdf];
  };
}

/** dy, x, cdf → dx. */
function kitGeluGrad(addon: NativeAddon): tf.KernelFunc {
  return (args: KernelArgs) => {
    const { dy, x, cdf } = args.inputs as { dy: TensorInfo; x: TensorInfo; cdf: TensorInfo };
    checkF32(KIT_GELU_GRAD, [dy, x, cdf]);
    const backend = heapBackend(args.backend);
    return withOutput(backend, [...x.shape], [dy, x, cdf], ([d, xv, c], out) => addon.geluBackward(d, xv, c, out));
  };
}

/** True when the fused GELU can run here (the native path is active) for a tensor of `dtype`. */
export function fusedGeluActive(dtype: tf.DataType): boolean {
  return dtype === 'float32' && tf.getBackend() === BACKEND && tf.getKernel(KIT_GELU, BACKEND) !== undefined;
}

/**
 * Exact GELU in one kernel launch (gradient: one more), for src/models/layers.ts `gelu` on the native path:
 * the same float32 operations as its tfjs composition (forward bits equal on cpu / wasm; tested).
 */
export function fusedGelu(x: tf.Tensor): tf.Tensor {
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const xs = args[0] as tf.Tensor;
    const save = args[1] as tf.GradSaveFunc;
    const [y, cdf] = tf.engine().runKernel(KIT_GELU, { x: xs } as unknown as tf.NamedTensorMap, {}) as tf.Tensor[];
    save([xs, cdf]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => [
        tf.engine().runKernel(KIT_GELU_GRAD, { dy, x: saved[0], cdf: saved[1] } as unknown as tf.NamedTensorMap, {}) as tf.Tensor,
      ],
    };
  });
  return tf.tidy(() => f(x));
}

// ---------------------------------------------------------------------------------------------
// Fused LayerNorm over the last axis: one launch forward, one backward

export const KIT_LAYER_NORM = 'KitLayerNorm';
export const KIT_LAYER_NORM_GRAD = 'KitLayerNormGrad';

/** x [..., D], gamma [D], beta [D]; attr eps → [y [..., D], xhat [..., D], rstd [..., 1]]. */
function kitLayerNorm(addon: NativeAddon): tf.KernelFunc {
  return (args: KernelArgs) => {
    const { x, gamma, beta } = args.inputs as { x: TensorInfo; gamma: TensorInfo; beta: TensorInfo };
    const { eps } = args.attrs as unknown as { eps: number };
    const d = x.shape[x.shape.length - 1];
    checkF32(KIT_LAYER_NORM, [gamma, beta]);
    checkF32(KIT_LAYER_NORM, [x]);
    if (prod(gamma.shape) !== d) throw new Error(`${KIT_LAYER_NORM}: gamma has ${prod(gamma.shape)} values for a last axis of ${d}`);
    const rows = prod(x.shape) / d;
    const backend = heapBackend(args.backend);
    const y = backend.makeOutput([...x.shape], 'float32');
    const xhat = backend.makeOutput([...x.shape], 'float32');
    const rstd = backend.makeOutput([...x.shape.slice(0, -1), 1], 'float32');
    if (rows > 0) addon.layerNormForward(f32(backend, x), f32(backend, gamma), f32(backend, beta), f32(backend, y), f32(backend, xhat), f32(backend, rstd), rows, d, eps);
    return [y, xhat, rstd];
  };
}

/** dy, xhat, rstd, gamma → [dx, dgamma [D], dbeta [D]]. */
function kitLayerNormGrad(addon: NativeAddon): tf.KernelFunc {
  return (args: KernelArgs) => {
    const { dy, xhat, rstd, gamma } = args.inputs as { dy: TensorInfo; xhat: TensorInfo; rstd: TensorInfo; gamma: TensorInfo };
    checkF32(KIT_LAYER_NORM_GRAD, [dy, xhat]);
    const d = xhat.shape[xhat.shape.length - 1];
    const rows = prod(xhat.shape) / d;
    if (prod(rstd.shape) !== rows || prod(gamma.shape) !== d) throw new Error(`${KIT_LAYER_NORM_GRAD}: rstd / gamma do not match xhat [${xhat.shape}]`);
    const backend = heapBackend(args.backend);
    const dx = backend.makeOutput([...xhat.shape], 'float32');
    const dg = backend.makeOutput([d], 'float32');
    const db = backend.makeOutput([d], 'float32');
    addon.layerNormBackward(f32(backend, dy), f32(backend, xhat), f32(backend, rstd), f32(backend, gamma), f32(backend, dx), f32(backend, dg), f32(backend, db), rows, d);
    return [dx, dg, db];
  };
}

/** True when the fused LayerNorm can run for x [..., D] with γ, β of D values (float32, native path active). */
export function fusedLayerNormActive(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor): boolean {
  if (x.rank < 1 || x.dtype !== 'float32' || gamma.dtype !== 'float32' || beta.dtype !== 'float32') return false;
  const d = x.shape[x.rank - 1];
  if (d < 1 || gamma.rank !== 1 || beta.rank !== 1 || gamma.size !== d || beta.size !== d) return false;
  return tf.getBackend() === BACKEND && tf.getKernel(KIT_LAYER_NORM, BACKEND) !== undefined;
}

/**
 * `nn.LayerNorm` over the last axis in one kernel launch (gradient: one more), for src/models/layers.ts
 * `layerNorm` on the native path. Sums in double: equal to the tfjs composition within float32 rounding (tested).
 */
export function fusedLayerNorm(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, eps: number): tf.Tensor {
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xs, g, b] = args.slice(0, 3) as tf.Tensor[];
    const save = args[3] as tf.GradSaveFunc;
    const [y, xhat, rstd] = tf.engine().runKernel(KIT_LAYER_NORM, { x: xs, gamma: g, beta: b } as unknown as tf.NamedTensorMap, { eps } as unknown as tf.NamedAttrMap) as tf.Tensor[];
    save([xhat, rstd, g]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xh, rs, gm] = saved;
        const [dx, dg, db] = tf.engine().runKernel(KIT_LAYER_NORM_GRAD, { dy, xhat: xh, rstd: rs, gamma: gm } as unknown as tf.NamedTensorMap, {}) as tf.Tensor[];
        return [dx, tf.reshape(dg, gm.shape), tf.reshape(db, gm.shape)];
      },
    };
  });
  return tf.tidy(() => f(x, gamma, beta));
}

// ---------------------------------------------------------------------------------------------
// Fused multi-head scaled dot-product attention: one launch forward (every batch entry and head), one backward

export const KIT_ATTENTION = 'KitAttention';
export const KIT_ATTENTION_GRAD = 'KitAttentionGrad';

/** Attributes of KitAttention / KitAttentionGrad. */
interface AttentionAttrs {
  /** Heads H (D divisible by H). */
  heads: number;
  /** Score scale 1/√(D/H). */
  scale: number;
}

/** Sizes of one attention call, checked: q [B, Lq, D], k / v [B, Lk, D], mask [Lq, Lk] or empty, drop [B, H, Lq, Lk] or empty. */
function attentionSizes(name: string, q: TensorInfo, k: TensorInfo, v: TensorInfo, mask: TensorInfo, drop: TensorInfo, heads: number): { B: number; Lq: number; Lk: number; D: number } {
  const ok3 = (t: TensorInfo) => t.dtype === 'float32' && t.shape.length === 3;
  if (!ok3(q) || !ok3(k) || !ok3(v)) throw new Error(`${name}: q, k, v must be float32 [B, L, D]; got [${q.shape}], [${k.shape}], [${v.shape}]`);
  const [B, Lq, D] = q.shape;
  const Lk = k.shape[1];
  if (k.shape[0] !== B || v.shape[0] !== B || k.shape[2] !== D || v.shape[2] !== D || v.shape[1] !== Lk || D % heads !== 0) {
    throw new Error(`${name}: shape mismatch q [${q.shape}], k [${k.shape}], v [${v.shape}] for ${heads} heads`);
  }
  if (prod(mask.shape) !== 0 && prod(mask.shape) !== Lq * Lk) throw new Error(`${name}: mask [${mask.shape}] is not [${Lq}, ${Lk}]`);
  if (prod(drop.shape) !== 0 && prod(drop.shape) !== B * heads * Lq * Lk) throw new Error(`${name}: dropout map [${drop.shape}] is not [${B}, ${heads}, ${Lq}, ${Lk}]`);
  return { B, Lq, Lk, D };
}

/** q, k, v, mask, drop → [out [B, Lq, D], probabilities [B, H, Lq, Lk]]. */
function kitAttention(addon: NativeAddon): tf.KernelFunc {
  return (args: KernelArgs) => {
    const { q, k, v, mask, drop } = args.inputs as { q: TensorInfo; k: TensorInfo; v: TensorInfo; mask: TensorInfo; drop: TensorInfo };
    const { heads, scale } = args.attrs as unknown as AttentionAttrs;
    const { B, Lq, Lk, D } = attentionSizes(KIT_ATTENTION, q, k, v, mask, drop, heads);
    const backend = heapBackend(args.backend);
    const out = backend.makeOutput([B, Lq, D], 'float32');
    const probs = backend.makeOutput([B, heads, Lq, Lk], 'float32');
    if (B > 0) {
      addon.attentionForward(f32(backend, q), f32(backend, k), f32(backend, v), f32(backend, mask), f32(backend, drop), f32(backend, out), f32(backend, probs), B, Lq, Lk, heads, scale);
    }
    return [out, probs];
  };
}

/** dout, dprobs, q, k, v, probs, drop, mask → [dq, dk, dv, dmask (the mask's shape; [0] when there is none)]. */
function kitAttentionGrad(addon: NativeAddon): tf.KernelFunc {
  return (args: KernelArgs) => {
    const { dout, dprobs, q, k, v, probs, drop, mask } = args.inputs as Record<string, TensorInfo>;
    const { heads, scale } = args.attrs as unknown as AttentionAttrs;
    const { B, Lq, Lk } = attentionSizes(KIT_ATTENTION_GRAD, q, k, v, mask, drop, heads);
    const backend = heapBackend(args.backend);
    const dq = backend.makeOutput([...q.shape], 'float32');
    const dk = backend.makeOutput([...k.shape], 'float32');
    const dv = backend.makeOutput([...v.shape], 'float32');
    const dmask = backend.makeOutput([...mask.shape], 'float32');
    if (B > 0) {
      addon.attentionBackward(
        f32(backend, dout), f32(backend, dprobs), f32(backend, q), f32(backend, k), f32(backend, v), f32(backend, probs), f32(backend, drop),
        f32(backend, dq), f32(backend, dk), f32(backend, dv), f32(backend, dmask), B, Lq, Lk, heads, scale,
      );
    } else if (prod(mask.shape) > 0) {
      f32(backend, dmask).fill(0);
    }
    return [dq, dk, dv, dmask];
  };
}

/** Register a gradient once per process (the flag under `key` on globalThis: every copy of this module shares it). */
function registerGradientOnce(key: symbol, config: tf.GradConfig): void {
  const reg = store<boolean>(key);
  if (reg.get()) return;
  reg.set(true);
  tf.registerGradient(config);
}

/** globalThis key: KitAttention's gradient is registered (once per process). */
const ATTENTION_GRAD_KEY = Symbol.for('priorclip-kit.nativeKernels.attentionGradient');

/**
 * KitAttention's gradient (registered once, globally: the kernel itself exists only on the native path). The tape
 * passes zeros for an output no gradient reaches (here usually the probabilities), so dprobs is always a tensor.
 */
function registerAttentionGradient(): void {
  registerGradientOnce(ATTENTION_GRAD_KEY, {
    kernelName: KIT_ATTENTION,
    inputsToSave: ['q', 'k', 'v', 'mask', 'drop'],
    outputsToSave: [false, true],
    gradFunc: (dys: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs?: tf.NamedAttrMap) => {
      const [dout, dprobs] = dys as tf.Tensor[];
      const [q, k, v, mask, drop, probs] = saved;
      const [dq, dk, dv, dmask] = tf.engine().runKernel(KIT_ATTENTION_GRAD, { dout, dprobs, q, k, v, probs, drop, mask } as unknown as tf.NamedTensorMap, attrs ?? {}) as tf.Tensor[];
      return { q: () => dq, k: () => dk, v: () => dv, mask: () => dmask, drop: () => tf.zerosLike(drop) };
    },
  });
}

/**
 * True when the fused attention can run here: native path active (KitAttention and KitDropoutMask registered),
 * float32 q, k, v of rank 3 with one batch size, and a mask that is absent or one additive [Lq, Lk] map for every
 * batch entry and head (e.g. causal).
 */
export function fusedAttentionActive(q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, mask: tf.Tensor | null | undefined): boolean {
  if (q.dtype !== 'float32' || k.dtype !== 'float32' || v.dtype !== 'float32' || q.rank !== 3 || k.rank !== 3 || v.rank !== 3) return false;
  if (k.shape[0] !== q.shape[0] || v.shape[0] !== q.shape[0]) return false; // batch broadcasting: the composed form
  if (mask) {
    // [..., Lq, Lk] with leading 1s (or [Lk] when Lq = 1): the same map for every batch entry and head
    const ms = mask.shape as number[];
    const lq = q.shape[1] as number;
    const lk = k.shape[1] as number;
    const lead = ms.slice(0, -2);
    const rowsOk = ms.length === 1 ? lq === 1 : ms[ms.length - 2] === lq;
    if (mask.dtype !== 'float32' || ms[ms.length - 1] !== lk || !rowsOk || lead.some((d) => d !== 1)) return false;
  }
  // the map's dropout mask is drawn by KitDropoutMask, so that kernel must be there too
  return tf.getBackend() === BACKEND && tf.getKernel(KIT_ATTENTION, BACKEND) !== undefined && tf.getKernel(KIT_DROPOUT_MASK, BACKEND) !== undefined;
}

/**
 * Multi-head attention in ONE kernel launch (its gradient: one more) for src/models/layers.ts
 * `attentionWithProbabilities` on the native path (check `fusedAttentionActive`). q [B, Lq, D], k, v [B, Lk, D];
 * mask: additive, Lq·Lk values, or null; dropout: rate and seed of the map's inverted-dropout mask [B, H, Lq, Lk]
 * (the draws of layers.ts `dropoutMask`, made on the heap by KitDropoutMask), or null. Returns out [B, Lq, D] and the probabilities [B, H, Lq, Lk] (before
 * dropout); both are differentiable. Equal to the tfjs composition within float32 rounding (tested).
 */
export function fusedAttention(
  q: tf.Tensor3D, k: tf.Tensor3D, v: tf.Tensor3D, heads: number, mask: tf.Tensor | null, dropout: { rate: number; seed: number } | null,
): { out: tf.Tensor3D; probabilities: tf.Tensor4D } {
  registerAttentionGradient();
  const [B, Lq, D] = q.shape;
  const Lk = k.shape[1];
  return tf.tidy(() => {
    const m = mask ? tf.reshape(mask, [Lq, Lk]) : tf.zeros([0]); // [Lq, Lk] or none
    const d = dropout ? nativeDropoutMask([B, heads, Lq, Lk], dropout.rate, dropout.seed) : tf.zeros([0]); // [B, H, Lq, Lk] or none
    const [out, probabilities] = tf.engine().runKernel(KIT_ATTENTION, { q, k, v, mask: m, drop: d } as unknown as tf.NamedTensorMap, { heads, scale: 1 / Math.sqrt(D / heads) } as unknown as tf.NamedAttrMap) as tf.Tensor[];
    return { out: out as tf.Tensor3D, probabilities: probabilities as tf.Tensor4D };
  });
}

// ---------------------------------------------------------------------------------------------
// Fused linear: forward = one KitLinear launch (the native _FusedMatMul's product + bias), gradient = one KitLinearGrad launch

export const KIT_LINEAR = 'KitLinear';
export const KIT_LINEAR_GRAD = 'KitLinearGrad';

/** x [..., in], w [in, out], bias [out] (optional input) → y [..., out] = x·w (+ bias): the calls of the native `_FusedMatMul`. */
function kitLinear(addon: NativeAddon): tf.KernelFunc {
  return (args: KernelArgs) => {
    const { x, w, bias } = args.inputs as { x: TensorInfo; w: TensorInfo; bias?: TensorInfo };
    const fin = x.shape[x.shape.length - 1];
    const fout = w.shape[1];
    const ok = [x, w, ...(bias ? [bias] : [])].every((t) => t.dtype === 'float32') && x.shape.length >= 1 && w.shape.length === 2;
    if (!ok || w.shape[0] !== fin || (bias && prod(bias.shape) !== fout)) {
      throw new Error(`${KIT_LINEAR}: expected float32 x [..., in], w [in, out], bias [out] or none; got [${x.shape}], [${w.shape}]${bias ? `, [${bias.shape}]` : ''}`);
    }
    const n = prod(x.shape.slice(0, -1)); // rows
    const backend = heapBackend(args.backend);
    const ins = bias ? [x, w, bias] : [x, w];
    return withOutput(backend, [...x.shape.slice(0, -1), fout], ins, ([xv, wv, bv], y) => {
      addon.sgemmBatched(xv, wv, y, 1, n, fout, fin, 0, 0, 0, 0, n * fout, 0); // [N, in]·[in, out] → [N, out]
      if (bv) addon.biasAct(y, bv, n, fout, 0, 0.2);
    });
  };
}

/** dy [..., out], x [..., in], w [in, out]; attrs hasBias → [dx (x's shape), dw [in, out], db [out] or [0]]. */
function kitLinearGrad(addon: NativeAddon): tf.KernelFunc {
  return (args: KernelArgs) => {
    const { dy, x, w } = args.inputs as { dy: TensorInfo; x: TensorInfo; w: TensorInfo };
    const { hasBias } = args.attrs as unknown as { hasBias: boolean };
    const ok = [dy, x, w].every((t) => t.dtype === 'float32') && w.shape.length === 2 && x.shape.length >= 1;
    const fin = x.shape[x.shape.length - 1];
    const fout = w.shape[1];
    const n = prod(x.shape.slice(0, -1)); // rows
    const dyOk = dy.shape[dy.shape.length - 1] === fout && prod(dy.shape) === n * fout && tf.util.arraysEqual(dy.shape.slice(0, -1), x.shape.slice(0, -1));
    if (!ok || w.shape[0] !== fin || !dyOk) {
      throw new Error(`${KIT_LINEAR_GRAD}: expected dy [..., out], x [..., in], w [in, out]; got [${dy.shape}], [${x.shape}], [${w.shape}]`);
    }
    const backend = heapBackend(args.backend);
    const dx = backend.makeOutput([...x.shape], 'float32');
    const dw = backend.makeOutput([fin, fout], 'float32');
    const db = backend.makeOutput([hasBias ? fout : 0], 'float32');
    if (n === 0) {
      f32(backend, dw).fill(0);
      f32(backend, db).fill(0);
    } else {
      addon.linearBackward(f32(backend, dy), f32(backend, x), f32(backend, w), f32(backend, dx), f32(backend, dw), f32(backend, db), n, fin, fout);
    }
    return [dx, dw, db];
  };
}

/** globalThis key: KitLinear's gradient is registered (once per process). */
const LINEAR_GRAD_KEY = Symbol.for('priorclip-kit.nativeKernels.linearGradient');

/** KitLinear's gradient: one KitLinearGrad launch (dx, dw, db: the three sgemm calls of the tfjs composition). */
function registerLinearGradient(): void {
  registerGradientOnce(LINEAR_GRAD_KEY, {
    kernelName: KIT_LINEAR,
    inputsToSave: ['x', 'w'],
    gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs?: tf.NamedAttrMap) => {
      const [x, w] = saved;
      const hasBias = (attrs as unknown as { hasBias: boolean } | undefined)?.hasBias === true;
      const [dx, dw, db] = tf.engine().runKernel(KIT_LINEAR_GRAD, { dy: dy as tf.Tensor, x, w } as unknown as tf.NamedTensorMap, { hasBias } as unknown as tf.NamedAttrMap) as tf.Tensor[];
      const grads: Record<string, () => tf.Tensor> = { x: () => dx, w: () => dw };
      if (hasBias) grads.bias = () => db;
      return grads;
    },
  });
}

/** True when the fused linear can run here: native path active, float32 x, w [in, out] and b [out] (or none). */
export function fusedLinearActive(x: tf.Tensor, w: tf.Tensor, b: tf.Tensor | null | undefined): boolean {
  if (x.dtype !== 'float32' || w.dtype !== 'float32' || w.rank !== 2 || x.rank < 1) return false;
  if (b && (b.dtype !== 'float32' || b.rank !== 1 || b.size !== w.shape[1])) return false;
  if (w.shape[0] === 0 || w.shape[1] === 0) return false; // no input or output features: the composed form
  return tf.getBackend() === BACKEND && tf.getKernel(KIT_LINEAR, BACKEND) !== undefined && tf.getKernel(KIT_LINEAR_GRAD, BACKEND) !== undefined;
}

/**
 * `nn.functional.linear` in the kit layout (x [..., in] · w [in, out] + b) for src/models/layers.ts `linear` on the
 * native path (check `fusedLinearActive`): forward one `KitLinear` launch on x as it is (no reshapes), gradient one
 * `KitLinearGrad` launch. The products are the sgemm calls of the tfjs composition on the native path (its
 * `_FusedMatMul` and matMuls), so the values are its bits (tested).
 */
export function fusedLinear(x: tf.Tensor, w: tf.Tensor2D, b: tf.Tensor | null): tf.Tensor {
  registerLinearGradient();
  const inputs = b ? { x, w, bias: b } : { x, w };
  return tf.engine().runKernel(KIT_LINEAR, inputs as unknown as tf.NamedTensorMap, { hasBias: b !== null } as unknown as tf.NamedAttrMap) as tf.Tensor;
}

// ---------------------------------------------------------------------------------------------
// Dropout mask on the heap (the same draws as src/models/layers.ts dropoutMask)

export const KIT_DROPOUT_MASK = 'KitDropoutMask';

/** No inputs; attrs shape, rate, seed → the float32 mask {0, 1/(1−rate)} of that shape. */
function kitDropoutMask(addon: NativeAddon): tf.KernelFunc {
  return (args: KernelArgs) => {
    const { shape, rate, seed } = args.attrs as unknown as { shape: number[]; rate: number; seed: number };
    if (!(rate >= 0 && rate < 1)) throw new Error(`${KIT_DROPOUT_MASK}: rate must be in [0, 1), got ${rate}`);
    const backend = heapBackend(args.backend);
    const out = backend.makeOutput([...shape], 'float32');
    if (prod(shape) > 0) addon.dropoutMask(f32(backend, out), rate, seed);
    return out;
  };
}

/** True when the dropout mask can be drawn natively (the native path is active). */
export function nativeDropoutMaskActive(): boolean {
  return tf.getBackend() === BACKEND && tf.getKernel(KIT_DROPOUT_MASK, BACKEND) !== undefined;
}

/** `tf.tensor(dropoutMask(size, rate, seed), shape)` drawn on the heap in one launch (native path only; same bits). */
export function nativeDropoutMask(shape: number[], rate: number, seed: number): tf.Tensor {
  return tf.engine().runKernel(KIT_DROPOUT_MASK, {}, { shape, rate, seed } as unknown as tf.NamedAttrMap) as tf.Tensor;
}

// ---------------------------------------------------------------------------------------------
// Fused global norm: ‖(g₀, g₁, …)‖₂ of every gradient in one launch (instead of a Square and a Sum per gradient)

export const KIT_GLOBAL_NORM = 'KitGlobalNorm';

/** Inputs g0, g1, … (float32, any shape) → a float32 scalar √(Σᵢ Σ gᵢ²) (double sums, tensors in input order). */
function kitGlobalNorm(addon: NativeAddon): tf.KernelFunc {
  return (args: KernelArgs) => {
    const ins = args.inputs as Record<string, TensorInfo>;
    const n = Object.keys(ins).length;
    const backend = heapBackend(args.backend);
    let total = 0;
    for (let i = 0; i < n; i++) {
      const g = ins[`g${i}`];
      if (!g || g.dtype !== 'float32') throw new Error(`${KIT_GLOBAL_NORM}: input g${i} must be a float32 tensor`);
      if (prod(g.shape) > 0) total += addon.sumSquares(f32(backend, g));
    }
    const out = backend.makeOutput([], 'float32');
    f32(backend, out)[0] = Math.sqrt(total);
    return out;
  };
}

/** True when the fused global norm can run here (the native path is active). */
export function fusedGlobalNormActive(): boolean {
  return tf.getBackend() === BACKEND && tf.getKernel(KIT_GLOBAL_NORM, BACKEND) !== undefined;
}

/** ‖(g₀, g₁, …)‖₂ as a float32 scalar tensor in ONE launch (native path only; check `fusedGlobalNormActive()`). */
export function fusedGlobalNorm(grads: tf.Tensor[]): tf.Scalar {
  const inputs: Record<string, tf.Tensor> = {};
  grads.forEach((g, i) => {
    inputs[`g${i}`] = g;
  });
  return tf.engine().runKernel(KIT_GLOBAL_NORM, inputs as unknown as tf.NamedTensorMap, {}) as tf.Scalar;
}

/** The kit's own new kernels (not replacements), registered on wasm by the native path. */
function kitOwnKernels(addon: NativeAddon): [string, tf.KernelFunc][] {
  return [
    [KIT_ADAMW, kitAdamW(addon)],
    [KIT_GELU, kitGelu(addon)],
    [KIT_GELU_GRAD, kitGeluGrad(addon)],
    [KIT_LAYER_NORM, kitLayerNorm(addon)],
    [KIT_LAYER_NORM_GRAD, kitLayerNormGrad(addon)],
    [KIT_LINEAR, kitLinear(addon)],
    [KIT_LINEAR_GRAD, kitLinearGrad(addon)],
    [KIT_DROPOUT_MASK, kitDropoutMask(addon)],
    [KIT_GLOBAL_NORM, kitGlobalNorm(addon)],
    [KIT_ATTENTION, kitAttention(addon)],
    [KIT_ATTENTION_GRAD, kitAttentionGrad(addon)],
  ];
}

/** Names of the kit's own native kernels (fused ops the kit calls only on the native path). */
export const NATIVE_FUSED_KERNELS = [KIT_ADAMW, KIT_GELU, KIT_GELU_GRAD, KIT_LAYER_NORM, KIT_LAYER_NORM_GRAD, KIT_LINEAR, KIT_LINEAR_GRAD, KIT_DROPOUT_MASK, KIT_GLOBAL_NORM, KIT_ATTENTION, KIT_ATTENTION_GRAD] as const;

// ---------------------------------------------------------------------------------------------

/** True while the native kernels are the registered wasm kernels. */
export function nativeKernelsActive(): boolean {
  const k = tf.getKernel('Conv2D', BACKEND);
  return k !== undefined && (k.kernelFunc as { kitNative?: boolean }).kitNative === true;
}

/**
 * Register the native kernels on the wasm backend (after `tf.setBackend('wasm')` and the kit's wasm
 * kernels). Idempotent. Returns the names registered.
 */
export function registerNativeKernels(addon: NativeAddon): string[] {
  const prev = previous();
  const active = nativeKernelsActive();
  const impls: Record<(typeof NATIVE_KIT_KERNELS)[number], tf.KernelFunc> = {
    BatchMatMul: batchMatMul(addon),
    _FusedMatMul: fusedMatMul(addon),
    Conv2D: conv2D(addon),
    Conv2DBackpropInput: conv2DBackpropInput(addon),
    Conv2DBackpropFilter: conv2DBackpropFilter(addon),
    FusedBatchNorm: batchNorm(addon),
    Sum: sum(addon),
    Tile: tile(),
    AvgPoolGrad: avgPoolGrad(addon),
    Slice: sliceKernel(),
    SplitV: splitVKernel(),
    Add: binaryKernel(addon, 'Add'),
    Sub: binaryKernel(addon, 'Sub'),
    Multiply: binaryKernel(addon, 'Multiply'),
    RealDiv: binaryKernel(addon, 'RealDiv'),
  };
  const done: string[] = [];
  for (const name of NATIVE_KIT_KERNELS) {
    const cur = tf.getKernel(name, BACKEND);
    if (!cur) throw new Error(`native kernels: the wasm backend has no '${name}' kernel to replace (is tfjs-backend-wasm 4.22 loaded?)`);
    if (!active) prev.set(name, cur);
    const fn = impls[name];
    (fn as { kitNative?: boolean }).kitNative = true;
    tf.unregisterKernel(name, BACKEND);
    tf.registerKernel({ kernelName: name, backendName: BACKEND, kernelFunc: fn, setupFunc: cur.setupFunc, disposeFunc: cur.disposeFunc });
    done.push(name);
  }
  for (const [name, fn] of kitOwnKernels(addon)) {
    if (tf.getKernel(name, BACKEND)) tf.unregisterKernel(name, BACKEND);
    tf.registerKernel({ kernelName: name, backendName: BACKEND, kernelFunc: fn });
    done.push(name);
  }
  return done;
}

/**
 * Put back the kernel that the native `name` replaced (e.g. 'FusedBatchNorm'), leaving the other native kernels;
 * `registerNativeKernels` brings it back. For before/after measurements (bench/native.ts).
 */
export function restorePreviousKernel(name: (typeof NATIVE_KIT_KERNELS)[number]): void {
  const k = previous().get(name);
  if (!k || !nativeKernelsActive()) return;
  tf.unregisterKernel(name, BACKEND);
  tf.registerKernel(k);
}

/** Remove the kit's fused kernels only (the native products stay): the native path as it was before them. */
export function unregisterFusedKernels(): void {
  for (const name of NATIVE_FUSED_KERNELS) if (tf.getKernel(name, BACKEND)) tf.unregisterKernel(name, BACKEND);
}

/** Put back the kernels the native ones replaced (plain wasm again). No-op when they are not registered. */
export function unregisterNativeKernels(): void {
  unregisterFusedKernels();
  if (!nativeKernelsActive()) return;
  const prev = previous();
  for (const name of NATIVE_KIT_KERNELS) {
    const k = prev.get(name);
    if (!k) continue;
    tf.unregisterKernel(name, BACKEND);
    tf.registerKernel(k);
  }
  prev.clear();
}
