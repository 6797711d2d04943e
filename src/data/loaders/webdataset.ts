/**
 * webdataset shards (tar), the open-domain training format (RS5M layout, method.md §6). A sample is
 * the group of consecutive tar entries sharing a key (`<key>.<field>`), read by streaming with
 * `readWebdatasetSamples` (src/io/tar.ts): a shard is never held in memory whole.
 *
 * Fields understood:
 * - image bytes: `img_content` (RS5M), or `jpg`/`jpeg`/`png`/`tif`/`tiff`;
 * - captions: `caption` or `txt` (one caption, UTF-8), or `json` with `captions: string[]` /
 *   `caption: string | string[]`, optional `split`, `coarse_caption`;
 * - `img_name` (RS5M) gives the file name (for the scene class); default `<key>.<image ext>`;
 * - `coarse_caption` / `coarse.txt`: optional coarse caption (stage-1 pairs).
 * The split comes from `opts.split`, else a split word in the shard name (`rs3-train-0001.tar`), else
 * a `split` field, else `train` (shards are training data).
 */
import * as fs from 'fs';
import * as path from 'path';
import { sha256 } from '../../utils/fs';
import { readWebdatasetSamples, WebdatasetSample } from '../../io/tar';
import { RetrievalDataset, Split } from '../types';
import { LoadOptions, RawRecord, assembleDataset, checkCaption, isObject, parseSplit, splitFromName } from './common';

/** Field names that hold image bytes, in preference order. */
export const WDS_IMAGE_FIELDS = ['img_content', 'jpg', 'jpeg', 'png', 'tif', 'tiff'] as const;
/** Field names that hold one caption. */
export const WDS_CAPTION_FIELDS = ['caption', 'txt'] as const;

const utf8 = new TextDecoder('utf-8', { fatal: false });

/** Suffix of the manifest `data export --to webdataset` writes beside its shards. */
export const MANIFEST_SUFFIX = '-manifest.json';

/** The shard files a manifest lists (each must exist in `dir`). */
function manifestShards(dir: string, manifest: string): string[] {
  const file = path.join(dir, manifest);
  let m: unknown;
  try {
    m = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`${file}: not a readable manifest: ${(e as Error).message}`);
  }
  const shards = isObject(m) && Array.isArray(m.shards) ? m.shards : null;
  if (shards === null || shards.length === 0) throw new Error(`${file}: manifest lists no shards (expected "shards": [{"file": …}, …])`);
  return shards.map((s: unknown, k: number) => {
    const name = isObject(s) && typeof s.file === 'string' ? s.file : null;
    if (name === null || name.includes('/') || name.includes('\\') || !name.endsWith('.tar')) throw new Error(`${file}: shards[${k}] must be {"file": "<name>.tar"} in this folder`);
    const p = path.join(dir, name);
    if (!fs.existsSync(p)) throw new Error(`${file}: shard ${name} listed in the manifest is missing`);
    return p;
  });
}

/**
 * Shard files of a path: a `.tar` file; in a folder with a `*-manifest.json` (written by the kit's
 * export), exactly the shards it lists; else every `.tar` in the folder (sorted).
 */
export function listShards(fileOrDir: string): string[] {
  let st: fs.Stats;
  try {
    st = fs.statSync(fileOrDir);
  } catch {
    throw new Error(`${fileOrDir}: no such shard file or folder`);
  }
  if (st.isFile()) return [fileOrDir];
  const manifests = fs.readdirSync(fileOrDir).filter((f) => f.endsWith(MANIFEST_SUFFIX)).sort();
  if (manifests.length > 1) throw new Error(`${fileOrDir}: ${manifests.length} manifests (${manifests.join(', ')}): one export per folder`);
  if (manifests.length === 1) return manifestShards(fileOrDir, manifests[0]);
  const shards = fs.readdirSync(fileOrDir).filter((f) => f.endsWith('.tar')).sort().map((f) => path.join(fileOrDir, f));
  if (shards.length === 0) throw new Error(`${fileOrDir}: folder holds no .tar shards`);
  return shards;
}

/** A decoded sample: record fields plus its image bytes. */
export interface WdsRecord {
  raw: RawRecord;
  imageBytes: Uint8Array;
}

