/**
 * Kernels the tfjs wasm backend (4.22) lacks, computes wrongly or computes slowly; registered by
 * `initBackend('wasm')` through `registerWasmKernels()`.
 *
 * | kernel | why |
 * |---|---|
 * | `Conv2DBackpropFilter` | missing on wasm (conv training fails). Computed as ONE wasm `Conv2D` of the transposed input with the transposed dy (dilation = forward stride); non-overlapping patches → one matmul. |
 * | `Conv2DBackpropInput` | native one is slow: stride 1 → wasm `Conv2D` of dy with the flipped, transposed filter; stride s → s² phase convs with sub-filters, interleaved in JS; non-overlapping patches (stride = kernel, e.g. ViT patch embedding) → one matmul. |
 * | `DepthwiseConv2dNativeBackpropFilter`, `DepthwiseConv2dNativeBackpropInput` | missing (depthwise gradients fail). Direct loops in JS. |
 * | `GatherV2` | wasm's gather is ~60 ns per element (150 ms for a CLIP token-embedding lookup): JS row copies. |
 * | `UnsortedSegmentSum` | missing (the gradient of `tf.gather`, i.e. of every embedding, fails). JS scatter-add. |
 * | `MaxPoolGrad` | wasm routes the gradient to the wrong cell when a whole window is negative. JS, first max wins (same rule as the cpu backend). |
 * | `AvgPoolGrad` | native one is slow (~10 ms for a [32, 32, 32, 32] input, 2×2 stride 2, like a conv on it): JS scatter (~1–2 ms) for unpadded windows. |
 * | `BatchMatMul` | wasm is fast only for one plain 2-D product: transposed operands → explicit `Transpose`; batched products → one 2-D product when a side is shared, else ONE depthwise conv (4–20× faster than wasm's batch loop). |
 * | `_FusedMatMul` | transposed operands → explicit `Transpose`, then the plain kernel. |
 * | `Transpose` | axes that stay adjacent are merged first; a permutation that keeps memory order shares the buffer; what is still rank ≥ 5 runs in JS (wasm's rank-5 path is ~10× slower). |
 * | `Identity`, `Cast` (same dtype) | wasm copies the buffer; here they share it (refcount), as on the cpu backend. |
 *
 * Kernels here call other wasm kernels directly (`kernelFunc({inputs, backend, attrs})`), never tf ops:
 * every intermediate is a backend `TensorInfo` that is released with `backend.disposeData` before
 * returning, so `tf.memory()` (tensors and data buffers) does not grow.
 *
 * Idempotent: the original wasm kernels are remembered on `globalThis` (a Symbol.for key) so that a
 * second call, or a second copy of this module (tslab re-imports), wraps the original and not a wrapper.
 */
import * as tf from '@tensorflow/tfjs';

type TensorInfo = tf.TensorInfo;
type DataId = TensorInfo['dataId'];
type KernelArgs = Parameters<tf.KernelFunc>[0];
type Backend = tf.KernelBackend;
type Explicit = [[number, number], [number, number], [number, number], [number, number]];
type Pad = 'valid' | 'same' | number | Explicit;

const BACKEND = 'wasm';
/** globalThis key under which the untouched wasm kernel configs are kept. */
const ORIGINALS_KEY = Symbol.for('priorclip-kit.wasmKernels.originals');

/** Names of the kernels this module registers (new) or replaces (wrapped), in registration order. */
export const WASM_KIT_KERNELS = [
  'Conv2DBackpropFilter',
  'Conv2DBackpropInput',
  'DepthwiseConv2dNativeBackpropFilter',
  'DepthwiseConv2dNativeBackpropInput',
  'UnsortedSegmentSum',
  'MaxPoolGrad',
  'AvgPoolGrad',
  'BatchMatMul',
  '_FusedMatMul',
  'Transpose',
  'Identity',
  'Cast',
  'GatherV2',
] as const;

/** Wasm kernels the kit's kernels call (captured before anything is replaced). */
const USED_ORIGINALS = [
  'Conv2D',
  'DepthwiseConv2dNative',
  'Transpose',
  'Reverse',
  'Slice',
  'Conv2DBackpropInput',
  'BatchMatMul',
  '_FusedMatMul',
  'Identity',
  'Cast',
  'GatherV2',
  'AvgPoolGrad',
] as const;

function originals(): Map<string, tf.KernelConfig> {
  const g = globalThis as unknown as Record<symbol, Map<string, tf.KernelConfig> | undefined>;
  let m = g[ORIGINALS_KEY];
  if (!m) {
    m = new Map();
    g[ORIGINALS_KEY] = m;
  }
  return m;
}

/** The untouched wasm kernel function `name`. */
function orig(name: string): tf.KernelFunc {
  const k = originals().get(name);
  if (!k) throw new Error(`wasm_kernels: original wasm kernel '${name}' was not captured (registerWasmKernels not run?)`);
  return k.kernelFunc;
}

function asBackend(b: unknown): Backend {
  return b as Backend;
}

function one(out: TensorInfo | TensorInfo[]): TensorInfo {
  return Array.isArray(out) ? out[0] : out;
}

/** Run the original wasm kernel `name`. */
function run(name: string, backend: Backend, inputs: Record<string, TensorInfo>, attrs: object = {}): TensorInfo {
  return one(orig(name)({ inputs, backend, attrs: attrs as tf.NamedAttrMap }));
}

function free(backend: Backend, ...infos: TensorInfo[]): void {
  for (const t of infos) backend.disposeData(t.dataId);
}

function transpose(backend: Backend, x: TensorInfo, perm: number[]): TensorInfo {
  return run('Transpose', backend, { x }, { perm });
}

type Typed = Float32Array | Int32Array | Uint8Array;

/** A new backend tensor holding `values` (copied in). */
function output(backend: Backend, shape: number[], dtype: tf.DataType, values: Typed): TensorInfo {
  const dataId: DataId = backend.write(values, shape, dtype);
  return { dataId, shape, dtype };
}

