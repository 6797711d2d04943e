/**
 * `npm run notebooks`: execute every notebooks/*.ipynb headless under the real tslab kernel.
 *
 *   npm run notebooks                         # all notebooks, in name order
 *   npm run notebooks -- --only 03_losses     # notebooks whose name starts with / contains 03_losses (repeatable)
 *   npm run notebooks -- --profile full       # sets KIT_PROFILE for the kernels
 *   npm run notebooks -- --timeout 600        # per-cell timeout in seconds (default KIT_NOTEBOOK_TIMEOUT or 3600)
 *   npm run notebooks -- --keep-going         # after a failure, still run the remaining notebooks
 *   npm run notebooks -- --retries 1          # rerun a failed notebook once more (CI); its first failure is still
 *                                             # reported in full, and the summary names it "ok on retry"
 *   npm run notebooks -- --dir other/folder   # run the notebooks of another folder (still from the project root)
 *   npm run notebooks -- --install-kernel     # write .jupyter/kernels/tslab for other front ends (npm run lab needs none), then exit
 *   npm run notebooks -- --typecheck          # type-check src/ as tslab compiles it (TS 5.0, NOT strict), then exit
 *
 * How: writes a project-local kernelspec build/jupyter/kernels/tslab/kernel.json whose argv runs
 * scripts/tslab-kernel.sh (cd to the project root, exec node_modules/.bin/tslab kernel), points
 * JUPYTER_PATH at it, and executes each notebook with scripts/execute_notebook.py (nbclient, the
 * executor of `jupyter nbconvert --execute`, run by the Python of the `jupyter` found), writing
 * executed copies to build/notebooks/ — also when a cell fails, which nbconvert does not. tslab sends a
 * cell's error as a stderr stream, not as an error output (nbclient's own message says only
 * `<Error>: `), so this script reads the failing cell's stderr from that partially executed copy and
 * prints the cell's number, source and real error text: the first failure's, not a rerun's (a rerun
 * through nbconvert --allow-errors remains the fallback when no copy was written). tslab reports
 * type errors in imported src/ files as `137:9 - message` without the file name; the script then
 * re-checks src/ with tslab's own compiler and options (see tslabTypecheck) to name the file.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawn, spawnSync } from 'child_process';
import { atomicWriteJson, projectRoot } from '../src/utils/fs';

/** Per-cell execution timeout (seconds) unless `--timeout` or KIT_NOTEBOOK_TIMEOUT says otherwise. */
export const DEFAULT_CELL_TIMEOUT_S = 3600;
/** Kernelspec name every notebook's metadata.kernelspec.name must use. */
export const KERNEL_NAME = 'tslab';
/** Lines of nbconvert's own log printed when a failure is not a cell error (dead kernel, timeout). */
const LOG_TAIL_LINES = 40;

export interface KernelSpec {
  argv: string[];
  display_name: string;
  language: string;
  env?: Record<string, string>;
  metadata?: Record<string, unknown>;
}

/** The kernelspec for this checkout: absolute paths, so it works from any Jupyter cwd. */
export function kernelSpec(root = projectRoot()): KernelSpec {
  const bash = fs.existsSync('/bin/bash') ? '/bin/bash' : 'bash';
  return {
    argv: [bash, path.join(root, 'scripts', 'tslab-kernel.sh'), '{connection_file}'],
    display_name: 'TypeScript (PriorCLIP Kit)',
    language: 'typescript',
    metadata: { kit: 'priorclip-kit', root },
  };
}

/**
 * Write `<jupyterDir>/kernels/tslab/kernel.json` (atomically) and return the kernel folder.
 * `jupyterDir` is what JUPYTER_PATH must point at.
 */
export function writeKernelSpec(jupyterDir: string, root = projectRoot()): string {
  const dir = path.join(jupyterDir, 'kernels', KERNEL_NAME);
  atomicWriteJson(path.join(dir, 'kernel.json'), kernelSpec(root));
  return dir;
}

/**
 * Jupyter executable: env JUPYTER (which must work if set), then /usr/bin/jupyter, then `jupyter` on
 * PATH; null if none can run `nbconvert --version`.
 */
