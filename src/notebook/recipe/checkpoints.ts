/**
 * Notebook 08: PyTorch-format checkpoints in, real-format data out, and the evaluation protocol.
 *
 *   const ck = releasedCheckpoint();                         // KIT_PRIORCLIP_CHECKPOINT, if set
 *   const tiny = tinyPriorClip(env.seeds.child('tiny'));     // offline stand-in (priorclip-tiny, CLIP BPE vocab)
 *   exportStateDict('build/nb08/tiny.pt', tiny.model);       // torch zip (models/checkpoint.ts)
 *   const rep = checkpointKeyReport(tiny.model, file);       // missing / unexpected / wrong shape
 *
 * Everything loads through `models/checkpoint.ts` (`readStateDict` → `loadStateDict`), the import
 * path of `.pt` / `.pth` zip checkpoints and safetensors files alike; `npm run evaluate` uses it too.
 */
import { runFiles } from '../../runs/files';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { SeedStream } from '../../utils/random';
import { projectRoot } from '../../utils/fs';
import { createModel, loadModelPreset, resolveModelConfig } from '../../models/factory';
import { ModelConfig, RetrievalModel } from '../../models/model';
import { torchShape } from '../../models/params';
import { LoadedStateDict, loadStateDict, readStateDict, stateDictFromStore } from '../../models/checkpoint';
import { SafeTensor, writeSafetensors } from '../../io/safetensors';
import { CLIP_VOCAB_SIZE, findClipBpe } from '../../data/clip_tokenizer';
import { Session, sessionModel } from '../session';
import { RetrievalDataset, Split } from '../../data/types';
import { exportKarpathy, KarpathyExportResult } from '../../data/export';
import { retrievalMetricsFromMatrix, TIE_RULES, TieRule } from '../../evaluation/retrieval_metrics';
import { Row } from '../../evaluation/tables';
import { atomicWriteFile } from '../../utils/fs';
import { exportStateDict } from '../../models/checkpoint';
import { generateEmbeddedDataset } from '../../data/embedded/generate';
import { EmbeddedDataConfig } from '../../data/embedded/config';
import { EmbeddedV2Config } from '../../data/embedded/v2/config';
import { generateEmbeddedV2 } from '../../data/embedded/v2/generate';
import { isEmbeddedV2 } from '../../config/experiment';
import { RetrievalMetrics } from '../../evaluation/retrieval_metrics';
import { DEFAULT_TEXT_BATCH } from '../../evaluation/embed';
import { atScaleModelConfig } from '../../interop/open_clip_import';

/** Environment variable naming a released PriorCLIP checkpoint (`.pt` / `.pth` / `.safetensors`). */
export const RELEASED_CHECKPOINT_ENV = 'KIT_PRIORCLIP_CHECKPOINT';
/** Model preset of the released checkpoint (ViT-B/32 + RN50 prior). */
export const RELEASED_MODEL_PRESET = 'priorclip-vit-b-32';
/** Model preset of the offline stand-in. */
export const TINY_MODEL_PRESET = 'priorclip-tiny';
/** Scratch folder of notebook 08 (build/ is not committed). */
export function notebook08Dir(): string {
  return path.join(projectRoot(), 'build', 'nb08');
}

/** The released checkpoint path from KIT_PRIORCLIP_CHECKPOINT, or null when unset. Throws if set but missing. */
export function releasedCheckpoint(): string | null {
  const f = process.env[RELEASED_CHECKPOINT_ENV];
  if (!f) return null;
  if (!fs.existsSync(f)) throw new Error(`${RELEASED_CHECKPOINT_ENV}=${f}: no such file`);
  return f;
}

/**
 * The tiny PriorCLIP config (`priorclip-tiny`) with the real CLIP BPE vocabulary (49,408 tokens), so
 * the CLIP tokenizer — the one the released model uses — feeds it; everything else as the preset.
 */
