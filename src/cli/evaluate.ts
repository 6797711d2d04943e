/**
 * `npm run evaluate -- --model <config name | config.json | inline JSON> --checkpoint <.pt|.safetensors|kit checkpoint>
 *    --data <annotation file> [--images <dir>] [--split test] [--vocab <bpe file | word vocab json>]
 *    [--tie-rule pessimistic|optimistic|pir-argsort|clip-topk] [--out <dir>] [--backend wasm]
 *    [--batch 32] [--text-batch 128] [--chunk <rows>] [--limit <images>] [--seed 0] [--run-id <id>]`
 *
 * Like the reference `retrieval.py`: builds the model (factory), loads the checkpoint (strict),
 * loads the dataset (any supported annotation format), embeds the split with a progress bar, prints
 * the R@1/5/10 table (both directions) and mR, and writes `metrics.json` + a run record.
 * `--model` may be omitted for kit checkpoints (their config is stored in the file's metadata).
 */
import * as fs from 'fs';
import * as path from 'path';
import { initBackend } from '../backends/backend';
import { createModel, defaultModelConfig, loadModelPreset, resolveModelConfig } from '../models/factory';
import { MODEL_KINDS, ModelConfig, ModelKind, RetrievalModel } from '../models/model';
import { checkpointConfig, loadCheckpointInto } from '../models/checkpoint';
import { atScaleModelConfig } from '../interop/open_clip_import';
import { EXPORT_MANIFEST } from '../interop/open_clip_export';
import { loadDataset } from '../data/loaders/index';
import { parseSplit } from '../data/loaders/common';
import { Split } from '../data/types';
import { ClipTokenizer, defaultBpePath } from '../data/clip_tokenizer';
import { WordTokenizer } from '../data/word_tokenizer';
import { EvalTransform } from '../data/image_preprocess';
import { BatchTokenizer } from '../evaluation/embed';
import { evaluateRetrieval, EvaluationResult } from '../evaluation/evaluate';
import { DEFAULT_TIE_RULE, RetrievalMetrics, TieRule, TIE_RULES } from '../evaluation/retrieval_metrics';
import { atomicWriteJson, projectRoot, readJson, sha256File } from '../utils/fs';
import { SeedStream } from '../utils/random';
import { finishRun, runDir, runId as makeRunId, startRun, writeRunRecord } from '../runs/record';

/** Parsed command line. */
export interface EvaluateArgs {
  model?: string;
  checkpoint: string;
  data: string;
  images?: string;
  split: Split;
  vocab?: string;
  tieRule: TieRule;
  out?: string;
  backend?: string;
  imageBatch?: number;
  textBatch?: number;
  chunk?: number;
  limit?: number;
  seed: number;
  runId?: string;
  /** Suppress progress bars and the table (tests). */
  quiet: boolean;
}

const USAGE =
  'usage: npm run evaluate -- --checkpoint <file> --data <annotation file> [--model <config name|file.json|JSON>] [--images <dir>] ' +
  `[--split test] [--vocab <file>] [--tie-rule ${TIE_RULES.join('|')}] [--out <dir>] [--backend wasm|cpu] [--batch N] [--text-batch N] ` +
  '[--chunk rows] [--limit images] [--seed N] [--run-id id] [--quiet]';

