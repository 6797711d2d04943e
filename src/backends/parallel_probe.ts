/**
 * One probe process of ./parallelism.ts: `node --import tsx src/backends/parallel_probe.ts <ms>`.
 * Initialises the backend named by KIT_BACKEND (threads from KIT_NATIVE_THREADS), then repeats a small
 * training-like step (conv 3×3 + ReLU, a [1024, 128]·[128, 128] product, a GELU-like element-wise chain,
 * attention softmax, forward and gradients) for <ms> after one warm-up step, and prints
 * `PROBE {"stepsPerSec": …, "backend": …}`.
 */
import * as tf from '@tensorflow/tfjs';
import { initBackend } from './backend';

/** Probe sizes: small enough for ~10–50 steps per second on one core, big enough to thread OpenBLAS. */
const B = 8;
const HW = 32;
const C = 32;
const L = 64;

async function main(): Promise<void> {
  const ms = Number(process.argv[2] ?? '2500');
  if (!Number.isFinite(ms) || ms <= 0) throw new Error(`parallel_probe: duration must be a positive number of ms, got '${process.argv[2]}'`);
  const info = await initBackend(process.env.KIT_BACKEND || 'auto', { quiet: true });
  const x = tf.randomNormal([B, HW, HW, C], 0, 1, 'float32', 1) as tf.Tensor4D;
  const w = tf.randomNormal([3, 3, C, C], 0, 0.1, 'float32', 2) as tf.Tensor4D;
  const q = tf.randomNormal([4 * C, 4 * C], 0, 0.1, 'float32', 3) as tf.Tensor2D;
  const step = (): void => {
    tf.tidy(() => {
      const g = tf.grads((wv: tf.Tensor, qv: tf.Tensor) => {
        const h = tf.relu(tf.conv2d(x, wv as tf.Tensor4D, 1, 'same')); // [B, HW, HW, C]
        const rows = h.reshape([(B * HW * HW) / 4, 4 * C]); // [2048, 128]
        const m = tf.matMul(rows, qv as tf.Tensor2D); // [2048, 128]
        const gel = m.mul(tf.sigmoid(m.mul(1.702))); // element-wise chain
        const seq = gel.reshape([(B * HW * HW) / 4 / L, L, 4 * C]); // [32, 64, 128]
        const att = tf.softmax(tf.matMul(seq, seq, false, true)); // [32, 64, 64]
        return tf.matMul(att, seq).square().mean();
      })([w, q]);
      g[0].dataSync();
    });
  };
  step();
  let n = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < ms) {
    step();
    n++;
  }
  const s = (performance.now() - t0) / 1000;
  console.log(`PROBE ${JSON.stringify({ stepsPerSec: n / s, backend: info.name })}`);
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : String(e));
  process.exit(1);
});
