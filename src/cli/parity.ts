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
import { ArgSpec, flag, parseCommandLine, runCli, str } from '../utils/cli_args';

const USAGE = 'usage: npm run parity -- <fixture-dir> [--verbose] [--json <report.json>] [--backend wasm|cpu|auto]';

const SPEC: ArgSpec = { verbose: 'boolean', json: 'string', backend: 'string' };

async function main(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const cl = parseCommandLine(argv.map((a) => (a === '-v' ? '--verbose' : a)), SPEC, 'parity', { min: 1, max: 1 });
  const dir = cl.positional[0];
  const verbose = flag(cl.flags, 'verbose') === true;
  const jsonOut = str(cl.flags, 'json') ?? null;
  const cases = discoverCases(path.resolve(dir));
  const info = await initBackend(str(cl.flags, 'backend') ?? process.env.KIT_BACKEND);
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

runCli(() => main(process.argv.slice(2)), USAGE);
