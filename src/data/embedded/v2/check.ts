/**
 * `npm run data -- check <v2 folder | v2 folder/coarse/corpus.json>`: the embedded v2 benchmark.
 *
 * Checks the folder checksum, the fine and prior corpora with the kit's dataset check (every
 * record read, every image decoded), every stored image hash against its file, the corpora's
 * disjointness by content hash (fine, prior and a deterministic sample of the lazily rendered
 * coarse corpus), the coarse corpus's records and counts, and `vocabulary.json`.
 */
import * as fs from 'fs';
import * as path from 'path';
import { readJson, sha256 } from '../../../utils/fs';
import { SeedStream } from '../../../utils/random';
import { decodeImage } from '../../../io/image_codecs';
import { CheckProblem, CheckReport, checkDataset, formatCheckReport } from '../../check';
import { CHECKSUM_FILE, folderChecksum } from '../generate';
import { EmbeddedV2Config, embeddedV2ConfigHash, validateEmbeddedV2Config } from './config';
import { COARSE_CORPUS_KIND, CoarseCorpusFile, V2_FILES, coarseSampleImage, readCoarseCorpus, readPriorCorpus } from './generate';

/** Coarse images rendered and hashed by the check (a seeded sample; all when the corpus is smaller). */
export const COARSE_CHECK_SAMPLE = 500;

/** The v2 folder a path names (the folder itself or its `coarse/corpus.json`), or null. */
export function embeddedV2Folder(input: string): string | null {
  const p = path.resolve(input);
  const isDir = fs.existsSync(p) && fs.statSync(p).isDirectory();
  const dir = isDir ? p : path.basename(p) === 'corpus.json' ? path.dirname(path.dirname(p)) : null;
  if (dir === null) return null;
  const coarse = path.join(dir, V2_FILES.coarse);
  if (!fs.existsSync(coarse) || !fs.existsSync(path.join(dir, V2_FILES.fine))) return null;
  const head = fs.readFileSync(coarse, 'utf8').slice(0, 64);
  return head.includes(COARSE_CORPUS_KIND) ? dir : null;
}

/** The config stored in a v2 folder. */
export function readEmbeddedV2Config(dir: string): EmbeddedV2Config {
  const file = path.join(dir, V2_FILES.config);
  const meta = readJson<{ config?: EmbeddedV2Config }>(file);
  if (!meta || typeof meta.config !== 'object') throw new Error(`${file}: expected {config: {...}} (an embedded v2 folder)`);
  try {
    validateEmbeddedV2Config(meta.config);
  } catch (e) {
    throw new Error(`${file}: ${(e as Error).message}`);
  }
  return meta.config;
}

/** Result of `checkEmbeddedV2`. */
export interface V2CheckReport {
  dir: string;
  fine: CheckReport | null;
  prior: { images: number; classes: number; perSplit: Record<string, Record<string, number>>; opened: number } | null;
  coarse: { samples: number; rendered: number; noise: Record<string, number>; classes: number } | null;
  problems: CheckProblem[];
  ok: boolean;
}

/** Options of `checkEmbeddedV2`. */
export interface V2CheckOptions {
  /** Decode fine/prior images and render the coarse sample (default true). */
  openImages?: boolean;
  onImage?: (done: number, total: number) => void;
}

