/**
 * Format detection and one entry point for every annotation format:
 * `loadDataset(file, opts)` → RetrievalDataset.
 *
 * Detection: a folder with `dataset.json` (+ `images/`) → that Karpathy file; `.tar` file or folder of
 * `.tar` → webdataset; `*_caps.txt` / `*_filename.txt` (or a
 * prefix with both) → precomp; `.json` → Karpathy (object with `images`) or PIR/X-VLM (list of
 * records with `image` and `caption`).
 */
import * as fs from 'fs';
import * as path from 'path';
import { readJson } from '../../utils/fs';
import { readImageFile, decodeImage, RgbImage } from '../../io/image_codecs';
import { ImageRecord, RetrievalDataset } from '../types';
import { LoadOptions } from './common';
import { isKarpathyJson, parseKarpathy } from './karpathy';
import { isPirJson, parsePirJson } from './pir_json';
import { isPrecompPath, loadPrecomp, precompFiles } from './precomp';
import { loadWebdataset, readShardImage, WebdatasetLoadOptions } from './webdataset';

export { LoadOptions, parseSplit, splitFromName, mergeDatasets } from './common';
export { loadKarpathy, parseKarpathy } from './karpathy';
export { loadPirJson, parsePirJson, loadPirJsonSplits } from './pir_json';
export { loadPrecomp, precompLayout, PrecompLayout } from './precomp';
export { loadWebdataset, streamWebdataset, listShards, readShardImage, WdsRecord } from './webdataset';

/** Annotation file name a dataset folder may hold (the embedded dataset and Karpathy exports write it). */
export const FOLDER_ANNOTATION = 'dataset.json';

/**
 * Resolves a dataset folder (`<dir>/dataset.json` + `<dir>/images/`) to its annotation file and images
 * root; other paths are returned unchanged.
 */
export function resolveDatasetPath(file: string, imagesRoot?: string): { file: string; imagesRoot?: string } {
  let st: fs.Stats | null = null;
  try { st = fs.statSync(file); } catch { st = null; }
  if (st === null || !st.isDirectory()) return { file, imagesRoot };
  const ann = path.join(file, FOLDER_ANNOTATION);
  if (!fs.existsSync(ann) || fs.readdirSync(file).some((f) => f.endsWith('.tar'))) return { file, imagesRoot };
  const images = path.join(file, 'images');
  return { file: ann, imagesRoot: imagesRoot ?? (fs.existsSync(images) ? images : file) };
}

/** Formats `detectFormat` can return. */
export type DetectedFormat = 'karpathy' | 'pir-json' | 'precomp' | 'webdataset';

/** Detects the annotation format of a path (reads JSON files to look at their shape). */
export function detectFormat(input: string): DetectedFormat {
  const file = resolveDatasetPath(input).file;
  if (file.endsWith('.tar')) return 'webdataset';
  if (isPrecompPath(file)) return 'precomp';
  let st: fs.Stats | null = null;
  try { st = fs.statSync(file); } catch { st = null; }
  if (st === null) {
    const pf = precompFiles(file);
    if (fs.existsSync(pf.caps) && fs.existsSync(pf.names)) return 'precomp';
    throw new Error(`${file}: no such file`);
  }
  if (st.isDirectory()) {
    if (fs.readdirSync(file).some((f) => f.endsWith('.tar'))) return 'webdataset';
    throw new Error(`${file}: a folder without .tar shards or ${FOLDER_ANNOTATION}; give an annotation file`);
  }
  if (file.endsWith('.json')) {
    const json = readJson(file);
    if (isKarpathyJson(json)) return 'karpathy';
    if (isPirJson(json)) return 'pir-json';
    throw new Error(`${file}: JSON is neither Karpathy ({images: [...]}) nor PIR/X-VLM ([{image, caption}, ...])`);
  }
  throw new Error(`${file}: unknown annotation format (expected .json, *_caps.txt/*_filename.txt or .tar shards)`);
}

/** Loads any supported annotation file (format detected unless `opts.format` is given). */
export async function loadDataset(input: string, options: WebdatasetLoadOptions & { format?: DetectedFormat } = {}): Promise<RetrievalDataset> {
  const { file, imagesRoot } = resolveDatasetPath(input, options.imagesRoot);
  const opts = { ...options, imagesRoot };
  const format = opts.format ?? detectFormat(file);
  switch (format) {
    case 'karpathy':
      return parseKarpathy(readJson(file), file, opts);
    case 'pir-json':
      return parsePirJson(readJson(file), file, opts);
    case 'precomp':
      return loadPrecomp(file, opts);
    case 'webdataset':
      return loadWebdataset(file, opts);
    default:
      throw new Error(`${file}: unsupported format ${String(format)}`);
  }
}

/** Synchronous loader for the file formats (not webdataset). */
export function loadDatasetSync(input: string, options: LoadOptions & { format?: DetectedFormat } = {}): RetrievalDataset {
  const { file, imagesRoot } = resolveDatasetPath(input, options.imagesRoot);
  const opts = { ...options, imagesRoot };
  const format = opts.format ?? detectFormat(file);
  if (format === 'karpathy') return parseKarpathy(readJson(file), file, opts);
  if (format === 'pir-json') return parsePirJson(readJson(file), file, opts);
  if (format === 'precomp') return loadPrecomp(file, opts);
  throw new Error(`${file}: webdataset shards load asynchronously: use loadDataset`);
}

/** Where a record's image failed, in error messages. */
function recordLabel(rec: ImageRecord): string {
  return `image ${rec.imageId} "${rec.fileName}" (${rec.split})`;
}

/** Encoded bytes of a record's image: in-memory bytes, a shard entry, or the file. */
export async function readRecordImageBytes(rec: ImageRecord): Promise<Uint8Array> {
  if (rec.bytes !== undefined) return rec.bytes;
  if (/\.tar#/.test(rec.path)) return readShardImage(rec.path);
  try {
    return fs.readFileSync(rec.path);
  } catch (e) {
    throw new Error(`${rec.path}: cannot read ${recordLabel(rec)}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing file' : (e as Error).message}`);
  }
}

/** Decoded RGB of a record's image; errors name the file and the record. */
export function decodeRecordImageSync(rec: ImageRecord): RgbImage {
  if (rec.bytes !== undefined) return decodeImage(rec.bytes, `${rec.path} [${recordLabel(rec)}]`);
  if (!fs.existsSync(rec.path)) throw new Error(`${rec.path}: missing image file for ${recordLabel(rec)}`);
  try {
    return readImageFile(rec.path);
  } catch (e) {
    throw new Error(`${(e as Error).message} [${recordLabel(rec)}]`);
  }
}

/** Async variant that also reads webdataset shard entries. */
export async function decodeRecordImage(rec: ImageRecord): Promise<RgbImage> {
  if (rec.bytes !== undefined || !/\.tar#/.test(rec.path)) return decodeRecordImageSync(rec);
  return decodeImage(await readRecordImageBytes(rec), `${rec.path} [${recordLabel(rec)}]`);
}
