/**
 * Result rows of trained variants and their summary over seeds (mean ± sample std), written as CSV,
 * JSON and a Markdown table. Pure functions plus atomic writers; no tensors.
 */
import { atomicWriteFile, atomicWriteJson } from '../utils/fs';
import { DataFrame, Row, meanStd, toCsv, toDataFrame } from '../evaluation/tables';
import { FULL_MODEL } from '../config/experiment';
import { DEFAULT_LEVEL, Interval, QueryRanks, bootstrapPairedDelta, excludesZero, pairedTInterval } from '../evaluation/statistics';
import { DIAGNOSTIC_COLUMNS, DiagnosticColumn } from '../evaluation/diagnostics';

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
  /** Headline diagnostics of the evaluated run (`diagnosticColumns`); absent for runs made before diagnostics existed. */
  diagnostics?: Record<DiagnosticColumn, number>;
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
  /**
   * The same difference paired by seed: mR(ablation, s) − mR(full, s) over the seeds both have
   * (they share the stage-0/1 checkpoints and the data order, so seed noise largely cancels).
   * `n` = paired seeds, `lower` = how many of them the ablation scored below `full`;
   * mean/std NaN (n = 0) when `full` is absent.
   */
  pairedDeltaMR: {
    mean: number;
    std: number;
    n: number;
    lower: number;
    /** t interval over the paired seeds (null with < 2 seeds). */
    ci?: Interval | null;
    /** Bootstrap over seeds × test images (null unless every paired run has per-query ranks). */
    bootstrap?: Interval | null;
  };
  /** Mean over seeds of each diagnostic column, over the seeds whose runs have diagnostics. */
  diagnostics?: Partial<Record<DiagnosticColumn, number>>;
}

/** Options of `summarise`. */
export interface SummariseOptions {
  /** Per-query test ranks by run id (from the run records' diagnostics), for the bootstrap interval. */
  ranks?: ReadonlyMap<string, QueryRanks>;
  /** Confidence level of both intervals (default 0.95). */
  level?: number;
  /** Bootstrap resamples (default `DEFAULT_RESAMPLES`). */
  resamples?: number;
}

/** Summarise rows per ablation, in the order of `order` (ablations absent from rows are skipped). */
export function summarise(rows: readonly ResultRow[], order: readonly string[], descriptions: Record<string, string> = {}, opts: SummariseOptions = {}): SummaryRow[] {
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
    const pairedDeltaMR = { mean: Number.NaN, std: Number.NaN, n: 0, lower: 0 };
    const row: SummaryRow = { ablation: ab, description: descriptions[ab] ?? '', seeds: rs.map((r) => r.seed), mean, std, deltaMR: Number.NaN, pairedDeltaMR };
    const withD = rs.filter((r) => r.diagnostics);
    if (withD.length > 0) {
      const d: Partial<Record<DiagnosticColumn, number>> = {};
      for (const c of DIAGNOSTIC_COLUMNS) {
        // NaN (a diagnostic that does not apply) is stored as null in JSON records: average the finite values only
        const v = withD.map((r) => (r.diagnostics as Record<DiagnosticColumn, number | null>)[c]).filter((x): x is number => typeof x === 'number' && Number.isFinite(x));
        d[c] = v.length > 0 ? v.reduce((a, b) => a + b, 0) / v.length : Number.NaN;
      }
      row.diagnostics = d;
    }
    out.push(row);
  }
  const full = out.find((s) => s.ablation === FULL_MODEL);
  for (const s of out) {
    s.deltaMR = full ? s.mean.mR - full.mean.mR : Number.NaN;
    const deltas = pairedDeltas(rows, s.ablation).map((p) => p.delta);
    if (deltas.length > 0) {
      s.pairedDeltaMR = { ...meanStd(deltas), lower: deltas.filter((d) => d < 0).length };
      if (s.ablation !== FULL_MODEL) {
        s.pairedDeltaMR.ci = pairedTInterval(deltas, opts.level ?? DEFAULT_LEVEL);
        s.pairedDeltaMR.bootstrap = opts.ranks ? bootstrapOf(rows, s.ablation, opts) : null;
      }
    }
  }
  return out;
}

/** Bootstrap interval of an ablation's paired Δ, when every paired run has ranks (else null). */
function bootstrapOf(rows: readonly ResultRow[], ablation: string, opts: SummariseOptions): Interval | null {
  const ranks = opts.ranks;
  if (!ranks) return null;
  const pairs = [];
  for (const r of rows.filter((x) => x.ablation === ablation)) {
    const f = rows.find((x) => x.ablation === FULL_MODEL && x.seed === r.seed);
    if (!f) continue;
    const fr = ranks.get(f.runId);
    const vr = ranks.get(r.runId);
    if (!fr || !vr) return null;
    pairs.push({ seed: r.seed, full: fr, variant: vr });
  }
  return bootstrapPairedDelta(pairs, { level: opts.level, resamples: opts.resamples });
}

