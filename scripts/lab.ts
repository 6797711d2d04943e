/**
 * `npm run lab`: the interactive front end for the kit's notebooks (Jupyter's classic Notebook 6, which
 * `npm run setup` installs from Debian as `jupyter-notebook`; JupyterLab is not packaged for Debian 12).
 *
 *   npm run lab                        # serve on 127.0.0.1, first free port from 8888; prints the URL
 *   npm run lab -- --port 9000         # that port or fail
 *   npm run lab -- --open              # also open a browser (off by default: often a headless machine)
 *   npm run lab -- --keep-outputs      # save notebooks with their outputs (default: outputs are stripped on save)
 *   npm run lab -- --figures figures   # where saveFigure writes (default build/figures; see below)
 *
 * What it sets up (all generated, under the gitignored build/lab/):
 *   - config/jupyter_notebook_config.py: bound to 127.0.0.1 only, a random token, `--allow-root` when run
 *     as root, the project root as the server root (the notebooks import ./src/...), opens on notebooks/,
 *     a pre-save hook that strips outputs, execution counts and transient metadata exactly as
 *     `npm run nb:clean` does (so autosave never dirties the committed notebooks), and checkpoints kept in
 *     build/lab/checkpoints/ instead of notebooks/.ipynb_checkpoints/.
 *   - jupyter/kernels/tslab: the kit's kernelspec (scripts/tslab-kernel.sh), first on JUPYTER_PATH.
 *   - environment of the kernels: KIT_FRONTEND=notebook and KIT_FRONTEND_ROOT=<project> (the display layer
 *     then sends interactive plotly figures that load plotly.js from this server, never a CDN), and
 *     KIT_FIGURES_DIR=<project>/build/figures unless you set it, so figures made while you work do not
 *     overwrite the committed gallery in figures/ (`npm run notebooks` still writes there on purpose).
 * Ctrl-C (or SIGTERM) stops the server and its kernels and exits 0.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as http from 'http';
import * as net from 'net';
import * as path from 'path';
import { spawn, spawnSync, ChildProcess } from 'child_process';
import { atomicWriteFile, projectRoot } from '../src/utils/fs';
import { plotlyBundlePath } from '../src/plotting/render';
import { writeKernelSpec } from './run_notebooks';
import {
  TRANSIENT_CELL_METADATA,
  TRANSIENT_LANGUAGE_INFO,
  TRANSIENT_NOTEBOOK_METADATA,
} from './clean_notebooks';

/** First port tried when none is given. */
export const DEFAULT_PORT = 8888;
/** How many ports after DEFAULT_PORT are tried. */
const PORT_TRIES = 20;
/** Max seconds to wait for the server to answer after it starts. */
const START_TIMEOUT_S = 90;
/** Max seconds to wait for the server (and its kernels) to exit after SIGTERM before SIGKILL. */
const STOP_TIMEOUT_S = 20;
/** Only interface the server binds. */
export const LAB_HOST = '127.0.0.1';

export interface LabOptions {
  /** Port (the server fails if it is taken); default: first free from DEFAULT_PORT. */
  port?: number;
  /** Keep outputs when saving notebooks (default false: stripped as nb:clean does). */
  keepOutputs?: boolean;
  /** saveFigure's folder for the kernels (default: KIT_FIGURES_DIR, else build/figures). */
  figuresDir?: string;
  /** Let Jupyter open a browser. */
  open?: boolean;
  /** Token (default: 24 random bytes, hex). */
  token?: string;
  /** Folder for the generated config, kernelspec, runtime files and checkpoints (default build/lab). */
  labDir?: string;
  /** Extra environment for the server and its kernels. */
  env?: NodeJS.ProcessEnv;
  /** Where the server's log goes (default: this process's stderr). */
  log?: (chunk: string) => void;
}

export interface RunningLab {
  /** http://127.0.0.1:<port>/ */
  baseUrl: string;
  port: number;
  token: string;
  /** The URL to open: the notebooks folder, with the token. */
  url: string;
  /** URL (with token) of one notebook, by its path relative to the project root. */
  notebookUrl(relPath: string): string;
  child: ChildProcess;
  /** Stop the server and its kernels (SIGTERM, then SIGKILL after STOP_TIMEOUT_S). */
  stop(): Promise<void>;
  /** Resolves with the exit code when the server exits. */
  exited: Promise<number | null>;
}

