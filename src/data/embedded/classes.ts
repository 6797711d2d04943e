/**
 * The scene classes of the embedded benchmark: one builder per RSITMD-style class.
 *
 * Each builder draws the class's own land cover and layout and places its typical (key) objects,
 * whose count, colour, size and position vary inside the class; it records caption facts about
 * exactly what it placed. Images of one class therefore differ only by the details the captions
 * describe (counts, colours, positions, orientations).
 */
import { SeedStream } from '../../utils/random';
import { DrawOp, Point, Rgb, shade } from './raster';
import { KIND_COLOURS, SceneObject } from './objects';
import { COLOURS, ColourName, LAND, ObjectKind, REGIONS, Region, article, countWord, regionCentre } from './vocabulary';
import { Box, SceneBuilder, attributeFact, groupFact, groupRegion, jitter, locPhrase } from './scene';

/** Half-width of the box a located group is scattered in, around its region centre. */
const GROUP_HALF = 0.2;

/** A box of half-width `half` around a region centre, clipped to the image. */
function regionBox(region: Region, half = GROUP_HALF): Box {
  const [x, y] = regionCentre(region);
  return { x0: Math.max(0.04, x - half), y0: Math.max(0.04, y - half), x1: Math.min(0.96, x + half), y1: Math.min(0.96, y + half) };
}

/** Axis-aligned angle (0 or π/2) plus small jitter. */
function axisAngle(r: SeedStream, vertical: boolean, jitterRad = 0.08): number {
  return (vertical ? Math.PI / 2 : 0) + r.uniform(-jitterRad, jitterRad);
}

/** A textured background fill. */
function fill(colour: Rgb, texture: number): DrawOp {
  return { op: 'fill', colour, texture };
}

/** Trees as background texture (not counted objects): n random canopy blobs. */
function treeTexture(b: SceneBuilder, n: number, box: Box, base: Rgb, sizeLo: number, sizeHi: number): void {
  const r = b.rng;
  for (let i = 0; i < n; i++) {
    const rad = r.uniform(sizeLo, sizeHi);
    b.bg({ op: 'ellipse', cx: r.uniform(box.x0, box.x1), cy: r.uniform(box.y0, box.y1), rx: rad, ry: rad, angle: 0, colour: jitter(base, 0.18, r), texture: 0.2 });
  }
}

/** Which side of the image something is on. */
type Side = 'left' | 'right' | 'top' | 'bottom';
const SIDES: readonly Side[] = ['left', 'right', 'top', 'bottom'];
/** Phrases for a side. */
const SIDE_PHRASES: Record<Side, string[]> = {
  left: ['on the left', 'on the left side'],
  right: ['on the right', 'on the right side'],
  top: ['at the top', 'along the top'],
  bottom: ['at the bottom', 'along the bottom'],
};

/** The part of the image on a side, `frac` deep. */
function sideBox(side: Side, frac: number): Box {
  switch (side) {
    case 'left':
      return { x0: 0, y0: 0, x1: frac, y1: 1 };
    case 'right':
      return { x0: 1 - frac, y0: 0, x1: 1, y1: 1 };
    case 'top':
      return { x0: 0, y0: 0, x1: 1, y1: frac };
    case 'bottom':
      return { x0: 0, y0: 1 - frac, x1: 1, y1: 1 };
  }
}

function rectOp(b: Box, colour: Rgb, texture = 0): DrawOp {
  return { op: 'rect', x0: b.x0, y0: b.y0, x1: b.x1, y1: b.y1, colour, texture };
}

/** Shrink a box by a margin on all sides. */
function inset(b: Box, m: number): Box {
  return { x0: b.x0 + m, y0: b.y0 + m, x1: b.x1 - m, y1: b.y1 - m };
}

function orientationWords(vertical: boolean): { adj: string; run: string } {
  return vertical ? { adj: 'vertical', run: 'from top to bottom' } : { adj: 'horizontal', run: 'from left to right' };
}

/** A meandering polyline across the image (horizontal or vertical main direction). */
function meander(r: SeedStream, vertical: boolean, centre: number, amplitude: number, steps = 12): Point[] {
  const phase = r.uniform(0, 2 * Math.PI);
  const freq = r.uniform(0.8, 1.6);
  const pts: Point[] = [];
  for (let i = 0; i <= steps; i++) {
    const t = -0.05 + (1.1 * i) / steps;
    const off = centre + amplitude * Math.sin(phase + freq * Math.PI * t);
    pts.push(vertical ? [off, t] : [t, off]);
  }
  return pts;
}

function pickColour(kind: ObjectKind): (r: SeedStream) => ColourName {
  return (r) => r.pick(KIND_COLOURS[kind]);
}

// ---------------------------------------------------------------------------------------------
// Class builders
// ---------------------------------------------------------------------------------------------

