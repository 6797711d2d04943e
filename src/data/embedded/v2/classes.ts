/**
 * Scene classes that only the v2 prior and coarse corpora draw (AID has classes RSITMD lacks:
 * bare land, commercial, stadium, dense residential). They reuse v1's object kinds, so a prior
 * trained on them sees more scene types than the fine set without a new kind of object.
 * They have no fine caption facts: the fine corpus keeps v1's 18 classes.
 */
import { SeedStream } from '../../../utils/random';
import { DrawOp, Rgb } from '../raster';
import { KIND_COLOURS, SceneObject } from '../objects';
import { LAND, ObjectKind } from '../vocabulary';
import { Box, SceneBuilder, jitter } from '../scene';

/** The AID-only classes, in generation order. */
export const V2_EXTRA_CLASSES = ['bareland', 'commercial', 'stadium', 'denseresidential'] as const;

function fill(colour: Rgb, texture: number): DrawOp {
  return { op: 'fill', colour, texture };
}

function rect(b: Box, colour: Rgb, texture = 0): DrawOp {
  return { op: 'rect', x0: b.x0, y0: b.y0, x1: b.x1, y1: b.y1, colour, texture };
}

function pick(kind: ObjectKind): (r: SeedStream) => (typeof KIND_COLOURS)[ObjectKind][number] {
  return (r) => r.pick(KIND_COLOURS[kind]);
}

/** Bare soil with tyre tracks and a few shrubs. */
function bareland(b: SceneBuilder): void {
  const r = b.rng;
  b.bg(fill(jitter(LAND.soil, 0.1, r), 0.35));
  for (let k = 0; k < r.intBetween(1, 3); k++) {
    const y0 = r.uniform(0.1, 0.9);
    b.bg({ op: 'band', pts: [[-0.05, y0], [0.5, r.uniform(0.1, 0.9)], [1.05, r.uniform(0.1, 0.9)]], width: 0.02, colour: [150, 120, 88], texture: 0.1 });
  }
  b.place('shrub', r.intBetween(1, 6), { x0: 0.05, y0: 0.05, x1: 0.95, y1: 0.95 }, { colour: 'green', role: 'key', size: (q) => q.uniform(0.04, 0.06) });
}

/** Commercial block: concrete, a road grid, large buildings and parked cars. */
function commercial(b: SceneBuilder): void {
  const r = b.rng;
  b.bg(fill(jitter(LAND.concrete, 0.06, r), 0.12));
  const at = r.uniform(0.4, 0.6);
  b.bg({ op: 'band', pts: [[-0.05, at], [1.05, at]], width: 0.07, colour: LAND.asphalt, texture: 0.05 });
  b.bg({ op: 'band', pts: [[at, -0.05], [at, 1.05]], width: 0.07, colour: LAND.asphalt, texture: 0.05 });
  b.forbid({ x0: 0, y0: at - 0.06, x1: 1, y1: at + 0.06 });
  b.forbid({ x0: at - 0.06, y0: 0, x1: at + 0.06, y1: 1 });
  b.place('building', r.intBetween(2, 4), { x0: 0.1, y0: 0.1, x1: 0.9, y1: 0.9 }, { colour: pick('building'), role: 'key', angle: (q) => q.pick([0, Math.PI / 2]), size: (q) => q.uniform(0.2, 0.26) });
  b.place('car', r.intBetween(2, 8), { x0: 0.05, y0: 0.05, x1: 0.95, y1: 0.95 }, { colour: pick('car'), role: 'context', angle: (q) => q.pick([0, Math.PI / 2]) });
}

/** A stadium: a large oval track in a concrete ring with parked cars. */
function stadium(b: SceneBuilder): void {
  const r = b.rng;
  b.bg(fill(jitter(LAND.grass, 0.08, r), 0.2));
  const cx = r.uniform(0.45, 0.55);
  const cy = r.uniform(0.45, 0.55);
  const angle = r.pick([0, Math.PI / 2]) + r.uniform(-0.1, 0.1);
  b.bg({ op: 'ellipse', cx, cy, rx: 0.42, ry: 0.3, angle, colour: jitter(LAND.concrete, 0.05, r), texture: 0.08 });
  const track: SceneObject = { kind: 'track', colour: r.pick(KIND_COLOURS.track), cx, cy, size: r.uniform(0.6, 0.66), angle, role: 'key' };
  b.add(track);
  b.place('car', r.intBetween(0, 6), { x0: 0.04, y0: 0.04, x1: 0.96, y1: 0.96 }, { colour: pick('car'), role: 'context' });
}

/** Dense residential: several rows of small houses between narrow streets. */
function denseresidential(b: SceneBuilder): void {
  const r = b.rng;
  b.bg(fill(jitter(LAND.lightGrass, 0.08, r), 0.2));
  const vertical = r.bernoulli(0.5);
  const colour = r.pick(KIND_COLOURS.house);
  const rows = r.intBetween(3, 4);
  const perRow = r.intBetween(4, 6);
  for (let i = 0; i < rows; i++) {
    const across = (i + 0.5) / rows;
    const street = across + 0.5 / rows;
    if (i + 1 < rows) b.bg({ op: 'band', pts: vertical ? [[street, -0.05], [street, 1.05]] : [[-0.05, street], [1.05, street]], width: 0.03, colour: LAND.asphalt });
    for (let j = 0; j < perRow; j++) {
      const along = (j + 0.5) / perRow + r.uniform(-0.01, 0.01);
      b.add({ kind: 'house', colour, cx: vertical ? across : along, cy: vertical ? along : across, size: r.uniform(0.08, 0.09), angle: vertical ? Math.PI / 2 : 0, role: 'key' });
    }
  }
}

/** Builder per AID-only class. */
export const V2_EXTRA_BUILDERS: Record<(typeof V2_EXTRA_CLASSES)[number], (b: SceneBuilder) => void> = {
  bareland,
  commercial,
  stadium,
  denseresidential,
};

/** Object kinds of the AID-only classes' own scenes (never their distractors). */
export const V2_EXTRA_CLASS_KINDS: Record<(typeof V2_EXTRA_CLASSES)[number], ObjectKind[]> = {
  bareland: ['shrub'],
  commercial: ['building', 'car'],
  stadium: ['track', 'car'],
  denseresidential: ['house'],
};
