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
import { dataNeeds } from '../models/family';
import * as fs from 'fs';
import * as path from 'path';
import { initBackend } from '../backends/backend';
import { createModel, defaultModelConfig, loadModelPreset, resolveModelConfig } from '../models/factory';
import { MODEL_KINDS, ModelConfig, ModelKind, RetrievalModel } from '../models/model';
import { modelFileConfig, loadModelFileInto } from '../models/checkpoint';
import { atScaleModelConfig } from '../interop/open_clip_import';
import { EXPORT_MANIFEST } from '../interop/open_clip_export';
import { loadDataset } from '../data/loaders/index';
import { parseSplit } from '../data/loaders/common';
import { Split } from '../data/types';
import { ClipTokenizer, requireClipBpe } from '../data/clip_tokenizer';
import { WordTokenizer } from '../data/word_tokenizer';
import { eotLastEncoder } from '../training/data_prep';
import { EvalTransform } from '../data/image_preprocess';
import { BatchTokenizer } from '../evaluation/embed';
import { evaluateRetrieval, EvaluationResult } from '../evaluation/evaluate';
import { DEFAULT_TIE_RULE, RetrievalMetrics, TieRule, TIE_RULES } from '../evaluation/retrieval_metrics';
import { atomicWriteJson, projectRoot, readJson, sha256 } from '../utils/fs';
import { SeedStream } from '../utils/random';
import { ArgSpec, flag, num, parseArgs, runCli, str, UsageError } from '../utils/cli_args';
import { fileFingerprint, finishRun, runDir, runId as makeRunId, startRun, validateRunId, writeRunRecord } from '../runs/record';

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

/** Largest batch / chunk size the numeric options accept. */
const MAX_BATCH = 1 << 20;

const SPEC: ArgSpec = {
  model: 'string',
  checkpoint: 'string',
  data: 'string',
  images: 'string',
  split: { kind: 'string', choices: ['train', 'val', 'test'] },
  vocab: 'string',
  'tie-rule': { kind: 'string', choices: TIE_RULES },
  out: 'string',
  backend: 'string',
  batch: { kind: 'int', min: 1, max: MAX_BATCH },
  'text-batch': { kind: 'int', min: 1, max: MAX_BATCH },
  chunk: { kind: 'int', min: 1, max: MAX_BATCH },
  limit: { kind: 'int', min: 1 },
  seed: { kind: 'int', min: 0 },
  'run-id': 'string',
  quiet: 'boolean',
};

/** Parse `argv` (without node and script). Throws a UsageError (one line) on errors. */
export function parseEvaluateArgs(argv: readonly string[]): EvaluateArgs {
  const f = parseArgs(argv, SPEC, 'evaluate');
  const need = (k: string): string => {
    const v = str(f, k);
    if (v === undefined) throw new UsageError(`evaluate: --${k} is required`);
    return v;
  };
  const runId = str(f, 'run-id');
  if (runId !== undefined) {
    try { validateRunId(runId); } catch (e) { throw new UsageError(`evaluate: --run-id: ${(e as Error).message}`); }
  }
  return {
    model: str(f, 'model'),
    checkpoint: need('checkpoint'),
    data: need('data'),
    images: str(f, 'images'),
    split: parseSplit(str(f, 'split') ?? 'test', '--split'),
    vocab: str(f, 'vocab'),
    tieRule: (str(f, 'tie-rule') ?? DEFAULT_TIE_RULE) as TieRule,
    out: str(f, 'out'),
    backend: str(f, 'backend'),
    imageBatch: num(f, 'batch'),
    textBatch: num(f, 'text-batch'),
    chunk: num(f, 'chunk'),
    limit: num(f, 'limit'),
    seed: num(f, 'seed') ?? 0,
    runId,
    quiet: flag(f, 'quiet') === true,
  };
}

/**
 * The model config named by `--model`: inline JSON, a JSON file, or a preset name in
 * `src/configs/models/<name>.json`; without `--model`, the config stored in a kit checkpoint.
 */
