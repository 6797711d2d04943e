/**
 * Training augmentations of the references (method.md §4.1, §4.3), on 8-bit RGB, driven by SeedStream:
 *
 * - `RandomResizedCrop(S, scale, ratio=(3/4, 4/3), bicubic)`: torchvision's `get_params` (10 attempts,
 *   log-uniform aspect ratio, `round()` sizes, centre-crop fallback), then crop + the Pillow-exact
 *   bicubic resize (`resizeBicubic`);
 * - `RandomHorizontalFlip(p = 0.5)`;
 * - `RandomAugment(N = 2, M = 7)` of BLIP/X-VLM (`randaugment.py`): N ops drawn with replacement from
 *   [Identity, AutoContrast, Equalize, Brightness, Sharpness, ShearX, ShearY, TranslateX, TranslateY,
 *   Rotate], each applied with p = 0.5; at M = 7: factor 1.36, shear ±0.21, translate ±7 px, rotate ±21°,
 *   fill (128,128,128).
 *
 * Deviations (documented, not bit-exact): the reference's random numbers come from torch/numpy (ours
 * from SeedStream, so the *distribution* matches, not the draws); the geometric RandAugment ops use
 * float bilinear sampling where OpenCV's `warpAffine` uses 5-bit fixed-point weights (±1 grey level);
 * Sharpness clips where numpy's `astype(uint8)` would wrap.
 */
import { SeedStream } from '../utils/random';
import { RgbImage } from '../io/image_codecs';
import { crop, resizeBicubic } from './image_preprocess';

/** RandAugment op names of the reference, in its order. */
export const RAND_AUGMENT_OPS = ['Identity', 'AutoContrast', 'Equalize', 'Brightness', 'Sharpness', 'ShearX', 'ShearY', 'TranslateX', 'TranslateY', 'Rotate'] as const;
export type RandAugmentOp = typeof RAND_AUGMENT_OPS[number];

/** The reference `MAX_LEVEL`. */
const MAX_LEVEL = 10;
/** The reference `translate_const` (pixels at M = MAX_LEVEL). */
const TRANSLATE_CONST = 10;
/** Shear at M = MAX_LEVEL. */
const SHEAR_MAX = 0.3;
/** Rotation (degrees) at M = MAX_LEVEL. */
const ROTATE_MAX_DEG = 30;
/** Enhance factor = level/MAX·ENHANCE_SCALE + ENHANCE_OFFSET. */
const ENHANCE_SCALE = 1.8;
const ENHANCE_OFFSET = 0.1;
/** Probability each sampled op is applied. */
const OP_PROB = 0.5;
/** Fill value of the geometric ops. */
const FILL = 128;
/** torchvision RandomResizedCrop attempts before the fallback. */
const RRC_ATTEMPTS = 10;
/** Sharpness smoothing kernel: centre weight (others 1), normalised by 13. */
const SHARP_CENTER = 5;
const SHARP_NORM = 13;

/** Augmentation settings (defaults = PIR closed domain). */
export interface AugmentConfig {
  /** Output side S. */
  size: number;
  /** RandomResizedCrop area range (PIR (0.5, 1); open_clip (0.9, 1)); null disables cropping (plain resize). */
  scale: [number, number] | null;
  /** RandomResizedCrop aspect-ratio range. */
  ratio: [number, number];
  /** Horizontal flip probability (0 disables). */
  flipProb: number;
  /** RandAugment N and M; null disables. */
  randAugment: { n: number; m: number } | null;
}

/** PIR's training transform (method.md §4.1). */
export const PIR_AUGMENT: AugmentConfig = { size: 224, scale: [0.5, 1], ratio: [3 / 4, 4 / 3], flipProb: 0.5, randAugment: { n: 2, m: 7 } };
/** open_clip's training transform (method.md §4.3): RRC(0.9, 1), no flip, no RandAugment. */
export const OPEN_CLIP_AUGMENT: AugmentConfig = { size: 224, scale: [0.9, 1], ratio: [3 / 4, 4 / 3], flipProb: 0, randAugment: null };

/** Python's `round()` (half to even), as torchvision's `int(round(...))` uses. */
function pyRound(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** torchvision `RandomResizedCrop.get_params`: returns (top, left, height, width). */
export function randomResizedCropParams(width: number, height: number, scale: [number, number], ratio: [number, number], rng: SeedStream): { top: number; left: number; h: number; w: number } {
  const area = width * height;
  const logR = [Math.log(ratio[0]), Math.log(ratio[1])];
  for (let a = 0; a < RRC_ATTEMPTS; a++) {
    const target = area * (scale[0] + (scale[1] - scale[0]) * rng.random());
    const aspect = Math.exp(logR[0] + (logR[1] - logR[0]) * rng.random());
    const w = pyRound(Math.sqrt(target * aspect));
    const h = pyRound(Math.sqrt(target / aspect));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      return { top: rng.int(height - h + 1), left: rng.int(width - w + 1), h, w };
    }
  }
  const inRatio = width / height;
  let w: number;
  let h: number;
  if (inRatio < Math.min(...ratio)) { w = width; h = pyRound(w / Math.min(...ratio)); }
  else if (inRatio > Math.max(...ratio)) { h = height; w = pyRound(h * Math.max(...ratio)); }
  else { w = width; h = height; }
  return { top: Math.trunc((height - h) / 2), left: Math.trunc((width - w) / 2), h, w };
}

