/**
 * `computeDiagnostics`: everything the kit measures about a trained model on a split besides the
 * recalls, in one JSON-able record (stored in the run record as `metrics.diagnostics`):
 *
 * - `ranks`: per-query 0-based ranks under the tie rule (i→t per image, t→i per caption, in the
 *   `splitView` order), so suites can bootstrap over test queries (`statistics.ts`);
 * - `beliefLocalisation` (`belief_localisation.ts`): hard and both soft beliefs on the
 *   scene-defining and distractor cells of every image of the split (embedded data only: the
 *   object boxes come from its `dataset.json`; null otherwise, with the reason in `notes`);
 * - `classStructure` (`class_structure.ts`): silhouette per modality, cross-modal class confusion;
 * - `vocabularyShift` (`vocabulary_shift.ts`): t→i recall of rare-word vs in-vocabulary queries.
 *
 * Computing them never changes a run id or stage key: they are outputs, and records written
 * before they existed simply lack the field (`readDiagnostics` returns null then).
 */
import * as fs from 'fs';
import * as path from 'path';
import { RetrievalDataset, Split, splitImages } from '../data/types';
import { AnnotatedObject, readEmbeddedObjects } from '../data/embedded/annotations';
import { EvalTransform, preprocessImage } from '../data/image_preprocess';
import { RgbImage } from '../io/image_codecs';
import { decodeRecordImage } from '../data/loaders/index';
import { BatchTokenizer, EmbeddingModel, ImageLoader, embedSplit } from './embed';
import { TieRule, retrievalMetrics } from './retrieval_metrics';
import { BeliefLocalisation, BeliefRule, isBeliefSource, measureBeliefLocalisation } from './belief_localisation';
import { ClassStructure, classStructure } from './class_structure';
import { DEFAULT_RARE_BELOW, VocabularyShift, vocabularyShift } from './vocabulary_shift';

/** Version of the diagnostics record (bump when a field's meaning changes). */
export const DIAGNOSTICS_VERSION = 1;

/** What `computeDiagnostics` stores. */
export interface Diagnostics {
  version: number;
  split: Split;
  tieRule: TieRule;
  /** Per-query 0-based ranks: `i2t[image]` (best caption), `t2i[caption]`; `txt2img[caption]` = its image. */
  ranks: { i2t: number[]; t2i: number[]; txt2img: number[] };
  beliefLocalisation: BeliefLocalisation | null;
  classStructure: ClassStructure | null;
  vocabularyShift: VocabularyShift;
  /** Why a diagnostic is null. */
  notes: string[];
  seconds: number;
}

/** Options of `computeDiagnostics`. */
export interface DiagnosticsOptions {
  tokenize: BatchTokenizer;
  imageSize: number;
  /** Eval transform (default 'resize'). */
  transform?: EvalTransform;
  /** Decoded RGB image of a record (e.g. a pixel cache); default: decode the file. */
  decode?: (rec: RetrievalDataset['images'][number]) => Promise<RgbImage>;
  tieRule: TieRule;
  batchSize: number;
  /** Count below which a training word is rare (default `DEFAULT_RARE_BELOW`). */
  rareBelow?: number;
}

/** The belief settings of a model config (PIR kinds), or null. */
function spatialSettings(model: object): { k: number; rule: BeliefRule | null } | null {
  const cfg: unknown = Reflect.get(model, 'config');
  if (typeof cfg !== 'object' || cfg === null) return null;
  const sp: unknown = Reflect.get(cfg, 'spatialPae');
  if (typeof sp !== 'object' || sp === null) return null;
  const k = Number(Reflect.get(sp, 'filterSize'));
  const enabled = Reflect.get(sp, 'enabled') === true;
  const belief = Reflect.get(sp, 'belief');
  const rule = enabled && (belief === 'hard' || belief === 'soft-head' || belief === 'soft-c20bbe30') ? belief : null;
  return Number.isFinite(k) && k >= 1 ? { k, rule } : null;
}

/** Object boxes of an embedded dataset's images (by file name), or a reason why there are none. */
export function datasetObjects(dataset: RetrievalDataset): Map<string, AnnotatedObject[]> | string {
  if (dataset.format !== 'embedded') return `dataset '${dataset.name}' (${dataset.format}) records no object boxes`;
  const dir = path.dirname(dataset.imagesRoot);
  if (!fs.existsSync(path.join(dir, 'dataset.json'))) return `${dir}/dataset.json is missing`;
  return readEmbeddedObjects(dir);
}

