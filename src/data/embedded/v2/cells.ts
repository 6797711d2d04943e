/**
 * Object cells: which patch-grid cells each object of a scene covers, measured on the rasterised
 * pixels. The scene's objects are painted again in drawing order by the same rasteriser, at the
 * image's supersampled canvas resolution, each in its own id colour and without the background:
 * so a cell's coverage is the share of its (sub-)pixels where that object is the visible one —
 * the same footprint, shadows and occlusions as in the image the model sees.
 */
import { SeedStream } from '../../../utils/random';
import { DrawOp, Raster, Rgb } from '../raster';
import { SceneObject, objectOps } from '../objects';

/** Id colour step per channel (ids are read back from the canvas exactly: no grain, no texture). */
const ID_STEP = 8;
/** Ids per colour channel. */
const IDS_PER_CHANNEL = 32;
/** Most objects one id canvas can tell apart (ids 1..MAX; 0 = no object). */
export const MAX_OBJECTS = IDS_PER_CHANNEL * IDS_PER_CHANNEL - 1;
/** Digits kept in stored cell coverages. */
const COVERAGE_DIGITS = 3;

/** Cells one object covers on one grid: `[cell index (row-major), coverage in (0, 1]]`, ascending index. */
export type CellList = Array<[number, number]>;

function idColour(id: number): Rgb {
  return [ID_STEP * (id % IDS_PER_CHANNEL), ID_STEP * Math.floor(id / IDS_PER_CHANNEL), 0];
}

/** One id canvas per side length, reused (texture 0: its noise fields are never read). */
const ID_RASTERS = new Map<number, Raster>();

/**
 * The visible object per canvas pixel: `(size·supersample)²` ids, 0 = no object, k+1 = object k
 * (drawing order, later objects on top, as in `renderScene`).
 */
export function objectIdCanvas(objects: readonly SceneObject[], size: number, supersample: number): Uint16Array {
  if (objects.length > MAX_OBJECTS) throw new Error(`objectIdCanvas: ${objects.length} objects, at most ${MAX_OBJECTS} supported`);
  const n = size * supersample;
  let raster = ID_RASTERS.get(n);
  if (raster === undefined) {
    raster = new Raster(n, 1, new SeedStream(0).child('object-ids'));
    ID_RASTERS.set(n, raster);
  }
  raster.draw({ op: 'fill', colour: [0, 0, 0] });
  objects.forEach((o, k) => {
    const colour = idColour(k + 1);
    const ops: DrawOp[] = objectOps(o).map((op) => ({ ...op, colour, texture: 0 }));
    (raster as Raster).drawAll(ops);
  });
  const rgb = raster.canvasRgb();
  const ids = new Uint16Array(n * n);
  for (let p = 0; p < ids.length; p++) ids[p] = Math.round(rgb[3 * p] / ID_STEP) + IDS_PER_CHANNEL * Math.round(rgb[3 * p + 1] / ID_STEP);
  return ids;
}

/** The cell (row-major, `grid`×`grid`) a pixel (x, y) of a size×size image falls in. */
export function pixelCell(x: number, y: number, size: number, grid: number): number {
  return Math.floor((y * grid) / size) * grid + Math.floor((x * grid) / size);
}

/** Cells of every object on every grid: `result[k][String(grid)]` for object k. */
export function objectCells(objects: readonly SceneObject[], size: number, supersample: number, grids: readonly number[]): Array<Record<string, CellList>> {
  const ids = objectIdCanvas(objects, size, supersample);
  const n = size * supersample;
  const out: Array<Record<string, CellList>> = objects.map(() => ({}));
  const f = 10 ** COVERAGE_DIGITS;
  for (const g of grids) {
    // Canvas pixels per cell (cells are unions of whole output pixels).
    const area = new Float64Array(g * g);
    for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) area[pixelCell(x, y, size, g)] += supersample * supersample;
    const mass = objects.map(() => new Float64Array(g * g));
    for (let cy = 0; cy < n; cy++) {
      for (let cx = 0; cx < n; cx++) {
        const id = ids[cy * n + cx];
        if (id > 0 && id <= objects.length) mass[id - 1][pixelCell(Math.floor(cx / supersample), Math.floor(cy / supersample), size, g)] += 1;
      }
    }
    mass.forEach((m, k) => {
      const cells: CellList = [];
      for (let c = 0; c < g * g; c++) {
        const cov = Math.round((m[c] / area[c]) * f) / f;
        if (cov > 0) cells.push([c, cov]);
      }
      out[k][String(g)] = cells;
    });
  }
  return out;
}
