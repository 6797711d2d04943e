/**
 * The reference image transforms, bit-exact with PIL/torchvision on 8-bit RGB.
 *
 * - Closed domain (PIR, method.md §4.1): `Resize((S, S), bicubic)` → ToTensor → Normalize.
 * - Open domain (PriorCLIP / open_clip, method.md §5): `Resize(S, bicubic)` (shortest side) →
 *   `CenterCrop(S)` → ToTensor → Normalize.
 *
 * Resampling choice: we re-implement Pillow's `ImagingResample` (Resample.c) exactly, because that is
 * what torchvision's `Resize` calls on PIL images: a separable convolution with the bicubic kernel
 * a = −0.5 whose support is widened by the scale factor on downscale (PIL's built-in antialiasing),
 * horizontal pass first, 8-bit fixed-point coefficients (22 fractional bits) and uint8 rounding/clipping
 * after each pass. Tests check byte equality with Pillow 9.4 on real TIFFs. Deviation from the PyTorch
 * tensor path (`F.interpolate(mode='bicubic')`, a = −0.75, no antialias): none intended — the reference
 * models were trained on PIL-resized images, so we follow PIL. Decoding JPEGs differs from libjpeg by
 * ±1–2 grey levels (jpeg-js IDCT/upsampling), which is the only source of pixel mismatch.
 */
import { RgbImage } from '../io/image_codecs';

/** OpenAI CLIP normalisation mean (RGB), method.md §2.1. */
export const CLIP_MEAN: readonly [number, number, number] = [0.48145466, 0.4578275, 0.40821073];
/** OpenAI CLIP normalisation std (RGB). */
export const CLIP_STD: readonly [number, number, number] = [0.26862954, 0.26130258, 0.27577711];
/** Default network input size. */
export const DEFAULT_IMAGE_SIZE = 224;

/** Bicubic kernel parameter used by Pillow (`bicubic_filter`, a = −0.5). */
const BICUBIC_A = -0.5;
/** Support (half-width) of the bicubic kernel at scale 1. */
const BICUBIC_SUPPORT = 2;
/** Pillow's fixed-point precision for 8-bit resampling: 32 − 8 − 2 bits. */
const PRECISION_BITS = 22;
const PRECISION_SCALE = 1 << PRECISION_BITS;
/** Rounding offset added before the fixed-point shift. */
const PRECISION_HALF = 1 << (PRECISION_BITS - 1);

/** Eval transform flavours. */
export type EvalTransform = 'resize' | 'resize-center-crop';

/** Options of `preprocessImage`. */
export interface PreprocessOptions {
  /** Output side S (default 224). */
  size?: number;
  /** `resize` = Resize((S,S)) (closed domain, PIR); `resize-center-crop` = Resize(S)+CenterCrop(S) (open domain). */
  transform?: EvalTransform;
  /** Mean/std for normalisation (default CLIP). */
  mean?: readonly [number, number, number];
  std?: readonly [number, number, number];
}

function bicubic(x: number): number {
  const a = BICUBIC_A;
  if (x < 0) x = -x;
  if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
  return 0;
}

interface Coeffs {
  /** First input index per output index. */
  bounds: Int32Array; // [out, 2]: (xmin, count)
  /** Fixed-point weights, `ksize` per output index. */
  k: Int32Array;
  ksize: number;
}

