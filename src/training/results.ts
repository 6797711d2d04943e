/**
 * Result rows of trained variants and their summary over seeds (mean ± sample std), written as CSV,
 * JSON and a Markdown table. Pure functions plus atomic writers; no tensors.
 */
import { atomicWriteFile, atomicWriteJson } from '../utils/fs';
import { DataFrame, Row, toCsv, toDataFrame } from '../evaluation/tables';

/** Test metrics of one trained variant and seed. */
export interface ResultRow {
  /** Ablation name (`full` = the preset unchanged). */
  ablation: string;
  seed: number;
  /** Run id of the evaluated (stage-2 or last enabled stage) run. */
  runId: string;
  i2t_r1: number;
  i2t_r5: number;
  i2t_r10: number;
  t2i_r1: number;
  t2i_r5: number;
  t2i_r10: number;
  mR: number;
  /** Best validation mR (the checkpoint-selection criterion). */
  val_mR: number;
  /** Wall seconds of the variant's own stages (shared stages counted once, in the variant that ran them). */
  seconds: number;
}

/** Metric columns summarised over seeds. */
export const METRIC_COLUMNS = ['i2t_r1', 'i2t_r5', 'i2t_r10', 't2i_r1', 't2i_r5', 't2i_r10', 'mR', 'val_mR'] as const;
export type MetricColumn = (typeof METRIC_COLUMNS)[number];

/** One ablation summarised over its seeds. */
export interface SummaryRow {
  ablation: string;
  description: string;
  seeds: number[];
  mean: Record<MetricColumn, number>;
  /** Sample standard deviation (n − 1); 0 with a single seed. */
  std: Record<MetricColumn, number>;
  /** mean mR − mean mR of `full` (0 for `full`; NaN when `full` is absent). */
  deltaMR: number;
}

/** Mean and sample standard deviation. */
export function meanStd(xs: readonly number[]): { mean: number; std: number } {
  if (xs.length === 0) return { mean: Number.NaN, std: Number.NaN };
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  if (xs.length < 2) return { mean, std: 0 };
  const v = xs.reduce((a, b) => a + (b - mean) * (b - mean), 0) / (xs.length - 1);
  return { mean, std: Math.sqrt(v) };
}

/** Summarise rows per ablation, in the order of `order` (ablations absent from rows are skipped). */
export function summarise(rows: readonly ResultRow[], order: readonly string[], descriptions: Record<string, string> = {}): SummaryRow[] {
  const out: SummaryRow[] = [];
  for (const ab of order) {
    const rs = rows.filter((r) => r.ablation === ab);
    if (rs.length === 0) continue;
    const mean = {} as Record<MetricColumn, number>;
    const std = {} as Record<MetricColumn, number>;
    for (const c of METRIC_COLUMNS) {
      const ms = meanStd(rs.map((r) => r[c]));
      mean[c] = ms.mean;
      std[c] = ms.std;
    }
    out.push({ ablation: ab, description: descriptions[ab] ?? '', seeds: rs.map((r) => r.seed), mean, std, deltaMR: Number.NaN });
  }
  const full = out.find((s) => s.ablation === 'full');
  for (const s of out) s.deltaMR = full ? s.mean.mR - full.mean.mR : Number.NaN;
  return out;
}

/** Round to 4 decimals for tables (NaN → null). */
function r4(v: number): number | null {
  return Number.isFinite(v) ? Math.round(v * 1e4) / 1e4 : null;
}

/** Per-seed rows as table rows. */
export function rowsTable(rows: readonly ResultRow[]): Row[] {
  return rows.map((r) => {
    const out: Row = { ablation: r.ablation, seed: r.seed, runId: r.runId };
    for (const c of METRIC_COLUMNS) out[c] = r4(r[c]);
    out.seconds = r4(r.seconds);
    return out;
  });
}

/** Summary as table rows (`<metric>_mean`, `<metric>_std`, `delta_mR`). */
export function summaryTable(summary: readonly SummaryRow[]): Row[] {
  return summary.map((s) => {
    const out: Row = { ablation: s.ablation, n_seeds: s.seeds.length };
    for (const c of METRIC_COLUMNS) {
      out[`${c}_mean`] = r4(s.mean[c]);
      out[`${c}_std`] = r4(s.std[c]);
    }
    out.delta_mR = r4(s.deltaMR);
    out.description = s.description;
    return out;
  });
}

/** The summary as a danfo DataFrame (notebooks: `df.print()`, sorting, plotting). */
export function summaryDataFrame(summary: readonly SummaryRow[]): DataFrame {
  return toDataFrame(summaryTable(summary));
}

/** Per-seed rows as CSV. */
export function rowsCsv(rows: readonly ResultRow[]): string {
  return toCsv(rowsTable(rows));
}

/** Summary as CSV. */
export function summaryCsv(summary: readonly SummaryRow[]): string {
  return toCsv(summaryTable(summary));
}

function pm(m: number, s: number): string {
  return `${m.toFixed(2)} ± ${s.toFixed(2)}`;
}

/** Summary as a Markdown table (R@K both directions, mR, Δ mR vs full). */
export function summaryMarkdown(summary: readonly SummaryRow[]): string {
  const head = '| ablation | seeds | i→t R@1 | i→t R@5 | i→t R@10 | t→i R@1 | t→i R@5 | t→i R@10 | mR (test) | Δ mR | val mR |';
  const sep = '|' + '---|'.repeat(11);
  const lines = summary.map((s) =>
    `| ${s.ablation} | ${s.seeds.length} | ${pm(s.mean.i2t_r1, s.std.i2t_r1)} | ${pm(s.mean.i2t_r5, s.std.i2t_r5)} | ${pm(s.mean.i2t_r10, s.std.i2t_r10)} | ${pm(s.mean.t2i_r1, s.std.t2i_r1)} | ${pm(s.mean.t2i_r5, s.std.t2i_r5)} | ${pm(s.mean.t2i_r10, s.std.t2i_r10)} | **${pm(s.mean.mR, s.std.mR)}** | ${Number.isFinite(s.deltaMR) ? (s.deltaMR >= 0 ? '+' : '') + s.deltaMR.toFixed(2) : ''} | ${pm(s.mean.val_mR, s.std.val_mR)} |`,
  );
  return [head, sep, ...lines].join('\n') + '\n';
}

/** Write rows + summary as CSV / JSON / Markdown with a common base path (`<base>.csv`, …). */
export function writeResults(base: string, rows: readonly ResultRow[], summary: readonly SummaryRow[]): string[] {
  const files = [`${base}_runs.csv`, `${base}.csv`, `${base}.json`, `${base}.md`];
  atomicWriteFile(files[0], rowsCsv(rows));
  atomicWriteFile(files[1], summaryCsv(summary));
  atomicWriteJson(files[2], { rows, summary });
  atomicWriteFile(files[3], summaryMarkdown(summary));
  return files;
}
