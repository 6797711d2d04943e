import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { DEFAULT_EMBEDDED_DATA, EMBEDDED_SCENE_CLASSES, COUNT_WORDS, REGION_PHRASES, captionTokens, embeddedConfigHash, generateEmbeddedImage, renderScene } from '../src/data/embedded/index';
import {
  DEFAULT_EMBEDDED_V2,
  EmbeddedV2Config,
  V1_FULL_RECALLS,
  V1_PAIRED_DELTA_STD,
  V1_TEST_IMAGES,
  checkEmbeddedV2,
  coarseSampleImage,
  declaredVocabularyTiers,
  embeddedDataVersion,
  exportCoarseWebdataset,
  exportPriorImageFolder,
  generateEmbeddedV2,
  generateFineImage,
  pairedDeltaHalfWidth,
  pairedDeltaStd,
  requiredTestImages,
  resolveEmbeddedV2Config,
} from '../src/data/embedded/v2/index';
import { checkDataset } from '../src/data/check';
import { sha256 } from '../src/utils/fs';
import { SeedStream } from '../src/utils/random';

const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'kit-embedded-v2-'));
after(() => fs.rmSync(tmpRoot, { recursive: true, force: true }));

/** A small v2 config (seconds to generate) with every corpus and the AID-only classes. */
const small = (seed = 0): EmbeddedV2Config =>
  resolveEmbeddedV2Config({
    seed,
    imageSize: 32,
    cellGrids: [4, 8],
    fine: { classes: ['airport', 'port', 'storagetanks', 'beach', 'residential'], trainPerClass: 3, valPerClass: 1, testPerClass: 2, distractorRate: 0.5, longTailRate: 0.3 },
    prior: { classes: ['airport', 'port', 'storagetanks', 'beach', 'residential', 'commercial', 'stadium'], imagesPerClass: 4, distractorRate: 0.5 },
    coarse: { classes: ['airport', 'port', 'storagetanks', 'beach', 'residential', 'commercial', 'stadium', 'bareland'], imagesPerClass: 12, distractorRate: 0.5 },
  });

function allFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    for (const e of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      const r = path.join(rel, e.name);
      if (e.isDirectory()) walk(r);
      else out.push(r);
    }
  };
  walk('');
  return out.sort();
}

test('v1 is unchanged: default config hash and the bytes of a small v1 config are pinned', () => {
  // Values computed at the v1 commit (740431a) before v2 existed; any v1 byte change breaks them.
  assert.equal(embeddedConfigHash(DEFAULT_EMBEDDED_DATA), '66a7c51bd0');
  const cfg = { ...DEFAULT_EMBEDDED_DATA, imageSize: 32, imagesPerClass: 3 };
  const parts: string[] = [];
  for (const c of cfg.classes) {
    for (let i = 1; i <= 3; i++) {
      const im = generateEmbeddedImage(cfg, c, i);
      parts.push(sha256(im.rgb), JSON.stringify(im.captions), im.coarseCaption, JSON.stringify(im.scene.objects), im.split);
    }
  }
  assert.equal(sha256(parts.join('\n')), '44c8830afdf398b9481b5abbbe0734da9434af17940ecee42a4a69f764bd6457');
});

test('config: version dispatch, defaults sized after the paper (prior ≫ fine train, coarse ≫ fine, more prior classes)', () => {
  assert.equal(embeddedDataVersion(undefined, 'x'), 1);
  assert.equal(embeddedDataVersion({ imageSize: 32 }, 'x'), 1);
  assert.equal(embeddedDataVersion({ version: 1 }, 'x'), 1);
  assert.equal(embeddedDataVersion({ version: 2 }, 'x'), 2);
  assert.throws(() => embeddedDataVersion({ version: 3 }, 'cfg.json'), /cfg\.json.*version/);
  const d = DEFAULT_EMBEDDED_V2;
  const fineTrain = d.fine.classes.length * d.fine.trainPerClass;
  assert.equal(fineTrain, 648, 'fine training set not larger than v1');
  assert.ok(d.prior.classes.length * d.prior.imagesPerClass >= 3 * fineTrain);
  assert.ok(d.coarse.classes.length * d.coarse.imagesPerClass >= 30 * fineTrain);
  assert.ok(d.prior.classes.length > d.fine.classes.length);
  assert.throws(() => resolveEmbeddedV2Config({ fine: { testPerClas: 3 } }), /testPerClas/);
  assert.throws(() => resolveEmbeddedV2Config({ fine: { classes: ['stadium'] } }), /fine\.classes\[0\].*stadium/);
  assert.throws(() => resolveEmbeddedV2Config({ coarse: { noise: 2 } }), /coarse\.noise/);
});

