/**
 * Parity case `priorclip_keys`: a JSON listing a full-size model's state_dict
 * (`keys: [{key, shape, dtype}]`, `model_config`, `n_elements`), e.g. `priorclip_vitb32_keys.json`.
 * The kit builds the same config as a shape plan (no weights allocated) and must produce exactly
 * those keys, in that order, with those shapes and dtypes.
 */
import { priorClipShapePlan } from '../models/priorclip';
import { caseConfig } from './priorclip_case';
import { ParityRow } from './types';

interface KeyEntry {
  key: string;
  shape: number[];
  dtype: string;
}

/** Run the key-list case. */
export function runKeysCase(file: string, json: Record<string, unknown>): ParityRow[] {
  const keys = json.keys as KeyEntry[];
  if (!Array.isArray(keys) || keys.length === 0) throw new Error(`${file}: no 'keys' list`);
  const cfg = caseConfig(json, new Map(), file);
  const plan = priorClipShapePlan(cfg);
  const problems: string[] = [];
  const n = Math.max(plan.length, keys.length);
  for (let i = 0; i < n; i++) {
    const p = plan[i];
    const k = keys[i];
    if (!p || !k) {
      problems.push(p ? `extra kit key #${i} ${p.key}` : `missing key #${i} ${k.key}`);
      continue;
    }
    const dtypeOk = (p.dtype === 'I64') === /int64|I64/.test(k.dtype);
    if (p.key !== k.key || p.shape.join() !== k.shape.join() || !dtypeOk) {
      problems.push(`#${i}: kit ${p.key} [${p.shape}] ${p.dtype} vs ${k.key} [${k.shape}] ${k.dtype}`);
    }
  }
  const rows: ParityRow[] = [
    {
      name: `state_dict keys, order, shapes, dtypes (${plan.length} kit vs ${keys.length} reference)`,
      maxAbs: problems.length,
      maxRel: 0,
      pass: problems.length === 0,
      exact: true,
      error: problems.length > 0 ? problems.slice(0, 5).join('; ') + (problems.length > 5 ? ` … (${problems.length})` : '') : undefined,
    },
  ];
  const elems = plan.reduce((s, p) => s + p.shape.reduce((a, b) => a * b, 1), 0);
  if (typeof json.n_elements === 'number') {
    rows.push({ name: `n_elements (${elems})`, maxAbs: Math.abs(elems - json.n_elements), maxRel: 0, pass: elems === json.n_elements, exact: true });
  }
  return rows;
}
