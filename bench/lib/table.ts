/**
 * Human table of a bench result (printed by bench.ts; README copies it).
 */
import { BenchResult, NESTED_SCOPE } from './run';

function f(x: number, digits = 1): string {
  return Number.isFinite(x) ? x.toFixed(digits) : 'n/a';
}

/** Rows `[what, value, note]`. */
export function benchRows(r: BenchResult): [string, string, string][] {
  const rows: [string, string, string][] = [];
  rows.push(['backend', `${r.backend.name} (${r.backend.packageName}@${r.backend.version})`, r.backend.kitKernels.length ? `kit kernels: ${r.backend.kitKernels.length}` : '']);
  rows.push(['load average (1 min) start → end', `${f(r.machine.loadavgStart[0], 2)} → ${f(r.machine.loadavgEnd[0], 2)}`, `${r.machine.cpus} cores`]);
  const peak = r.matmul?.find((m) => m.size === 512)?.gflops;
  for (const m of r.matmul ?? []) rows.push([`matmul ${m.size}² GFLOP/s`, f(m.gflops), `${f(m.timing.medianMs, 2)} ms median of ${m.timing.n}`]);
  if (r.train) {
    const t = r.train;
    rows.push([`train step ${t.config} stage 2 (B${t.batchSize})`, `${f(t.timing.medianMs)} ms`, `mean ${f(t.timing.meanMs)}, min ${f(t.timing.minMs)}, n ${t.timing.n}`]);
    rows.push(['training pairs/s', f(t.pairsPerSec), `params ${t.params.trainable}/${t.params.total} trainable`]);
    const ph = t.phases;
    rows.push(['  step parts: fwd+bwd / clip / AdamW', `${f(ph.gradsMs)} / ${f(ph.clipMs)} / ${f(ph.adamwMs)} ms`, `forward alone (train mode) ${f(ph.forwardMs)} ms`]);
    rows.push(['tensors leaked per step', String(t.tensorsPerStep), t.tensorsPerStep === 0 ? 'ok' : 'LEAK']);
  }
  if (r.torch) {
    if (r.torch.ok) {
      const tr = r.torch.result;
      rows.push([`PyTorch ${tr.torchVersion} step (${tr.threads} threads, B${tr.batchSize})`, `${f(tr.stepMsMedian)} ms`, `${f(tr.pairsPerSec)} pairs/s, OMP_WAIT_POLICY=${r.torch.env.OMP_WAIT_POLICY}`]);
      rows.push([`kit / PyTorch step time (${tr.threads} threads)`, `${f(r.torch.kitOverTorchStepTime, 2)}×`, `kit throughput = ${f(100 * r.torch.kitPairsPerSecOverTorch)} % of PyTorch`]);
      const o = r.torch.oneThread;
      if (o.ok) {
        rows.push(['PyTorch step (1 thread)', `${f(o.stepMsMedian)} ms`, `${f(o.pairsPerSec)} pairs/s`]);
        rows.push(['kit / PyTorch step time (1 thread)', `${f(o.kitOverTorchStepTime, 2)}×`, 'per core: wasm is single-threaded in Node']);
      } else rows.push(['PyTorch (1 thread)', 'skipped', o.skipped]);
    } else rows.push(['PyTorch reference', 'skipped', r.torch.skipped]);
  }
  for (const e of r.encode ?? []) {
    rows.push([`encode images ${e.config} @${e.imageSize}px (B${e.batchSize})`, `${f(e.imagesPerSec)} /s`, `${f(e.image.medianMs)} ms per batch`]);
    rows.push([`encode texts ${e.config} (B${e.batchSize})`, `${f(e.textsPerSec)} /s`, `${f(e.text.medianMs)} ms per batch`]);
  }
  for (const e of r.eval ?? []) rows.push([`retrievalMetrics ${e.name}`, `${f(e.seconds, 2)} s`, `${e.dim}-d random embeddings`]);
  if (r.data) {
    rows.push(['embedded data generation', `${f(r.data.generate.imagesPerSec)} images/s`, `${r.data.generate.images} images in ${f(r.data.generate.seconds)} s`]);
    rows.push([`loader decode+resize+normalise @${r.data.loader.size}px`, `${f(r.data.loader.evalPerSec, 0)} images/s`, `decode only ${f(r.data.loader.decodePerSec, 0)}/s`]);
    rows.push(['loader decode+PIR augment+normalise', `${f(r.data.loader.trainPerSec, 0)} images/s`, `pixels cached: ${f(r.data.loader.cachedTrainPerSec, 0)}/s`]);
  }
  if (r.profile) {
    for (const k of r.profile.kernels.slice(0, 15)) {
      const nested = k.name === NESTED_SCOPE;
      rows.push([`  kernel ${k.name}`, `${f(k.ms)} ms`, nested ? `${k.calls} calls; tf.customGrad ops (LayerNorm, GELU, …): includes kernels listed on their own` : `${k.calls} calls, ${f(100 * k.share)} %`]);
    }
    rows.push(['  profiled step: kernel total / wall', `${f(r.profile.totalKernelMs)} / ${f(r.profile.wallMs)} ms`, 'wall includes tf.profile overhead']);
  }
  rows.push(['peak RSS', `${f(r.peakRssMb, 0)} MB`, '']);
  rows.push(['bench wall time', `${f(r.totalSeconds)} s`, `mode ${r.mode}`]);
  if (peak) rows.push(['(reference) matmul 512² GFLOP/s', f(peak), 'read other figures as a fraction of this machine']);
  return rows;
}

/** Markdown-ish aligned table. */
export function formatTable(r: BenchResult): string {
  const rows = benchRows(r);
  const w0 = Math.max(...rows.map((x) => x[0].length), 4);
  const w1 = Math.max(...rows.map((x) => x[1].length), 5);
  const line = (a: string, b: string, c: string) => `| ${a.padEnd(w0)} | ${b.padStart(w1)} | ${c} |`;
  return [line('what', 'value', 'note'), `|${'-'.repeat(w0 + 2)}|${'-'.repeat(w1 + 2)}|---|`, ...rows.map((x) => line(x[0], x[1], x[2]))].join('\n');
}