/** The wasm backend's own helpers (BackendWasm): a fresh heap buffer, and a view of a tensor's heap bytes. */
interface HeapBackend {
  makeOutput(shape: number[], dtype: tf.DataType): TensorInfo;
  typedArrayFromHeap(t: TensorInfo): Typed;
}

function isHeapBackend(b: Backend): b is Backend & HeapBackend {
  const h = b as Partial<HeapBackend>;
  return typeof h.makeOutput === 'function' && typeof h.typedArrayFromHeap === 'function';
}

function newTyped(dtype: tf.DataType, size: number): Typed {
  return dtype === 'float32' ? new Float32Array(size) : dtype === 'int32' ? new Int32Array(size) : new Uint8Array(size);
}

/**
 * Run a JS kernel body on the inputs' values and a zero-filled output of `shape`/`dtype`. On wasm the
 * values are views of the wasm heap (no copies); the output is allocated BEFORE the views are taken, as
 * an allocation may grow (and detach) the heap. `compute` must not call tfjs.
 */
function jsKernel(
  backend: Backend,
  shape: number[],
  dtype: 'float32' | 'int32' | 'bool',
  inputs: TensorInfo[],
  compute: (ins: ArrayLike<number>[], out: Typed) => void,
): TensorInfo {
  if (isHeapBackend(backend)) {
    const out = backend.makeOutput(shape, dtype);
    try {
      const ov = backend.typedArrayFromHeap(out);
      ov.fill(0);
      compute(inputs.map((t) => backend.typedArrayFromHeap(t)), ov);
    } catch (e) {
      backend.disposeData(out.dataId);
      throw e;
    }
    return out;
  }
  const ov = newTyped(dtype, shape.reduce((p, d) => p * d, 1));
  compute(inputs.map((t) => backend.readSync(t.dataId) as ArrayLike<number>), ov);
  return output(backend, shape, dtype, ov);
}

function checkNHWC(kernel: string, dataFormat: unknown): void {
  if (dataFormat !== undefined && dataFormat !== 'NHWC' && dataFormat !== 'channelsLast') {
    throw new Error(`wasm_kernels ${kernel}: dataFormat '${String(dataFormat)}' is not supported on wasm; use NHWC`);
  }
}

// ---------------------------------------------------------------------------------------------
// Conv2DBackpropFilter: dW = conv2d(xᵀ, dyᵀ) with dilation = forward stride.

interface ConvBackpropFilterAttrs {
  strides: number | [number, number];
  pad: Pad;
  dataFormat?: string;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  filterShape: [number, number, number, number];
}

function conv2DBackpropFilter({ inputs, backend: b, attrs }: KernelArgs): TensorInfo {
  const backend = asBackend(b);
  const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
  const a = attrs as unknown as ConvBackpropFilterAttrs;
  checkNHWC('Conv2DBackpropFilter', a.dataFormat);
  const [kh, kw, cin, cout] = a.filterShape;
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number], a.filterShape, a.strides, 1, a.pad, a.dimRoundingMode, false, 'channelsLast',
  );
  const [, h, w] = x.shape;
  const oh = info.outHeight;
  const ow = info.outWidth;
  const sh = info.strideHeight;
  const sw = info.strideWidth;
  const pt = info.padInfo.top;
  const pl = info.padInfo.left;
  if (sh === kh && sw === kw && pt === 0 && pl === 0 && oh * kh <= h && ow * kw <= w) {
    return patchifyBackpropFilter(backend, x, dy, a.filterShape);
  }
  // Output of the dilated conv must be [kh, kw]: solve for the far-side padding (negative → crop x).
  let pb = kh + (oh - 1) * sh - h - pt;
  let pr = kw + (ow - 1) * sw - w - pl;
  const temps: TensorInfo[] = [];
  try {
    let xT = transpose(backend, x, [3, 1, 2, 0]); // [Cin, H, W, N]
    temps.push(xT);
    if (pb < 0 || pr < 0) {
      const hh = pb < 0 ? h + pb : h;
      const ww = pr < 0 ? w + pr : w;
      xT = run('Slice', backend, { x: xT }, { begin: [0, 0, 0, 0], size: [cin, hh, ww, x.shape[0]] }); // [Cin, H', W', N]
      temps.push(xT);
      pb = Math.max(pb, 0);
      pr = Math.max(pr, 0);
    }
    const dyT = transpose(backend, dy, [1, 2, 0, 3]); // [OH, OW, N, Cout]
    temps.push(dyT);
    const pad: Explicit = [[0, 0], [pt, pb], [pl, pr], [0, 0]];
    const r = run('Conv2D', backend, { x: xT, filter: dyT }, { strides: [1, 1], pad, dataFormat: 'NHWC', dilations: [sh, sw] }); // [Cin, KH, KW, Cout]
    temps.push(r);
    if (r.shape[1] !== kh || r.shape[2] !== kw || r.shape[3] !== cout) {
      throw new Error(`wasm_kernels Conv2DBackpropFilter: internal shape ${r.shape} ≠ [${cin},${kh},${kw},${cout}]`);
    }
    return transpose(backend, r, [1, 2, 0, 3]); // [KH, KW, Cin, Cout]
  } finally {
    free(backend, ...temps);
  }
}

// ---------------------------------------------------------------------------------------------
// Conv2DBackpropInput: patches → one matmul; stride 1 → conv2d(dy, flip(W)ᵀ) with "full" padding; else phase decomposition.

interface ConvBackpropInputAttrs {
  strides: number | [number, number];
  pad: Pad;
  dataFormat?: string;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  inputShape: [number, number, number, number];
}