export function tinyPriorClipConfig(): ModelConfig {
  const base = loadModelPreset(TINY_MODEL_PRESET);
  if (base.kind !== 'priorclip') throw new Error(`${TINY_MODEL_PRESET}: expected kind priorclip, got ${base.kind}`);
  return resolveModelConfig({ ...base, name: `${TINY_MODEL_PRESET}-bpe`, text: { ...base.text, vocabSize: CLIP_VOCAB_SIZE } }, `${TINY_MODEL_PRESET} + CLIP vocabulary`);
}

/** Build the tiny model from a seed stream. Caller disposes. */
export function tinyPriorClip(seeds: SeedStream): { config: ModelConfig; model: RetrievalModel } {
  const config = tinyPriorClipConfig();
  return { config, model: createModel(config, seeds) };
}

/** One row per tensor group (first key segment): tensors and parameters. */
export function stateDictSummary(sd: LoadedStateDict): Row[] {
  const groups = new Map<string, { tensors: number; params: number }>();
  for (const [k, t] of sd.tensors) {
    const g = k.split('.')[0];
    const e = groups.get(g) ?? { tensors: 0, params: 0 };
    e.tensors += 1;
    e.params += t.shape.reduce((a, b) => a * b, 1);
    groups.set(g, e);
  }
  return [...groups.entries()].map(([g, e]) => ({ prefix: g, tensors: e.tensors, parameters: e.params, format: sd.format }));
}

/** Largest |a − b| over every parameter of two models with the same keys. */
export function maxWeightDifference(a: RetrievalModel, b: RetrievalModel): number {
  const bByKey = new Map(b.params.list().map((e) => [e.key, e.variable]));
  let worst = 0;
  for (const e of a.params.list()) {
    const v = bByKey.get(e.key);
    if (!v) throw new Error(`maxWeightDifference: second model lacks '${e.key}'`);
    const d = tf.tidy(() => tf.max(tf.abs(tf.sub(e.variable, v))).dataSync()[0]);
    worst = Math.max(worst, d);
  }
  return worst;
}

/** What a file's keys look like against a model, without loading anything. */
export interface KeyReport {
  missing: string[];
  unexpected: string[];
  wrongShape: { key: string; file: number[]; model: number[] }[];
  /** The error `loadStateDict` (strict) raises for this file, or null when it would load. */
  loaderError: string | null;
}

/** Compare a checkpoint file's state_dict with a model's (the same checks `loadStateDict` makes). */
export function checkpointKeyReport(model: RetrievalModel, file: string): KeyReport {
  const sd = readStateDict(file);
  const entries = model.params.list();
  const byKey = new Map(entries.map((e) => [e.key, e]));
  const missing = entries.filter((e) => !sd.tensors.has(e.key)).map((e) => e.key);
  const unexpected = [...sd.tensors.keys()].filter((k) => !byKey.has(k));
  const wrongShape: KeyReport['wrongShape'] = [];
  for (const [k, t] of sd.tensors) {
    const e = byKey.get(k);
    if (!e) continue;
    const want = torchShape(e.variable.shape, e.layout);
    if (want.length !== t.shape.length || want.some((d, i) => d !== t.shape[i])) wrongShape.push({ key: k, file: [...t.shape], model: want });
  }
  let loaderError: string | null = null;
  if (missing.length > 0 || unexpected.length > 0 || wrongShape.length > 0) {
    // snapshot the weights: a failing strict load assigns nothing, which this also demonstrates
    try {
      loadStateDict(model.params, sd.tensors, { source: file, strict: true });
    } catch (e) {
      loaderError = (e as Error).message;
    }
  }
  return { missing, unexpected, wrongShape, loaderError };
}

/** The report as table rows (one per problem). */
export function keyReportRows(r: KeyReport): Row[] {
  return [
    ...r.missing.map((k) => ({ problem: 'missing (model has it, file lacks it)', key: k, detail: '' })),
    ...r.unexpected.map((k) => ({ problem: 'unexpected (file has it, model lacks it)', key: k, detail: '' })),
    ...r.wrongShape.map((w) => ({ problem: 'wrong shape', key: w.key, detail: `file [${w.file}] vs model [${w.model}]` })),
  ];
}