test('test split sizing: the default split resolves a paired 1-mR difference over 5 seeds (worst-case recalls)', () => {
  // Calibration: at v1's split and recalls the model returns the measured spread.
  assert.ok(Math.abs(pairedDeltaStd(V1_TEST_IMAGES, V1_FULL_RECALLS) - V1_PAIRED_DELTA_STD) < 1e-9);
  assert.ok(Math.abs(pairedDeltaStd(4 * V1_TEST_IMAGES, V1_FULL_RECALLS) - V1_PAIRED_DELTA_STD / 2) < 1e-9);
  const n = requiredTestImages(1, 5);
  assert.ok(pairedDeltaHalfWidth(n, 5) <= 1 && pairedDeltaHalfWidth(n - 1, 5) > 1);
  const test = DEFAULT_EMBEDDED_V2.fine.classes.length * DEFAULT_EMBEDDED_V2.fine.testPerClass;
  assert.ok(test >= n && test < n + DEFAULT_EMBEDDED_V2.fine.classes.length, `test ${test} vs required ${n}`);
  assert.ok(pairedDeltaHalfWidth(V1_TEST_IMAGES, 3) > 2, 'v1 split over 3 seeds cannot resolve 1 mR');
});

test('same seed ⇒ byte-identical folders; another seed changes every image', async () => {
  const a = await generateEmbeddedV2(small(), { dataRoot: path.join(tmpRoot, 'a') });
  const b = await generateEmbeddedV2(small(), { dataRoot: path.join(tmpRoot, 'b'), force: true });
  const fa = allFiles(a.dir);
  assert.deepEqual(fa, allFiles(b.dir));
  for (const f of fa) assert.deepEqual(fs.readFileSync(path.join(a.dir, f)), fs.readFileSync(path.join(b.dir, f)), f);
  assert.equal(a.checksum, b.checksum);
  assert.equal(a.fine.images.length, 5 * 6);
  assert.equal(a.prior.images.length, 7 * 4);
  assert.equal(a.coarse.samples.length, 8 * 12);
  const again = await generateEmbeddedV2(small(), { dataRoot: path.join(tmpRoot, 'a') });
  assert.equal(again.checksum, a.checksum, 'cache reused');
  const c = await generateEmbeddedV2(small(1), { dataRoot: path.join(tmpRoot, 'a') });
  for (const rec of a.fine.images) assert.notDeepEqual(fs.readFileSync(rec.path), fs.readFileSync(path.join(c.dir, 'fine', 'images', rec.fileName)), rec.fileName);
  // Coarse pixels are lazy but deterministic.
  const cfg = small();
  const s = a.coarse.samples[3];
  assert.deepEqual(coarseSampleImage(cfg, s).png, coarseSampleImage(cfg, s).png);
});

test('the three corpora are disjoint by content hash (every image of each, coarse rendered)', async () => {
  const cfg = small();
  const g = await generateEmbeddedV2(cfg, { dataRoot: path.join(tmpRoot, 'a') });
  const owner = new Map<string, string>();
  const add = (bytes: Uint8Array, name: string): void => {
    const h = sha256(bytes);
    assert.ok(!owner.has(h), `${name} has the same pixels as ${owner.get(h)}`);
    owner.set(h, name);
  };
  for (const r of g.fine.images) add(fs.readFileSync(r.path), `fine/${r.fileName}`);
  for (const r of g.prior.images) add(fs.readFileSync(path.join(g.dir, 'prior', 'images', r.filename)), `prior/${r.filename}`);
  for (const s of g.coarse.samples) add(coarseSampleImage(cfg, s).png, `coarse/${s.key}`);
  assert.equal(owner.size, 30 + 28 + 96);
  // Same class and index in two corpora are different images (different streams).
  const fineAirport = fs.readFileSync(path.join(g.dir, 'fine', 'images', 'airport_1.png'));
  assert.notDeepEqual(fineAirport, fs.readFileSync(path.join(g.dir, 'prior', 'images', 'airport_1.png')));
});

