/**
 * PriorCLIP, open domain (`jaychempan/PriorCLIP`, open_clip model "PIR"; method.md §2.2).
 *
 *   r = res_visual(image)                          ModifiedResNet prior, [B, embed]
 *   y = vision_proj_res(r)[:, None]                Linear(embed → vision width), [B, 1, Wv]
 *   v = visual(image, y)                           soft-belief ViT, pooled at the prior slot, [B, embed]
 *   t = text(tokens)                               causal text transformer, EOT pooling, [N, embed]
 *   forward: normalize(v), normalize(t), exp(logit_scale)
 *
 * Every weight is registered in a ParamStore under its exact open_clip `state_dict` key and in the
 * reference's state_dict order (CLIP's own parameters, then vision_proj_res, visual, res_visual,
 * transformer, token_embedding, ln_final), so `state_dict` import/export needs no renaming.
 * (The reference hard-codes `vision_proj_res = Linear(512, 768)`; the kit builds
 * Linear(embedDim → vision width), which is the same module at full size.)
 *
 * Stage 0 of the recipe (`stage_task.ts`) builds the model with `{ priorHeadClasses: C }`: a scene
 * classification head `prior_head` = Linear(embed → C) on the pooled prior `res_visual(image)`,
 * registered after every open_clip key (so their order and seeded initialisation are unchanged).
 * Only the stage-0 model has it: later stages, checkpoints of stages 1–2 and open_clip
 * export/import never see `prior_head.*`.
 */
import * as tf from '@tensorflow/tfjs';
import { SeedStream } from '../utils/random';
import { ParamStore, normalInit, constantInit, torchShape } from './params';
import { Linear, l2normalize } from './layers';
import { VisionTransformer } from './open_clip/vision_transformer';
import { ModifiedResNet } from './open_clip/modified_resnet';
import { TextTower, TEXT_POSITIONAL_STD, textInitStds } from './open_clip/text_transformer';
import { Capture } from './open_clip/transformer';
import { PriorClipConfig, PriorClipDerived, derivePriorClip, resolvePriorClipConfig } from './open_clip/config';
import { ShapePlanStore } from './open_clip/shape_plan';
import { BeliefOutput, EncodeOptions, ForwardOutput, MAX_LOGIT_SCALE, ParamGroup, RetrievalModel } from './model';

export type { PriorClipConfig } from './open_clip/config';
export { PRIORCLIP_VIT_B_32, resolvePriorClipConfig } from './open_clip/config';

/** State_dict prefix of the stage-0 scene-classification head (not an open_clip key). */
export const PRIOR_HEAD_PREFIX = 'prior_head';

/** Build options beyond the open_clip config (none of them is part of the exported model). */
export interface PriorClipBuildOptions {
  /**
   * Scene classes of a stage-0 classification head `prior_head` on the pooled prior (0 or absent:
   * no head, the open_clip model).
   */
  priorHeadClasses?: number;
}

/**
 * The open-domain PriorCLIP model. The towers have no dropout, so `opts.training` changes nothing;
 * BatchNorm in the prior always uses its running statistics (eval mode, as for parity).
 */
export class PriorClip implements RetrievalModel {
  readonly params: ParamStore;
  readonly derived: PriorClipDerived;
  readonly positionalEmbedding: tf.Variable;
  readonly textProjection: tf.Variable;
  readonly logitScaleParam: tf.Variable;
  readonly visionProjRes: Linear;
  readonly visual: VisionTransformer;
  readonly resVisual: ModifiedResNet;
  readonly text: TextTower;
  /** Stage-0 scene-classification head on the pooled prior (null outside stage 0). */
  readonly priorHead: Linear | null;
  /** Scene logits `[B, C]` of the prior (only with a stage-0 head: `if (model.encodePriorLogits)` tells). */
  readonly encodePriorLogits?: (images: tf.Tensor4D, opts?: EncodeOptions) => tf.Tensor2D;

