/**
 * The closed-domain PIR model structure (`jaychempan/PIR` `PIRBase`; method.md §2.1) with the kit's
 * small backbones, used by the `pir-small` and `pir` model configs:
 *
 *   V = vision_proj(vision_encoder(img))          [B, N, D]   N = 1 + grid², index 0 = mean token
 *   c = conv_proj(conv_encoder(img))[:, None]     [B, 1, D]   scene prior (frozen after stage 0)
 *   v = SpatialPae(V, c)                          normalize(V[:,0] + head_img(S[:,0]))
 *   T = text_proj(text_encoder(ids))              [B, L, D]   position 0 = [CLS]/<sot>
 *   t = TemporalPae(T)                            normalize(T[:,0] + head_txt(X[:,0]))
 *   temp, temp2                                   learnable temperatures (contrastive, affiliation)
 *
 * PIR's Swin-T / BERT-base / ResNet-50 are replaced by `SmallCnnTokenEncoder`, `SmallTextEncoder`
 * and `SmallCnnPooledEncoder` (same output layouts), so the model trains on 2 CPU cores. Every
 * mechanism is switchable for ablations (see `PirModelConfig`):
 * - `spatialPae.enabled = false` → `normalize(V[:, 0])` (PIR baseline, image side);
 * - `temporalPae.enabled = false` → `normalize(T[:, 0])` (PIR baseline, text side);
 * - `prior.enabled = false` → no prior encoder; Spatial-PAE uses the image's own global token as its
 *   prior (belief = agreement with the global token, query = mapped global token);
 * - `spatialPae.belief` → PIR's hard top-K, or PriorCLIP's soft weighting (both formulas).
 */
import * as tf from '@tensorflow/tfjs';
import { SeedStream } from '../utils/random';
import { ParamStore, constantInit } from './params';
import { Linear, l2normalize } from './layers';
import { SmallCnnPooledEncoder, SmallCnnTokenEncoder } from './small_cnn';
import { SmallTextEncoder } from './small_text';
import { SpatialPae, SpatialPaeTrace } from './spatial_pae';
import { TemporalPae } from './temporal_pae';
import { tokenBelief } from './soft_belief';
import { BeliefOutput, EncodeOptions, ForwardOutput, ParamGroup, PirModelConfig, RetrievalModel } from './model';

/** RGB input channels. */
const RGB = 3;

/** The PIR-style retrieval model. */
export class PirModel implements RetrievalModel {
  readonly params: ParamStore;
  readonly visionEncoder: SmallCnnTokenEncoder;
  readonly textEncoder: SmallTextEncoder;
  readonly visionProj: Linear;
  readonly textProj: Linear;
  readonly priorEncoder: SmallCnnPooledEncoder | null;
  /** Stage-0 scene classification head on the prior (`conv_encoder.fc`). */
  readonly priorHead: Linear | null;
  readonly convProj: Linear | null;
  readonly spatialPae: SpatialPae | null;
  readonly temporalPae: TemporalPae | null;
  readonly tempVar: tf.Variable;
  readonly temp2Var: tf.Variable;
  /** Token grid of the image encoder. */
  readonly grid: [number, number];
  /**
   * Dropout seeds of training-mode calls without `opts.seeds`: one fresh seed per dropout call.
   * A trainer may replace it per step (or pass `opts.seeds`) to make each step reproducible alone.
   */
  dropoutSeeds: SeedStream;

