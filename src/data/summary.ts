/**
 * Dataset summaries for notebook 01: counts per split and class, caption lengths, vocabulary,
 * an example grid (pixels + captions), and pure plotly figure builders (`{data, layout}`).
 */
import { RetrievalDataset, SPLITS, Split, ImageRecord } from './types';
import { captionTokens } from './embedded/vocabulary';
import type { PlotlyFigure } from '../plotting/render';
import { RgbImage, decodeImage } from '../io/image_codecs';
import { recordImageBytes } from './export';
import { encodePngRgb } from './embedded/generate';
import { SeedStream } from '../utils/random';

/** Per-class image counts by split. */
export interface ClassCount {
  sceneClass: string;
  train: number;
  val: number;
  test: number;
  total: number;
}

/** A histogram over integer values (`counts[i]` = how many equal `values[i]`). */
export interface IntHistogram {
  values: number[];
  counts: number[];
}

/** Everything notebook 01 prints about a dataset. */
export interface DatasetSummary {
  name: string;
  format: string;
  images: number;
  captions: number;
  classes: number;
  perSplit: Record<Split, { images: number; captions: number }>;
  /** Sorted by class name; images without a class are counted under "(none)". */
  perClass: ClassCount[];
  /** Words per caption (Karpathy-style tokens). */
  captionLength: { min: number; max: number; mean: number; histogram: IntHistogram };
  /** Distinct lower-case tokens over all captions. */
  vocabularySize: number;
  /** Distinct captions / all captions (1 = no duplicates). */
  uniqueCaptionRatio: number;
  /** Images carrying a coarse caption. */
  withCoarseCaption: number;
}

/** Label used for images without a scene class. */
export const NO_CLASS = '(none)';

/** Compute the summary of a dataset. */
export function summarizeDataset(ds: RetrievalDataset): DatasetSummary {
  const perSplit = { train: { images: 0, captions: 0 }, val: { images: 0, captions: 0 }, test: { images: 0, captions: 0 } };
  const classMap = new Map<string, ClassCount>();
  const lengths = new Map<number, number>();
  const vocab = new Set<string>();
  const distinct = new Set<string>();
  let captions = 0;
  let lenSum = 0;
  let lenMin = Infinity;
  let lenMax = 0;
  let withCoarse = 0;
  for (const rec of ds.images) {
    perSplit[rec.split].images++;
    perSplit[rec.split].captions += rec.captions.length;
    const cls = rec.sceneClass ?? NO_CLASS;
    let cc = classMap.get(cls);
    if (!cc) {
      cc = { sceneClass: cls, train: 0, val: 0, test: 0, total: 0 };
      classMap.set(cls, cc);
    }
    cc[rec.split]++;
    cc.total++;
    if (rec.coarseCaption !== undefined) withCoarse++;
    for (const c of rec.captions) {
      const toks = captionTokens(c);
      captions++;
      lenSum += toks.length;
      lenMin = Math.min(lenMin, toks.length);
      lenMax = Math.max(lenMax, toks.length);
      lengths.set(toks.length, (lengths.get(toks.length) ?? 0) + 1);
      for (const t of toks) vocab.add(t);
      distinct.add(c);
    }
  }
  const values = [...lengths.keys()].sort((a, b) => a - b);
  return {
    name: ds.name,
    format: ds.format,
    images: ds.images.length,
    captions,
    classes: ds.classes.length,
    perSplit,
    perClass: [...classMap.values()].sort((a, b) => (a.sceneClass < b.sceneClass ? -1 : a.sceneClass > b.sceneClass ? 1 : 0)),
    captionLength: {
      min: captions > 0 ? lenMin : 0,
      max: lenMax,
      mean: captions > 0 ? lenSum / captions : 0,
      histogram: { values, counts: values.map((v) => lengths.get(v) ?? 0) },
    },
    vocabularySize: vocab.size,
    uniqueCaptionRatio: captions > 0 ? distinct.size / captions : 1,
    withCoarseCaption: withCoarse,
  };
}

/** Split colours (consistent across the kit's data figures). */
const SPLIT_COLOURS: Record<Split, string> = { train: '#4C78A8', val: '#F58518', test: '#54A24B' };

/** Stacked bar chart: images per class, one trace per split. */
export function classCountsFigure(summary: DatasetSummary): PlotlyFigure {
  const classes = summary.perClass.map((c) => c.sceneClass);
  return {
    data: SPLITS.map((split) => ({
      type: 'bar' as const,
      name: split,
      x: classes,
      y: summary.perClass.map((c) => c[split]),
      marker: { color: SPLIT_COLOURS[split] },
    })),
    layout: {
      title: { text: `${summary.name}: images per scene class and split` },
      barmode: 'stack',
      xaxis: { title: { text: 'scene class' }, tickangle: -45 },
      yaxis: { title: { text: 'images' } },
    },
  };
}

