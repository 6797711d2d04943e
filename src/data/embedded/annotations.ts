/**
 * Ground-truth object annotations of the embedded benchmark.
 *
 * Real RSITR datasets have no boxes, but the embedded one knows exactly where its key objects and
 * distractors are. `dataset.json` stores them per image (`objects`: kind, colour, role, box), so a
 * notebook can check *where* a model looks: e.g. how much of the Spatial-PAE belief falls on key
 * objects rather than on distractors (`objectCoverageGrid`).
 */
import * as path from 'path';
import { readJson } from '../../utils/fs';
import { SceneObject } from './objects';
import { ObjectKind } from './vocabulary';

/** Height/width ratio of each kind's footprint (for its bounding box). */
const KIND_ASPECT: Record<ObjectKind, number> = {
  plane: 1,
  ship: 0.26,
  boat: 0.26,
  car: 0.5,
  tank: 1,
  house: 0.7,
  building: 0.55,
  umbrella: 1,
  train: 0.09,
  tree: 1,
  diamond: 1,
  court: 0.55,
  pond: 0.68,
  clearing: 0.72,
  shrub: 1,
  church: 0.74,
  track: 0.6,
  bridge: 0.07,
  pier: 0.16,
};

/** An object as stored in `dataset.json`. */
export interface AnnotatedObject {
  kind: ObjectKind;
  colour: string;
  role: SceneObject['role'];
  /** Axis-aligned box [x0, y0, x1, y1], normalised to [0, 1] and clipped. */
  box: [number, number, number, number];
  /** For distractors: the class they come from. */
  sourceClass?: string;
}

/** Digits kept in stored box coordinates. */
const BOX_DIGITS = 4;

function round(v: number): number {
  const f = 10 ** BOX_DIGITS;
  return Math.round(Math.min(1, Math.max(0, v)) * f) / f;
}

/** Axis-aligned bounding box of an object (its rotated footprint). */
export function objectBox(o: SceneObject): [number, number, number, number] {
  const w = o.size;
  const h = o.size * KIND_ASPECT[o.kind];
  const c = Math.abs(Math.cos(o.angle));
  const s = Math.abs(Math.sin(o.angle));
  const hx = (c * w + s * h) / 2;
  const hy = (s * w + c * h) / 2;
  return [round(o.cx - hx), round(o.cy - hy), round(o.cx + hx), round(o.cy + hy)];
}

/** Annotations of a scene's objects (drawing order). */
export function annotateObjects(objects: readonly SceneObject[]): AnnotatedObject[] {
  return objects.map((o) => {
    const a: AnnotatedObject = { kind: o.kind, colour: o.colour, role: o.role, box: objectBox(o) };
    if (o.sourceClass !== undefined) a.sourceClass = o.sourceClass;
    return a;
  });
}

/**
 * Fraction of each grid cell covered by the boxes of objects with the given roles (union, by
 * sampling `samples`² points per cell). Row-major `[gridH · gridW]`, matching a ViT patch grid.
 */
export function objectCoverageGrid(
  objects: readonly AnnotatedObject[],
  gridH: number,
  gridW: number,
  roles: ReadonlyArray<AnnotatedObject['role']> = ['key'],
  samples = 4,
): Float32Array {
  const out = new Float32Array(gridH * gridW);
  const sel = objects.filter((o) => roles.includes(o.role));
  for (let gy = 0; gy < gridH; gy++) {
    for (let gx = 0; gx < gridW; gx++) {
      let hit = 0;
      for (let sy = 0; sy < samples; sy++) {
        const y = (gy + (sy + 0.5) / samples) / gridH;
        for (let sx = 0; sx < samples; sx++) {
          const x = (gx + (sx + 0.5) / samples) / gridW;
          if (sel.some((o) => x >= o.box[0] && x < o.box[2] && y >= o.box[1] && y < o.box[3])) hit++;
        }
      }
      out[gy * gridW + gx] = hit / (samples * samples);
    }
  }
  return out;
}

/** Object annotations of a generated folder, by image file name. */
export function readEmbeddedObjects(dir: string): Map<string, AnnotatedObject[]> {
  const file = path.join(dir, 'dataset.json');
  const json = readJson<{ images?: Array<{ filename: string; objects?: AnnotatedObject[] }> }>(file);
  if (!json || !Array.isArray(json.images)) throw new Error(`${file}: expected {images: [...]}`);
  const out = new Map<string, AnnotatedObject[]>();
  json.images.forEach((im, i) => {
    if (!Array.isArray(im.objects)) throw new Error(`${file}: image record ${i} (${im.filename}) has no "objects" (not an embedded dataset?)`);
    out.set(im.filename, im.objects);
  });
  return out;
}