/** Horizontal mirror. */
export function hflip(img: RgbImage): RgbImage {
  const { width: w, height: h } = img;
  const out = new Uint8Array(img.data.length);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const s = (y * w + x) * 3;
      const d = (y * w + (w - 1 - x)) * 3;
      out[d] = img.data[s]; out[d + 1] = img.data[s + 1]; out[d + 2] = img.data[s + 2];
    }
  }
  return { width: w, height: h, data: out };
}

function mapTable(img: RgbImage, tables: Uint8Array[]): RgbImage {
  const out = new Uint8Array(img.data.length);
  for (let i = 0; i < out.length; i++) out[i] = tables[i % 3][img.data[i]];
  return { width: img.width, height: img.height, data: out };
}

/** Reference `autocontrast_func` (cutoff 0): stretch each channel to [0, 255]. */
export function autoContrast(img: RgbImage): RgbImage {
  const tables: Uint8Array[] = [];
  for (let c = 0; c < 3; c++) {
    let lo = 255, hi = 0;
    for (let i = c; i < img.data.length; i += 3) { const v = img.data[i]; if (v < lo) lo = v; if (v > hi) hi = v; }
    const t = new Uint8Array(256);
    for (let v = 0; v < 256; v++) {
      if (hi <= lo) { t[v] = v; continue; }
      const scale = 255 / (hi - lo);
      const x = v * scale - lo * scale;
      t[v] = Math.trunc(Math.min(255, Math.max(0, x)));
    }
    tables.push(t);
  }
  return mapTable(img, tables);
}

/** Reference `equalize_func` (PIL's ImageOps.equalize). */
export function equalize(img: RgbImage): RgbImage {
  const tables: Uint8Array[] = [];
  for (let c = 0; c < 3; c++) {
    const hist = new Float64Array(256);
    for (let i = c; i < img.data.length; i += 3) hist[img.data[i]]++;
    const nz: number[] = [];
    for (let v = 0; v < 256; v++) if (hist[v] !== 0) nz.push(hist[v]);
    let s = 0;
    for (let k = 0; k < nz.length - 1; k++) s += nz[k];
    const step = Math.floor(s / 255);
    const t = new Uint8Array(256);
    if (step === 0) { for (let v = 0; v < 256; v++) t[v] = v; tables.push(t); continue; }
    let cum = Math.floor(step / 2);
    for (let v = 0; v < 256; v++) {
      t[v] = Math.min(255, Math.max(0, Math.floor(cum / step)));
      cum += hist[v];
    }
    tables.push(t);
  }
  return mapTable(img, tables);
}

/** Reference `brightness_func`: `clip(v·factor)` truncated. */
export function brightness(img: RgbImage, factor: number): RgbImage {
  const t = new Uint8Array(256);
  for (let v = 0; v < 256; v++) t[v] = Math.trunc(Math.min(255, Math.max(0, Math.fround(v * factor))));
  return mapTable(img, [t, t, t]);
}

/** Reference `sharpness_func`: blend with a 3×3 smoothing (centre 5, /13) inside a 1-pixel border. */
export function sharpness(img: RgbImage, factor: number): RgbImage {
  const { width: w, height: h } = img;
  const out = new Uint8Array(img.data);
  if (factor === 1 || w < 3 || h < 3) return { width: w, height: h, data: out };
  const src = img.data;
  const row = w * 3;
  for (let y = 1; y < h - 1; y++) {
    for (let x = 1; x < w - 1; x++) {
      const p = (y * w + x) * 3;
      for (let c = 0; c < 3; c++) {
        const q = p + c;
        const s = src[q - row - 3] + src[q - row] + src[q - row + 3] + src[q - 3] + SHARP_CENTER * src[q] + src[q + 3] +
          src[q + row - 3] + src[q + row] + src[q + row + 3];
        const degenerate = Math.round(s / SHARP_NORM);
        const v = Math.trunc(degenerate + factor * (src[q] - degenerate));
        out[q] = v < 0 ? 0 : v > 255 ? 255 : v;
      }
    }
  }
  return { width: w, height: h, data: out };
}

/**
 * cv2.warpAffine (forward matrix `m` = [a, b, c, d, e, f]: x' = a·x + b·y + c, y' = d·x + e·y + f),
 * bilinear, constant border `FILL`.
 */