export function findJupyter(): string | null {
  const works = (c: string) =>
    fs.existsSync(c) && spawnSync(c, ['nbconvert', '--version'], { encoding: 'utf8', timeout: 60_000 }).status === 0;
  if (process.env.JUPYTER) {
    if (works(process.env.JUPYTER)) return process.env.JUPYTER;
    throw new Error(`JUPYTER=${process.env.JUPYTER} cannot run \`nbconvert --version\`; fix or unset it`);
  }
  const candidates = ['/usr/bin/jupyter'];
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir) candidates.push(path.join(dir, 'jupyter'));
  }
  return candidates.find(works) ?? null;
}

const INSTALL_HELP = [
  'jupyter with nbconvert was not found (tried $JUPYTER, /usr/bin/jupyter, jupyter on PATH).',
  'Install it:',
  '  Debian/Ubuntu: sudo apt-get install -y --no-install-recommends jupyter-nbconvert python3-nbclient jupyter-client',
  '  elsewhere:     pip install jupyter nbconvert nbclient   (then set JUPYTER=/path/to/jupyter if it is not on PATH)',
  'or run `npm run setup`, which does the apt part when run as root.',
].join('\n');

/** A notebook cell as stored in .ipynb JSON (the parts this script reads). */
export interface NotebookCell {
  cell_type: string;
  source: string | string[];
  outputs?: NotebookOutput[];
  execution_count?: number | null;
  metadata?: Record<string, unknown>;
  id?: string;
}
export interface NotebookOutput {
  output_type: string;
  name?: string;
  text?: string | string[];
  ename?: string;
  evalue?: string;
  traceback?: string[];
  data?: Record<string, unknown>;
}
export interface NotebookJson {
  cells: NotebookCell[];
  metadata: Record<string, unknown>;
  nbformat: number;
  nbformat_minor: number;
}

function joinText(t: string | string[] | undefined): string {
  if (t === undefined) return '';
  return Array.isArray(t) ? t.join('') : t;
}

/** Strip ANSI colour codes (tracebacks from other kernels carry them). */
function stripAnsi(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/\x1b\[[0-9;]*m/g, '');
}

/** Code-cell source extracted from nbconvert's "An error occurred while executing the following cell" block. */
export function failingSourceFromLog(log: string): string | null {
  const m = /An error occurred while executing the following cell:\n-{5,}\n([\s\S]*?)\n-{5,}\n/.exec(log);
  return m ? m[1] : null;
}

export interface CellFailure {
  /** 0-based index among all cells. */
  index: number;
  /** 1-based number among code cells (what a reader counts). */
  codeCellNumber: number;
  source: string;
  /** The real error text: error outputs' traceback, else the cell's stderr stream. */
  message: string;
}

/** Error text of one executed cell: error outputs first, then stderr streams. Empty if none. */
export function cellErrorText(cell: NotebookCell): string {
  const outs = cell.outputs ?? [];
  const errors = outs.filter((o) => o.output_type === 'error');
  if (errors.length) {
    return errors
      .map((o) => (o.traceback?.length ? stripAnsi(o.traceback.join('\n')) : `${o.ename ?? 'Error'}: ${o.evalue ?? ''}`))
      .join('\n');
  }
  return dropKernelFrames(
    outs
      .filter((o) => o.output_type === 'stream' && o.name === 'stderr')
      .map((o) => joinText(o.text))
      .join(''),
  );
}

/** Drop stack frames inside tslab and node:vm: they are the same for every error and bury the useful ones. */
function dropKernelFrames(text: string): string {
  return text
    .split('\n')
    .filter((l) => !/^\s+at .*(node_modules[\\/]tslab[\\/]|node:vm:|sigintHandlersWrap)/.test(l))
    .join('\n');
}

/**
 * Locate the failing cell in an executed notebook. `failingSource` (from nbconvert's log) pins it
 * exactly; without it, the first code cell with an error output, else the last code cell with
 * stderr text before a run of cells that produced nothing.
 */
