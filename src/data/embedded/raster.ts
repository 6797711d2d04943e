/**
 * A tiny deterministic software rasteriser for the embedded aerial scenes.
 *
 * Scenes are described as data (`DrawOp[]` in normalised image coordinates, x right and y down,
 * both in [0, 1]) and painted in order onto an RGB canvas. Anti-aliasing is supersampling: the
 * canvas is `size · supersample` pixels wide and box-filtered down at the end. Texture comes from
 * two value-noise fields (coarse and fine) drawn once per image from a `SeedStream`, so the same
 * seed paints the same bytes on every machine (only integer-exact and IEEE-exact operations).
 */
import { SeedStream } from '../../utils/random';

/** An RGB colour, components in [0, 255]. */
export type Rgb = readonly [number, number, number];
/** A point in normalised image coordinates. */
export type Point = readonly [number, number];

/** Lattice cells per side of the coarse value-noise field. */
const COARSE_NOISE_CELLS = 6;
/** Lattice cells per side of the fine value-noise field. */
const FINE_NOISE_CELLS = 24;
/** Weight of the coarse field in the texture mix (the fine field gets the rest). */
const COARSE_NOISE_WEIGHT = 0.6;
/** Amplitude (in 0..255 units) of the per-pixel sensor grain added after downsampling. */
const GRAIN_AMPLITUDE = 3;

/** Common fields of every draw operation. */
interface OpBase {
  colour: Rgb;
  /** Texture strength in [0, 1): the colour is scaled by 1 ± texture · noise. */
  texture?: number;
}

/** One painting operation (normalised coordinates). */
export type DrawOp =
  | (OpBase & { op: 'fill' })
  | (OpBase & { op: 'rect'; x0: number; y0: number; x1: number; y1: number })
  | (OpBase & { op: 'poly'; pts: Point[] })
  | (OpBase & { op: 'ellipse'; cx: number; cy: number; rx: number; ry: number; angle: number })
  | (OpBase & { op: 'band'; pts: Point[]; width: number });

/** Corners of a rectangle of size w×h centred on (cx, cy) and rotated by `angle` radians. */
export function rotatedRect(cx: number, cy: number, w: number, h: number, angle: number): Point[] {
  const c = Math.cos(angle);
  const s = Math.sin(angle);
  const corners: Array<[number, number]> = [
    [-w / 2, -h / 2],
    [w / 2, -h / 2],
    [w / 2, h / 2],
    [-w / 2, h / 2],
  ];
  return corners.map(([x, y]) => [cx + x * c - y * s, cy + x * s + y * c] as const);
}

/** Transform local points (object frame, unit = 1) by scale, rotation and translation. */
export function placePoints(local: readonly Point[], cx: number, cy: number, scale: number, angle: number): Point[] {
  const c = Math.cos(angle);
  const s = Math.sin(angle);
  return local.map(([x, y]) => [cx + scale * (x * c - y * s), cy + scale * (x * s + y * c)] as const);
}

/** Scale a colour's brightness (clamped). */
export function shade(colour: Rgb, factor: number): Rgb {
  return [clamp255(colour[0] * factor), clamp255(colour[1] * factor), clamp255(colour[2] * factor)];
}

