/**
 * Backend selection: the only module that loads a TensorFlow.js backend package.
 *
 * Order, unless `KIT_BACKEND` (or the `preference` argument) names one:
 *   1. `@tensorflow/tfjs-node-gpu` (native libtensorflow with CUDA; optional dependency)
 *   2. `@tensorflow/tfjs-node` (native libtensorflow on CPU; optional dependency, installed under the
 *      alias `tfjs-node-native` because danfojs-node's copy is aliased to plain tfjs, see README)
 *   3. `native`: the wasm backend below with its heavy kernels (matmuls, conv2d and its gradients) replaced by
 *      the kit's OpenBLAS addon (./native_kernels.ts; built by `npm run setup` into build/native/, multi-threaded:
 *      `KIT_NATIVE_THREADS`, default the machine's cores)
 *   4. `wasm` (`@tensorflow/tfjs-backend-wasm`, SIMD, single-threaded in Node) plus the kit's kernels
 *      that make it train (./wasm_kernels.ts)
 *   5. `cpu` (pure JavaScript; slow but complete)
 *
 * The kit states once which backend runs and why faster ones were skipped.
 */
import * as tf from '@tensorflow/tfjs';
import { registerWasmKernels } from './wasm_kernels';
import {
  GemmLibrary,
  nativeProducts,
  defaultNativeThreads,
  defaultSmallGemm,
  loadNativeAddon,
  NATIVE_KIT_KERNELS,
  registerNativeKernels,
  unregisterNativeKernels,
} from './native_kernels';

/** The backends the kit knows, fastest first. */
export const BACKEND_ORDER = ['tensorflow-gpu', 'tensorflow', 'native', 'wasm', 'cpu'] as const;
export type BackendName = (typeof BACKEND_ORDER)[number];

/** What initBackend chose, and why. */
export interface BackendInfo {
  /** Kit name of the backend that runs. */
  name: BackendName;
  /** tfjs's own backend name (`tf.getBackend()`). */
  tfjsBackend: string;
  /** npm package that provides it. */
  packageName: string;
  /** Version of that package. */
  version: string;
  /** Faster backends that were tried and skipped, with the reason. */
  skipped: { name: BackendName; reason: string }[];
  /** Kernels the kit registered or replaced on this backend. */
  kitKernels: string[];
  /**
   * `native` only: the products' thread count and library (`gemm`: oneDNN or OpenBLAS), the OpenBLAS build (e.g.
   * "OpenBLAS 0.3.21 …; core SkylakeX") and kernel set (`core`, which OpenBLAS products' bits depend on), whether
   * the products give the same bits at every thread count (blas_core.ts), the element-wise loops' SIMD build, and
   * the kernels the addon serves.
   */
  native?: { threads: number; gemm: GemmLibrary; blas: string; core: string | null; threadInvariant: boolean; simd: 'avx2' | 'baseline'; kernels: string[] };
  /** One human sentence for logs and notebooks. */
  summary: string;
}

let current: BackendInfo | null = null;
let announced = false;

/** The backend chosen by the last initBackend call, or null before it. */
export function backendInfo(): BackendInfo | null {
  return current;
}

function isBackendName(s: string): s is BackendName {
  return (BACKEND_ORDER as readonly string[]).includes(s);
}

/** Node's `require`, kept out of bundlers' and tslab's static analysis. */
function nodeRequire(id: string): unknown {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require(id);
}

