import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { DEFAULT_EMBEDDED_DATA, EmbeddedDataConfig, generateEmbeddedDataset } from '../src/data/embedded';
import { exportKarpathy, exportWebdataset } from '../src/data/export';
import { checkDataset, formatCheckReport } from '../src/data/check';
import { loadWebdataset } from '../src/data/loaders/webdataset';
import { loadKarpathy } from '../src/data/loaders/karpathy';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'faults-export-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const cfg: EmbeddedDataConfig = { ...DEFAULT_EMBEDDED_DATA, classes: ['airport', 'port', 'storagetanks'], imagesPerClass: 10, imageSize: 16 };

test('every export mode passes the kit\'s own check, with every split and 5 captions per val/test image', async () => {
  const { dataset } = await generateEmbeddedDataset(cfg, { dataRoot: path.join(tmp, 'data') });
  for (const mode of ['pairs', 'coarse'] as const) {
    const out = path.join(tmp, `wds-${mode}`);
    exportWebdataset(dataset, { outDir: out, mode, samplesPerShard: 7 });
    const report = await checkDataset(out);
    assert.ok(report.ok, `${mode}: ${formatCheckReport(report).join('\n')}`);
    const back = await loadWebdataset(out);
    assert.equal(back.images.length, dataset.images.length, mode);
    // Split and captions survive the round trip (shard names carry the split).
    const want = new Map(dataset.images.map((r) => [r.fileName, r]));
    for (const r of back.images) {
      const w = want.get(r.fileName);
      assert.ok(w, r.fileName);
      assert.equal(r.split, w.split, r.fileName);
      assert.deepEqual(r.captions, w.captions, `${mode} ${r.fileName}`);
    }
  }
  const kp = path.join(tmp, 'karpathy');
  const r = exportKarpathy(dataset, { outDir: kp });
  const report = await checkDataset(r.annotationFile, { imagesRoot: r.imagesDir });
  assert.ok(report.ok, formatCheckReport(report).join('\n'));
  assert.equal((await loadKarpathy(r.annotationFile, { imagesRoot: r.imagesDir })).images.length, dataset.images.length);
});

test('re-export into a non-empty folder is refused; --replace replaces it whole; the loader reads only the manifest\'s shards', async () => {
  const { dataset } = await generateEmbeddedDataset(cfg, { dataRoot: path.join(tmp, 'data') });
  const out = path.join(tmp, 'again');
  const first = exportWebdataset(dataset, { outDir: out, mode: 'pairs', samplesPerShard: 5 });
  assert.throws(() => exportWebdataset(dataset, { outDir: out, mode: 'pairs', samplesPerShard: 50 }), /again is not empty: choose a new folder, or pass --replace/);
  const second = exportWebdataset(dataset, { outDir: out, mode: 'pairs', samplesPerShard: 50, replace: true });
  const tars = fs.readdirSync(out).filter((f) => f.endsWith('.tar')).sort();
  assert.deepEqual(tars, second.shards.map((s) => path.basename(s.file)).sort());
  assert.ok(first.shards.length > second.shards.length);
  assert.ok(!fs.readdirSync(tmp).some((f) => /\.partial-|\.old-/.test(f)), 'no temporary folder left');
  // --replace never deletes files an export does not write.
  fs.writeFileSync(path.join(out, 'notes.txt'), 'mine');
  assert.throws(() => exportWebdataset(dataset, { outDir: out, mode: 'pairs', samplesPerShard: 50, replace: true }), /not replacing .*again: it holds files an export does not write \(notes\.txt\)/);
  fs.rmSync(path.join(out, 'notes.txt'));
  // A stray shard beside the manifest is not read.
  fs.copyFileSync(second.shards[0].file, path.join(out, 'zz-stray-train-0000.tar'));
  const back = await loadWebdataset(out);
  assert.equal(back.images.length, dataset.images.length);
  fs.rmSync(path.join(out, 'zz-stray-train-0000.tar'));
  // A shard changed after the export is named by check (here: another valid shard copied over it).
  assert.ok((await checkDataset(out)).ok);
  const [a, b] = second.shards.filter((s) => s.split === 'train').map((s) => s.file);
  if (b !== undefined) {
    fs.copyFileSync(b, a);
  } else {
    fs.appendFileSync(a, Buffer.alloc(1024));
  }
  const report = await checkDataset(out, { openImages: false });
  assert.equal(report.ok, false);
  assert.ok(report.problems.some((p) => p.file === a && /differs from the .*manifest\.json entry/.test(p.message)), formatCheckReport(report).join('\n'));
});

test('a failed export leaves no complete-looking shards and no temporary folder', async () => {
  const { dataset } = await generateEmbeddedDataset(cfg, { dataRoot: path.join(tmp, 'data') });
  const broken = { ...dataset, images: dataset.images.map((r, i) => (i === dataset.images.length - 1 ? { ...r, bytes: undefined, path: path.join(tmp, 'missing.png') } : r)) };
  const out = path.join(tmp, 'failed');
  assert.throws(() => exportWebdataset(broken, { outDir: out, mode: 'pairs', samplesPerShard: 5 }), /cannot read .*missing\.png/);
  assert.equal(fs.existsSync(out), false);
  assert.throws(() => exportKarpathy(broken, { outDir: path.join(tmp, 'failed-kp') }), /missing\.png/);
  assert.equal(fs.existsSync(path.join(tmp, 'failed-kp')), false);
  assert.ok(!fs.readdirSync(tmp).some((f) => /\.partial-/.test(f)), 'no temporary folder left');
});