function clamp255(v: number): number {
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

/**
 * Add `weight ·` a value-noise field in [0, 1] to `target` (an n×n pixel grid): bilinear with
 * smoothstep over a cells×cells lattice of uniform values.
 */
function addValueNoise(target: Float32Array, n: number, cells: number, weight: number, rng: SeedStream): void {
  const stride = cells + 1;
  const lattice = new Float32Array(stride * stride);
  for (let i = 0; i < lattice.length; i++) lattice[i] = rng.random();
  // Per-axis cell index and smoothstep weight (same for rows and columns).
  const idx = new Int32Array(n);
  const wt = new Float32Array(n);
  for (let p = 0; p < n; p++) {
    const f = ((p + 0.5) / n) * cells;
    const i = Math.min(cells - 1, Math.floor(f));
    const t = f - i;
    idx[p] = i;
    wt[p] = t * t * (3 - 2 * t);
  }
  for (let y = 0; y < n; y++) {
    const row0 = idx[y] * stride;
    const row1 = row0 + stride;
    const sy = wt[y];
    for (let x = 0; x < n; x++) {
      const ix = idx[x];
      const sx = wt[x];
      const top = lattice[row0 + ix] + (lattice[row0 + ix + 1] - lattice[row0 + ix]) * sx;
      const bottom = lattice[row1 + ix] + (lattice[row1 + ix + 1] - lattice[row1 + ix]) * sx;
      target[y * n + x] += weight * (top + (bottom - top) * sy);
    }
  }
}

/** An RGB canvas (supersampled) that paints `DrawOp`s. */
export class Raster {
  /** Output side length in pixels. */
  readonly size: number;
  /** Supersampling factor per axis. */
  readonly supersample: number;
  /** Canvas side length (`size · supersample`). */
  readonly n: number;
  private readonly rgb: Float32Array;
  private readonly noise: Float32Array;
  private readonly grainRng: SeedStream;

  constructor(size: number, supersample: number, rng: SeedStream) {
    if (!Number.isInteger(size) || size < 8) throw new Error(`Raster: size must be an integer ≥ 8, got ${size}`);
    if (!Number.isInteger(supersample) || supersample < 1) {
      throw new Error(`Raster: supersample must be an integer ≥ 1, got ${supersample}`);
    }
    this.size = size;
    this.supersample = supersample;
    this.n = size * supersample;
    this.rgb = new Float32Array(this.n * this.n * 3);
    this.noise = new Float32Array(this.n * this.n);
    addValueNoise(this.noise, this.n, COARSE_NOISE_CELLS, 2 * COARSE_NOISE_WEIGHT, rng.child('coarse'));
    addValueNoise(this.noise, this.n, FINE_NOISE_CELLS, 2 * (1 - COARSE_NOISE_WEIGHT), rng.child('fine'));
    // Centre in [-1, 1].
    for (let i = 0; i < this.noise.length; i++) this.noise[i] -= 1;
    this.grainRng = rng.child('grain');
  }

  private put(i: number, colour: Rgb, texture: number): void {
    const f = texture > 0 ? 1 + texture * this.noise[i] : 1;
    const o = 3 * i;
    this.rgb[o] = colour[0] * f;
    this.rgb[o + 1] = colour[1] * f;
    this.rgb[o + 2] = colour[2] * f;
  }

  /** Pixel-space bounding box of normalised extents, clipped to the canvas. */
  private box(x0: number, y0: number, x1: number, y1: number): [number, number, number, number] {
    const n = this.n;
    return [
      Math.max(0, Math.floor(x0 * n)),
      Math.max(0, Math.floor(y0 * n)),
      Math.min(n - 1, Math.ceil(x1 * n)),
      Math.min(n - 1, Math.ceil(y1 * n)),
    ];
  }

  /** Paint one operation. */
  draw(op: DrawOp): void {
    const n = this.n;
    const tex = op.texture ?? 0;
    switch (op.op) {
      case 'fill':
        for (let i = 0; i < n * n; i++) this.put(i, op.colour, tex);
        return;
      case 'rect': {
        const [px0, py0, px1, py1] = this.box(Math.min(op.x0, op.x1), Math.min(op.y0, op.y1), Math.max(op.x0, op.x1), Math.max(op.y0, op.y1));
        for (let y = py0; y <= py1; y++) {
          const v = (y + 0.5) / n;
          if (v < Math.min(op.y0, op.y1) || v >= Math.max(op.y0, op.y1)) continue;
          for (let x = px0; x <= px1; x++) {
            const u = (x + 0.5) / n;
            if (u < Math.min(op.x0, op.x1) || u >= Math.max(op.x0, op.x1)) continue;
            this.put(y * n + x, op.colour, tex);
          }
        }
        return;
      }
      case 'poly': {
        const pts = op.pts;
        if (pts.length < 3) return;
        let minX = Infinity;
        let minY = Infinity;
        let maxX = -Infinity;
        let maxY = -Infinity;
        for (const [x, y] of pts) {
          minX = Math.min(minX, x);
          minY = Math.min(minY, y);
          maxX = Math.max(maxX, x);
          maxY = Math.max(maxY, y);
        }
        const [px0, py0, px1, py1] = this.box(minX, minY, maxX, maxY);
        for (let y = py0; y <= py1; y++) {
          const v = (y + 0.5) / n;
          for (let x = px0; x <= px1; x++) {
            const u = (x + 0.5) / n;
            // Even–odd ray casting.
            let inside = false;
            for (let i = 0, j = pts.length - 1; i < pts.length; j = i++) {
              const [xi, yi] = pts[i];
              const [xj, yj] = pts[j];
              if (yi > v !== yj > v && u < ((xj - xi) * (v - yi)) / (yj - yi) + xi) inside = !inside;
            }
            if (inside) this.put(y * n + x, op.colour, tex);
          }
        }
        return;
      }
      case 'ellipse': {
        const r = Math.max(op.rx, op.ry);
        const [px0, py0, px1, py1] = this.box(op.cx - r, op.cy - r, op.cx + r, op.cy + r);
        const c = Math.cos(op.angle);
        const s = Math.sin(op.angle);
        for (let y = py0; y <= py1; y++) {
          const dy = (y + 0.5) / n - op.cy;
          for (let x = px0; x <= px1; x++) {
            const dx = (x + 0.5) / n - op.cx;
            const lx = (dx * c + dy * s) / op.rx;
            const ly = (-dx * s + dy * c) / op.ry;
            if (lx * lx + ly * ly <= 1) this.put(y * n + x, op.colour, tex);
          }
        }
        return;
      }
      case 'band': {
        const hw = op.width / 2;
        for (let k = 0; k + 1 < op.pts.length; k++) {
          const [ax, ay] = op.pts[k];
          const [bx, by] = op.pts[k + 1];
          const [px0, py0, px1, py1] = this.box(Math.min(ax, bx) - hw, Math.min(ay, by) - hw, Math.max(ax, bx) + hw, Math.max(ay, by) + hw);
          const ex = bx - ax;
          const ey = by - ay;
          const len2 = ex * ex + ey * ey;
          for (let y = py0; y <= py1; y++) {
            const v = (y + 0.5) / n;
            for (let x = px0; x <= px1; x++) {
              const u = (x + 0.5) / n;
              const t = len2 > 0 ? Math.max(0, Math.min(1, ((u - ax) * ex + (v - ay) * ey) / len2)) : 0;
              const qx = u - (ax + t * ex);
              const qy = v - (ay + t * ey);
              if (qx * qx + qy * qy <= hw * hw) this.put(y * n + x, op.colour, tex);
            }
          }
        }
        return;
      }
    }
  }

  /** Paint operations in order. */
  drawAll(ops: readonly DrawOp[]): void {
    for (const op of ops) this.draw(op);
  }

  /** The supersampled canvas (n·n·3 floats, before downsampling and grain); read it, do not write it. */
  canvasRgb(): Float32Array {
    return this.rgb;
  }

  /** Box-filter down to `size`², add sensor grain, round: an RGB Uint8Array of length size·size·3. */
  toRgb8(): Uint8Array {
    const { size, supersample: ss, n } = this;
    const out = new Uint8Array(size * size * 3);
    const inv = 1 / (ss * ss);
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        let r = 0;
        let g = 0;
        let b = 0;
        for (let sy = 0; sy < ss; sy++) {
          for (let sx = 0; sx < ss; sx++) {
            const o = 3 * ((y * ss + sy) * n + x * ss + sx);
            r += this.rgb[o];
            g += this.rgb[o + 1];
            b += this.rgb[o + 2];
          }
        }
        const grain = (this.grainRng.random() * 2 - 1) * GRAIN_AMPLITUDE;
        const o = 3 * (y * size + x);
        out[o] = Math.round(clamp255(r * inv + grain));
        out[o + 1] = Math.round(clamp255(g * inv + grain));
        out[o + 2] = Math.round(clamp255(b * inv + grain));
      }
    }
    return out;
  }
}
