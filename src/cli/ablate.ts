/**
 * `npm run ablate -- [--suite paper] [--seeds 0,1,2] [--ablations full,no-prior] [--set key.path=value …]
 *                     [--workers 2] [--backend wasm|cpu] [--no-figures] [--no-progress]`
 *
 * `--workers N` trains N variants at a time in child processes (tfjs-wasm is single-threaded, so
 * 2 workers use both cores of a 2-core machine); `--workers 1` trains in this process.
 *
 * Runs a suite's ablations × seeds (runs finished earlier are read from their run records, never
 * retrained) and writes the results table (mean ± std over seeds of R@1/5/10 both directions and
 * mR, test split, checkpoints selected on validation) to data/runs/<suite>/results.{csv,json,md}
 * and figures/ablations_<suite>.*.
 */
import * as fs from 'fs';
import { initBackend } from '../backends/backend';
import { closeRenderer } from '../plotting/render';
import { DEFAULT_ABLATION_SUITE, runSuite } from '../training/ablation_runner';
import { DEFAULT_WORKERS } from '../training/main_job';
import { parseArgs, parseIntList, setsToOverrides } from '../training/cli_args';

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2), { suite: 'string', seeds: 'string', ablations: 'string', set: 'list', backend: 'string', figures: 'boolean', progress: 'boolean', workers: 'string' }, 'npm run ablate');
  await initBackend((args.backend as string | undefined) ?? process.env.KIT_BACKEND);
  const sets = (args.set as string[] | undefined) ?? [];
  const out = await runSuite((args.suite as string | undefined) ?? DEFAULT_ABLATION_SUITE, {
    seeds: args.seeds !== undefined ? parseIntList(args.seeds as string, 'seeds') : undefined,
    ablations: args.ablations !== undefined ? (args.ablations as string).split(',').filter((x) => x.length > 0) : undefined,
    overrides: sets.length ? setsToOverrides(sets) : undefined,
    figures: args.figures !== false,
    workers: args.workers !== undefined ? parseIntList(args.workers as string, 'workers')[0] : DEFAULT_WORKERS,
    progress: args.progress !== false,
  });
  const md = out.files.find((f) => f.endsWith('.md'));
  if (md) process.stdout.write(fs.readFileSync(md, 'utf8'));
  process.stdout.write(`\n${out.trained} variants trained, ${out.reused} reused, ${out.seconds.toFixed(0)} s. Files:\n${out.files.map((f) => `  ${f}`).join('\n')}\n`);
}

main()
  .then(() => closeRenderer()) // no 15 s idle wait for the figure browser before exiting
  .catch((e: unknown) => {
    process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  });
