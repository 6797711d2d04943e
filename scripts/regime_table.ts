/**
 * `npm run regimes`: the v1-against-v2 table (src/training/regime_comparison.ts) from the finished runs
 * and the committed result records, written to figures/regimes_v1_v2.md (the README's block copies it:
 * `npm run readme:tables`). Trains nothing.
 */
import * as path from 'path';
import { regimeComparisonMarkdown } from '../src/training/regime_comparison';
import { atomicWriteFile, projectRoot } from '../src/utils/fs';

const file = path.join(projectRoot(), 'figures', 'regimes_v1_v2.md');
const md = regimeComparisonMarkdown();
atomicWriteFile(file, md);
process.stdout.write(md + `\n→ ${path.relative(projectRoot(), file)}\n`);