function packageVersion(pkg: string): string {
  try {
    const p = nodeRequire(`${pkg}/package.json`) as { version?: string; name?: string };
    return p.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/** Why a native package is absent here (stated once, in the skip reason). */
const NATIVE_MISSING_WHY =
  'optional dependency not installed (its install script downloads libtensorflow, which needs internet access)';

/** Try one native package; return the package that loaded or the reason none can run. */
function tryNative(pkgs: string[], tfjsName: string): { pkg: string } | { reason: string } {
  const reasons: string[] = [];
  for (const pkg of pkgs) {
    try {
      const meta = nodeRequire(`${pkg}/package.json`) as { name?: string };
      if (meta.name !== '@tensorflow/tfjs-node' && meta.name !== '@tensorflow/tfjs-node-gpu') {
        reasons.push(`${pkg} is ${meta.name} (an npm alias of plain tfjs for danfojs-node, not the native package)`);
        continue;
      }
    } catch {
      reasons.push(`${pkg}: ${NATIVE_MISSING_WHY}`);
      continue;
    }
    try {
      nodeRequire(pkg);
      if (tf.findBackend(tfjsName) || tf.engine().registryFactory[tfjsName]) return { pkg };
      reasons.push(`${pkg} loaded but registered no '${tfjsName}' backend`);
    } catch (e) {
      const msg = (e as Error).message.split('\n')[0];
      reasons.push(`${pkg} cannot load: ${msg}`);
    }
  }
  return { reason: reasons.join('; ') };
}

type ProcessListener = (...args: unknown[]) => void;

interface ProcessListeners {
  rej: ProcessListener[];
  exc: ProcessListener[];
}

function processListeners(): ProcessListeners {
  return {
    rej: process.listeners('unhandledRejection') as ProcessListener[],
    exc: process.listeners('uncaughtException') as ProcessListener[],
  };
}

/**
 * Remove the process listeners that the wasm (emscripten) glue adds while it instantiates:
 * `process.on('unhandledRejection', r => { throw r })` turns any unhandled rejection into a crash,
 * which kills a tslab kernel (tooling.md §4, pitfall 5).
 */
function removeEmscriptenCrashHandlers(before: ProcessListeners): void {
  const now = processListeners();
  for (const l of now.rej) if (!before.rej.includes(l)) process.removeListener('unhandledRejection', l);
  for (const l of now.exc) if (!before.exc.includes(l)) process.removeListener('uncaughtException', l);
}

/**
 * Pick and initialise the fastest working backend (or the one named by `preference` /
 * `KIT_BACKEND`). Safe to call more than once: later calls return the first choice unless a
 * different backend is requested explicitly.
 */
export async function initBackend(
  preference: string | undefined = process.env.KIT_BACKEND,
  opts: { quiet?: boolean } = {},
): Promise<BackendInfo> {
  const wanted = preference && preference !== 'auto' ? preference : undefined;
  if (wanted !== undefined && !isBackendName(wanted)) {
    throw new Error(`KIT_BACKEND='${wanted}' is not a backend: use one of ${BACKEND_ORDER.join(', ')} or auto`);
  }
  if (current && (wanted === undefined || wanted === current.name)) {
    // asked for by name after a direct tf.setBackend elsewhere (e.g. 'cpu'): make it the active tfjs backend again
    if (wanted !== undefined && tf.getBackend() !== current.tfjsBackend) await tf.setBackend(current.tfjsBackend);
    return current;
  }

  const skipped: { name: BackendName; reason: string }[] = [];
  const candidates: BackendName[] = wanted ? [wanted as BackendName] : [...BACKEND_ORDER];
  for (const name of candidates) {
    if (name === 'tensorflow-gpu' || name === 'tensorflow') {
      const pkgs = name === 'tensorflow-gpu' ? ['@tensorflow/tfjs-node-gpu'] : ['tfjs-node-native', '@tensorflow/tfjs-node'];
      const r = tryNative(pkgs, 'tensorflow');
      if ('reason' in r) {
        skipped.push({ name, reason: r.reason });
        continue;
      }
      await tf.setBackend('tensorflow');
      await tf.ready();
      current = finish(name, 'tensorflow', r.pkg, packageVersion(r.pkg), skipped, []);
      break;
    }
    if (name === 'native') {
      // Checked before touching wasm so that a missing build costs nothing.
      const loaded = loadNativeAddon();
      if ('reason' in loaded) {
        skipped.push({ name, reason: loaded.reason });
        continue;
      }
      try {
        const wasmKernels = await startWasm();
        const threads = defaultNativeThreads();
        const products = nativeProducts(loaded.addon);
        loaded.addon.setGemm(products.gemm);
        loaded.addon.setThreads(threads);
        loaded.addon.setSmallGemm(defaultSmallGemm());
        const nativeKernels = registerNativeKernels(loaded.addon);
        const blas = loaded.addon.blasConfig();
        current = finish(name, 'wasm', '@tensorflow/tfjs-backend-wasm', packageVersion('@tensorflow/tfjs-backend-wasm'), skipped, [
          ...wasmKernels.filter((k) => !(NATIVE_KIT_KERNELS as readonly string[]).includes(k)),
          ...nativeKernels,
        ]);
        const { gemm, core, threadInvariant } = products;
        const gemmName = gemm === 'onednn' ? `oneDNN ${products.version ?? '?'}` : `OpenBLAS ${core ?? '?'}`;
        current.native = { threads, gemm, blas, core, threadInvariant, simd: loaded.addon.simdLevel(), kernels: nativeKernels };
        current.summary = current.summary.replace(
          `backend: native (`,
          `backend: native (${gemmName} products${threadInvariant ? '' : ', whose bits depend on the thread count'}, ${threads} thread${threads === 1 ? '' : 's'}, on `,
        );
        break;
      } catch (e) {
        unregisterNativeKernels();
        skipped.push({ name, reason: (e as Error).message.split('\n')[0] });
        continue;
      }
    }
    if (name === 'wasm') {
      try {
        const kernels = await startWasm();
        current = finish(name, 'wasm', '@tensorflow/tfjs-backend-wasm', packageVersion('@tensorflow/tfjs-backend-wasm'), skipped, kernels);
        break;
      } catch (e) {
        skipped.push({ name, reason: (e as Error).message.split('\n')[0] });
        continue;
      }
    }
    if (name === 'cpu') {
      await tf.setBackend('cpu');
      await tf.ready();
      current = finish(name, 'cpu', '@tensorflow/tfjs-backend-cpu', packageVersion('@tensorflow/tfjs-backend-cpu'), skipped, []);
      break;
    }
  }
  if (!current || (wanted && current.name !== wanted)) {
    const why = skipped.map((s) => `${s.name}: ${s.reason}`).join('\n  ');
    throw new Error(`backend '${wanted ?? 'auto'}' could not be initialised:\n  ${why}`);
  }
  if (!opts.quiet && !announced) {
    announced = true;
    console.log(current.summary);
  }
  return current;
}

/** Load and select the wasm backend with the kit's wasm kernels (and without the native ones); returns the kit kernels. */
async function startWasm(): Promise<string[]> {
  const before = processListeners();
  nodeRequire('@tensorflow/tfjs-backend-wasm');
  let ok = false;
  try {
    ok = await tf.setBackend('wasm');
    await tf.ready();
  } finally {
    removeEmscriptenCrashHandlers(before);
  }
  if (!ok) throw new Error('tf.setBackend("wasm") returned false');
  unregisterNativeKernels();
  return registerWasmKernels();
}

function finish(
  name: BackendName,
  tfjsBackend: string,
  packageName: string,
  version: string,
  skipped: { name: BackendName; reason: string }[],
  kitKernels: string[],
): BackendInfo {
  const skippedText = skipped.length
    ? ` Skipped: ${skipped.map((s) => `${s.name} (${s.reason})`).join('; ')}.`
    : '';
  const kernelsText = kitKernels.length ? ` Kit kernels: ${kitKernels.join(', ')}.` : '';
  return {
    name,
    tfjsBackend,
    packageName,
    version,
    skipped,
    kitKernels,
    summary: `[priorclip-kit] backend: ${name} (${packageName}@${version}).${skippedText}${kernelsText}`,
  };
}
