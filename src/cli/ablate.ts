/**
 * `npm run ablate -- [--suite v2-closed] [--seeds 0,1,2] [--ablations full,no-prior] [--set key.path=value …]
 *                     [--workers 2] [--backend wasm|cpu] [--no-figures] [--no-progress]`
 *
 * `--workers N` trains N variants at a time in child processes (tfjs-wasm is single-threaded, so
 * 2 workers use both cores of a 2-core machine); `--workers 1` trains in this process.
 *
 * Without `--suite`, runs the suites of profile `full` one after the other: v2-closed, then v2-open
 * (the paper's ablations of both settings); `--suite paper` is the v1 suite.
 *
 * Runs a suite's ablations × seeds (runs finished earlier are read from their run records, never
 * retrained) and writes the results table (mean ± std over seeds of R@1/5/10 both directions and
 * mR, test split, checkpoints selected on validation) to data/runs/<suite>/results.{csv,json,md}
 * and figures/ablations_<suite>.*.
 */
import * as fs from 'fs';
import { initBackend } from '../backends/backend';
import { closeRenderer } from '../plotting/render';
import { DEFAULT_ABLATION_PROFILE, runSuite } from '../training/ablation_runner';
import { profileSuites } from '../training/profiles';
import { DEFAULT_WORKERS } from '../training/main_job';
import { ArgSpec, flag, list, nums, num, parseArgs, runCli, setsToOverrides, str } from '../utils/cli_args';

const USAGE = 'usage: npm run ablate -- [--suite v2-closed|v2-open|paper|…] [--seeds 0,1,2] [--ablations full,no-prior] [--set key.path=value …] [--workers N] [--backend wasm|cpu] [--no-figures] [--no-progress]';

/** Most worker processes `--workers` accepts. */
const MAX_WORKERS = 64;

const SPEC: ArgSpec = {
  suite: 'string',
  seeds: { kind: 'intList', min: 0 },
  ablations: 'string',
  set: 'list',
  backend: 'string',
  figures: 'boolean',
  progress: 'boolean',
  workers: { kind: 'int', min: 1, max: MAX_WORKERS },
};

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2), SPEC, 'ablate');
  const sets = list(args, 'set');
  const overrides = sets.length ? setsToOverrides(sets) : undefined;
  const ablations = str(args, 'ablations');
  await initBackend(str(args, 'backend') ?? process.env.KIT_BACKEND);
  const suites = str(args, 'suite') !== undefined ? [str(args, 'suite') as string] : profileSuites(DEFAULT_ABLATION_PROFILE);
  for (const suite of suites) {
    const out = await runSuite(suite, {
      seeds: nums(args, 'seeds'),
      ablations: ablations !== undefined ? ablations.split(',').filter((x) => x.length > 0) : undefined,
      overrides,
      figures: flag(args, 'figures') !== false,
      workers: num(args, 'workers') ?? DEFAULT_WORKERS,
      progress: flag(args, 'progress') !== false,
    });
    const md = out.files.find((f) => f.endsWith('.md'));
    if (md) process.stdout.write(fs.readFileSync(md, 'utf8'));
    process.stdout.write(`\nsuite ${suite}: ${out.trained} variants trained, ${out.reused} reused, ${out.seconds.toFixed(0)} s. Files:\n${out.files.map((f) => `  ${f}`).join('\n')}\n`);
  }
}

runCli(main, USAGE, () => closeRenderer()); // no 15 s idle wait for the figure browser before exiting
