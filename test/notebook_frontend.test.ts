/**
 * The pieces of the interactive front end that need no browser: interactive-mode selection, the
 * interactive figure HTML (no CDN, PNG kept, script-safe JSON), the generated Jupyter config and its
 * pre-save hook (run in Debian's Python + nbformat: it must write exactly what `npm run nb:clean`
 * writes), and the CLIP vocabulary lookup in Python package folders.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { interactiveFigureHtml, interactiveMode, plotlyServedPath } from '../src/notebook/display';
import { notebookConfig, LAB_HOST } from '../scripts/lab';
import { cleanNotebookText } from '../scripts/clean_notebooks';
import { CLIP_BPE_FILE, defaultBpePath, findClipBpe, requireClipBpe } from '../src/data/clip_tokenizer';
import { projectRoot } from '../src/utils/fs';

test('interactive mode: html under npm run lab, off headless, KIT_INTERACTIVE overrides, bad values are errors', () => {
  assert.equal(interactiveMode({}), 'off');
  assert.equal(interactiveMode({ KIT_FRONTEND: 'notebook' }), 'html');
  assert.equal(interactiveMode({ KIT_FRONTEND: 'notebook', KIT_INTERACTIVE: '0' }), 'off');
  assert.equal(interactiveMode({ KIT_INTERACTIVE: '1' }), 'html');
  assert.equal(interactiveMode({ KIT_INTERACTIVE: 'mime' }), 'mime');
  assert.throws(() => interactiveMode({ KIT_INTERACTIVE: 'yes please' }), /KIT_INTERACTIVE=yes please: expected/);
});

test('interactive figure HTML: PNG inside, plotly from the server (never a URL with a host), JSON safe in <script>', () => {
  const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 1, 2, 3]);
  const fig = { data: [{ type: 'scatter', x: [1, 2], y: [3, 4], name: '</script><b>x' }], layout: { title: { text: 'a\u2028b' } } };
  const served = plotlyServedPath();
  assert.match(served, /^files\/[^:]+\.js$/);
  assert.ok(fs.existsSync(path.join(projectRoot(), decodeURIComponent(served.slice('files/'.length)))), `${served} is not a file under the project root`);
  const html = interactiveFigureHtml(fig, png, { width: 640, height: 360, plotlyPath: served });
  assert.ok(html.includes(`data:image/png;base64,${Buffer.from(png).toString('base64')}`), 'the PNG is the fallback');
  assert.ok(!/https?:\/\//.test(html), 'no absolute URL (CDN)');
  assert.ok(!html.includes('</script><b>'), 'trace names cannot close the script element');
  const json = /<script type="application\/json" id="[^"]+">([^<]*)<\/script>/.exec(html);
  assert.ok(json, 'embedded figure JSON');
  const parsed = JSON.parse(json[1]) as { data: { name: string }[]; layout: { width: number; height: number; title: { text: string } } };
  assert.equal(parsed.data[0].name, '</script><b>x');
  assert.equal(parsed.layout.title.text, 'a\u2028b');
  assert.deepEqual([parsed.layout.width, parsed.layout.height], [640, 360]);
  const ids = html.match(/id="(kit-fig-[^"]+)"/g) ?? [];
  assert.notEqual(ids[0], interactiveFigureHtml(fig, png, { width: 1, height: 1, plotlyPath: served }).match(/id="(kit-fig-[^"]+)"/)?.[0], 'ids are unique');
});

test('Jupyter config: 127.0.0.1 only, token, root handled, and a pre-save hook that writes what nb:clean writes', (t) => {
  const cfg = notebookConfig({ root: '/x/y', token: 'tok"en', checkpoints: '/x/y/build/lab/checkpoints', keepOutputs: false, allowRoot: true, open: false });
  assert.match(cfg, new RegExp(`c\\.NotebookApp\\.ip = "${LAB_HOST.replace(/\./g, '\\.')}"`));
  assert.match(cfg, /c\.NotebookApp\.token = "tok\\"en"/);
  assert.match(cfg, /c\.NotebookApp\.allow_root = True/);
  assert.match(cfg, /c\.NotebookApp\.allow_remote_access = False/);
  assert.match(cfg, /c\.FileContentsManager\.pre_save_hook = kit_strip_outputs/);

  const py = '/usr/bin/python3';
  if (!fs.existsSync(py) || spawnSync(py, ['-c', 'import nbformat'], { encoding: 'utf8' }).status !== 0) {
    t.skip('no /usr/bin/python3 with nbformat (npm run setup installs it)');
    return;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kit-lab-hook-'));
  try {
    const original = fs.readFileSync(path.join(projectRoot(), 'notebooks', '00_smoke.ipynb'), 'utf8');
    // As the front end sends it after a run: outputs, counts, front-end metadata, a new cell without id.
    const nb = JSON.parse(original) as { cells: Record<string, unknown>[]; metadata: Record<string, unknown> };
    const code = nb.cells.find((c) => c.cell_type === 'code')!;
    code.outputs = [{ output_type: 'display_data', data: { 'image/png': 'iVBORw0KGgo=', 'text/plain': 'x' }, metadata: {} }];
    code.execution_count = 3;
    code.metadata = { trusted: true, scrolled: false, collapsed: false };
    (nb.metadata.language_info as Record<string, unknown>).version = '5.0.4';
    nb.cells.push({ cell_type: 'code', metadata: {}, source: 'const z = 1;', outputs: [], execution_count: null });
    fs.writeFileSync(path.join(dir, 'in.json'), JSON.stringify(nb));
    fs.writeFileSync(path.join(dir, 'config.py'), cfg.replace('c = get_config()  # noqa', 'class _C:\n    def __getattr__(self, k):\n        return self\n    def __setattr__(self, k, v):\n        pass\nc = _C()'));
    const script = [
      'import json, sys, nbformat',
      `sys.path.insert(0, ${JSON.stringify(dir)})`,
      'import config',
      `model = {"type": "notebook", "content": nbformat.from_dict(json.load(open(${JSON.stringify(path.join(dir, 'in.json'))})))}`,
      'config.kit_strip_outputs(model=model, path="x.ipynb", contents_manager=None)',
      `nbformat.write(model["content"], ${JSON.stringify(path.join(dir, 'out.ipynb'))}, version=nbformat.NO_CONVERT)`,
    ].join('\n');
    const r = spawnSync(py, ['-c', script], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const saved = fs.readFileSync(path.join(dir, 'out.ipynb'), 'utf8');
    assert.equal(cleanNotebookText(saved), saved, 'what the hook saves is nb:clean-clean');
    const back = JSON.parse(saved) as { cells: { id: string }[] };
    assert.equal(back.cells[back.cells.length - 1].id, `cell-${back.cells.length - 1}`, 'new cells get nb:clean ids');
    back.cells.pop();
    assert.equal(JSON.stringify(back, null, 1), JSON.stringify(JSON.parse(original), null, 1), 'the rest is the committed notebook');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('CLIP vocabulary: found in an installed open_clip package; the error says where it looked', () => {
  const venv = fs.mkdtempSync(path.join(os.tmpdir(), 'kit-venv-'));
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'kit-home-'));
  try {
    const pkg = path.join(venv, 'lib', 'python3.11', 'site-packages', 'open_clip');
    fs.mkdirSync(pkg, { recursive: true });
    const env = { HOME: home, VIRTUAL_ENV: venv, PATH: process.env.PATH };
    const local = fs.existsSync(defaultBpePath());
    if (!local) {
      assert.throws(() => requireClipBpe({ ...env }), (e: Error) =>
        e.message.includes(`${CLIP_BPE_FILE} was not found`) && e.message.includes(path.dirname(pkg)) && /python3/.test(e.message));
    }
    fs.writeFileSync(path.join(pkg, CLIP_BPE_FILE), 'stub');
    const r = findClipBpe(env);
    assert.equal(r.path, local ? defaultBpePath() : path.join(pkg, CLIP_BPE_FILE));
    assert.ok(r.tried.length >= 1);
    assert.throws(() => findClipBpe({ ...env, KIT_CLIP_BPE: path.join(home, 'nope.gz') }), /KIT_CLIP_BPE=.*no such file/);
  } finally {
    fs.rmSync(venv, { recursive: true, force: true });
    fs.rmSync(home, { recursive: true, force: true });
  }
});
