/**
 * Parity report types: one row per compared output, one report per fixture case.
 */

/** One compared output of a case. */
export interface ParityRow {
  /** Output name, e.g. `output/vit/seq_out` or `[state_dict.pt] output/image_features`. */
  name: string;
  /** max |got − exp| (Infinity when not computable). */
  maxAbs: number;
  /** max |got − exp| / |exp| over elements with |exp| > 1e-3 (0 if none). */
  maxRel: number;
  pass: boolean;
  /** Compared exactly (integer outputs). */
  exact?: boolean;
  /** Tolerance used. */
  rtol?: number;
  atol?: number;
  /** Why it failed, when not a plain tolerance miss. */
  error?: string;
}

/** What a case runner returns: the compared rows and the sizes it read from the fixture. */
export interface CaseRows {
  rows: ParityRow[];
  /** Sizes read from the data (width, heads, K, token counts, rounds …). */
  dims: Record<string, number>;
}

/** True when a runner compared something and every row passed. */
export function allPass(rows: readonly ParityRow[]): boolean {
  return rows.length > 0 && rows.every((r) => r.pass);
}

/** Status of a case. */
export type CaseStatus = 'PASS' | 'FAIL' | 'NOT IMPLEMENTED' | 'ERROR';

/** Result of one case. */
export interface CaseReport {
  /** Case name (file stem). */
  name: string;
  /** Detected case type (e.g. `priorclip`, `spatial_pae`) or `unknown`. */
  type: string;
  /** How the type was detected (`json case`, `name prefix`, `content`). */
  detectedBy: string;
  status: CaseStatus;
  rows: ParityRow[];
  /** Error / not-implemented message. */
  message?: string;
  /** Wall time in ms. */
  ms: number;
}

/** Worst absolute and relative error over rows. */
export function worst(rows: readonly ParityRow[]): { maxAbs: number; maxRel: number } {
  let maxAbs = 0;
  let maxRel = 0;
  for (const r of rows) {
    maxAbs = Math.max(maxAbs, r.maxAbs);
    maxRel = Math.max(maxRel, r.maxRel);
  }
  return { maxAbs, maxRel };
}
