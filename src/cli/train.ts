/**
 * `npm run train -- [--preset embedded-fast] [--ablation <name>] [--seed 0] [--set key.path=value …]
 *                    [--overrides '<json>'] [--backend wasm|cpu] [--no-progress]`
 *
 * Trains one variant through the recipe (stage 0 → 1 → 2, each skipped when disabled or already
 * finished, resumed when interrupted), evaluates the final best-on-validation checkpoint on the
 * test split and prints the run ids and metrics. Runs land in data/runs/<runId>/.
 */
import { initBackend } from '../backends/backend';
import { runRecipe, recipeTest } from '../training/recipe';
import { resolveVariant } from '../training/run_cache';
import { parseArgs, setsToOverrides } from '../training/cli_args';

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2), { preset: 'string', ablation: 'string', seed: 'string', set: 'list', overrides: 'string', backend: 'string', progress: 'boolean' }, 'npm run train');
  await initBackend((args.backend as string | undefined) ?? process.env.KIT_BACKEND);
  const preset = (args.preset as string | undefined) ?? 'embedded-fast';
  const ablation = (args.ablation as string | undefined) ?? null;
  const sets = (args.set as string[] | undefined) ?? [];
  let overrides: unknown = sets.length ? setsToOverrides(sets) : undefined;
  if (args.overrides !== undefined) {
    if (overrides !== undefined) throw new Error('use either --set or --overrides, not both');
    try {
      overrides = JSON.parse(args.overrides as string);
    } catch (e) {
      throw new Error(`--overrides must be a JSON object: ${(e as Error).message}`);
    }
  }
  const variant = resolveVariant(preset, ablation, overrides);
  const seed = args.seed !== undefined ? Number(args.seed) : variant.exp.seed;
  if (!Number.isInteger(seed)) throw new Error(`--seed must be an integer, got '${String(args.seed)}'`);
  const out = await runRecipe(variant, { seed, progress: args.progress !== false });
  for (const s of out.stages) {
    process.stdout.write(`${s.stage.padEnd(7)} ${s.status.padEnd(8)} ${(s.runId ?? '-').padEnd(40)} ${s.seconds.toFixed(1).padStart(7)} s  ${s.examplesPerSecond ? s.examplesPerSecond.toFixed(1) + ' ex/s' : ''}  best val ${s.bestVal === null ? '-' : s.bestVal.toFixed(2)}\n`);
  }
  const t = recipeTest(out);
  process.stdout.write(`test (${t.numImages} images, ${t.numTexts} captions, tie rule ${t.tieRule}): i→t R@1/5/10 ${t.i2t.r1.toFixed(2)}/${t.i2t.r5.toFixed(2)}/${t.i2t.r10.toFixed(2)}  t→i ${t.t2i.r1.toFixed(2)}/${t.t2i.r5.toFixed(2)}/${t.t2i.r10.toFixed(2)}  mR ${t.mR.toFixed(2)}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