/**
 * The classic Notebook server executable: $JUPYTER_NOTEBOOK, /usr/bin/jupyter-notebook, then
 * jupyter-notebook on PATH; null if none answers `--version`.
 */
export function findNotebookServer(): string | null {
  const works = (c: string) => fs.existsSync(c) && spawnSync(c, ['--version'], { encoding: 'utf8', timeout: 60_000 }).status === 0;
  if (process.env.JUPYTER_NOTEBOOK) {
    if (works(process.env.JUPYTER_NOTEBOOK)) return process.env.JUPYTER_NOTEBOOK;
    throw new Error(`JUPYTER_NOTEBOOK=${process.env.JUPYTER_NOTEBOOK} cannot run \`--version\`; fix or unset it`);
  }
  const candidates = ['/usr/bin/jupyter-notebook'];
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) if (dir) candidates.push(path.join(dir, 'jupyter-notebook'));
  return candidates.find(works) ?? null;
}

const INSTALL_HELP = [
  'the Jupyter Notebook server (jupyter-notebook) was not found (tried $JUPYTER_NOTEBOOK, /usr/bin/jupyter-notebook, PATH).',
  'Install it:',
  '  Debian/Ubuntu: sudo apt-get install -y --no-install-recommends jupyter-notebook   (or `npm run setup` as root)',
  '  elsewhere:     pip install "notebook<7"   (then set JUPYTER_NOTEBOOK=/path/to/jupyter-notebook if not on PATH)',
].join('\n');

function pyStr(s: string): string {
  return JSON.stringify(s); // a JSON string literal is a valid Python string literal for these paths
}

/**
 * The generated jupyter_notebook_config.py. The pre-save hook mirrors scripts/clean_notebooks.ts
 * (same transient keys, ids `cell-<i>` where missing or repeated) so a notebook saved from the front
 * end is byte-identical to what `npm run nb:clean` writes.
 */
export function notebookConfig(o: { root: string; token: string; checkpoints: string; keepOutputs: boolean; allowRoot: boolean; open: boolean }): string {
  const list = (xs: readonly string[]) => `[${xs.map(pyStr).join(', ')}]`;
  return `# Generated by scripts/lab.ts (npm run lab) — do not edit; it is rewritten on every start.
c = get_config()  # noqa
c.NotebookApp.ip = ${pyStr(LAB_HOST)}
c.NotebookApp.token = ${pyStr(o.token)}
c.NotebookApp.password = ''
c.NotebookApp.allow_remote_access = False
c.NotebookApp.allow_root = ${o.allowRoot ? 'True' : 'False'}
c.NotebookApp.open_browser = ${o.open ? 'True' : 'False'}
c.NotebookApp.notebook_dir = ${pyStr(o.root)}
c.NotebookApp.default_url = '/tree/notebooks'
c.NotebookApp.port_retries = 0
c.NotebookApp.quit_button = True
c.FileCheckpoints.checkpoint_dir = ${pyStr(o.checkpoints)}

KEEP_OUTPUTS = ${o.keepOutputs ? 'True' : 'False'}
TRANSIENT_CELL_METADATA = ${list(TRANSIENT_CELL_METADATA)}
TRANSIENT_NOTEBOOK_METADATA = ${list(TRANSIENT_NOTEBOOK_METADATA)}
TRANSIENT_LANGUAGE_INFO = ${list(TRANSIENT_LANGUAGE_INFO)}


def kit_strip_outputs(model, **kwargs):
    """Strip outputs on save, as npm run nb:clean does (scripts/clean_notebooks.ts)."""
    if KEEP_OUTPUTS or model.get('type') != 'notebook':
        return
    nb = model['content']
    ids_wanted = nb.get('nbformat', 0) > 4 or (nb.get('nbformat') == 4 and nb.get('nbformat_minor', 0) >= 5)
    seen = set()
    for i, cell in enumerate(nb.get('cells', [])):
        meta = cell.get('metadata') or {}
        for k in TRANSIENT_CELL_METADATA:
            meta.pop(k, None)
        cell['metadata'] = meta
        if cell.get('cell_type') == 'code':
            cell['outputs'] = []
            cell['execution_count'] = None
        else:
            cell.pop('outputs', None)
            cell.pop('execution_count', None)
        if ids_wanted:
            cid = cell.get('id') if isinstance(cell.get('id'), str) else ''
            if not cid or cid in seen:
                cid = 'cell-%d' % i
            while cid in seen:
                cid += '-x'
            cell['id'] = cid
            seen.add(cid)
    meta = nb.get('metadata') or {}
    for k in TRANSIENT_NOTEBOOK_METADATA:
        meta.pop(k, None)
    li = meta.get('language_info')
    if isinstance(li, dict):
        for k in TRANSIENT_LANGUAGE_INFO:
            li.pop(k, None)
    nb['metadata'] = meta


c.FileContentsManager.pre_save_hook = kit_strip_outputs
`;
}