/** mR(ablation, s) − mR(full, s) for every seed s that both have, by seed. */
export function pairedDeltas(rows: readonly ResultRow[], ablation: string): { seed: number; delta: number }[] {
  const out: { seed: number; delta: number }[] = [];
  for (const r of rows.filter((x) => x.ablation === ablation)) {
    const f = rows.find((x) => x.ablation === FULL_MODEL && x.seed === r.seed);
    if (f) out.push({ seed: r.seed, delta: r.mR - f.mR });
  }
  return out.sort((a, b) => a.seed - b.seed);
}

/** "[−2.10, −0.30]" */
/** `[lo, hi]` of an interval, signed, two decimals. */
export function bracket(i: Interval): string {
  return `[${signed(i.lo)}, ${signed(i.hi)}]`;
}

/**
 * What a row says against the full model, from the paired Δ mR's confidence intervals: "below" /
 * "above full" only when the t interval over the paired seeds excludes 0 AND, when the per-query
 * ranks are there, so does the bootstrap interval over seeds × test images (the effect must stand
 * out from training noise and from the test split's own sampling noise); otherwise "within noise".
 * (For a removal, "below" = the mechanism helped.) One seed never claims a finding.
 */
export function verdict(s: SummaryRow, full: SummaryRow): string {
  const p = s.pairedDeltaMR;
  if (p.n < 2) {
    const delta = s.mean.mR - full.mean.mR;
    return `${delta < 0 ? 'lower' : 'higher'} than full by ${Math.abs(delta).toFixed(2)} (one seed: no noise estimate)`;
  }
  const ci = p.ci ?? pairedTInterval(pairedValues(p), DEFAULT_LEVEL);
  if (!ci) return `within seed noise (paired Δ ${signed(p.mean)}, no interval)`;
  const pct = Math.round(ci.level * 100);
  const parts = [`paired Δ ${signed(p.mean)}, ${pct} % t interval over ${ci.n} seeds ${bracket(ci)}`];
  if (p.bootstrap) parts.push(`bootstrap over seeds × test images ${bracket(p.bootstrap)}`);
  parts.push(`lower in ${p.lower}/${p.n} seeds`);
  const detail = parts.join('; ');
  const tOut = excludesZero(ci);
  const bOut = p.bootstrap ? excludesZero(p.bootstrap) : true;
  if (tOut && bOut) return `${p.mean < 0 ? 'below' : 'above'} full: the interval excludes 0 (${detail})`;
  if (tOut) return `within test-split noise: beyond seed noise, but the bootstrap over test images includes 0 (${detail})`;
  return `within seed noise: the interval includes 0 (${detail})`;
}

