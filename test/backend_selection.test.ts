/**
 * Backend selection (src/backends/backend.ts): KIT_BACKEND / preference handling, the skipped list,
 * backendInfo(), and the wasm glue's crash handlers (an unhandled rejection must not kill the process).
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawnSync } from 'child_process';
import * as tf from '@tensorflow/tfjs';
import { initBackend, backendInfo, BACKEND_ORDER } from '../src/backends/backend';
import { WASM_KIT_KERNELS } from '../src/backends/wasm_kernels';
import { NATIVE_KIT_KERNELS, nativeAddonPath } from '../src/backends/native_kernels';
import { projectRoot } from '../src/utils/fs';

/** Run a TypeScript snippet in a fresh node process (tsx loader); returns exit code and output. */
function runChild(code: string): { status: number | null; stdout: string; stderr: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kit-backend-'));
  const file = path.join(dir, 'child.ts');
  fs.writeFileSync(file, code);
  try {
    const r = spawnSync(process.execPath, ['--import', 'tsx', file], {
      cwd: projectRoot(),
      encoding: 'utf8',
      timeout: 60_000,
      env: { ...process.env, KIT_BACKEND: '' },
    });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const backendModule = JSON.stringify(path.join(projectRoot(), 'src', 'backends', 'backend'));
const tfjsModule = JSON.stringify(require.resolve('@tensorflow/tfjs'));
const wasmModule = JSON.stringify(require.resolve('@tensorflow/tfjs-backend-wasm'));

test('auto picks the fastest working backend and explains why the native ones were skipped', () => {
  // A fresh process: initBackend remembers its first choice.
  const r = runChild(`
    import { initBackend, backendInfo } from ${backendModule};
    (async () => {
      const info = await initBackend('auto', { quiet: true });
      console.log('INFO ' + JSON.stringify({ ...info, same: backendInfo() === info }));
    })();
  `);
  assert.equal(r.status, 0, r.stderr);
  const line = r.stdout.split('\n').find((l) => l.startsWith('INFO '));
  assert.ok(line, `no INFO line in child output:\n${r.stdout}\n${r.stderr}`);
  const info = JSON.parse(line.slice(5)) as {
    name: string;
    tfjsBackend: string;
    skipped: { name: string; reason: string }[];
    kitKernels: string[];
    summary: string;
    same: boolean;
    native?: { core: string | null; threadInvariant: boolean };
  };
  assert.equal(info.same, true);
  // On this machine (no libtensorflow) the kit's native path wins when it is built (build/native, by
  // `npm run setup`), else wasm; on a machine with tfjs-node-native neither would.
  const nativeInstalled = fs.existsSync(path.join(projectRoot(), 'node_modules', 'tfjs-node-native'));
  const kitNativeBuilt = fs.existsSync(nativeAddonPath());
  if (!nativeInstalled && kitNativeBuilt) {
    assert.equal(info.name, 'native');
    assert.equal(info.tfjsBackend, 'wasm');
    assert.deepEqual(info.skipped.map((s) => s.name), ['tensorflow-gpu', 'tensorflow']);
    for (const k of NATIVE_KIT_KERNELS) assert.ok(info.kitKernels.includes(k), `native kernel ${k} listed`);
    assert.match(info.summary, /backend: native \((oneDNN|OpenBLAS) \S+ products(, whose bits depend on the thread count)?, \d+ threads?, on @tensorflow\/tfjs-backend-wasm/);
    assert.equal(info.summary.includes('whose bits depend on the thread count'), !info.native?.threadInvariant);
  }
  if (!nativeInstalled && !kitNativeBuilt) {
    assert.equal(info.name, 'wasm');
    assert.equal(info.tfjsBackend, 'wasm');
    assert.deepEqual(info.skipped.map((s) => s.name), ['tensorflow-gpu', 'tensorflow', 'native']);
    assert.match(info.skipped[2].reason, /kit_native\.node is not built/);
    const gpu = info.skipped[0].reason;
    assert.match(gpu, /@tensorflow\/tfjs-node-gpu/);
    assert.match(gpu, /not installed/);
    const cpuNative = info.skipped[1].reason;
    assert.match(cpuNative, /tfjs-node-native: optional dependency not installed/);
    assert.match(cpuNative, /libtensorflow/);
    // node_modules/@tensorflow/tfjs-node is danfojs-node's alias of plain tfjs: named as such.
    assert.match(cpuNative, /@tensorflow\/tfjs-node is @tensorflow\/tfjs \(an npm alias/);
    assert.deepEqual(info.kitKernels, [...WASM_KIT_KERNELS]);
    assert.match(info.summary, /backend: wasm/);
    assert.match(info.summary, /Skipped: tensorflow-gpu/);
    assert.match(info.summary, /Kit kernels: Conv2DBackpropFilter/);
  }
});

test('KIT_BACKEND selects the backend when no preference is passed', async () => {
  const saved = process.env.KIT_BACKEND;
  process.env.KIT_BACKEND = 'cpu';
  try {
    const info = await initBackend(undefined, { quiet: true });
    assert.equal(info.name, 'cpu');
    assert.equal(tf.getBackend(), 'cpu');
    assert.deepEqual(info.skipped, []);
    assert.deepEqual(info.kitKernels, []);
    assert.equal(backendInfo(), info);
  } finally {
    if (saved === undefined) delete process.env.KIT_BACKEND;
    else process.env.KIT_BACKEND = saved;
  }
});

test('explicit preferences switch backends; wasm registers the kit kernels; repeated calls are stable', async () => {
  const w = await initBackend('wasm', { quiet: true });
  assert.equal(w.name, 'wasm');
  assert.equal(tf.getBackend(), 'wasm');
  assert.deepEqual(w.kitKernels, [...WASM_KIT_KERNELS]);
  assert.equal(await initBackend('wasm', { quiet: true }), w, 'same request → same info object');
  assert.equal(await initBackend('auto', { quiet: true }), w, "'auto' keeps the current choice");
  // A conv gradient works on wasm (it fails without the kit kernels).
  const g = tf.tidy(() => {
    const x = tf.ones([1, 4, 4, 1]) as tf.Tensor4D;
    return tf.grad((f: tf.Tensor) => tf.conv2d(x, f as tf.Tensor4D, 1, 'same').sum())(tf.ones([3, 3, 1, 1])).dataSync();
  });
  assert.deepEqual(Array.from(g), [9, 12, 9, 12, 16, 12, 9, 12, 9]);
  const c = await initBackend('cpu', { quiet: true });
  assert.equal(c.name, 'cpu');
  assert.equal(tf.getBackend(), 'cpu');
  assert.equal(backendInfo(), c);
  const w2 = await initBackend('wasm', { quiet: true });
  assert.equal(tf.getBackend(), 'wasm');
  assert.deepEqual(w2.kitKernels, [...WASM_KIT_KERNELS]);
});

test('an invalid backend name is a clear error listing the valid names', async () => {
  await assert.rejects(initBackend('tensorflowjs', { quiet: true }), (e: Error) => {
    assert.match(e.message, /KIT_BACKEND='tensorflowjs' is not a backend/);
    for (const n of BACKEND_ORDER) assert.ok(e.message.includes(n), `message names ${n}`);
    assert.match(e.message, /auto/);
    return true;
  });
});

test('asking for an unavailable native backend explicitly fails and says why', async () => {
  if (fs.existsSync(path.join(projectRoot(), 'node_modules', '@tensorflow', 'tfjs-node-gpu'))) return;
  await assert.rejects(initBackend('tensorflow-gpu', { quiet: true }), /backend 'tensorflow-gpu' could not be initialised:[\s\S]*libtensorflow/);
});

test('after initBackend("wasm") an unhandled rejection does not kill the process (tslab-like handler)', () => {
  const r = runChild(`
    import { initBackend } from ${backendModule};
    // tslab installs its own handler that reports and carries on; emulate it.
    process.on('unhandledRejection', (reason) => console.log('HANDLED ' + (reason as Error).message));
    (async () => {
      await initBackend('wasm', { quiet: true });
      void Promise.reject(new Error('deliberate'));
      await new Promise((res) => setTimeout(res, 100));
      console.log('STILL ALIVE');
    })();
  `);
  assert.equal(r.status, 0, `child died:\n${r.stdout}\n${r.stderr.slice(0, 2000)}`);
  assert.match(r.stdout, /HANDLED deliberate/);
  assert.match(r.stdout, /STILL ALIVE/);
});

test('control: without initBackend the wasm glue turns the same rejection into a crash', () => {
  const r = runChild(`
    import * as tf from ${tfjsModule};
    import ${wasmModule};
    process.on('unhandledRejection', (reason) => console.log('HANDLED ' + (reason as Error).message));
    (async () => {
      await tf.setBackend('wasm');
      void Promise.reject(new Error('deliberate'));
      await new Promise((res) => setTimeout(res, 100));
      console.log('STILL ALIVE');
    })();
  `);
  assert.notEqual(r.status, 0);
  assert.doesNotMatch(r.stdout, /STILL ALIVE/);
});
