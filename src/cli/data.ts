/**
 * `npm run data -- <command>`:
 *   check <annotation file|shard dir> [--images <dir>] [--split train|val|test] [--no-images] [--json]
 *       Detects the format, reads every record, opens every image, prints counts per split and class;
 *       exits 1 naming the first bad file/record and how many more there are.
 *   generate [--config <json file>] [--data-root <dir>] [--force]
 *       Generates (or reuses) the embedded dataset (`generateEmbeddedDataset`, DEFAULT_EMBEDDED_DATA
 *       overridden by the JSON file's keys) and prints its folder, counts and checksum.
 *   export <annotation file|shard dir> --to karpathy|webdataset --out <dir> [--images <dir>]
 *          [--split s]… [--mode pairs|coarse] [--per-shard N] [--replace]
 *       Writes a loaded dataset as Karpathy JSON + images, or as RS5M-layout webdataset shards, into a
 *       temporary folder renamed to --out at the end; a non-empty --out is refused unless --replace.
 * Exit codes: 0 ok, 1 bad data, 2 usage error.
 */
import * as path from 'path';
import { checkDataset, formatCheckReport } from '../data/check';
import { loadDataset, parseSplit } from '../data/loaders/index';
import { Split } from '../data/types';
import { mergeConfig } from '../utils/merge_config';
import { readJson } from '../utils/fs';
import { createProgress, Progress } from '../utils/progress';
import { DEFAULT_EMBEDDED_DATA, EmbeddedDataConfig, generateEmbeddedDataset } from '../data/embedded/index';
import { DEFAULT_SAMPLES_PER_SHARD, exportKarpathy, exportWebdataset, WebdatasetExportMode } from '../data/export';
import { flag, formatCliError, list, num, parseArgs, parseCommandLine, ParsedArgs, str, UsageError } from '../utils/cli_args';

const USAGE = [
  'usage: npm run data -- check <annotation file | shard dir> [--images <dir>] [--split train|val|test] [--no-images] [--json]',
  '       npm run data -- generate [--config <json file>] [--data-root <dir>] [--force]',
  '       npm run data -- export <annotation file | shard dir> --to karpathy|webdataset --out <dir> [--images <dir>] [--split s]... [--mode pairs|coarse] [--per-shard N] [--replace]',
].join('\n');

/** Largest `--per-shard`. */
const MAX_PER_SHARD = 1_000_000;

function splitFlag(flags: ParsedArgs): Split | undefined {
  const s = str(flags, 'split');
  if (s === undefined) return undefined;
  try { return parseSplit(s, '--split'); } catch (e) { throw new UsageError(`data: ${(e as Error).message}`); }
}

async function check(argv: string[]): Promise<number> {
  const cl = parseCommandLine(argv, { images: 'string', split: 'string', 'no-images': 'boolean', json: 'boolean' }, 'data check', { min: 1, max: 1 });
  const f = cl.flags;
  const noImages = flag(f, 'no-images') === true;
  let bar: Progress | null = null;
  const onImage = (done: number, total: number): void => {
    if (bar === null) bar = createProgress('opening images', total);
    bar.tick(1);
    if (done === total) bar.done();
  };
  const report = await checkDataset(cl.positional[0], { imagesRoot: str(f, 'images'), split: splitFlag(f), openImages: !noImages, onImage });
  if (flag(f, 'json') === true) {
    const { dataset, ...plain } = report;
    process.stdout.write(JSON.stringify({ ...plain, name: dataset?.name ?? null, classes: dataset?.classes ?? [] }, null, 2) + '\n');
  } else {
    for (const l of formatCheckReport(report)) process.stdout.write(l + '\n');
  }
  return report.ok ? 0 : 1;
}

async function generate(argv: string[]): Promise<number> {
  const f = parseArgs(argv, { config: 'string', 'data-root': 'string', force: 'boolean' }, 'data generate');
  const file = str(f, 'config');
  const cfg = mergeConfig<EmbeddedDataConfig>(DEFAULT_EMBEDDED_DATA, file === undefined ? undefined : readJson(file), file ?? 'defaults');
  const dataRoot = str(f, 'data-root');
  const r = await generateEmbeddedDataset(cfg, { force: flag(f, 'force') === true, dataRoot: dataRoot === undefined ? undefined : path.resolve(dataRoot) });
  const n = (s: Split): number => r.dataset.images.filter((x) => x.split === s).length;
  process.stdout.write(`${r.dir}\n  ${r.dataset.images.length} images (train ${n('train')} / val ${n('val')} / test ${n('test')}), ` +
    `${r.dataset.classes.length} classes\n  annotation ${r.annotationFile}\n  checksum ${r.checksum}\n`);
  return 0;
}

async function exportCmd(argv: string[]): Promise<number> {
  const cl = parseCommandLine(argv, {
    to: { kind: 'string', choices: ['karpathy', 'webdataset'] },
    out: 'string',
    images: 'string',
    split: 'list',
    mode: { kind: 'string', choices: ['pairs', 'coarse'] },
    'per-shard': { kind: 'int', min: 1, max: MAX_PER_SHARD },
    replace: 'boolean',
  }, 'data export', { min: 1, max: 1 });
  const f = cl.flags;
  const to = str(f, 'to');
  const out = str(f, 'out');
  if (to === undefined) throw new UsageError('data export: needs --to karpathy|webdataset');
  if (out === undefined) throw new UsageError('data export: needs --out <dir>');
  const replace = flag(f, 'replace') === true;
  const splits = list(f, 'split').map((s) => { try { return parseSplit(s, '--split'); } catch (e) { throw new UsageError(`data export: ${(e as Error).message}`); } });
  const ds = await loadDataset(cl.positional[0], { imagesRoot: str(f, 'images') });
  if (to === 'karpathy') {
    const r = exportKarpathy(ds, { outDir: path.resolve(out), splits: splits.length > 0 ? splits : undefined, replace });
    process.stdout.write(`${r.annotationFile}: ${r.images} images, ${r.captions} captions (images in ${r.imagesDir})\n`);
    return 0;
  }
  if (to === 'webdataset') {
    const mode = (str(f, 'mode') ?? 'pairs') as WebdatasetExportMode;
    const per = num(f, 'per-shard') ?? DEFAULT_SAMPLES_PER_SHARD;
    const r = exportWebdataset(ds, { outDir: path.resolve(out), mode, samplesPerShard: per, splits: splits.length > 0 ? splits : undefined, replace });
    for (const s of r.shards) process.stdout.write(`${s.file}: ${s.split}, ${s.samples} samples\n`);
    process.stdout.write(`manifest ${r.manifestFile}\n`);
    return 0;
  }
  throw new UsageError(`data export: needs --to karpathy|webdataset (got ${to})`);
}

/** Runs the CLI; returns the exit code (0 ok, 1 bad data, 2 usage). */
export async function runDataCli(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    if (cmd === 'check') return await check(rest);
    if (cmd === 'generate') return await generate(rest);
    if (cmd === 'export') return await exportCmd(rest);
    if (cmd === undefined || cmd === '--help' || cmd === '-h') { process.stdout.write(`${USAGE}\n`); return 0; }
    throw new UsageError(`data: unknown command '${cmd}' (check, generate or export)`);
  } catch (e) {
    if (e instanceof UsageError) { process.stderr.write(`${e.message}\n${USAGE}\n`); return 2; }
    process.stderr.write(`${formatCliError(e)}\n`);
    return 1;
  }
}

if (require.main === module) {
  runDataCli(process.argv.slice(2)).then((code) => { process.exitCode = code; });
}