/** n values with the summary's mean and sample std (what the t interval needs) when `ci` was not stored. */
function pairedValues(p: SummaryRow['pairedDeltaMR']): number[] {
  const half = Math.floor(p.n / 2);
  const a = p.std * Math.sqrt((p.n - 1) / (2 * half)); // Σ(x − mean)² = 2·half·a² = (n − 1)·std²
  const xs: number[] = [];
  for (let i = 0; i < half; i++) xs.push(p.mean + a, p.mean - a);
  if (p.n % 2 === 1) xs.push(p.mean);
  return xs;
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
    if (r.diagnostics) for (const c of DIAGNOSTIC_COLUMNS) out[c] = r4(r.diagnostics[c]);
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
    out.paired_delta_mR_mean = r4(s.pairedDeltaMR.mean);
    out.paired_delta_mR_std = r4(s.pairedDeltaMR.std);
    out.seeds_below_full = s.pairedDeltaMR.n > 0 ? s.pairedDeltaMR.lower : null;
    out.paired_delta_mR_ci_lo = s.pairedDeltaMR.ci ? r4(s.pairedDeltaMR.ci.lo) : null;
    out.paired_delta_mR_ci_hi = s.pairedDeltaMR.ci ? r4(s.pairedDeltaMR.ci.hi) : null;
    out.paired_delta_mR_boot_lo = s.pairedDeltaMR.bootstrap ? r4(s.pairedDeltaMR.bootstrap.lo) : null;
    out.paired_delta_mR_boot_hi = s.pairedDeltaMR.bootstrap ? r4(s.pairedDeltaMR.bootstrap.hi) : null;
    for (const c of DIAGNOSTIC_COLUMNS) out[c] = s.diagnostics && s.diagnostics[c] !== undefined ? r4(s.diagnostics[c] as number) : null;
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

/** A number with its sign (`+1.20`, `-0.40`), two decimals. */
export function signed(v: number): string {
  return (v >= 0 ? '+' : '') + v.toFixed(2);
}

/** "−1.20 ± 0.40 [−2.19, −0.21] (3/3 lower)": paired Δ mR, its t interval and the seeds below `full`; empty for `full` itself or without `full`. */
function pairedCell(s: SummaryRow): string {
  const p = s.pairedDeltaMR;
  if (s.ablation === FULL_MODEL || p.n === 0) return '';
  const ci = p.ci ? ` ${bracket(p.ci)}` : '';
  return `${signed(p.mean)} ± ${p.std.toFixed(2)}${ci} (${p.lower}/${p.n} lower)`;
}

/** The reading of `verdict` in a few words ("below full", "within seed noise", …); empty for `full` or without it. */
export function shortVerdict(s: SummaryRow, full: SummaryRow | undefined): string {
  if (!full || s.ablation === FULL_MODEL || s.pairedDeltaMR.n === 0) return '';
  const v = verdict(s, full);
  const cut = v.search(/[:(]/);
  return (cut > 0 ? v.slice(0, cut) : v).trim();
}

function fixed(v: number | undefined, digits: number): string {
  return v !== undefined && Number.isFinite(v) ? v.toFixed(digits) : '—';
}

/**
 * Summary as Markdown: the recall table (R@K both directions, mR, Δ mR vs full, paired by seed with
 * its t interval, the bootstrap interval over seeds × test images, the reading of `verdict`), then
 * the headline diagnostics per variant (mean over seeds) when the runs have them.
 */
export function summaryMarkdown(summary: readonly SummaryRow[]): string {
  const full = summary.find((s) => s.ablation === FULL_MODEL);
  const head = '| ablation | seeds | i→t R@1 | i→t R@5 | i→t R@10 | t→i R@1 | t→i R@5 | t→i R@10 | mR (test) | Δ mR | Δ mR paired by seed | val mR | bootstrap 95 % | reading |';
  const sep = '|' + '---|'.repeat(14);
  const lines = summary.map((s) => {
    const boot = s.ablation !== FULL_MODEL && s.pairedDeltaMR.bootstrap ? bracket(s.pairedDeltaMR.bootstrap) : '';
    return `| ${s.ablation} | ${s.seeds.length} | ${pm(s.mean.i2t_r1, s.std.i2t_r1)} | ${pm(s.mean.i2t_r5, s.std.i2t_r5)} | ${pm(s.mean.i2t_r10, s.std.i2t_r10)} | ${pm(s.mean.t2i_r1, s.std.t2i_r1)} | ${pm(s.mean.t2i_r5, s.std.t2i_r5)} | ${pm(s.mean.t2i_r10, s.std.t2i_r10)} | **${pm(s.mean.mR, s.std.mR)}** | ${Number.isFinite(s.deltaMR) ? signed(s.deltaMR) : ''} | ${pairedCell(s)} | ${pm(s.mean.val_mR, s.std.val_mR)} | ${boot} | ${shortVerdict(s, full)} |`;
  });
  const out = [head, sep, ...lines];
  if (summary.some((s) => s.diagnostics)) {
    out.push(
      '',
      'Diagnostics (mean over seeds; test split): belief mass ÷ area on key objects and on distractors, top-K precision of the kept tokens (chance = key area share), effective tokens exp(entropy); silhouette of the scene classes per modality; top-1 cross-modal class accuracy (%); mean t→i R@1/5/10 of queries with a rare word vs the others.',
      '',
      '| ablation | key mass/area | distractor mass/area | top-K precision (chance) | effective tokens | silhouette image / text | class acc i→t / t→i | t→i rare / in-vocab |',
      '|' + '---|'.repeat(8),
    );
    for (const s of summary) {
      const d = s.diagnostics ?? {};
      out.push(
        `| ${s.ablation} | ${fixed(d.belief_key_ratio, 2)} | ${fixed(d.belief_distractor_ratio, 2)} | ${fixed(d.belief_topk_precision, 3)} (${fixed(d.belief_topk_chance, 3)}) | ${fixed(d.belief_effective_tokens, 1)} | ${fixed(d.silhouette_image, 2)} / ${fixed(d.silhouette_text, 2)} | ${fixed(d.class_acc_i2t, 1)} / ${fixed(d.class_acc_t2i, 1)} | ${fixed(d.rare_t2i_mean, 1)} / ${fixed(d.invocab_t2i_mean, 1)} |`,
      );
    }
  }
  return out.join('\n') + '\n';
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
