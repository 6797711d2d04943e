/**
 * The kit's PriorCLIP model config: camelCase like every kit config (`embedDim`, `vision.imageSize`,
 * `text.contextLength`), the sizes of open_clip's `model_configs/PIR.json` plus the kit's few extra
 * switches (`softBelief`).
 *
 * The defaults ARE PIR.json (ViT-B/32 with the RN50-style prior, `src/configs/models/priorclip-vit-b-32.json`),
 * so any kit override is merged onto them; an unknown key is an error naming its path, and an old
 * snake_case key (open_clip's spelling, `vision_cfg.image_size`) is an error naming the camelCase
 * one. An open_clip JSON itself is converted by `fromForkModelConfig` / `toForkModelConfig`
 * (`src/interop/open_clip_config.ts`, one key table in `src/interop/open_clip_keys.ts`).
 */
import { mergeConfig } from '../../utils/merge_config';
import { refuseOpenClipKeys } from '../../interop/open_clip_keys';
import { readModelJson } from '../model_json';
import { RESNET_REDUCTION } from './modified_resnet';
import { VitBelief } from './vision_transformer';

/** `vision` of a PriorCLIP config: the ViT and the prior ResNet (open_clip `vision_cfg`). */
export interface PriorClipVisionConfig {
  /** Input image side in pixels (224; open_clip `image_size`). */
  imageSize: number;
  /** ViT blocks (12; open_clip `layers`). */
  layers: number;
  /** ViT width (768; open_clip `width`). */
  width: number;
  /** Patch side (32; open_clip `patch_size`). */
  patchSize: number;
  /** Width per attention head; heads = width / headWidth (open_clip `head_width`, default 64). Also sets the prior pool's heads. */
  headWidth: number;
  /** MLP expansion of the ViT blocks (open_clip `mlp_ratio`, default 4). */
  mlpRatio: number;
  /** open_clip `output_tokens` (also return patch tokens); kept for the round trip to open_clip, no effect here. */
  outputTokens: boolean;
  /** Bottlenecks per stage of the prior ResNet ([3,4,6,3]; the fork's `res_layers`). */
  resLayers: number[];
  /** Base width of the prior ResNet (64; the fork's `res_width`); its attention pool is `32·resWidth` wide. */
  resWidth: number;
}

/** `text` of a PriorCLIP config: the text tower (open_clip `text_cfg`). */
export interface PriorClipTextConfig {
  /** Token rows length (77; open_clip `context_length`). */
  contextLength: number;
  /** Vocabulary size (49408 = CLIP BPE; open_clip `vocab_size`). */
  vocabSize: number;
  /** Width (512). */
  width: number;
  /** Heads (8). */
  heads: number;
  /** Blocks (12). */
  layers: number;
  /** MLP expansion (open_clip `mlp_ratio`, default 4). */
  mlpRatio: number;
}

/** A PriorCLIP (open_clip "PIR") model config. */
export interface PriorClipConfig {
  /** Factory discriminator. */
  kind: 'priorclip';
  /** Human name of the preset. */
  name: string;
  /** Joint embedding width (512; open_clip `embed_dim`). Also the prior's attention-pool output width. */
  embedDim: number;
  /** open_clip `quick_gelu`: false in PIR.json (exact GELU everywhere). */
  quickGelu: boolean;
  /** The vision towers: ViT and prior ResNet (open_clip `vision_cfg`). */
  vision: PriorClipVisionConfig;
  /** The text tower (open_clip `text_cfg`). */
  text: PriorClipTextConfig;
  /**
   * Soft-belief formula of the ViT: `head` (`x·b + x·w`, reference HEAD 9554baf), `c20bbe30`
   * (`2·x·b`, first public version) or `none` (plain CLIP ViT, no prior, CLS pooling). A kit switch:
   * open_clip's config has no field for it.
   */
  softBelief: VitBelief;
  /** Initial `logit_scale` parameter (open_clip `init_logit_scale`, ln(1/0.07)); the model uses exp() of it. */
  initLogitScale: number;
}

/** open_clip's `logit_scale` init, ln(1/0.07). */
export const DEFAULT_LOGIT_SCALE = Math.log(1 / 0.07);