/** True if nothing listens on 127.0.0.1:port. */
function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, LAB_HOST, () => srv.close(() => resolve(true)));
  });
}

async function pickPort(wanted?: number): Promise<number> {
  if (wanted !== undefined) {
    if (!(Number.isInteger(wanted) && wanted > 0 && wanted < 65536)) throw new Error(`lab: --port must be 1..65535, got ${wanted}`);
    if (!(await portFree(wanted))) throw new Error(`lab: port ${wanted} on ${LAB_HOST} is in use`);
    return wanted;
  }
  for (let p = DEFAULT_PORT; p < DEFAULT_PORT + PORT_TRIES; p++) if (await portFree(p)) return p;
  throw new Error(`lab: no free port in ${DEFAULT_PORT}..${DEFAULT_PORT + PORT_TRIES - 1} on ${LAB_HOST}; pass --port`);
}

function httpStatus(url: string): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get(url, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => resolve(0));
    req.setTimeout(5000, () => {
      req.destroy();
      resolve(0);
    });
  });
}

/**
 * The server-root-relative path of the plotly.js bundle the notebook page loads (served by Jupyter at
 * `<base>/files/<path>`). Made before the server starts, so the first figure does not wait for it.
 */
export function servedPlotlyPath(root = projectRoot()): string {
  return path.relative(root, plotlyBundlePath());
}

