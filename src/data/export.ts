/**
 * Export a `RetrievalDataset` (the embedded benchmark or any loaded one) to the formats the
 * reference code reads (method.md §6):
 *
 * - Karpathy JSON + image folder (`dataset.json`, `images/…`), as the open-domain `retrieval.py`
 *   and the kit's Karpathy loader read it;
 * - webdataset `.tar` shards in the RS5M layout: per sample `<key>.img_content` (image bytes),
 *   `<key>.caption` (UTF-8) and `<key>.img_name` (the image file name, whose prefix before '_' is
 *   the class for `add_index`). Either one sample per image–caption pair (`pairs`, stage 2 style)
 *   or one sample per image with its coarse caption (`coarse`, stage 1 / RS5M style).
 *
 * All files are written atomically, with deterministic bytes (same dataset ⇒ same shards). An export
 * is written into a temporary folder beside `outDir` and renamed to it at the end, so a failed export
 * leaves nothing that looks complete; an existing non-empty `outDir` is refused unless `replace`
 * (then the old folder is swapped out and deleted only after the new one is complete). The
 * webdataset manifest lists the shards; the loader reads exactly those.
 */
import * as fs from 'fs';
import * as path from 'path';
import { atomicWriteFile, atomicWriteJson, sha256 } from '../utils/fs';
import { SeedStream } from '../utils/random';
import { writeTarFile, TarEntry } from '../io/tar';
import { ImageRecord, RetrievalDataset, SPLITS, Split } from './types';
import { captionTokens } from './embedded/vocabulary';

const encoder = new TextEncoder();

/** Default samples per webdataset shard. */
export const DEFAULT_SAMPLES_PER_SHARD = 1000;

/**
 * Runs `write(tmpDir)` into a fresh temporary folder beside `outDir`, then renames it to `outDir`.
 * A non-empty `outDir` is refused unless `replace`, and even then when it holds a file that is not
 * `ownFile` (an earlier export's), so that replacing never deletes anything else. On error the
 * temporary folder is removed.
 */
