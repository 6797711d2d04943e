/**
 * Floating-point operations of the GEMM-like kernels in a `tf.profile` record (2 per multiply-add):
 * MatMul / BatchMatMul / _FusedMatMul, Conv2D and both backprops, and the products inside the native path's fused
 * KitLinear / KitLinearGrad (x·w; dx, dw, db) and KitAttention / KitAttentionGrad (2 / 4 products per head). Element-wise work is not counted, so
 * "GFLOP/s of a step" means GEMM+conv FLOPs over the whole step's wall time (the usual MFU-style figure).
 */

/** The fields of a tf.profile kernel record this needs. */
export interface ProfiledKernel {
  name: string;
  inputShapes?: (number[] | null | undefined)[];
  outputShapes?: (number[] | null | undefined)[];
}

function prod(xs: readonly number[]): number {
  return xs.reduce((p, d) => p * d, 1);
}

/** FLOPs of one kernel call (0 for kernels that are not products or convs, or lack shapes). */
export function kernelFlops(k: ProfiledKernel): number {
  const ins = k.inputShapes ?? [];
  const out = k.outputShapes?.[0];
  if (!out) return 0;
  if (k.name === 'BatchMatMul' || k.name === '_FusedMatMul') {
    const a = ins[0];
    if (!a || a.length < 2 || out.length < 2) return 0;
    const m = out[out.length - 2];
    const aMat = a[a.length - 2] * a[a.length - 1]; // M·K whatever the transpose
    const k2 = m > 0 ? aMat / m : 0;
    return 2 * prod(out) * k2;
  }
  if (k.name === 'KitLinear') {
    // inputs x [..., in], w [in, out]: the product x·w (N·in·out multiply-adds, N = the leading axes)
    const x = ins[0];
    const w = ins[1];
    if (!x || !w || x.length < 1 || w.length !== 2) return 0;
    return 2 * prod(x) * w[1];
  }
  if (k.name === 'KitLinearGrad') {
    // inputs dy [..., out], x [..., in]: dx = dy·wᵀ and dw = xᵀ·dy (N·in·out multiply-adds each) + db (N·out)
    const dy = ins[0];
    const x = ins[1];
    if (!dy || !x || dy.length < 1 || x.length < 1) return 0;
    const n = prod(dy) / dy[dy.length - 1];
    return 2 * (2 * n * x[x.length - 1] * dy[dy.length - 1] + prod(dy));
  }
  if (k.name === 'KitAttention' || k.name === 'KitAttentionGrad') {
    // KitAttention inputs q [B, Lq, D], k [B, Lk, D]; KitAttentionGrad inputs dout [B, Lq, D], dprobs, q, k:
    // Q·Kᵀ and P·V (B·Lq·Lk·D multiply-adds each; the heads split D) forward, four such products backward
    const q = k.name === 'KitAttention' ? ins[0] : ins[2];
    const kk = k.name === 'KitAttention' ? ins[1] : ins[3];
    if (!q || !kk || q.length !== 3 || kk.length !== 3) return 0;
    return 2 * (k.name === 'KitAttention' ? 2 : 4) * q[0] * q[1] * kk[1] * q[2];
  }
  if (k.name === 'Conv2D') {
    const f = ins[1];
    return f && f.length === 4 ? (2 * prod(out) * prod(f)) / f[3] : 0;
  }
  if (k.name === 'Conv2DBackpropInput') {
    const dy = ins[0];
    const f = ins[1];
    return dy && f && f.length === 4 ? (2 * prod(dy) * prod(f)) / f[3] : 0;
  }
  if (k.name === 'Conv2DBackpropFilter') {
    const dy = ins[1];
    return dy && out.length === 4 ? (2 * prod(dy) * prod(out)) / out[3] : 0;
  }
  return 0;
}

/** Total FLOPs and the per-kernel split of a profiled piece of work. */
export function countFlops(kernels: ProfiledKernel[]): { total: number; byKernel: Record<string, number> } {
  const byKernel: Record<string, number> = {};
  let total = 0;
  for (const k of kernels) {
    const f = kernelFlops(k);
    if (f <= 0) continue;
    byKernel[k.name] = (byKernel[k.name] ?? 0) + f;
    total += f;
  }
  return { total, byKernel };
}