/** PIR.json (the full-size open-domain PriorCLIP, ViT-B/32 + RN50-style prior): `src/configs/models/priorclip-vit-b-32.json`. */
export const PRIORCLIP_VIT_B_32: PriorClipConfig = referencePreset();

/** The reference preset is the schema: refuse it, too, if it still spells a key the old snake_case way. */
function referencePreset(): PriorClipConfig {
  const raw = readModelJson('priorclip-vit-b-32');
  refuseOpenClipKeys(raw, 'src/configs/models/priorclip-vit-b-32.json');
  return raw as unknown as PriorClipConfig;
}

/** Sizes derived from a config (as open_clip's `_build_vision_tower` derives them). */
export interface PriorClipDerived {
  visionHeads: number;
  grid: number;
  vitTokens: number;
  priorPoolWidth: number;
  priorPoolHeads: number;
  priorPoolPositions: number;
}

/** Derived sizes; throws naming the config key when sizes do not divide. */
export function derivePriorClip(cfg: PriorClipConfig, source = 'priorclip config'): PriorClipDerived {
  const v = cfg.vision;
  const t = cfg.text;
  const check = (ok: boolean, msg: string): void => {
    if (!ok) throw new Error(`${source}: ${msg}`);
  };
  check(v.width % v.headWidth === 0, `vision.width ${v.width} is not a multiple of vision.headWidth ${v.headWidth}`);
  check(v.imageSize >= v.patchSize, `vision.imageSize ${v.imageSize} is smaller than vision.patchSize ${v.patchSize}`);
  // The prior's feature map side after the stem (conv s2 pad 1 = ceil(S/2), avgpool 2) and three
  // stride-2 stages (avgpool, floor) must equal the attention pool's `imageSize // 32`.
  let side = Math.floor(Math.ceil(v.imageSize / 2) / 2);
  for (let i = 0; i < 3; i++) side = Math.floor(side / 2);
  check(
    side >= 1 && side === Math.floor(v.imageSize / RESNET_REDUCTION),
    `vision.imageSize ${v.imageSize} gives a ${side}×${side} prior feature map, but the attention pool expects imageSize // 32 = ${Math.floor(v.imageSize / RESNET_REDUCTION)}`,
  );
  const poolWidth = v.resWidth * RESNET_REDUCTION;
  check(poolWidth % v.headWidth === 0, `prior pool width vision.resWidth·32 = ${poolWidth} is not a multiple of vision.headWidth ${v.headWidth}`);
  check(v.resLayers.length === 4 && v.resLayers.every((n) => Number.isInteger(n) && n >= 1), `vision.resLayers must be 4 positive integers, got ${JSON.stringify(v.resLayers)}`);
  check(t.width % t.heads === 0, `text.width ${t.width} is not divisible by text.heads ${t.heads}`);
  const grid = Math.floor(v.imageSize / v.patchSize);
  return {
    visionHeads: v.width / v.headWidth,
    grid,
    vitTokens: grid * grid + 1,
    priorPoolWidth: poolWidth,
    priorPoolHeads: poolWidth / v.headWidth,
    priorPoolPositions: side * side + 1,
  };
}

/**
 * Merge a kit (camelCase) config object onto PIR.json defaults: an unknown key is an error naming
 * its path, an old snake_case key (open_clip's spelling) one naming the camelCase key and the
 * interop converter. `prefix` is the override's own path in its file (`model` in an experiment).
 */
export function resolvePriorClipConfig(override: unknown, source = 'priorclip config', prefix = ''): PriorClipConfig {
  refuseOpenClipKeys(override, source, prefix);
  const cfg = mergeConfig(PRIORCLIP_VIT_B_32, override, source, prefix);
  if (cfg.kind !== 'priorclip') throw new Error(`${source}: kind must be 'priorclip', got '${String(cfg.kind)}'`);
  if (!['head', 'c20bbe30', 'none'].includes(cfg.softBelief)) {
    throw new Error(`${source}: softBelief must be 'head', 'c20bbe30' or 'none', got '${cfg.softBelief}'`);
  }
  derivePriorClip(cfg, source);
  return cfg;
}
