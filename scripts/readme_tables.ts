/**
 * `npm run readme:tables [-- --check]`: the README's result tables are copies of the suite files, never
 * typed by hand. Each block
 *
 *   <!-- table: figures/ablations_paper.md -->
 *   …
 *   <!-- /table -->
 *
 * is replaced by the current content of the named file (written by `npm run ablate`). `--check` exits 1
 * naming every block that differs from its file (the test suite runs it), so a regenerated suite can never
 * leave a stale table in the README.
 */
import * as fs from 'fs';
import * as path from 'path';
import { atomicWriteFile, projectRoot } from '../src/utils/fs';

const BLOCK = /<!-- table: ([^ ]+) -->\n([\s\S]*?)<!-- \/table -->/g;

/** The README with every table block filled from its file, and the blocks that changed. */
export function fillTables(readme: string, root: string): { text: string; stale: string[] } {
  const stale: string[] = [];
  const text = readme.replace(BLOCK, (_m, file: string, body: string) => {
    const p = path.join(root, file);
    if (!fs.existsSync(p)) throw new Error(`README table block names ${file}, which does not exist (run the suite that writes it)`);
    const now = fs.readFileSync(p, 'utf8');
    if (now !== body) stale.push(file);
    return `<!-- table: ${file} -->\n${now}<!-- /table -->`;
  });
  return { text, stale };
}

function main(): void {
  const root = projectRoot();
  const file = path.join(root, 'README.md');
  const { text, stale } = fillTables(fs.readFileSync(file, 'utf8'), root);
  if (process.argv.includes('--check')) {
    if (stale.length) {
      process.stderr.write(`README.md: table blocks differ from their files: ${stale.join(', ')} (run npm run readme:tables)\n`);
      process.exit(1);
    }
    return;
  }
  atomicWriteFile(file, text);
  process.stdout.write(stale.length ? `README.md: refreshed ${stale.join(', ')}\n` : 'README.md: tables already current\n');
}

if (require.main === module) main();