function conv2DBackpropInput(args: KernelArgs): TensorInfo {
  const { inputs, backend: b, attrs } = args;
  const backend = asBackend(b);
  const { dy, filter } = inputs as { dy: TensorInfo; filter: TensorInfo };
  const a = attrs as unknown as ConvBackpropInputAttrs;
  if (a.dataFormat !== undefined && a.dataFormat !== 'NHWC') return one(orig('Conv2DBackpropInput')(args));
  const [kh, kw] = filter.shape;
  const info = tf.backend_util.computeConv2DInfo(
    a.inputShape, filter.shape as [number, number, number, number], a.strides, 1, a.pad, a.dimRoundingMode, false, 'channelsLast',
  );
  const [, h, w] = a.inputShape;
  const { strideHeight: sh, strideWidth: sw } = info;
  if (sh === kh && sw === kw && info.padInfo.top === 0 && info.padInfo.left === 0 && info.outHeight * kh <= h && info.outWidth * kw <= w) {
    return patchifyBackpropInput(backend, dy, filter, a.inputShape);
  }
  if (sh === 1 && sw === 1) {
    // dx = conv2d(dy, flip(W)ᵀ) with "full" padding, when that padding is non-negative.
    const pt = kh - 1 - info.padInfo.top;
    const pl = kw - 1 - info.padInfo.left;
    const pb = h - info.outHeight - pt + kh - 1;
    const pr = w - info.outWidth - pl + kw - 1;
    if (pt >= 0 && pl >= 0 && pb >= 0 && pr >= 0) {
      const flipped = run('Reverse', backend, { x: filter }, { dims: [0, 1] }); // [KH, KW, Cin, Cout]
      const wT = transpose(backend, flipped, [0, 1, 3, 2]); // [KH, KW, Cout, Cin]
      const pad: Explicit = [[0, 0], [pt, pb], [pl, pr], [0, 0]];
      try {
        return run('Conv2D', backend, { x: dy, filter: wT }, { strides: [1, 1], pad, dataFormat: 'NHWC', dilations: [1, 1] }); // [N, H, W, Cin]
      } finally {
        free(backend, flipped, wT);
      }
    }
  }
  return polyphaseBackpropInput(backend, dy, filter, a.inputShape, sh, sw, info.padInfo.top, info.padInfo.left);
}

/**
 * dx for any stride by phase decomposition: the rows h with (h + padTop) mod s = r receive only the
 * taps kh ≡ r (mod s), so each of the s_h·s_w phases is a stride-1 wasm Conv2D of dy with a flipped
 * sub-filter (together exactly the forward FLOPs); a JS pass interleaves the phases into dx.
 */
function polyphaseBackpropInput(
  backend: Backend,
  dy: TensorInfo,
  filter: TensorInfo,
  inputShape: [number, number, number, number],
  sh: number,
  sw: number,
  pt: number,
  pl: number,
): TensorInfo {
  const [n, h, w, cin] = inputShape;
  const [kh, kw, , cout] = filter.shape;
  const [, oh, ow] = dy.shape;
  const qh = Math.ceil((h + pt) / sh); // phase-grid rows: e = h + pt = sh·u + r
  const qw = Math.ceil((w + pl) / sw);
  const temps: TensorInfo[] = [];
  let dyIn = dy;
  if (qh < oh || qw < ow) {
    dyIn = run('Slice', backend, { x: dy }, { begin: [0, 0, 0, 0], size: [n, Math.min(oh, qh), Math.min(ow, qw), cout] });
    temps.push(dyIn);
  }
  const phases: { rh: number; rw: number; out: TensorInfo }[] = [];
  try {
    for (let rh = 0; rh < sh; rh++) {
      const th = Math.ceil((kh - rh) / sh);
      for (let rw = 0; rw < sw; rw++) {
        const tw = Math.ceil((kw - rw) / sw);
        if (th <= 0 || tw <= 0) continue; // no taps: this phase's dx is 0
        const sub = jsKernel(backend, [th, tw, cout, cin], 'float32', [filter], ([fv], out) => {
          for (let i = 0; i < th; i++) {
            const ki = rh + sh * (th - 1 - i);
            for (let j = 0; j < tw; j++) {
              const kj = rw + sw * (tw - 1 - j);
              const src = (ki * kw + kj) * cin * cout;
              const dst = (i * tw + j) * cout * cin;
              for (let ci = 0; ci < cin; ci++) for (let co = 0; co < cout; co++) out[dst + co * cin + ci] = fv[src + ci * cout + co];
            }
          }
        }); // [th, tw, Cout, Cin], flipped
        temps.push(sub);
        const pad: Explicit = [[0, 0], [th - 1, Math.max(0, qh - oh)], [tw - 1, Math.max(0, qw - ow)], [0, 0]];
        const out = run('Conv2D', backend, { x: dyIn, filter: sub }, { strides: [1, 1], pad, dataFormat: 'NHWC', dilations: [1, 1] }); // [N, qh, qw, Cin]
        temps.push(out);
        phases.push({ rh, rw, out });
      }
    }
    return jsKernel(backend, [n, h, w, cin], 'float32', phases.map((p) => p.out), (ins, dx) => {
      phases.forEach((p, k) => {
        const src = ins[k];
        for (let b0 = 0; b0 < n; b0++) {
          for (let u = 0; u < qh; u++) {
            const hh = sh * u + p.rh - pt;
            if (hh < 0 || hh >= h) continue;
            for (let v = 0; v < qw; v++) {
              const ww = sw * v + p.rw - pl;
              if (ww < 0 || ww >= w) continue;
              const s0 = ((b0 * qh + u) * qw + v) * cin;
              const d0 = ((b0 * h + hh) * w + ww) * cin;
              for (let ci = 0; ci < cin; ci++) dx[d0 + ci] = src[s0 + ci];
            }
          }
        }
      });
    });
  } finally {
    free(backend, ...temps);
  }
}

