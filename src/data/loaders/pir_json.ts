/**
 * PIR / X-VLM JSON (method.md §6), one file per split:
 * - train: a list of per-caption records `{caption, image, image_id, label_name?, label?}`; records of
 *   one image are grouped (in order of first appearance) into one ImageRecord;
 * - val/test: a list of per-image records `{image, caption: [5 strings], label_name?, label?}`.
 * The split comes from `opts.split`, else the file name (`rsitmd_train.json`), else the image path
 * prefix (`train/bridge_942.tif`). Scene classes come from the file name (`sceneClassFromFileName`).
 */
import * as path from 'path';
import { readJson } from '../../utils/fs';
import { RetrievalDataset, Split } from '../types';
import { LoadOptions, RawRecord, assembleDataset, checkCaption, isObject, mergeDatasets, splitFromName } from './common';

/** True when parsed JSON looks like a PIR/X-VLM file (a list of objects with `image` and `caption`). */
export function isPirJson(json: unknown): boolean {
  return Array.isArray(json) && json.length > 0 && isObject(json[0]) && 'image' in json[0] && 'caption' in json[0];
}

/** Parses an already-read PIR JSON value. */
export function parsePirJson(json: unknown, file: string, opts: LoadOptions = {}): RetrievalDataset {
  if (!Array.isArray(json)) throw new Error(`${file}: not a PIR/X-VLM JSON file (expected a list of records)`);
  if (json.length === 0) throw new Error(`${file}: no records`);
  const first = json[0];
  let split: Split | null = opts.split ?? splitFromName(file);
  if (split === null && isObject(first) && typeof first.image === 'string' && first.image.includes('/')) {
    split = splitFromName(first.image.split('/')[0]);
  }
  if (split === null) throw new Error(`${file}: cannot tell the split from the file name or image paths; pass split ('train'|'val'|'test')`);
  const perCaption = isObject(first) && typeof first.caption === 'string';
  const raws: RawRecord[] = [];
  if (perCaption) {
    const byImage = new Map<string, RawRecord>();
    json.forEach((r, i) => {
      let where = `${file} record ${i}`;
      if (!isObject(r)) throw new Error(`${where}: expected an object`);
      if (typeof r.image !== 'string' || r.image.length === 0) throw new Error(`${where}: missing "image"`);
      where += ` (${r.image})`;
      if (Array.isArray(r.caption)) throw new Error(`${where}: caption list in a per-caption (train) file`);
      const caption = checkCaption(r.caption, where);
      let rec = byImage.get(r.image);
      if (rec === undefined) {
        rec = { fileName: r.image, split: split as Split, captions: [], where };
        if (typeof r.image_id === 'number') rec.sourceId = r.image_id;
        byImage.set(r.image, rec);
        raws.push(rec);
      } else if (typeof r.image_id === 'number' && rec.sourceId !== undefined && rec.sourceId !== r.image_id) {
        throw new Error(`${where}: image_id ${r.image_id} differs from ${rec.sourceId} given at ${rec.where}`);
      }
      rec.captions.push(caption);
    });
  } else {
    json.forEach((r, i) => {
      let where = `${file} record ${i}`;
      if (!isObject(r)) throw new Error(`${where}: expected an object`);
      if (typeof r.image !== 'string' || r.image.length === 0) throw new Error(`${where}: missing "image"`);
      where += ` (${r.image})`;
      if (!Array.isArray(r.caption)) throw new Error(`${where}: expected "caption" to be a list (per-image eval record)`);
      const captions = r.caption.map((c, k) => checkCaption(c, `${where} caption[${k}]`));
      raws.push({ fileName: r.image, split: split as Split, captions, where });
    });
  }
  return assembleDataset(file, 'pir-json', raws, opts);
}

/** Loads one PIR JSON file. */
export function loadPirJson(file: string, opts: LoadOptions = {}): RetrievalDataset {
  return parsePirJson(readJson(file), file, opts);
}

/** Loads the PIR config trio (`train_file`, `val_file`, `test_file`) into one dataset. */
export function loadPirJsonSplits(files: Partial<Record<Split, string>>, opts: LoadOptions = {}): RetrievalDataset {
  const parts: RetrievalDataset[] = [];
  for (const split of ['train', 'val', 'test'] as const) {
    const f = files[split];
    if (f !== undefined) parts.push(loadPirJson(f, { ...opts, split }));
  }
  const firstFile = Object.values(files)[0];
  const name = opts.name ?? (firstFile !== undefined ? path.basename(firstFile).replace(/_(train|val|test)\.json$/, '') : 'pir');
  return mergeDatasets(name, parts);
}
