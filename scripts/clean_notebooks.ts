/**
 * `npm run nb:clean`: strip outputs, execution counts and transient metadata from notebooks/*.ipynb,
 * in place, with Jupyter's own JSON layout (1-space indent, sorted keys, trailing newline), so
 * committed notebooks diff cleanly (what nbdev_clean does for Python notebooks).
 *
 *   npm run nb:clean                      # clean notebooks/*.ipynb in place
 *   npm run nb:clean -- --check           # exit 1 and list notebooks that are not clean (CI)
 *   npm run nb:clean -- path/a.ipynb ...  # specific files
 */
import * as fs from 'fs';
import * as path from 'path';
import { atomicWriteFile, projectRoot } from '../src/utils/fs';

/** JSON value, for walking notebook metadata without `any`. */
type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type JsonObject = { [k: string]: Json };

/** Cell metadata keys written by front ends and executors, not by authors. */
export const TRANSIENT_CELL_METADATA = ['execution', 'ExecuteTime', 'collapsed', 'scrolled', 'papermill', 'vscode', 'trusted'];
/** Notebook metadata keys that change from run to run. */
export const TRANSIENT_NOTEBOOK_METADATA = ['widgets', 'papermill', 'vscode', 'toc', 'varInspector'];
/** language_info keys that depend on the kernel build, not on the notebook. */
export const TRANSIENT_LANGUAGE_INFO = ['version'];

function isObject(v: Json | undefined): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Split cell source into Jupyter's list-of-lines form (each line keeps its '\n', the last one none). */
export function sourceLines(source: Json | undefined): string[] {
  const text = Array.isArray(source) ? source.map((s) => String(s)).join('') : typeof source === 'string' ? source : '';
  if (text === '') return [];
  const lines = text.split('\n');
  return lines.map((l, i) => (i < lines.length - 1 ? l + '\n' : l)).filter((l) => l !== '');
}

/** A deep copy of the notebook with outputs, execution counts and transient metadata removed. */
export function cleanNotebook(nb: JsonObject, file = '<notebook>'): JsonObject {
  if (!Array.isArray(nb.cells)) throw new Error(`${file}: not a notebook (no "cells" array)`);
  const out = JSON.parse(JSON.stringify(nb)) as JsonObject;
  const cells = out.cells as Json[];
  const idsWanted = (typeof out.nbformat === 'number' && out.nbformat > 4) ||
    (out.nbformat === 4 && typeof out.nbformat_minor === 'number' && out.nbformat_minor >= 5);
  const seenIds = new Set<string>();
  cells.forEach((cell, i) => {
    if (!isObject(cell)) throw new Error(`${file}: cell ${i} is not an object`);
    const type = cell.cell_type;
    if (type !== 'code' && type !== 'markdown' && type !== 'raw') {
      throw new Error(`${file}: cell ${i} has cell_type ${JSON.stringify(type)}, expected code, markdown or raw`);
    }
    cell.source = sourceLines(cell.source);
    const meta = isObject(cell.metadata) ? cell.metadata : {};
    for (const k of TRANSIENT_CELL_METADATA) delete meta[k];
    cell.metadata = meta;
    if (type === 'code') {
      cell.outputs = [];
      cell.execution_count = null;
    } else {
      delete cell.outputs;
      delete cell.execution_count;
    }
    if (idsWanted) {
      let id = typeof cell.id === 'string' ? cell.id : '';
      if (!id || seenIds.has(id)) id = `cell-${i}`;
      while (seenIds.has(id)) id += '-x';
      cell.id = id;
      seenIds.add(id);
    }
  });
  const meta = isObject(out.metadata) ? out.metadata : {};
  for (const k of TRANSIENT_NOTEBOOK_METADATA) delete meta[k];
  if (isObject(meta.language_info)) for (const k of TRANSIENT_LANGUAGE_INFO) delete meta.language_info[k];
  out.metadata = meta;
  return out;
}

function sortKeys(v: Json): Json {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (!isObject(v)) return v;
  const o: JsonObject = {};
  for (const k of Object.keys(v).sort()) o[k] = sortKeys(v[k]);
  return o;
}

/** Jupyter's on-disk layout: sorted keys, 1-space indent, non-ASCII kept, trailing newline. */
export function formatNotebook(nb: JsonObject): string {
  return JSON.stringify(sortKeys(nb), null, 1) + '\n';
}

/** Clean notebook text; throws naming `file` if it is not valid notebook JSON. */
export function cleanNotebookText(text: string, file = '<notebook>'): string {
  let parsed: Json;
  try {
    parsed = JSON.parse(text) as Json;
  } catch (e) {
    throw new Error(`${file}: not valid JSON: ${(e as Error).message}`);
  }
  if (!isObject(parsed)) throw new Error(`${file}: not a notebook (top level is not an object)`);
  return formatNotebook(cleanNotebook(parsed, file));
}

/** Clean (or with `check`, only inspect) files; returns the ones that were / are not clean. */
export function cleanFiles(files: string[], opts: { check?: boolean } = {}): { dirty: string[] } {
  const dirty: string[] = [];
  for (const file of files) {
    const text = fs.readFileSync(file, 'utf8');
    const clean = cleanNotebookText(text, file);
    if (clean === text) continue;
    dirty.push(file);
    if (!opts.check) atomicWriteFile(file, clean);
  }
  return { dirty };
}

/** notebooks/*.ipynb of the project, in name order. */
export function projectNotebooks(root = projectRoot()): string[] {
  const dir = path.join(root, 'notebooks');
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.ipynb'))
    .sort()
    .map((f) => path.join(dir, f));
}

function main(): void {
  const args = process.argv.slice(2);
  const check = args.includes('--check');
  const unknown = args.filter((a) => a.startsWith('-') && a !== '--check');
  if (unknown.length) {
    console.error(`nb:clean: unknown option(s) ${unknown.join(' ')}; usage: nb:clean [--check] [files...]`);
    process.exit(2);
  }
  const root = projectRoot();
  const named = args.filter((a) => !a.startsWith('-')).map((a) => path.resolve(a));
  const files = named.length ? named : projectNotebooks(root);
  const { dirty } = cleanFiles(files, { check });
  const rel = (f: string) => path.relative(process.cwd(), f) || f;
  if (check) {
    if (dirty.length) {
      console.log(`${dirty.length} notebook(s) not clean (run \`npm run nb:clean\`):`);
      for (const f of dirty) console.log(`  ${rel(f)}`);
      process.exit(1);
    }
    console.log(`${files.length} notebook(s) clean`);
    return;
  }
  for (const f of dirty) console.log(`cleaned ${rel(f)}`);
  console.log(`${files.length} notebook(s) checked, ${dirty.length} cleaned`);
}

if (require.main === module) {
  try {
    main();
  } catch (e) {
    console.error((e as Error).message);
    process.exit(1);
  }
}
