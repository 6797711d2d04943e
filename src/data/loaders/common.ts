/**
 * Shared helpers of the annotation loaders: split names, record validation, dataset assembly.
 * Every error names the annotation file, the record (index / image name) and what was expected.
 */
import * as path from 'path';
import { CAPTIONS_PER_IMAGE, ImageRecord, RetrievalDataset, Split, SPLITS, collectClasses, sceneClassFromFileName } from '../types';

/** Options every loader accepts. */
export interface LoadOptions {
  /** Folder image names are resolved against (default: the annotation file's folder). */
  imagesRoot?: string;
  /** Split for files that hold one split but whose name does not say which (PIR JSON, precomp). */
  split?: Split;
  /**
   * Captions each val/test image must have (the retrieval protocol needs exactly 5, method.md §5);
   * `null` disables the check. Train images need ≥ 1 caption.
   */
  captionsPerEvalImage?: number | null;
  /** Dataset name (default: the annotation file's base name without extension). */
  name?: string;
}

/** Split aliases seen in public annotation files (`restval` is Karpathy's extra train split). */
const SPLIT_ALIASES: Record<string, Split> = { train: 'train', restval: 'train', val: 'val', valid: 'val', validation: 'val', test: 'test' };

/** Normalises a split name; throws naming `where` for anything else. */
export function parseSplit(value: unknown, where: string): Split {
  if (typeof value === 'string') {
    const s = SPLIT_ALIASES[value.toLowerCase()];
    if (s !== undefined) return s;
  }
  throw new Error(`${where}: unknown split ${JSON.stringify(value)} (expected one of ${SPLITS.join(', ')}; 'restval' counts as train)`);
}

/** Finds a split word among the `_`/`-`/`.`/`/`-separated parts of a name (null when none). */
export function splitFromName(name: string): Split | null {
  const parts = path.basename(name).toLowerCase().split(/[_\-./]/);
  for (const p of parts) {
    const s = SPLIT_ALIASES[p];
    if (s !== undefined) return s;
  }
  return null;
}

/** Checks that a caption is a non-empty string. */
export function checkCaption(value: unknown, where: string): string {
  if (typeof value !== 'string') throw new Error(`${where}: caption must be a string, got ${JSON.stringify(value)}`);
  if (value.trim().length === 0) throw new Error(`${where}: empty caption`);
  return value;
}

/** A record before ids are assigned. */
export interface RawRecord {
  fileName: string;
  split: Split;
  captions: string[];
  /** Where the record came from, for error messages (`file record 12 (airport_1.jpg)`). */
  where: string;
  sourceId?: number;
  coarseCaption?: string;
  /** Explicit scene class (an annotation's own `class` field); default: from the file name. */
  sceneClass?: string | null;
  /** Path override (webdataset `<shard>#<key>`); default imagesRoot/fileName. */
  path?: string;
  bytes?: Uint8Array;
}

/**
 * An image name in one canonical form, so that `./00003.jpg`, `00003.jpg` and `a//b/../00003.jpg`
 * name one image: POSIX-normalised, no leading `./`. Empty names are refused.
 */
export function normalizeImageName(name: string, where: string): string {
  const n = path.posix.normalize(name.trim()).replace(/^(\.\/)+/, '');
  if (n === '' || n === '.') throw new Error(`${where}: empty image file name`);
  return n;
}

/**
 * Validates raw records and assembles the dataset: no duplicate image names, every image has
 * captions, val/test images have exactly `captionsPerEvalImage` captions. Ids are positions.
 */
export function assembleDataset(file: string, format: string, raws: RawRecord[], opts: LoadOptions): RetrievalDataset {
  const imagesRoot = path.resolve(opts.imagesRoot ?? path.dirname(file));
  const need = opts.captionsPerEvalImage === undefined ? CAPTIONS_PER_IMAGE : opts.captionsPerEvalImage;
  const seen = new Map<string, string>();
  const images: ImageRecord[] = [];
  for (const r of raws) {
    r.fileName = normalizeImageName(r.fileName, r.where);
    const prev = seen.get(r.fileName);
    if (prev !== undefined) throw new Error(`${r.where}: duplicate image name "${r.fileName}" (already at ${prev})`);
    seen.set(r.fileName, r.where);
    if (r.captions.length === 0) throw new Error(`${r.where}: image "${r.fileName}" has no captions`);
    if (need !== null && r.split !== 'train' && r.captions.length !== need) {
      throw new Error(`${r.where}: ${r.split} image "${r.fileName}" has ${r.captions.length} captions; the retrieval protocol needs exactly ${need}`);
    }
    const rec: ImageRecord = {
      imageId: images.length,
      fileName: r.fileName,
      path: r.path ?? path.join(imagesRoot, r.fileName),
      split: r.split,
      captions: r.captions,
      sceneClass: r.sceneClass !== undefined ? r.sceneClass : sceneClassFromFileName(r.fileName),
    };
    if (r.sourceId !== undefined) rec.sourceId = r.sourceId;
    if (r.coarseCaption !== undefined) rec.coarseCaption = r.coarseCaption;
    if (r.bytes !== undefined) rec.bytes = r.bytes;
    images.push(rec);
  }
  if (images.length === 0) throw new Error(`${file}: no image records`);
  const name = opts.name ?? path.basename(file).replace(/\.[^.]*$/, '');
  return { name, format, imagesRoot, images, classes: collectClasses(images) };
}

/** Merges datasets loaded from several files (one per split) into one; ids are re-assigned. */
export function mergeDatasets(name: string, parts: RetrievalDataset[]): RetrievalDataset {
  if (parts.length === 0) throw new Error(`mergeDatasets(${name}): nothing to merge`);
  const seen = new Map<string, string>();
  const images: ImageRecord[] = [];
  for (const ds of parts) {
    for (const r of ds.images) {
      const prev = seen.get(r.fileName);
      if (prev !== undefined) throw new Error(`${ds.name}: image "${r.fileName}" (${r.split}) also appears in ${prev}`);
      seen.set(r.fileName, `${ds.name} (${r.split})`);
      images.push({ ...r, imageId: images.length });
    }
  }
  const formats = [...new Set(parts.map((p) => p.format))];
  return { name, format: formats.join('+'), imagesRoot: parts[0].imagesRoot, images, classes: collectClasses(images) };
}

/** Narrowing helper for parsed JSON. */
export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