/**
 * Write a deliberately WRONG copy of a model's state_dict (safetensors): one key dropped, one
 * renamed (as if from another version of the code), one tensor with its two dims swapped.
 * Returns the file and what was changed.
 */
export function writeBrokenStateDict(model: RetrievalModel, file: string): { file: string; dropped: string; renamed: [string, string]; transposed: string } {
  const sd = stateDictFromStore(model.params);
  const keys = [...sd.keys()];
  const twoD = keys.filter((k) => {
    const s = (sd.get(k) as SafeTensor).shape;
    return s.length === 2 && s[0] !== s[1];
  });
  if (keys.length < 3 || twoD.length < 1) throw new Error('writeBrokenStateDict: the model is too small to break three ways');
  const transposed = twoD[twoD.length - 1];
  const dropped = keys.find((k) => k !== transposed) as string;
  const renamedFrom = keys.find((k) => k !== transposed && k !== dropped) as string;
  const renamedTo = renamedFrom.replace(/\.weight$/, '.kernel').replace(/^(?!.*\.kernel$)(.*)$/, '$1_old');
  const out = new Map<string, SafeTensor>();
  for (const [k, t] of sd) {
    if (k === dropped) continue;
    if (k === transposed) out.set(k, { ...t, shape: [t.shape[1], t.shape[0]] });
    else if (k === renamedFrom) out.set(renamedTo, t);
    else out.set(k, t);
  }
  atomicWriteFile(file, writeSafetensors(out, { format: 'pt' }));
  return { file, dropped, renamed: [renamedFrom, renamedTo], transposed };
}

/** Export one split of a dataset as Karpathy JSON + images under `outDir` (real-format round trip). */
export function exportSplitKarpathy(ds: RetrievalDataset, outDir: string, split: Split = 'test'): KarpathyExportResult {
  // the notebook's own output folder: a rerun replaces its previous export (files it did not write are still refused)
  return exportKarpathy(ds, { outDir, splits: [split], replace: true });
}

/**
 * A tiny retrieval problem WITH ties: 3 images, 3 captions (one each). Caption 0 scores its own
 * image equal to image 1; caption 1 is tied with all three images; caption 2 is tie-free.
 * `sims[i * T + t]`.
 */
export function tiedExample(): { sims: Float32Array; numImages: number; txt2img: number[]; description: string } {
  const sims = Float32Array.from([
    // t0   t1   t2
    0.9, 0.5, 0.1, // image 0
    0.9, 0.5, 0.2, // image 1
    0.3, 0.5, 0.8, // image 2
  ]);
  return {
    sims,
    numImages: 3,
    txt2img: [0, 1, 2],
    description: 'caption 0 ties its image with image 1 (0.9 = 0.9); caption 1 ties all three images (0.5); caption 2 has no tie',
  };
}

/** R@1 and R@2 per tie rule on `tiedExample` (or given scores), one row per rule. */
export function tieRuleRows(ex = tiedExample(), rules: readonly TieRule[] = TIE_RULES): Row[] {
  return rules.map((rule) => {
    const m = retrievalMetricsFromMatrix(ex.sims, ex.numImages, ex.txt2img, { tieRule: rule, ks: [2], keepRanks: true });
    const r2 = (x: number) => Math.round(x * 100) / 100;
    return {
      'tie rule': rule,
      't→i R@1': r2(m.t2i.r1),
      't→i R@2': r2(m.details.t2i.recallAt[2] ?? Number.NaN),
      'i→t R@1': r2(m.i2t.r1),
      't→i ranks (0-based)': m.ranks ? Array.from(m.ranks.t2i).join(', ') : '',
      't→i tied queries': m.details.t2i.tiedQueries,
      'i→t ranks (0-based)': m.ranks ? Array.from(m.ranks.i2t).join(', ') : '',
    };
  });
}