test('caption vocabulary as designed: coarse-only words never in fine captions, long-tail rare in fine, no counts or regions in coarse', async () => {
  const cfg = resolveEmbeddedV2Config({ imageSize: 16, supersample: 1, cellGrids: [4], fine: { trainPerClass: 6, valPerClass: 0, testPerClass: 2 }, prior: { imagesPerClass: 1 }, coarse: { imagesPerClass: 40 } });
  const g = await generateEmbeddedV2(cfg, { dataRoot: path.join(tmpRoot, 'vocab') });
  const tiers = declaredVocabularyTiers();
  const longTail = new Set(tiers.longTail);
  const coarseOnly = tiers.coarseOnly.filter((w) => !longTail.has(w));
  const fineCaps = g.fine.images.flatMap((r) => r.captions);
  const fineTokens = new Set(fineCaps.flatMap(captionTokens));
  for (const w of coarseOnly) assert.ok(!fineTokens.has(w), `coarse-only word "${w}" occurs in a fine caption`);
  const coarseCaps = g.coarse.samples.map((s) => s.caption);
  const coarseTokens = new Set(coarseCaps.flatMap(captionTokens));
  for (const w of tiers.shared) {
    assert.ok(fineTokens.has(w), `shared word "${w}" missing from fine captions`);
    assert.ok(coarseTokens.has(w), `shared word "${w}" missing from coarse captions`);
  }
  const ltShare = (caps: string[]): number => caps.filter((c) => captionTokens(c).some((t) => longTail.has(t))).length / caps.length;
  const fineTrain = g.fine.images.filter((r) => r.split === 'train').flatMap((r) => r.captions);
  assert.ok(ltShare(fineTrain) <= cfg.fine.longTailRate * 1.6 + 0.01, `fine long-tail share ${ltShare(fineTrain)}`);
  assert.ok(ltShare(fineTrain) > 0, 'the long tail does occur in fine captions (rarely)');
  assert.ok(ltShare(coarseCaps) > 5 * ltShare(fineTrain), `coarse long-tail share ${ltShare(coarseCaps)}`);
  const counts = new Set<string>(COUNT_WORDS.slice(2));
  const regions = Object.values(REGION_PHRASES).flat();
  for (const c of coarseCaps) {
    assert.ok(!captionTokens(c).some((t) => counts.has(t)), `coarse caption "${c}" states a count`);
    for (const r of regions) assert.ok(!c.includes(r), `coarse caption "${c}" states a region`);
  }
  // Noise quotas are exact per class; wrong-class captions name another class.
  const perClass = cfg.coarse.imagesPerClass;
  const noisy = g.coarse.samples.filter((s) => s.noise !== 'clean').length;
  assert.equal(noisy, cfg.coarse.classes.length * Math.round(cfg.coarse.noise * perClass));
  for (const s of g.coarse.samples.filter((x) => x.noise === 'wrong')) assert.notEqual(s.namedClass, s.sceneClass);
  assert.ok(g.coarse.samples.some((s) => s.mention?.role === 'distractor'), 'some coarse captions name a distractor');
  // vocabulary.json: declared tiers and measured frequencies agree with the captions.
  const vocab = JSON.parse(fs.readFileSync(path.join(g.dir, 'vocabulary.json'), 'utf8'));
  assert.deepEqual(vocab.declared, tiers);
  assert.equal(vocab.captions.fineTrain, fineTrain.length);
  assert.equal(vocab.documentFrequency.fineTrain.airport, fineTrain.filter((c) => captionTokens(c).includes('airport')).length);
  for (const w of vocab.measured.coarseOnly) assert.ok(!fineTrain.some((c) => captionTokens(c).includes(w)));
});