/** Parse `argv` (without node and script). Throws with the usage on errors. */
export function parseEvaluateArgs(argv: readonly string[]): EvaluateArgs {
  const flags = new Map<string, string>();
  const bools = new Set(['quiet']);
  const known = new Set(['model', 'checkpoint', 'data', 'images', 'split', 'vocab', 'tie-rule', 'out', 'backend', 'batch', 'text-batch', 'chunk', 'limit', 'seed', 'run-id', 'quiet']);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) throw new Error(`evaluate: unexpected argument '${a}'\n${USAGE}`);
    const eq = a.indexOf('=');
    const key = eq > 0 ? a.slice(2, eq) : a.slice(2);
    if (!known.has(key)) throw new Error(`evaluate: unknown option --${key}\n${USAGE}`);
    if (bools.has(key)) {
      flags.set(key, 'true');
      continue;
    }
    const value = eq > 0 ? a.slice(eq + 1) : argv[++i];
    if (value === undefined) throw new Error(`evaluate: --${key} needs a value\n${USAGE}`);
    flags.set(key, value);
  }
  const need = (k: string): string => {
    const v = flags.get(k);
    if (v === undefined) throw new Error(`evaluate: --${k} is required\n${USAGE}`);
    return v;
  };
  const int = (k: string): number | undefined => {
    const v = flags.get(k);
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new Error(`evaluate: --${k} must be a non-negative integer, got '${v}'`);
    return n;
  };
  const tieRule = (flags.get('tie-rule') ?? DEFAULT_TIE_RULE) as TieRule;
  if (!TIE_RULES.includes(tieRule)) throw new Error(`evaluate: --tie-rule must be one of ${TIE_RULES.join(', ')}, got '${tieRule}'`);
  return {
    model: flags.get('model'),
    checkpoint: need('checkpoint'),
    data: need('data'),
    images: flags.get('images'),
    split: parseSplit(flags.get('split') ?? 'test', '--split'),
    vocab: flags.get('vocab'),
    tieRule,
    out: flags.get('out'),
    backend: flags.get('backend'),
    imageBatch: int('batch'),
    textBatch: int('text-batch'),
    chunk: int('chunk'),
    limit: int('limit'),
    seed: int('seed') ?? 0,
    runId: flags.get('run-id'),
    quiet: flags.has('quiet'),
  };
}

/**
 * The model config named by `--model`: inline JSON, a JSON file, or a preset name in
 * `src/configs/models/<name>.json`; without `--model`, the config stored in a kit checkpoint.
 */
export function resolveModelArg(model: string | undefined, checkpoint: string): ModelConfig {
  if (model === undefined) {
    const cfg = checkpointConfig(checkpoint);
    if (cfg === null) {
      // an open_clip fork checkpoint (logs/<name>/checkpoints/epoch_N.pt) under an export folder, or KIT_PRIORCLIP_MODEL
      const atScale = atScaleModelConfig(checkpoint);
      if (atScale) return atScale.config;
      throw new Error(`evaluate: ${checkpoint} carries no kit config in its metadata and lies in no export folder (${EXPORT_MANIFEST}): pass --model <config name or json>`);
    }
    return resolveModelConfig(cfg, `${checkpoint} (metadata kit_config)`);
  }
  const trimmed = model.trim();
  if (trimmed.startsWith('{')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(trimmed);
    } catch (e) {
      throw new Error(`evaluate: --model is not valid JSON: ${(e as Error).message}`);
    }
    return resolveModelConfig(parsed, '--model JSON');
  }
  if (fs.existsSync(model) && fs.statSync(model).isFile()) {
    const { description: _description, ...cfg } = readJson<Record<string, unknown>>(model);
    return resolveModelConfig(cfg, model);
  }
  if (fs.existsSync(path.join(projectRoot(), 'src', 'configs', 'models', `${model}.json`))) return loadModelPreset(model);
  if ((MODEL_KINDS as readonly string[]).includes(model)) return defaultModelConfig(model as ModelKind);
  return loadModelPreset(model); // throws, listing the known presets
}

/** Image side, eval transform and tokenizer for a model config. */
export function modelInputs(config: ModelConfig, vocab: string | undefined): { imageSize: number; transform: EvalTransform; tokenize: BatchTokenizer } {
  if (config.kind === 'priorclip') {
    const tok = ClipTokenizer.fromFile(vocab ?? defaultBpePath());
    const L = config.text_cfg.context_length;
    return {
      imageSize: config.vision_cfg.image_size,
      transform: 'resize-center-crop', // open_clip eval: Resize(shortest side) + CenterCrop
      tokenize: (caps) => ({ ids: tok.encodeBatch(caps, { contextLength: L }), length: L }),
    };
  }
  if (vocab === undefined) throw new Error(`evaluate: model kind '${config.kind}' uses a word vocabulary: pass --vocab <vocab.json> (the one saved with the training run)`);
  const tok = WordTokenizer.load(vocab);
  return {
    imageSize: config.imageSize,
    transform: 'resize', // PIR eval: Resize((S, S))
    tokenize: (caps) => tok.encodeBatch(caps, { padding: 'longest' }),
  };
}

