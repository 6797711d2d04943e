/**
 * Kit PriorCLIP config (camelCase) ⇄ the PriorCLIP open_clip fork's `model_configs/*.json` schema
 * (snake_case: `{embed_dim, vision_cfg: {…, res_layers, res_width, output_tokens}, text_cfg: {…}}`,
 * the keys of the fork's `CLIPVisionCfg` / `CLIPTextCfg` dataclasses and `CLIP.__init__`).
 *
 * The keys are renamed through the one table of `open_clip_keys.ts`, both directions; an open_clip
 * JSON key the table does not have is refused naming its path (nothing is dropped silently).
 * What maps: every size of the model. What does not: the kit's `softBelief` switch (the fork's HEAD
 * has only the `head` formula), and a vocabulary other than CLIP BPE's 49,408 tokens (the fork
 * always tokenizes with CLIP BPE). Both throw, naming the key.
 */
import { PriorClipConfig, DEFAULT_LOGIT_SCALE, resolvePriorClipConfig } from '../models/open_clip/config';
import { CLIP_VOCAB_SIZE } from '../data/clip_tokenizer';
import { kitToOpenClipKeys, openClipToKitKeys } from './open_clip_keys';

/** `vision_cfg` as the fork reads it (open_clip `CLIPVisionCfg` + the fork's prior sizes). */
export interface ForkVisionCfg {
  /** Kit `vision.imageSize`. */
  image_size: number;
  /** Kit `vision.layers`. */
  layers: number;
  /** Kit `vision.width`. */
  width: number;
  /** Kit `vision.patchSize`. */
  patch_size: number;
  /** Kit `vision.headWidth`. */
  head_width: number;
  /** Kit `vision.mlpRatio`. */
  mlp_ratio: number;
  /** Kit `vision.outputTokens`. */
  output_tokens: boolean;
  /** Kit `vision.resLayers`. */
  res_layers: number[];
  /** Kit `vision.resWidth`. */
  res_width: number;
}

/** `text_cfg` as the fork reads it (open_clip `CLIPTextCfg`). */
export interface ForkTextCfg {
  /** Kit `text.contextLength`. */
  context_length: number;
  /** Kit `text.vocabSize`. */
  vocab_size: number;
  /** Kit `text.width`. */
  width: number;
  /** Kit `text.heads`. */
  heads: number;
  /** Kit `text.layers`. */
  layers: number;
  /** Kit `text.mlpRatio`. */
  mlp_ratio: number;
}

/** A model config file of the fork (`src/open_clip/model_configs/<name>.json`). */
export interface ForkModelConfig {
  /** Kit `embedDim`. */
  embed_dim: number;
  /** Kit `quickGelu`; only written when true (PIR.json leaves it out: exact GELU). */
  quick_gelu?: boolean;
  /** Kit `initLogitScale`; only written when it differs from open_clip's ln(1/0.07). */
  init_logit_scale?: number;
  /** Kit `vision`. */
  vision_cfg: ForkVisionCfg;
  /** Kit `text`. */
  text_cfg: ForkTextCfg;
}

/** Input width / output width the fork hard-codes for `vision_proj_res` (`nn.Linear(512, 768)`). */
export const FORK_VISION_PROJ_RES = { inFeatures: 512, outFeatures: 768 } as const;

/** The fork's file name stem for a kit config: letters, digits, '-', '_', '.'. */
export function forkModelName(cfg: PriorClipConfig): string {
  const n = cfg.name.replace(/[^A-Za-z0-9._-]+/g, '-');
  if (n.length === 0) throw new Error(`model config: name "${cfg.name}" gives an empty fork model name`);
  return n;
}

/** True when the fork's hard-coded `vision_proj_res` does not fit (anything but embed 512 / ViT width 768). */
export function needsProjectionPatch(cfg: PriorClipConfig): boolean {
  return cfg.embedDim !== FORK_VISION_PROJ_RES.inFeatures || cfg.vision.width !== FORK_VISION_PROJ_RES.outFeatures;
}

/** The kit config in the fork's schema. Throws (naming the key) for what the fork cannot build. */
export function toForkModelConfig(cfg: PriorClipConfig, source = 'model config'): ForkModelConfig {
  if (cfg.softBelief !== 'head') {
    throw new Error(
      `${source}: softBelief '${cfg.softBelief}' has no counterpart in the fork at ${'907ad0f'}: its VisionTransformer implements only the 'head' formula ` +
        `(x·b + x·w); 'c20bbe30' needs the fork's transformer.py of that commit, 'none' a plain open_clip ViT-B/32 config`,
    );
  }
  if (cfg.text.vocabSize !== CLIP_VOCAB_SIZE) {
    throw new Error(
      `${source}: text.vocabSize is ${cfg.text.vocabSize}, but the fork tokenizes with CLIP BPE (${CLIP_VOCAB_SIZE} tokens): ` +
        `export a config with text.vocabSize ${CLIP_VOCAB_SIZE} (e.g. --set model.text.vocabSize=${CLIP_VOCAB_SIZE})`,
    );
  }
  // kind, name and softBelief are the kit's (no open_clip field); the two defaults are left out as PIR.json does
  const { kind: _kind, name: _name, softBelief: _belief, quickGelu, initLogitScale, ...sizes } = cfg;
  const kit: Record<string, unknown> = { ...sizes };
  if (quickGelu) kit.quickGelu = true;
  if (initLogitScale !== DEFAULT_LOGIT_SCALE) kit.initLogitScale = initLogitScale;
  return kitToOpenClipKeys(kit, source) as unknown as ForkModelConfig;
}

/**
 * A fork (open_clip, snake_case) model config file read back as a kit config: keys renamed by the
 * table, an unknown key is an error naming its path, then resolved like any kit config.
 */
export function fromForkModelConfig(json: unknown, name: string, source = 'fork model config'): PriorClipConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new Error(`${source}: expected a JSON object with embed_dim, vision_cfg, text_cfg`);
  for (const k of ['embed_dim', 'vision_cfg', 'text_cfg']) {
    if (!(k in json)) throw new Error(`${source}: missing '${k}' (the fork only registers configs with embed_dim, vision_cfg and text_cfg)`);
  }
  return resolvePriorClipConfig({ ...openClipToKitKeys(json, source), kind: 'priorclip', name, softBelief: 'head' }, source);
}
