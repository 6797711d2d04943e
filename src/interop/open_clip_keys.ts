/**
 * The one mapping table between the kit's PriorCLIP model config (camelCase, like every kit config)
 * and open_clip's model-config JSON (snake_case: `embed_dim`, `vision_cfg.image_size`,
 * `text_cfg.context_length`, the fields of open_clip's `CLIPVisionCfg` / `CLIPTextCfg` dataclasses
 * and `CLIP.__init__`).
 *
 * open_clip's spelling lives only here, at the interop boundary: `src/interop/open_clip_config.ts`
 * converts whole files with it (`toForkModelConfig` / `fromForkModelConfig`), and the kit's config
 * resolution (`resolvePriorClipConfig`, `mergeExperiment`) uses it only to refuse an old snake_case key
 * with the camelCase spelling (`refuseOpenClipKeys`). This file imports nothing of the model so the
 * model layer can use it without an import cycle.
 */
import { ConfigError } from '../utils/merge_config';

/** open_clip key → kit key, for one level of the config. */
export type KeyTable = Readonly<Record<string, string>>;

/** Top level: open_clip `CLIP.__init__` / model-config keys → kit PriorCLIP config keys. */
export const OPEN_CLIP_TOP_KEYS: KeyTable = {
  embed_dim: 'embedDim',
  quick_gelu: 'quickGelu',
  init_logit_scale: 'initLogitScale',
  vision_cfg: 'vision',
  text_cfg: 'text',
};

/** `vision_cfg` (open_clip `CLIPVisionCfg`, plus the PriorCLIP fork's `res_layers` / `res_width`) → kit `vision`. */
export const OPEN_CLIP_VISION_KEYS: KeyTable = {
  image_size: 'imageSize',
  layers: 'layers',
  width: 'width',
  patch_size: 'patchSize',
  head_width: 'headWidth',
  mlp_ratio: 'mlpRatio',
  output_tokens: 'outputTokens',
  res_layers: 'resLayers',
  res_width: 'resWidth',
};

/** `text_cfg` (open_clip `CLIPTextCfg`) → kit `text`. */
export const OPEN_CLIP_TEXT_KEYS: KeyTable = {
  context_length: 'contextLength',
  vocab_size: 'vocabSize',
  width: 'width',
  heads: 'heads',
  layers: 'layers',
  mlp_ratio: 'mlpRatio',
};

/** The nested blocks: open_clip block key → its table. */
const BLOCK_TABLES: Readonly<Record<string, KeyTable>> = { vision_cfg: OPEN_CLIP_VISION_KEYS, text_cfg: OPEN_CLIP_TEXT_KEYS };

/**
 * Keys the kit's PriorCLIP config once spelled in snake_case that are kit switches, not open_clip
 * fields (so they are not in the interop table): old spelling → camelCase.
 */
export const KIT_ONLY_RENAMED_KEYS: KeyTable = { soft_belief: 'softBelief' };

/** Where the interop conversion lives, for error messages. */
export const OPEN_CLIP_CONVERTER = 'fromForkModelConfig() in src/interop/open_clip_config.ts';

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** open_clip key → kit key of a table (inverted), for the kit → open_clip direction. */
function invert(table: KeyTable): KeyTable {
  return Object.fromEntries(Object.entries(table).map(([k, v]) => [v, k]));
}

/** Rename the keys of one level through `table`; a key not in the table throws naming its path. */
function renameLevel(obj: Record<string, unknown>, table: KeyTable, source: string, prefix: string, what: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) {
    const to = table[k];
    const keyPath = prefix ? `${prefix}.${k}` : k;
    if (to === undefined) throw new ConfigError(`${source}: unknown ${what} key '${keyPath}' (known here: ${Object.keys(table).join(', ')})`, keyPath);
    out[to] = Array.isArray(v) ? [...(v as unknown[])] : v;
  }
  return out;
}

/**
 * An open_clip model-config JSON (snake_case) with its keys renamed to the kit's (camelCase); values
 * are copied as they are (the kit's `resolvePriorClipConfig` checks them). A key open_clip's table
 * does not have is refused, naming its path (no silent drop).
 */
