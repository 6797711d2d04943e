/**
 * Karpathy-style JSON (`dataset_rsicd.json`, `dataset_RSITMD.json`, UCM `dataset.json`), method.md §6:
 * `{images: [{filename, filepath?, split, imgid, sentences: [{raw, tokens, ...}]}], dataset}`.
 * Only `filename`, `filepath`, `split` and `sentences[].raw` are read, as the reference does, plus two
 * optional kit fields the embedded dataset writes: `class` (scene class, overrides the file-name rule)
 * and `coarse_caption`.
 * Captions are kept exactly as written (case and misspellings included).
 */
import { readJson } from '../../utils/fs';
import { RetrievalDataset } from '../types';
import { LoadOptions, RawRecord, assembleDataset, checkCaption, isObject, parseSplit } from './common';

/** True when parsed JSON looks like a Karpathy file. */
export function isKarpathyJson(json: unknown): boolean {
  return isObject(json) && Array.isArray(json.images);
}

/** Parses an already-read Karpathy JSON value (`file` only names errors). */
export function parseKarpathy(json: unknown, file: string, opts: LoadOptions = {}): RetrievalDataset {
  if (!isKarpathyJson(json)) throw new Error(`${file}: not a Karpathy JSON file (expected an object with an "images" array)`);
  const images = (json as { images: unknown[] }).images;
  const raws: RawRecord[] = images.map((img, i) => {
    let where = `${file} images[${i}]`;
    if (!isObject(img)) throw new Error(`${where}: expected an object, got ${JSON.stringify(img)}`);
    if (typeof img.filename !== 'string' || img.filename.length === 0) throw new Error(`${where}: missing "filename"`);
    where += ` (${img.filename})`;
    const split = parseSplit(img.split, where);
    if (!Array.isArray(img.sentences)) throw new Error(`${where}: missing "sentences" array`);
    const captions = img.sentences.map((s, k) => {
      if (!isObject(s)) throw new Error(`${where} sentences[${k}]: expected an object`);
      return checkCaption(s.raw, `${where} sentences[${k}].raw`);
    });
    const fileName = typeof img.filepath === 'string' && img.filepath.length > 0 ? `${img.filepath}/${img.filename}` : img.filename;
    const rec: RawRecord = { fileName, split, captions, where };
    if (typeof img.imgid === 'number') rec.sourceId = img.imgid;
    if (typeof img.class === 'string' || img.class === null) rec.sceneClass = img.class as string | null;
    if (typeof img.coarse_caption === 'string') rec.coarseCaption = img.coarse_caption;
    return rec;
  });
  const name = opts.name ?? (isObject(json) && typeof json.dataset === 'string' ? json.dataset : undefined);
  return assembleDataset(file, 'karpathy', raws, { ...opts, name });
}

/** Loads a Karpathy JSON file. */
export function loadKarpathy(file: string, opts: LoadOptions = {}): RetrievalDataset {
  return parseKarpathy(readJson(file), file, opts);
}
