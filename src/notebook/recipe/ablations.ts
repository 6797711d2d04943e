/**
 * Ablation results for notebook 07: reuse the suite table `npm run main` wrote, or run a reduced
 * suite that fits the fast profile, and say exactly which.
 *
 *   const ab = await ablationResults(env.profile);
 *   showMarkdown(ab.provenance);                  // what was run / reused, seeds, preset
 *   showTable(summaryTable(ab.summary));
 *
 * Also the published PIR Table 1 rows the kit can be compared with (method.md §7.1).
 */
import * as fs from 'fs';
import * as path from 'path';
import { FULL_MODEL, SuiteSpec, loadAblation, loadSuite } from '../../config/experiment';
import { runsDir } from '../../runs/record';
import { projectRoot, readJson } from '../../utils/fs';
import { ResultRow, SummaryRow, bracket, pairedDeltas, signed, summarise, verdict } from '../../training/results';
import { Interval } from '../../evaluation/statistics';
import { DIAGNOSTIC_COLUMNS } from '../../evaluation/diagnostics';

export { pairedDeltas, verdict };
import { SuiteOptions, SuiteOutcome, runSuite } from '../../training/ablation_runner';
import { PreparedData } from '../../training/data_prep';
import { AblationResult } from '../../plotting/figures/ablation_bars';
import { Row } from '../../evaluation/tables';
import { Profile } from '../setup';
import { PROFILE_FULL, Setting, isFullProfile, profileSuite } from '../../training/profiles';
import { resolveExperiment } from '../../config/experiment';
import { pendingVariants } from '../../training/ablation_runner';
import { notebookBudget, NOTEBOOK_STAGE2_EPOCHS, NOTEBOOK_STAGE2_STEPS } from './stages';

/** The reduced suite the fast profile runs when the main job's results are absent: every ablation
 *  of the default suite, ONE seed (the first). Stated in `provenance`. */
export const REDUCED_SEEDS = 1;

/** Where the results came from. */
export interface AblationResults {
  suite: SuiteSpec;
  /** 'main-job': the complete suite table in data/runs/<suite>/results.json; 'reduced': run here. */
  source: 'main-job' | 'reduced';
  rows: ResultRow[];
  summary: SummaryRow[];
  /** Ablations and seeds actually in the table. */
  ablations: string[];
  seeds: number[];
  /** One Markdown paragraph saying exactly what was run or reused. */
  provenance: string;
  /** Variants trained in this call (0 when reused). */
  trained: number;
  seconds: number;
}

/** The suite results file the main job writes. */
export function suiteResultsFile(suite: string): string {
  return path.join(runsDir(), suite, 'results.json');
}

/** Rows of a results file when it covers every (ablation, seed) of the suite, else null. */
export function completeSuiteRows(suite: SuiteSpec): ResultRow[] | null {
  const f = suiteResultsFile(suite.name);
  if (!fs.existsSync(f)) return null;
  const r = readJson<{ rows: ResultRow[] }>(f);
  const ok = suite.ablations.every((a) => suite.seeds.every((s) => r.rows.some((x) => x.ablation === a && x.seed === s)));
  return ok ? r.rows : null;
}

/** One-line description of every ablation of a suite. */
function suiteDescriptions(suite: SuiteSpec): Record<string, string> {
  const out: Record<string, string> = {};
  for (const a of suite.ablations) out[a] = loadAblation(a).description;
  return out;
}

/** Options of `ablationResults`. */
export interface AblationResultsOptions {
  /** Suite name (default: the profile's suite of `setting`). */
  suite?: string;
  /** The profile's setting (default: its first). */
  setting?: Setting;
  /** Data prepared earlier. */
  data?: PreparedData;
  log?: (line: string) => void;
}

/** What the ablation notebook runs: a complete table to reuse, or the suite and options to pass to `runSuite`. */
export interface AblationPlan {
  suite: SuiteSpec;
  /** The complete results found (nothing to train), else null. */
  reused: AblationResults | null;
  /** Seeds to run (the fast profile: the first seed only). */
  seeds: number[];
  /** The options for `runSuite(plan.suite, plan.options)` when `reused` is null. */
  options: SuiteOptions;
  /** True when nothing will train: a complete table, or every result in a record. */
  trainsNothing: boolean;
}