export function openClipToKitKeys(json: unknown, source = 'open_clip model config'): Record<string, unknown> {
  if (!isPlainObject(json)) throw new ConfigError(`${source}: expected a JSON object (an open_clip model config)`, '');
  const top = renameLevel(json, OPEN_CLIP_TOP_KEYS, source, '', 'open_clip model-config');
  for (const [block, table] of Object.entries(BLOCK_TABLES)) {
    const kitBlock = OPEN_CLIP_TOP_KEYS[block];
    if (!(kitBlock in top)) continue;
    const b = top[kitBlock];
    if (!isPlainObject(b)) throw new ConfigError(`${source}: '${block}' must be an object`, block);
    top[kitBlock] = renameLevel(b, table, source, block, `open_clip ${block}`);
  }
  return top;
}

/**
 * A kit PriorCLIP config (or part of one, camelCase) with its keys renamed to open_clip's. Only
 * keys of the table are converted; any other key (the kit's `kind`, `name`, `softBelief`, which
 * open_clip has no field for) throws naming its path, so the caller decides what to leave out.
 */
export function kitToOpenClipKeys(cfg: Record<string, unknown>, source = 'kit model config'): Record<string, unknown> {
  const top = renameLevel(cfg, invert(OPEN_CLIP_TOP_KEYS), source, '', 'kit PriorCLIP config (no open_clip field for it)');
  for (const [block, table] of Object.entries(BLOCK_TABLES)) {
    if (!(block in top)) continue;
    const b = top[block];
    if (!isPlainObject(b)) throw new ConfigError(`${source}: '${OPEN_CLIP_TOP_KEYS[block]}' must be an object`, OPEN_CLIP_TOP_KEYS[block]);
    top[block] = renameLevel(b, invert(table), source, OPEN_CLIP_TOP_KEYS[block], 'kit PriorCLIP config (no open_clip field for it)');
  }
  return top;
}

/** The old (snake_case) spellings found in a kit PriorCLIP config override: `[old path, camelCase path]`. */
export function oldOpenClipKeys(override: unknown, prefix = ''): [string, string][] {
  const found: [string, string][] = [];
  if (!isPlainObject(override)) return found;
  const join = (p: string, k: string): string => (p ? `${p}.${k}` : k);
  const topNew = { ...OPEN_CLIP_TOP_KEYS, ...KIT_ONLY_RENAMED_KEYS };
  for (const [k, v] of Object.entries(override)) {
    const renamed = topNew[k];
    const kitBlock = renamed ?? k;
    const table = kitBlock === 'vision' ? OPEN_CLIP_VISION_KEYS : kitBlock === 'text' ? OPEN_CLIP_TEXT_KEYS : null;
    if (table && isPlainObject(v)) {
      // report leaves, so the message names e.g. `model.vision_cfg.image_size` → `model.vision.imageSize`
      for (const sub of Object.keys(v)) {
        const subNew = table[sub] ?? sub;
        if (renamed !== undefined || subNew !== sub) found.push([join(join(prefix, k), sub), join(join(prefix, kitBlock), subNew)]);
      }
      if (renamed !== undefined && Object.keys(v).length === 0) found.push([join(prefix, k), join(prefix, kitBlock)]);
    } else if (renamed !== undefined) {
      found.push([join(prefix, k), join(prefix, renamed)]);
    }
  }
  return found;
}

/**
 * Throw a `ConfigError` when a kit PriorCLIP config override spells a key the old open_clip way
 * (`vision_cfg.image_size`, `embed_dim`, `soft_belief`, …): the message names every such path, its
 * camelCase spelling, and the interop function that converts a real open_clip JSON.
 * @param prefix the override's own path (`model` for an experiment's model section).
 */
export function refuseOpenClipKeys(override: unknown, source: string, prefix = ''): void {
  const old = oldOpenClipKeys(override, prefix);
  if (old.length === 0) return;
  const list = old.map(([o, n]) => `'${o}' (write '${n}')`).join(', ');
  throw new ConfigError(
    `${source}: old snake_case PriorCLIP key${old.length > 1 ? 's' : ''} ${list}: kit PriorCLIP configs are camelCase like every kit config; ` +
      `snake_case is open_clip's model-config JSON, which ${OPEN_CLIP_CONVERTER} converts (it is not merged as a kit config)`,
    old[0][0],
  );
}