function airport(b: SceneBuilder): void {
  const r = b.rng;
  b.bg(fill(jitter(LAND.dryGrass, 0.08, r), 0.25));
  const vertical = r.bernoulli(0.5);
  const runwaySide: Side = vertical ? (r.bernoulli(0.5) ? 'left' : 'right') : r.bernoulli(0.5) ? 'top' : 'bottom';
  const at = r.uniform(0.16, 0.24);
  const pos = runwaySide === 'left' || runwaySide === 'top' ? at : 1 - at;
  const width = r.uniform(0.09, 0.12);
  const line: Point[] = vertical ? [[pos, -0.05], [pos, 1.05]] : [[-0.05, pos], [1.05, pos]];
  b.bg({ op: 'band', pts: line, width, colour: LAND.asphalt, texture: 0.08 });
  for (let k = 0; k < 8; k++) {
    const t = 0.06 + k * 0.125;
    const dash: Box = vertical ? { x0: pos - 0.006, y0: t, x1: pos + 0.006, y1: t + 0.06 } : { x0: t, y0: pos - 0.006, x1: t + 0.06, y1: pos + 0.006 };
    b.bg(rectOp(dash, COLOURS.white));
  }
  b.forbid(vertical ? { x0: pos - width, y0: 0, x1: pos + width, y1: 1 } : { x0: 0, y0: pos - width, x1: 1, y1: pos + width });
  // Apron (concrete) on the far side of the runway; planes stand on it.
  const across = r.pick([0.3, 0.5, 0.7]);
  const half = 0.25;
  const nearEdge = runwaySide === 'left' || runwaySide === 'top' ? pos + width / 2 + 0.08 : 0.03;
  const farEdge = runwaySide === 'left' || runwaySide === 'top' ? 0.97 : pos - width / 2 - 0.08;
  const apronClip: Box = vertical
    ? { x0: nearEdge, y0: Math.max(0.03, across - half), x1: farEdge, y1: Math.min(0.97, across + half) }
    : { x0: Math.max(0.03, across - half), y0: nearEdge, x1: Math.min(0.97, across + half), y1: farEdge };
  b.bg(rectOp(apronClip, jitter(LAND.concrete, 0.06, r), 0.06));
  const taxi: Point[] = vertical ? [[pos, across], [(apronClip.x0 + apronClip.x1) / 2, across]] : [[across, pos], [across, (apronClip.y0 + apronClip.y1) / 2]];
  b.bg({ op: 'band', pts: taxi, width: 0.035, colour: LAND.asphalt });
  const colour = r.pick(KIND_COLOURS.plane);
  const planes = b.place('plane', r.intBetween(1, 5), inset(apronClip, 0.05), {
    colour,
    role: 'key',
    size: (q) => q.uniform(0.14, 0.19),
    angle: (q) => q.pick([0, Math.PI / 2, Math.PI, -Math.PI / 2]) + q.uniform(-0.15, 0.15),
    gap: 0.9,
  });
  const o = orientationWords(vertical);
  b.attributes.runway = o.adj;
  b.attributes.runwaySide = runwaySide;
  b.facts.push(
    groupFact('plane', planes, {
      colour,
      verbs: [['are parked', 'is parked'], ['stand on the apron', 'stands on the apron'], ['can be seen', 'can be seen']],
      located: true,
      key: true,
    }),
    attributeFact(
      [`a ${o.adj} runway ${r.pick(SIDE_PHRASES[runwaySide])}`, `a long ${o.adj} runway`],
      [`a ${o.adj} runway runs ${SIDE_PHRASES[runwaySide][0]}`, `the runway runs ${o.run} ${SIDE_PHRASES[runwaySide][1]}`],
    ),
  );
}

function port(b: SceneBuilder): void {
  const r = b.rng;
  const side = r.pick(SIDES);
  const depth = r.uniform(0.5, 0.62);
  b.bg(fill(jitter(LAND.concrete, 0.06, r), 0.12));
  const water = sideBox(side, depth);
  b.bg(rectOp(water, jitter(LAND.water, 0.1, r), 0.12));
  // Warehouses on land (layout, not counted).
  const land = sideBox(side === 'left' ? 'right' : side === 'right' ? 'left' : side === 'top' ? 'bottom' : 'top', 1 - depth);
  for (let k = 0; k < 3; k++) {
    const cx = r.uniform(land.x0 + 0.1, land.x1 - 0.1);
    const cy = r.uniform(land.y0 + 0.08, land.y1 - 0.08);
    b.bg(rectOp({ x0: cx - 0.07, y0: cy - 0.04, x1: cx + 0.07, y1: cy + 0.04 }, jitter(LAND.roof, 0.2, r), 0.05));
  }
  const vertical = side === 'top' || side === 'bottom';
  const nPiers = r.intBetween(1, 3);
  const shore = side === 'left' ? depth : side === 'right' ? 1 - depth : side === 'top' ? depth : 1 - depth;
  const dir = side === 'left' || side === 'top' ? -1 : 1;
  const piers: SceneObject[] = [];
  const pierLen = r.uniform(0.26, 0.34);
  for (let k = 0; k < nPiers; k++) {
    const along = (k + 1) / (nPiers + 1);
    const centre = shore + (dir * pierLen) / 2;
    piers.push(
      b.add(
        { kind: 'pier', colour: 'grey', cx: vertical ? along : centre, cy: vertical ? centre : along, size: pierLen, angle: vertical ? Math.PI / 2 : 0, role: 'context' },
        false,
      ),
    );
  }
  const colour = r.pick(KIND_COLOURS.ship);
  const ships = b.place('ship', r.intBetween(1, 5), inset(water, 0.06), {
    colour,
    role: 'key',
    size: (q) => q.uniform(0.18, 0.24),
    angle: (q) => (vertical ? Math.PI / 2 : 0) + q.pick([0, Math.PI]) + q.uniform(-0.1, 0.1),
    gap: 0.8,
  });
  b.attributes.waterSide = side;
  b.facts.push(
    groupFact('ship', ships, {
      colour,
      verbs: [['are docked', 'is docked'], ['are moored', 'is moored'], ['float on the water', 'floats on the water']],
      located: true,
      key: true,
    }),
    attributeFact(
      [`the water ${SIDE_PHRASES[side][0]}`, `a harbor basin ${SIDE_PHRASES[side][1]}`],
      [`the water lies ${SIDE_PHRASES[side][0]}`, `the harbor basin is ${SIDE_PHRASES[side][1]}`],
    ),
    groupFact('pier', piers, { colour: null, verbs: [['extend into the water', 'extends into the water'], ['reach into the sea', 'reaches into the sea']], located: false, key: false }),
  );
}