/**
 * The profile's ablation plan for one setting: a complete results table when one exists — the whole
 * suite's of that setting (v2-closed / v2-open, or v1's paper; `npm run ablate`, `npm run main --
 * --profile full`) first, then the profile's own suite (the main job's). A suite whose every
 * (ablation, seed) has a result record (data/results/, committed) but no table yet is complete too:
 * the plan runs it with nothing to train (`trainsNothing`), and `runSuite` writes the table from the
 * records. Otherwise (fast profile) the profile suite's ablations with its first seed only, in the
 * notebook budget, written to `data/runs/<suite>-notebook/` (never over a complete table). The full
 * profiles run the whole suite. `opts.suite` names one suite and skips the search.
 */
export function ablationPlan(profile: Profile, opts: AblationResultsOptions = {}): AblationPlan {
  const t0 = Date.now();
  const candidates = opts.suite ? [opts.suite] : [...new Set([profileSuite(PROFILE_FULL[profile], opts.setting), profileSuite(profile, opts.setting)])];
  for (const name of candidates) {
    const complete = loadSuite(name);
    const done = completeSuiteRows(complete);
    if (!done) {
      const base = resolveExperiment(complete.preset);
      if (pendingVariants(complete, complete.ablations, complete.seeds, base, undefined).length > 0) continue;
      // every result is in a record: the suite run trains nothing and writes the table
      const options: SuiteOptions = { seeds: complete.seeds, data: opts.data, log: opts.log ?? ((l: string) => console.log(l)), figures: false, tableDir: null };
      return { suite: complete, reused: null, seeds: complete.seeds, options, trainsNothing: true };
    }
    const summary = summarise(done, complete.ablations, suiteDescriptions(complete));
    const reused: AblationResults = {
      suite: complete,
      source: 'main-job',
      rows: done,
      summary,
      ablations: complete.ablations,
      seeds: complete.seeds,
      provenance:
        `Reused the complete results of suite **${complete.name}** written by \`npm run ablate\` or \`npm run main\` ` +
        `(\`${path.relative(projectRoot(), suiteResultsFile(complete.name))}\`): preset \`${complete.preset}\`, ` +
        `${complete.ablations.length} variants (${complete.ablations.join(', ')}) × seeds ${complete.seeds.join(', ')}; nothing was trained here.`,
      trained: 0,
      seconds: (Date.now() - t0) / 1000,
    };
    return { suite: complete, reused, seeds: complete.seeds, options: {}, trainsNothing: true };
  }
  const suite = loadSuite(candidates[candidates.length - 1]);
  const full = isFullProfile(profile);
  const seeds = full ? suite.seeds : suite.seeds.slice(0, REDUCED_SEEDS);
  const overrides = full ? undefined : notebookBudget(suite.preset);
  const options: SuiteOptions = { seeds, overrides, data: opts.data, log: opts.log ?? ((l: string) => console.log(l)), figures: false, tableDir: null, outDir: path.join(runsDir(), `${suite.name}-notebook`) };
  return { suite, reused: null, seeds, options, trainsNothing: false };
}

/** The notebook's reading of a suite that `runSuite` ran for `plan`. */
export function planResults(plan: AblationPlan, out: SuiteOutcome): AblationResults {
  const { suite, seeds } = plan;
  const overrides = plan.options.overrides as { name?: string } | undefined;
  const outDir = plan.options.outDir ?? path.join(runsDir(), suite.name);
  // complete = every seed of the suite at the preset's own budget (a notebook budget is never the suite's result)
  const full = seeds.length === suite.seeds.length && overrides === undefined;
  return {
    suite,
    source: full ? 'main-job' : 'reduced',
    rows: out.rows,
    summary: out.summary,
    ablations: suite.ablations,
    seeds,
    provenance:
      (full && out.trained === 0 ? `Read the complete suite **${suite.name}** from its result records (\`data/results/\`, committed)` : full ? `Ran the complete suite **${suite.name}**` : `The main job's results for suite **${suite.name}** are not there, so this notebook ran a **reduced suite**`) +
      `: preset \`${suite.preset}\`, variants ${suite.ablations.join(', ')}, seed${seeds.length > 1 ? 's' : ''} ${seeds.join(', ')}` +
      (full ? '' : ` (the suite file lists seeds ${suite.seeds.join(', ')}; with one seed the ± columns are 0 and say nothing about noise)`) +
      (overrides ? `, in the notebook budget (experiment name \`${String(overrides.name)}\`, stage 2 cut to ${NOTEBOOK_STAGE2_EPOCHS} × ${NOTEBOOK_STAGE2_STEPS} optimiser steps; stages 0–1 as the preset)` : '') +
      `. ${out.trained} variant(s) trained here, ${out.reused} reused from finished runs; every variant shares the stage-0/1 runs its config does not change. ` +
      `Table written to \`${path.relative(projectRoot(), outDir)}/\`. \`npm run main\` runs the full suite.`,
    trained: out.trained,
    seconds: out.seconds,
  };
}

