/**
 * v1 against v2: the same mechanisms, read on the same measures, in the first version's single-corpus
 * regime (suite `paper`, embedded v1) and in the paper's two settings on embedded v2 (suites
 * `v2-closed`, `v2-open`). One row per mechanism: its paired Δ mR with the 95 % t interval over seeds
 * and the reading of `verdict`, per regime; then the full models' diagnostics side by side (where the
 * belief sits, class structure, rare-word queries). Built from finished runs or result records only
 * (`finishedSuiteResults`: the suite tables' own intervals and verdicts), so a fresh clone rebuilds it without training.
 */
import { FULL_MODEL, loadSuite } from '../config/experiment';
import { finishedSuiteResults } from './ablation_runner';
import { SummaryRow, bracket, shortVerdict, signed } from './results';
import { DiagnosticColumn } from '../evaluation/diagnostics';

/** The regimes compared, in column order: name → suite. */
export const REGIMES = [
  { name: 'v1 (one corpus, hybrid recipe)', suite: 'paper' },
  { name: 'v2 closed (PIR)', suite: 'v2-closed' },
  { name: 'v2 open (PriorCLIP)', suite: 'v2-open' },
] as const;

/** A mechanism and the ablation that removes it in each regime (absent: the regime has no such variant). */
export interface RegimeMechanism {
  mechanism: string;
  /** Ablation name per suite. */
  ablations: Partial<Record<(typeof REGIMES)[number]['suite'], string>>;
  /** What differs between the regimes' variants, when they are not the same change. */
  note?: string;
}

/** The mechanisms the paper's ablations remove, mapped onto each regime's variants. */
export const REGIME_MECHANISMS: readonly RegimeMechanism[] = [
  { mechanism: 'all three (PIR baseline: no S-PAE, T-PAE, affiliation)', ablations: { paper: 'baseline', 'v2-closed': 'baseline' } },
  { mechanism: 'the belief (S-PAE / vision instruction)', ablations: { paper: 'no-spatial-pae', 'v2-closed': 'no-spatial-pae', 'v2-open': 'open-no-belief' }, note: 'open: softBelief none, a plain ViT' },
  { mechanism: 'T-PAE', ablations: { paper: 'no-temporal-pae', 'v2-closed': 'no-temporal-pae' } },
  { mechanism: 'affiliation loss', ablations: { paper: 'no-affiliation', 'v2-closed': 'no-affiliation', 'v2-open': 'no-affiliation' } },
  { mechanism: 'the prior', ablations: { paper: 'no-prior', 'v2-closed': 'no-prior', 'v2-open': 'open-prior-random' }, note: 'open: the prior kept but not pretrained (random, frozen)' },
  { mechanism: 'external prior corpus → prior on the fine set', ablations: { 'v2-closed': 'prior-fine-only' }, note: 'the v1 regime inside v2' },
  { mechanism: 'top-K filter (K 65 = no filtering)', ablations: { paper: 'filter-size-k65', 'v2-closed': 'filter-size-k65' } },
  { mechanism: 'hard → soft belief (HEAD formula)', ablations: { paper: 'belief-soft-head', 'v2-closed': 'belief-soft-head' } },
  { mechanism: 'hard/HEAD → soft belief (20bbe30 formula)', ablations: { paper: 'belief-soft-c20bbe30', 'v2-closed': 'belief-soft-c20bbe30', 'v2-open': 'open-belief-c20bbe30' }, note: 'open: HEAD → 20bbe30' },
  { mechanism: 'stage 1 (coarse pre-training)', ablations: { paper: 'no-stage1', 'v2-open': 'no-stage1' } },
  { mechanism: 'text tower frozen in stage 2 → trained', ablations: { paper: 'text-encoder-trained', 'v2-open': 'text-encoder-trained' } },
];

/** Each regime's suite summary (finished rows only) and the seeds it covers. */
export interface RegimeSummary {
  name: string;
  suite: string;
  summary: SummaryRow[];
  /** Variant × seed rows found, of the suite's total. */
  found: number;
  total: number;
}

/** Summaries of the three regimes from their finished runs / result records. */
export function regimeSummaries(): RegimeSummary[] {
  return REGIMES.map((r) => {
    const suite = loadSuite(r.suite);
    const { rows, summary } = finishedSuiteResults(suite);
    return { name: r.name, suite: r.suite, summary, found: rows.length, total: suite.ablations.length * suite.seeds.length };
  });
}