function farmland(b: SceneBuilder): void {
  const r = b.rng;
  b.bg(fill(LAND.soil, 0.15));
  const rows = r.intBetween(2, 4);
  const cols = r.intBetween(2, 4);
  const cropColours: Record<'green' | 'yellow' | 'brown', Rgb> = { green: [86, 146, 58], yellow: [206, 184, 88], brown: [146, 110, 70] };
  const crops = ['green', 'yellow', 'brown'] as const;
  const dominant = r.pick(crops);
  const n = rows * cols;
  const nDominant = Math.floor(n / 2) + 1 + r.int(Math.ceil(n / 2));
  const assignment = r.shuffle(Array.from({ length: n }, (_, i) => (i < nDominant ? dominant : r.pick(crops.filter((c) => c !== dominant)))));
  const gapW = 0.015;
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) {
      const f: Box = { x0: j / cols + gapW, y0: i / rows + gapW, x1: (j + 1) / cols - gapW, y1: (i + 1) / rows - gapW };
      const crop = assignment[i * cols + j];
      const base = jitter(cropColours[crop], 0.08, r);
      b.bg(rectOp(f, base, 0.12));
      // Crop rows: thin darker stripes along the field.
      const vert = r.bernoulli(0.5);
      const stripes = 5;
      for (let k = 1; k < stripes; k++) {
        const s: Box = vert
          ? { x0: f.x0 + ((f.x1 - f.x0) * k) / stripes - 0.004, y0: f.y0, x1: f.x0 + ((f.x1 - f.x0) * k) / stripes + 0.004, y1: f.y1 }
          : { x0: f.x0, y0: f.y0 + ((f.y1 - f.y0) * k) / stripes - 0.004, x1: f.x1, y1: f.y0 + ((f.y1 - f.y0) * k) / stripes + 0.004 };
        b.bg(rectOp(s, shade(base, 0.82)));
      }
    }
  }
  const region = r.pick(REGIONS);
  const houseColour = r.pick(['red', 'white', 'grey'] as const);
  const houses = b.place('house', r.intBetween(0, 3), regionBox(region, 0.14), { colour: houseColour, role: 'key', angle: (q) => q.pick([0, Math.PI / 2]) });
  b.attributes.grid = `${rows}x${cols}`;
  b.attributes.dominantCrop = dominant;
  b.facts.push(
    attributeFact(
      [`fields in ${rowsWord(rows)} rows and ${rowsWord(cols)} columns`, `a grid of ${rowsWord(rows)} by ${rowsWord(cols)} fields`],
      [`the fields are divided into ${rowsWord(rows)} rows and ${rowsWord(cols)} columns`, `the land is cut into a grid of ${rowsWord(rows)} by ${rowsWord(cols)} plots`],
      true,
    ),
    attributeFact(
      [`mostly ${dominant} fields`, `fields that are mainly ${dominant}`],
      [`most of the fields are ${dominant}`, `${dominant} crops cover most of the fields`],
      true,
    ),
    groupFact('house', houses, {
      colour: houseColour,
      verbs: [['stand between the fields', 'stands between the fields'], ['are built', 'is built']],
      located: true,
      key: false,
      nounForms: (pl) => (pl ? [`${houseColour} farmhouses`, `${houseColour} houses`] : [`${houseColour} farmhouse`, `${houseColour} house`]),
    }),
  );
}

/** Number words for rows/columns (so they are never followed by an object noun). */
function rowsWord(n: number): string {
  return ['zero', 'one', 'two', 'three', 'four', 'five', 'six'][n] ?? String(n);
}

function forest(b: SceneBuilder): void {
  const r = b.rng;
  const tone = r.pick(['dark green', 'light green', 'autumn'] as const);
  const canopy: Rgb = tone === 'dark green' ? [30, 74, 34] : tone === 'light green' ? [70, 122, 48] : [140, 98, 42];
  b.bg(fill(jitter(canopy, 0.06, r), 0.3));
  treeTexture(b, 160, { x0: 0, y0: 0, x1: 1, y1: 1 }, canopy, 0.03, 0.06);
  const road = r.pick(['none', 'horizontal', 'vertical'] as const);
  if (road !== 'none') {
    const at = r.uniform(0.3, 0.7);
    b.bg({ op: 'band', pts: meander(r, road === 'vertical', at, 0.06), width: 0.035, colour: [150, 122, 88], texture: 0.1 });
  }
  const region = r.pick(REGIONS);
  const clearingColour = r.pick(KIND_COLOURS.clearing);
  const clearings = b.place('clearing', r.intBetween(1, 3), regionBox(region, 0.2), { colour: clearingColour, role: 'key', size: (q) => q.uniform(0.14, 0.22), gap: 1.1 });
  b.attributes.tone = tone;
  b.attributes.road = road;
  b.facts.push(
    groupFact('clearing', clearings, { colour: clearingColour === 'green' ? 'grassy' : clearingColour === 'yellow' ? 'yellow' : 'bare', verbs: [['open up', 'opens up'], ['break the canopy', 'breaks the canopy']], located: true, key: true }),
    attributeFact(
      tone === 'autumn' ? ['trees in autumn colors', 'orange and brown autumn trees'] : [`dense ${tone} trees`, `a ${tone} canopy`],
      tone === 'autumn' ? ['the trees show autumn colors', 'the canopy has turned orange and brown'] : [`the ${tone} trees grow densely`, `a ${tone} canopy covers the ground`],
      true,
    ),
    road === 'none'
      ? attributeFact(['no roads', 'an unbroken canopy'], ['no road crosses the trees', 'there is no road through the trees'])
      : attributeFact([`a dirt road running ${orientationWords(road === 'vertical').run}`, `a ${road} dirt road`], [`a dirt road runs ${orientationWords(road === 'vertical').run}`, `a narrow road crosses the trees ${orientationWords(road === 'vertical').run}`]),
  );
}

function river(b: SceneBuilder): void {
  const r = b.rng;
  b.bg(fill(jitter(LAND.grass, 0.08, r), 0.25));
  const vertical = r.bernoulli(0.5);
  const waterColour = r.pick(['blue', 'green', 'brown'] as const);
  const water: Rgb = waterColour === 'blue' ? [44, 90, 150] : waterColour === 'green' ? [50, 106, 86] : [126, 100, 64];
  const centre = r.uniform(0.4, 0.6);
  const amp = r.uniform(0.05, 0.12);
  const width = r.uniform(0.15, 0.2);
  const path = meander(r, vertical, centre, amp);
  b.bg({ op: 'band', pts: path, width: width + 0.04, colour: LAND.sand, texture: 0.1 });
  b.bg({ op: 'band', pts: path, width, colour: jitter(water, 0.06, r), texture: 0.1 });
  // Keep other objects off the river: forbid a strip around it.
  const lo = centre - amp - width / 2 - 0.03;
  const hi = centre + amp + width / 2 + 0.03;
  const boatBox: Box = vertical ? { x0: centre - amp * 0.3, y0: 0.08, x1: centre + amp * 0.3, y1: 0.92 } : { x0: 0.08, y0: centre - amp * 0.3, x1: 0.92, y1: centre + amp * 0.3 };
  const boatColour = r.pick(KIND_COLOURS.boat);
  const boats = b.place('boat', r.intBetween(0, 3), boatBox, { colour: boatColour, role: 'key', angle: (q) => (vertical ? Math.PI / 2 : 0) + q.uniform(-0.3, 0.3) });
  b.forbid(vertical ? { x0: lo, y0: 0, x1: hi, y1: 1 } : { x0: 0, y0: lo, x1: 1, y1: hi });
  const bankSide = r.bernoulli(0.5) ? 'first' : 'second';
  const bank: Box = vertical
    ? bankSide === 'first' ? { x0: 0.05, y0: 0.05, x1: lo, y1: 0.95 } : { x0: hi, y0: 0.05, x1: 0.95, y1: 0.95 }
    : bankSide === 'first' ? { x0: 0.05, y0: 0.05, x1: 0.95, y1: lo } : { x0: 0.05, y0: hi, x1: 0.95, y1: 0.95 };
  const trees = b.place('tree', r.intBetween(1, 6), bank, { colour: 'green', role: 'context' });
  const o = orientationWords(vertical);
  const waterWord = waterColour === 'brown' ? 'muddy brown' : waterColour;
  b.attributes.direction = o.adj;
  b.attributes.water = waterColour;
  b.facts.push(
    attributeFact([`a winding ${waterWord} river`, `a ${waterWord} river flowing ${o.run}`], [`a ${waterWord} river winds ${o.run}`, `the ${waterWord} river flows ${o.run}`], true),
    groupFact('boat', boats, { colour: boatColour, verbs: [['sail on the river', 'sails on the river'], ['float on the river', 'floats on the river']], located: false, key: true, zeroTail: 'on the river' }),
    groupFact('tree', trees, { colour: null, verbs: [['grow on the bank', 'grows on the bank'], ['stand by the water', 'stands by the water']], located: true, key: false }),
  );
}

