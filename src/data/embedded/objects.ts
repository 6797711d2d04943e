/**
 * Scene objects (what a caption can talk about) and how each kind is drawn.
 *
 * An object is data: kind, named colour, centre, size (longest side, normalised), angle and role.
 * `objectOps` turns it into raster operations, so the same object list is what gets rendered and
 * what the captions describe (tests compare the two).
 */
import { COLOURS, ColourName, LAND, ObjectKind } from './vocabulary';
import { DrawOp, Point, Rgb, placePoints, rotatedRect, shade } from './raster';

/** Why an object is in the scene. */
export type ObjectRole =
  /** Defines the scene: its count, colour and position are what captions describe. */
  | 'key'
  /** Part of the layout (trees, piers, the bridge); may be described (e.g. "two trees"). */
  | 'context'
  /** Borrowed from another class (semantic noise); captions rarely mention it. */
  | 'distractor';

/** One object of a scene. */
export interface SceneObject {
  kind: ObjectKind;
  colour: ColourName;
  /** Centre, normalised [0, 1] (x right, y down). */
  cx: number;
  cy: number;
  /** Longest side, normalised. */
  size: number;
  /** Rotation in radians. */
  angle: number;
  role: ObjectRole;
  /** For distractors: the class the object was borrowed from. */
  sourceClass?: string;
}

/** Typical size (longest side, normalised) per kind. */
export const KIND_SIZE: Record<ObjectKind, number> = {
  plane: 0.17,
  ship: 0.22,
  boat: 0.09,
  car: 0.065,
  tank: 0.13,
  house: 0.09,
  building: 0.24,
  umbrella: 0.05,
  train: 0.5,
  tree: 0.07,
  diamond: 0.26,
  court: 0.15,
  pond: 0.22,
  clearing: 0.2,
  shrub: 0.04,
  church: 0.3,
  track: 0.6,
  bridge: 1.0,
  pier: 0.3,
};

/** Colours each kind may take (the first is the most common). */
export const KIND_COLOURS: Record<ObjectKind, ColourName[]> = {
  plane: ['white', 'grey', 'red', 'blue', 'yellow'],
  ship: ['white', 'red', 'blue', 'orange', 'black'],
  boat: ['white', 'red', 'yellow', 'blue'],
  car: ['white', 'black', 'red', 'blue', 'grey', 'yellow'],
  tank: ['white', 'grey', 'green', 'blue'],
  house: ['red', 'grey', 'brown', 'blue', 'orange'],
  building: ['blue', 'white', 'grey', 'red', 'green'],
  umbrella: ['red', 'yellow', 'blue', 'orange', 'white', 'green'],
  train: ['red', 'white', 'blue', 'yellow', 'green'],
  tree: ['green'],
  diamond: ['brown'],
  court: ['green', 'blue', 'red'],
  pond: ['blue', 'green', 'brown'],
  clearing: ['green', 'yellow', 'brown'],
  shrub: ['green'],
  church: ['red', 'grey', 'brown', 'blue'],
  track: ['red', 'blue', 'orange'],
  bridge: ['grey', 'white', 'red'],
  pier: ['grey'],
};

/** Kinds that can be dropped into another class's scene as distractors, by the class they come from. */
export const DISTRACTOR_KINDS: Record<string, ObjectKind> = {
  airport: 'plane',
  port: 'ship',
  parking: 'car',
  storagetanks: 'tank',
  residential: 'house',
  industrial: 'building',
  beach: 'umbrella',
  railwaystation: 'train',
  playground: 'court',
  baseballfield: 'diamond',
  pond: 'pond',
};

/** Local shapes, unit length along x. */
const PLANE_FUSELAGE = rotatedRect(0, 0, 1, 0.14, 0);
const PLANE_WINGS: Point[] = [
  [0.12, -0.02],
  [-0.08, -0.5],
  [-0.2, -0.5],
  [-0.06, -0.02],
  [-0.06, 0.02],
  [-0.2, 0.5],
  [-0.08, 0.5],
  [0.12, 0.02],
];
const PLANE_TAIL = rotatedRect(-0.42, 0, 0.1, 0.36, 0);
const SHIP_HULL: Point[] = [
  [-0.5, -0.13],
  [0.28, -0.13],
  [0.5, 0],
  [0.28, 0.13],
  [-0.5, 0.13],
];
const SHIP_DECK = rotatedRect(-0.28, 0, 0.22, 0.16, 0);
const CHURCH_NAVE = rotatedRect(0, 0, 1, 0.28, 0);
const CHURCH_TRANSEPT = rotatedRect(0.2, 0, 0.26, 0.74, 0);
/** Offset of drop shadows (normalised, towards the lower right). */
const SHADOW_OFFSET = 0.012;
/** Shadow colour. */
const SHADOW: Rgb = [30, 32, 30];