/** `ablationPlan` then, when nothing complete exists, `runSuite` with the plan's options. */
export async function ablationResults(profile: Profile, opts: AblationResultsOptions = {}): Promise<AblationResults> {
  const plan = ablationPlan(profile, opts);
  return plan.reused ?? planResults(plan, await runSuite(plan.suite, plan.options));
}

/** Inputs of `ablationBarsFigure` for one metric column. */
export function ablationBarData(rows: readonly ResultRow[], order: readonly string[], metric: keyof ResultRow = 'mR'): AblationResult[] {
  return order
    .map((a) => ({ variant: a, values: rows.filter((r) => r.ablation === a).map((r) => Number(r[metric])) }))
    .filter((r) => r.values.length > 0);
}

/** Δ of each ablation vs the full model, per metric (mean over seeds), as rows: the paired Δ mR with
 *  its 95 % t interval over seeds and, where the runs stored per-query ranks, the bootstrap interval
 *  over seeds × test images (the two intervals `verdict` reads); with `rows`, also the per-seed Δ mR. */
export function effectRows(summary: readonly SummaryRow[], rows?: readonly ResultRow[]): Row[] {
  const full = summary.find((s) => s.ablation === FULL_MODEL);
  if (!full) return [];
  const d = (x: number) => Math.round(x * 100) / 100;
  return summary
    .filter((s) => s.ablation !== FULL_MODEL)
    .map((s) => ({
      ablation: s.ablation,
      'Δ mR': d(s.mean.mR - full.mean.mR),
      'Δ i→t R@1': d(s.mean.i2t_r1 - full.mean.i2t_r1),
      'Δ t→i R@1': d(s.mean.t2i_r1 - full.mean.t2i_r1),
      'Δ i→t R@10': d(s.mean.i2t_r10 - full.mean.i2t_r10),
      'Δ t→i R@10': d(s.mean.t2i_r10 - full.mean.t2i_r10),
      'std mR (ablation / full)': `${d(s.std.mR)} / ${d(full.std.mR)}`,
      seeds: s.seeds.length,
      'paired Δ mR': s.pairedDeltaMR.n > 0 ? d(s.pairedDeltaMR.mean) : null,
      't interval (seeds)': intervalCell(s.pairedDeltaMR.ci),
      'bootstrap (seeds × test images)': intervalCell(s.pairedDeltaMR.bootstrap),
      ...(rows ? { 'Δ mR per seed (paired)': pairedDeltas(rows, s.ablation).map((p) => `s${p.seed}: ${signed(p.delta)}`).join(', ') } : {}),
      // "below"/"above full" only when the interval(s) exclude 0 (src/training/results.ts)
      reading: verdict(s, full),
    }));
}

/** `[lo, hi] (95 %)` of an interval, '—' when there is none (one seed, or no stored ranks). */
function intervalCell(ci: Interval | null | undefined): string {
  return ci ? `${bracket(ci)} (${Math.round(ci.level * 100)} %)` : '—';
}

/**
 * The diagnostics columns of the suite tables (`DIAGNOSTIC_COLUMNS`: belief localisation, class
 * structure, vocabulary shift; mean over the seeds whose runs stored diagnostics), one row per ablation.
 */
export function diagnosticRows(summary: readonly SummaryRow[]): Row[] {
  const r3 = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? null : Math.round(x * 1000) / 1000);
  return summary.map((s) => {
    const out: Row = { ablation: s.ablation };
    for (const c of DIAGNOSTIC_COLUMNS) out[c] = r3(s.diagnostics?.[c]);
    return out;
  });
}


/** A row of PIR (ACM MM'23) Table 1 (method.md §7.1, verified from the PIR repository figure). */
export interface PaperRow {
  method: string;
  loss: string;
  dataset: 'RSICD' | 'RSITMD';
  i2t: [number, number, number];
  t2i: [number, number, number];
  mR: number;
}