/** The metrics table, as printed. */
export function formatTable(m: RetrievalMetrics, title: string): string {
  const f = (x: number) => x.toFixed(2).padStart(7);
  return [
    title,
    `            R@1     R@5    R@10`,
    `I→T    ${f(m.i2t.r1)} ${f(m.i2t.r5)} ${f(m.i2t.r10)}`,
    `T→I    ${f(m.t2i.r1)} ${f(m.t2i.r5)} ${f(m.t2i.r10)}`,
    `mR     ${f(m.mR)}   (${m.numImages} images, ${m.numTexts} captions, ties: ${m.tieRule}; MedR I→T ${m.details.i2t.medianRank}, T→I ${m.details.t2i.medianRank})`,
  ].join('\n');
}

/** Everything `runEvaluateCli` produced. */
export interface EvaluateCliResult {
  result: EvaluationResult;
  outDir: string;
  runId: string;
}

/** Run the evaluate command. */
export async function runEvaluateCli(argv: readonly string[]): Promise<EvaluateCliResult> {
  const args = parseEvaluateArgs(argv);
  await initBackend(args.backend, { quiet: args.quiet });
  const config = resolveModelArg(args.model, args.checkpoint);
  const dataset = await loadDataset(args.data, { imagesRoot: args.images, split: args.split });
  const dataName = dataset.name;
  const id = args.runId ?? makeRunId('evaluate', `${config.name ?? config.kind}-${dataName}-${args.split}`, args.seed);
  const rec = startRun({
    runId: id,
    kind: 'evaluate',
    seed: args.seed,
    config: { model: config, checkpoint: path.resolve(args.checkpoint), data: path.resolve(args.data), split: args.split, tieRule: args.tieRule },
    data: { name: dataName, checksum: sha256File(args.data) },
  });
  const outDir = args.out ?? runDir(id);
  let model: RetrievalModel | null = null;
  try {
    model = createModel(config, new SeedStream(args.seed).child('model'));
    const load = loadCheckpointInto(model, args.checkpoint);
    const inputs = modelInputs(config, args.vocab);
    const result = await evaluateRetrieval(model, dataset, args.split, {
      ...inputs,
      tieRule: args.tieRule,
      chunkSize: args.chunk,
      imageBatchSize: args.imageBatch,
      textBatchSize: args.textBatch,
      limitImages: args.limit,
      progress: !args.quiet,
    });
    const m = result.metrics;
    if (!args.quiet) console.log(formatTable(m, `${config.name ?? config.kind} on ${dataName} (${args.split})`));
    atomicWriteJson(path.join(outDir, 'metrics.json'), {
      runId: id,
      model: config.name ?? config.kind,
      checkpoint: path.resolve(args.checkpoint),
      checkpointFormat: load.format,
      dataset: dataName,
      split: args.split,
      tieRule: m.tieRule,
      i2t: m.i2t,
      t2i: m.t2i,
      mR: m.mR,
      details: m.details,
      perClass: m.perClass ?? [],
      curves: m.curves,
      numImages: m.numImages,
      numTexts: m.numTexts,
      timings: result.timings,
    });
    rec.metrics = { test: { i2t: m.i2t, t2i: m.t2i, mR: m.mR, tieRule: m.tieRule } };
    rec.timings = { embedImages: result.timings.embedImages, embedTexts: result.timings.embedTexts, metrics: result.timings.metrics };
    writeRunRecord(rec);
    finishRun(rec);
    if (args.out !== undefined) atomicWriteJson(path.join(outDir, 'run.json'), rec);
    return { result, outDir, runId: id };
  } catch (e) {
    finishRun(rec, e as Error);
    throw e;
  } finally {
    model?.dispose();
  }
}

if (require.main === module) {
  runEvaluateCli(process.argv.slice(2)).then(
    () => process.exit(0),
    (e: Error) => {
      console.error(e.message);
      process.exit(1);
    },
  );
}
