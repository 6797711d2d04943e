/**
 * AMFMN "precomp" text annotations (method.md §6): `<prefix>_caps.txt` (one caption per line) and
 * `<prefix>_filename.txt` (image names). Two layouts exist and are detected from the line counts:
 * - grouped (AMFMN train/sample files): N filename lines, 5·N caption lines; name i ↔ captions 5i…5i+4;
 * - per caption (the test files): one filename line per caption (each name repeated), same count.
 * Consecutive equal names form one image; a name that re-appears later is a duplicate (error).
 */
import * as fs from 'fs';
import * as path from 'path';
import { CAPTIONS_PER_IMAGE, RetrievalDataset, Split } from '../types';
import { LoadOptions, RawRecord, assembleDataset, checkCaption, splitFromName } from './common';

/** Suffixes of the two files. */
const CAPS_SUFFIX = '_caps.txt';
const NAMES_SUFFIX = '_filename.txt';

/** Which precomp layout a pair of files uses. */
export type PrecompLayout = 'grouped' | 'per-caption';

/** The two files of a precomp prefix given either file or the prefix itself. */
export function precompFiles(fileOrPrefix: string): { caps: string; names: string; prefix: string } {
  let prefix = fileOrPrefix;
  if (prefix.endsWith(CAPS_SUFFIX)) prefix = prefix.slice(0, -CAPS_SUFFIX.length);
  else if (prefix.endsWith(NAMES_SUFFIX)) prefix = prefix.slice(0, -NAMES_SUFFIX.length);
  return { caps: prefix + CAPS_SUFFIX, names: prefix + NAMES_SUFFIX, prefix };
}

/** True when the path is one of the two precomp files. */
export function isPrecompPath(file: string): boolean {
  return file.endsWith(CAPS_SUFFIX) || file.endsWith(NAMES_SUFFIX);
}

function readLines(file: string): string[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`cannot read precomp file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const lines = text.split(/\r?\n/);
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop(); // final newline
  return lines;
}

/** Loads a precomp pair. `opts.split` wins; else the split word in the prefix (`rsicd_test`); else error. */
export function loadPrecomp(fileOrPrefix: string, opts: LoadOptions = {}): RetrievalDataset {
  const { caps, names, prefix } = precompFiles(fileOrPrefix);
  const split: Split | null = opts.split ?? splitFromName(path.basename(prefix));
  if (split === null) throw new Error(`${caps}: cannot tell the split from the name "${path.basename(prefix)}"; pass split ('train'|'val'|'test')`);
  const capLines = readLines(caps);
  const nameLines = readLines(names);
  if (nameLines.length === 0) throw new Error(`${names}: no file names`);
  let layout: PrecompLayout;
  if (capLines.length === nameLines.length) layout = 'per-caption';
  else if (capLines.length === CAPTIONS_PER_IMAGE * nameLines.length) layout = 'grouped';
  else {
    throw new Error(`${caps}: ${capLines.length} caption lines for ${nameLines.length} names in ${names}; expected ` +
      `${nameLines.length} (one name per caption) or ${CAPTIONS_PER_IMAGE * nameLines.length} (${CAPTIONS_PER_IMAGE} captions per name)`);
  }
  const raws: RawRecord[] = [];
  const cap = (i: number): string => checkCaption(capLines[i], `${caps} line ${i + 1}`);
  const nameAt = (i: number): string => {
    const n = nameLines[i].trim();
    if (n.length === 0) throw new Error(`${names} line ${i + 1}: empty file name`);
    return n;
  };
  if (layout === 'grouped') {
    for (let i = 0; i < nameLines.length; i++) {
      const fileName = nameAt(i);
      const captions: string[] = [];
      for (let k = 0; k < CAPTIONS_PER_IMAGE; k++) captions.push(cap(CAPTIONS_PER_IMAGE * i + k));
      raws.push({ fileName, split, captions, where: `${names} line ${i + 1} (${fileName})` });
    }
  } else {
    let cur: RawRecord | null = null;
    for (let i = 0; i < nameLines.length; i++) {
      const fileName = nameAt(i);
      if (cur === null || cur.fileName !== fileName) {
        cur = { fileName, split, captions: [], where: `${names} line ${i + 1} (${fileName})` };
        raws.push(cur);
      }
      cur.captions.push(cap(i));
    }
  }
  return assembleDataset(caps, 'precomp', raws, { ...opts, name: opts.name ?? path.basename(prefix) });
}

/** Layout a precomp pair uses (for reports). */
export function precompLayout(fileOrPrefix: string): PrecompLayout {
  const { caps, names } = precompFiles(fileOrPrefix);
  return readLines(caps).length === readLines(names).length ? 'per-caption' : 'grouped';
}