export function findFailure(nb: NotebookJson, failingSource: string | null): CellFailure | null {
  const code = nb.cells.map((c, i) => ({ c, i })).filter(({ c }) => c.cell_type === 'code');
  let hit: { c: NotebookCell; i: number } | undefined;
  if (failingSource !== null) {
    const want = failingSource.trim();
    hit = code.find(({ c }) => joinText(c.source).trim() === want);
  }
  if (!hit) hit = code.find(({ c }) => (c.outputs ?? []).some((o) => o.output_type === 'error'));
  if (!hit) {
    const withStderr = code.filter(({ c }) => cellErrorText(c).trim().length > 0);
    hit = withStderr[withStderr.length - 1];
  }
  if (!hit) return null;
  return {
    index: hit.i,
    codeCellNumber: code.findIndex((x) => x.i === hit!.i) + 1,
    source: joinText(hit.c.source),
    message: cellErrorText(hit.c).trim(),
  };
}

/**
 * Compiler options tslab 1.0.22 uses for cells and the files they import (node_modules/tslab/dist/
 * converter.js): TypeScript 5.0.4, NOT strict (so no strictNullChecks: narrowing differs from our
 * tsconfig), declarations on, Node10 resolution. Code that passes `npm run typecheck` can still fail here.
 */
export const TSLAB_TSC_ARGS = [
  '--module', 'esnext', '--moduleResolution', 'node10', '--esModuleInterop', '--target', 'es2022', '--lib', 'es2022',
  '--declaration', '--emitDeclarationOnly', '--experimentalDecorators', '--resolveJsonModule', '--skipLibCheck',
  '--types', 'node',
];

/** All .ts files under a folder, sorted. */
function tsFilesUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(p);
    }
  };
  if (fs.existsSync(dir)) walk(dir);
  return out.sort();
}

/** One diagnostic from tslab's compiler: file (relative to root), line, column, message. */
export interface TslabDiagnostic {
  file: string;
  line: number;
  col: number;
  message: string;
}

/**
 * Type-check `files` (default: all of src/) with tslab's bundled TypeScript and tslab's options.
 * Returns the diagnostics (empty = tslab will compile them).
 */
export function tslabTypecheck(root = projectRoot(), files = tsFilesUnder(path.join(root, 'src'))): TslabDiagnostic[] {
  const tsc = path.join(root, 'node_modules', '@tslab', 'typescript-for-tslab', 'bin', 'tsc');
  if (!fs.existsSync(tsc)) throw new Error(`tslab's TypeScript is missing (${tsc}); run npm ci`);
  const outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kit-tslab-tsc-'));
  try {
    const r = spawnSync(process.execPath, [tsc, ...TSLAB_TSC_ARGS, '--outDir', outDir, ...files], {
      cwd: root,
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
    });
    const diags: TslabDiagnostic[] = [];
    let last: TslabDiagnostic | null = null;
    for (const line of (r.stdout ?? '').split('\n')) {
      const m = /^(.+?)\((\d+),(\d+)\): error TS\d+: (.*)$/.exec(line);
      if (m) {
        last = { file: m[1], line: Number(m[2]), col: Number(m[3]), message: m[4] };
        diags.push(last);
      } else if (last && /^\s+\S/.test(line)) last.message += '\n' + line.trim();
    }
    return diags;
  } finally {
    fs.rmSync(outDir, { recursive: true, force: true });
  }
}

/**
 * tslab resolves EVERY `require(id)` of an imported file against that file's folder first, bare
 * package names included (tslab 1.0.22 executor.js wrapRequire). So src/utils/fs.ts importing 'fs'
 * loads itself forever ("Maximum call stack size exceeded"). Returns such imports; the fix is the
 * `node:` prefix for builtins ('node:fs') or renaming the file.
 */
