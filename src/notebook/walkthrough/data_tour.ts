/**
 * Helpers of notebook 01 (the data tour): the semantic noise in the embedded scenes (object roles,
 * distractors drawn as boxes), fine vs coarse captions side by side, and a small exported copy of the
 * embedded data in the two real annotation formats (Karpathy JSON and PIR's per-split JSON), so the
 * notebook can demonstrate the loaders and `npm run data -- check` without any download.
 */
import * as path from 'path';
import { spawnSync } from 'child_process';
import { RetrievalDataset, ImageRecord, SPLITS, Split } from '../../data/types';
import { AnnotatedObject, DEFAULT_EMBEDDED_DATA, EmbeddedDataConfig, GeneratedEmbeddedDataset, generateEmbeddedDataset } from '../../data/embedded/index';
import { createProgress, Progress } from '../../utils/progress';
import { exportKarpathy } from '../../data/export';
import { decodeRecordImageSync } from '../../data/loaders/index';
import { RgbImage } from '../../io/image_codecs';
import { atomicWriteJson, projectRoot } from '../../utils/fs';

/** Outline colours of object roles (key = what captions describe, distractor = semantic noise). */
export const ROLE_COLOURS: Record<AnnotatedObject['role'], [number, number, number]> = {
  key: [40, 200, 60],
  context: [250, 250, 250],
  distractor: [230, 30, 30],
};
/** Upscale factor of the box drawings (64-px images are tiny on screen). */
export const BOX_DRAW_SCALE = 3;

/**
 * Generate the embedded dataset, or reuse the cached folder; a progress bar appears only when images
 * are actually generated (the first run).
 */
export async function ensureEmbeddedData(cfg: EmbeddedDataConfig = DEFAULT_EMBEDDED_DATA): Promise<GeneratedEmbeddedDataset> {
  let bar: Progress | null = null;
  const gen = await generateEmbeddedDataset(cfg, {
    onProgress: (done, total) => {
      if (bar === null) bar = createProgress('embedded data', total);
      bar.tick();
    },
  });
  if (bar !== null) (bar as Progress).done();
  return gen;
}

/** Nearest-neighbour upscale of an RGB image by an integer factor. */
export function upscale(img: RgbImage, factor: number): RgbImage {
  if (!(Number.isInteger(factor) && factor >= 1)) throw new Error(`upscale: factor must be an integer ≥ 1, got ${factor}`);
  const W = img.width * factor;
  const H = img.height * factor;
  const data = new Uint8Array(W * H * 3);
  for (let y = 0; y < H; y++) {
    const sy = Math.floor(y / factor);
    for (let x = 0; x < W; x++) {
      const s = (sy * img.width + Math.floor(x / factor)) * 3;
      const d = (y * W + x) * 3;
      data[d] = img.data[s];
      data[d + 1] = img.data[s + 1];
      data[d + 2] = img.data[s + 2];
    }
  }
  return { width: W, height: H, data };
}

/**
 * The image (upscaled by `scale`) with each object's box outlined in its role colour
 * (`roles` selects which; default key and distractor: context objects would clutter the picture).
 */
export function drawObjectBoxes(
  img: RgbImage,
  objects: readonly AnnotatedObject[],
  opts: { scale?: number; roles?: AnnotatedObject['role'][] } = {},
): RgbImage {
  const out = upscale(img, opts.scale ?? BOX_DRAW_SCALE);
  const roles = opts.roles ?? ['key', 'distractor'];
  const W = out.width;
  const H = out.height;
  const put = (x: number, y: number, c: [number, number, number]): void => {
    if (x < 0 || y < 0 || x >= W || y >= H) return;
    out.data.set(c, (y * W + x) * 3);
  };
  for (const o of objects) {
    if (!roles.includes(o.role)) continue;
    const c = ROLE_COLOURS[o.role];
    const x0 = Math.floor(o.box[0] * W);
    const y0 = Math.floor(o.box[1] * H);
    const x1 = Math.min(W - 1, Math.ceil(o.box[2] * W));
    const y1 = Math.min(H - 1, Math.ceil(o.box[3] * H));
    for (let x = x0; x <= x1; x++) {
      put(x, y0, c);
      put(x, y1, c);
    }
    for (let y = y0; y <= y1; y++) {
      put(x0, y, c);
      put(x1, y, c);
    }
  }
  return out;
}