/** Bar chart of caption lengths (words per caption). */
export function captionLengthFigure(summary: DatasetSummary): PlotlyFigure {
  return {
    data: [
      {
        type: 'bar' as const,
        name: 'captions',
        x: summary.captionLength.histogram.values,
        y: summary.captionLength.histogram.counts,
        marker: { color: SPLIT_COLOURS.train },
      },
    ],
    layout: {
      title: { text: `${summary.name}: caption length (mean ${summary.captionLength.mean.toFixed(1)} words)` },
      xaxis: { title: { text: 'words per caption' } },
      yaxis: { title: { text: 'captions' } },
      bargap: 0.1,
    },
  };
}

/** One example for the grid: the decoded image and its captions. */
export interface ExampleImage {
  record: ImageRecord;
  image: RgbImage;
  captions: string[];
  coarseCaption?: string;
}

/** Options of `exampleImages`. */
export interface ExampleOptions {
  /** Examples per class (default 1). */
  perClass?: number;
  /** Classes to show (default all of `ds.classes`, in order). */
  classes?: string[];
  /** Restrict to a split. */
  split?: Split;
  /** Pick examples at random with this seed (default: the first images of each class). */
  seed?: number;
  /** Decoder (default `decodeImage`: PNG, JPEG, TIFF). */
  decode?: (bytes: Uint8Array, name: string) => RgbImage;
}

/** Decoded example images with captions, `perClass` per class. */
export function exampleImages(ds: RetrievalDataset, opts: ExampleOptions = {}): ExampleImage[] {
  const perClass = opts.perClass ?? 1;
  const decode = opts.decode ?? decodeImage;
  const rng = opts.seed !== undefined ? new SeedStream(opts.seed).child('examples') : null;
  const out: ExampleImage[] = [];
  for (const cls of opts.classes ?? ds.classes) {
    let recs = ds.images.filter((r) => r.sceneClass === cls && (opts.split === undefined || r.split === opts.split));
    if (rng) recs = rng.shuffle(recs.slice());
    for (const record of recs.slice(0, perClass)) {
      const image = decode(recordImageBytes(record), record.path);
      const ex: ExampleImage = { record, image, captions: record.captions };
      if (record.coarseCaption !== undefined) ex.coarseCaption = record.coarseCaption;
      out.push(ex);
    }
  }
  return out;
}

/** Options of `imageGrid`. */
export interface ImageGridOptions {
  /** Images per row. */
  cols: number;
  /** Cell side in pixels; images are resized (nearest neighbour) to it (default: the first image's width). */
  cell?: number;
  /** Gap between cells in pixels (default 2). */
  pad?: number;
  /** Background colour (default white). */
  background?: [number, number, number];
}

/** Tile images into one RGB image (row-major). */
export function imageGrid(images: readonly RgbImage[], opts: ImageGridOptions): RgbImage {
  if (images.length === 0) throw new Error('imageGrid: no images');
  const cols = Math.max(1, Math.min(opts.cols, images.length));
  const rows = Math.ceil(images.length / cols);
  const cell = opts.cell ?? images[0].width;
  const pad = opts.pad ?? 2;
  const bg = opts.background ?? [255, 255, 255];
  const width = cols * cell + (cols - 1) * pad;
  const height = rows * cell + (rows - 1) * pad;
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < data.length; i += 3) {
    data[i] = bg[0];
    data[i + 1] = bg[1];
    data[i + 2] = bg[2];
  }
  images.forEach((img, k) => {
    const ox = (k % cols) * (cell + pad);
    const oy = Math.floor(k / cols) * (cell + pad);
    for (let y = 0; y < cell; y++) {
      const sy = Math.min(img.height - 1, Math.floor((y * img.height) / cell));
      for (let x = 0; x < cell; x++) {
        const sx = Math.min(img.width - 1, Math.floor((x * img.width) / cell));
        const s = (sy * img.width + sx) * 3;
        const d = ((oy + y) * width + ox + x) * 3;
        data[d] = img.data[s];
        data[d + 1] = img.data[s + 1];
        data[d + 2] = img.data[s + 2];
      }
    }
  });
  return { width, height, data };
}

/** PNG bytes of a grid of images (for `tslab.display.png` or a file). */
export function imageGridPng(images: readonly RgbImage[], opts: ImageGridOptions): Uint8Array {
  const g = imageGrid(images, opts);
  return encodePngRgb(g.data, g.width, g.height);
}