/** The checkpoint the notebook evaluates: the released one when KIT_PRIORCLIP_CHECKPOINT is set, else the stand-in. */
export interface CheckpointSource {
  kind: 'released' | 'stand-in';
  /** The file loaded through the checkpoint import path. */
  file: string;
  config: ModelConfig;
  /** The model the stand-in was exported from (null for a released checkpoint). */
  source: RetrievalModel | null;
  /** The other files written for the stand-in (safetensors + torch zip). */
  files: string[];
  note: string;
}

/**
 * Released checkpoint (KIT_PRIORCLIP_CHECKPOINT, model preset priorclip-vit-b-32) or, offline, the
 * tiny PriorCLIP exported twice from a seeded model: as a state_dict-named safetensors file and as
 * a torch zip `.pt` (what `torch.save(model.state_dict(), …)` writes). The `.pt` is the one loaded.
 */
export function checkpointSource(seeds: SeedStream, dir = notebook08Dir()): CheckpointSource {
  const released = releasedCheckpoint();
  if (released) {
    // an at-scale checkpoint of an export folder (or KIT_PRIORCLIP_MODEL) names its own config (src/interop/open_clip_import.ts)
    const atScale = atScaleModelConfig(released);
    const config = atScale?.config ?? loadModelPreset(RELEASED_MODEL_PRESET);
    return { kind: 'released', file: released, config, source: null, files: [released], note: `released checkpoint ${released} (${RELEASED_CHECKPOINT_ENV}), model ${atScale ? `config from ${atScale.source}` : `preset ${RELEASED_MODEL_PRESET}`}` };
  }
  const { config, model } = tinyPriorClip(seeds);
  fs.mkdirSync(dir, { recursive: true });
  const st = path.join(dir, `${TINY_MODEL_PRESET}.safetensors`);
  const pt = path.join(dir, `${TINY_MODEL_PRESET}.pt`);
  exportStateDict(st, model);
  exportStateDict(pt, model);
  return { kind: 'stand-in', file: pt, config, source: model, files: [st, pt], note: `${RELEASED_CHECKPOINT_ENV} is not set: offline stand-in ${TINY_MODEL_PRESET} (random weights, CLIP vocabulary) exported to ${path.relative(projectRoot(), st)} and ${path.relative(projectRoot(), pt)}` };
}

/** The embedded dataset of an experiment's data config (generated once, cached). */
export async function embeddedDataset(cfg: EmbeddedDataConfig | EmbeddedV2Config): Promise<RetrievalDataset> {
  if (isEmbeddedV2(cfg)) return (await generateEmbeddedV2(cfg)).fine; // v2: the fine (retrieval) corpus
  return (await generateEmbeddedDataset(cfg)).dataset;
}

/** The `npm run evaluate` arguments for a checkpoint source and an exported dataset (annotation file + images folder). */
export function evaluateArgs(ck: CheckpointSource, data: { annotationFile: string; imagesDir: string }, outDir: string, split: Split = 'test'): string[] {
  const model = ck.kind === 'released' && ck.config.name === RELEASED_MODEL_PRESET ? RELEASED_MODEL_PRESET : JSON.stringify(ck.config);
  return ['--model', model, '--checkpoint', ck.file, '--data', data.annotationFile, '--images', data.imagesDir, '--split', split, '--out', outDir];
}

/** The same arguments as a shell command line (JSON quoted). */
export function evaluateCommand(args: readonly string[]): string {
  const q = (a: string) => (/^[A-Za-z0-9_./:=-]+$/.test(a) ? a : `'${a.replace(/'/g, "'\\''")}'`);
  return `npm run evaluate -- ${args.map((a) => q(path.isAbsolute(a) ? path.relative(projectRoot(), a) || a : a)).join(' ')}`;
}

/** How many queries of an evaluation had a tie with their best positive (where the rules can differ). */
export function tiedQueryRows(m: RetrievalMetrics): Row[] {
  return [
    { direction: 'image → text', queries: m.numImages, 'tied queries': m.details.i2t.tiedQueries },
    { direction: 'text → image', queries: m.numTexts, 'tied queries': m.details.t2i.tiedQueries },
  ];
}