function poly(local: readonly Point[], o: SceneObject, colour: Rgb, dx = 0, dy = 0): DrawOp {
  return { op: 'poly', pts: placePoints(local, o.cx + dx, o.cy + dy, o.size, o.angle), colour };
}

/** Raster operations that draw one object. */
export function objectOps(o: SceneObject): DrawOp[] {
  const c: Rgb = COLOURS[o.colour];
  const s = o.size;
  const d = SHADOW_OFFSET;
  switch (o.kind) {
    case 'plane':
      return [
        poly(PLANE_WINGS, o, SHADOW, d, d),
        poly(PLANE_FUSELAGE, o, SHADOW, d, d),
        poly(PLANE_WINGS, o, shade(c, 0.85)),
        poly(PLANE_FUSELAGE, o, c),
        poly(PLANE_TAIL, o, shade(c, 0.85)),
      ];
    case 'ship':
    case 'boat':
      return [poly(SHIP_HULL, o, shade(c, 0.75), d * 0.6, d * 0.6), poly(SHIP_HULL, o, c), poly(SHIP_DECK, o, shade(c, 0.7))];
    case 'car':
      return [
        { op: 'poly', pts: rotatedRect(o.cx, o.cy, s, s * 0.5, o.angle), colour: c },
        { op: 'poly', pts: rotatedRect(o.cx, o.cy, s * 0.35, s * 0.4, o.angle), colour: shade(c, 0.6) },
      ];
    case 'tank':
      return [
        { op: 'ellipse', cx: o.cx + d, cy: o.cy + d, rx: s / 2, ry: s / 2, angle: 0, colour: SHADOW },
        { op: 'ellipse', cx: o.cx, cy: o.cy, rx: s / 2, ry: s / 2, angle: 0, colour: shade(c, 0.8) },
        { op: 'ellipse', cx: o.cx, cy: o.cy, rx: s * 0.4, ry: s * 0.4, angle: 0, colour: c, texture: 0.05 },
      ];
    case 'house':
      return [
        { op: 'poly', pts: rotatedRect(o.cx + d * 0.6, o.cy + d * 0.6, s, s * 0.7, o.angle), colour: SHADOW },
        { op: 'poly', pts: rotatedRect(o.cx, o.cy, s, s * 0.7, o.angle), colour: c },
        { op: 'poly', pts: rotatedRect(o.cx, o.cy, s, s * 0.08, o.angle), colour: shade(c, 0.65) },
      ];
    case 'building':
      return [
        { op: 'poly', pts: rotatedRect(o.cx + d, o.cy + d, s, s * 0.55, o.angle), colour: SHADOW },
        { op: 'poly', pts: rotatedRect(o.cx, o.cy, s, s * 0.55, o.angle), colour: c, texture: 0.06 },
        { op: 'poly', pts: rotatedRect(o.cx, o.cy, s * 0.9, s * 0.08, o.angle), colour: shade(c, 1.2) },
      ];
    case 'umbrella':
      return [
        { op: 'ellipse', cx: o.cx, cy: o.cy, rx: s / 2, ry: s / 2, angle: 0, colour: c },
        { op: 'ellipse', cx: o.cx, cy: o.cy, rx: s / 7, ry: s / 7, angle: 0, colour: shade(c, 0.5) },
      ];
    case 'train': {
      const ops: DrawOp[] = [{ op: 'poly', pts: rotatedRect(o.cx, o.cy, s, s * 0.09, o.angle), colour: c }];
      const cars = 5;
      for (let k = 1; k < cars; k++) {
        const t = k / cars - 0.5;
        ops.push({
          op: 'poly',
          pts: rotatedRect(o.cx + Math.cos(o.angle) * t * s, o.cy + Math.sin(o.angle) * t * s, s * 0.012, s * 0.09, o.angle),
          colour: shade(c, 0.45),
        });
      }
      return ops;
    }
    case 'tree':
    case 'shrub':
      return [
        { op: 'ellipse', cx: o.cx + d * 0.5, cy: o.cy + d * 0.5, rx: s / 2, ry: s / 2, angle: 0, colour: SHADOW },
        { op: 'ellipse', cx: o.cx, cy: o.cy, rx: s / 2, ry: s / 2, angle: 0, colour: o.kind === 'tree' ? LAND.canopy : [70, 92, 44], texture: 0.25 },
      ];
    case 'diamond': {
      // Infield (a brown fan/square turned 45°), grass inside, white bases.
      const a = o.angle + Math.PI / 4;
      return [
        { op: 'ellipse', cx: o.cx, cy: o.cy - s * 0.08, rx: s * 0.5, ry: s * 0.5, angle: 0, colour: [110, 160, 70] },
        { op: 'poly', pts: rotatedRect(o.cx, o.cy, s * 0.55, s * 0.55, a), colour: c, texture: 0.1 },
        { op: 'poly', pts: rotatedRect(o.cx, o.cy, s * 0.36, s * 0.36, a), colour: [84, 150, 60] },
        { op: 'ellipse', cx: o.cx, cy: o.cy, rx: s * 0.05, ry: s * 0.05, angle: 0, colour: c },
      ];
    }
    case 'court':
      return [
        { op: 'poly', pts: rotatedRect(o.cx, o.cy, s, s * 0.55, o.angle), colour: COLOURS.white },
        { op: 'poly', pts: rotatedRect(o.cx, o.cy, s * 0.9, s * 0.45, o.angle), colour: c },
        { op: 'poly', pts: rotatedRect(o.cx, o.cy, s * 0.02, s * 0.45, o.angle), colour: COLOURS.white },
      ];
    case 'pond': {
      const water: Rgb = o.colour === 'blue' ? [44, 92, 160] : o.colour === 'green' ? [52, 104, 78] : [104, 86, 58];
      return [
        { op: 'ellipse', cx: o.cx, cy: o.cy, rx: s / 2 + 0.012, ry: s * 0.34 + 0.012, angle: o.angle, colour: [88, 96, 60] },
        { op: 'ellipse', cx: o.cx, cy: o.cy, rx: s / 2, ry: s * 0.34, angle: o.angle, colour: water, texture: 0.12 },
      ];
    }
    case 'clearing': {
      const ground: Rgb = o.colour === 'green' ? LAND.lightGrass : o.colour === 'yellow' ? [196, 180, 100] : LAND.soil;
      return [{ op: 'ellipse', cx: o.cx, cy: o.cy, rx: s / 2, ry: s * 0.36, angle: o.angle, colour: ground, texture: 0.15 }];
    }
    case 'church':
      return [
        poly(CHURCH_NAVE, o, SHADOW, d, d),
        poly(CHURCH_TRANSEPT, o, SHADOW, d, d),
        poly(CHURCH_NAVE, o, c),
        poly(CHURCH_TRANSEPT, o, shade(c, 0.9)),
        poly(rotatedRect(0, 0, 1, 0.04, 0), o, shade(c, 0.6)),
        { op: 'ellipse', cx: o.cx - Math.cos(o.angle) * s * 0.45, cy: o.cy - Math.sin(o.angle) * s * 0.45, rx: s * 0.09, ry: s * 0.09, angle: 0, colour: shade(c, 0.7) },
      ];
    case 'track': {
      // Oval running track (track colour) around a grass pitch with a white centre line.
      const rx = s / 2;
      const ry = s * 0.3;
      return [
        { op: 'ellipse', cx: o.cx, cy: o.cy, rx, ry, angle: o.angle, colour: c, texture: 0.05 },
        { op: 'ellipse', cx: o.cx, cy: o.cy, rx: rx - 0.05, ry: ry - 0.05, angle: o.angle, colour: [70, 150, 70], texture: 0.08 },
        { op: 'poly', pts: rotatedRect(o.cx, o.cy, s * 0.012, ry * 1.5, o.angle), colour: COLOURS.white },
      ];
    }
    case 'bridge': {
      const ux = Math.cos(o.angle) * s;
      const uy = Math.sin(o.angle) * s;
      return [
        { op: 'band', pts: [[o.cx - ux / 2 + d, o.cy - uy / 2 + d], [o.cx + ux / 2 + d, o.cy + uy / 2 + d]], width: 0.07, colour: SHADOW },
        { op: 'band', pts: [[o.cx - ux / 2, o.cy - uy / 2], [o.cx + ux / 2, o.cy + uy / 2]], width: 0.07, colour: c, texture: 0.05 },
        { op: 'band', pts: [[o.cx - ux / 2, o.cy - uy / 2], [o.cx + ux / 2, o.cy + uy / 2]], width: 0.008, colour: shade(c, 0.7) },
      ];
    }
    case 'pier':
      return [{ op: 'poly', pts: rotatedRect(o.cx, o.cy, s, s * 0.16, o.angle), colour: LAND.concrete, texture: 0.05 }];
  }
}
