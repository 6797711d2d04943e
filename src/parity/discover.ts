/**
 * Find the parity cases in a fixture directory and detect each one's type.
 *
 * A case is a `<case>.safetensors` (its `<case>.json` sidecar is optional but expected), or a JSON
 * that lists a full model's state_dict keys (`keys: [{key, shape, dtype}]`, e.g.
 * `priorclip_vitb32_keys.json`). PyTorch checkpoints `<case>_*.pt|.pth` are attached to the case
 * whose name prefixes theirs (checkpoints matching no case go to every `priorclip` case).
 *
 * The type comes, in order, from the JSON `case` field, the reference class/function, the file
 * name, and finally the tensor names (hidden fixtures may be named differently).
 */
import * as fs from 'fs';
import * as path from 'path';
import { readJson } from '../utils/fs';
import { readSafetensorsFileIndex } from '../io/safetensors';

/** The case types the parity command knows. */
export const CASE_TYPES = [
  'pir_blocks',
  'spatial_pae',
  'temporal_pae',
  'soft_belief',
  'priorclip',
  'priorclip_keys',
  'losses',
  'retrieval',
  'clip_tokenizer',
] as const;
export type CaseType = (typeof CASE_TYPES)[number];

/** `detectedBy` of a case nothing identifies (reported NOT IMPLEMENTED; other unknown cases are mismatched files, reported ERROR). */
export const NOTHING_MATCHED = 'nothing matched';

/** One discovered case. */
export interface DiscoveredCase {
  name: string;
  dir: string;
  /** `<case>.safetensors` (absent for key-list cases). */
  safetensors: string | null;
  /** `<case>.json` when present. */
  json: string | null;
  /** PyTorch checkpoints attached to the case. */
  checkpoints: string[];
  type: CaseType | 'unknown';
  detectedBy: string;
}

const NAME_ALIASES: [RegExp, CaseType][] = [
  [/^pir_?blocks?/i, 'pir_blocks'],
  [/^spatial_?pae/i, 'spatial_pae'],
  [/^temporal_?pae/i, 'temporal_pae'],
  [/^soft_?belief/i, 'soft_belief'],
  [/^priorclip.*keys/i, 'priorclip_keys'],
  [/^priorclip/i, 'priorclip'],
  [/^loss/i, 'losses'],
  [/^retrieval/i, 'retrieval'],
  [/^clip_?tokeni[sz]er/i, 'clip_tokenizer'],
];

function byName(s: string): CaseType | null {
  for (const [re, t] of NAME_ALIASES) if (re.test(s)) return t;
  return null;
}