export function writeFolderAtomically<T>(outDir: string, replace: boolean, what: string, write: (dir: string) => T, ownFile: (name: string) => boolean = () => true): T {
  const target = path.resolve(outDir);
  if (fs.existsSync(target)) {
    if (!fs.statSync(target).isDirectory()) throw new Error(`${what}: --out ${target} is a file, not a folder`);
    const present = fs.readdirSync(target);
    if (present.length > 0 && !replace) {
      throw new Error(`${what}: ${target} is not empty: choose a new folder, or pass --replace (replace: true) to replace its contents`);
    }
    const foreign = present.filter((f) => !ownFile(f));
    if (foreign.length > 0) {
      throw new Error(`${what}: not replacing ${target}: it holds files an export does not write (${foreign.slice(0, 5).join(', ')}${foreign.length > 5 ? ', …' : ''}); choose a new folder`);
    }
  }
  fs.mkdirSync(path.dirname(target), { recursive: true });
  const tmp = fs.mkdtempSync(`${target}.partial-`);
  let result: T;
  try {
    result = write(tmp);
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  let old: string | null = null;
  if (fs.existsSync(target)) {
    old = `${target}.old-${process.pid}-${Date.now()}`;
    fs.renameSync(target, old);
  }
  fs.renameSync(tmp, target);
  if (old !== null) fs.rmSync(old, { recursive: true, force: true });
  return result;
}

/** Rewrites paths under `from` to the same paths under `to` (results are reported at the final folder). */
function moved(file: string, from: string, to: string): string {
  return path.join(to, path.relative(from, file));
}

/** Image bytes of a record: its in-memory bytes, else the file at `path`. */
export function recordImageBytes(rec: ImageRecord): Uint8Array {
  if (rec.bytes) return rec.bytes;
  if (rec.path.includes('#') && !fs.existsSync(rec.path)) {
    throw new Error(`image ${rec.imageId} (${rec.fileName}): path "${rec.path}" points into a shard and the record holds no bytes`);
  }
  try {
    return fs.readFileSync(rec.path);
  } catch (e) {
    throw new Error(`image ${rec.imageId} (${rec.fileName}): cannot read ${rec.path}: ${(e as Error).message}`);
  }
}

function selectRecords(ds: RetrievalDataset, splits: readonly Split[] | undefined): ImageRecord[] {
  const keep = new Set<Split>(splits ?? SPLITS);
  return ds.images.filter((r) => keep.has(r.split));
}

/** Options of `exportKarpathy`. */
export interface KarpathyExportOptions {
  /** Output folder (gets `dataset.json` and `images/`). */
  outDir: string;
  /** Splits to export (default all). */
  splits?: Split[];
  /** Copy image files into `outDir/images` (default true). */
  copyImages?: boolean;
  /** The `dataset` field (default the dataset's name). */
  datasetName?: string;
  /** Replace a non-empty `outDir` (default false: refused). */
  replace?: boolean;
}

/** Result of `exportKarpathy`. */
export interface KarpathyExportResult {
  annotationFile: string;
  imagesDir: string;
  images: number;
  captions: number;
}

/**
 * Write Karpathy JSON (`{images:[{filename, imgid, split, sentences:[{raw, tokens, imgid, sentid}],
 * sentids, class?, coarse_caption?}], dataset}`) and copy the images under their `fileName`.
 */
export function exportKarpathy(ds: RetrievalDataset, opts: KarpathyExportOptions): KarpathyExportResult {
  const final = path.resolve(opts.outDir);
  return writeFolderAtomically(final, opts.replace ?? false, 'exportKarpathy', (dir) => {
    const r = writeKarpathy(ds, { ...opts, outDir: dir });
    return { ...r, annotationFile: moved(r.annotationFile, dir, final), imagesDir: moved(r.imagesDir, dir, final) };
  }, (f) => f === 'dataset.json' || f === 'images');
}

function writeKarpathy(ds: RetrievalDataset, opts: KarpathyExportOptions): KarpathyExportResult {
  const recs = selectRecords(ds, opts.splits);
  const imagesDir = path.join(opts.outDir, 'images');
  let sentid = 0;
  const images = recs.map((rec, imgid) => {
    const sentences = rec.captions.map((raw) => ({ raw, tokens: captionTokens(raw), imgid, sentid: sentid++ }));
    const out: Record<string, unknown> = {
      filename: rec.fileName,
      imgid,
      split: rec.split,
      sentences,
      sentids: sentences.map((s) => s.sentid),
    };
    if (rec.sceneClass !== null) out.class = rec.sceneClass;
    if (rec.coarseCaption !== undefined) out.coarse_caption = rec.coarseCaption;
    if (opts.copyImages ?? true) {
      const target = path.join(imagesDir, rec.fileName);
      if (path.relative(imagesDir, target).startsWith('..')) {
        throw new Error(`exportKarpathy: image ${rec.imageId} file name "${rec.fileName}" escapes the images folder`);
      }
      atomicWriteFile(target, recordImageBytes(rec));
    }
    return out;
  });
  const annotationFile = path.join(opts.outDir, 'dataset.json');
  atomicWriteJson(annotationFile, { images, dataset: opts.datasetName ?? ds.name });
  return { annotationFile, imagesDir, images: images.length, captions: sentid };
}

/** What one webdataset sample holds. */
export type WebdatasetExportMode =
  /** One sample per (image, fine caption) pair. */
  | 'pairs'
  /** One sample per image with its coarse caption (RS5M-like stage-1 data). */
  | 'coarse';

/** Options of `exportWebdataset`. */
export interface WebdatasetExportOptions {
  outDir: string;
  /** Shard name prefix (default the dataset name): shards are `<prefix>-<split>-<NNNN>.tar`. */
  prefix?: string;
  mode: WebdatasetExportMode;
  /** Samples per shard (the last shard of a split may hold fewer). */
  samplesPerShard: number;
  /** Splits to export (default all that have images). */
  splits?: Split[];
  /** Shuffle samples within a split with this seed (default: dataset order). */
  shuffleSeed?: number;
  /** In `coarse` mode, for records without a coarse caption: throw (default) or use the first fine caption. */
  coarseFallback?: 'error' | 'first-caption';
  /** Replace a non-empty `outDir` (default false: refused). */
  replace?: boolean;
}

/** One written shard. */
export interface ShardInfo {
  file: string;
  split: Split;
  samples: number;
  sha256: string;
}

/** Result of `exportWebdataset`; also written to `<outDir>/<prefix>-manifest.json`. */
export interface WebdatasetExportResult {
  mode: WebdatasetExportMode;
  shards: ShardInfo[];
  manifestFile: string;
}

/** Field extensions of a sample (RS5M layout). */
export const WEBDATASET_FIELDS = { image: 'img_content', caption: 'caption', imageName: 'img_name' } as const;

interface PendingSample {
  key: string;
  rec: ImageRecord;
  caption: string;
  /** `coarse` mode: the image's fine captions, written as `<key>.json` so that the kit reads the image back whole. */
  meta?: { captions: string[]; coarse_caption: string };
}

/** webdataset key of a sample: the file stem made dot-free, plus image id and caption index. */
function sampleKey(rec: ImageRecord, captionIndex: number | null): string {
  const base = rec.fileName.split(/[\\/]/).pop() ?? rec.fileName;
  const stem = base.replace(/\.[^.]*$/, '').replace(/[^A-Za-z0-9_-]/g, '-');
  return captionIndex === null ? `${stem}-${rec.imageId}` : `${stem}-${rec.imageId}-c${captionIndex}`;
}

/**
 * Write webdataset shards, split by split. Within a shard, samples keep their order and each
 * sample's entries are `<key>.img_content`, `<key>.caption`, `<key>.img_name`.
 */
export function exportWebdataset(ds: RetrievalDataset, opts: WebdatasetExportOptions): WebdatasetExportResult {
  if (!Number.isInteger(opts.samplesPerShard) || opts.samplesPerShard < 1) {
    throw new Error(`exportWebdataset: samplesPerShard must be a positive integer, got ${opts.samplesPerShard}`);
  }
  const final = path.resolve(opts.outDir);
  return writeFolderAtomically(final, opts.replace ?? false, 'exportWebdataset', (dir) => {
    const r = writeWebdataset(ds, { ...opts, outDir: dir });
    return { ...r, manifestFile: moved(r.manifestFile, dir, final), shards: r.shards.map((s) => ({ ...s, file: moved(s.file, dir, final) })) };
  }, (f) => f.endsWith('.tar') || f.endsWith('-manifest.json'));
}

function writeWebdataset(ds: RetrievalDataset, opts: WebdatasetExportOptions): WebdatasetExportResult {
  if (!Number.isInteger(opts.samplesPerShard) || opts.samplesPerShard < 1) {
    throw new Error(`exportWebdataset: samplesPerShard must be a positive integer, got ${opts.samplesPerShard}`);
  }
  const prefix = opts.prefix ?? ds.name;
  if (!/^[A-Za-z0-9._-]+$/.test(prefix)) throw new Error(`exportWebdataset: prefix "${prefix}" must use letters, digits, '.', '_' or '-'`);
  const shards: ShardInfo[] = [];
  for (const split of opts.splits ?? SPLITS) {
    const recs = ds.images.filter((r) => r.split === split);
    if (recs.length === 0) continue;
    const samples: PendingSample[] = [];
    for (const rec of recs) {
      if (opts.mode === 'pairs') {
        rec.captions.forEach((caption, k) => samples.push({ key: sampleKey(rec, k), rec, caption }));
      } else {
        let caption = rec.coarseCaption;
        if (caption === undefined) {
          if ((opts.coarseFallback ?? 'error') === 'error' || rec.captions.length === 0) {
            throw new Error(`exportWebdataset: image ${rec.imageId} (${rec.fileName}) has no coarse caption (mode 'coarse')`);
          }
          caption = rec.captions[0];
        }
        samples.push({ key: sampleKey(rec, null), rec, caption, meta: { captions: rec.captions, coarse_caption: caption } });
      }
    }
    if (opts.shuffleSeed !== undefined) new SeedStream(opts.shuffleSeed).child(`webdataset/${split}`).shuffle(samples);
    const bytesCache = new Map<number, Uint8Array>();
    for (let s = 0, shardIndex = 0; s < samples.length; s += opts.samplesPerShard, shardIndex++) {
      const chunk = samples.slice(s, s + opts.samplesPerShard);
      const entries: TarEntry[] = [];
      for (const smp of chunk) {
        let bytes = bytesCache.get(smp.rec.imageId);
        if (!bytes) {
          bytes = recordImageBytes(smp.rec);
          bytesCache.clear(); // pairs of one image are adjacent unless shuffled: keep one image cached
          bytesCache.set(smp.rec.imageId, bytes);
        }
        const imgName = smp.rec.fileName.split(/[\\/]/).pop() ?? smp.rec.fileName;
        entries.push(
          { name: `${smp.key}.${WEBDATASET_FIELDS.image}`, data: bytes },
          { name: `${smp.key}.${WEBDATASET_FIELDS.caption}`, data: encoder.encode(smp.caption) },
          { name: `${smp.key}.${WEBDATASET_FIELDS.imageName}`, data: encoder.encode(imgName) },
        );
        if (smp.meta !== undefined) entries.push({ name: `${smp.key}.json`, data: encoder.encode(JSON.stringify(smp.meta)) });
      }
      const file = path.join(opts.outDir, `${prefix}-${split}-${String(shardIndex).padStart(4, '0')}.tar`);
      writeTarFile(file, entries);
      shards.push({ file, split, samples: chunk.length, sha256: sha256(fs.readFileSync(file)) });
    }
  }
  const manifestFile = path.join(opts.outDir, `${prefix}-manifest.json`);
  atomicWriteJson(manifestFile, {
    dataset: ds.name,
    mode: opts.mode,
    samplesPerShard: opts.samplesPerShard,
    fields: WEBDATASET_FIELDS,
    shards: shards.map((s) => ({ file: path.basename(s.file), split: s.split, samples: s.samples, sha256: s.sha256 })),
  });
  return { mode: opts.mode, shards, manifestFile };
}