/** One table row per object: role, kind, colour, box, and the class a distractor was borrowed from. */
export function objectRows(objects: readonly AnnotatedObject[]): { role: string; kind: string; colour: string; box: string; from: string }[] {
  return objects.map((o) => ({
    role: o.role,
    kind: o.kind,
    colour: o.colour,
    box: `[${o.box.map((v) => v.toFixed(2)).join(', ')}]`,
    from: o.sourceClass ?? '',
  }));
}

/** Per class: images, images with distractors, the distractor kinds seen, and how often captions name a distractor kind. */
export type DistractorRow = {
  sceneClass: string;
  images: number;
  withDistractors: number;
  distractorKinds: string;
  /** Fraction of the captions of distractor images that mention a distractor's kind (word match). */
  mentionRate: number;
};

/** Distractor statistics per class (see `DistractorRow`). */
export function distractorRows(ds: RetrievalDataset, objects: Map<string, AnnotatedObject[]>): DistractorRow[] {
  return ds.classes.map((cls) => {
    const recs = ds.images.filter((r) => r.sceneClass === cls);
    let withD = 0;
    let caps = 0;
    let mentions = 0;
    const kinds = new Set<string>();
    for (const r of recs) {
      const d = (objects.get(r.fileName) ?? []).filter((o) => o.role === 'distractor');
      if (d.length === 0) continue;
      withD++;
      d.forEach((o) => kinds.add(o.kind));
      for (const c of r.captions) {
        caps++;
        const lc = c.toLowerCase();
        if (d.some((o) => lc.includes(o.kind))) mentions++;
      }
    }
    return { sceneClass: cls, images: recs.length, withDistractors: withD, distractorKinds: [...kinds].sort().join(', '), mentionRate: caps ? mentions / caps : 0 };
  });
}

/** An image ready for `showImages`: RGB bytes, size, caption. */
export interface BoxedImage {
  pixels: Uint8Array;
  width: number;
  height: number;
  caption: string;
}

/**
 * The first `count` images of a split that hold distractors, drawn with their key-object (green) and
 * distractor (red) boxes, captioned with the class and the distractor kinds.
 */
export function distractorExamples(ds: RetrievalDataset, objects: Map<string, AnnotatedObject[]>, opts: { split?: Split; count?: number } = {}): { records: ImageRecord[]; images: BoxedImage[] } {
  const split = opts.split ?? 'test';
  const records = ds.images
    .filter((r) => r.split === split && (objects.get(r.fileName) ?? []).some((o) => o.role === 'distractor'))
    .slice(0, opts.count ?? 6);
  const images = records.map((r) => {
    const objs = objects.get(r.fileName) ?? [];
    const img = drawObjectBoxes(decodeRecordImageSync(r), objs);
    const kinds = [...new Set(objs.filter((o) => o.role === 'distractor').map((o) => `${o.kind} (from ${o.sourceClass ?? '?'})`))];
    return { pixels: img.data, width: img.width, height: img.height, caption: `${r.fileName}: +${kinds.join(', ')}` };
  });
  return { records, images };
}

/** Fine captions and the coarse caption of one image, as table rows. */
export function captionRows(rec: ImageRecord): { kind: string; caption: string }[] {
  const rows = rec.captions.map((c, i) => ({ kind: `fine ${i + 1}`, caption: c }));
  if (rec.coarseCaption !== undefined) rows.push({ kind: 'coarse (stage 1)', caption: rec.coarseCaption });
  return rows;
}

