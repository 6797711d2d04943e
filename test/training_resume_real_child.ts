/**
 * Child process for test/training_resume.test.ts (real model): runs the tiny recipe (stages 0–2)
 * into KIT_RUNS_DIR, resuming whatever is unfinished there, on KIT_TEST_BACKEND (default wasm). Prints "done" at the end.
 */
import { initBackend } from '../src/backends/backend';
import { resolveExperiment } from '../src/config/experiment';
import { runRecipe, recipeTest } from '../src/training/recipe';
import { TINY_RESUME } from './training_tiny';

async function main(): Promise<void> {
  await initBackend(process.env.KIT_TEST_BACKEND || 'wasm', { quiet: true });
  const exp = resolveExperiment('embedded-fast', null, TINY_RESUME);
  const out = await runRecipe(exp, { progress: false, log: () => undefined });
  process.stdout.write(`done ${recipeTest(out).mR}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(String((e as Error).stack ?? e) + '\n');
  process.exit(1);
});