test('object cells match the rasterised pixels: removing an object changes exactly its recorded cells', () => {
  const cfg = small();
  let objects = 0;
  let distractors = 0;
  for (const cls of cfg.fine.classes) {
    for (const index of [1, 2, 3]) {
      const img = generateFineImage(cfg, cls, index);
      assert.ok(img.objects.some((o) => o.sceneDefining && o.cells['8'].length > 0), `${cls}_${index}: a scene-defining object with cells`);
      img.objects.forEach((o, k) => {
        assert.equal(o.sceneDefining, o.role === 'key');
        if (o.role === 'distractor') distractors++;
        const texture = new SeedStream(7);
        const full = renderScene(img.scene, cfg.imageSize, cfg.supersample, texture.child('t'));
        const without = renderScene({ ...img.scene, objects: img.scene.objects.filter((_, j) => j !== k) }, cfg.imageSize, cfg.supersample, texture.child('t'));
        const size = cfg.imageSize;
        const changed = new Set<number>();
        for (let p = 0; p < size * size; p++) {
          if ([0, 1, 2].some((ch) => full[3 * p + ch] !== without[3 * p + ch])) {
            const x = p % size;
            const y = Math.floor(p / size);
            changed.add(Math.floor((y * 8) / size) * 8 + Math.floor((x * 8) / size));
          }
        }
        const recorded = new Map(o.cells['8']);
        for (const c of changed) assert.ok(recorded.has(c), `${cls}_${index} object ${k} (${o.kind}): pixels change in cell ${c}, not recorded`);
        const solid = o.cells['8'].filter(([, cov]) => cov >= 0.25);
        const seen = solid.filter(([c]) => changed.has(c)).length;
        assert.ok(seen >= 0.9 * solid.length, `${cls}_${index} object ${k} (${o.kind}): ${seen} of ${solid.length} covered cells change`);
        // The coarser grid covers the same area (coverage mass is conserved up to rounding).
        const mass = (g: string): number => o.cells[g].reduce((a, [, v]) => a + v, 0) / (Number(g) * Number(g));
        assert.ok(Math.abs(mass('8') - mass('4')) < 0.01, `${o.kind}: area ${mass('8')} vs ${mass('4')}`);
        objects++;
      });
    }
  }
  assert.ok(objects > 30 && distractors > 0, `${objects} objects, ${distractors} distractors checked`);
});

test('data check covers v2 (and fails naming a tampered file); export streams coarse shards and the prior in AID layout', async () => {
  const cfg = small();
  const root = path.join(tmpRoot, 'check');
  const g = await generateEmbeddedV2(cfg, { dataRoot: root });
  const ok = await checkEmbeddedV2(g.dir);
  assert.ok(ok.ok, JSON.stringify(ok.problems.slice(0, 3)));
  assert.equal(ok.fine?.imagesOpened, 30);
  assert.equal(ok.prior?.opened, 28);
  assert.equal(ok.coarse?.rendered, 96);
  const shardDir = path.join(tmpRoot, 'shards');
  const ex = exportCoarseWebdataset(cfg, g.coarse, { outDir: shardDir, samplesPerShard: 40 });
  assert.deepEqual(ex.shards.map((s) => s.samples), [40, 40, 16]);
  const shards = await checkDataset(shardDir);
  assert.ok(shards.ok, JSON.stringify(shards.problems.slice(0, 2)));
  assert.equal(shards.splits.train?.images, 96);
  assert.equal(shards.splits.train?.captions, 96);
  const aid = path.join(tmpRoot, 'aid');
  assert.equal(exportPriorImageFolder(g.dir, aid).images, 28);
  assert.ok(fs.existsSync(path.join(aid, g.prior.images[0].split, g.prior.images[0].class, g.prior.images[0].filename)));
  const victim = path.join(g.dir, 'prior', 'images', g.prior.images[2].filename);
  fs.writeFileSync(victim, fs.readFileSync(path.join(g.dir, 'prior', 'images', g.prior.images[3].filename)));
  const bad = await checkEmbeddedV2(g.dir);
  assert.ok(!bad.ok);
  assert.ok(bad.problems.some((p) => p.file === victim && /sha256/.test(p.message)), JSON.stringify(bad.problems.slice(0, 3)));
  assert.ok(bad.problems.some((p) => /disjoint|same bytes/.test(p.message)));
  assert.ok(bad.problems.some((p) => /checksum/.test(p.file)));
});

test('fine corpus keeps v1 classes and five distinct captions that name the class', () => {
  const cfg = small();
  for (const cls of cfg.fine.classes) {
    assert.ok((EMBEDDED_SCENE_CLASSES as readonly string[]).includes(cls));
    const img = generateFineImage(cfg, cls, 1);
    assert.equal(img.captions.length, 5);
    assert.equal(new Set(img.captions).size, 5);
    for (const c of img.captions) assert.ok(c.replace(/ /g, '').includes(cls.replace(/s$/, '')), `"${c}" lacks ${cls}`);
  }
});

