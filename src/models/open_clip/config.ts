/**
 * open_clip model config for PriorCLIP, in the format of open_clip's `model_configs/PIR.json`
 * (snake_case keys, `vision_cfg` / `text_cfg`), plus the kit's few extra switches.
 *
 * The defaults ARE PIR.json (ViT-B/32 with the RN50-style prior), so any open_clip config file can be
 * merged onto them; an unknown key is an error naming its path.
 */
import { mergeConfig } from '../../utils/merge_config';
import { readModelJson } from '../model_json';
import { RESNET_REDUCTION } from './modified_resnet';
import { VitBelief } from './vision_transformer';

/** `vision_cfg` of an open_clip config (the keys PriorCLIP's PIR.json uses + `head_width`). */
export interface OpenClipVisionCfg {
  /** Input image side in pixels (224). */
  image_size: number;
  /** ViT blocks (12). */
  layers: number;
  /** ViT width (768). */
  width: number;
  /** Patch side (32). */
  patch_size: number;
  /** Width per attention head; heads = width / head_width (open_clip default 64). Also sets the prior pool's heads. */
  head_width: number;
  /** MLP expansion of the ViT blocks (open_clip default 4). */
  mlp_ratio: number;
  /** open_clip flag to also return patch tokens; accepted for config compatibility, no effect here. */
  output_tokens: boolean;
  /** Bottlenecks per stage of the prior ResNet ([3,4,6,3]). */
  res_layers: number[];
  /** Base width of the prior ResNet (64); its attention pool is `32·res_width` wide. */
  res_width: number;
}

/** `text_cfg` of an open_clip config. */
export interface OpenClipTextCfg {
  /** Token rows length (77). */
  context_length: number;
  /** Vocabulary size (49408). */
  vocab_size: number;
  /** Width (512). */
  width: number;
  /** Heads (8). */
  heads: number;
  /** Blocks (12). */
  layers: number;
  /** MLP expansion (open_clip default 4). */
  mlp_ratio: number;
}

/** A PriorCLIP (open_clip "PIR") model config. */
export interface PriorClipConfig {
  /** Factory discriminator. */
  kind: 'priorclip';
  /** Human name of the preset. */
  name: string;
  /** Joint embedding width (512). Also the prior's attention-pool output width. */
  embed_dim: number;
  /** open_clip `quick_gelu`: false in PIR.json (exact GELU everywhere). */
  quick_gelu: boolean;
  vision_cfg: OpenClipVisionCfg;
  text_cfg: OpenClipTextCfg;
  /**
   * Soft-belief formula of the ViT: `head` (`x·b + x·w`, reference HEAD 9554baf), `c20bbe30`
   * (`2·x·b`, first public version) or `none` (plain CLIP ViT, no prior, CLS pooling).
   */
  soft_belief: VitBelief;
  /** Initial `logit_scale` parameter (open_clip: ln(1/0.07)); the model uses exp() of it. */
  init_logit_scale: number;
}

/** open_clip's `logit_scale` init, ln(1/0.07). */
export const DEFAULT_LOGIT_SCALE = Math.log(1 / 0.07);

/** PIR.json (the full-size open-domain PriorCLIP, ViT-B/32 + RN50-style prior): `src/configs/models/priorclip-vit-b-32.json`. */
export const PRIORCLIP_VIT_B_32: PriorClipConfig = readModelJson('priorclip-vit-b-32') as unknown as PriorClipConfig;

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
  const v = cfg.vision_cfg;
  const t = cfg.text_cfg;
  const check = (ok: boolean, msg: string): void => {
    if (!ok) throw new Error(`${source}: ${msg}`);
  };
  check(v.width % v.head_width === 0, `vision_cfg.width ${v.width} is not a multiple of vision_cfg.head_width ${v.head_width}`);
  check(v.image_size >= v.patch_size, `vision_cfg.image_size ${v.image_size} is smaller than patch_size ${v.patch_size}`);
  // The prior's feature map side after the stem (conv s2 pad 1 = ceil(S/2), avgpool 2) and three
  // stride-2 stages (avgpool, floor) must equal the attention pool's `image_size // 32`.
  let side = Math.floor(Math.ceil(v.image_size / 2) / 2);
  for (let i = 0; i < 3; i++) side = Math.floor(side / 2);
  check(
    side >= 1 && side === Math.floor(v.image_size / RESNET_REDUCTION),
    `vision_cfg.image_size ${v.image_size} gives a ${side}×${side} prior feature map, but the attention pool expects image_size // 32 = ${Math.floor(v.image_size / RESNET_REDUCTION)}`,
  );
  const poolWidth = v.res_width * RESNET_REDUCTION;
  check(poolWidth % v.head_width === 0, `prior pool width res_width·32 = ${poolWidth} is not a multiple of vision_cfg.head_width ${v.head_width}`);
  check(v.res_layers.length === 4 && v.res_layers.every((n) => Number.isInteger(n) && n >= 1), `vision_cfg.res_layers must be 4 positive integers, got ${JSON.stringify(v.res_layers)}`);
  check(t.width % t.heads === 0, `text_cfg.width ${t.width} is not divisible by text_cfg.heads ${t.heads}`);
  const grid = Math.floor(v.image_size / v.patch_size);
  return {
    visionHeads: v.width / v.head_width,
    grid,
    vitTokens: grid * grid + 1,
    priorPoolWidth: poolWidth,
    priorPoolHeads: poolWidth / v.head_width,
    priorPoolPositions: side * side + 1,
  };
}

/** Merge an open_clip / kit config object onto PIR.json defaults (unknown keys → error naming the path). */
export function resolvePriorClipConfig(override: unknown, source = 'priorclip config'): PriorClipConfig {
  const cfg = mergeConfig(PRIORCLIP_VIT_B_32, override, source);
  if (cfg.kind !== 'priorclip') throw new Error(`${source}: kind must be 'priorclip', got '${String(cfg.kind)}'`);
  if (!['head', 'c20bbe30', 'none'].includes(cfg.soft_belief)) {
    throw new Error(`${source}: soft_belief must be 'head', 'c20bbe30' or 'none', got '${cfg.soft_belief}'`);
  }
  derivePriorClip(cfg, source);
  return cfg;
}
