/** The README's result tables are the suite files' own text (scripts/readme_tables.ts). */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { fillTables } from '../scripts/readme_tables';
import { projectRoot } from '../src/utils/fs';

test('fillTables replaces each block by its file and names the stale ones', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'kit-readme-'));
  try {
    fs.mkdirSync(path.join(root, 'figures'));
    fs.writeFileSync(path.join(root, 'figures', 'a.md'), '| x |\n|---|\n| 1 |\n');
    const readme = 'intro\n<!-- table: figures/a.md -->\n| x |\n|---|\n| 0 |\n<!-- /table -->\noutro\n';
    const out = fillTables(readme, root);
    assert.deepEqual(out.stale, ['figures/a.md']);
    assert.equal(out.text, 'intro\n<!-- table: figures/a.md -->\n| x |\n|---|\n| 1 |\n<!-- /table -->\noutro\n');
    assert.deepEqual(fillTables(out.text, root).stale, []);
    assert.throws(() => fillTables('<!-- table: figures/missing.md -->\n<!-- /table -->', root), /figures\/missing\.md, which does not exist/);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test("the README's table blocks equal the committed suite files", () => {
  const root = projectRoot();
  const { stale } = fillTables(fs.readFileSync(path.join(root, 'README.md'), 'utf8'), root);
  assert.deepEqual(stale, [], 'run npm run readme:tables after a suite');
});
