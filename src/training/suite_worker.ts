/**
 * Worker entry point of the suite runner (`ablation_runner.ts` `trainInWorkers` starts one process
 * per worker with a `WorkerJob` as its single JSON argument): initialise the backend
 * (KIT_BACKEND), run the recipe of that variant, exit 0. Log lines go to stderr, prefixed `[`.
 * Not a command for users (that is `npm run train`).
 */
import { initBackend } from '../backends/backend';
import { WorkerJob } from './ablation_runner';
import { runRecipe } from './recipe';
import { resolveVariant } from './run_cache';

async function main(): Promise<void> {
  const raw = process.argv[2];
  if (raw === undefined) throw new Error('suite_worker: expected one JSON argument {preset, ablation, seed, overrides}');
  const job = JSON.parse(raw) as WorkerJob;
  await initBackend(process.env.KIT_BACKEND);
  await runRecipe(resolveVariant(job.preset, job.ablation, job.overrides), { seed: job.seed, progress: false, ...(job.upTo ? { upTo: job.upTo } : {}) });
}

main().catch((e: unknown) => {
  process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
