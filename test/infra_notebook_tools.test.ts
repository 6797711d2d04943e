import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { PNG } from 'pngjs';
import {
  encodeRgbPng, extractSource, imageGridPng, inNotebook, rowsToText, showTable,
} from '../src/notebook/display';
import { resolveProfile, setupNotebook } from '../src/notebook/setup';
import {
  failingSourceFromLog, findFailure, findJupyter, kernelSpec, listNotebooks, namelessDiagnostics, NotebookJson, tslabShadowedImports,
} from '../scripts/run_notebooks';
import * as os from 'os';
import { spawnSync } from 'child_process';
import { projectRoot } from '../src/utils/fs';

test('outside a kernel: not a notebook, tables print as text', () => {
  assert.equal(inNotebook(), false);
  const lines: string[] = [];
  const orig = console.log;
  console.log = (...a: unknown[]) => void lines.push(a.join(' '));
  try {
    showTable([{ name: 'a', value: 1.23456 }, { name: 'bb', value: 2 }], { digits: 2 });
  } finally {
    console.log = orig;
  }
  assert.deepEqual(lines[0].split('\n'), ['name  value', '----  -----', 'a     1.23', 'bb    2']);
  assert.equal(rowsToText([{ x: null }]), 'x\n-\n');
});

test('encodeRgbPng / imageGridPng produce PNGs with the right pixels and sizes', () => {
  // 2×1 image: red, then mid-grey from floats.
  const bytes = encodeRgbPng({ pixels: new Float32Array([1, 0, 0, 0.5, 0.5, 0.5]), width: 2, height: 1 });
  const png = PNG.sync.read(Buffer.from(bytes));
  assert.deepEqual([png.width, png.height], [2, 1]);
  assert.deepEqual(Array.from(png.data), [255, 0, 0, 255, 128, 128, 128, 255]);
  assert.throws(() => encodeRgbPng({ pixels: new Uint8Array(5), width: 2, height: 1 }), /expected 2×1×3 = 6 RGB values, got 5/);

  const img = { pixels: new Uint8Array(4 * 3 * 3).fill(10), width: 4, height: 3 };
  const grid = PNG.sync.read(Buffer.from(imageGridPng([img, img, img], { columns: 2, pad: 1 })));
  assert.deepEqual([grid.width, grid.height], [2 * 4 + 3, 2 * 3 + 3]);
  assert.deepEqual(Array.from(grid.data.slice(0, 4)), [255, 255, 255, 255], 'padding is white');
  const at = (x: number, y: number) => grid.data[(y * grid.width + x) * 4];
  assert.equal(at(1, 1), 10, 'first image starts after the padding');
  assert.equal(at(6, 1), 10, 'first row, second image');
  assert.equal(at(1, 5), 10, 'second row, third image');
  assert.equal(at(6, 5), 255, 'empty fourth cell stays white');
});