/** Non-overlapping patches (stride = kernel, no padding; e.g. a ViT patch embedding): dx = dy · Wᵀ, unfolded. */
function patchifyBackpropInput(backend: Backend, dy: TensorInfo, filter: TensorInfo, inputShape: [number, number, number, number]): TensorInfo {
  const [n, h, w, cin] = inputShape;
  const [kh, kw, , cout] = filter.shape;
  const [, oh, ow] = dy.shape;
  const k = kh * kw * cin;
  const dy2: TensorInfo = { dataId: dy.dataId, shape: [n * oh * ow, cout], dtype: dy.dtype }; // [N·OH·OW, Cout]
  const w2: TensorInfo = { dataId: filter.dataId, shape: [k, cout], dtype: filter.dtype }; // [KH·KW·Cin, Cout]
  const wT = transpose(backend, w2, [1, 0]); // [Cout, KH·KW·Cin]
  const cols = run('BatchMatMul', backend, { a: dy2, b: wT }, { transposeA: false, transposeB: false }); // [N·OH·OW, KH·KW·Cin]
  if (kh === 1 && kw === 1 && oh === h && ow === w) {
    // 1×1 stride-1 conv: the product already is dx, laid out as [N, H, W, Cin].
    free(backend, wT);
    cols.shape = [n, h, w, cin];
    return cols;
  }
  try {
    return jsKernel(backend, [n, h, w, cin], 'float32', [cols], ([cv], dx) => {
      const run0 = kw * cin;
      for (let b0 = 0; b0 < n; b0++) {
        for (let u = 0; u < oh; u++) {
          for (let v = 0; v < ow; v++) {
            const s0 = ((b0 * oh + u) * ow + v) * k;
            for (let i = 0; i < kh; i++) {
              const d0 = ((b0 * h + u * kh + i) * w + v * kw) * cin;
              const si = s0 + i * run0;
              for (let j = 0; j < run0; j++) dx[d0 + j] = cv[si + j];
            }
          }
        }
      }
    });
  } finally {
    free(backend, wT, cols);
  }
}

/** Non-overlapping patches: dW = patchesᵀ · dy, computed as (dyᵀ · patches)ᵀ. */
function patchifyBackpropFilter(backend: Backend, x: TensorInfo, dy: TensorInfo, filterShape: [number, number, number, number]): TensorInfo {
  const [n, h, w, cin] = x.shape;
  const [kh, kw, , cout] = filterShape;
  const [, oh, ow] = dy.shape;
  const k = kh * kw * cin;
  const m = n * oh * ow;
  const whole = kh === 1 && kw === 1 && oh === h && ow === w; // 1×1 stride 1: x itself is the patch matrix
  const patches = whole ? view(x, [m, k]) : jsKernel(backend, [m, k], 'float32', [x], ([xv], out) => {
    const run0 = kw * cin;
    for (let b0 = 0; b0 < n; b0++) {
      for (let u = 0; u < oh; u++) {
        for (let v = 0; v < ow; v++) {
          const d0 = ((b0 * oh + u) * ow + v) * k;
          for (let i = 0; i < kh; i++) {
            const s0 = ((b0 * h + u * kh + i) * w + v * kw) * cin;
            const di = d0 + i * run0;
            for (let j = 0; j < run0; j++) out[di + j] = xv[s0 + j];
          }
        }
      }
    }
  }); // [N·OH·OW, KH·KW·Cin]
  const dy2: TensorInfo = { dataId: dy.dataId, shape: [m, cout], dtype: dy.dtype }; // [N·OH·OW, Cout]
  const dyT = transpose(backend, dy2, [1, 0]); // [Cout, N·OH·OW]
  const g = run('BatchMatMul', backend, { a: dyT, b: patches }, { transposeA: false, transposeB: false }); // [Cout, KH·KW·Cin]
  const gT = transpose(backend, g, [1, 0]); // [KH·KW·Cin, Cout]
  free(backend, dyT, g);
  if (!whole) free(backend, patches);
  gT.shape = [kh, kw, cin, cout];
  return gT;
}

// ---------------------------------------------------------------------------------------------
// Depthwise gradients (direct loops). filter [KH, KW, C, M], dy [N, OH, OW, C·M].

interface DepthwiseAttrs {
  strides: number | [number, number];
  dilations?: number | [number, number];
  pad: Pad;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  filterShape?: [number, number, number, number];
  inputShape?: [number, number, number, number];
}

function depthwiseInfo(xShape: [number, number, number, number], fShape: [number, number, number, number], a: DepthwiseAttrs) {
  return tf.backend_util.computeConv2DInfo(xShape, fShape, a.strides, a.dilations ?? 1, a.pad, a.dimRoundingMode, true, 'channelsLast');
}

function depthwiseBackpropFilter({ inputs, backend: b, attrs }: KernelArgs): TensorInfo {
  const backend = asBackend(b);
  const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
  const a = attrs as unknown as DepthwiseAttrs;
  const fShape = a.filterShape as [number, number, number, number];
  const info = depthwiseInfo(x.shape as [number, number, number, number], fShape, a);
  const [kh, kw, c, m] = fShape;
  const [n, h, w] = x.shape;
  const { outHeight: oh, outWidth: ow, strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw } = info;
  const pt = info.padInfo.top;
  const pl = info.padInfo.left;
  const cm = c * m;
  return jsKernel(backend, [...fShape], 'float32', [x, dy], ([xv, dyv], out) => {
    for (let b0 = 0; b0 < n; b0++) {
      for (let r = 0; r < oh; r++) {
        for (let q = 0; q < ow; q++) {
          const dyOff = ((b0 * oh + r) * ow + q) * cm;
          for (let i = 0; i < kh; i++) {
            const ih = r * sh + i * dh - pt;
            if (ih < 0 || ih >= h) continue;
            for (let j = 0; j < kw; j++) {
              const iw = q * sw + j * dw - pl;
              if (iw < 0 || iw >= w) continue;
              const xOff = ((b0 * h + ih) * w + iw) * c;
              const fOff = (i * kw + j) * cm;
              for (let ch = 0; ch < c; ch++) {
                const xval = xv[xOff + ch];
                if (xval === 0) continue;
                for (let k = 0; k < m; k++) out[fOff + ch * m + k] += xval * dyv[dyOff + ch * m + k];
              }
            }
          }
        }
      }
    }
  });
}