/** Write the config and kernelspec, start the server and wait until it answers. */
export async function startLab(opts: LabOptions = {}): Promise<RunningLab> {
  const server = findNotebookServer();
  if (!server) throw new Error(INSTALL_HELP);
  const root = projectRoot();
  const labDir = opts.labDir ?? path.join(root, 'build', 'lab');
  const configDir = path.join(labDir, 'config');
  const jupyterDir = path.join(labDir, 'jupyter');
  const token = opts.token ?? crypto.randomBytes(24).toString('hex');
  const port = await pickPort(opts.port);
  const allowRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  atomicWriteFile(
    path.join(configDir, 'jupyter_notebook_config.py'),
    notebookConfig({ root, token, checkpoints: path.join(labDir, 'checkpoints'), keepOutputs: !!opts.keepOutputs, allowRoot, open: !!opts.open }),
  );
  writeKernelSpec(jupyterDir, root);
  servedPlotlyPath(root);
  const figures = opts.figuresDir ?? process.env.KIT_FIGURES_DIR ?? path.join(root, 'build', 'figures');
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ...opts.env,
    JUPYTER_CONFIG_DIR: configDir,
    JUPYTER_PATH: [jupyterDir, process.env.JUPYTER_PATH].filter(Boolean).join(path.delimiter),
    JUPYTER_RUNTIME_DIR: path.join(labDir, 'runtime'),
    KIT_FRONTEND: 'notebook',
    KIT_FRONTEND_ROOT: root,
    KIT_FIGURES_DIR: path.resolve(root, figures),
  };
  const log = opts.log ?? ((s: string) => process.stderr.write(s));
  // stdin is not a terminal, so on Ctrl-C the server shuts down at once (no "Shutdown this notebook
  // server (y/[n])?" prompt) and stops its kernels (which jupyter_client starts in their own sessions).
  // It stays in our process group, so closing the terminal ends it too.
  const child = spawn(server, [`--port=${port}`], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  // If this process exits without stop() (an uncaught error, a test that failed), do not leave the server running.
  const killOnExit = () => child.kill('SIGTERM');
  process.on('exit', killOnExit);
  void exited.then(() => process.off('exit', killOnExit));
  let output = '';
  const onData = (b: Buffer) => {
    const s = b.toString('utf8');
    if (output.length < 20_000) output += s;
    log(s.split(token).join('<token>'));
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  let exitCode: number | null | undefined;
  void exited.then((c) => { exitCode = c; });
  const baseUrl = `http://${LAB_HOST}:${port}/`;
  const t0 = Date.now();
  for (;;) {
    if (exitCode !== undefined) throw new Error(`lab: ${server} exited with code ${exitCode} before serving:\n${output.split(token).join('<token>')}`);
    if ((await httpStatus(`${baseUrl}api/status?token=${token}`)) === 200) break;
    if (Date.now() - t0 > START_TIMEOUT_S * 1000) {
      child.kill('SIGKILL');
      throw new Error(`lab: the server did not answer on ${baseUrl} within ${START_TIMEOUT_S} s`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  let stopping: Promise<void> | null = null;
  const stop = (): Promise<void> => {
    if (!stopping) {
      stopping = (async () => {
        if (exitCode !== undefined) return;
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_S * 1000);
        await exited;
        clearTimeout(timer);
      })();
    }
    return stopping;
  };
  const q = `?token=${token}`;
  return {
    baseUrl,
    port,
    token,
    url: `${baseUrl}tree/notebooks${q}`,
    notebookUrl: (rel: string) => `${baseUrl}notebooks/${rel.split(path.sep).map(encodeURIComponent).join('/')}${q}`,
    child,
    stop,
    exited,
  };
}

function parseArgs(argv: string[]): LabOptions {
  const o: LabOptions = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`lab: ${a} needs a value`);
      return v;
    };
    if (a === '--port') o.port = Number(value());
    else if (a === '--keep-outputs') o.keepOutputs = true;
    else if (a === '--figures') o.figuresDir = value();
    else if (a === '--open') o.open = true;
    else if (a === '--help' || a === '-h') {
      console.log(fs.readFileSync(__filename, 'utf8').split('*/')[0]);
      process.exit(0);
    } else throw new Error(`lab: unknown option ${a} (see --help)`);
  }
  return o;
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const root = projectRoot();
  const lab = await startLab(opts);
  const figures = opts.figuresDir ?? process.env.KIT_FIGURES_DIR ?? path.join('build', 'figures');
  console.log(
    [
      '',
      `PriorCLIP Kit notebooks (Jupyter Notebook, kernel "TypeScript (PriorCLIP Kit)") on ${LAB_HOST} only:`,
      `  ${lab.url}`,
      `  figures from saveFigure → ${path.relative(root, path.resolve(root, figures)) || figures}/ (the committed gallery figures/ is rebuilt by \`npm run notebooks\`)`,
      opts.keepOutputs
        ? '  notebooks are saved WITH outputs (--keep-outputs): run `npm run nb:clean` before committing'
        : '  notebooks are saved without outputs (as `npm run nb:clean` writes them); executed copies: `npm run notebooks` → build/notebooks/',
      '  remote machine: ssh -L ' + `${lab.port}:${LAB_HOST}:${lab.port}` + ' <host>, then open the URL locally',
      'Ctrl-C stops the server and its kernels.',
      '',
    ].join('\n'),
  );
  let signalled = false;
  const onSignal = () => {
    if (signalled) return;
    signalled = true;
    console.log('\nstopping the notebook server and its kernels ...');
    void lab.stop().then(() => {
      console.log('stopped.');
      process.exit(0);
    });
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);
  const code = await lab.exited;
  if (!signalled) {
    console.log(`the notebook server exited (code ${code})`);
    process.exit(code ?? 1);
  }
}

if (require.main === module) {
  main().catch((e: unknown) => {
    console.error((e as Error).message ?? e);
    process.exit(1);
  });
}