/** The two Table 1 rows whose difference is the paper's own "full PIR vs baseline" comparison. */
export const PIR_TABLE1: readonly PaperRow[] = [
  { method: 'VSE₂ baseline (is_baseline)', loss: 'CL', dataset: 'RSICD', i2t: [10.52, 25.07, 36.78], t2i: [6.11, 23.64, 38.28], mR: 23.4 },
  { method: 'PIR', loss: 'CL+AL', dataset: 'RSICD', i2t: [9.88, 27.26, 39.16], t2i: [6.97, 24.56, 38.92], mR: 24.46 },
  { method: 'VSE₂ baseline (is_baseline)', loss: 'CL', dataset: 'RSITMD', i2t: [16.15, 40.04, 53.1], t2i: [10.75, 38.98, 60.18], mR: 36.53 },
  { method: 'PIR', loss: 'CL+AL', dataset: 'RSITMD', i2t: [18.14, 41.15, 52.88], t2i: [12.17, 41.68, 63.41], mR: 38.24 },
];

/** Paper rows as a table. */
export function paperRows(): Row[] {
  return PIR_TABLE1.map((p) => ({
    source: 'PIR Table 1 (paper)',
    dataset: p.dataset,
    method: `${p.method} (${p.loss})`,
    'i→t R@1/5/10': p.i2t.join(' / '),
    't→i R@1/5/10': p.t2i.join(' / '),
    mR: p.mR,
  }));
}

/**
 * The paper's full-vs-baseline Δ mR next to the kit's Δ for the same comparison when the table has
 * a `baseline` variant, and otherwise next to each single-mechanism removal (labelled as such).
 */
export function paperComparisonRows(summary: readonly SummaryRow[]): Row[] {
  const d = (x: number) => Math.round(x * 100) / 100;
  const out: Row[] = [];
  for (const ds of ['RSICD', 'RSITMD'] as const) {
    const base = PIR_TABLE1.find((p) => p.dataset === ds && p.loss === 'CL');
    const pir = PIR_TABLE1.find((p) => p.dataset === ds && p.loss === 'CL+AL');
    if (base && pir) out.push({ source: `paper, ${ds}`, comparison: 'PIR (full) − VSE₂ baseline', 'Δ mR (full − other)': d(pir.mR - base.mR), 'full mR': pir.mR, 'other mR': base.mR });
  }
  const full = summary.find((s) => s.ablation === FULL_MODEL);
  if (!full) return out;
  const baseline = summary.find((s) => s.ablation === 'baseline');
  const others = baseline ? [baseline] : summary.filter((s) => s.ablation !== FULL_MODEL);
  for (const s of others) {
    out.push({
      source: `kit, embedded data (${s.seeds.length} seed${s.seeds.length > 1 ? 's' : ''})`,
      comparison: s.ablation === 'baseline' ? 'full − baseline (same comparison)' : `full − ${s.ablation} (one mechanism only)`,
      'Δ mR (full − other)': d(full.mean.mR - s.mean.mR),
      'full mR': d(full.mean.mR),
      'other mR': d(s.mean.mR),
    });
  }
  return out;
}

/** The suite's variants: name, what it tests, and its override (what the config changes). */
export function suiteRows(profile: Profile, suiteName?: string, setting?: Setting): Row[] {
  const suite = loadSuite(suiteName ?? profileSuite(profile, setting));
  return suite.ablations.map((a) => {
    const spec = loadAblation(a);
    return { ablation: a, 'what it tests': spec.description, overrides: a === FULL_MODEL ? '—' : JSON.stringify(spec.overrides) };
  });
}

/** The summary as `mean ± std` strings per metric (test split), with Δ mR against the full model. */
export function summaryRows(summary: readonly SummaryRow[]): Row[] {
  const pm = (m: number, s: number) => `${m.toFixed(2)} ± ${s.toFixed(2)}`;
  return summary.map((s) => ({
    ablation: s.ablation,
    seeds: s.seeds.join(', '),
    'i→t R@1': pm(s.mean.i2t_r1, s.std.i2t_r1),
    'i→t R@5': pm(s.mean.i2t_r5, s.std.i2t_r5),
    'i→t R@10': pm(s.mean.i2t_r10, s.std.i2t_r10),
    't→i R@1': pm(s.mean.t2i_r1, s.std.t2i_r1),
    't→i R@5': pm(s.mean.t2i_r5, s.std.t2i_r5),
    't→i R@10': pm(s.mean.t2i_r10, s.std.t2i_r10),
    'mR (test)': pm(s.mean.mR, s.std.mR),
    'Δ mR vs full': Number.isFinite(s.deltaMR) ? Math.round(s.deltaMR * 100) / 100 : null,
    'val mR': pm(s.mean.val_mR, s.std.val_mR),
  }));
}
