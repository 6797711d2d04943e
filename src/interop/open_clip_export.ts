/**
 * `npm run export -- open-clip`: a self-contained folder that trains the kit's experiment at scale
 * with the PriorCLIP open_clip fork, and that the kit reads back afterwards.
 *
 *   <out>/kit_export.json          manifest: kit model + experiment config, fork model name, files, notes
 *   <out>/model_configs/<m>.json   the model in the fork's schema (open_clip.add_model_config reads it)
 *   <out>/priorclip_launch.py      launcher: registers model_configs, rebuilds vision_proj_res, freezes
 *   <out>/train.sh                 one flag list per stage (python or torchrun), each flag's kit source
 *   <out>/data/stage1/…tar         coarse corpus (train split), webdataset img_content / caption / img_name
 *   <out>/data/stage2/…tar         fine pairs (train split)
 *   <out>/data/eval/dataset.json   val + test splits as the Karpathy JSON retrieval.py reads (it takes
 *                                  the 'test' entries; `npm run evaluate --split val|test`), + images/
 *   <out>/init/<run>.pt            initial weights (state_dict, torch zip) when exported from a kit run
 *   <out>/README.md                what is where, how to run, what does not map
 *
 * PIR-kind (closed-domain) experiments have no open_clip counterpart: the folder then holds the data
 * (Karpathy JSON, all splits), the weights by their PyTorch names and NOT_MAPPED.md, and no train.sh.
 *
 * Data goes through the kit's own exporter (`src/data/export.ts`); weights through `exportStateDict`.
 */
import * as fs from 'fs';
import * as path from 'path';
import { ExperimentConfig } from '../config/experiment';
import { RetrievalDataset, Split } from '../data/types';
import { exportKarpathy, exportWebdataset, WebdatasetExportMode, WebdatasetExportResult } from '../data/export';
import { exportStateDict } from '../models/checkpoint';
import { RetrievalModel } from '../models/model';
import { atomicWriteFile, atomicWriteJson, projectRoot } from '../utils/fs';
import { OPEN_CLIP_FORK } from './open_clip_flags';
import { forkModelName, needsProjectionPatch, toForkModelConfig } from './open_clip_config';
import { buildForkJob, ForkJob, JobData, trainScript, unknownForkFlags } from './open_clip_job';

/** File name of the export manifest (the kit finds it again from a checkpoint under `logs/`). */
export const EXPORT_MANIFEST = 'kit_export.json';
/** Manifest schema tag. */
export const EXPORT_SCHEMA = 'priorclip-kit-open-clip-export/1';
/** Samples per webdataset shard (open_clip's own scripts use 10k per shard at scale). */
export const DEFAULT_SAMPLES_PER_SHARD = 1000;
/** The launcher shipped with every open-domain export. */
export const LAUNCHER_FILE = 'priorclip_launch.py';

/** Which stages to export. */
export type ExportStage = 'stage1' | 'stage2';

/** Options of `exportOpenClipJob`. */
export interface OpenClipExportOptions {
  /** The resolved experiment (its `model` is what gets exported). */
  exp: ExperimentConfig;
  /** Its data (train / val / test splits). */
  dataset: RetrievalDataset;
  outDir: string;
  /** A model holding the weights to start from (a kit run), or null. */
  init: { model: RetrievalModel; runId: string } | null;
  /** Stages to write commands and data for (default both). */
  stages?: ExportStage[];
  samplesPerShard?: number;
  /** Where the experiment came from (preset name or run id), for the manifest. */
  origin: string;
  /** Replace a previous export in `outDir` (its data / model_configs / init; logs/ stays). */
  force?: boolean;
}

/** The manifest (`kit_export.json`). */
export interface ExportManifest {
  schema: string;
  origin: string;
  kind: 'open-clip' | 'pir-not-mapped';
  fork: typeof OPEN_CLIP_FORK;
  /** The kit model config (what `npm run evaluate` and the notebooks build). */
  kitModel: unknown;
  experiment: ExperimentConfig;
  forkModel: string | null;
  projectionPatch: boolean;
  stages: { stage: ExportStage; name: string; trainShards: string; trainSamples: number; freeze: string[]; flags: { flag: string; value: string | null; from: string }[] }[];
  test: { annotationFile: string; imagesDir: string; images: number; captions: number };
  initWeights: string | null;
  notExpressed: string[];
}

