/**
 * Dataset check (`npm run data -- check <annotation> [--images <dir>] [--split test]`): detect the
 * format, read every record, open (decode) every image, count images/captions per split and class.
 * Problems name the file and the record; the report says how many more there are after the first.
 */
import { RetrievalDataset, Split, SPLITS } from './types';
import * as fs from 'fs';
import * as path from 'path';
import { readJson, sha256 } from '../utils/fs';
import { MANIFEST_SUFFIX } from './loaders/webdataset';
import { DetectedFormat, decodeRecordImage, detectFormat, loadDataset, splitFromName } from './loaders/index';

/** One problem found by the check. */
export interface CheckProblem {
  /** File at fault (annotation or image). */
  file: string;
  /** Record at fault (`image 12 "airport_1.jpg" (test)`), or '' for file-level problems. */
  record: string;
  message: string;
}

/** Per-split counts. */
export interface SplitCounts {
  images: number;
  captions: number;
  /** Images per scene class (`(none)` for images without one). */
  classes: Record<string, number>;
  /** Images per decoded size `W×H`. */
  sizes: Record<string, number>;
}

/** Result of `checkDataset`. */
export interface CheckReport {
  file: string;
  format: DetectedFormat | null;
  dataset: RetrievalDataset | null;
  splits: Partial<Record<Split, SplitCounts>>;
  imagesOpened: number;
  problems: CheckProblem[];
  ok: boolean;
}

/** Options of `checkDataset`. */
export interface CheckOptions {
  imagesRoot?: string;
  /** Only this split (also the split of files that do not name one). */
  split?: Split;
  /** Decode every image (default true). */
  openImages?: boolean;
  /** Called after each image (progress). */
  onImage?: (done: number, total: number) => void;
}

/** Runs the check; never throws for bad data (problems are reported), only for programming errors. */
export async function checkDataset(file: string, opts: CheckOptions = {}): Promise<CheckReport> {
  const report: CheckReport = { file, format: null, dataset: null, splits: {}, imagesOpened: 0, problems: [], ok: false };
  let ds: RetrievalDataset;
  try {
    report.format = detectFormat(file);
    // --split selects records; it only *labels* records of files whose name does not tell their split.
    const splitHint = report.format === 'karpathy' || splitFromName(path.basename(file)) !== null ? undefined : opts.split;
    ds = await loadDataset(file, { imagesRoot: opts.imagesRoot, split: splitHint, format: report.format, keepImageBytes: false });
  } catch (e) {
    report.problems.push({ file, record: '', message: (e as Error).message });
    return report;
  }
  report.dataset = ds;
  if (report.format === 'webdataset') report.problems.push(...manifestProblems(file));
  const images = opts.split !== undefined ? ds.images.filter((r) => r.split === opts.split) : ds.images;
  if (images.length === 0) {
    report.problems.push({ file, record: '', message: `no images in split ${opts.split ?? '(any)'}` });
    return report;
  }
  for (const s of SPLITS) {
    const recs = images.filter((r) => r.split === s);
    if (recs.length === 0) continue;
    const counts: SplitCounts = { images: recs.length, captions: 0, classes: {}, sizes: {} };
    for (const r of recs) {
      counts.captions += r.captions.length;
      const c = r.sceneClass ?? '(none)';
      counts.classes[c] = (counts.classes[c] ?? 0) + 1;
    }
    report.splits[s] = counts;
  }
  if (opts.openImages ?? true) {
    let done = 0;
    for (const r of images) {
      try {
        const img = await decodeRecordImage(r);
        report.imagesOpened++;
        const counts = report.splits[r.split] as SplitCounts;
        const key = `${img.width}×${img.height}`;
        counts.sizes[key] = (counts.sizes[key] ?? 0) + 1;
      } catch (e) {
        report.problems.push({ file: r.path, record: `image ${r.imageId} "${r.fileName}" (${r.split})`, message: (e as Error).message });
      }
      done++;
      opts.onImage?.(done, images.length);
    }
  }
  report.ok = report.problems.length === 0;
  return report;
}

/**
 * For a shard folder exported by the kit (`*-manifest.json`): every listed shard must still have the
 * sha256 and sample count the manifest records (a shard replaced or cut after the export is named).
 */
function manifestProblems(dir: string): CheckProblem[] {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) return [];
  const manifest = fs.readdirSync(dir).find((f) => f.endsWith(MANIFEST_SUFFIX));
  if (manifest === undefined) return [];
  const file = path.join(dir, manifest);
  const m = readJson<{ shards?: { file?: unknown; sha256?: unknown }[] }>(file);
  const out: CheckProblem[] = [];
  for (const s of m.shards ?? []) {
    if (typeof s.file !== 'string' || typeof s.sha256 !== 'string') continue;
    const shard = path.join(dir, s.file);
    if (!fs.existsSync(shard)) continue; // the loader already refused it
    const sha = sha256(fs.readFileSync(shard));
    if (sha !== s.sha256) out.push({ file: shard, record: '', message: `sha256 ${sha.slice(0, 12)}… differs from the ${manifest} entry ${s.sha256.slice(0, 12)}…: the shard changed after the export` });
  }
  return out;
}

/** Human-readable report lines. */
export function formatCheckReport(report: CheckReport): string[] {
  const lines: string[] = [];
  const ds = report.dataset;
  lines.push(`${report.file}: format ${report.format ?? '?'}${ds ? `, dataset "${ds.name}", ${ds.images.length} images, ${ds.classes.length} scene classes` : ''}`);
  for (const s of SPLITS) {
    const c = report.splits[s];
    if (c === undefined) continue;
    lines.push(`  ${s}: ${c.images} images, ${c.captions} captions (${(c.captions / c.images).toFixed(2)}/image)`);
    const cls = Object.entries(c.classes).sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([k, v]) => `${k} ${v}`);
    lines.push(`    classes (${cls.length}): ${cls.join(', ')}`);
    const sizes = Object.entries(c.sizes).map(([k, v]) => `${k} ${v}`);
    if (sizes.length > 0) lines.push(`    image sizes: ${sizes.join(', ')}`);
  }
  if (report.dataset !== null) lines.push(`  images opened: ${report.imagesOpened}`);
  if (report.problems.length > 0) {
    const p = report.problems[0];
    lines.push(`FAILED: ${p.file}${p.record ? ` [${p.record}]` : ''}: ${p.message}`);
    if (report.problems.length > 1) lines.push(`  … and ${report.problems.length - 1} more problem(s)`);
  } else {
    lines.push('OK');
  }
  return lines;
}