test('CLI: generate with "version": 2, check and export the v2 folder; usage errors name the fix', async () => {
  const { runDataCli } = await import('../src/cli/data');
  const cfgFile = path.join(tmpRoot, 'v2-small.json');
  fs.writeFileSync(cfgFile, JSON.stringify({ version: 2, imageSize: 16, supersample: 1, cellGrids: [4], fine: { classes: ['airport', 'port'], trainPerClass: 2, valPerClass: 1, testPerClass: 1 }, prior: { classes: ['airport', 'stadium'], imagesPerClass: 2 }, coarse: { classes: ['airport', 'stadium'], imagesPerClass: 3 } }));
  const root = path.join(tmpRoot, 'cli');
  const out: string[] = [];
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: string | Uint8Array): boolean => {
    out.push(String(chunk));
    return true;
  }) as typeof process.stdout.write;
  let codes: number[];
  try {
    codes = [await runDataCli(['generate', '--config', cfgFile, '--data-root', root])];
    const dir = path.join(root, 'generated', fs.readdirSync(path.join(root, 'generated'))[0]);
    codes.push(await runDataCli(['check', dir]));
    codes.push(await runDataCli(['check', path.join(dir, 'coarse', 'corpus.json'), '--no-images']));
    codes.push(await runDataCli(['export', dir, '--corpus', 'coarse', '--to', 'webdataset', '--out', path.join(tmpRoot, 'cli-shards'), '--per-shard', '4']));
    codes.push(await runDataCli(['export', dir, '--corpus', 'prior', '--to', 'imagefolder', '--out', path.join(tmpRoot, 'cli-aid')]));
    codes.push(await runDataCli(['export', path.join(dir, 'fine'), '--to', 'karpathy', '--out', path.join(tmpRoot, 'cli-fine')]));
  } finally {
    process.stdout.write = write;
  }
  assert.deepEqual(codes, [0, 0, 0, 0, 0, 0], out.join(''));
  const text = out.join('');
  assert.match(text, /embedded v2/);
  assert.match(text, /fine: +8 images \(train 4 \/ val 2 \/ test 2\)/);
  assert.match(text, /\[coarse corpus\][\s\S]*6 samples/);
  assert.equal(fs.readdirSync(path.join(tmpRoot, 'cli-shards')).filter((f) => f.endsWith('.tar')).length, 2);
  assert.ok(fs.existsSync(path.join(tmpRoot, 'cli-fine', 'dataset.json')));
  const errWrite = process.stderr.write.bind(process.stderr);
  const err: string[] = [];
  process.stderr.write = ((chunk: string | Uint8Array): boolean => {
    err.push(String(chunk));
    return true;
  }) as typeof process.stderr.write;
  let bad: number;
  try {
    const dir = path.join(root, 'generated', fs.readdirSync(path.join(root, 'generated'))[0]);
    bad = await runDataCli(['export', dir, '--to', 'karpathy', '--out', path.join(tmpRoot, 'x')]);
  } finally {
    process.stderr.write = errWrite;
  }
  assert.equal(bad, 2);
  assert.match(err.join(''), /--corpus coarse/);
});

test('long-tail substitution keeps the number of the noun it replaces', async () => {
  const { longTailSubstitute, sampleSceneV2 } = await import('../src/data/embedded/v2/index');
  const scene = sampleSceneV2('airport', new SeedStream(3), false, ['airport']);
  const r = new SeedStream(4);
  assert.match(longTailSubstitute('three white planes are parked in the airport .', scene, r), /^three white (jetliners|airliners) are parked/);
  assert.match(longTailSubstitute('one grey aircraft stands on the apron .', scene, r), /^one grey (jetliner|airliner) stands/);
  assert.match(longTailSubstitute('four aircraft can be seen .', scene, r), /^four (jetliners|airliners) can/);
  assert.equal(longTailSubstitute('a long vertical runway .', scene, r), 'a long vertical runway .');
});

test('coarse corpus streams lazily: the stream, the in-memory slice and the shards hold the same bytes', async () => {
  const { streamCoarseCorpus, coarseRetrievalDataset } = await import('../src/data/embedded/v2/index');
  const cfg = small();
  const g = await generateEmbeddedV2(cfg, { dataRoot: path.join(tmpRoot, 'a') });
  const streamed = [...streamCoarseCorpus(cfg, g.coarse, 5, 4)];
  assert.deepEqual(streamed.map((s) => s.record.key), g.coarse.samples.slice(5, 9).map((s) => s.key));
  const ds = coarseRetrievalDataset(cfg, g.coarse, 4, 5);
  assert.equal(ds.images.length, 4);
  ds.images.forEach((r, i) => {
    assert.deepEqual(r.bytes, streamed[i].png);
    assert.equal(r.coarseCaption, streamed[i].record.caption);
    assert.equal(r.sceneClass, streamed[i].record.sceneClass);
  });
  // Shuffled order: the first samples mix classes.
  assert.ok(new Set(g.coarse.samples.slice(0, 12).map((s) => s.sceneClass)).size >= 4);
});