/** Result of an export. */
export interface OpenClipExportResult {
  outDir: string;
  manifest: ExportManifest;
  job: ForkJob | null;
  files: string[];
}

function braceSpec(shards: WebdatasetExportResult['shards'], outDir: string): string {
  const rel = shards.map((s) => path.relative(outDir, s.file).split(path.sep).join('/'));
  if (rel.length === 1) return rel[0];
  const m = /^(.*-)(\d{4})\.tar$/.exec(rel[0]);
  const last = /^(.*-)(\d{4})\.tar$/.exec(rel[rel.length - 1]);
  if (!m || !last || m[1] !== last[1]) throw new Error(`export: shard names ${rel[0]} … ${rel[rel.length - 1]} do not share a numbered prefix`);
  return `${m[1]}{${m[2]}..${last[2]}}.tar`;
}

function writeShards(ds: RetrievalDataset, outDir: string, sub: string, mode: WebdatasetExportMode, split: Split, samplesPerShard: number): JobData & { result: WebdatasetExportResult } {
  const dir = path.join(outDir, 'data', sub);
  const result = exportWebdataset(ds, { outDir: dir, prefix: `${ds.name.replace(/[^A-Za-z0-9._-]+/g, '-')}-${mode}`, mode, samplesPerShard, splits: [split], coarseFallback: 'error' });
  if (result.shards.length === 0) throw new Error(`export: dataset '${ds.name}' has no ${split} images for ${sub}`);
  // open_clip's get_dataset_size reads sizes.json beside the shards
  atomicWriteJson(path.join(dir, 'sizes.json'), Object.fromEntries(result.shards.map((s) => [path.basename(s.file), s.samples])));
  const samples = result.shards.reduce((a, s) => a + s.samples, 0);
  return { trainShards: braceSpec(result.shards, outDir), trainSamples: samples, result };
}

function launcherSource(): string {
  return fs.readFileSync(path.join(projectRoot(), 'src', 'interop', LAUNCHER_FILE), 'utf8');
}

function readme(m: ExportManifest, job: ForkJob | null): string {
  const lines: string[] = [];
  lines.push(`# PriorCLIP Kit export: ${m.origin}`);
  lines.push('');
  if (job) {
    lines.push(`Trains the kit experiment \`${m.experiment.name}\` (model \`${m.forkModel}\`) with the open_clip fork ${m.fork.repo} @ ${m.fork.commit.slice(0, 7)}.`);
    lines.push('');
    lines.push('```bash');
    lines.push('git clone https://github.com/jaychempan/PriorCLIP && pip install -r PriorCLIP/requirements-training.txt');
    lines.push('PRIORCLIP_SRC=$PWD/PriorCLIP/src bash train.sh            # one GPU');
    lines.push('PRIORCLIP_SRC=$PWD/PriorCLIP/src NPROC=8 bash train.sh    # 8 GPUs (torchrun)');
    lines.push('```');
    lines.push('');
    lines.push('Back in the kit (the manifest next to `logs/` tells it the model config):');
    lines.push('');
    lines.push('```bash');
    const last = m.stages[m.stages.length - 1];
    const epochs = last ? m.experiment.train[last.stage].epochs : 1;
    lines.push(`npm run evaluate -- --checkpoint <this folder>/logs/${last?.name ?? 'stage2'}/checkpoints/epoch_${epochs}.pt --data <this folder>/${m.test.annotationFile} --images <this folder>/${m.test.imagesDir}`);
    lines.push(`KIT_PRIORCLIP_CHECKPOINT=<this folder>/logs/${last?.name ?? 'stage2'}/checkpoints/epoch_${epochs}.pt npm run notebooks   # notebook 08`);
    lines.push('```');
    lines.push('');
    lines.push('| path | what |');
    lines.push('|---|---|');
    lines.push(`| \`model_configs/${m.forkModel}.json\` | the model in the fork's schema |`);
    lines.push(`| \`${LAUNCHER_FILE}\` | registers model_configs, ${m.projectionPatch ? 'rebuilds vision_proj_res (this config is not 512 → 768)' : 'leaves vision_proj_res alone (512 → 768 fits)'}, freezes (PRIORCLIP_FREEZE) |`);
    for (const s of m.stages) lines.push(`| \`${s.trainShards}\` | ${s.stage} train data, ${s.trainSamples} samples |`);
    lines.push(`| \`${m.test.annotationFile}\` | val + test splits, Karpathy JSON (${m.test.images} images, ${m.test.captions} captions) for retrieval.py (test entries) / npm run evaluate --split val|test |`);
    if (m.initWeights) lines.push(`| \`${m.initWeights}\` | initial weights (state_dict) from the kit run |`);
  } else {
    lines.push('This is a closed-domain PIR experiment: it has **no open_clip counterpart**. Its engine is the PIR repository\'s own X-VLM code (jaychempan/PIR).');
    lines.push('This folder holds what maps: the data as Karpathy JSON (all splits) and the weights by their PyTorch names. See NOT_MAPPED.md.');
  }
  lines.push('');
  lines.push('## Not expressed');
  lines.push('');
  for (const n of m.notExpressed) lines.push(`- ${n}`);
  lines.push('');
  return lines.join('\n');
}

