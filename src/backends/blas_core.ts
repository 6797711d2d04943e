/**
 * Whether the native path's products give the same bits at every thread count: it depends on the library that runs
 * them (oneDNN's dnnl_sgemm or OpenBLAS's cblas_sgemm, native/kit_native.c `kit_sgemm`) and, for OpenBLAS, on its
 * kernel set ("core type").
 *
 * oneDNN 2.6 (Debian 12's libdnnl, JIT kernels chosen from the CPU's own feature flags): a product gives the same
 * bits at 1 and 2 threads on 12 shapes × 4 transpose combinations ([16,100000]·[100000,16] to
 * [2048,768]·[768,768], standalone `dnnl_sgemm`, 2026-12-04) except where M or N is 1 (its matrix-vector path
 * splits K), and the addon runs those on one thread.
 *
 * Debian's OpenBLAS is a DYNAMIC_ARCH build: when it loads it picks one set of kernels for the CPU, and
 * `OPENBLAS_CORETYPE` overrides the choice (some machines set it, e.g. to `Haswell`, because older OpenBLAS builds
 * compute wrong results or crash on their processors; the kit never changes it). The addon reports the core in
 * `blasConfig()`, and the backend line and run records carry it, because the bits depend on it:
 *
 * - on the AVX-512 kernels (`SkylakeX`, `Cooperlake`) a product gives the same bits at 1 and 2 threads: OpenBLAS
 *   splits M and N among threads, never the K reduction, and every split computes an element the same way (nine
 *   shapes tried, [100,53]·[53,37] to [2048,768]·[768,768], standalone `cblas_sgemm`, 2026-12-04);
 * - on the AVX2 kernels (`Haswell`, and `Zen`, which uses them) the threaded product differs from the 1-thread one in
 *   the last bits (2,800 of 122,880 values of [384,256]·[256,320]; 11,599 of 65,536 of [1024,64]·[64,64]), and so
 *   does a product split by rows or columns. The same thread count still gives the same bits.
 *
 * Different cores give different bits from each other too (different kernels), so records made on one core are
 * reproduced bit for bit only on that core.
 */

/** Core types on which a threaded sgemm was measured to give the 1-thread bits. */
export const THREAD_INVARIANT_CORES: readonly string[] = ['SkylakeX', 'Cooperlake'];

/** The core name in the addon's `blasConfig()` ("OpenBLAS 0.3.21 … ; core SkylakeX" → "SkylakeX"), or null. */
export function coreOfBlasConfig(config: string): string | null {
  const m = /;\s*core\s+(\S+)\s*$/.exec(config);
  return m ? m[1] : null;
}

/** Whether OpenBLAS products give the same bits at every thread count on this core (false: not known to). */
export function threadInvariantCore(core: string | null): boolean {
  return core !== null && THREAD_INVARIANT_CORES.some((c) => c.toLowerCase() === core.toLowerCase());
}

/** Whether the products give the same bits at every thread count with this library (and OpenBLAS core). */
export function threadInvariantGemm(gemm: 'onednn' | 'openblas', core: string | null): boolean {
  return gemm === 'onednn' || threadInvariantCore(core);
}