  constructor(readonly config: PirModelConfig, seeds: SeedStream) {
    const c = config;
    const D = c.embedDim;
    if (D % c.heads !== 0) throw new Error(`model '${c.name}': embedDim ${D} is not divisible by heads ${c.heads}`);
    const p = new ParamStore(seeds.child('params'));
    this.params = p;
    this.dropoutSeeds = seeds.child('dropout');
    // Backbones (PIRBase order: vision encoder, text encoder, projections, prior).
    this.visionEncoder = new SmallCnnTokenEncoder(p, 'vision_encoder', {
      inChannels: RGB,
      channels: c.image.channels,
      extraConvsPerStage: c.image.extraConvsPerStage,
      downsample: c.image.downsample,
    });
    this.grid = this.visionEncoder.grid(c.imageSize);
    this.textEncoder = new SmallTextEncoder(p, 'text_encoder', c.text);
    this.visionProj = new Linear(p, 'vision_proj', { inFeatures: this.visionEncoder.cnn.outChannels, outFeatures: D });
    this.textProj = new Linear(p, 'text_proj', { inFeatures: c.text.width, outFeatures: D });
    if (c.prior.enabled) {
      this.priorEncoder = new SmallCnnPooledEncoder(p, 'conv_encoder', {
        inChannels: RGB,
        channels: c.prior.channels,
        extraConvsPerStage: c.prior.extraConvsPerStage,
        downsample: c.prior.downsample,
      });
      this.priorHead = new Linear(p, 'conv_encoder.fc', { inFeatures: this.priorEncoder.cnn.outChannels, outFeatures: c.prior.numClasses });
      this.convProj = c.spatialPae.enabled ? new Linear(p, 'conv_proj', { inFeatures: this.priorEncoder.cnn.outChannels, outFeatures: D }) : null;
    } else {
      this.priorEncoder = null;
      this.priorHead = null;
      this.convProj = null;
    }
    const block = { heads: c.heads, dropout: c.dropout, mlpRatio: c.mlpRatio };
    this.spatialPae = c.spatialPae.enabled
      ? new SpatialPae(p, D, { ...block, enabled: true, belief: c.spatialPae.belief, filterSize: c.spatialPae.filterSize, numRounds: c.spatialPae.numRounds })
      : null;
    this.temporalPae = c.temporalPae.enabled ? new TemporalPae(p, D, { ...block, enabled: true, numRounds: c.temporalPae.numRounds }) : null;
    if (this.priorEncoder) this.encodePriorLogits = (images: tf.Tensor4D) => this.priorLogits(images);
    this.tempVar = p.add('temp', [], constantInit(c.temp), 'raw');
    this.temp2Var = p.add('temp2', [], constantInit(c.temp2), 'raw');
  }

  private seedsFor(opts: EncodeOptions | undefined): SeedStream | null {
    return opts?.training ? (opts.seeds ?? this.dropoutSeeds) : null;
  }

  private checkImages(images: tf.Tensor4D): void {
    const [, H, W, C] = images.shape as number[];
    if (images.rank !== 4 || C !== RGB || H !== this.config.imageSize || W !== this.config.imageSize) {
      throw new Error(`model '${this.config.name}': images must be [B, ${this.config.imageSize}, ${this.config.imageSize}, 3] NHWC, got [${images.shape}]`);
    }
  }

  /** Projected image tokens V `[B, N, D]` (index 0 = global token). */
  imageTokens(images: tf.Tensor4D): tf.Tensor3D {
    this.checkImages(images);
    return tf.tidy(() => this.visionProj.apply(this.visionEncoder.apply(images)) as tf.Tensor3D); // [B, N, C] → [B, N, D]
  }

  /** Projected prior c `[B, 1, D]`, or null without a prior. */
  priorToken(images: tf.Tensor4D): tf.Tensor3D | null {
    if (!this.priorEncoder || !this.convProj) return null;
    const enc = this.priorEncoder;
    const proj = this.convProj;
    return tf.tidy(() => tf.expandDims(proj.apply(enc.apply(images)), 1) as tf.Tensor3D); // [B, Cp] → [B, D] → [B, 1, D]
  }

  /** Image embedding and (when computed) the token beliefs. */
  private imageForward(images: tf.Tensor4D, opts?: EncodeOptions): { emb: tf.Tensor2D; belief?: tf.Tensor2D } {
    const seeds = this.seedsFor(opts);
    return tf.tidy(() => {
      const V = this.imageTokens(images); // [B, N, D]
      const [B, , D] = V.shape as number[];
      if (!this.spatialPae) return { emb: l2normalize(tf.reshape(tf.slice(V, [0, 0, 0], [B, 1, D]), [B, D]), -1) as tf.Tensor2D }; // normalize(V[:, 0]) [B, D]
      const t = this.spatialPae.trace(V, this.priorToken(images), seeds);
      return { emb: t.vEmb, belief: t.belief };
    });
  }

  encodeImage(images: tf.Tensor4D, opts?: EncodeOptions): tf.Tensor2D {
    return tf.tidy(() => this.imageForward(images, opts).emb);
  }

  /** Projected text tokens T `[B, L, D]`. */
  textTokens(tokens: tf.Tensor2D, opts?: EncodeOptions): tf.Tensor3D {
    const seeds = this.seedsFor(opts);
    return tf.tidy(() => this.textProj.apply(this.textEncoder.apply(tokens, seeds)) as tf.Tensor3D); // [B, L, W] → [B, L, D]
  }