/** Pillow `precompute_coeffs` + `normalize_coeffs_8bpc` for input range [in0, in1) → outSize. */
function precomputeCoeffs(inSize: number, in0: number, in1: number, outSize: number): Coeffs {
  const scale = (in1 - in0) / outSize;
  const filterscale = Math.max(scale, 1);
  const support = BICUBIC_SUPPORT * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const k = new Int32Array(outSize * ksize);
  const pre = new Float64Array(ksize);
  const ss = 1 / filterscale;
  for (let xx = 0; xx < outSize; xx++) {
    const center = in0 + (xx + 0.5) * scale;
    let xmin = Math.trunc(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    let xmax = Math.trunc(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      const w = bicubic((x + xmin - center + 0.5) * ss);
      pre[x] = w;
      ww += w;
    }
    for (let x = 0; x < xmax; x++) {
      const w = ww !== 0 ? pre[x] / ww : pre[x];
      // C `(int)` truncates toward zero.
      k[xx * ksize + x] = w < 0 ? Math.trunc(-0.5 + w * PRECISION_SCALE) : Math.trunc(0.5 + w * PRECISION_SCALE);
    }
    bounds[2 * xx] = xmin;
    bounds[2 * xx + 1] = xmax;
  }
  return { bounds, k, ksize };
}

function clip8(v: number): number {
  // |v| < 2^31 (255 · Σ|w| · 2^22 with Σ|w| < 1.2), so the arithmetic shift is an exact floor.
  const s = v >> PRECISION_BITS;
  return s < 0 ? 0 : s > 255 ? 255 : s;
}

/**
 * Pillow-exact bicubic resize of 8-bit RGB, optionally from a crop box `[x0, y0, x1, y1]` (integers,
 * as torchvision's crop-then-resize produces). Returns a new image.
 */
export function resizeBicubic(img: RgbImage, outW: number, outH: number, box?: [number, number, number, number]): RgbImage {
  if (!(outW > 0 && outH > 0)) throw new Error(`resizeBicubic: invalid output size ${outW}×${outH}`);
  const [bx0, by0, bx1, by1] = box ?? [0, 0, img.width, img.height];
  if (bx0 < 0 || by0 < 0 || bx1 > img.width || by1 > img.height || bx1 <= bx0 || by1 <= by0) {
    throw new Error(`resizeBicubic: box [${bx0},${by0},${bx1},${by1}] outside ${img.width}×${img.height}`);
  }
  const inW = bx1 - bx0;
  const inH = by1 - by0;
  if (inW === outW && inH === outH) return crop(img, bx0, by0, inW, inH);
  const needH = outW !== inW || bx0 !== 0 || bx1 !== img.width;
  const needV = outH !== inH || by0 !== 0 || by1 !== img.height;
  // Vertical coefficients are computed on the source rows (as Pillow does), then shifted by the first
  // row the horizontal pass produced.
  const cv = needV ? precomputeCoeffs(img.height, by0, by1, outH) : null;
  let cur = img;
  if (needH) {
    const ch = precomputeCoeffs(img.width, bx0, bx1, outW);
    const yFirst = cv ? cv.bounds[0] : by0;
    const yLast = cv ? cv.bounds[2 * (outH - 1)] + cv.bounds[2 * (outH - 1) + 1] : by1;
    const rows = yLast - yFirst;
    const out = new Uint8Array(outW * rows * 3);
    const src = img.data;
    const kk = ch.k;
    const bounds = ch.bounds;
    const ksize = ch.ksize;
    for (let y = 0; y < rows; y++) {
      const srcRow = (y + yFirst) * img.width * 3;
      for (let xx = 0; xx < outW; xx++) {
        const xmin = bounds[2 * xx];
        const xn = bounds[2 * xx + 1];
        const kb = xx * ksize;
        let s0 = PRECISION_HALF, s1 = PRECISION_HALF, s2 = PRECISION_HALF;
        let p = srcRow + xmin * 3;
        for (let x = 0; x < xn; x++, p += 3) {
          const w = kk[kb + x];
          s0 += src[p] * w;
          s1 += src[p + 1] * w;
          s2 += src[p + 2] * w;
        }
        const o = (y * outW + xx) * 3;
        out[o] = clip8(s0);
        out[o + 1] = clip8(s1);
        out[o + 2] = clip8(s2);
      }
    }
    cur = { width: outW, height: rows, data: out };
    if (cv) for (let i = 0; i < outH; i++) cv.bounds[2 * i] -= yFirst;
  }
  if (!cv) return cur;
  const w = cur.width;
  const out = new Uint8Array(w * outH * 3);
  const src = cur.data;
  const kk = cv.k;
  const stride = w * 3;
  for (let yy = 0; yy < outH; yy++) {
    const ymin = cv.bounds[2 * yy];
    const yn = cv.bounds[2 * yy + 1];
    const kb = yy * cv.ksize;
    for (let xx = 0; xx < w; xx++) {
      let s0 = PRECISION_HALF, s1 = PRECISION_HALF, s2 = PRECISION_HALF;
      let p = ymin * stride + xx * 3;
      for (let y = 0; y < yn; y++, p += stride) {
        const wt = kk[kb + y];
        s0 += src[p] * wt;
        s1 += src[p + 1] * wt;
        s2 += src[p + 2] * wt;
      }
      const o = (yy * w + xx) * 3;
      out[o] = clip8(s0);
      out[o + 1] = clip8(s1);
      out[o + 2] = clip8(s2);
    }
  }
  return { width: w, height: outH, data: out };
}

/** Integer crop (PIL `Image.crop` inside bounds). */
export function crop(img: RgbImage, left: number, top: number, width: number, height: number): RgbImage {
  if (left < 0 || top < 0 || left + width > img.width || top + height > img.height || width <= 0 || height <= 0) {
    throw new Error(`crop: box (${left},${top},${width}×${height}) outside ${img.width}×${img.height}`);
  }
  const out = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const s = ((top + y) * img.width + left) * 3;
    out.set(img.data.subarray(s, s + width * 3), y * width * 3);
  }
  return { width, height, data: out };
}