function residential(b: SceneBuilder): void {
  const r = b.rng;
  b.bg(fill(jitter(LAND.lightGrass, 0.08, r), 0.2));
  const vertical = r.bernoulli(0.5);
  const roadAt = r.uniform(0.45, 0.55);
  const cross = r.bernoulli(0.4);
  const roadW = 0.07;
  b.bg({ op: 'band', pts: vertical ? [[roadAt, -0.05], [roadAt, 1.05]] : [[-0.05, roadAt], [1.05, roadAt]], width: roadW, colour: LAND.asphalt, texture: 0.06 });
  const crossAt = r.uniform(0.3, 0.7);
  if (cross) b.bg({ op: 'band', pts: vertical ? [[-0.05, crossAt], [1.05, crossAt]] : [[crossAt, -0.05], [crossAt, 1.05]], width: roadW * 0.8, colour: LAND.asphalt, texture: 0.06 });
  // A block of houses in rows parallel to the main road, on one side of it.
  const first = r.bernoulli(0.5);
  const rows = r.intBetween(2, 3);
  const perRow = r.intBetween(2, 4);
  const colour = r.pick(KIND_COLOURS.house);
  const size = r.uniform(0.085, 0.1);
  const houses: SceneObject[] = [];
  const spacingAlong = Math.min(0.2, 0.8 / perRow);
  const spacingAcross = 0.12;
  const startAlong = r.uniform(0.1, 0.9 - spacingAlong * (perRow - 1)) ;
  for (let i = 0; i < rows; i++) {
    const across = first ? roadAt - roadW / 2 - 0.08 - i * spacingAcross : roadAt + roadW / 2 + 0.08 + i * spacingAcross;
    for (let j = 0; j < perRow; j++) {
      const along = startAlong + j * spacingAlong;
      houses.push(b.add({ kind: 'house', colour, cx: vertical ? across : along, cy: vertical ? along : across, size, angle: vertical ? Math.PI / 2 : 0, role: 'key' }));
    }
  }
  const treeBox: Box = vertical ? (first ? { x0: roadAt + 0.08, y0: 0.05, x1: 0.95, y1: 0.95 } : { x0: 0.05, y0: 0.05, x1: roadAt - 0.08, y1: 0.95 }) : first ? { x0: 0.05, y0: roadAt + 0.08, x1: 0.95, y1: 0.95 } : { x0: 0.05, y0: 0.05, x1: 0.95, y1: roadAt - 0.08 };
  const trees = b.place('tree', r.intBetween(0, 4), treeBox, { colour: 'green', role: 'context' });
  const o = orientationWords(vertical);
  b.attributes.road = cross ? 'crossroads' : o.adj;
  b.facts.push(
    groupFact('house', houses, {
      colour,
      verbs: [[`are arranged in ${rowsWord(rows)} rows`, 'is alone'], [`stand in ${rowsWord(rows)} rows`, 'stands alone']],
      located: true,
      key: true,
      nounForms: (pl) => (pl ? [`houses with ${colour} roofs`, `${colour} roofed houses`] : [`house with a ${colour} roof`]),
    }),
    attributeFact(
      cross ? ['two crossing roads', 'a crossroads'] : [`a ${o.adj} road`, `a straight road running ${o.run}`],
      cross ? ['two roads cross each other', 'the roads form a crossroads'] : [`a straight road runs ${o.run}`, `the main road is ${o.adj}`],
    ),
    groupFact('tree', trees, { colour: null, verbs: [['grow across the road', 'grows across the road'], ['stand opposite the houses', 'stands opposite the houses']], located: false, key: false }),
  );
}