/** Runs the check; bad data becomes problems (never a throw). */
export async function checkEmbeddedV2(dir: string, opts: V2CheckOptions = {}): Promise<V2CheckReport> {
  const report: V2CheckReport = { dir, fine: null, prior: null, coarse: null, problems: [], ok: false };
  const problem = (file: string, record: string, message: string): void => void report.problems.push({ file, record, message });
  let cfg: EmbeddedV2Config;
  try {
    cfg = readEmbeddedV2Config(dir);
  } catch (e) {
    problem(path.join(dir, V2_FILES.config), '', (e as Error).message);
    return finish(report);
  }
  const checksumFile = path.join(dir, CHECKSUM_FILE);
  if (!fs.existsSync(checksumFile)) problem(checksumFile, '', 'missing');
  else if (fs.readFileSync(checksumFile, 'utf8').trim() !== folderChecksum(dir)) problem(checksumFile, '', 'does not match the folder content (a file was changed; regenerate with --force)');
  const hashes = new Map<string, string>();
  const hashImage = (corpus: string, file: string, where: string, filename: string, recorded: string | undefined): void => {
    const imgPath = path.join(dir, corpus, 'images', filename);
    if (!fs.existsSync(imgPath)) return;
    const h = sha256(fs.readFileSync(imgPath));
    if (recorded !== h) problem(imgPath, where, `sha256 ${h.slice(0, 12)}… differs from the recorded ${String(recorded).slice(0, 12)}…`);
    const prev = hashes.get(h);
    if (prev !== undefined) problem(imgPath, where, `same bytes as ${prev}: the corpora must be disjoint`);
    hashes.set(h, `${corpus}/${filename}`);
  };
  // Fine: the kit's dataset check on the corpus folder (dataset.json + images/), then hashes and objects.
  const fineFile = path.join(dir, V2_FILES.fine);
  const r = await checkDataset(path.join(dir, 'fine'), { openImages: opts.openImages, onImage: opts.onImage });
  report.fine = r;
  report.problems.push(...r.problems);
  const fineJson = readJson<{ images?: Array<{ filename: string; sha256?: string; objects?: unknown[] }> }>(fineFile);
  (fineJson?.images ?? []).forEach((im, i) => {
    const where = `image ${i} "${im.filename}" (fine)`;
    if (!Array.isArray(im.objects)) problem(fineFile, where, 'no "objects" array');
    hashImage('fine', fineFile, where, im.filename, im.sha256);
  });
  // Prior: labelled images (no captions), decoded one by one.
  const priorFile = path.join(dir, V2_FILES.prior);
  try {
    const prior = readPriorCorpus(priorFile);
    const counts: Record<string, Record<string, number>> = {};
    let opened = 0;
    prior.images.forEach((im, i) => {
      const where = `image ${i} "${im.filename}" (prior, ${im.split})`;
      (counts[im.split] ??= {})[im.class] = (counts[im.split][im.class] ?? 0) + 1;
      hashImage('prior', priorFile, where, im.filename, im.sha256);
      const imgPath = path.join(dir, 'prior', 'images', im.filename);
      if (!fs.existsSync(imgPath)) return problem(imgPath, where, 'missing image file');
      if (opts.openImages ?? true) {
        try {
          const img = decodeImage(fs.readFileSync(imgPath), imgPath);
          if (img.width !== cfg.imageSize || img.height !== cfg.imageSize) problem(imgPath, where, `${img.width}×${img.height}, expected ${cfg.imageSize}×${cfg.imageSize}`);
          opened++;
        } catch (e) {
          problem(imgPath, where, (e as Error).message);
        }
      }
    });
    report.prior = { images: prior.images.length, classes: prior.classes.length, perSplit: counts, opened };
  } catch (e) {
    problem(priorFile, '', (e as Error).message);
  }
  const coarseFile = path.join(dir, V2_FILES.coarse);
  let corpus: CoarseCorpusFile;
  try {
    corpus = readCoarseCorpus(coarseFile);
  } catch (e) {
    problem(coarseFile, '', (e as Error).message);
    return finish(report);
  }
  if (corpus.configHash !== embeddedV2ConfigHash(cfg)) problem(coarseFile, '', `configHash ${corpus.configHash} ≠ the folder config's ${embeddedV2ConfigHash(cfg)}`);
  const expected = cfg.coarse.classes.length * cfg.coarse.imagesPerClass;
  if (corpus.samples.length !== expected) problem(coarseFile, '', `${corpus.samples.length} samples, expected ${expected} (classes × imagesPerClass)`);
  const keys = new Set<string>();
  const noise: Record<string, number> = {};
  const classes = new Set<string>();
  corpus.samples.forEach((s, i) => {
    if (keys.has(s.key)) problem(coarseFile, `samples[${i}] (${s.key})`, 'duplicate key');
    keys.add(s.key);
    if (!cfg.coarse.classes.includes(s.sceneClass)) problem(coarseFile, `samples[${i}] (${s.key})`, `class "${s.sceneClass}" is not in the config's coarse.classes`);
    classes.add(s.sceneClass);
    noise[s.noise] = (noise[s.noise] ?? 0) + 1;
  });
  let rendered = 0;
  if (opts.openImages ?? true) {
    const order = new SeedStream(0).child('check/coarse-sample').permutation(corpus.samples.length).slice(0, COARSE_CHECK_SAMPLE);
    for (const i of order) {
      const s = corpus.samples[i];
      const h = sha256(coarseSampleImage(cfg, s).png);
      const prev = hashes.get(h);
      if (prev !== undefined) problem(coarseFile, `samples[${i}] (${s.key})`, `renders the same bytes as ${prev}: the corpora must be disjoint`);
      hashes.set(h, `coarse/${s.key}`);
      rendered++;
    }
  }
  report.coarse = { samples: corpus.samples.length, rendered, noise, classes: classes.size };
  const vocab = path.join(dir, V2_FILES.vocabulary);
  const v = fs.existsSync(vocab) ? readJson<{ declared?: unknown; measured?: unknown }>(vocab) : null;
  if (!v || typeof v.declared !== 'object' || typeof v.measured !== 'object') problem(vocab, '', 'missing or lacks "declared"/"measured" tiers');
  return finish(report);
}

function finish(r: V2CheckReport): V2CheckReport {
  r.ok = r.problems.length === 0;
  return r;
}

/** Human-readable report lines. */
export function formatV2CheckReport(r: V2CheckReport): string[] {
  const lines = [`${r.dir}: embedded benchmark v2`];
  if (r.fine !== null) {
    lines.push('[fine corpus]');
    // The per-corpus verdict line is replaced by the overall one below.
    lines.push(...formatCheckReport({ ...r.fine, problems: [] }).filter((l) => l !== 'OK'));
  }
  if (r.prior !== null) {
    const p = r.prior;
    lines.push('[prior corpus]', `  ${p.images} labelled images (no captions), ${p.classes} classes; images opened: ${p.opened}`);
    for (const [split, cls] of Object.entries(p.perSplit)) {
      const n = Object.values(cls).reduce((a, v) => a + v, 0);
      lines.push(`  ${split}: ${n} images, ${Object.keys(cls).length} classes`);
    }
  }
  if (r.coarse !== null) {
    const c = r.coarse;
    const noise = Object.entries(c.noise).sort().map(([k, n]) => `${k} ${n}`).join(', ');
    lines.push('[coarse corpus]', `  ${c.samples} samples (one coarse caption each), ${c.classes} classes; captions: ${noise}`);
    lines.push(`  rendered and hashed: ${c.rendered} of ${c.samples} (a seeded sample, compared with every fine and prior image)`);
  }
  if (r.problems.length > 0) {
    const p = r.problems[0];
    lines.push(`FAILED: ${p.file}${p.record ? ` [${p.record}]` : ''}: ${p.message}`);
    if (r.problems.length > 1) lines.push(`  … and ${r.problems.length - 1} more problem(s)`);
  } else lines.push('OK');
  return lines;
}
