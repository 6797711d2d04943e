/**
 * Image-encoding throughput of the full-size PriorCLIP (ViT-B/32 + RN50-style prior, 224 px).
 *
 *   npx tsx bench/vitb32_encode.ts [--batch 8] [--iters 3] [--backend wasm|cpu]
 *
 * Random weights and random normalised images (throughput does not depend on the values). Prints
 * images/s for the whole `encodeImage` (prior + soft-belief ViT) and for each tower alone.
 */
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backends/backend';
import { createPriorClip, PRIORCLIP_VIT_B_32 } from '../src/models/priorclip';
import { SeedStream } from '../src/utils/random';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

async function timeIt(label: string, batch: number, iters: number, fn: () => tf.Tensor): Promise<number> {
  const warm = fn();
  await warm.data();
  warm.dispose();
  const times: number[] = [];
  for (let i = 0; i < iters; i++) {
    const t0 = performance.now();
    const out = fn();
    await out.data();
    out.dispose();
    times.push(performance.now() - t0);
  }
  const best = Math.min(...times);
  const mean = times.reduce((a, b) => a + b, 0) / times.length;
  console.log(`${label.padEnd(28)} batch ${batch}: best ${(best / 1000).toFixed(2)} s (${((batch * 1000) / best).toFixed(2)} img/s), mean ${(mean / 1000).toFixed(2)} s (${((batch * 1000) / mean).toFixed(2)} img/s)`);
  return (batch * 1000) / mean;
}

async function main(): Promise<void> {
  const batch = Number(arg('batch', '8'));
  const iters = Number(arg('iters', '3'));
  const info = await initBackend(arg('backend', process.env.KIT_BACKEND ?? 'wasm'));
  const seeds = new SeedStream(0);
  const t0 = performance.now();
  const model = createPriorClip(PRIORCLIP_VIT_B_32, seeds.child('model'));
  console.log(`built ViT-B/32 PriorCLIP (${(model.params.numElements() / 1e6).toFixed(1)}M values) in ${((performance.now() - t0) / 1000).toFixed(1)} s on ${info.name}`);
  const s = PRIORCLIP_VIT_B_32.vision.imageSize;
  const images = tf.randomNormal([batch, s, s, 3], 0, 1, 'float32', seeds.nextSeed()) as tf.Tensor4D; // [B, 224, 224, 3]
  const prior = model.prior(images); // [B, 1, 768]
  await timeIt('encodeImage (prior + ViT)', batch, iters, () => model.encodeImage(images));
  await timeIt('prior only (RN50 + proj)', batch, iters, () => model.prior(images));
  await timeIt('soft-belief ViT only', batch, iters, () => model.visual.apply(images, prior));
  tf.dispose([images, prior]);
  model.dispose();
}

main().catch((e: Error) => {
  console.error(e.message);
  process.exit(1);
});
