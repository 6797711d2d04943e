/**
 * Belief localisation across checkpoints: for one belief rule, grouped bars per checkpoint of
 * key mass ÷ key area, top-K precision ÷ chance and distractor mass ÷ distractor area; the dashed
 * line at 1 is a uniform belief (and chance precision). Above 1 on the first two = the belief
 * finds the scene-defining objects; above 1 on the third = it finds the distractors.
 */
import { NEUTRAL, PlotlyFigure, PlotlyTrace, runColor } from '../theme';
import { BeliefLocalisation, BeliefRule } from '../../evaluation/belief_localisation';

/** One checkpoint's localisation. */
export interface LocalisationPoint {
  label: string;
  localisation: BeliefLocalisation;
}

/** The three ratios of a rule (1 = uniform / chance). */
export function localisationRatios(bl: BeliefLocalisation, rule: BeliefRule): { key: number; precision: number; distractor: number } {
  const s = bl.rules[rule];
  return { key: s.keyRatio, precision: s.topKChance > 0 ? s.topKPrecision / s.topKChance : Number.NaN, distractor: s.distractorRatio };
}

/** Grouped bars of the three ratios per checkpoint. */
export function beliefLocalisationFigure(points: readonly LocalisationPoint[], rule: BeliefRule = 'hard', title?: string): PlotlyFigure {
  if (points.length === 0) throw new Error('beliefLocalisationFigure: no checkpoints');
  const k = points[0].localisation.rules[rule].k;
  const x = ['key mass / key area', `top-${k} precision / chance`, 'distractor mass / distractor area'];
  const data: PlotlyTrace[] = points.map((p, i) => {
    const r = localisationRatios(p.localisation, rule);
    const y = [r.key, r.precision, r.distractor];
    return { type: 'bar', name: p.label, x, y, marker: { color: runColor(i) }, text: y.map((v) => v.toFixed(2)), textposition: 'outside', hovertemplate: `${p.label} · %{x}: %{y:.2f}<extra></extra>` };
  });
  return {
    data,
    layout: {
      title: title ?? `Where the ${rule} belief lands (test split; 1 = uniform belief / chance)`,
      barmode: 'group',
      yaxis: { title: 'ratio (1 = no better than uniform)', rangemode: 'tozero' },
      shapes: [{ type: 'line', xref: 'paper', x0: 0, x1: 1, y0: 1, y1: 1, line: { dash: 'dash', color: NEUTRAL.reference, width: 1 } }],
    },
  };
}
