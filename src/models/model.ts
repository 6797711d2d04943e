/**
 * The model contract shared by training and evaluation, and the model config types.
 *
 * Every kit model — the small PIR-style models that train on the embedded dataset, the
 * closed-domain PIR structure, and the open-domain PriorCLIP — implements `RetrievalModel` and is
 * built by `createModel(config, seeds)` in `factory.ts` from a `ModelConfig`, a discriminated union
 * on `kind`.
 */
import * as tf from '@tensorflow/tfjs';
import { ParamStore } from './params';
import { SeedStream } from '../utils/random';
import { BeliefMode } from './spatial_pae';
import { PriorClipConfig } from './open_clip/config';
import { Downsample } from './small_cnn';

/** Upper bound of the CLIP `logit_scale` parameter: open_clip clamps it to [0, ln 100] after every step. */
export const MAX_LOGIT_SCALE = Math.log(100);

/** Options of an encoder call. */
export interface EncodeOptions {
  /** Training mode: dropout active (seeded, fresh per call). Default false. */
  training?: boolean;
  /** Dropout stream for this call in training mode (default: the model's own `seeds.child('dropout')`). */
  seeds?: SeedStream;
}

/** What `forward` returns (caller disposes). */
export interface ForwardOutput {
  /** L2-normalised image embeddings `[B, E]`. */
  imageFeatures: tf.Tensor2D;
  /** L2-normalised text embeddings `[B, E]`. */
  textFeatures: tf.Tensor2D;
  /** Multiplier of the cosine similarities: `exp(logit_scale)` (open_clip) or `1/temp` (PIR). */
  logitScale: tf.Scalar;
  /** PIR's contrastive temperature (learnable), when the model has one. */
  temp?: tf.Scalar;
  /** PIR's affiliation temperature (learnable), when the model has one. */
  temp2?: tf.Scalar;
  /** Token beliefs `[B, N]` of the images (index 0 = global token), when the model computes them. */
  belief?: tf.Tensor2D;
}

/** What `beliefs` returns (caller disposes). */
export interface BeliefOutput {
  /** Belief of every token given the image's prior `[B, N]`: index 0 = the global/CLS token, then the grid row-major. */
  belief: tf.Tensor2D;
  /** Token indices kept by the hard belief (int32 `[B, K]`, highest belief first); absent for soft belief. */
  keptIdx?: tf.Tensor2D;
  /** Token grid `[rows, cols]` (N = 1 + rows·cols). */
  grid: [number, number];
}

/**
 * Which part of a model a parameter belongs to (freezing, per-group learning rates, reports).
 * `textProj` is the text tower's final projection (PIR `text_proj`, open_clip `text_projection`),
 * kept apart from `text` so stage 2 can freeze the tower but train the projection.
 */
export type ParamGroup = 'image' | 'text' | 'textProj' | 'prior' | 'priorHead' | 'fusion' | 'scale';

/** The model contract. */
export interface RetrievalModel {
  readonly config: ModelConfig;
  readonly params: ParamStore;
  /** images `[B, H, W, 3]` NHWC, CLIP-normalised → L2-normalised `[B, E]`. */
  encodeImage(images: tf.Tensor4D, opts?: EncodeOptions): tf.Tensor2D;
  /** tokens int32 `[B, L]` → L2-normalised `[B, E]`. */
  encodeText(tokens: tf.Tensor2D, opts?: EncodeOptions): tf.Tensor2D;
  /** Both encoders plus the similarity scale(s). */
  forward(images: tf.Tensor4D, tokens: tf.Tensor2D, opts?: EncodeOptions): ForwardOutput;
  /** Token beliefs for visualisation (the same computation the image encoder uses). */
  beliefs(images: tf.Tensor4D): BeliefOutput;
  /** Stage 0: scene-class logits `[B, numClasses]` of the prior encoder's classification head. */
  encodePriorLogits?(images: tf.Tensor4D, opts?: EncodeOptions): tf.Tensor2D;
  /** The group of a parameter key (for freezing the prior / text encoder per stage). */
  paramGroup?(key: string): ParamGroup;
  dispose(): void;
}

// -------------------------------------------------------------------------------------------------
// Config types
// -------------------------------------------------------------------------------------------------

/** The kit's small CNN image encoder: a grid of tokens plus their mean (PIR/X-VLM Swin style). */
export interface SmallCnnImageConfig {
  /** Output channels of each stage; each stage halves the side (grid = imageSize / 2^stages). */
  channels: number[];
  /** Extra conv3×3 stride 1 + ReLU layers per stage (0 = one conv per stage). */
  extraConvsPerStage: number;
  /** How a stage halves the side: `avgpool-conv`, `conv-avgpool` or `strided-conv` (small_cnn.ts). */
  downsample: Downsample;
}