  /** Build the model; `store` may be injected (e.g. a `ShapePlanStore` to list keys without allocating). */
  constructor(readonly config: PriorClipConfig, seeds: SeedStream, store?: ParamStore, build: PriorClipBuildOptions = {}) {
    this.derived = derivePriorClip(config);
    const p = store ?? new ParamStore(seeds.child('priorclip'));
    this.params = p;
    const { embedDim: E, vision: v, text: t } = config;
    const act = config.quickGelu ? 'quick_gelu' : 'gelu';
    const tstd = textInitStds(t.width, t.layers);
    // CLIP's own parameters, in the reference order.
    this.positionalEmbedding = p.add('positional_embedding', [t.contextLength, t.width], normalInit(TEXT_POSITIONAL_STD), 'raw');
    this.textProjection = p.add('text_projection', [t.width, E], normalInit(tstd.projection), 'raw');
    this.logitScaleParam = p.add('logit_scale', [], constantInit(config.initLogitScale), 'raw');
    // Children in registration order.
    this.visionProjRes = new Linear(p, 'vision_proj_res', { inFeatures: E, outFeatures: v.width });
    this.visual = new VisionTransformer(p, 'visual', {
      imageSize: v.imageSize,
      patchSize: v.patchSize,
      width: v.width,
      layers: v.layers,
      heads: this.derived.visionHeads,
      outputDim: E,
      belief: config.softBelief,
      mlpRatio: v.mlpRatio,
      activation: act,
    });
    this.resVisual = new ModifiedResNet(p, 'res_visual', {
      layers: v.resLayers,
      outputDim: E,
      heads: this.derived.priorPoolHeads,
      imageSize: v.imageSize,
      width: v.resWidth,
    });
    this.text = new TextTower(
      p,
      { contextLength: t.contextLength, vocabSize: t.vocabSize, width: t.width, heads: t.heads, layers: t.layers, mlpRatio: t.mlpRatio, activation: act },
      this.positionalEmbedding,
      this.textProjection,
    );
    const classes = build.priorHeadClasses ?? 0;
    if (!Number.isInteger(classes) || classes < 0) throw new Error(`priorclip: priorHeadClasses must be a non-negative integer, got ${classes}`);
    // after every open_clip key: their registration order (= state_dict order) is unchanged
    this.priorHead = classes > 0 ? new Linear(p, PRIOR_HEAD_PREFIX, { inFeatures: E, outFeatures: classes }) : null;
    if (this.priorHead) this.encodePriorLogits = (images: tf.Tensor4D) => this.priorLogits(images);
  }

  /** Scene logits `[B, C]` = `prior_head(res_visual(images))` (stage 0; BatchNorm on its running statistics, as everywhere). */
  private priorLogits(images: tf.Tensor4D): tf.Tensor2D {
    const head = this.priorHead;
    if (!head) throw new Error('priorclip: this model has no stage-0 prior head (build it with priorHeadClasses)');
    this.checkImages(images);
    return tf.tidy(() => head.apply(this.resVisual.apply(images, null)) as tf.Tensor2D); // [B, E] → [B, C]
  }

  private checkImages(images: tf.Tensor4D): void {
    const s = this.config.vision.imageSize;
    if (images.rank !== 4 || images.shape[3] !== 3) throw new Error(`priorclip: images must be NHWC [B, H, W, 3], got [${images.shape}]`);
    if (images.shape[1] !== s || images.shape[2] !== s) {
      throw new Error(`priorclip: images are ${images.shape[1]}×${images.shape[2]}, the model's vision.imageSize is ${s}`);
    }
  }

  /** The projected prior y `[B, 1, Wv]` (`vision_proj_res(res_visual(images))`). */
  prior(images: tf.Tensor4D, capture: Capture | null = null): tf.Tensor3D {
    return tf.tidy(() => {
      const r = this.resVisual.apply(images, capture); // [B, E]
      const y = this.visionProjRes.apply(r) as tf.Tensor2D; // [B, Wv]
      capture?.('vision_proj_res', y);
      return tf.expandDims(y, 1) as tf.Tensor3D; // [B, 1, Wv]
    });
  }

  /** Unnormalised image embedding `[B, E]` (open_clip `encode_image(normalize=False)`). */
  encodeImageRaw(images: tf.Tensor4D, capture: Capture | null = null): tf.Tensor2D {
    this.checkImages(images);
    return tf.tidy(() => {
      const y = this.config.softBelief === 'none' ? null : this.prior(images, capture);
      const out = this.visual.apply(images, y, capture); // [B, E]
      capture?.('image_embed_unnormalized', out);
      return out;
    });
  }

  /** Unnormalised text embedding `[N, E]` (open_clip `encode_text(normalize=False)`). */
  encodeTextRaw(tokens: tf.Tensor2D, capture: Capture | null = null): tf.Tensor2D {
    return tf.tidy(() => {
      const out = this.text.apply(tokens, capture); // [N, E]
      capture?.('text_embed_unnormalized', out);
      return out;
    });
  }

