/**
 * Per-output tolerances from a fixture's JSON `tolerance` field.
 *
 * Accepted forms (all optional, most specific wins):
 * - `{rtol, atol}`: the default for float outputs;
 * - structured overrides: `tolerance.outputs` / `tolerance.per_output`: `{ "output/x": {rtol, atol} | "exact" }`;
 * - the free-text `note` of the golden fixtures, e.g. `"for output/image_features, output/text_features
 *   use rtol 1e-4 atol 1e-5, for output/logits_per_image rtol 1e-4 atol 1e-4; sorted_ind exact"`:
 *   every `<names> [use] rtol X atol Y` clause and every `<name> exact` clause is applied (a bare
 *   name matches any output ending in it).
 * Integer outputs (I64/I32/U8/BOOL) are always compared exactly.
 */

/** Tolerance of one output. */
export type OutputTolerance = { exact: true } | { exact: false; rtol: number; atol: number };

/** README default when a fixture gives none. */
export const DEFAULT_RTOL = 1e-4;
export const DEFAULT_ATOL = 1e-5;

interface Rule {
  names: string[];
  tol: OutputTolerance;
}

/** Elementwise `|got − exp| ≤ atol + rtol·|exp|`. */
export interface ToleranceTable {
  base: { rtol: number; atol: number };
  /** Tolerance for an output name (`output/...`) and its dtype. */
  forOutput(name: string, integer: boolean): OutputTolerance;
}

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

function matches(pattern: string, name: string): boolean {
  if (pattern === name) return true;
  if (!pattern.startsWith('output/') && (name.endsWith(`/${pattern}`) || name === `output/${pattern}`)) return true;
  return false;
}

/** Parse the note's clauses. */
export function parseToleranceNote(note: string): Rule[] {
  const rules: Rule[] = [];
  const num = '([0-9.]+(?:e[-+]?[0-9]+)?)';
  const clause = new RegExp(`((?:[\\w./-]+\\s*,\\s*)*[\\w./-]+)\\s+(?:use\\s+)?rtol\\s*=?\\s*${num}\\s*,?\\s*(?:and\\s+)?atol\\s*=?\\s*${num}`, 'gi');
  let m: RegExpExecArray | null;
  while ((m = clause.exec(note)) !== null) {
    const names = m[1].split(',').map((s) => s.trim()).filter((s) => s.includes('/') || s.includes('_'));
    if (names.length > 0) rules.push({ names, tol: { exact: false, rtol: Number(m[2]), atol: Number(m[3]) } });
  }
  const exact = /((?:[\w./-]+\s*,\s*)*[\w./-]+)\s*(?::\s*)?(?:must\s+match\s+)?exact(?:ly)?\b/gi;
  while ((m = exact.exec(note)) !== null) {
    const names = m[1].split(',').map((s) => s.trim()).filter((s) => s.includes('/') || s.includes('_'));
    if (names.length > 0) rules.push({ names, tol: { exact: true } });
  }
  return rules;
}

/** Build the table from a fixture JSON (`json.tolerance`). */
export function toleranceTable(json: Record<string, unknown>, fallback = { rtol: DEFAULT_RTOL, atol: DEFAULT_ATOL }): ToleranceTable {
  const t = (json.tolerance ?? {}) as Record<string, unknown>;
  const base = { rtol: num(t.rtol) ?? fallback.rtol, atol: num(t.atol) ?? fallback.atol };
  const rules: Rule[] = [];
  if (typeof t.note === 'string') rules.push(...parseToleranceNote(t.note));
  for (const field of ['outputs', 'per_output']) {
    const m = t[field];
    if (m && typeof m === 'object') {
      for (const [k, v] of Object.entries(m as Record<string, unknown>)) {
        if (v === 'exact') rules.push({ names: [k], tol: { exact: true } });
        else if (v && typeof v === 'object') {
          const o = v as Record<string, unknown>;
          rules.push({ names: [k], tol: { exact: false, rtol: num(o.rtol) ?? base.rtol, atol: num(o.atol) ?? base.atol } });
        }
      }
    }
  }
  return {
    base,
    forOutput(name: string, integer: boolean): OutputTolerance {
      if (integer) return { exact: true };
      let found: OutputTolerance | null = null;
      for (const r of rules) if (r.names.some((p) => matches(p, name))) found = r.tol;
      return found ?? { exact: false, ...base };
    },
  };
}