function parking(b: SceneBuilder): void {
  const r = b.rng;
  b.bg(fill(jitter(LAND.asphalt, 0.1, r), 0.1));
  const grassSide = r.pick(SIDES);
  const strip = sideBox(grassSide, 0.14);
  b.bg(rectOp(strip, LAND.grass, 0.25));
  treeTexture(b, 6, inset(strip, 0.03), LAND.canopy, 0.025, 0.04);
  const lot = inset({ x0: grassSide === 'left' ? 0.14 : 0, y0: grassSide === 'top' ? 0.14 : 0, x1: grassSide === 'right' ? 0.86 : 1, y1: grassSide === 'bottom' ? 0.86 : 1 }, 0.05);
  const rows = r.intBetween(1, 3);
  const slots = r.intBetween(4, 6);
  const dominant = r.pick(KIND_COLOURS.car);
  const rowH = (lot.y1 - lot.y0) / rows;
  const slotW = (lot.x1 - lot.x0) / slots;
  const cars: SceneObject[] = [];
  let empty = 0;
  for (let i = 0; i < rows; i++) {
    const cy = lot.y0 + rowH * (i + 0.5);
    b.bg(rectOp({ x0: lot.x0, y0: cy - 0.002 - rowH * 0.3, x1: lot.x1, y1: cy - rowH * 0.3 + 0.004 }, COLOURS.white));
    for (let j = 0; j < slots; j++) {
      const x = lot.x0 + slotW * j;
      b.bg(rectOp({ x0: x, y0: cy - rowH * 0.3, x1: x + 0.006, y1: cy + rowH * 0.25 }, COLOURS.white));
      if (r.bernoulli(0.25)) {
        empty++;
        continue;
      }
      const c = r.bernoulli(0.75) ? dominant : r.pick(KIND_COLOURS.car.filter((k) => k !== dominant));
      cars.push(b.add({ kind: 'car', colour: c, cx: x + slotW / 2, cy: cy - rowH * 0.03, size: Math.min(0.07, rowH * 0.55), angle: Math.PI / 2 + r.uniform(-0.06, 0.06), role: 'key' }));
    }
  }
  if (cars.length === 0) {
    const cy = lot.y0 + rowH * 0.5;
    empty--;
    cars.push(b.add({ kind: 'car', colour: dominant, cx: lot.x0 + slotW / 2, cy: cy - rowH * 0.03, size: Math.min(0.07, rowH * 0.55), angle: Math.PI / 2, role: 'key' }));
  }
  const nDominant = cars.filter((c) => c.colour === dominant).length;
  b.attributes.rows = rows;
  b.attributes.dominantCar = dominant;
  b.facts.push(
    groupFact('car', cars, {
      colour: null,
      verbs: rows === 1 ? [['are parked in one row', 'is parked'], ['stand in a single row', 'stands alone']] : [[`are parked in ${rowsWord(rows)} rows`, 'is parked'], [`fill ${rowsWord(rows)} rows`, 'is parked']],
      located: false,
      key: true,
    }),
    cars.length === 1
      ? attributeFact([`a single ${cars[0].colour} car`], [`the only car is ${cars[0].colour}`], true)
      : nDominant * 2 > cars.length
        ? attributeFact([`mostly ${dominant} cars`, `cars that are mainly ${dominant}`], [`most of the cars are ${dominant}`, `${dominant} is the most common car color`], true)
        : attributeFact(['cars of mixed colors', 'cars of many colors'], ['the cars have mixed colors'], true),
    attributeFact(
      [`${empty === 0 ? 'no' : countWord(empty)} empty parking spaces`, `${empty === 0 ? 'no' : countWord(empty)} free parking spaces`],
      [empty === 0 ? 'every parking space is taken' : `${countWord(empty)} parking ${empty === 1 ? 'space is' : 'spaces are'} empty`],
    ),
    attributeFact([`a strip of grass ${SIDE_PHRASES[grassSide][0]}`], [`a strip of grass and trees lies ${SIDE_PHRASES[grassSide][0]}`]),
  );
}

function playground(b: SceneBuilder): void {
  const r = b.rng;
  b.bg(fill(jitter(LAND.concrete, 0.08, r), 0.12));
  const vertical = r.bernoulli(0.5);
  const trackColour = r.pick(KIND_COLOURS.track);
  const where = r.pick(['left', 'center', 'right'] as const);
  const along = where === 'left' ? 0.36 : where === 'center' ? 0.5 : 0.64;
  const size = r.uniform(0.62, 0.7);
  const track = b.add({ kind: 'track', colour: trackColour, cx: vertical ? along : 0.5, cy: vertical ? 0.5 : along, size, angle: vertical ? Math.PI / 2 : 0, role: 'key' });
  const courtColour = r.pick(KIND_COLOURS.court);
  const courtBox: Box = vertical
    ? where === 'right' || (where === 'center' && r.bernoulli(0.5)) ? { x0: 0.03, y0: 0.05, x1: 0.3, y1: 0.95 } : { x0: 0.7, y0: 0.05, x1: 0.97, y1: 0.95 }
    : where === 'right' || (where === 'center' && r.bernoulli(0.5)) ? { x0: 0.05, y0: 0.03, x1: 0.95, y1: 0.3 } : { x0: 0.05, y0: 0.7, x1: 0.95, y1: 0.97 };
  const courts = b.place('court', r.intBetween(0, 3), courtBox, { colour: courtColour, role: 'key', size: (q) => q.uniform(0.13, 0.16), angle: (q) => (q.bernoulli(0.5) ? 0 : Math.PI / 2) });
  const o = orientationWords(vertical);
  b.attributes.track = trackColour;
  b.attributes.trackAt = where;
  b.facts.push(
    attributeFact(
      [`${article(trackColour)} ${trackColour} running track ${where === 'center' ? 'in the middle' : `on the ${where}`}`, `a ${o.adj} ${trackColour} running track`],
      [`${article(trackColour)} ${trackColour} running track surrounds a green football field`, `the ${trackColour} running track lies ${where === 'center' ? 'in the middle' : `on the ${where}`}`],
      true,
    ),
    groupFact('court', courts, { colour: courtColour, verbs: [['are next to the track', 'is next to the track'], ['lie beside the track', 'lies beside the track']], located: true, key: true }),
  );
  void track;
}

function storagetanks(b: SceneBuilder): void {
  const r = b.rng;
  b.bg(fill(jitter([150, 146, 128], 0.08, r), 0.2));
  const region = r.pick(REGIONS);
  const large = r.bernoulli(0.5);
  const colour = r.pick(KIND_COLOURS.tank);
  const tanks = b.place('tank', r.intBetween(1, 7), regionBox(region, 0.3), { colour, role: 'key', size: (q) => (large ? q.uniform(0.17, 0.2) : q.uniform(0.09, 0.11)), gap: 1.15 });
  for (let k = 1; k < tanks.length; k++) {
    b.bg({ op: 'band', pts: [[tanks[k - 1].cx, tanks[k - 1].cy], [tanks[k].cx, tanks[k].cy]], width: 0.01, colour: [110, 110, 110] });
  }
  b.attributes.tankSize = large ? 'large' : 'small';
  const sizeWord = large ? r.pick(['large', 'big']) : r.pick(['small', 'little']);
  b.facts.push(
    groupFact('tank', tanks, {
      colour: `${sizeWord} ${colour}`,
      verbs: [['are located', 'is located'], ['stand', 'stands'], ['are built', 'is built']],
      located: true,
      key: true,
    }),
    attributeFact([`pipes between the tanks`, 'a bare industrial ground'], ['the ground around the tanks is bare', 'thin pipes connect the tanks']),
  );
}