/** Python's round(): half to even. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** torchvision `Resize(size)` with an int: the shorter side becomes `size`, the longer `int(size·long/short)`. */
export function resizeShortestSide(img: RgbImage, size: number): RgbImage {
  const { width: w, height: h } = img;
  const short = Math.min(w, h);
  const long = Math.max(w, h);
  if (short === size) return img;
  const newLong = Math.trunc((size * long) / short);
  const [ow, oh] = w <= h ? [size, newLong] : [newLong, size];
  return resizeBicubic(img, ow, oh);
}

/** torchvision `CenterCrop(size)` (offsets with Python rounding; images smaller than size are not padded: error). */
export function centerCrop(img: RgbImage, size: number): RgbImage {
  if (img.width < size || img.height < size) throw new Error(`centerCrop: image ${img.width}×${img.height} smaller than ${size}`);
  const top = roundHalfEven((img.height - size) / 2);
  const left = roundHalfEven((img.width - size) / 2);
  return crop(img, left, top, size, size);
}

/** The eval-time geometric transform, returning 8-bit RGB of size S×S. */
export function evalResize(img: RgbImage, size: number, transform: EvalTransform): RgbImage {
  if (transform === 'resize') return resizeBicubic(img, size, size);
  return centerCrop(resizeShortestSide(img, size), size);
}

/**
 * ToTensor + Normalize into `out` at `offset` (NHWC float32): `(v/255 − mean)/std`, computed in float32
 * arithmetic order as torchvision does (divide, subtract, divide).
 */
export function normalizeInto(img: RgbImage, out: Float32Array, offset: number,
  mean: readonly [number, number, number] = CLIP_MEAN, std: readonly [number, number, number] = CLIP_STD): void {
  const n = img.width * img.height;
  if (offset + n * 3 > out.length) throw new Error(`normalizeInto: ${n * 3} values at ${offset} exceed buffer of ${out.length}`);
  // Lookup tables: 256 values per channel, float32 rounding identical for every pixel.
  const lut = new Float32Array(256 * 3);
  const f = Math.fround;
  for (let c = 0; c < 3; c++) {
    const m = f(mean[c]);
    const s = f(std[c]);
    for (let v = 0; v < 256; v++) lut[c * 256 + v] = f(f(f(v / 255) - m) / s);
  }
  const d = img.data;
  for (let i = 0; i < n; i++) {
    out[offset + 3 * i] = lut[d[3 * i]];
    out[offset + 3 * i + 1] = lut[256 + d[3 * i + 1]];
    out[offset + 3 * i + 2] = lut[512 + d[3 * i + 2]];
  }
}

/** Full eval preprocessing of one decoded image → Float32Array [S, S, 3] (normalised). */
export function preprocessImage(img: RgbImage, opts: PreprocessOptions = {}): Float32Array {
  const size = opts.size ?? DEFAULT_IMAGE_SIZE;
  const r = evalResize(img, size, opts.transform ?? 'resize');
  const out = new Float32Array(size * size * 3);
  normalizeInto(r, out, 0, opts.mean ?? CLIP_MEAN, opts.std ?? CLIP_STD);
  return out;
}

/** Inverse of the normalisation, for display: NHWC float → uint8 RGB (clamped). */
export function denormalize(data: Float32Array, width: number, height: number,
  mean: readonly [number, number, number] = CLIP_MEAN, std: readonly [number, number, number] = CLIP_STD): RgbImage {
  const n = width * height;
  const out = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < 3; c++) {
      const v = Math.round((data[3 * i + c] * std[c] + mean[c]) * 255);
      out[3 * i + c] = v < 0 ? 0 : v > 255 ? 255 : v;
    }
  }
  return { width, height, data: out };
}