function depthwiseBackpropInput({ inputs, backend: b, attrs }: KernelArgs): TensorInfo {
  const backend = asBackend(b);
  const { dy, filter } = inputs as { dy: TensorInfo; filter: TensorInfo };
  const a = attrs as unknown as DepthwiseAttrs;
  const xShape = a.inputShape as [number, number, number, number];
  const fShape = filter.shape as [number, number, number, number];
  const info = depthwiseInfo(xShape, fShape, a);
  const [kh, kw, c, m] = fShape;
  const [n, h, w] = xShape;
  const { outHeight: oh, outWidth: ow, strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw } = info;
  const pt = info.padInfo.top;
  const pl = info.padInfo.left;
  const cm = c * m;
  return jsKernel(backend, [...xShape], 'float32', [filter, dy], ([fv, dyv], out) => {
    for (let b0 = 0; b0 < n; b0++) {
      for (let r = 0; r < oh; r++) {
        for (let q = 0; q < ow; q++) {
          const dyOff = ((b0 * oh + r) * ow + q) * cm;
          for (let i = 0; i < kh; i++) {
            const ih = r * sh + i * dh - pt;
            if (ih < 0 || ih >= h) continue;
            for (let j = 0; j < kw; j++) {
              const iw = q * sw + j * dw - pl;
              if (iw < 0 || iw >= w) continue;
              const xOff = ((b0 * h + ih) * w + iw) * c;
              const fOff = (i * kw + j) * cm;
              for (let ch = 0; ch < c; ch++) {
                let s = 0;
                for (let k = 0; k < m; k++) s += fv[fOff + ch * m + k] * dyv[dyOff + ch * m + k];
                out[xOff + ch] += s;
              }
            }
          }
        }
      }
    }
  });
}

// ---------------------------------------------------------------------------------------------
// UnsortedSegmentSum: out[id] += x[i] (ids outside [0, numSegments) are dropped, as in TF).

function unsortedSegmentSum({ inputs, backend: b, attrs }: KernelArgs): TensorInfo {
  const backend = asBackend(b);
  const { x, segmentIds } = inputs as { x: TensorInfo; segmentIds: TensorInfo };
  const numSegments = (attrs as unknown as { numSegments: number }).numSegments;
  const idsRank = segmentIds.shape.length;
  for (let i = 0; i < idsRank; i++) {
    if (segmentIds.shape[i] !== x.shape[i]) {
      throw new Error(`wasm_kernels UnsortedSegmentSum: segmentIds shape ${segmentIds.shape} is not a prefix of x shape ${x.shape}`);
    }
  }
  const rest = x.shape.slice(idsRank);
  const inner = rest.reduce((p, d) => p * d, 1);
  const dtype = x.dtype === 'int32' ? 'int32' : 'float32';
  return jsKernel(backend, [numSegments, ...rest], dtype, [segmentIds, x], ([ids, xv], out) => {
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (id < 0 || id >= numSegments) continue;
      const o = id * inner;
      const src = i * inner;
      for (let j = 0; j < inner; j++) out[o + j] += xv[src + j];
    }
  });
}

// ---------------------------------------------------------------------------------------------
// GatherV2 (embeddings): JS row copies. wasm's kernel costs ~60 ns per copied element: gathering
// 32×77 tokens from a 49408×512 table took ~150 ms instead of ~2 ms.

function gatherV2({ inputs, backend: b, attrs }: KernelArgs): TensorInfo {
  const backend = asBackend(b);
  const { x, indices } = inputs as { x: TensorInfo; indices: TensorInfo };
  const { axis, batchDims } = attrs as unknown as { axis: number; batchDims: number };
  if (x.dtype !== 'float32' && x.dtype !== 'int32' && x.dtype !== 'bool') {
    return one(orig('GatherV2')({ inputs, backend, attrs }));
  }
  const parsedAxis = tf.util.parseAxisParam(axis, x.shape)[0];
  const info = tf.backend_util.segment_util.collectGatherOpShapeInfo(x, indices, parsedAxis, batchDims);
  const { batchSize, outerSize, dimSize, sliceSize } = info;
  const nIdx = indices.shape.reduce((p, d) => p * d, 1) / batchSize;
  const flatShape = [batchSize, outerSize, nIdx, sliceSize];
  const out = jsKernel(backend, flatShape, x.dtype, [x, indices], ([xv, iv], ov) => {
    const xs = xv as Typed;
    for (let i = 0; i < iv.length; i++) {
      const v = iv[i];
      if (!(v >= 0 && v <= dimSize - 1)) throw new Error(`GatherV2: the index value ${v} is not in [0, ${dimSize - 1}]`);
    }
    for (let b0 = 0; b0 < batchSize; b0++) {
      for (let o = 0; o < outerSize; o++) {
        const srcBase = (b0 * outerSize + o) * dimSize;
        const dstBase = (b0 * outerSize + o) * nIdx;
        for (let i = 0; i < nIdx; i++) {
          const src = (srcBase + iv[b0 * nIdx + i]) * sliceSize;
          ov.set(xs.subarray(src, src + sliceSize), (dstBase + i) * sliceSize);
        }
      }
    }
  });
  out.shape = info.outputShape;
  return out;
}

// ---------------------------------------------------------------------------------------------
// MaxPoolGrad: dy goes to the first maximum of each window (row-major, strict >), like the cpu backend.