test('showSource extracts the real declaration with its doc comment via the TypeScript parser', () => {
  const src = extractSource('utils/progress.ts', 'createProgress');
  assert.match(src.text, /^\/\*\* Create a progress counter/);
  assert.match(src.text, /export function createProgress\(label: string, total: number/);
  assert.ok(src.text.trimEnd().endsWith('}'));
  const lines = fs.readFileSync(path.join(projectRoot(), 'src/utils/progress.ts'), 'utf8').split('\n');
  assert.match(lines[src.line - 1], /^\/\*\* Create a progress counter/);
  assert.match(extractSource('src/plotting/theme.ts', 'CLASS_PALETTE').text, /export const CLASS_PALETTE/);
  assert.throws(() => extractSource('utils/progress', 'nope'), /no top-level declaration 'nope' in src\/utils\/progress\.ts \(it declares: .*createProgress/);
  assert.throws(() => extractSource('utils/missing.ts', 'x'), /src\/utils\/missing\.ts does not exist/);
});

test('setupNotebook: profile from arg or KIT_PROFILE, seeded stream, backend info', async () => {
  const prev = process.env.KIT_PROFILE;
  try {
    delete process.env.KIT_PROFILE;
    assert.equal(resolveProfile(), 'fast');
    process.env.KIT_PROFILE = 'full';
    assert.equal(resolveProfile(), 'full');
    assert.equal(resolveProfile('fast'), 'fast');
    process.env.KIT_PROFILE = 'huge';
    assert.throws(() => resolveProfile(), /profile 'huge' \(from KIT_PROFILE\) is not one of fast, full/);
    delete process.env.KIT_PROFILE;
    const env = await setupNotebook({ seed: 3, backend: 'wasm', quiet: true });
    assert.equal(env.profile, 'fast');
    assert.equal(env.backend.name, 'wasm');
    assert.equal(env.inNotebook, false);
    assert.equal(env.seeds.child('x').random(), (await setupNotebook({ seed: 3, quiet: true })).seeds.child('x').random());
    assert.equal(env.paths.root, projectRoot());
  } finally {
    if (prev === undefined) delete process.env.KIT_PROFILE;
    else process.env.KIT_PROFILE = prev;
  }
});

test('run_notebooks: kernelspec, notebook selection and failure extraction', () => {
  const root = projectRoot();
  const spec = kernelSpec(root);
  assert.equal(spec.language, 'typescript');
  assert.ok(spec.argv.every((a) => a === '{connection_file}' || path.isAbsolute(a)), 'absolute paths');
  assert.ok(fs.existsSync(spec.argv[1]) && (fs.statSync(spec.argv[1]).mode & 0o111) !== 0, 'kernel script exists and is executable');
  assert.ok(listNotebooks(path.join(root, 'notebooks')).includes('00_smoke.ipynb'));
  assert.deepEqual(listNotebooks(path.join(root, 'notebooks'), ['00_sm']), ['00_smoke.ipynb']);

  const log = 'Traceback...\nAn error occurred while executing the following cell:\n------------------\nconst a = 1;\nthrow new Error("x");\n------------------\n\n\n<Error>: \n';
  assert.equal(failingSourceFromLog(log), 'const a = 1;\nthrow new Error("x");');
  const nb: NotebookJson = {
    nbformat: 4,
    nbformat_minor: 5,
    metadata: {},
    cells: [
      { cell_type: 'markdown', source: ['# t'] },
      { cell_type: 'code', source: ['let ok = 1;'], outputs: [{ output_type: 'stream', name: 'stderr', text: 'warning only\n' }] },
      {
        cell_type: 'code',
        source: ['const a = 1;\n', 'throw new Error("x");'],
        outputs: [{ output_type: 'stream', name: 'stderr', text: ['Error: x\n', '    at evalmachine.<anonymous>:3:7\n', '    at Script.runInThisContext (node:vm:135:14)\n'] }],
      },
      { cell_type: 'code', source: ['after()'], outputs: [] },
    ],
  };
  const f = findFailure(nb, failingSourceFromLog(log));
  assert.ok(f);
  assert.equal(f.index, 2);
  assert.equal(f.codeCellNumber, 2);
  assert.equal(f.message, 'Error: x\n    at evalmachine.<anonymous>:3:7', 'tslab/vm frames are dropped');
  assert.deepEqual(namelessDiagnostics("137:9 - Type 'string' is not assignable\n12:1 - Cannot find name 'window'."), [
    { line: 137, col: 9 },
    { line: 12, col: 1 },
  ]);
});

test('tslabShadowedImports finds bare imports that tslab would resolve to a sibling file', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'kit-shadow-'));
  try {
    fs.mkdirSync(path.join(root, 'src', 'utils'), { recursive: true });
    fs.writeFileSync(path.join(root, 'src', 'utils', 'fs.ts'), "import * as fs from 'fs';\nimport * as p from 'path';\n");
    fs.writeFileSync(path.join(root, 'src', 'utils', 'ok.ts'), "import * as fs from 'node:fs';\nimport { x } from './fs';\n");
    const files = [path.join(root, 'src', 'utils', 'fs.ts'), path.join(root, 'src', 'utils', 'ok.ts')];
    assert.deepEqual(tslabShadowedImports(root, files), [{ file: path.join('src', 'utils', 'fs.ts'), id: 'fs' }]);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('npm run notebooks end to end: real tslab kernel, failing cell reported with number, source and message', { skip: findJupyterOrSkip() }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kit-nbrun-'));
  const code = (src: string) => ({ cell_type: 'code', execution_count: null, metadata: {}, outputs: [], source: src });
  const nb = (cells: object[]) =>
    JSON.stringify({ cells, metadata: { kernelspec: { name: 'tslab', language: 'typescript', display_name: 'TS' } }, nbformat: 4, nbformat_minor: 4 });
  try {
    fs.writeFileSync(
      path.join(dir, 'b_fail.ipynb'),
      nb([
        code("const n = 41;\nconsole.log(process.cwd(), process.env.KIT_IN_NOTEBOOK);"),
        code("console.log('before');\nthrow new Error(`kit-boom ${n + 1}`);"),
        code("console.log('never');"),
      ]),
    );
    const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(projectRoot(), 'scripts', 'run_notebooks.ts'), '--dir', dir], {
      cwd: projectRoot(),
      encoding: 'utf8',
      timeout: 240_000,
    });
    const out = r.stdout + r.stderr;
    assert.equal(r.status, 1, out);
    assert.match(out, /b_fail\.ipynb \.\.\. FAILED/);
    assert.match(out, /cell: code cell 2 \(cell index 1\)/);
    assert.match(out, /\| throw new Error\(`kit-boom \$\{n \+ 1\}`\);/);
    assert.match(out, /Error: kit-boom 42/, 'the real message, not "<Error>"');
    assert.doesNotMatch(out, /rerunning/, 'read from the first run\'s own executed copy, no rerun');
    // The partially executed copy shows the kernel ran in the project root with KIT_IN_NOTEBOOK=1.
    const executed = JSON.parse(fs.readFileSync(path.join(projectRoot(), 'build', 'notebooks', 'b_fail.ipynb'), 'utf8')) as NotebookJson;
    const text = (executed.cells[0].outputs ?? []).map((o) => (Array.isArray(o.text) ? o.text.join('') : o.text ?? '')).join('');
    assert.equal(text.trim(), `${projectRoot()} 1`);
    assert.deepEqual(executed.cells[2].outputs ?? [], [], 'execution stopped at the failing cell');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
    for (const f of ['b_fail.ipynb']) fs.rmSync(path.join(projectRoot(), 'build', 'notebooks', f), { force: true });
  }
});

