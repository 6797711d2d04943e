/**
 * `npm run data -- <command>`:
 *   check <annotation file|shard dir> [--images <dir>] [--split train|val|test] [--no-images] [--json]
 *       Detects the format, reads every record, opens every image, prints counts per split and class;
 *       exits 1 naming the first bad file/record and how many more there are.
 *   generate [--config <json file>] [--data-root <dir>] [--force]
 *       Generates (or reuses) the embedded dataset (`generateEmbeddedDataset`, DEFAULT_EMBEDDED_DATA
 *       overridden by the JSON file's keys) and prints its folder, counts and checksum.
 *   export <annotation file|shard dir> --to karpathy|webdataset --out <dir> [--images <dir>]
 *          [--split s]… [--mode pairs|coarse] [--per-shard N]
 *       Writes a loaded dataset as Karpathy JSON + images, or as RS5M-layout webdataset shards.
 * Exit codes: 0 ok, 1 bad data, 2 usage error.
 */
import * as path from 'path';
import { checkDataset, formatCheckReport } from '../data/check';
import { loadDataset, parseSplit } from '../data/loaders/index';
import { Split } from '../data/types';
import { mergeConfig } from '../config/resolve';
import { readJson } from '../utils/fs';
import { createProgress, Progress } from '../utils/progress';
import { DEFAULT_EMBEDDED_DATA, EmbeddedDataConfig, generateEmbeddedDataset } from '../data/embedded/index';
import { exportKarpathy, exportWebdataset, WebdatasetExportMode } from '../data/export';

const USAGE = [
  'usage: npm run data -- check <annotation file | shard dir> [--images <dir>] [--split train|val|test] [--no-images] [--json]',
  '       npm run data -- generate [--config <json file>] [--data-root <dir>] [--force]',
  '       npm run data -- export <annotation file | shard dir> --to karpathy|webdataset --out <dir> [--images <dir>] [--split s]... [--mode pairs|coarse] [--per-shard N]',
].join('\n');

/** A usage error (exit code 2). */
class UsageError extends Error {}

interface Args { positional: string[]; flags: Map<string, string[]>; switches: Set<string> }

function parseArgs(argv: string[], valued: readonly string[], switches: readonly string[]): Args {
  const out: Args = { positional: [], flags: new Map(), switches: new Set() };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (valued.includes(a)) {
      const v = argv[++i];
      if (v === undefined) throw new UsageError(`${a} needs a value`);
      out.flags.set(a, [...(out.flags.get(a) ?? []), v]);
    } else if (switches.includes(a)) out.switches.add(a);
    else if (a.startsWith('--')) throw new UsageError(`unknown option ${a}`);
    else out.positional.push(a);
  }
  return out;
}

function one(args: Args, flag: string): string | undefined {
  const v = args.flags.get(flag);
  if (v !== undefined && v.length > 1) throw new UsageError(`${flag} given ${v.length} times`);
  return v?.[0];
}

function splitFlag(args: Args): Split | undefined {
  const s = one(args, '--split');
  if (s === undefined) return undefined;
  try { return parseSplit(s, '--split'); } catch (e) { throw new UsageError((e as Error).message); }
}

async function check(argv: string[]): Promise<number> {
  const args = parseArgs(argv, ['--images', '--split'], ['--no-images', '--json']);
  if (args.positional.length !== 1) throw new UsageError('check needs exactly one annotation file');
  let bar: Progress | null = null;
  const onImage = (done: number, total: number): void => {
    if (bar === null) bar = createProgress('opening images', total);
    bar.tick(1);
    if (done === total) bar.done();
  };
  const report = await checkDataset(args.positional[0], { imagesRoot: one(args, '--images'), split: splitFlag(args), openImages: !args.switches.has('--no-images'), onImage });
  if (args.switches.has('--json')) {
    const { dataset, ...plain } = report;
    process.stdout.write(JSON.stringify({ ...plain, name: dataset?.name ?? null, classes: dataset?.classes ?? [] }, null, 2) + '\n');
  } else {
    for (const l of formatCheckReport(report)) process.stdout.write(l + '\n');
  }
  return report.ok ? 0 : 1;
}

