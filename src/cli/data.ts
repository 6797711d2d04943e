/**
 * `npm run data -- <command>`:
 *   check <annotation file|shard dir> [--images <dir>] [--split train|val|test] [--no-images] [--json]
 *       Detects the format, reads every record, opens every image, prints counts per split and class;
 *       exits 1 naming the first bad file/record and how many more there are.
 *   generate [--config <json file>] [--data-root <dir>] [--force]
 *       Generates (or reuses) the embedded dataset (`generateEmbeddedDataset`, DEFAULT_EMBEDDED_DATA
 *       overridden by the JSON file's keys) and prints its folder, counts and checksum. A config with
 *       `"version": 2` generates the embedded benchmark v2 (`generateEmbeddedV2`: prior, coarse and
 *       fine corpora; e.g. `--config src/configs/data/embedded-v2.json`).
 *   check / export also take a v2 folder (or its `coarse/corpus.json`): check covers all three
 *       corpora; `export <v2 folder> --corpus coarse --to webdataset` streams the lazily rendered
 *       coarse corpus into RS5M-layout shards, `--corpus prior --to imagefolder` writes the prior
 *       corpus in AID's layout; the fine corpus is `<v2 folder>/fine` (Karpathy: any export).
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
import { checkEmbeddedV2, embeddedDataVersion, embeddedV2Folder, exportCoarseWebdataset, exportPriorImageFolder, formatV2CheckReport, generateEmbeddedV2, readCoarseCorpus, readEmbeddedV2Config, resolveEmbeddedV2Config, V2_FILES } from '../data/embedded/v2/index';

const USAGE = [
  'usage: npm run data -- check <annotation file | shard dir> [--images <dir>] [--split train|val|test] [--no-images] [--json]',
  '       npm run data -- generate [--config <json file>] [--data-root <dir>] [--force]',
  '       npm run data -- export <annotation file | shard dir> --to karpathy|webdataset --out <dir> [--images <dir>] [--split s]... [--mode pairs|coarse] [--per-shard N] [--replace]',
  '       npm run data -- export <embedded v2 dir> --corpus coarse --to webdataset | --corpus prior --to imagefolder --out <dir> [--per-shard N]',
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
  const v2 = embeddedV2Folder(cl.positional[0]);
  if (v2 !== null) {
    const r = await checkEmbeddedV2(v2, { openImages: !noImages, onImage });
    if (flag(f, 'json') === true) {
      process.stdout.write(JSON.stringify({ ...r, fine: r.fine === null ? null : { ...r.fine, dataset: undefined } }, null, 2) + '\n');
    } else for (const l of formatV2CheckReport(r)) process.stdout.write(l + '\n');
    return r.ok ? 0 : 1;
  }
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
  const json: unknown = file === undefined ? undefined : readJson(file);
  const dataRoot = str(f, 'data-root');
  if (embeddedDataVersion(json, file ?? 'defaults') === 2) {
    const cfg2 = resolveEmbeddedV2Config(json, file);
    let bar: Progress | null = null;
    const t0 = Date.now();
    const g = await generateEmbeddedV2(cfg2, {
      force: flag(f, 'force') === true,
      dataRoot: dataRoot === undefined ? undefined : path.resolve(dataRoot),
      onProgress: (done, total) => {
        if (bar === null) bar = createProgress('generating embedded v2 (fine + prior)', total);
        bar.tick(1);
        if (done === total) bar.done();
      },
    });
    const n = (s: Split): number => g.fine.images.filter((x) => x.split === s).length;
    process.stdout.write(`${g.dir} (embedded v2, ${((Date.now() - t0) / 1000).toFixed(1)} s)\n` +
      `  fine:   ${g.fine.images.length} images (train ${n('train')} / val ${n('val')} / test ${n('test')}), ${g.fine.classes.length} classes, ${cfg2.fine.captionsPerImage} captions each\n` +
      `  prior:  ${g.prior.images.length} labelled images, ${g.prior.classes.length} classes, no captions\n` +
      `  coarse: ${g.coarse.samples.length} images (rendered on demand), one coarse caption each\n  checksum ${g.checksum}\n`);
    return 0;
  }
  const v1 = json !== undefined && typeof json === 'object' && json !== null && 'version' in json ? (({ version: _v, ...rest }) => rest)(json as Record<string, unknown>) : json;
  const cfg = mergeConfig<EmbeddedDataConfig>(DEFAULT_EMBEDDED_DATA, v1, file ?? 'defaults');
  const r = await generateEmbeddedDataset(cfg, { force: flag(f, 'force') === true, dataRoot: dataRoot === undefined ? undefined : path.resolve(dataRoot) });
  const n = (s: Split): number => r.dataset.images.filter((x) => x.split === s).length;
  process.stdout.write(`${r.dir}\n  ${r.dataset.images.length} images (train ${n('train')} / val ${n('val')} / test ${n('test')}), ` +
    `${r.dataset.classes.length} classes\n  annotation ${r.annotationFile}\n  checksum ${r.checksum}\n`);
  return 0;
}

async function exportCmd(argv: string[]): Promise<number> {
  const cl = parseCommandLine(argv, {
    to: { kind: 'string', choices: ['karpathy', 'webdataset', 'imagefolder'] },
    out: 'string',
    images: 'string',
    split: 'list',
    mode: { kind: 'string', choices: ['pairs', 'coarse'] },
    'per-shard': { kind: 'int', min: 1, max: MAX_PER_SHARD },
    replace: 'boolean',
    corpus: { kind: 'string', choices: ['coarse', 'prior'] },
  }, 'data export', { min: 1, max: 1 });
  const f = cl.flags;
  const to = str(f, 'to');
  const out = str(f, 'out');
  if (to === undefined) throw new UsageError('data export: needs --to karpathy|webdataset');
  if (out === undefined) throw new UsageError('data export: needs --out <dir>');
  const replace = flag(f, 'replace') === true;
  const splits = list(f, 'split').map((s) => { try { return parseSplit(s, '--split'); } catch (e) { throw new UsageError(`data export: ${(e as Error).message}`); } });
  const v2 = embeddedV2Folder(cl.positional[0]);
  if (v2 !== null) {
    const corpusName = str(f, 'corpus');
    if (corpusName === 'prior') {
      if (to !== 'imagefolder') throw new UsageError('data export: --corpus prior exports with --to imagefolder (AID layout: <split>/<class>/<file>)');
      const r = exportPriorImageFolder(v2, path.resolve(out));
      process.stdout.write(`${r.labelsFile}: ${r.images} labelled images in <split>/<class>/ folders\n`);
      return 0;
    }
    if (corpusName !== 'coarse') throw new UsageError(`data export: ${v2} is an embedded v2 folder: give --corpus coarse (--to webdataset) or --corpus prior (--to imagefolder); the fine corpus exports from ${path.join(v2, 'fine')}`);
    if (to !== 'webdataset') throw new UsageError('data export: --corpus coarse exports with --to webdataset (RS5M layout)');
    const per = num(f, 'per-shard') ?? DEFAULT_SAMPLES_PER_SHARD;
    const cfg2 = readEmbeddedV2Config(v2);
    const corpus = readCoarseCorpus(path.join(v2, V2_FILES.coarse));
    const bar = createProgress('rendering coarse corpus into shards', corpus.samples.length);
    const r = exportCoarseWebdataset(cfg2, corpus, { outDir: path.resolve(out), samplesPerShard: per, onProgress: () => bar.tick(1) });
    bar.done();
    for (const s of r.shards) process.stdout.write(`${s.file}: train, ${s.samples} samples\n`);
    process.stdout.write(`manifest ${r.manifestFile}\n`);
    return 0;
  }
  if (to === 'imagefolder') throw new UsageError('data export: --to imagefolder is for the prior corpus of an embedded v2 folder (--corpus prior)');
  if (str(f, 'corpus') !== undefined) throw new UsageError('data export: --corpus applies to an embedded v2 folder only');
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
