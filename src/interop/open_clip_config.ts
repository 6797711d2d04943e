/**
 * Kit PriorCLIP config ⇄ the PriorCLIP open_clip fork's `model_configs/*.json` schema
 * (`{embed_dim, vision_cfg: {…, res_layers, res_width, output_tokens}, text_cfg: {…}}`, the keys of
 * the fork's `CLIPVisionCfg` / `CLIPTextCfg` dataclasses and `CLIP.__init__`).
 *
 * What maps: every size of the model. What does not: the kit's `soft_belief` switch (the fork's HEAD
 * has only the `head` formula), and a vocabulary other than CLIP BPE's 49,408 tokens (the fork
 * always tokenizes with CLIP BPE). Both throw, naming the key.
 */
import { OpenClipTextCfg, OpenClipVisionCfg, PriorClipConfig, DEFAULT_LOGIT_SCALE, resolvePriorClipConfig } from '../models/open_clip/config';
import { CLIP_VOCAB_SIZE } from '../data/clip_tokenizer';

/** `vision_cfg` as the fork reads it: the same keys as the kit's open_clip config. */
export type ForkVisionCfg = OpenClipVisionCfg;

/** `text_cfg` as the fork reads it: the same keys as the kit's open_clip config. */
export type ForkTextCfg = OpenClipTextCfg;

/** A model config file of the fork (`src/open_clip/model_configs/<name>.json`). */
export interface ForkModelConfig {
  embed_dim: number;
  /** Only written when true (PIR.json leaves it out: exact GELU). */
  quick_gelu?: boolean;
  /** Only written when it differs from open_clip's ln(1/0.07). */
  init_logit_scale?: number;
  vision_cfg: ForkVisionCfg;
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
  return cfg.embed_dim !== FORK_VISION_PROJ_RES.inFeatures || cfg.vision_cfg.width !== FORK_VISION_PROJ_RES.outFeatures;
}

/** The kit config in the fork's schema. Throws (naming the key) for what the fork cannot build. */
export function toForkModelConfig(cfg: PriorClipConfig, source = 'model config'): ForkModelConfig {
  if (cfg.soft_belief !== 'head') {
    throw new Error(
      `${source}: soft_belief '${cfg.soft_belief}' has no counterpart in the fork at ${'907ad0f'}: its VisionTransformer implements only the 'head' formula ` +
        `(x·b + x·w); 'c20bbe30' needs the fork's transformer.py of that commit, 'none' a plain open_clip ViT-B/32 config`,
    );
  }
  if (cfg.text_cfg.vocab_size !== CLIP_VOCAB_SIZE) {
    throw new Error(
      `${source}: text_cfg.vocab_size is ${cfg.text_cfg.vocab_size}, but the fork tokenizes with CLIP BPE (${CLIP_VOCAB_SIZE} tokens): ` +
        `export a config with text_cfg.vocab_size ${CLIP_VOCAB_SIZE} (e.g. --set model.text_cfg.vocab_size=${CLIP_VOCAB_SIZE})`,
    );
  }
  const v = cfg.vision_cfg;
  const t = cfg.text_cfg;
  const out: ForkModelConfig = {
    embed_dim: cfg.embed_dim,
    vision_cfg: {
      image_size: v.image_size,
      layers: v.layers,
      width: v.width,
      patch_size: v.patch_size,
      head_width: v.head_width,
      mlp_ratio: v.mlp_ratio,
      output_tokens: v.output_tokens,
      res_layers: [...v.res_layers],
      res_width: v.res_width,
    },
    text_cfg: { context_length: t.context_length, vocab_size: t.vocab_size, width: t.width, heads: t.heads, layers: t.layers, mlp_ratio: t.mlp_ratio },
  };
  if (cfg.quick_gelu) out.quick_gelu = true;
  if (cfg.init_logit_scale !== DEFAULT_LOGIT_SCALE) out.init_logit_scale = cfg.init_logit_scale;
  return out;
}

/** A fork model config file read back as a kit config (unknown keys are errors naming the path). */
export function fromForkModelConfig(json: unknown, name: string, source = 'fork model config'): PriorClipConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new Error(`${source}: expected a JSON object with embed_dim, vision_cfg, text_cfg`);
  for (const k of ['embed_dim', 'vision_cfg', 'text_cfg']) {
    if (!(k in json)) throw new Error(`${source}: missing '${k}' (the fork only registers configs with embed_dim, vision_cfg and text_cfg)`);
  }
  return resolvePriorClipConfig({ ...(json as Record<string, unknown>), kind: 'priorclip', name, soft_belief: 'head' }, source);
}