function bridge(b: SceneBuilder): void {
  const r = b.rng;
  b.bg(fill(jitter(LAND.grass, 0.08, r), 0.22));
  const vertical = r.bernoulli(0.5);
  const at = r.uniform(0.42, 0.58);
  const width = r.uniform(0.22, 0.28);
  const waterLine: Point[] = vertical ? [[at, -0.05], [at, 1.05]] : [[-0.05, at], [1.05, at]];
  b.bg({ op: 'band', pts: waterLine, width: width + 0.03, colour: LAND.sand });
  b.bg({ op: 'band', pts: waterLine, width, colour: jitter(LAND.water, 0.08, r), texture: 0.12 });
  const where = r.pick(['left', 'center', 'right'] as const); // along the river (for vertical rivers: top/middle/bottom)
  const along = where === 'left' ? 0.25 : where === 'center' ? 0.5 : 0.75;
  const bridgeColour = r.pick(KIND_COLOURS.bridge);
  const bx = vertical ? at : along;
  const by = vertical ? along : at;
  const bAngle = vertical ? 0 : Math.PI / 2;
  b.bg({ op: 'band', pts: vertical ? [[-0.05, by], [1.05, by]] : [[bx, -0.05], [bx, 1.05]], width: 0.05, colour: LAND.asphalt });
  b.add({ kind: 'bridge', colour: bridgeColour, cx: bx, cy: by, size: width + 0.14, angle: bAngle, role: 'key' }, false);
  const carColour = r.pick(KIND_COLOURS.car);
  const carBox: Box = vertical ? { x0: at - width / 2, y0: by - 0.01, x1: at + width / 2, y1: by + 0.01 } : { x0: bx - 0.01, y0: at - width / 2, x1: bx + 0.01, y1: at + width / 2 };
  const cars = b.place('car', r.intBetween(0, 3), carBox, { colour: carColour, role: 'key', size: 0.06, angle: (q) => bAngle + q.pick([0, Math.PI]), gap: 1.1 });
  b.forbid(vertical ? { x0: 0, y0: by - 0.12, x1: 1, y1: by + 0.12 } : { x0: bx - 0.12, y0: 0, x1: bx + 0.12, y1: 1 });
  const boatColour = r.pick(KIND_COLOURS.boat);
  const boatBox: Box = vertical ? { x0: at - 0.04, y0: 0.06, x1: at + 0.04, y1: 0.94 } : { x0: 0.06, y0: at - 0.04, x1: 0.94, y1: at + 0.04 };
  const boats = b.place('boat', r.intBetween(0, 2), boatBox, { colour: boatColour, role: 'context', angle: (q) => (vertical ? Math.PI / 2 : 0) + q.uniform(-0.2, 0.2) });
  const o = orientationWords(vertical);
  const pos = vertical ? (where === 'left' ? 'near the top' : where === 'center' ? 'in the middle' : 'near the bottom') : where === 'center' ? 'in the middle' : `on the ${where}`;
  b.attributes.river = o.adj;
  b.attributes.bridgeAt = pos;
  b.facts.push(
    attributeFact(
      [`a ${bridgeColour} bridge ${pos}`, `a ${bridgeColour} bridge over a ${o.adj} river`],
      [`a ${bridgeColour} bridge crosses the river ${pos}`, `a ${bridgeColour} bridge spans a river that flows ${o.run}`],
      true,
    ),
    groupFact('car', cars, { colour: carColour, verbs: [['are on the bridge', 'is on the bridge'], ['drive across the bridge', 'drives across the bridge']], located: false, key: true, zeroTail: 'on the bridge' }),
    groupFact('boat', boats, { colour: boatColour, verbs: [['sail on the river', 'sails on the river']], located: false, key: false, zeroTail: 'on the river' }),
  );
}

function beach(b: SceneBuilder): void {
  const r = b.rng;
  const side = r.pick(SIDES);
  const depth = r.uniform(0.35, 0.48);
  b.bg(fill(jitter(LAND.sand, 0.05, r), 0.12));
  const sea = sideBox(side, depth);
  b.bg(rectOp(sea, jitter([40, 110, 160], 0.08, r), 0.15));
  const deep = sideBox(side, depth * 0.5);
  b.bg(rectOp(deep, jitter(LAND.deepWater, 0.08, r), 0.12));
  const foam = side === 'left' || side === 'right' ? 0.02 : 0.02;
  const shore = side === 'left' ? depth : side === 'right' ? 1 - depth : side === 'top' ? depth : 1 - depth;
  const vertical = side === 'left' || side === 'right';
  b.bg({ op: 'band', pts: meander(r, vertical, shore, 0.015, 16), width: foam, colour: COLOURS.white, texture: 0.05 });
  const wet = sideBox(side, depth + 0.06);
  b.forbid(wet);
  const colour = r.pick(KIND_COLOURS.umbrella);
  // Umbrellas stand on the sand: a region whose centre is on dry land, its box clipped to the sand.
  const dry = REGIONS.filter((g) => {
    const [x, y] = regionCentre(g);
    return !(x > wet.x0 && x < wet.x1 && y > wet.y0 && y < wet.y1);
  });
  const region = r.pick(dry);
  const rb = regionBox(region, 0.25);
  const sandBox: Box = {
    x0: Math.max(rb.x0, side === 'left' ? wet.x1 : 0),
    y0: Math.max(rb.y0, side === 'top' ? wet.y1 : 0),
    x1: Math.min(rb.x1, side === 'right' ? wet.x0 : 1),
    y1: Math.min(rb.y1, side === 'bottom' ? wet.y0 : 1),
  };
  const umbrellas = b.place('umbrella', r.intBetween(1, 8), sandBox, { colour, role: 'key', size: (q) => q.uniform(0.05, 0.065), gap: 1.3 });
  b.attributes.seaSide = side;
  b.facts.push(
    groupFact('umbrella', umbrellas, { colour, verbs: [['are set up on the sand', 'is set up on the sand'], ['stand on the sand', 'stands on the sand']], located: true, key: true }),
    attributeFact([`the sea ${SIDE_PHRASES[side][0]}`, `blue water ${SIDE_PHRASES[side][1]}`], [`the sea lies ${SIDE_PHRASES[side][0]}`, `waves wash the sand ${SIDE_PHRASES[side][1]}`]),
  );
}