async function generate(argv: string[]): Promise<number> {
  const args = parseArgs(argv, ['--config', '--data-root'], ['--force']);
  if (args.positional.length > 0) throw new UsageError(`generate takes no positional arguments (got ${args.positional.join(' ')})`);
  const file = one(args, '--config');
  const cfg = mergeConfig<EmbeddedDataConfig>(DEFAULT_EMBEDDED_DATA, file === undefined ? undefined : readJson(file), file ?? 'defaults');
  const dataRoot = one(args, '--data-root');
  const r = await generateEmbeddedDataset(cfg, { force: args.switches.has('--force'), dataRoot: dataRoot === undefined ? undefined : path.resolve(dataRoot) });
  const n = (s: Split): number => r.dataset.images.filter((x) => x.split === s).length;
  process.stdout.write(`${r.dir}\n  ${r.dataset.images.length} images (train ${n('train')} / val ${n('val')} / test ${n('test')}), ` +
    `${r.dataset.classes.length} classes\n  annotation ${r.annotationFile}\n  checksum ${r.checksum}\n`);
  return 0;
}

async function exportCmd(argv: string[]): Promise<number> {
  const args = parseArgs(argv, ['--to', '--out', '--images', '--split', '--mode', '--per-shard'], []);
  if (args.positional.length !== 1) throw new UsageError('export needs exactly one annotation file');
  const to = one(args, '--to');
  const out = one(args, '--out');
  if (out === undefined) throw new UsageError('export needs --out <dir>');
  const splits = (args.flags.get('--split') ?? []).map((s) => { try { return parseSplit(s, '--split'); } catch (e) { throw new UsageError((e as Error).message); } });
  const ds = await loadDataset(args.positional[0], { imagesRoot: one(args, '--images') });
  if (to === 'karpathy') {
    const r = exportKarpathy(ds, { outDir: path.resolve(out), splits: splits.length > 0 ? splits : undefined });
    process.stdout.write(`${r.annotationFile}: ${r.images} images, ${r.captions} captions (images in ${r.imagesDir})\n`);
    return 0;
  }
  if (to === 'webdataset') {
    const mode = (one(args, '--mode') ?? 'pairs') as WebdatasetExportMode;
    if (mode !== 'pairs' && mode !== 'coarse') throw new UsageError(`--mode must be pairs or coarse, got ${mode}`);
    const per = Number(one(args, '--per-shard') ?? '1000');
    if (!(Number.isInteger(per) && per > 0)) throw new UsageError(`--per-shard must be a positive integer`);
    const r = exportWebdataset(ds, { outDir: path.resolve(out), mode, samplesPerShard: per, splits: splits.length > 0 ? splits : undefined });
    for (const s of r.shards) process.stdout.write(`${s.file}: ${s.split}, ${s.samples} samples\n`);
    process.stdout.write(`manifest ${r.manifestFile}\n`);
    return 0;
  }
  throw new UsageError(`export needs --to karpathy|webdataset${to !== undefined ? ` (got ${to})` : ''}`);
}

/** Runs the CLI; returns the exit code (0 ok, 1 bad data, 2 usage). */
export async function runDataCli(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    if (cmd === 'check') return await check(rest);
    if (cmd === 'generate') return await generate(rest);
    if (cmd === 'export') return await exportCmd(rest);
    if (cmd === undefined || cmd === '--help' || cmd === '-h') { process.stdout.write(`${USAGE}\n`); return 0; }
    throw new UsageError(`unknown command ${cmd}`);
  } catch (e) {
    if (e instanceof UsageError) { process.stderr.write(`${e.message}\n${USAGE}\n`); return 2; }
    process.stderr.write(`${(e as Error).message}\n`);
    return 1;
  }
}

if (require.main === module) {
  runDataCli(process.argv.slice(2)).then((code) => { process.exitCode = code; });
}