/** Where `exportSmallCopy` wrote the copy. */
export interface SmallCopy {
  /** Folder with `dataset.json` (Karpathy) and `images/`. */
  karpathyDir: string;
  /** The images folder (shared by both formats). */
  imagesDir: string;
  /** PIR / X-VLM JSON files, one per split (`<name>_train.json` per caption, val/test per image). */
  pirFiles: Record<Split, string>;
  images: number;
  captions: number;
}

/** Options of `exportSmallCopy`. */
export interface SmallCopyOptions {
  /** Images kept per class and split (default 2). */
  perClassPerSplit?: number;
  /** Base name of the PIR files (default 'rsitmd', so the files look like PIR's `rsitmd_train.json`). */
  pirName?: string;
}

/**
 * A small copy of a dataset in the real formats: `perClassPerSplit` images of every class in every
 * split, as Karpathy JSON + images (`exportKarpathy`) and as PIR's three JSON files, which name the
 * images relative to the same images folder.
 */
export function exportSmallCopy(ds: RetrievalDataset, outDir: string, opts: SmallCopyOptions = {}): SmallCopy {
  const per = opts.perClassPerSplit ?? 2;
  const keep: ImageRecord[] = [];
  for (const split of SPLITS) {
    for (const cls of ds.classes) keep.push(...ds.images.filter((r) => r.split === split && r.sceneClass === cls).slice(0, per));
  }
  if (keep.length === 0) throw new Error(`exportSmallCopy: dataset '${ds.name}' has no images to export`);
  const subset: RetrievalDataset = { ...ds, images: keep };
  const karpathyDir = path.join(outDir, 'karpathy');
  const k = exportKarpathy(subset, { outDir: karpathyDir });
  const name = opts.pirName ?? 'rsitmd';
  const pirFiles = {} as Record<Split, string>;
  for (const split of SPLITS) {
    const recs = keep.filter((r) => r.split === split);
    const file = path.join(outDir, 'pir', `${name}_${split}.json`);
    const labelOf = (r: ImageRecord): Record<string, unknown> => (r.sceneClass === null ? {} : { label_name: r.sceneClass, label: ds.classes.indexOf(r.sceneClass) });
    const json =
      split === 'train'
        ? recs.flatMap((r, i) => r.captions.map((c) => ({ caption: c, image: r.fileName, image_id: i, ...labelOf(r) })))
        : recs.map((r) => ({ image: r.fileName, caption: r.captions, ...labelOf(r) }));
    atomicWriteJson(file, json);
    pirFiles[split] = file;
  }
  return { karpathyDir, imagesDir: k.imagesDir, pirFiles, images: k.images, captions: k.captions };
}

/** Output of a kit command run from a notebook. */
export interface CliRun {
  command: string;
  status: number | null;
  output: string;
}

/** A terminal progress line (`[label] 4/36 (11%) …`), dropped from captured command output. */
const PROGRESS_LINE = /^\[[^\]]+\] \d+\/\d+ \(\d+%\)/;

/** Seconds a kit command may take when run from a notebook. */
export const CLI_TIMEOUT_S = 300;

/**
 * Run `npm run <script> -- <args>` in the project root (as a user would in a terminal) and capture
 * its output (progress lines dropped); paths are shown relative to the project root.
 */
export function runKitCommand(script: string, args: readonly string[]): CliRun {
  const root = projectRoot();
  const res = spawnSync('npm', ['run', '--silent', script, '--', ...args], { cwd: root, encoding: 'utf8', timeout: CLI_TIMEOUT_S * 1000 });
  const rel = args.map((a) => (path.isAbsolute(a) ? path.relative(root, a) : a));
  const text = `${res.stdout ?? ''}${res.stderr ?? ''}`
    .split('\n')
    .filter((l) => !PROGRESS_LINE.test(l))
    .map((l) => l.split(`${root}${path.sep}`).join(''));
  return { command: `npm run ${script} -- ${rel.join(' ')}`, status: res.status, output: text.join('\n').trim() };
}