function meadow(b: SceneBuilder): void {
  const r = b.rng;
  const tone = r.pick(['lush', 'yellowish'] as const);
  b.bg(fill(jitter(tone === 'lush' ? LAND.lightGrass : [170, 168, 96], 0.06, r), 0.35));
  const path = r.pick(['none', 'horizontal', 'vertical'] as const);
  if (path !== 'none') b.bg({ op: 'band', pts: meander(r, path === 'vertical', r.uniform(0.3, 0.7), 0.1), width: 0.02, colour: [176, 150, 110] });
  const region = r.pick(REGIONS);
  const trees = b.place('tree', r.intBetween(1, 6), regionBox(region, 0.22), { colour: 'green', role: 'key', size: (q) => q.uniform(0.07, 0.1) });
  b.attributes.tone = tone;
  b.attributes.path = path;
  b.facts.push(
    groupFact('tree', trees, { colour: null, verbs: [['grow', 'grows'], ['stand', 'stands']], located: true, key: true }),
    attributeFact([`${tone} grass`, `${tone === 'lush' ? 'bright green' : 'dry yellowish'} grass`], [`the grass is ${tone}`, `${tone} grass covers the ground`], true),
    path === 'none'
      ? attributeFact(['no paths', 'open grass'], ['no path crosses the grass'])
      : attributeFact([`a thin path running ${orientationWords(path === 'vertical').run}`], [`a thin path winds ${orientationWords(path === 'vertical').run}`]),
  );
}

function desert(b: SceneBuilder): void {
  const r = b.rng;
  const tone = r.pick(['pale', 'golden', 'reddish'] as const);
  const sand: Rgb = tone === 'pale' ? [222, 208, 170] : tone === 'golden' ? [214, 176, 102] : [190, 120, 74];
  b.bg(fill(jitter(sand, 0.05, r), 0.18));
  const dunes = r.pick(['horizontal', 'vertical', 'diagonal'] as const);
  const n = r.intBetween(5, 8);
  for (let k = 0; k < n; k++) {
    const c = (k + r.uniform(0.2, 0.8)) / n;
    let pts: Point[];
    if (dunes === 'diagonal') {
      const off = c * 2 - 1;
      pts = [
        [-0.1 + off, -0.1],
        [1.1 + off, 1.1],
      ];
    } else {
      pts = meander(r, dunes === 'vertical', c, 0.03, 10);
    }
    b.bg({ op: 'band', pts, width: 0.025, colour: shade(sand, 0.8), texture: 0.1 });
    b.bg({ op: 'band', pts: pts.map(([x, y]) => [x + 0.012, y + 0.012] as const), width: 0.012, colour: shade(sand, 1.08) });
  }
  const region = r.pick(REGIONS);
  const shrubs = b.place('shrub', r.intBetween(0, 5), regionBox(region, 0.25), { colour: 'green', role: 'key', size: (q) => q.uniform(0.045, 0.06), gap: 1.5 });
  b.attributes.tone = tone;
  b.attributes.dunes = dunes;
  b.facts.push(
    attributeFact([`${tone} sand`, `${tone} sand dunes`], [`the sand is ${tone}`, `${tone} sand covers everything`], true),
    attributeFact([`${dunes} dune ridges`, `dunes that run ${dunes === 'diagonal' ? 'diagonally' : orientationWords(dunes === 'vertical').run}`], [`the dune ridges run ${dunes === 'diagonal' ? 'diagonally' : orientationWords(dunes === 'vertical').run}`, `the dunes form ${dunes} ridges`], true),
    groupFact('shrub', shrubs, { colour: null, verbs: [['grow', 'grows'], ['are scattered', 'is scattered']], located: true, key: true }),
  );
}

function industrial(b: SceneBuilder): void {
  const r = b.rng;
  b.bg(fill(jitter(LAND.concrete, 0.08, r), 0.15));
  const vertical = r.bernoulli(0.5);
  const roadAt = r.uniform(0.2, 0.8);
  b.bg({ op: 'band', pts: vertical ? [[roadAt, -0.05], [roadAt, 1.05]] : [[-0.05, roadAt], [1.05, roadAt]], width: 0.06, colour: LAND.asphalt });
  b.forbid(vertical ? { x0: roadAt - 0.12, y0: 0, x1: roadAt + 0.12, y1: 1 } : { x0: 0, y0: roadAt - 0.12, x1: 1, y1: roadAt + 0.12 });
  const colour = r.pick(KIND_COLOURS.building);
  const region = r.pick(REGIONS);
  const buildings = b.place('building', r.intBetween(1, 4), regionBox(region, 0.3), { colour, role: 'key', size: (q) => q.uniform(0.2, 0.27), angle: (q) => q.pick([0, Math.PI / 2]), gap: 1.0 });
  const o = orientationWords(vertical);
  b.attributes.road = o.adj;
  b.facts.push(
    groupFact('building', buildings, {
      colour: null,
      verbs: [['are located', 'is located'], ['stand', 'stands']],
      located: true,
      key: true,
      nounForms: (pl) => (pl ? [`factory buildings with ${colour} roofs`, `large ${colour} roofed buildings`] : [`factory building with a ${colour} roof`, `large ${colour} roofed building`]),
    }),
    attributeFact([`a ${o.adj} road`, `a road running ${o.run}`], [`a road runs ${o.run}`, `a ${o.adj} road passes the factories`]),
  );
}

function baseballfield(b: SceneBuilder): void {
  const r = b.rng;
  b.bg(fill(jitter(LAND.grass, 0.08, r), 0.2));
  const region = r.pick(REGIONS);
  const diamonds = b.place('diamond', r.intBetween(1, 3), regionBox(region, 0.3), { colour: 'brown', role: 'key', size: (q) => q.uniform(0.26, 0.32), angle: (q) => q.pick([0, Math.PI / 2, Math.PI, -Math.PI / 2]), gap: 0.95 });
  const trees = b.place('tree', r.intBetween(0, 4), { x0: 0.05, y0: 0.05, x1: 0.95, y1: 0.95 }, { colour: 'green', role: 'context' });
  b.facts.push(
    groupFact('diamond', diamonds, { colour: null, verbs: [['are laid out', 'is laid out'], ['can be seen', 'can be seen']], located: true, key: true }),
    groupFact('tree', trees, { colour: null, verbs: [['surround the fields', 'stands nearby'], ['grow around the fields', 'grows nearby']], located: false, key: false }),
  );
}

function pond(b: SceneBuilder): void {
  const r = b.rng;
  b.bg(fill(jitter(LAND.grass, 0.08, r), 0.25));
  const colour = r.pick(KIND_COLOURS.pond);
  const region = r.pick(REGIONS);
  const ponds = b.place('pond', r.intBetween(1, 3), regionBox(region, 0.28), { colour, role: 'key', size: (q) => q.uniform(0.18, 0.28), gap: 1.0 });
  const trees = b.place('tree', r.intBetween(0, 4), { x0: 0.05, y0: 0.05, x1: 0.95, y1: 0.95 }, { colour: 'green', role: 'context' });
  const water = colour === 'brown' ? 'muddy' : colour === 'green' ? 'green' : 'blue';
  b.attributes.water = colour;
  b.facts.push(
    groupFact('pond', ponds, { colour: water, verbs: [['lie', 'lies'], ['are surrounded by grass', 'is surrounded by grass']], located: true, key: true }),
    groupFact('tree', trees, { colour: null, verbs: [['grow on the grass', 'grows on the grass'], ['stand near the water', 'stands near the water']], located: false, key: false }),
  );
}