export function tslabShadowedImports(root = projectRoot(), files = tsFilesUnder(path.join(root, 'src'))): { file: string; id: string }[] {
  const out: { file: string; id: string }[] = [];
  const re = /(?:\bfrom\s+|\brequire\(\s*|\bimport\(\s*)['"]([^'".][^'"]*)['"]/g;
  for (const file of files) {
    const dir = path.dirname(file);
    const text = fs.readFileSync(file, 'utf8');
    for (const m of text.matchAll(re)) {
      const id = m[1];
      if (id.startsWith('node:')) continue;
      if (fs.existsSync(path.join(dir, `${id}.ts`)) || fs.existsSync(path.join(dir, id, 'index.ts'))) {
        out.push({ file: path.relative(root, file), id });
      }
    }
  }
  return out;
}

/** `L:C - message` lines: how tslab prints diagnostics of imported files (no file name). */
export function namelessDiagnostics(message: string): { line: number; col: number }[] {
  const out: { line: number; col: number }[] = [];
  for (const m of message.matchAll(/^(\d+):(\d+) - /gm)) out.push({ line: Number(m[1]), col: Number(m[2]) });
  return out;
}

interface RunResult {
  status: number;
  log: string;
  seconds: number;
}

/**
 * scripts/execute_notebook.py: nbclient (what nbconvert --execute runs), but the executed notebook is
 * written even when a cell fails, so the first failure's own stderr is kept (exit 3 = cell error,
 * 4 = dead kernel, 5 = timeout; see the script).
 */
const EXECUTOR = path.join(projectRoot(), 'scripts', 'execute_notebook.py');
const EXIT_CELL_ERROR = 3;
const EXIT_DEAD_KERNEL = 4;
const EXIT_TIMEOUT = 5;

/** The Python that runs `jupyter` (its shebang), which has nbclient; else python3 on PATH. */
export function executorPython(jupyter: string): string {
  try {
    const first = fs.readFileSync(jupyter, 'utf8').slice(0, 200).split('\n')[0];
    const m = /^#!\s*(\S+)/.exec(first);
    if (m && path.isAbsolute(m[1]) && /python/.test(path.basename(m[1])) && fs.existsSync(m[1])) return m[1];
  } catch {
    /* not a script: fall back */
  }
  return 'python3';
}

function runNbconvert(jupyter: string, args: string[], env: NodeJS.ProcessEnv, cwd: string): Promise<RunResult> {
  return runProcess(jupyter, ['nbconvert', ...args], env, cwd);
}

function runProcess(command: string, args: string[], env: NodeJS.ProcessEnv, cwd: string): Promise<RunResult> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => chunks.push(b));
    child.stderr.on('data', (b: Buffer) => chunks.push(b));
    child.on('error', (e) => resolve({ status: 127, log: String(e), seconds: (Date.now() - t0) / 1000 }));
    child.on('close', (code) =>
      resolve({ status: code ?? 1, log: Buffer.concat(chunks).toString('utf8'), seconds: (Date.now() - t0) / 1000 }),
    );
  });
}

interface Options {
  only: string[];
  timeout: number;
  profile?: string;
  installKernel: boolean;
  typecheck: boolean;
  /** Run the remaining notebooks after a failure. */
  keepGoing: boolean;
  /** Extra attempts for a failed notebook (default 0, or KIT_NOTEBOOK_RETRIES); each failure is reported in full. */
  retries: number;
  /** Folder holding the notebooks (default notebooks/). */
  dir?: string;
}

function parseArgs(argv: string[]): Options {
  const envTimeout = Number(process.env.KIT_NOTEBOOK_TIMEOUT);
  const opts: Options = {
    only: [],
    timeout: Number.isFinite(envTimeout) && envTimeout > 0 ? envTimeout : DEFAULT_CELL_TIMEOUT_S,
    installKernel: false,
    typecheck: false,
    keepGoing: false,
    retries: Number(process.env.KIT_NOTEBOOK_RETRIES ?? 0),
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`run_notebooks: ${a} needs a value`);
      return v;
    };
    if (a === '--only') opts.only.push(...value().split(','));
    else if (a.startsWith('--only=')) opts.only.push(...a.slice('--only='.length).split(','));
    else if (a === '--timeout') opts.timeout = Number(value());
    else if (a === '--profile') opts.profile = value();
    else if (a === '--dir') opts.dir = path.resolve(value());
    else if (a === '--install-kernel') opts.installKernel = true;
    else if (a === '--typecheck') opts.typecheck = true;
    else if (a === '--keep-going') opts.keepGoing = true;
    else if (a === '--retries') opts.retries = Number(value());
    else if (a === '--help' || a === '-h') {
      console.log(fs.readFileSync(__filename, 'utf8').split('*/')[0]);
      process.exit(0);
    } else if (!a.startsWith('-')) opts.only.push(a);
    else throw new Error(`run_notebooks: unknown option ${a} (see --help)`);
  }
  if (!(opts.timeout > 0)) throw new Error(`run_notebooks: --timeout must be a positive number of seconds`);
  if (!(Number.isInteger(opts.retries) && opts.retries >= 0)) throw new Error(`run_notebooks: --retries (or KIT_NOTEBOOK_RETRIES) must be a whole number ≥ 0, got ${opts.retries}`);
  return opts;
}

