/**
 * `npm run parity -- <fixture-dir> [--verbose] [--json report.json] [--backend wasm|cpu]`
 *
 * Runs every parity case found in the directory (each `<case>.safetensors` + `<case>.json`, key-list
 * JSONs, attached `.pt` checkpoints), prints one line per case with the max abs / rel error and
 * PASS/FAIL at the fixture's tolerances, and exits non-zero if any case fails, errors, is not
 * implemented, or if the directory holds no case. The backend comes from `--backend` or `KIT_BACKEND`.
 */
import * as path from 'path';
import { initBackend } from '../backends/backend';
import { atomicWriteJson } from '../utils/fs';
import { discoverCases } from '../parity/discover';
import { formatCaseLine, formatRows, runCase } from '../parity/run';
import { CaseReport } from '../parity/types';

function usage(): never {
  console.error('usage: npm run parity -- <fixture-dir> [--verbose] [--json <report.json>] [--backend wasm|cpu|auto]');
  process.exit(2);
}

async function main(argv: string[]): Promise<number> {
  let dir: string | null = null;
  let verbose = false;
  let jsonOut: string | null = null;
  let backend: string | undefined = process.env.KIT_BACKEND;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--verbose' || a === '-v') verbose = true;
    else if (a === '--json') jsonOut = argv[++i] ?? usage();
    else if (a === '--backend') backend = argv[++i] ?? usage();
    else if (a === '--help' || a === '-h') usage();
    else if (a.startsWith('-')) usage();
    else if (dir === null) dir = a;
    else usage();
  }
  if (dir === null) usage();
  const info = await initBackend(backend);
  const cases = discoverCases(path.resolve(dir));
  console.log(`parity: ${cases.length} case(s) in ${path.resolve(dir)} on backend ${info.name}`);
  if (cases.length === 0) {
    console.log('FAIL: no parity cases found (expected <case>.safetensors + <case>.json files)');
    return 1;
  }
  const reports: CaseReport[] = [];
  for (const c of cases) {
    const r = runCase(c);
    reports.push(r);
    console.log(formatCaseLine(r));
    for (const l of formatRows(r, verbose)) console.log(l);
  }
  const failed = reports.filter((r) => r.status !== 'PASS');
  console.log(`parity: ${reports.length - failed.length}/${reports.length} passed${failed.length ? `; failed: ${failed.map((r) => r.name).join(', ')}` : ''}`);
  if (jsonOut) atomicWriteJson(path.resolve(jsonOut), { dir: path.resolve(dir), backend: info.name, reports });
  return failed.length === 0 ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: Error) => {
    console.error(`parity: ${e.message}`);
    process.exit(1);
  },
);