function church(b: SceneBuilder): void {
  const r = b.rng;
  b.bg(fill(jitter(LAND.lightGrass, 0.08, r), 0.2));
  const region = r.pick(['upper left', 'top', 'upper right', 'left', 'center', 'right', 'lower left', 'bottom', 'lower right'] as const);
  const [rx, ry] = regionCentre(region);
  const cx = 0.5 + (rx - 0.5) * 0.55;
  const cy = 0.5 + (ry - 0.5) * 0.55;
  const vertical = r.bernoulli(0.5);
  b.bg(rectOp({ x0: cx - 0.24, y0: cy - 0.24, x1: cx + 0.24, y1: cy + 0.24 }, jitter(LAND.concrete, 0.06, r), 0.08));
  const colour = r.pick(KIND_COLOURS.church);
  const ch = b.add({ kind: 'church', colour, cx, cy, size: r.uniform(0.32, 0.38), angle: axisAngle(r, vertical, 0.05) + (r.bernoulli(0.5) ? Math.PI : 0), role: 'key' });
  const trees = b.place('tree', r.intBetween(0, 5), { x0: 0.05, y0: 0.05, x1: 0.95, y1: 0.95 }, { colour: 'green', role: 'context', gap: 1.0 });
  const o = orientationWords(vertical);
  const at = groupRegion([ch]);
  b.attributes.nave = o.adj;
  b.facts.push(
    attributeFact(
      [`a church with a ${colour} roof ${locPhrase(at, r)}`, `a cross shaped church with a ${colour} roof`],
      [`a church with a ${colour} roof stands ${locPhrase(at, r)}`, `the cross shaped church has a ${colour} roof`],
      true,
    ),
    attributeFact([`a ${o.adj} nave`, `a nave running ${o.run}`], [`the nave of the church runs ${o.run}`, `the church is oriented ${o.run}`], true),
    groupFact('tree', trees, { colour: null, verbs: [['grow around the square', 'grows near the square'], ['stand around the church', 'stands near the church']], located: false, key: false }),
  );
}

function railwaystation(b: SceneBuilder): void {
  const r = b.rng;
  b.bg(fill(jitter([140, 136, 128], 0.08, r), 0.15));
  const vertical = r.bernoulli(0.5);
  const nRails = r.intBetween(2, 5);
  const spacing = 0.13;
  const start = 0.5 - (spacing * (nRails - 1)) / 2 + r.uniform(-0.08, 0.08);
  const rails: number[] = [];
  for (let k = 0; k < nRails; k++) {
    const at = start + k * spacing;
    rails.push(at);
    const line: Point[] = vertical ? [[at, -0.05], [at, 1.05]] : [[-0.05, at], [1.05, at]];
    b.bg({ op: 'band', pts: line, width: 0.05, colour: [112, 104, 96], texture: 0.2 });
    b.bg({ op: 'band', pts: line.map(([x, y]) => (vertical ? [x - 0.012, y] : [x, y - 0.012]) as Point), width: 0.006, colour: [60, 60, 64] });
    b.bg({ op: 'band', pts: line.map(([x, y]) => (vertical ? [x + 0.012, y] : [x, y + 0.012]) as Point), width: 0.006, colour: [60, 60, 64] });
  }
  // Platform roof beside the first rail, station building beyond it.
  const pAt = start - spacing / 2;
  b.bg(rectOp(vertical ? { x0: pAt - 0.025, y0: 0.15, x1: pAt + 0.025, y1: 0.85 } : { x0: 0.15, y0: pAt - 0.025, x1: 0.85, y1: pAt + 0.025 }, [196, 196, 188], 0.05));
  const colour = r.pick(KIND_COLOURS.train);
  const nTrains = r.intBetween(1, Math.min(3, nRails));
  const used = r.shuffle(rails.slice()).slice(0, nTrains);
  const trains: SceneObject[] = used.map((at) => {
    const along = r.uniform(0.3, 0.7);
    return b.add({ kind: 'train', colour, cx: vertical ? at : along, cy: vertical ? along : at, size: r.uniform(0.42, 0.56), angle: vertical ? Math.PI / 2 : 0, role: 'key' });
  });
  const o = orientationWords(vertical);
  b.attributes.rails = nRails;
  b.attributes.direction = o.adj;
  b.facts.push(
    groupFact('train', trains, { colour, verbs: [['wait at the platforms', 'waits at the platform'], ['stand on the rails', 'stands on the rails']], located: false, key: true }),
    attributeFact(
      [`${rowsWord(nRails)} ${o.adj} railway lines`, `${rowsWord(nRails)} parallel railway lines`],
      [`${rowsWord(nRails)} railway lines run ${o.run}`, `the ${rowsWord(nRails)} parallel railway lines are ${o.adj}`],
      true,
    ),
  );
}

/** Builder per class. */
export const SCENE_BUILDERS: Record<string, (b: SceneBuilder) => void> = {
  airport,
  baseballfield,
  beach,
  bridge,
  church,
  desert,
  farmland,
  forest,
  industrial,
  meadow,
  parking,
  playground,
  pond,
  port,
  railwaystation,
  residential,
  river,
  storagetanks,
};

/** Object kinds that belong to a class's own scenes (never used as its distractors). */
export const CLASS_KINDS: Record<string, ObjectKind[]> = {
  airport: ['plane'],
  baseballfield: ['diamond', 'tree'],
  beach: ['umbrella'],
  bridge: ['bridge', 'car', 'boat'],
  church: ['church', 'tree'],
  desert: ['shrub'],
  farmland: ['house'],
  forest: ['clearing'],
  industrial: ['building'],
  meadow: ['tree'],
  parking: ['car'],
  playground: ['track', 'court'],
  pond: ['pond', 'tree'],
  port: ['ship', 'pier'],
  railwaystation: ['train'],
  residential: ['house', 'tree'],
  river: ['boat', 'tree'],
  storagetanks: ['tank'],
};