/** Compute every diagnostic of `model` on `split` of `dataset` (the model is used in eval mode). */
export async function computeDiagnostics(model: EmbeddingModel, dataset: RetrievalDataset, split: Split, opts: DiagnosticsOptions): Promise<Diagnostics> {
  const t0 = Date.now();
  const notes: string[] = [];
  const transform = opts.transform ?? 'resize';
  const decode = opts.decode ?? decodeRecordImage;
  const pixels = new Map<number, Float32Array>();
  const loadImage: ImageLoader = async (rec) => {
    const hit = pixels.get(rec.imageId);
    if (hit) return hit;
    const px = preprocessImage(await decode(rec), { size: opts.imageSize, transform });
    pixels.set(rec.imageId, px);
    return px;
  };
  const emb = await embedSplit(model, dataset, split, {
    loadImage,
    imageSize: opts.imageSize,
    tokenize: opts.tokenize,
    imageBatchSize: opts.batchSize,
    textBatchSize: opts.batchSize,
    progress: false,
  });
  const m = retrievalMetrics(emb.imageEmb, emb.textEmb, emb.txt2img, { tieRule: opts.tieRule, keepRanks: true });
  if (!m.ranks) throw new Error('computeDiagnostics: retrievalMetrics returned no ranks');
  const train = splitImages(dataset, 'train').flatMap((r) => r.captions);
  const vocab = vocabularyShift(emb.captions, m.ranks.t2i, train, opts.rareBelow ?? DEFAULT_RARE_BELOW);
  let cs: ClassStructure | null = null;
  if (emb.classNames.length >= 2 && Array.from(emb.classes).some((c) => c >= 0)) cs = classStructure(emb);
  else notes.push('classStructure: the split has fewer than two scene classes');
  let bl: BeliefLocalisation | null = null;
  const sp = spatialSettings(model);
  if (!isBeliefSource(model) || !sp) notes.push('beliefLocalisation: the model exposes no image tokens and prior (not the PIR structure)');
  else {
    const objects = datasetObjects(dataset);
    if (typeof objects === 'string') notes.push(`beliefLocalisation: ${objects}`);
    else {
      const items = emb.images.map((rec) => {
        const objs = objects.get(rec.fileName);
        if (!objs) throw new Error(`computeDiagnostics: ${path.dirname(dataset.imagesRoot)}/dataset.json has no objects for image ${rec.fileName}`);
        return { pixels: () => loadImage(rec) as Promise<Float32Array>, objects: objs };
      });
      bl = await measureBeliefLocalisation(model, items, opts.imageSize, { k: sp.k, batchSize: opts.batchSize, modelRule: sp.rule });
    }
  }
  return {
    version: DIAGNOSTICS_VERSION,
    split,
    tieRule: m.tieRule,
    ranks: { i2t: Array.from(m.ranks.i2t), t2i: Array.from(m.ranks.t2i), txt2img: Array.from(emb.txt2img) },
    beliefLocalisation: bl,
    classStructure: cs,
    vocabularyShift: vocab,
    notes,
    seconds: (Date.now() - t0) / 1000,
  };
}

/** The diagnostics of a run record's metrics, or null (records from before diagnostics existed). */
export function readDiagnostics(metrics: Record<string, unknown> | undefined): Diagnostics | null {
  const d = metrics?.diagnostics;
  if (typeof d !== 'object' || d === null) return null;
  const v = Reflect.get(d, 'version');
  return typeof v === 'number' && v <= DIAGNOSTICS_VERSION ? (d as Diagnostics) : null;
}

/** Headline diagnostic columns of result tables (one number each; see `diagnosticColumns`). */
export const DIAGNOSTIC_COLUMNS = [
  'belief_key_ratio',
  'belief_topk_precision',
  'belief_topk_chance',
  'belief_distractor_ratio',
  'belief_effective_tokens',
  'silhouette_image',
  'silhouette_text',
  'class_acc_i2t',
  'class_acc_t2i',
  'rare_t2i_mean',
  'invocab_t2i_mean',
] as const;
export type DiagnosticColumn = (typeof DIAGNOSTIC_COLUMNS)[number];

/**
 * The headline numbers of a diagnostics record: belief numbers of the rule the model uses (the
 * hard belief when it uses none, i.e. without Spatial-PAE: the self-prior belief it would have),
 * silhouettes, top-1 class accuracy both ways, mean t→i R@1/5/10 of rare-word and in-vocabulary
 * queries. NaN where a diagnostic is missing.
 */
export function diagnosticColumns(d: Diagnostics): Record<DiagnosticColumn, number> {
  const out = rawColumns(d);
  // records store NaN as null (JSON): read it back as NaN
  for (const c of DIAGNOSTIC_COLUMNS) if (typeof out[c] !== 'number') out[c] = Number.NaN;
  return out;
}

function rawColumns(d: Diagnostics): Record<DiagnosticColumn, number> {
  const bl = d.beliefLocalisation;
  const rule = bl ? bl.rules[bl.modelRule ?? 'hard'] : null;
  const cs = d.classStructure;
  const v = d.vocabularyShift;
  return {
    belief_key_ratio: rule ? rule.keyRatio : Number.NaN,
    belief_topk_precision: rule ? rule.topKPrecision : Number.NaN,
    belief_topk_chance: rule ? rule.topKChance : Number.NaN,
    belief_distractor_ratio: rule ? rule.distractorRatio : Number.NaN,
    belief_effective_tokens: rule ? rule.effectiveTokens : Number.NaN,
    silhouette_image: cs ? cs.silhouette.image : Number.NaN,
    silhouette_text: cs ? cs.silhouette.text : Number.NaN,
    class_acc_i2t: cs ? cs.classAccuracy.i2t : Number.NaN,
    class_acc_t2i: cs ? cs.classAccuracy.t2i : Number.NaN,
    rare_t2i_mean: v.rare.mean,
    invocab_t2i_mean: v.inVocabulary.mean,
  };
}
