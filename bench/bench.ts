/**
 * Kit benchmark: `npm run bench [-- --quick | --tiny] [--only train,torch,...] [--out file.json] [--backend wasm|cpu]`.
 *
 * Measures training pairs/s of the default small config (stage 2, with the trainer's AdamW step),
 * a PyTorch reference of the same step (bench/torch_reference.py, /usr/bin/python3), encoder
 * throughput (pir-small and PriorCLIP ViT-B/32 @224), retrieval-metric time (RSICD size and
 * 10k×50k), embedded data generation and loader images/s, peak RSS, tensor growth per step, the
 * backend and its matmul GFLOP/s, and a per-kernel profile of one training step. Writes
 * bench/results/bench-<date>.json and bench/results/latest.json (atomic) and prints a table.
 */
import { BenchOptions, SECTIONS, Section, runBench } from './lib/run';
import { formatTable } from './lib/table';

function parseArgs(argv: string[]): BenchOptions {
  const o: BenchOptions = { mode: 'full', only: null, out: null, backend: 'wasm', verbose: true };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`bench: ${a} needs a value`);
      return v;
    };
    if (a === '--quick') o.mode = 'quick';
    else if (a === '--tiny') o.mode = 'tiny';
    else if (a === '--full') o.mode = 'full';
    else if (a === '--only') {
      const names = value().split(',').map((s) => s.trim()).filter(Boolean);
      for (const n of names) if (!(SECTIONS as readonly string[]).includes(n)) throw new Error(`bench: unknown section '${n}' (use ${SECTIONS.join(', ')})`);
      o.only = [...(o.only ?? []), ...(names as Section[])];
    } else if (a === '--out') o.out = value();
    else if (a === '--backend') o.backend = value();
    else if (a === '--silent') o.verbose = false;
    else throw new Error(`bench: unknown argument '${a}' (use --quick, --tiny, --only <sections>, --out <file>, --backend <name>, --silent)`);
  }
  return o;
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const { result, files } = await runBench(opts);
  console.log(formatTable(result));
  if (result.notes.length) console.log(result.notes.map((n) => `note: ${n}`).join('\n'));
  console.log(`wrote ${files.join(', ')}`);
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.stack ?? e.message : String(e));
  process.exitCode = 1;
});