/** "−1.36 [−2.40, −0.31] below full (5 seeds)", or '—' when the regime has no such variant (or no run yet). */
function cell(reg: RegimeSummary, ablation: string | undefined): string {
  if (!ablation) return '—';
  const s = reg.summary.find((x) => x.ablation === ablation);
  const full = reg.summary.find((x) => x.ablation === FULL_MODEL);
  if (!s || !full || s.pairedDeltaMR.n === 0) return 'not run yet';
  const p = s.pairedDeltaMR;
  const ci = p.ci ? ` ${bracket(p.ci)}` : '';
  return `${signed(p.mean)}${ci} ${shortVerdict(s, full)} (${p.n} seed${p.n > 1 ? 's' : ''})`;
}

const DIAG_ROWS: { label: string; columns: DiagnosticColumn[]; digits: number }[] = [
  { label: 'belief: key mass ÷ key area (1 = uniform)', columns: ['belief_key_ratio'], digits: 2 },
  { label: 'belief: top-K precision (chance)', columns: ['belief_topk_precision', 'belief_topk_chance'], digits: 3 },
  { label: 'belief: distractor mass ÷ area', columns: ['belief_distractor_ratio'], digits: 2 },
  { label: 'belief: effective tokens', columns: ['belief_effective_tokens'], digits: 1 },
  { label: 'silhouette image / text', columns: ['silhouette_image', 'silhouette_text'], digits: 2 },
  { label: 'class accuracy i→t / t→i (%)', columns: ['class_acc_i2t', 'class_acc_t2i'], digits: 1 },
  { label: 't→i mean R@K: rare-word / in-vocabulary queries', columns: ['rare_t2i_mean', 'invocab_t2i_mean'], digits: 1 },
];

function diagCell(reg: RegimeSummary, columns: DiagnosticColumn[], digits: number): string {
  const d = reg.summary.find((x) => x.ablation === FULL_MODEL)?.diagnostics;
  if (!d) return '—';
  const f = (c: DiagnosticColumn) => (d[c] !== undefined && Number.isFinite(d[c]) ? (d[c] as number).toFixed(digits) : '—');
  return columns.length === 2 && columns[1] === 'belief_topk_chance' ? `${f(columns[0])} (${f(columns[1])})` : columns.map(f).join(' / ');
}

/** The comparison as Markdown: mechanisms × regimes, then the full models' diagnostics × regimes. */
export function regimeComparisonMarkdown(regs: readonly RegimeSummary[] = regimeSummaries()): string {
  const head = `| mechanism removed / changed | ${regs.map((r) => `${r.name}: paired Δ mR [95 % t], reading`).join(' | ')} | note |`;
  const sep = '|' + '---|'.repeat(regs.length + 2);
  const lines = REGIME_MECHANISMS.map((m) => `| ${m.mechanism} | ${regs.map((r) => cell(r, m.ablations[r.suite as keyof RegimeMechanism['ablations']])).join(' | ')} | ${m.note ?? ''} |`);
  const fullRow = `| full model: test mR (chance differs: 90 vs 774 test images) | ${regs.map((r) => {
    const f = r.summary.find((x) => x.ablation === FULL_MODEL);
    return f ? `${f.mean.mR.toFixed(2)} ± ${f.std.mR.toFixed(2)} (${f.seeds.length} seed${f.seeds.length > 1 ? 's' : ''})` : 'not run yet';
  }).join(' | ')} | |`;
  const coverage = `| runs found (variant × seed) | ${regs.map((r) => `${r.found} / ${r.total}`).join(' | ')} | |`;
  const dHead = `| full model's diagnostics (mean over seeds) | ${regs.map((r) => r.name).join(' | ')} |`;
  const dSep = '|' + '---|'.repeat(regs.length + 1);
  const dLines = DIAG_ROWS.map((row) => `| ${row.label} | ${regs.map((r) => diagCell(r, row.columns, row.digits)).join(' | ')} |`);
  return [head, sep, fullRow, ...lines, coverage, '', dHead, dSep, ...dLines].join('\n') + '\n';
}
