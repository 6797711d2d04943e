/**
 * What a model config needs from the data — the one place that answers it, so the recipe, the
 * evaluation CLI, the notebooks and the benchmarks never branch on `kind` themselves:
 *
 *   const needs = dataNeeds(exp.model);   // { imageSize, evalTransform, tokenizer, contextLength, hasPrior }
 *
 * - PIR-structure models (`pir-small`, `pir`) read a word vocabulary built on the train captions,
 *   are evaluated on `Resize((S, S))` (PIR's eval transform), and carry a trainable scene prior;
 * - PriorCLIP (`priorclip`) reads CLIP BPE tokens when its text tower has CLIP's 49,408-token table,
 *   and otherwise (kit-sized towers such as priorclip-tiny; the CLIP BPE file is not shipped) the
 *   kit's word vocabulary built on the train captions with `<eot>` moved to the largest id
 *   (`word-eot-last`: CLIP towers pool at `argmax(ids)`); it is evaluated as open_clip does (resize
 *   the short side, centre-crop); its prior (`res_visual`, a ModifiedResNet) is part of the towers.
 *   Stage 0 pretrains it as a scene classifier when the ViT reads it (`softBelief` not `'none'`),
 *   through a head that only the stage-0 model has (`stage0HeadClasses`); stage 1 keeps the same
 *   towers and starts from the stage-0 prior, frozen (`stage1KeepsPrior`).
 *
 * The stage-1 model (`stage1Model`) and the data-sized model (`modelForData`) derive from the same
 * family rules.
 */
import { EvalTransform } from '../data/image_preprocess';
import { ModelConfig } from './model';
import { defaultModelConfig } from './factory';
import { CLIP_VOCAB_SIZE } from '../data/clip_tokenizer';

/**
 * Tokenizer family a model reads: `word` (the kit's word vocabulary), `clip` (CLIP BPE), or
 * `word-eot-last` (the word vocabulary with `<eot>` at id `vocabSize`, for CLIP-style towers that
 * pool at the argmax id; the table then has `vocabSize + 1` rows).
 */
export type TokenizerKind = 'word' | 'clip' | 'word-eot-last';

/** What a model config needs from the data. */
export interface DataNeeds {
  /** Input image side in pixels. */
  imageSize: number;
  /** Eval-time image transform (also the no-augmentation training transform). */
  evalTransform: EvalTransform;
  /** Tokenizer family. */
  tokenizer: TokenizerKind;
  /** Token context length the text tower reads. */
  contextLength: number;
  /** True when the model has a trainable scene prior (stage 0 applies). */
  hasPrior: boolean;
}

/** What `model` needs from the data. */
export function dataNeeds(model: ModelConfig): DataNeeds {
  if (model.kind === 'priorclip') {
    const tokenizer: TokenizerKind = model.text.vocabSize === CLIP_VOCAB_SIZE ? 'clip' : 'word-eot-last';
    return { imageSize: model.vision.imageSize, evalTransform: 'resize-center-crop', tokenizer, contextLength: model.text.contextLength, hasPrior: model.softBelief !== 'none' };
  }
  return { imageSize: model.imageSize, evalTransform: 'resize', tokenizer: 'word', contextLength: model.text.contextLength, hasPrior: model.prior.enabled };
}

/** The sizes the data decides (a word vocabulary, its context length, the scene classes). */
export interface DataSizes {
  /** Word vocabulary (null for CLIP BPE models: their vocabulary is fixed). */
  vocabulary: { vocabSize: number; contextLength: number } | null;
  /** Scene classes of the dataset. */
  numClasses: number;
}

/** The model config with the data-dependent sizes filled in (vocabulary, context, classes). */
export function modelForData(model: ModelConfig, sizes: DataSizes): ModelConfig {
  if (model.kind === 'priorclip') {
    const p = structuredClone(model);
    // a word-vocabulary tower: its table is sized by the data (a CLIP BPE tower keeps its 49,408 rows)
    if (sizes.vocabulary && p.text.vocabSize !== CLIP_VOCAB_SIZE) {
      p.text.vocabSize = sizes.vocabulary.vocabSize;
      p.text.contextLength = sizes.vocabulary.contextLength;
    }
    return p;
  }
  const m = structuredClone(model);
  if (sizes.vocabulary) {
    m.text.vocabSize = sizes.vocabulary.vocabSize;
    m.text.contextLength = sizes.vocabulary.contextLength;
  }
  m.prior.numClasses = Math.max(1, sizes.numClasses);
  return m;
}

/**
 * The stage-1 model: backbones and projections only (no prior, no PAE). The modules stage 1 leaves
 * out carry the kind's default settings, so the stage key (which hashes this config) is the same
 * for variants that differ only inside those modules (the K, n_v, n_t and belief sweeps): they
 * share the full model's stage-1 run — the same parameters, the same seeded initialisation, hence
 * the same weights. PriorCLIP has no stage-1 variant (the same towers throughout, the prior
 * included: see `stage1KeepsPrior`).
 */
export function stage1Model(model: ModelConfig): ModelConfig {
  if (model.kind === 'priorclip') return structuredClone(model);
  const d = defaultModelConfig(model.kind);
  if (d.kind === 'priorclip') return structuredClone(model);
  return {
    ...structuredClone(model),
    prior: { ...d.prior, enabled: false },
    spatialPae: { ...d.spatialPae, enabled: false },
    temporalPae: { ...d.temporalPae, enabled: false },
  };
}

/**
 * The stage-0 part of a model config (the scene-prior encoder and the input size), null without a
 * prior. PriorCLIP: the ModifiedResNet `res_visual` (its depths, width, output = embedDim; its
 * attention-pool heads follow from `vision.headWidth`), null with `softBelief: 'none'` (the
 * ViT ignores the prior, so there is nothing to pretrain).
 */
export function priorModel(model: ModelConfig): { kind: string; imageSize: number; prior: unknown } | null {
  if (model.kind === 'priorclip') {
    if (model.softBelief === 'none') return null;
    const v = model.vision;
    return { kind: model.kind, imageSize: v.imageSize, prior: { resVisual: { layers: v.resLayers, width: v.resWidth, outputDim: model.embedDim, headWidth: v.headWidth } } };
  }
  if (!model.prior.enabled) return null;
  return { kind: model.kind, imageSize: model.imageSize, prior: model.prior };
}

/**
 * True when the stage-1 model carries the stage-0 prior, so stage 1 starts from it (frozen) and
 * its stage key names stage 0 as a parent. PriorCLIP keeps its towers (the soft-belief ViT reads
 * the prior in stage 1 too); PIR's stage-1 model has no prior.
 */
export function stage1KeepsPrior(model: ModelConfig): boolean {
  return model.kind === 'priorclip' && priorModel(model) !== null;
}

/**
 * Classes of the classification head a stage-0 model needs beyond its config: PriorCLIP's
 * `prior_head` (stage 0 only, sized by the stage-0 corpus); 0 for PIR (its head `conv_encoder.fc`
 * is part of the model, `prior.numClasses`).
 */
export function stage0HeadClasses(model: ModelConfig, corpusClasses: number): number {
  return model.kind === 'priorclip' && priorModel(model) !== null ? corpusClasses : 0;
}