/** notebooks/*.ipynb in name order, filtered by `only` (prefix or substring of the file name). */
export function listNotebooks(dir: string, only: string[] = []): string[] {
  if (!fs.existsSync(dir)) return [];
  const all = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.ipynb') && !f.startsWith('.'))
    .sort();
  if (!only.length) return all;
  return all.filter((f) => only.some((o) => f.startsWith(o) || f.includes(o)));
}

function indent(s: string, pad = '    '): string {
  return s
    .split('\n')
    .map((l) => pad + l)
    .join('\n');
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const root = projectRoot();

  if (opts.installKernel) {
    const dir = writeKernelSpec(path.join(root, '.jupyter'), root);
    writeKernelSpec(path.join(root, 'build', 'jupyter'), root);
    console.log(`kernelspec written: ${path.join(dir, 'kernel.json')}`);
    console.log(`interactive use: npm run lab (or any Jupyter front end with JUPYTER_PATH=${path.join(root, '.jupyter')})`);
    return;
  }

  if (opts.typecheck) {
    const t0 = Date.now();
    const diags = tslabTypecheck(root);
    for (const d of diags) console.log(`${d.file}:${d.line}:${d.col} - ${d.message}`);
    const shadowed = tslabShadowedImports(root);
    for (const s of shadowed) {
      console.log(`${s.file}: imports '${s.id}', which tslab resolves to the sibling file ${s.id}.ts (endless recursion); use 'node:${s.id}' or rename the file`);
    }
    console.log(
      `tslab type-check of src/ (TypeScript 5.0.4, tslab's non-strict options): ${diags.length} error(s), ` +
        `${shadowed.length} shadowed import(s), in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
    );
    process.exit(diags.length || shadowed.length ? 1 : 0);
  }

  const jupyter = findJupyter();
  if (!jupyter) {
    console.error(INSTALL_HELP);
    process.exit(2);
  }
  const jupyterDir = path.join(root, 'build', 'jupyter');
  writeKernelSpec(jupyterDir, root);
  const nbDir = opts.dir ?? path.join(root, 'notebooks');
  const outDir = path.join(root, 'build', 'notebooks');
  fs.mkdirSync(outDir, { recursive: true });

  const notebooks = listNotebooks(nbDir, opts.only);
  if (!notebooks.length) {
    console.error(`no notebooks matched in ${nbDir}${opts.only.length ? ` (--only ${opts.only.join(',')})` : ''}`);
    process.exit(1);
  }

  const env: NodeJS.ProcessEnv = {
    ...process.env,
    JUPYTER_PATH: [jupyterDir, process.env.JUPYTER_PATH].filter(Boolean).join(path.delimiter),
    // Keep Jupyter's runtime files (connection files) inside build/, not in the user's home.
    JUPYTER_RUNTIME_DIR: path.join(jupyterDir, 'runtime'),
  };
  if (opts.profile) env.KIT_PROFILE = opts.profile;

  console.log(
    `running ${notebooks.length} notebook(s) with ${jupyter} (kernel ${KERNEL_NAME}, cell timeout ${opts.timeout} s` +
      `${env.KIT_PROFILE ? `, profile ${env.KIT_PROFILE}` : ''}) → ${path.relative(root, outDir)}/`,
  );
  const python = executorPython(jupyter);
  // nbconvert's own arguments: only for the --allow-errors rerun when the executor wrote no notebook
  const baseArgs = [
    '--to',
    'notebook',
    '--execute',
    `--ExecutePreprocessor.kernel_name=${KERNEL_NAME}`,
    `--ExecutePreprocessor.timeout=${opts.timeout}`,
    '--output-dir',
    outDir,
  ];
  // Cheap pre-flight (milliseconds): a src file importing a bare name equal to a sibling file crashes tslab.
  for (const sh of tslabShadowedImports(root)) {
    console.log(`warning: ${sh.file} imports '${sh.id}', which tslab resolves to its sibling ${sh.id}.ts (endless recursion); use 'node:${sh.id}'`);
  }
  const times: NotebookTime[] = [];
  for (const name of notebooks) {
    const file = path.join(nbDir, name);
    let seconds = 0;
    let ok = false;
    let attempt = 0;
    for (; attempt <= opts.retries; attempt++) {
      process.stdout.write(attempt === 0 ? `▶ ${name} ... ` : `▶ ${name} (retry ${attempt} of ${opts.retries}) ... `);
      const r = await runProcess(python, [EXECUTOR, file, path.join(outDir, name), KERNEL_NAME, String(opts.timeout)], env, root);
      seconds += r.seconds;
      ok = r.status === 0;
      if (ok) {
        console.log(`ok in ${r.seconds.toFixed(1)} s`);
        break;
      }
      console.log(`FAILED after ${r.seconds.toFixed(1)} s`);
      await reportFailure(name, file, r, { jupyter, baseArgs, env, root, outDir });
      if (attempt < opts.retries) keepFailedCopy(root, outDir, name, attempt + 1);
    }
    times.push({ name, seconds, ok, failedAttempts: attempt });
    if (!ok && !opts.keepGoing) break;
  }
  printSummary(times);
  const flaky = times.filter((t) => t.ok && t.failedAttempts > 0).map((t) => t.name);
  if (flaky.length) console.log(`\n${flaky.length} notebook(s) passed only on retry: ${flaky.join(', ')} (their first failures are reported above)`);
  const failed = times.filter((t) => !t.ok).length;
  const skipped = notebooks.length - times.length;
  if (failed) {
    console.log(`\n${failed} notebook(s) failed${skipped ? `, ${skipped} not run (use --keep-going to run them anyway)` : ''}`);
    process.exit(1);
  }
}

/** Before a retry overwrites it: keep the failed attempt's executed copy as `<name>.failed-<attempt>.ipynb`. */
function keepFailedCopy(root: string, outDir: string, name: string, attempt: number): void {
  const executed = path.join(outDir, name);
  if (!fs.existsSync(executed)) return;
  const kept = path.join(outDir, name.replace(/\.ipynb$/, `.failed-${attempt}.ipynb`));
  fs.renameSync(executed, kept);
  say(`  kept the failed attempt's executed copy: ${path.relative(root, kept)}`);
}

/** One notebook's outcome: wall seconds over all attempts, and how many attempts failed. */
interface NotebookTime {
  name: string;
  seconds: number;
  ok: boolean;
  failedAttempts: number;
}

function printSummary(times: NotebookTime[]): void {
  const total = times.reduce((s, t) => s + t.seconds, 0);
  console.log('\nnotebook                                  seconds  result');
  for (const t of times) console.log(`${t.name.padEnd(40)} ${t.seconds.toFixed(1).padStart(8)}  ${t.ok ? (t.failedAttempts ? `ok on retry (${t.failedAttempts} failed)` : 'ok') : 'FAILED'}`);
  console.log(`${'total'.padEnd(40)} ${total.toFixed(1).padStart(8)}`);
}

/** Failure reports go to stdout so they stay in order with the progress lines above them. */
function say(text: string): void {
  console.log(text);
}

/** The last lines of an executor log. */
function logTail(log: string): string {
  return log.trimEnd().split('\n').slice(-LOG_TAIL_LINES).join('\n');
}

/** An executed copy, or null when none was written. */
function readExecuted(executed: string): NotebookJson | null {
  return fs.existsSync(executed) ? (JSON.parse(fs.readFileSync(executed, 'utf8')) as NotebookJson) : null;
}

/** The last outputs of one cell, one short line (where a cell that printed no error stopped). */
function lastOutputs(cell: NotebookCell | undefined, n = 4): string {
  const outs = (cell?.outputs ?? []).slice(-n);
  if (!outs.length) return '(none)';
  return outs
    .map((o) => (o.output_type === 'stream' ? `${o.name}: ${JSON.stringify(joinText(o.text).slice(-160))}` : o.output_type))
    .join(' | ');
}

/** What reportFailure needs to rerun a notebook through nbconvert. */
interface RerunContext {
  jupyter: string;
  baseArgs: string[];
  env: NodeJS.ProcessEnv;
  root: string;
  outDir: string;
}

async function reportFailure(name: string, file: string, first: RunResult, ctx: RerunContext): Promise<void> {
  const { jupyter, baseArgs, env, root, outDir } = ctx;
  const log = first.log;
  const executed = path.join(outDir, name);
  const isCellError = first.status === EXIT_CELL_ERROR || /CellExecutionError/.test(log);
  say(`\n✗ notebook ${path.relative(root, file)} failed.`);
  if (!isCellError) {
    const kind = first.status === EXIT_DEAD_KERNEL || /DeadKernelError/.test(log)
      ? 'the kernel died (crash or out of memory)'
      : first.status === EXIT_TIMEOUT || /timed out|TimeoutError/.test(log)
        ? 'a cell timed out (raise --timeout or KIT_NOTEBOOK_TIMEOUT)'
        : 'the notebook executor failed';
    say(`  ${kind}. Last lines of the executor's log (the kernel's own stderr included):`);
    say(indent(logTail(log)));
    if (fs.existsSync(executed)) say(`  partially executed notebook: ${path.relative(root, executed)}`);
    return;
  }
  const failingSource = failingSourceFromLog(log);
  // The executor wrote the partially executed notebook: the failing cell's own stderr is in it.
  let nb = first.status === EXIT_CELL_ERROR ? readExecuted(executed) : null;
  let failure: CellFailure | null = nb ? findFailure(nb, failingSource) : null;
  let rerun: RunResult | null = null;
  if (!failure) {
    // No notebook from the first run: rerun through nbconvert with --allow-errors (may not reproduce a timing-dependent failure).
    say('  no executed notebook from the first run; rerunning with nbconvert --allow-errors to read the message ...');
    rerun = await runNbconvert(jupyter, [...baseArgs, '--allow-errors', file], env, root);
    nb = rerun.status === 0 ? readExecuted(executed) : null;
    failure = nb ? findFailure(nb, failingSource) : null;
  }
  if (failure) {
    say(`  cell: code cell ${failure.codeCellNumber} (cell index ${failure.index})`);
    say('  source:');
    say(indent(failure.source, '    | '));
    say('  error:');
    say(indent(failure.message || '(the cell wrote no error text; see the executed notebook)'));
    if (!failure.message) {
      say(`  the cell's last outputs: ${lastOutputs(nb?.cells[failure.index])}`);
      say("  last lines of the executor's log (the kernel's own stderr included):");
      say(indent(logTail(log)));
    }
    const nameless = namelessDiagnostics(failure.message);
    if (nameless.length) {
      say('  tslab does not name the file of these type errors; checking src/ with tslab\'s compiler ...');
      const diags = tslabTypecheck(root).filter((d) => nameless.some((n) => n.line === d.line && n.col === d.col));
      if (diags.length) for (const d of diags) say(`    ${d.file}:${d.line}:${d.col} - ${d.message.split('\n')[0]}`);
      else say('    (not found in src/: the error is in the cell itself or in a file outside src/)');
      say('  note: tslab compiles with TypeScript 5.0.4 and WITHOUT strict mode; `npm run notebooks -- --typecheck` checks all of src/.');
    }
    if (/Maximum call stack size exceeded/.test(failure.message)) {
      for (const s of tslabShadowedImports(root)) {
        say(`  likely cause: ${s.file} imports '${s.id}', which tslab resolves to its sibling ${s.id}.ts; use 'node:${s.id}'.`);
      }
    }
    say(`  partially executed notebook: ${path.relative(root, executed)}`);
  } else {
    if (failingSource) {
      say('  source:');
      say(indent(failingSource, '    | '));
    }
    say(`  could not recover the message${rerun ? ' by rerunning' : ''}; last lines of the log:`);
    say(indent(logTail(rerun === null || rerun.status === 0 ? log : rerun.log)));
  }
}

if (require.main === module) {
  main().catch((e: unknown) => {
    say((e as Error).message ?? e);
    process.exit(1);
  });
}