export function resolveModelArg(model: string | undefined, checkpoint: string): ModelConfig {
  if (model === undefined) {
    const cfg = modelFileConfig(checkpoint);
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

/** Image side, eval transform and tokenizer for a model config (what it needs: `dataNeeds`). */
export function modelInputs(config: ModelConfig, vocab: string | undefined): { imageSize: number; transform: EvalTransform; tokenize: BatchTokenizer } {
  const needs = dataNeeds(config);
  if (config.kind === 'priorclip' && needs.tokenizer === 'word-eot-last' && vocab !== undefined && vocab.endsWith('.json')) {
    // a kit-trained PriorCLIP on the word vocabulary saved with its run (<eot> moved to the largest id)
    const tok = WordTokenizer.load(vocab);
    if (tok.vocabSize + 1 > config.text.vocabSize) {
      throw new Error(`evaluate: the vocabulary ${vocab} has ${tok.vocabSize} tokens (+1 for <eot> last) but model '${config.name ?? config.kind}' embeds only ${config.text.vocabSize} (text.vocabSize): pass the vocab.json saved with this model's training run`);
    }
    return { imageSize: needs.imageSize, transform: needs.evalTransform, tokenize: eotLastEncoder(tok) };
  }
  if (config.kind === 'priorclip') {
    const file = vocab ?? requireClipBpe(); // no --vocab: KIT_CLIP_BPE, data/vocab/, an installed open_clip's copy
    const tok = ClipTokenizer.fromFile(file);
    const L = needs.contextLength;
    if (tok.vocabSize > config.text.vocabSize) {
      throw new Error(`evaluate: the vocabulary ${file} has ${tok.vocabSize} tokens but model '${config.name ?? config.kind}' embeds only ${config.text.vocabSize} (text.vocabSize): this tokenizer and this model do not belong together`);
    }
    return { imageSize: needs.imageSize, transform: needs.evalTransform, tokenize: (caps) => ({ ids: tok.encodeBatch(caps, { contextLength: L }), length: L }) };
  }
  if (vocab === undefined) throw new Error(`evaluate: model kind '${config.kind}' uses a word vocabulary: pass --vocab <vocab.json> (the one saved with the training run)`);
  const tok = WordTokenizer.load(vocab);
  if (tok.vocabSize > config.text.vocabSize) {
    throw new Error(`evaluate: the vocabulary ${vocab} has ${tok.vocabSize} tokens but model '${config.name}' embeds only ${config.text.vocabSize} (text.vocabSize): pass the vocab.json saved with this model's training run`);
  }
  if (tok.contextLength > config.text.contextLength) {
    throw new Error(`evaluate: the vocabulary ${vocab} encodes ${tok.contextLength} tokens per caption but model '${config.name}' has ${config.text.contextLength} positions (text.contextLength)`);
  }
  return { imageSize: needs.imageSize, transform: needs.evalTransform, tokenize: (caps) => tok.encodeBatch(caps, { padding: 'longest' }) };
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

/** Hex characters of the evaluation key in the run id. */
const EVAL_KEY_CHARS = 10;

/** Loads the checkpoint; a mismatch on a kit checkpoint given with --model says the file carries its config. */
function loadWithHint(model: RetrievalModel, checkpoint: string, modelArg: string | undefined): ReturnType<typeof loadModelFileInto> {
  try {
    return loadModelFileInto(model, checkpoint);
  } catch (e) {
    let own: unknown = null;
    try { own = modelArg === undefined ? null : modelFileConfig(checkpoint); } catch { own = null; }
    if (own !== null && /does not match the model/.test((e as Error).message)) {
      throw new Error(`${(e as Error).message}\nhint: ${checkpoint} is a kit checkpoint that carries its own model config: omit --model to use it`);
    }
    throw e;
  }
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
  const inputs = modelInputs(config, args.vocab); // tokenizer vs model checked before any work
  const dataset = await loadDataset(args.data, { imagesRoot: args.images, split: args.split });
  const dataName = dataset.name;
  // What distinguishes two evaluations: the checkpoint's bytes, the annotation's bytes, the image
  // folder, the split, the tie rule and the image limit (and the model config, in the record).
  const checkpointSha = fileFingerprint(args.checkpoint);
  const dataSha = fileFingerprint(args.data);
  const identity = {
    model: config,
    checkpoint: path.resolve(args.checkpoint),
    checkpointSha256: checkpointSha,
    data: path.resolve(args.data),
    images: args.images === undefined ? null : path.resolve(args.images),
    split: args.split,
    tieRule: args.tieRule,
    limit: args.limit ?? null,
  };
  const key = sha256(Buffer.from(JSON.stringify({ ...identity, checkpoint: undefined, data: dataSha }))).slice(0, EVAL_KEY_CHARS);
  const id = args.runId ?? makeRunId('evaluate', `${config.name ?? config.kind}-${dataName}-${args.split}-${key}`, args.seed);
  const rec = startRun({
    runId: id,
    kind: 'evaluate',
    seed: args.seed,
    config: identity,
    data: { name: dataName, checksum: dataSha },
    refuseDifferent: true,
    staleOutputs: ['metrics.json'],
  });
  if (args.out !== undefined) for (const f of ['metrics.json', 'run.json']) fs.rmSync(path.join(args.out, f), { force: true });
  const outDir = args.out ?? runDir(id);
  let model: RetrievalModel | null = null;
  try {
    model = createModel(config, new SeedStream(args.seed).child('model'));
    const load = loadWithHint(model, args.checkpoint, args.model);
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
  runCli(async () => { await runEvaluateCli(process.argv.slice(2)); }, USAGE);
}