/** Interprets one webdataset sample (errors name the shard and key). */
export function interpretSample(sample: WebdatasetSample, shard: string, defaultSplit: Split | null): WdsRecord {
  const where = `${shard} sample "${sample.key}"`;
  let imageField: string | undefined;
  for (const f of WDS_IMAGE_FIELDS) if (sample.fields.has(f)) { imageField = f; break; }
  if (imageField === undefined) {
    throw new Error(`${where}: no image field (expected one of ${WDS_IMAGE_FIELDS.join(', ')}; has ${[...sample.fields.keys()].join(', ') || 'nothing'})`);
  }
  const imageBytes = sample.fields.get(imageField) as Uint8Array;
  if (imageBytes.length === 0) throw new Error(`${where}: empty image field "${imageField}"`);
  const captions: string[] = [];
  let split: Split | null = defaultSplit;
  let coarse: string | undefined;
  for (const f of WDS_CAPTION_FIELDS) {
    const b = sample.fields.get(f);
    if (b !== undefined) { captions.push(checkCaption(utf8.decode(b).trim(), `${where} field "${f}"`)); break; }
  }
  const jsonBytes = sample.fields.get('json');
  if (jsonBytes !== undefined) {
    let meta: unknown;
    try {
      meta = JSON.parse(utf8.decode(jsonBytes));
    } catch (e) {
      throw new Error(`${where}: field "json" is not valid JSON: ${(e as Error).message}`);
    }
    if (!isObject(meta)) throw new Error(`${where}: field "json" must be an object`);
    if (Array.isArray(meta.captions)) captions.length = 0; // a json caption list is the whole record (the kit's coarse export)
    if (captions.length === 0) {
      const c = meta.captions ?? meta.caption;
      if (Array.isArray(c)) c.forEach((x, k) => captions.push(checkCaption(x, `${where} json caption[${k}]`)));
      else if (c !== undefined) captions.push(checkCaption(c, `${where} json caption`));
    }
    if (split === null && meta.split !== undefined) split = parseSplit(meta.split, `${where} json.split`);
    if (typeof meta.coarse_caption === 'string') coarse = meta.coarse_caption;
  }
  const coarseBytes = sample.fields.get('coarse_caption') ?? sample.fields.get('coarse.txt');
  if (coarseBytes !== undefined) coarse = utf8.decode(coarseBytes).trim();
  if (captions.length === 0) throw new Error(`${where}: no caption (expected a "caption", "txt" or "json" field)`);
  const nameBytes = sample.fields.get('img_name');
  const ext = imageField === 'img_content' ? 'jpg' : imageField;
  const fileName = nameBytes !== undefined ? utf8.decode(nameBytes).trim() : `${path.basename(sample.key)}.${ext}`;
  const raw: RawRecord = { fileName, split: split ?? 'train', captions, where, path: `${shard}#${sample.key}` };
  if (coarse !== undefined) raw.coarseCaption = coarse;
  return { raw, imageBytes };
}

/**
 * Streams the samples of shards one at a time (for training on data larger than memory).
 * Every shard must hold at least one sample.
 */
export async function* streamWebdataset(fileOrDir: string | string[], opts: { split?: Split } = {}): AsyncGenerator<WdsRecord> {
  const shards = Array.isArray(fileOrDir) ? fileOrDir : listShards(fileOrDir);
  for (const shard of shards) {
    const split = opts.split ?? splitFromName(shard);
    let n = 0;
    for await (const s of readWebdatasetSamples(shard)) {
      n++;
      yield interpretSample(s, shard, split);
    }
    if (n === 0) throw new Error(`${shard}: shard holds no samples`);
  }
}

/** Options of `loadWebdataset`. */
export interface WebdatasetLoadOptions extends LoadOptions {
  /**
   * Keep sample image bytes on the records (`rec.bytes`): true, false, or a byte budget (default
   * `DEFAULT_KEEP_IMAGE_BYTES`: samples are kept until the budget is spent; later records are re-read
   * from their shard by key when needed).
   */
  keepImageBytes?: boolean | number;
}

/** Default budget of image bytes `loadWebdataset` keeps in memory (256 MiB). */
export const DEFAULT_KEEP_IMAGE_BYTES = 256 * 1024 * 1024;

/**
 * Indexes shards into a RetrievalDataset (one streaming pass). Image bytes are kept up to a budget
 * (`keepImageBytes`); beyond it only captions and names stay in memory and images are re-read by key
 * (`readRecordImageBytes`).
 */
export async function loadWebdataset(fileOrDir: string | string[], opts: WebdatasetLoadOptions = {}): Promise<RetrievalDataset> {
  const shards = Array.isArray(fileOrDir) ? fileOrDir : listShards(fileOrDir);
  const k = opts.keepImageBytes ?? DEFAULT_KEEP_IMAGE_BYTES;
  let budget = k === true ? Infinity : k === false ? 0 : k;
  const raws: RawRecord[] = [];
  // One sample per (image, caption) pair (the RS5M `pairs` layout): samples naming the same image
  // with the same bytes and split are one image with several captions.
  const byName = new Map<string, { index: number; sha: string }>();
  for await (const r of streamWebdataset(shards, { split: opts.split })) {
    const sha = sha256(r.imageBytes);
    const prev = byName.get(r.raw.fileName);
    if (prev !== undefined && prev.sha === sha && raws[prev.index].split === r.raw.split) {
      raws[prev.index].captions.push(...r.raw.captions);
      continue;
    }
    if (prev === undefined) byName.set(r.raw.fileName, { index: raws.length, sha });
    if (r.imageBytes.length <= budget) {
      r.raw.bytes = r.imageBytes;
      budget -= r.imageBytes.length;
    }
    raws.push(r.raw);
  }
  const first = shards[0];
  const name = opts.name ?? path.basename(Array.isArray(fileOrDir) ? path.dirname(first) : fileOrDir).replace(/\.tar$/, '');
  return assembleDataset(first, 'webdataset', raws, { imagesRoot: path.dirname(first), ...opts, name });
}

/** Reads the image bytes of a `<shard>#<key>` path by streaming the shard until the key. */
export async function readShardImage(shardAndKey: string): Promise<Uint8Array> {
  const hash = shardAndKey.lastIndexOf('#');
  if (hash < 0) throw new Error(`${shardAndKey}: not a "<shard>#<key>" path`);
  const shard = shardAndKey.slice(0, hash);
  const key = shardAndKey.slice(hash + 1);
  for await (const s of readWebdatasetSamples(shard)) {
    if (s.key === key) return interpretSample(s, shard, null).imageBytes;
  }
  throw new Error(`${shard}: no sample with key "${key}"`);
}