  encodeText(tokens: tf.Tensor2D, opts?: EncodeOptions): tf.Tensor2D {
    const seeds = this.seedsFor(opts);
    return tf.tidy(() => {
      const T = this.textTokens(tokens, opts); // [B, L, D]
      if (this.temporalPae) return this.temporalPae.apply(T, seeds);
      const [B, , D] = T.shape as number[];
      return l2normalize(tf.reshape(tf.slice(T, [0, 0, 0], [B, 1, D]), [B, D]), -1) as tf.Tensor2D; // normalize(T[:, 0])
    });
  }

  forward(images: tf.Tensor4D, tokens: tf.Tensor2D, opts?: EncodeOptions): ForwardOutput {
    return tf.tidy(() => {
      const img = this.imageForward(images, opts);
      const out: ForwardOutput = {
        imageFeatures: img.emb,
        textFeatures: this.encodeText(tokens, opts),
        logitScale: tf.div(1, this.tempVar) as tf.Scalar,
        temp: tf.clone(this.tempVar) as tf.Scalar,
        temp2: tf.clone(this.temp2Var) as tf.Scalar,
      };
      if (img.belief) out.belief = img.belief;
      return out as unknown as tf.TensorContainerObject;
    }) as unknown as ForwardOutput;
  }

  /**
   * Belief of every image token given the prior (`softmax over tokens of V·cᵀ`, the Spatial-PAE's
   * own computation), `[B, N]` with index 0 = global token, plus the hard-belief kept indices. Without
   * a prior (or without the Spatial-PAE) the global token stands in for the prior.
   */
  beliefs(images: tf.Tensor4D): BeliefOutput {
    return tf.tidy(() => {
      const V = this.imageTokens(images); // [B, N, D]
      if (this.spatialPae) {
        const t = this.spatialPae.trace(V, this.priorToken(images), null);
        const out: BeliefOutput = { belief: t.belief, grid: this.grid };
        if (this.config.spatialPae.belief === 'hard') out.keptIdx = t.keptIdx;
        return out as unknown as tf.TensorContainerObject;
      }
      const [B, , D] = V.shape as number[];
      const prior = tf.slice(V, [0, 0, 0], [B, 1, D]) as tf.Tensor3D; // the global token
      return { belief: tokenBelief(V, prior), grid: this.grid } as unknown as tf.TensorContainerObject;
    }) as unknown as BeliefOutput;
  }

  /**
   * Every Spatial-PAE intermediate for the images (belief, sorted/kept indices, filtered tokens,
   * per-round SA/query/CA outputs, final tokens, embedding), in evaluation mode, for notebooks and
   * figures; null when the Spatial-PAE is disabled. Caller disposes.
   */
  imageTrace(images: tf.Tensor4D): SpatialPaeTrace | null {
    const pae = this.spatialPae;
    if (!pae) return null;
    return tf.tidy(() => pae.trace(this.imageTokens(images), this.priorToken(images), null));
  }

  /**
   * Stage 0: scene-class logits of the prior encoder `[B, numClasses]`. Present only when
   * `prior.enabled` (so `if (model.encodePriorLogits)` tells whether there is a stage 0).
   */
  readonly encodePriorLogits?: (images: tf.Tensor4D, opts?: EncodeOptions) => tf.Tensor2D;

  private priorLogits(images: tf.Tensor4D): tf.Tensor2D {
    const enc = this.priorEncoder;
    const head = this.priorHead;
    if (!enc || !head) throw new Error(`model '${this.config.name}': prior.enabled is false, there is no prior classifier`);
    this.checkImages(images);
    return tf.tidy(() => head.apply(enc.apply(images)) as tf.Tensor2D); // [B, Cp] → [B, classes]
  }

  paramGroup(key: string): ParamGroup {
    return pirParamGroup(key);
  }

  dispose(): void {
    this.params.dispose();
  }
}

/** Group of a PIR-model parameter key. */
export function pirParamGroup(key: string): ParamGroup {
  if (key.startsWith('conv_encoder.fc.')) return 'priorHead';
  if (key.startsWith('conv_encoder.')) return 'prior';
  if (key.startsWith('vision_encoder.') || key.startsWith('vision_proj.')) return 'image';
  if (key.startsWith('text_proj.')) return 'textProj';
  if (key.startsWith('text_encoder.')) return 'text';
  if (key === 'temp' || key === 'temp2') return 'scale';
  return 'fusion'; // conv_proj, img_sa/img_ca/mapping_img/head_img, txt_sa/txt_ca/mapping_txt/head_txt
}