/** The CLIP BPE vocabulary file when one is found (KIT_CLIP_BPE, `data/vocab/`, an installed open_clip), else null (priorclip models need it). */
export function clipVocabulary(): string | null {
  return findClipBpe().path; // KIT_CLIP_BPE, data/vocab/, an installed open_clip's copy
}

/**
 * `npm run evaluate` arguments for the final (stage-2) run of a recipe: its best checkpoint (the
 * model config is in the file's metadata) and the word vocabulary saved with the run.
 */
export function runEvaluateArgs(st: Session, data: { annotationFile: string; imagesDir: string }, outDir: string, split: Split = 'test'): string[] {
  const id = st.ids.stage2 ?? st.ids.stage1;
  if (!id) throw new Error(`runEvaluateArgs: experiment '${st.exp.name}' has no retrieval stage`);
  const args = ['--checkpoint', runFiles(id).best, '--data', data.annotationFile, '--images', data.imagesDir, '--split', split, '--tie-rule', st.exp.eval.tieRule, '--out', outDir];
  const vocab = runFiles(id).vocab;
  if (fs.existsSync(vocab)) args.push('--vocab', vocab);
  return args;
}

/**
 * Does `npm run evaluate` on the exported split reproduce the run's recorded test mR? Also
 * evaluates the same checkpoint in-process with the training tokenization (captions padded to the
 * context length, as training and the run record did) and, for word-vocabulary models, with
 * captions padded to the longest of each batch (what the command does), to locate any difference.
 */
export async function checkAgainstRecord(st: Session, cli: RetrievalMetrics): Promise<{ rows: Row[]; verdict: string }> {
  const { embedAndEvaluate } = await import('./models');
  const { runTestSummary } = await import('./stages');
  const stage = st.ids.stage2 ? 'stage2' : 'stage1';
  const recorded = runTestSummary(st.finalRunId).mR;
  const model = sessionModel(st, stage).model;
  let inProcess: number;
  let longest: number | null = null;
  try {
    inProcess = (await embedAndEvaluate(st, model, 'test')).metrics.mR;
    const wt = st.data.wordTokenizer;
    // what the command does: pad to the longest caption of each batch of DEFAULT_TEXT_BATCH captions
    if (wt) longest = (await embedAndEvaluate(st, model, 'test', { tokenize: (caps) => wt.encodeBatch(caps, { padding: 'longest' }), textBatchSize: DEFAULT_TEXT_BATCH })).metrics.mR;
  } finally {
    model.dispose();
  }
  const r2 = (x: number) => Math.round(x * 100) / 100;
  const rows: Row[] = [
    { source: 'npm run evaluate on the Karpathy export', mR: r2(cli.mR) },
    { source: 'in-process, training tokenization (pad to context length)', mR: r2(inProcess) },
    ...(longest === null ? [] : [{ source: `in-process, captions padded to the longest of each batch of ${DEFAULT_TEXT_BATCH} (as the command)`, mR: r2(longest) }]),
    { source: `run record ${st.finalRunId} (test)`, mR: r2(recorded) },
  ];
  const same = (a: number, b: number) => Math.abs(a - b) < 1e-9;
  let verdict: string;
  if (same(cli.mR, recorded)) verdict = 'identical: export, loader and evaluation agree with training';
  else if (same(inProcess, recorded) && longest !== null && same(longest, cli.mR)) {
    verdict =
      `the command differs from the record by ${(cli.mR - recorded).toFixed(2)} mR, and the padding explains all of it: ` +
      'in-process with the training padding reproduces the record, and with longest-in-batch padding (what the command does) reproduces the command. ' +
      "This model's text embedding depends on the amount of padding; export, loader and ranking agree.";
  } else if (same(inProcess, recorded)) {
    verdict = `the command differs from the record by ${(cli.mR - recorded).toFixed(2)} mR while the same checkpoint in-process matches it: the difference is in the command's data path`;
  } else verdict = `the in-process evaluation (${inProcess.toFixed(2)}) does not reproduce the record (${recorded.toFixed(2)}): investigate`;
  return { rows, verdict };
}
