/**
 * `npm run main -- [--profile default|full] (fast = default, full = the paper suite) [--no-notebooks] [--rerun-notebooks] [--seeds 0,1,2]
 *                   [--workers 2] [--backend wasm|cpu] [--no-progress]`
 *
 * Data → stages 0/1/2 → ablation suite → evaluation → figures → executed notebooks, each step skipped
 * when its outputs exist. The profile is a suite file (src/configs/suites/<profile>.json) naming the
 * preset, ablations and seeds. Durations are printed and saved to data/runs/main_<profile>.json.
 */
import { initBackend } from '../backends/backend';
import { closeRenderer } from '../plotting/render';
import { runMainJob } from '../training/main_job';
import { parseArgs, parseIntList } from '../training/cli_args';

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2), { profile: 'string', notebooks: 'boolean', 'rerun-notebooks': 'boolean', seeds: 'string', backend: 'string', progress: 'boolean', workers: 'string' }, 'npm run main');
  await initBackend((args.backend as string | undefined) ?? process.env.KIT_BACKEND);
  const report = await runMainJob({
    profile: (args.profile as string | undefined) ?? 'default',
    notebooks: args.notebooks !== false,
    rerunNotebooks: args['rerun-notebooks'] === true,
    seeds: args.seeds !== undefined ? parseIntList(args.seeds as string, 'seeds') : undefined,
    progress: args.progress !== false,
    workers: args.workers !== undefined ? parseIntList(args.workers as string, 'workers')[0] : undefined,
  });
  process.stdout.write(`\nmain job (${report.profile}, preset ${report.preset}): ${report.totalSeconds.toFixed(1)} s wall, ${report.cpuSeconds.toFixed(1)} s cpu (this process)\n`);
  for (const s of report.steps) process.stdout.write(`  ${s.step.padEnd(10)} ${s.status.padEnd(8)} ${s.seconds.toFixed(1).padStart(7)} s${s.cpuSeconds !== undefined ? ` (cpu ${s.cpuSeconds.toFixed(1)} s)` : ''}  ${s.detail}\n`);
  if (report.main) process.stdout.write(`main model ${report.main.runId}: test mR ${report.main.testMR.toFixed(2)}\n`);
}

main()
  .then(() => closeRenderer()) // no 15 s idle wait for the figure browser before exiting
  .catch((e: unknown) => {
    process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  });
