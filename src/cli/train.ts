/**
 * `npm run train -- [--preset embedded-fast] [--ablation <name>] [--seed 0] [--set key.path=value …]
 *                    [--overrides '<json>'] [--backend wasm|cpu] [--no-progress]`
 *
 * Trains one variant through the recipe (stage 0 → 1 → 2, each skipped when disabled or already
 * finished, resumed when interrupted), evaluates the final best-on-validation checkpoint on the
 * test split and prints the run ids and metrics. Runs land in data/runs/<runId>/.
 * Exit codes: 0 ok, 1 failed, 2 usage error.
 */
import { initBackend } from '../backends/backend';
import { runRecipe, recipeTest } from '../training/recipe';
import { STAGES, StageName, resolveVariant } from '../training/run_cache';
import { ArgSpec, flag, list, num, parseArgs, runCli, setsToOverrides, str, UsageError } from '../utils/cli_args';

const USAGE = 'usage: npm run train -- [--preset embedded-fast] [--ablation <name>] [--seed N] [--set key.path=value …] [--overrides <json>] [--up-to stage0|stage1|stage2] [--backend wasm|cpu] [--no-progress]';

const SPEC: ArgSpec = {
  preset: 'string',
  ablation: 'string',
  seed: { kind: 'int', min: 0 },
  set: 'list',
  overrides: 'string',
  backend: 'string',
  progress: 'boolean',
  'up-to': 'string',
};

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2), SPEC, 'train');
  const sets = list(args, 'set');
  let overrides: unknown = sets.length ? setsToOverrides(sets) : undefined;
  const json = str(args, 'overrides');
  if (json !== undefined) {
    if (overrides !== undefined) throw new UsageError('train: use either --set or --overrides, not both');
    try {
      overrides = JSON.parse(json);
    } catch (e) {
      throw new UsageError(`train: --overrides must be a JSON object: ${(e as Error).message}`);
    }
  }
  const preset = str(args, 'preset') ?? 'embedded-fast';
  const ablation = str(args, 'ablation') ?? null;
  const upTo = str(args, 'up-to');
  if (upTo !== undefined && !(STAGES as readonly string[]).includes(upTo)) throw new UsageError(`train: --up-to must be one of ${STAGES.join(', ')} (got '${upTo}')`);
  const variant = resolveVariant(preset, ablation, overrides);
  await initBackend(str(args, 'backend') ?? process.env.KIT_BACKEND);
  const seed = num(args, 'seed') ?? variant.exp.seed;
  const out = await runRecipe(variant, { seed, progress: flag(args, 'progress') !== false, ...(upTo ? { upTo: upTo as StageName } : {}) });
  for (const s of out.stages) {
    process.stdout.write(`${s.stage.padEnd(7)} ${s.status.padEnd(8)} ${(s.runId ?? '-').padEnd(40)} ${s.seconds.toFixed(1).padStart(7)} s  ${s.examplesPerSecond ? s.examplesPerSecond.toFixed(1) + ' ex/s' : ''}  best val ${s.bestVal === null ? '-' : s.bestVal.toFixed(2)}\n`);
  }
  if (upTo && !out.test) return; // stopped before the tested stage (e.g. --up-to stage0: the prior alone)
  const t = recipeTest(out);
  process.stdout.write(`test (${t.numImages} images, ${t.numTexts} captions, tie rule ${t.tieRule}): i→t R@1/5/10 ${t.i2t.r1.toFixed(2)}/${t.i2t.r5.toFixed(2)}/${t.i2t.r10.toFixed(2)}  t→i ${t.t2i.r1.toFixed(2)}/${t.t2i.r5.toFixed(2)}/${t.t2i.r10.toFixed(2)}  mR ${t.mR.toFixed(2)}\n`);
}

runCli(main, USAGE);