test('npm run notebooks --retries 1: a notebook failing once passes on retry, its first failure reported, the summary says so', { skip: findJupyterOrSkip() }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kit-nbretry-'));
  const marker = path.join(dir, 'failed-once');
  const code = (src: string) => ({ cell_type: 'code', execution_count: null, metadata: {}, outputs: [], source: src });
  const nb = (cells: object[]) =>
    JSON.stringify({ cells, metadata: { kernelspec: { name: 'tslab', language: 'typescript', display_name: 'TS' } }, nbformat: 4, nbformat_minor: 4 });
  const run = (extra: string[]) =>
    spawnSync(process.execPath, ['--import', 'tsx', path.join(projectRoot(), 'scripts', 'run_notebooks.ts'), '--dir', dir, ...extra], {
      cwd: projectRoot(),
      encoding: 'utf8',
      timeout: 240_000,
    });
  try {
    fs.writeFileSync(
      path.join(dir, 'c_flaky.ipynb'),
      nb([code(`import * as fs from 'fs';\nif (!fs.existsSync(${JSON.stringify(marker)})) { fs.writeFileSync(${JSON.stringify(marker)}, ''); throw new Error('kit-flaky first attempt'); }\nconsole.log('second attempt ok');`)]),
    );
    const r = run(['--retries', '1']);
    const out = r.stdout + r.stderr;
    assert.equal(r.status, 0, out);
    assert.match(out, /c_flaky\.ipynb \.\.\. FAILED/);
    assert.match(out, /Error: kit-flaky first attempt/, 'the first failure in full');
    assert.match(out, /c_flaky\.ipynb \(retry 1 of 1\) \.\.\. ok/);
    assert.match(out, /ok on retry \(1 failed\)/);
    assert.match(out, /1 notebook\(s\) passed only on retry: c_flaky\.ipynb/);
    const kept = path.join(projectRoot(), 'build', 'notebooks', 'c_flaky.failed-1.ipynb');
    assert.match(out, /kept the failed attempt's executed copy: build\/notebooks\/c_flaky\.failed-1\.ipynb/);
    const failedCopy = JSON.parse(fs.readFileSync(kept, 'utf8')) as NotebookJson;
    assert.match(JSON.stringify(failedCopy.cells[0].outputs), /kit-flaky first attempt/, 'the failed attempt\'s own outputs');
    // without retries the same first failure fails the run
    fs.rmSync(marker);
    const r0 = run([]);
    assert.equal(r0.status, 1, r0.stdout + r0.stderr);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
    for (const f of ['c_flaky.ipynb', 'c_flaky.failed-1.ipynb']) fs.rmSync(path.join(projectRoot(), 'build', 'notebooks', f), { force: true });
  }
});

function findJupyterOrSkip(): string | false {
  try {
    return findJupyter() ? false : 'jupyter nbconvert not installed';
  } catch (e) {
    return (e as Error).message;
  }
}