/** Type from tensor names alone. */
export function typeFromTensorNames(names: readonly string[]): CaseType | null {
  const has = (n: string): boolean => names.includes(n);
  const any = (re: RegExp): boolean => names.some((n) => re.test(n));
  if (any(/^param\/res_visual\./) && any(/^param\/visual\.conv1\.weight$/)) return 'priorclip';
  if (any(/^output\/(mhsa|crosa)/)) return 'pir_blocks';
  if (has('output/kept_idx') || has('output/S_final') || has('output/v_emb')) return 'spatial_pae';
  if (has('output/X_final') || has('output/t_emb')) return 'temporal_pae';
  if (any(/^output\/(head|c20bbe30)\/tokens$/) || has('output/index_weights')) return 'soft_belief';
  if (any(/^output\/(pir|openclip)/)) return 'losses';
  if (has('input/sims') || any(/^output\/(itm_eval|recall_at_k)\//)) return 'retrieval';
  if (has('output/ids')) return 'clip_tokenizer';
  return null;
}

function referenceText(json: Record<string, unknown>): string {
  const r = json.reference as Record<string, unknown> | undefined;
  if (!r) return '';
  const parts: string[] = [];
  for (const k of ['class', 'function']) if (typeof r[k] === 'string') parts.push(r[k] as string);
  return parts.join(' ');
}

/** Detect the type of a case. */
export function detectType(
  name: string,
  json: Record<string, unknown> | null,
  tensorNames: readonly string[] | null,
): { type: CaseType | 'unknown'; detectedBy: string } {
  if (json && Array.isArray(json.keys) && !tensorNames) return { type: 'priorclip_keys', detectedBy: 'content (state_dict key list)' };
  const fromContent = tensorNames ? typeFromTensorNames(tensorNames) : null;
  if (json && typeof json.case === 'string') {
    const t = (CASE_TYPES as readonly string[]).includes(json.case) ? (json.case as CaseType) : byName(json.case);
    if (t && (fromContent === null || fromContent === t)) return { type: t, detectedBy: `json case '${json.case}'` };
    if (t && fromContent !== null) return { type: 'unknown', detectedBy: `${name}.json says case '${json.case}' but ${name}.safetensors holds a '${fromContent}' fixture: mismatched files` };
  }
  const named = byName(name);
  if (named !== null && fromContent !== null && named !== fromContent) {
    return { type: 'unknown', detectedBy: `the name '${name}' says '${named}' but the tensors are a '${fromContent}' fixture: mismatched files` };
  }
  if (fromContent) return { type: fromContent, detectedBy: 'content' };
  if (json) {
    const ref = referenceText(json);
    if (/SimpleTokenizer/.test(ref)) return { type: 'clip_tokenizer', detectedBy: 'json reference' };
  }
  const t = byName(name);
  if (t) return { type: t, detectedBy: 'name prefix' };
  return { type: 'unknown', detectedBy: NOTHING_MATCHED };
}

/** List and type every case in `dir` (sorted by name). */
export function discoverCases(dir: string): DiscoveredCase[] {
  if (!fs.existsSync(dir)) throw new Error(`fixture directory ${dir} does not exist`);
  if (!fs.statSync(dir).isDirectory()) throw new Error(`${dir} is a file: give the folder that holds the <case>.safetensors + <case>.json fixtures`);
  const files = fs.readdirSync(dir).sort();
  const cases: DiscoveredCase[] = [];
  const stems = new Set<string>();
  for (const f of files) {
    if (!f.endsWith('.safetensors')) continue;
    const name = f.slice(0, -'.safetensors'.length);
    stems.add(name);
    const jsonFile = path.join(dir, `${name}.json`);
    const json = fs.existsSync(jsonFile) ? readJson<Record<string, unknown>>(jsonFile) : null;
    let names: string[] = [];
    try {
      names = [...readSafetensorsFileIndex(path.join(dir, f)).keys()]; // header only
    } catch {
      names = [];
    }
    const { type, detectedBy } = detectType(name, json, names);
    cases.push({ name, dir, safetensors: path.join(dir, f), json: json ? jsonFile : null, checkpoints: [], type, detectedBy });
  }
  for (const f of files) {
    if (!f.endsWith('.json')) continue;
    const name = f.slice(0, -'.json'.length);
    if (stems.has(name)) continue;
    let json: Record<string, unknown>;
    try {
      json = readJson<Record<string, unknown>>(path.join(dir, f));
    } catch {
      continue;
    }
    if (Array.isArray(json.keys) && json.keys.length > 0) {
      cases.push({ name, dir, safetensors: null, json: path.join(dir, f), checkpoints: [], type: 'priorclip_keys', detectedBy: 'content (state_dict key list)' });
    } else if (typeof json.case === 'string' || json.tolerance !== undefined || json.reference !== undefined) {
      cases.push({ name, dir, safetensors: null, json: path.join(dir, f), checkpoints: [], type: 'unknown', detectedBy: `${f} is a case sidecar but ${name}.safetensors is missing` });
    }
  }
  const ckpts = files.filter((f) => /\.(pt|pth)$/i.test(f));
  for (const f of ckpts) {
    const owners = cases.filter((c) => c.safetensors && f.startsWith(`${c.name}_`));
    const targets = owners.length > 0 ? owners : cases.filter((c) => c.type === 'priorclip');
    for (const c of targets) c.checkpoints.push(path.join(dir, f));
  }
  return cases.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