interface MaxPoolGradAttrs {
  filterSize: number | [number, number];
  strides: number | [number, number];
  pad: 'valid' | 'same' | number;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

function maxPoolGrad({ inputs, backend: b, attrs }: KernelArgs): TensorInfo {
  const backend = asBackend(b);
  const { dy, input } = inputs as { dy: TensorInfo; input: TensorInfo };
  const a = attrs as unknown as MaxPoolGradAttrs;
  const info = tf.backend_util.computePool2DInfo(
    input.shape as [number, number, number, number], a.filterSize, a.strides, 1, a.pad, a.dimRoundingMode,
  );
  const [n, h, w, c] = input.shape;
  const { outHeight: oh, outWidth: ow, strideHeight: sh, strideWidth: sw } = info; // pooling has dilation 1
  const fh = info.effectiveFilterHeight;
  const fw = info.effectiveFilterWidth;
  const pt = info.padInfo.top;
  const pl = info.padInfo.left;
  const best = new Float32Array(c);
  const at = new Int32Array(c);
  return jsKernel(backend, [...input.shape], 'float32', [input, dy], ([xv, dyv], out) => {
    for (let b0 = 0; b0 < n; b0++) {
      for (let r = 0; r < oh; r++) {
        const r0 = r * sh - pt;
        const rMin = Math.max(0, r0);
        const rMax = Math.min(h, r0 + fh);
        for (let q = 0; q < ow; q++) {
          const q0 = q * sw - pl;
          const qMin = Math.max(0, q0);
          const qMax = Math.min(w, q0 + fw);
          best.fill(Number.NEGATIVE_INFINITY);
          at.fill(-1);
          // Window cells in row-major order; strict '>' keeps the first maximum (NaN never wins).
          for (let i = rMin; i < rMax; i++) {
            for (let j = qMin; j < qMax; j++) {
              const base = ((b0 * h + i) * w + j) * c;
              for (let ch = 0; ch < c; ch++) {
                const v = xv[base + ch];
                if (v > best[ch]) {
                  best[ch] = v;
                  at[ch] = base + ch;
                }
              }
            }
          }
          const dyOff = ((b0 * oh + r) * ow + q) * c;
          for (let ch = 0; ch < c; ch++) if (at[ch] >= 0) out[at[ch]] += dyv[dyOff + ch];
        }
      }
    }
  });
}

// ---------------------------------------------------------------------------------------------
// AvgPoolGrad: wasm's kernel takes ~10 ms for a [32, 32, 32, 32] input (2×2, stride 2), as long as
// a 3×3 conv on it; the scatter below takes ~1–2 ms. Unpadded windows only (every window averages
// fh·fw real cells); padded ones go to the original kernel.

/** The geometry of an AvgPoolGrad whose windows are all unpadded (every window averages fh·fw cells). */
export interface UnpaddedPool {
  n: number;
  h: number;
  w: number;
  c: number;
  oh: number;
  ow: number;
  sh: number;
  sw: number;
  fh: number;
  fw: number;
}

/**
 * The unpadded geometry of a float32 NHWC AvgPoolGrad, or null when a window is padded (or dy is not float32):
 * the cases the kit's scatter covers (here, and natively in src/backends/native_kernels.ts).
 */
export function unpaddedAvgPoolGrad(args: KernelArgs): UnpaddedPool | null {
  const { dy, input } = args.inputs as { dy: TensorInfo; input: TensorInfo };
  if (dy.dtype !== 'float32' || input.shape.length !== 4) return null;
  const a = args.attrs as unknown as MaxPoolGradAttrs;
  const info = tf.backend_util.computePool2DInfo(
    input.shape as [number, number, number, number], a.filterSize, a.strides, 1, a.pad, a.dimRoundingMode,
  );
  const p = info.padInfo;
  if (p.top !== 0 || p.left !== 0 || p.bottom !== 0 || p.right !== 0) return null;
  const [n, h, w, c] = input.shape;
  return {
    n, h, w, c, oh: info.outHeight, ow: info.outWidth, sh: info.strideHeight, sw: info.strideWidth,
    fh: info.effectiveFilterHeight, fw: info.effectiveFilterWidth,
  };
}

function avgPoolGrad(args: KernelArgs): TensorInfo {
  const backend = asBackend(args.backend);
  const { dy, input } = args.inputs as { dy: TensorInfo; input: TensorInfo };
  const g = unpaddedAvgPoolGrad(args);
  if (!g) return one(orig('AvgPoolGrad')(args));
  return jsKernel(backend, [...input.shape], 'float32', [dy], ([dyIn], outIn) => {
    avgPoolGradScatter(dyIn as Float32Array, outIn as Float32Array, g.n, g.h, g.w, g.c, g.oh, g.ow, g.sh, g.sw, g.fh, g.fw);
  });
}

/** dx += dy/(fh·fw) over each unpadded window (row by row; monomorphic Float32Array loops). */
function avgPoolGradScatter(
  dyv: Float32Array, out: Float32Array, n: number, h: number, w: number, c: number,
  oh: number, ow: number, sh: number, sw: number, fh: number, fw: number,
): void {
  const mult = 1 / (fh * fw);
  for (let b0 = 0; b0 < n; b0++) {
    for (let r = 0; r < oh; r++) {
      const dyRow = (b0 * oh + r) * ow * c;
      for (let i = r * sh; i < r * sh + fh; i++) {
        const outRow = (b0 * h + i) * w * c;
        for (let q = 0; q < ow; q++) {
          const d = dyRow + q * c;
          for (let j = q * sw; j < q * sw + fw; j++) {
            const o = outRow + j * c;
            for (let ch = 0; ch < c; ch++) out[o + ch] += dyv[d + ch] * mult;
          }
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Transpose: merge axes that stay adjacent; rank ≤ 4 → the wasm kernel, rank ≥ 5 → JS (wasm's generic
// rank-5 path is ~10× slower; open_clip-style qkv permutes [B, L, 3, H, Dh] → [3, B, H, L, Dh] hit it).

/** Shape and permutation with size-1 axes dropped and axes that stay adjacent merged. */
export function simplifyTranspose(shape: number[], perm: number[]): { shape: number[]; perm: number[] } {
  const keep = shape.map((d, i) => i).filter((i) => shape[i] !== 1);
  const p0 = perm.filter((a) => shape[a] !== 1).map((a) => keep.indexOf(a));
  const s0 = keep.map((i) => shape[i]);
  // groups of consecutive perm entries that are consecutive input axes
  const groups: number[][] = [];
  for (const a of p0) {
    const g = groups[groups.length - 1];
    if (g && g[g.length - 1] + 1 === a) g.push(a);
    else groups.push([a]);
  }
  const order = groups.map((g) => g[0]).sort((x, y) => x - y);
  const newShape = order.map((first) => {
    const g = groups.find((gg) => gg[0] === first) as number[];
    return g.reduce((p, a) => p * s0[a], 1);
  });
  const newPerm = groups.map((g) => order.indexOf(g[0]));
  return { shape: newShape, perm: newPerm };
}

function transposeJs(values: ArrayLike<number>, shape: number[], perm: number[], out: Typed): void {
  const rank = shape.length;
  const inStrides = new Array<number>(rank);
  let acc = 1;
  for (let i = rank - 1; i >= 0; i--) {
    inStrides[i] = acc;
    acc *= shape[i];
  }
  const outShape = perm.map((a) => shape[a]);
  const st = perm.map((a) => inStrides[a]); // input stride of each output axis
  const inner = outShape[rank - 1];
  const innerStride = st[rank - 1];
  const idx = new Array<number>(rank - 1).fill(0);
  let src = 0;
  let o = 0;
  const total = out.length;
  while (o < total) {
    let s0 = src;
    for (let k = 0; k < inner; k++, s0 += innerStride) out[o++] = values[s0];
    // advance the outer counters (odometer)
    for (let ax = rank - 2; ax >= 0; ax--) {
      idx[ax]++;
      src += st[ax];
      if (idx[ax] < outShape[ax]) break;
      src -= st[ax] * outShape[ax];
      idx[ax] = 0;
    }
  }
}

function transposeKernel(args: KernelArgs): TensorInfo {
  const { inputs, backend: b, attrs } = args;
  const backend = asBackend(b);
  const x = inputs.x as TensorInfo;
  const perm = (attrs as unknown as { perm: number[] }).perm;
  const outShape = perm.map((a) => x.shape[a]);
  const simple = simplifyTranspose(x.shape, perm);
  if (simple.perm.every((a, i) => a === i)) {
    // Only size-1 axes move (or nothing does): same memory order, share the buffer.
    backend.incRef(x.dataId);
    return { dataId: x.dataId, shape: outShape, dtype: x.dtype };
  }
  if (simple.shape.length <= 4 || (x.dtype !== 'float32' && x.dtype !== 'int32' && x.dtype !== 'bool')) {
    const out = run('Transpose', backend, { x: { dataId: x.dataId, shape: simple.shape, dtype: x.dtype } }, { perm: simple.perm });
    out.shape = outShape;
    return out;
  }
  const dtype = x.dtype;
  return jsKernel(backend, outShape, dtype, [x], ([values], out) => transposeJs(values, simple.shape, simple.perm, out));
}

// ---------------------------------------------------------------------------------------------
// Identity and same-dtype Cast: share the buffer (reference count + 1) instead of copying it, as
// the cpu backend does. Autodiff emits hundreds of these per step (Mul/Div gradients cast their
// operands to float32; reductions and reshapes clone).

function aliasKernel(name: 'Identity' | 'Cast'): tf.KernelFunc {
  return (args: KernelArgs): TensorInfo => {
    const x = args.inputs.x as TensorInfo;
    const dtype = name === 'Cast' ? (args.attrs as unknown as { dtype: tf.DataType }).dtype : x.dtype;
    if (dtype !== x.dtype || x.dtype === 'string' || x.dtype === 'complex64') return one(orig(name)(args));
    const backend = asBackend(args.backend);
    backend.incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape.slice(), dtype: x.dtype };
  };
}

// ---------------------------------------------------------------------------------------------
// Matmuls: explicit Transpose, then the plain (fast) wasm kernel.

function swapLast(rank: number): number[] {
  const perm = Array.from({ length: rank }, (_, i) => i);
  perm[rank - 2] = rank - 1;
  perm[rank - 1] = rank - 2;
  return perm;
}

/** The original kernel after explicit transposes (wasm's transposed matmul paths are 10–25× slower). */
function matMulExplicitTranspose(name: 'BatchMatMul' | '_FusedMatMul', args: KernelArgs): TensorInfo {
  const { inputs, backend: b, attrs } = args;
  const at = (attrs ?? {}) as { transposeA?: boolean; transposeB?: boolean };
  if (!at.transposeA && !at.transposeB) return one(orig(name)(args));
  const backend = asBackend(b);
  const { a, b: bb } = inputs as { a: TensorInfo; b: TensorInfo };
  const temps: TensorInfo[] = [];
  const a2 = at.transposeA ? transpose(backend, a, swapLast(a.shape.length)) : a; // [..., M, K]
  if (a2 !== a) temps.push(a2);
  const b2 = at.transposeB ? transpose(backend, bb, swapLast(bb.shape.length)) : bb; // [..., K, N]
  if (b2 !== bb) temps.push(b2);
  try {
    return one(orig(name)({ inputs: { ...inputs, a: a2, b: b2 }, backend, attrs: { ...attrs, transposeA: false, transposeB: false } }));
  } finally {
    free(backend, ...temps);
  }
}

function fusedMatMul(args: KernelArgs): TensorInfo {
  return matMulExplicitTranspose('_FusedMatMul', args);
}

/** Below this many multiply-adds a batched matmul stays on wasm's own kernel (call overheads dominate). */
const BATCHED_DEPTHWISE_MIN_MACS = 65536;

function prod(xs: number[]): number {
  return xs.reduce((p, d) => p * d, 1);
}

function view(t: TensorInfo, shape: number[]): TensorInfo {
  return { dataId: t.dataId, shape, dtype: t.dtype };
}

/**
 * BatchMatMul. wasm's kernel is fast only for ONE plain 2-D product (XNNPack GEMM); with a batch it
 * falls to a slow loop (a [2,512,512] product: ~1.4 s vs ~10 ms for one 512²), and transposed
 * operands are 10–25× slower. Routes:
 * - no batch on either side → explicit Transpose, then the 2-D kernel;
 * - only `a` batched (x · W) → one 2-D product of `a` flattened to [batch·M, K];
 * - only `b` batched → one 2-D product A · [K, batch·N];
 * - equal batches → ONE wasm depthwise conv: channels = batch, filter width = K, channel
 *   multiplier = N (out[0, i, 0, c·N + j] = Σ_k A[c, i, k]·B[c, k, j]): 4–20× faster;
 * - anything else (partial broadcasting, tiny products) → explicit Transpose, then wasm's kernel.
 */
function batchMatMul(args: KernelArgs): TensorInfo {
  const { inputs, backend: bk, attrs } = args;
  const backend = asBackend(bk);
  const { a, b } = inputs as { a: TensorInfo; b: TensorInfo };
  const at = (attrs ?? {}) as { transposeA?: boolean; transposeB?: boolean };
  const ta = !!at.transposeA;
  const tb = !!at.transposeB;
  const ra = a.shape.length;
  const rb = b.shape.length;
  if (a.dtype !== 'float32' || b.dtype !== 'float32' || ra < 2 || rb < 2) return matMulExplicitTranspose('BatchMatMul', args);
  const m = ta ? a.shape[ra - 1] : a.shape[ra - 2];
  const k = ta ? a.shape[ra - 2] : a.shape[ra - 1];
  const kb = tb ? b.shape[rb - 1] : b.shape[rb - 2];
  const n = tb ? b.shape[rb - 2] : b.shape[rb - 1];
  const batchDimsA = a.shape.slice(0, -2);
  const batchDimsB = b.shape.slice(0, -2);
  const batchA = prod(batchDimsA);
  const batchB = prod(batchDimsB);
  if (k !== kb || m * n * k === 0 || (batchA === 1 && batchB === 1)) return matMulExplicitTranspose('BatchMatMul', args);
  const outBatch = tf.broadcast_util.assertAndGetBroadcastShape(batchDimsA, batchDimsB);
  const outShape = [...outBatch, m, n];
  const nb = prod(outBatch);
  const temps: TensorInfo[] = [];
  const keep = (t: TensorInfo): TensorInfo => {
    temps.push(t);
    return t;
  };
  const plain = (x: TensorInfo, y: TensorInfo): TensorInfo => run('BatchMatMul', backend, { a: x, b: y }, { transposeA: false, transposeB: false });
  try {
    if (batchB === 1) {
      // [batch·M, K] · [K, N]
      const a3 = view(a, [batchA, ta ? k : m, ta ? m : k]);
      const a2 = ta ? view(keep(transpose(backend, a3, [0, 2, 1])), [batchA * m, k]) : view(a, [batchA * m, k]); // [batch·M, K]
      const b2 = tb ? keep(transpose(backend, view(b, [n, k]), [1, 0])) : view(b, [k, n]); // [K, N]
      const out = plain(a2, b2); // [batch·M, N]
      out.shape = outShape;
      return out;
    }
    if (batchA === 1) {
      // A · [K, batch·N], then [M, batch, N] → [batch, M, N]
      const a2 = ta ? keep(transpose(backend, view(a, [k, m]), [1, 0])) : view(a, [m, k]); // [M, K]
      const b3 = view(b, [batchB, tb ? n : k, tb ? k : n]);
      const bT = keep(transpose(backend, b3, tb ? [2, 0, 1] : [1, 0, 2])); // [K, batch, N]
      const prodT = keep(plain(a2, view(bT, [k, batchB * n]))); // [M, batch·N]
      const out = transpose(backend, view(prodT, [m, batchB, n]), [1, 0, 2]); // [batch, M, N]
      out.shape = outShape;
      return out;
    }
    const sameBatch = batchDimsA.length === batchDimsB.length && batchDimsA.every((d, i) => d === batchDimsB[i]);
    if (!sameBatch || nb * m * n * k < BATCHED_DEPTHWISE_MIN_MACS || !originals().has('DepthwiseConv2dNative')) {
      return matMulExplicitTranspose('BatchMatMul', args);
    }
    const a3 = view(a, [nb, ta ? k : m, ta ? m : k]);
    const b3 = view(b, [nb, tb ? n : k, tb ? k : n]);
    const x = keep(transpose(backend, a3, ta ? [2, 1, 0] : [1, 2, 0])); // [M, K, batch]
    const f = keep(transpose(backend, b3, tb ? [2, 0, 1] : [1, 0, 2])); // [K, batch, N]
    const conv = keep(
      run('DepthwiseConv2dNative', backend, { x: view(x, [1, m, k, nb]), filter: view(f, [1, k, nb, n]) }, {
        strides: [1, 1],
        pad: 'valid',
        dilations: [1, 1],
        dataFormat: 'NHWC',
      }),
    ); // [1, M, 1, batch·N]
    const out = transpose(backend, view(conv, [m, nb, n]), [1, 0, 2]); // [batch, M, N]
    out.shape = outShape;
    return out;
  } finally {
    free(backend, ...temps);
  }
}

// ---------------------------------------------------------------------------------------------

/**
 * Register the kit's wasm kernels (call after `tf.setBackend('wasm')`; idempotent).
 * Returns the names of the kernels registered (new) or replaced (wrapped).
 */
export function registerWasmKernels(): string[] {
  const store = originals();
  for (const name of USED_ORIGINALS) {
    if (store.has(name)) continue;
    const k = tf.getKernel(name, BACKEND);
    if (k) store.set(name, k);
  }
  for (const name of ['Conv2D', 'Transpose', 'Reverse', 'Slice', 'Conv2DBackpropInput', 'BatchMatMul', 'Identity', 'Cast']) {
    if (!store.has(name)) throw new Error(`wasm_kernels: the wasm backend has no '${name}' kernel (is @tensorflow/tfjs-backend-wasm 4.22 loaded?)`);
  }
  const impls: Record<(typeof WASM_KIT_KERNELS)[number], tf.KernelFunc | null> = {
    Conv2DBackpropFilter: conv2DBackpropFilter,
    Conv2DBackpropInput: conv2DBackpropInput,
    DepthwiseConv2dNativeBackpropFilter: depthwiseBackpropFilter,
    DepthwiseConv2dNativeBackpropInput: depthwiseBackpropInput,
    UnsortedSegmentSum: unsortedSegmentSum,
    MaxPoolGrad: maxPoolGrad,
    AvgPoolGrad: store.has('AvgPoolGrad') ? avgPoolGrad : null,
    BatchMatMul: batchMatMul,
    _FusedMatMul: store.has('_FusedMatMul') ? fusedMatMul : null,
    Transpose: transposeKernel,
    Identity: aliasKernel('Identity'),
    Cast: aliasKernel('Cast'),
    GatherV2: gatherV2,
  };
  const done: string[] = [];
  for (const name of WASM_KIT_KERNELS) {
    const fn = impls[name];
    if (!fn) continue;
    if (tf.getKernel(name, BACKEND)) tf.unregisterKernel(name, BACKEND);
    const o = store.get(name);
    tf.registerKernel({ kernelName: name, backendName: BACKEND, kernelFunc: fn, setupFunc: o?.setupFunc, disposeFunc: o?.disposeFunc });
    done.push(name);
  }
  return done;
}
