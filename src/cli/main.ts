/**
 * `npm run main -- [--profile fast|full|v1|v1-full|<suite>] [--no-notebooks] [--rerun-notebooks] [--seeds 0,1,2]
 *                   [--workers 2] [--backend native|wasm|cpu] [--no-progress]`
 *
 * Data → stages 0/1/2 → ablation suite → evaluation → figures, per setting of the profile (fast: the
 * closed and open settings of embedded v2, side by side), then the executed notebooks; each step skipped
 * when its outputs exist. The profiles and their suite files are in src/training/profiles.ts.
 * Durations are printed and saved to data/runs/main_<profile>.json.
 */
import { initBackend } from '../backends/backend';
import { closeRenderer } from '../plotting/render';
import { runMainJob } from '../training/main_job';
import { ArgSpec, flag, nums, num, parseArgs, runCli, str } from '../utils/cli_args';

const USAGE = 'usage: npm run main -- [--profile fast|full|v1|v1-full|<suite>] [--no-notebooks] [--rerun-notebooks] [--seeds 0,1,2] [--workers N] [--backend native|wasm|cpu] [--no-progress]';

/** Most worker processes `--workers` accepts. */
const MAX_WORKERS = 64;

const SPEC: ArgSpec = {
  profile: 'string',
  notebooks: 'boolean',
  'rerun-notebooks': 'boolean',
  seeds: { kind: 'intList', min: 0 },
  backend: 'string',
  progress: 'boolean',
  workers: { kind: 'int', min: 1, max: MAX_WORKERS },
};

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2), SPEC, 'main');
  const backend = str(args, 'backend');
  if (backend !== undefined) process.env.KIT_BACKEND = backend; // the settings' child processes take it too
  await initBackend(backend ?? process.env.KIT_BACKEND);
  const report = await runMainJob({
    profile: str(args, 'profile') ?? 'fast',
    notebooks: flag(args, 'notebooks') !== false,
    rerunNotebooks: flag(args, 'rerun-notebooks') === true,
    seeds: nums(args, 'seeds'),
    progress: flag(args, 'progress') !== false,
    workers: num(args, 'workers'),
  });
  process.stdout.write(`\nmain job (${report.profile}, preset ${report.preset}): ${report.totalSeconds.toFixed(1)} s wall, ${report.cpuSeconds.toFixed(1)} s cpu (this process)\n`);
  for (const s of report.steps) process.stdout.write(`  ${(s.setting ?? '').padEnd(7)}${s.step.padEnd(10)} ${s.status.padEnd(8)} ${s.seconds.toFixed(1).padStart(7)} s${s.cpuSeconds !== undefined ? ` (cpu ${s.cpuSeconds.toFixed(1)} s)` : ''}  ${s.detail}\n`);
  for (const st of report.settings) process.stdout.write(`${st.setting} (suite ${st.suite}): main model ${st.main ? `${st.main.runId}: test mR ${st.main.testMR.toFixed(2)}` : 'not finished'}\n`);
}

runCli(main, USAGE, () => closeRenderer()); // no 15 s idle wait for the figure browser before exiting