  /** L2-normalised image embedding `[B, E]`. images NHWC, CLIP-normalised. */
  encodeImage(images: tf.Tensor4D, _opts: EncodeOptions = {}): tf.Tensor2D {
    return tf.tidy(() => l2normalize(this.encodeImageRaw(images), -1));
  }

  /** L2-normalised text embedding `[N, E]`. tokens int32 `[N, L]`. */
  encodeText(tokens: tf.Tensor2D, _opts: EncodeOptions = {}): tf.Tensor2D {
    return tf.tidy(() => l2normalize(this.encodeTextRaw(tokens), -1));
  }

  /** Clamp the `logit_scale` parameter to [0, ln 100] in place (open_clip does this after each optimiser step). */
  clampLogitScale(): void {
    tf.tidy(() => this.logitScaleParam.assign(tf.clipByValue(this.logitScaleParam, 0, MAX_LOGIT_SCALE)));
  }

  /**
   * Parameter group of a state_dict key: `prior` = `res_visual.*` (the instruction encoder),
   * `fusion` = `vision_proj_res.*` (prior → ViT width), `image` = `visual.*`, `scale` = `logit_scale`,
   * `textProj` = `text_projection`, `text` = the rest of the text tower (`transformer.*`,
   * `token_embedding`, `positional_embedding`, `ln_final`); `priorHead` = `prior_head.*` (stage 0 only).
   */
  paramGroup(key: string): ParamGroup {
    if (key.startsWith('res_visual.')) return 'prior';
    if (key.startsWith(`${PRIOR_HEAD_PREFIX}.`)) return 'priorHead';
    if (key.startsWith('vision_proj_res.')) return 'fusion';
    if (key.startsWith('visual.')) return 'image';
    if (key === 'logit_scale') return 'scale';
    if (key === 'text_projection') return 'textProj';
    return 'text';
  }

  /** `exp(logit_scale)`. */
  logitScale(): tf.Scalar {
    return tf.tidy(() => tf.exp(this.logitScaleParam) as tf.Scalar);
  }

  /** open_clip `CLIP.forward(image, text)` with `output_dict=True`. */
  forward(images: tf.Tensor4D, tokens: tf.Tensor2D, opts: EncodeOptions = {}): ForwardOutput {
    return tf.tidy(() => ({
      imageFeatures: this.encodeImage(images, opts),
      textFeatures: this.encodeText(tokens, opts),
      logitScale: this.logitScale(),
    }));
  }

  /**
   * Soft belief of every ViT token (CLS first, then the grid² patches, row-major) given the image's
   * own prior: `[B, grid²+1]`. `grid` is the patch grid.
   */
  beliefs(images: tf.Tensor4D): BeliefOutput {
    this.checkImages(images);
    const belief = tf.tidy(() => this.visual.beliefs(images, this.prior(images)));
    return { belief, grid: [this.derived.grid, this.derived.grid] };
  }

  dispose(): void {
    this.text.dispose();
    this.params.dispose();
  }
}

/** Create a PriorCLIP model from a kit config object (camelCase; merged onto PIR.json defaults). */
export function createPriorClip(config: Partial<PriorClipConfig> | PriorClipConfig | unknown, seeds: SeedStream, build: PriorClipBuildOptions = {}): PriorClip {
  return new PriorClip(resolvePriorClipConfig(config), seeds, undefined, build);
}

/** One state_dict entry of a shape plan. */
export interface PlannedTensor {
  key: string;
  /** PyTorch shape. */
  shape: number[];
  dtype: 'F32' | 'I64';
  trainable: boolean;
}

/**
 * The state_dict keys, torch shapes and dtypes a config produces, in state_dict order, without
 * allocating the weights (the model is built against a `ShapePlanStore`).
 */
export function priorClipShapePlan(config: unknown): PlannedTensor[] {
  const cfg = resolvePriorClipConfig(config);
  const store = new ShapePlanStore();
  try {
    const m = new PriorClip(cfg, new SeedStream(0), store);
    m.text.dispose();
    return store.planned.map((e) => ({ key: e.key, shape: torchShape(e.shape, e.layout), dtype: e.torchDtype, trainable: e.trainable }));
  } finally {
    store.dispose();
  }
}