export function warpAffine(img: RgbImage, m: [number, number, number, number, number, number]): RgbImage {
  const { width: w, height: h } = img;
  const [a, b, c, d, e, f] = m;
  const det = a * e - b * d;
  if (det === 0) throw new Error('warpAffine: singular matrix');
  // Inverse map dst → src.
  const ia = e / det, ib = -b / det, id = -d / det, ie = a / det;
  const ic = -(ia * c + ib * f), iff = -(id * c + ie * f);
  const out = new Uint8Array(w * h * 3);
  const src = img.data;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const sx = ia * x + ib * y + ic;
      const sy = id * x + ie * y + iff;
      const x0 = Math.floor(sx), y0 = Math.floor(sy);
      const fx = sx - x0, fy = sy - y0;
      const w00 = (1 - fx) * (1 - fy), w01 = fx * (1 - fy), w10 = (1 - fx) * fy, w11 = fx * fy;
      const in00 = x0 >= 0 && y0 >= 0 && x0 < w && y0 < h;
      const in01 = x0 + 1 >= 0 && y0 >= 0 && x0 + 1 < w && y0 < h;
      const in10 = x0 >= 0 && y0 + 1 >= 0 && x0 < w && y0 + 1 < h;
      const in11 = x0 + 1 >= 0 && y0 + 1 >= 0 && x0 + 1 < w && y0 + 1 < h;
      const p00 = (y0 * w + x0) * 3, p01 = p00 + 3, p10 = p00 + w * 3, p11 = p10 + 3;
      const o = (y * w + x) * 3;
      for (let ch = 0; ch < 3; ch++) {
        const v = w00 * (in00 ? src[p00 + ch] : FILL) + w01 * (in01 ? src[p01 + ch] : FILL) +
          w10 * (in10 ? src[p10 + ch] : FILL) + w11 * (in11 ? src[p11 + ch] : FILL);
        const r = Math.round(v);
        out[o + ch] = r < 0 ? 0 : r > 255 ? 255 : r;
      }
    }
  }
  return { width: w, height: h, data: out };
}

/** cv2.getRotationMatrix2D(centre (W/2, H/2), degrees, 1) — positive = counter-clockwise. */
function rotationMatrix(w: number, h: number, deg: number): [number, number, number, number, number, number] {
  const r = (deg * Math.PI) / 180;
  const al = Math.cos(r), be = Math.sin(r);
  const cx = w / 2, cy = h / 2;
  return [al, be, (1 - al) * cx - be * cy, -be, al, be * cx + (1 - al) * cy];
}

/** Applies one RandAugment op at level `m` (signs drawn from `rng` as the reference does). */
export function applyRandAugmentOp(img: RgbImage, op: RandAugmentOp, m: number, rng: SeedStream): RgbImage {
  const frac = m / MAX_LEVEL;
  switch (op) {
    case 'Identity': return img;
    case 'AutoContrast': return autoContrast(img);
    case 'Equalize': return equalize(img);
    case 'Brightness': return brightness(img, frac * ENHANCE_SCALE + ENHANCE_OFFSET);
    case 'Sharpness': return sharpness(img, frac * ENHANCE_SCALE + ENHANCE_OFFSET);
    case 'ShearX': case 'ShearY': {
      const s = frac * SHEAR_MAX * (rng.random() > 0.5 ? -1 : 1);
      return warpAffine(img, op === 'ShearX' ? [1, s, 0, 0, 1, 0] : [1, 0, 0, s, 1, 0]);
    }
    case 'TranslateX': case 'TranslateY': {
      const t = frac * TRANSLATE_CONST * (rng.random() > 0.5 ? -1 : 1);
      return warpAffine(img, op === 'TranslateX' ? [1, 0, -t, 0, 1, 0] : [1, 0, 0, 0, 1, -t]);
    }
    case 'Rotate': {
      const deg = frac * ROTATE_MAX_DEG * (rng.random() < 0.5 ? -1 : 1);
      return warpAffine(img, rotationMatrix(img.width, img.height, deg));
    }
    default: throw new Error(`unknown RandAugment op ${String(op)}`);
  }
}

/** The reference `RandomAugment.__call__`: N ops with replacement, each applied with p = 0.5. */
export function randAugment(img: RgbImage, n: number, m: number, rng: SeedStream): RgbImage {
  let cur = img;
  const ops: RandAugmentOp[] = [];
  for (let i = 0; i < n; i++) ops.push(RAND_AUGMENT_OPS[rng.int(RAND_AUGMENT_OPS.length)]);
  for (const op of ops) {
    if (rng.random() > OP_PROB) continue;
    cur = applyRandAugmentOp(cur, op, m, rng);
  }
  return cur;
}

/** Full train transform: RRC (or plain resize) → flip → RandAugment. Output S×S 8-bit RGB. */
export function augmentImage(img: RgbImage, cfg: AugmentConfig, rng: SeedStream): RgbImage {
  let out: RgbImage;
  if (cfg.scale !== null) {
    const p = randomResizedCropParams(img.width, img.height, cfg.scale, cfg.ratio, rng);
    // torchvision `resized_crop` = crop, then resize the cropped image (no pixels from outside the box).
    out = resizeBicubic(crop(img, p.left, p.top, p.w, p.h), cfg.size, cfg.size);
  } else {
    out = resizeBicubic(img, cfg.size, cfg.size);
  }
  if (cfg.flipProb > 0 && rng.random() < cfg.flipProb) out = hflip(out);
  if (cfg.randAugment !== null) out = randAugment(out, cfg.randAugment.n, cfg.randAugment.m, rng);
  return out;
}
