/**
 * `npm run export -- open-clip --experiment <preset | run id> --out <dir>
 *    [--model <model preset>] [--set key.path=value …] [--stages stage1,stage2]
 *    [--samples-per-shard 1000] [--weights best|final] [--no-weights] [--force]`
 *
 * Writes a self-contained folder that trains the experiment at scale with the PriorCLIP open_clip
 * fork (model config in the fork's schema, webdataset shards per stage, the test split as Karpathy
 * JSON, initial weights when `--experiment` is a kit run id, `train.sh` and its launcher); see
 * `src/interop/open_clip_export.ts`. Back: `npm run evaluate -- --checkpoint <dir>/logs/stage2/checkpoints/epoch_N.pt --data <dir>/data/eval/dataset.json`.
 */
import * as fs from 'fs';
import * as path from 'path';
import { ExperimentConfig, listPresets, mergeExperiment, resolveExperiment, defaultExperiment } from '../config/experiment';
import { loadModelPreset } from '../models/factory';
import { DEFAULT_IGNORED, loadModelFile } from '../models/checkpoint';
import { PRIOR_HEAD_PREFIX } from '../models/priorclip';
import { ModelConfig, RetrievalModel } from '../models/model';
import { readRunRecord, runDir } from '../runs/record';
import { initBackend } from '../backends/backend';
import { prepareData } from '../training/data_prep';
import { ArgSpec, flag, list, num, parseArgs, runCli, setsToOverrides, str, UsageError } from '../utils/cli_args';
import { ExportStage, exportOpenClipJob, DEFAULT_SAMPLES_PER_SHARD, OpenClipExportResult } from '../interop/open_clip_export';

const USAGE =
  'usage: npm run export -- open-clip --experiment <preset | run id> --out <dir> [--model <model preset>] [--set key.path=value …] ' +
  `[--stages stage1,stage2] [--samples-per-shard ${DEFAULT_SAMPLES_PER_SHARD}] [--weights best|final] [--no-weights] [--force]`;

/**
 * The model of a run's weights file, as the fork's initial weights: the config's model, strictly
 * loaded, except that a PriorCLIP stage-0 run's scene head `prior_head.*` (not an open_clip key) is
 * left out, so a stage-0 run gives the open_clip model with its pretrained `res_visual`.
 */
export function loadInitModel(file: string, model: ModelConfig): RetrievalModel {
  return loadModelFile(file, { config: model, ignore: (k) => DEFAULT_IGNORED(k) || k.startsWith(`${PRIOR_HEAD_PREFIX}.`) });
}

/** The experiment named by `--experiment`: a kit run id (its recorded config, and its weights) or a preset. */
export function resolveExportExperiment(name: string, model: string | undefined, overrides: unknown): { exp: ExperimentConfig; runId: string | null } {
  const rec = readRunRecord(name);
  let base: ExperimentConfig;
  let runId: string | null = null;
  if (rec) {
    if (rec.status !== 'finished') throw new Error(`export: run ${name} is ${rec.status}, not finished`);
    const { variant: _variant, ...cfg } = rec.config as Record<string, unknown>;
    base = mergeExperiment(defaultExperiment(), cfg, `${path.join(runDir(name), 'run.json')} (config)`);
    runId = name;
  } else if (listPresets().includes(name)) {
    base = resolveExperiment(name);
  } else {
    throw new Error(`export: --experiment '${name}' is neither a finished run in ${runDir(name)} nor a preset (known presets: ${listPresets().join(', ')})`);
  }
  if (model !== undefined) {
    if (runId) throw new Error(`export: --model cannot replace the model of run ${runId} (its weights are for ${JSON.stringify(base.model.name ?? base.model.kind)})`);
    base = { ...base, model: loadModelPreset(model) };
  }
  return { exp: resolveExperiment(base, null, overrides), runId };
}

/** Run the command; returns what was written. */
/** Context length of the throw-away word tokenizer `prepareData` builds beside the dataset. */
const EXPORT_TOKENIZER_CONTEXT = 16;

const SPEC: ArgSpec = {
  experiment: 'string',
  out: 'string',
  model: 'string',
  set: 'list',
  stages: 'string',
  'samples-per-shard': { kind: 'int', min: 1 },
  weights: { kind: 'string', choices: ['best', 'final'] },
  'no-weights': 'boolean',
  force: 'boolean',
  quiet: 'boolean',
};

export async function runExportCli(argv: readonly string[]): Promise<OpenClipExportResult> {
  const [target, ...rest] = argv;
  if (target !== 'open-clip') throw new UsageError(`export: unknown target '${target ?? ''}' (known: open-clip)`);
  const args = parseArgs(rest, SPEC, 'export open-clip');
  const experiment = str(args, 'experiment');
  const out = str(args, 'out');
  if (!experiment || !out) throw new UsageError('export: --experiment and --out are required');
  const sets = list(args, 'set');
  const { exp, runId } = resolveExportExperiment(experiment, str(args, 'model'), sets.length ? setsToOverrides(sets) : undefined);
  const stages = (str(args, 'stages') ?? 'stage1,stage2').split(',').map((s) => s.trim()) as ExportStage[];
  for (const s of stages) if (s !== 'stage1' && s !== 'stage2') throw new UsageError(`export: --stages takes stage1 and/or stage2, got '${s}'`);
  const per = num(args, 'samples-per-shard') ?? DEFAULT_SAMPLES_PER_SHARD;
  const which = str(args, 'weights') ?? 'best';

  // Only the dataset is exported (the fork tokenizes with its own CLIP BPE): a word tokenizer avoids
  // needing the CLIP vocabulary here; its context length is irrelevant to the export.
  const prepared = await prepareData(exp.data, 'word', EXPORT_TOKENIZER_CONTEXT);
  let init: { model: RetrievalModel; runId: string } | null = null;
  if (runId && flag(args, 'no-weights') !== true) {
    const file = path.join(runDir(runId), `${which}.safetensors`);
    if (!fs.existsSync(file)) throw new Error(`export: run ${runId} has no ${which}.safetensors in ${runDir(runId)}`);
    await initBackend(process.env.KIT_BACKEND, { quiet: true });
    init = { model: loadInitModel(file, exp.model), runId };
  }
  try {
    const res = exportOpenClipJob({ exp, dataset: prepared.dataset, outDir: path.resolve(out), init, stages, samplesPerShard: per, origin: runId ? `kit run ${runId}` : `preset ${experiment}`, force: flag(args, 'force') === true });
    if (flag(args, 'quiet') !== true) {
      process.stdout.write(`wrote ${res.outDir} (${res.manifest.kind}${res.manifest.forkModel ? `, fork model ${res.manifest.forkModel}` : ''})\n`);
      for (const s of res.manifest.stages) process.stdout.write(`  ${s.stage}: ${s.trainShards} (${s.trainSamples} samples), frozen: ${s.freeze.join(' ') || 'none'}\n`);
      process.stdout.write(`  test: ${res.manifest.test.annotationFile} (${res.manifest.test.images} images)\n`);
      if (res.manifest.initWeights) process.stdout.write(`  initial weights: ${res.manifest.initWeights}\n`);
      process.stdout.write(`  not expressed by the fork: ${res.manifest.notExpressed.length} item(s), listed in train.sh / README.md\n`);
    }
    return res;
  } finally {
    init?.model.dispose();
  }
}

if (require.main === module) {
  runCli(async () => {
    await runExportCli(process.argv.slice(2));
  }, USAGE);
}
