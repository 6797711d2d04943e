import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { cleanFiles, cleanNotebookText, projectNotebooks, sourceLines } from '../scripts/clean_notebooks';
import { projectRoot } from '../src/utils/fs';

interface Nb {
  cells: { cell_type: string; source: string[]; outputs?: unknown[]; execution_count?: number | null; metadata: Record<string, unknown>; id?: string }[];
  metadata: Record<string, unknown>;
}

const dirty = {
  nbformat: 4,
  nbformat_minor: 5,
  metadata: {
    kernelspec: { name: 'tslab', display_name: 'TypeScript', language: 'typescript' },
    language_info: { name: 'typescript', version: '3.7.2', file_extension: '.ts' },
    widgets: { state: {} },
  },
  cells: [
    { cell_type: 'markdown', id: 'a1', metadata: {}, source: '# Title\nSome text' },
    {
      cell_type: 'code',
      id: 'c1',
      execution_count: 7,
      metadata: { execution: { 'iopub.execute_input': '2026-01-01T00:00:00Z' }, tags: ['keep-me'], collapsed: false },
      source: ['const x = 1;\n', 'x + 1'],
      outputs: [
        { output_type: 'stream', name: 'stdout', text: ['2\n'] },
        { output_type: 'display_data', data: { 'image/png': 'iVBORw0KGgo=' }, metadata: {} },
      ],
    },
    { cell_type: 'code', metadata: {}, source: 'console.log("ü");', outputs: [], execution_count: null },
  ],
};

test('committed notebooks are clean (run `npm run nb:clean`)', () => {
  const files = projectNotebooks(projectRoot());
  assert.ok(files.some((f) => path.basename(f) === '00_smoke.ipynb'), 'notebooks/00_smoke.ipynb exists');
  for (const f of files) {
    const text = fs.readFileSync(f, 'utf8');
    assert.equal(cleanNotebookText(text, f), text, `${path.relative(projectRoot(), f)} has outputs, execution counts or non-Jupyter formatting`);
    const nb = JSON.parse(text) as Nb & { metadata: { kernelspec?: { name?: string; language?: string } } };
    assert.equal(nb.metadata.kernelspec?.name, 'tslab', `${f}: kernelspec must be tslab`);
    assert.equal(nb.metadata.kernelspec?.language, 'typescript');
  }
});

test('the cleaner strips outputs, counts and transient metadata, keeps the rest, and is idempotent', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kit-nbclean-'));
  try {
    const file = path.join(dir, 'dirty.ipynb');
    fs.writeFileSync(file, JSON.stringify(dirty));
    const check = cleanFiles([file], { check: true });
    assert.deepEqual(check.dirty, [file]);
    assert.equal(fs.readFileSync(file, 'utf8'), JSON.stringify(dirty), '--check must not modify the file');

    const res = cleanFiles([file]);
    assert.deepEqual(res.dirty, [file]);
    const text = fs.readFileSync(file, 'utf8');
    assert.ok(text.endsWith('}\n'), 'trailing newline');
    assert.match(text, /^\{\n "cells": \[\n  \{\n   "cell_type"/, 'Jupyter layout: 1-space indent, sorted keys');
    assert.ok(text.includes('ü'), 'non-ASCII kept as is');
    const nb = JSON.parse(text) as Nb;
    const code = nb.cells[1];
    assert.deepEqual(code.outputs, []);
    assert.equal(code.execution_count, null);
    assert.deepEqual(code.metadata, { tags: ['keep-me'] });
    assert.deepEqual(code.source, ['const x = 1;\n', 'x + 1']);
    assert.deepEqual(nb.cells[0].source, ['# Title\n', 'Some text']);
    assert.equal(nb.cells[0].outputs, undefined, 'markdown cells get no outputs');
    assert.equal(nb.cells[2].id, 'cell-2', 'missing ids are filled deterministically');
    assert.equal(nb.metadata.widgets, undefined);
    assert.deepEqual(nb.metadata.language_info, { name: 'typescript', file_extension: '.ts' });

    assert.deepEqual(cleanFiles([file], { check: true }).dirty, [], 'clean after one pass');
    assert.deepEqual(cleanFiles([file]).dirty, []);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('sourceLines splits like Jupyter and invalid notebooks are named in errors', () => {
  assert.deepEqual(sourceLines('a\nb\n'), ['a\n', 'b\n']);
  assert.deepEqual(sourceLines(''), []);
  assert.throws(() => cleanNotebookText('{"cells": 3}', 'x.ipynb'), /x\.ipynb: not a notebook/);
  assert.throws(() => cleanNotebookText('{oops', 'y.ipynb'), /y\.ipynb: not valid JSON/);
});
