/**
 * Parity of the retrieval metrics against the golden `retrieval` case (`<dir>/retrieval.safetensors`
 * + `retrieval.json`, golden README §6), for the parity CLI and the tests.
 *
 * Compared: per-query ranks under 'optimistic', 'pessimistic' and 'pir-argsort' with the aux ranks
 * (exact), per-query torch.topk hits at K ∈ {1,5,10} under 'clip-topk' (exact), the rounded reference
 * metrics of both protocols (to 2 decimals: |Δ| ≤ 0.005) and the unrounded metrics of the JSON (1e-4).
 */
import * as fs from 'fs';
import * as path from 'path';
import { toFloat32, toInt32Numbers } from '../io/safetensors';
import { RetrievalMetrics, retrievalMetricsFromMatrix, TieRule } from '../evaluation/retrieval_metrics';
import { compareValues, failedRow, readFixtureTensors } from './compare';
import { ParityRow } from './types';

/** Tolerance of the reference's 2-decimal rounding. */
const ROUNDED_ATOL = 0.005;
/** Tolerance on unrounded metrics. */
const UNROUNDED_ATOL = 1e-4;
/** Ranks and hits are integers: compared exactly. */
const EXACT = { exact: true } as const;


/** Run the retrieval case in `dir` under every tie rule and compare. */
export function runRetrievalCase(dir: string): ParityRow[] {
  const file = path.join(dir, 'retrieval.safetensors');
  const { tensors: t, get } = readFixtureTensors(file);
  const simsT = get('input/sims');
  const [I, T] = simsT.shape;
  const sims = toFloat32(simsT);
  const txt2img = Int32Array.from(toInt32Numbers(get('input/txt2img'), 'input/txt2img'));
  const rows: ParityRow[] = [];
  // Every K named in the file (hit_*_topk_K<k>, txt_r<k>, image2text_R<k>, …), read from the names.
  const ksInFile = new Set<number>();
  for (const k of t.keys()) {
    const m = /(?:_K|_r|_R)(\d+)$/.exec(k);
    if (m) ksInFile.add(Number(m[1]));
  }
  const byRule = {} as Record<TieRule, RetrievalMetrics>;
  for (const rule of ['optimistic', 'pessimistic', 'pir-argsort', 'clip-topk'] as TieRule[]) {
    byRule[rule] = retrievalMetricsFromMatrix(sims, I, txt2img, { tieRule: rule, keepRanks: true, ks: [...ksInFile] });
  }
  const auxRank: Record<string, TieRule> = { optimistic: 'optimistic', pessimistic: 'pessimistic', itm_eval: 'pir-argsort' };
  for (const [aux, rule] of Object.entries(auxRank)) {
    for (const dir2 of ['i2t', 't2i'] as const) {
      const name = `aux/rank_${dir2}_${aux}`;
      if (!t.has(name)) continue;
      rows.push(compareValues(`${name} ← ${rule}`, byRule[rule].ranks![dir2], toInt32Numbers(get(name), name), EXACT));
    }
  }
  const topk = byRule['clip-topk'];
  const ks = topk.hits!.ks;
  for (const dir2 of ['i2t', 't2i'] as const) {
    for (const k of ks) {
      const name = `aux/hit_${dir2}_topk_K${k}`;
      if (!t.has(name)) continue;
      const j = ks.indexOf(k);
      const hits = topk.hits![dir2];
      const got = Array.from({ length: hits.length / ks.length }, (_, q) => hits[q * ks.length + j]);
      rows.push(compareValues(`${name} ← clip-topk`, got, toInt32Numbers(get(name), name), EXACT));
    }
  }
  // Rounded reference outputs (any K): itm_eval txt_r<K>/img_r<K>/r_mean, recall_at_k image2text_R<K>/text2image_R<K>/mean_recall.
  const recall = (m: RetrievalMetrics, dir2: 'i2t' | 't2i', k: number): number | undefined => m.details[dir2].recallAt[String(k)];
  for (const name of [...t.keys()].filter((k) => k.startsWith('output/')).sort()) {
    let got: number | undefined;
    let rule: TieRule;
    const itm = /^output\/itm_eval\/(txt|img)_r(\d+)$/.exec(name);
    const rak = /^output\/recall_at_k\/(image2text|text2image)_R(\d+)$/.exec(name);
    if (itm) {
      rule = 'pir-argsort';
      got = recall(byRule[rule], itm[1] === 'txt' ? 'i2t' : 't2i', Number(itm[2]));
    } else if (rak) {
      rule = 'clip-topk';
      got = recall(byRule[rule], rak[1] === 'image2text' ? 'i2t' : 't2i', Number(rak[2]));
    } else if (name === 'output/itm_eval/r_mean') {
      rule = 'pir-argsort';
      got = byRule[rule].mR;
    } else if (name === 'output/recall_at_k/mean_recall') {
      rule = 'clip-topk';
      got = byRule[rule].mR;
    } else {
      rows.push(failedRow(name, 'not computed by the kit'));
      continue;
    }
    if (got === undefined) rows.push(failedRow(name, 'K not computed'));
    else rows.push(compareValues(`${name} ← ${rule}`, [got], toFloat32(get(name)), { exact: false, rtol: 0, atol: ROUNDED_ATOL }));
  }
  // Unrounded metrics recorded in the JSON sidecar.
  const jsonFile = path.join(dir, 'retrieval.json');
  if (fs.existsSync(jsonFile)) {
    const meta = JSON.parse(fs.readFileSync(jsonFile, 'utf8')) as { metrics_under_tie_rules_unrounded?: Record<string, Record<string, number>> };
    const keyRule: Record<string, TieRule> = {
      optimistic_strictly_greater: 'optimistic',
      pessimistic_ties_ranked_ahead: 'pessimistic',
      itm_eval_numpy_argsort_reversed: 'pir-argsort',
      clip_benchmark_torch_topk: 'clip-topk',
    };
    for (const [key, vals] of Object.entries(meta.metrics_under_tie_rules_unrounded ?? {})) {
      const rule = keyRule[key];
      if (!rule) {
        rows.push(failedRow(`${jsonFile}: tie rule '${key}'`, 'unknown tie rule'));
        continue;
      }
      const m = byRule[rule];
      const names = Object.keys(vals);
      const gotOf = (n: string): number => {
        const r = /^(txt|img)_r(\d+)$/.exec(n);
        if (r) return recall(m, r[1] === 'txt' ? 'i2t' : 't2i', Number(r[2])) ?? NaN;
        return n === 'r_mean' ? m.mR : NaN;
      };
      rows.push(compareValues(`json ${key} (${names.length} values) ← ${rule}`, names.map(gotOf), names.map((n) => vals[n] as number), { exact: false, rtol: 0, atol: UNROUNDED_ATOL }));
    }
  }
  return rows;
}