/** The kit's small CNN scene-prior encoder (PIR's frozen ResNet-50 stand-in). */
export interface SmallCnnPriorConfig {
  /** Use a prior at all; false → Spatial-PAE uses the image's own global token as the prior. */
  enabled: boolean;
  /** Output channels of each stage (each halves the side); global average pooling follows. */
  channels: number[];
  /** Extra stride-1 convs per stage. */
  extraConvsPerStage: number;
  /** How a stage halves the side (small_cnn.ts). */
  downsample: Downsample;
  /** Scene classes of the stage-0 classification head (`conv_encoder.fc`); set from the dataset. */
  numClasses: number;
}

/** The kit's small text encoder: word + position embeddings, then post-LN transformer layers. */
export interface SmallTextConfig {
  /** Vocabulary size (ids must be < vocabSize); set from the word tokenizer. */
  vocabSize: number;
  /** Maximum token rows length (positional embedding rows); inputs may be shorter. */
  contextLength: number;
  /** Transformer width. */
  width: number;
  /** Transformer layers (PIR MHSA blocks: post-LN, FFN with LayerNorm). */
  layers: number;
  /** Attention heads. */
  heads: number;
  /** FFN hidden / width. */
  mlpRatio: number;
  /** Dropout in the layers (embedding dropout too). */
  dropout: number;
}

/** Spatial-PAE options (see spatial_pae.ts). */
export interface SpatialPaeOptions {
  /** false → image embedding = normalize(vision_proj(global token)) (PIR baseline image side). */
  enabled: boolean;
  /** `hard` (PIR top-K), `soft-head` / `soft-c20bbe30` (PriorCLIP soft weighting, prior slot pooled). */
  belief: BeliefMode;
  /** K tokens kept by the hard belief (PIR `filter_size` 40); clamped to the token count. */
  filterSize: number;
  /** n_v rounds of SA + CA (PIR `instru_num` 2). */
  numRounds: number;
}

/** Temporal-PAE options (see temporal_pae.ts). */
export interface TemporalPaeOptions {
  /** false → text embedding = normalize(text_proj(token 0)) (PIR baseline text side). */
  enabled: boolean;
  /** n_t rounds of SA + CA (PIR `cycle_num` 3). */
  numRounds: number;
}

/**
 * The PIR-style kit model (`kind: 'pir-small'` for the embedded dataset; `kind: 'pir'` with the
 * reference head sizes): image tokens + scene prior + text tokens → Spatial-PAE / Temporal-PAE.
 * Parameter keys follow the reference: `vision_proj`, `text_proj`, `conv_proj`, `img_sa.i`,
 * `img_ca.i`, `mapping_img.i`, `head_img`, `txt_sa.i`, `txt_ca.i`, `mapping_txt.i`, `head_txt`,
 * `temp`, `temp2`; the kit backbones live under `vision_encoder.*`, `text_encoder.*`, `conv_encoder.*`.
 */
export interface PirModelConfig {
  /** Factory discriminator. */
  kind: 'pir-small' | 'pir';
  /** Human name of the preset (appears in run records). */
  name: string;
  /** Joint width D of the projections, both PAEs and the embeddings (PIR `embed_dim` 512). */
  embedDim: number;
  /** Input image side in pixels (square). */
  imageSize: number;
  /** Attention heads of the PAE blocks (PIR `head` 8). */
  heads: number;
  /** Dropout of the PAE blocks (PIR `dropout_r` 0.2). */
  dropout: number;
  /** FFN hidden / D in the PAE blocks (PIR `build_mlp`: 2). */
  mlpRatio: number;
  /** Initial contrastive temperature `temp` (PIR `temp1` 0.07). */
  temp: number;
  /** Initial affiliation temperature `temp2` (PIR `temp2` 0.07). */
  temp2: number;
  image: SmallCnnImageConfig;
  prior: SmallCnnPriorConfig;
  text: SmallTextConfig;
  spatialPae: SpatialPaeOptions;
  temporalPae: TemporalPaeOptions;
}

/** Every model the factory builds. */
export type ModelConfig = PirModelConfig | PriorClipConfig;

/** The kinds. */
export type ModelKind = ModelConfig['kind'];
export const MODEL_KINDS: readonly ModelKind[] = ['pir-small', 'pir', 'priorclip'];