/**
 * An empty (or new) folder, or, with `force`, a previous export whose generated parts are removed
 * first (stale shards would otherwise sit beside the new ones). Anything else is refused.
 */
function prepareOutDir(outDir: string, force: boolean): void {
  if (fs.existsSync(outDir) && fs.readdirSync(outDir).length > 0) {
    if (!fs.existsSync(path.join(outDir, EXPORT_MANIFEST))) throw new Error(`export: ${outDir} is not empty and holds no ${EXPORT_MANIFEST}: choose an empty or new folder`);
    if (!force) throw new Error(`export: ${outDir} already holds an export (${EXPORT_MANIFEST}): pass --force to replace its data, configs and weights (logs/ is kept)`);
    for (const sub of ['data', 'model_configs', 'init']) fs.rmSync(path.join(outDir, sub), { recursive: true, force: true });
  }
  fs.mkdirSync(outDir, { recursive: true });
}

/** Write the folder. Every file is written atomically; the manifest is written last. */
export function exportOpenClipJob(opts: OpenClipExportOptions): OpenClipExportResult {
  const { exp, dataset, outDir } = opts;
  const per = opts.samplesPerShard ?? DEFAULT_SAMPLES_PER_SHARD;
  const files: string[] = [];
  prepareOutDir(outDir, opts.force ?? false);
  const model = exp.model;

  let initWeights: string | null = null;
  if (opts.init) {
    initWeights = `init/${opts.init.runId.replace(/[^A-Za-z0-9._-]+/g, '-')}.pt`;
    exportStateDict(path.join(outDir, initWeights), opts.init.model);
    files.push(initWeights);
  }

  if (model.kind !== 'priorclip') {
    const all = exportKarpathy(dataset, { outDir: path.join(outDir, 'data', 'karpathy') });
    const rel = (f: string) => path.relative(outDir, f).split(path.sep).join('/');
    const notExpressed = [
      `model kind '${model.kind}' (closed-domain PIR: CNN/Swin + BERT with the PAE blocks) has no open_clip model: no model config, no train.sh`,
      'its engine is the PIR repository\'s X-VLM code (Retrieval.py, yaml configs, its own JSON annotation format); the kit writes neither the yaml nor that JSON',
      'what maps: the data as Karpathy JSON (all splits, data/karpathy/dataset.json) and the weights as a state_dict .pt under their PyTorch names (the kit\'s ParamStore keys are the reference module names)',
      'the kit\'s pir-small is a small CNN + small text transformer stand-in, not Swin-T + BERT: its weights do not load into the PIR repository\'s models',
    ];
    const manifest: ExportManifest = {
      schema: EXPORT_SCHEMA,
      origin: opts.origin,
      kind: 'pir-not-mapped',
      fork: OPEN_CLIP_FORK,
      kitModel: model,
      experiment: exp,
      forkModel: null,
      projectionPatch: false,
      stages: [],
      test: { annotationFile: rel(all.annotationFile), imagesDir: rel(all.imagesDir), images: all.images, captions: all.captions },
      initWeights,
      notExpressed,
    };
    atomicWriteFile(path.join(outDir, 'NOT_MAPPED.md'), `# Not mapped\n\n${notExpressed.map((n) => `- ${n}`).join('\n')}\n`);
    atomicWriteFile(path.join(outDir, 'README.md'), readme(manifest, null));
    atomicWriteJson(path.join(outDir, EXPORT_MANIFEST), manifest);
    files.push('NOT_MAPPED.md', 'README.md', EXPORT_MANIFEST);
    return { outDir, manifest, job: null, files };
  }

  const forkCfg = toForkModelConfig(model, `experiment '${exp.name}' model '${model.name}'`);
  const name = forkModelName(model);
  atomicWriteJson(path.join(outDir, 'model_configs', `${name}.json`), forkCfg);
  files.push(`model_configs/${name}.json`);
  atomicWriteFile(path.join(outDir, LAUNCHER_FILE), launcherSource());
  files.push(LAUNCHER_FILE);

  const stages = opts.stages ?? ['stage1', 'stage2'];
  // No --val-data shards: the fork's val pass unpacks `images, texts = batch` while its webdataset
  // pipeline yields (image, text, img_name), so it would stop at the first evaluation. Validation and
  // test go through the Karpathy JSON instead (retrieval.py reads its 'test' entries).
  const stage1 = stages.includes('stage1') ? writeShards(dataset, outDir, 'stage1', exp.train.stage1.captions === 'coarse' ? 'coarse' : 'pairs', 'train', per) : null;
  const stage2 = stages.includes('stage2') ? writeShards(dataset, outDir, 'stage2', 'pairs', 'train', per) : null;
  const evalSplits = (['val', 'test'] as Split[]).filter((sp) => dataset.images.some((r) => r.split === sp));
  const test = exportKarpathy(dataset, { outDir: path.join(outDir, 'data', 'eval'), splits: evalSplits });
  files.push('data/');

  const job = buildForkJob({ exp, model, stage1, stage2, initWeights });
  const unknown = unknownForkFlags(job);
  if (unknown.length > 0) throw new Error(`export: the job uses flags training.main does not define at ${OPEN_CLIP_FORK.commit.slice(0, 7)}: ${unknown.join(', ')}`);
  const rel = (f: string) => path.relative(outDir, f).split(path.sep).join('/');
  const manifest: ExportManifest = {
    schema: EXPORT_SCHEMA,
    origin: opts.origin,
    kind: 'open-clip',
    fork: OPEN_CLIP_FORK,
    kitModel: model,
    experiment: exp,
    forkModel: name,
    projectionPatch: needsProjectionPatch(model),
    stages: job.stages.map((s) => ({
      stage: s.stage,
      name: s.name,
      trainShards: (s.stage === 'stage1' ? stage1 : stage2)?.trainShards ?? '',
      trainSamples: (s.stage === 'stage1' ? stage1 : stage2)?.trainSamples ?? 0,
      freeze: s.freeze,
      flags: s.flags,
    })),
    test: { annotationFile: rel(test.annotationFile), imagesDir: rel(test.imagesDir), images: test.images, captions: test.captions },
    initWeights,
    notExpressed: [...job.notExpressed, ...job.stages.flatMap((s) => s.notExpressed.map((n) => `${s.stage}: ${n}`))],
  };
  const script = trainScript(job, `PriorCLIP Kit experiment '${exp.name}' (${opts.origin}), model ${name}`);
  atomicWriteFile(path.join(outDir, 'train.sh'), script);
  fs.chmodSync(path.join(outDir, 'train.sh'), 0o755);
  atomicWriteFile(path.join(outDir, 'README.md'), readme(manifest, job));
  atomicWriteJson(path.join(outDir, EXPORT_MANIFEST), manifest);
  files.push('train.sh', 'README.md', EXPORT_MANIFEST);
  return { outDir, manifest, job, files };
}
