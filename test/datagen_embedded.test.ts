import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {
  CLASS_KINDS,
  COUNT_WORDS,
  DEFAULT_EMBEDDED_DATA,
  EMBEDDED_SCENE_CLASSES,
  EmbeddedDataConfig,
  OBJECT_NOUNS,
  ObjectKind,
  Scene,
  captionTokens,
  embeddedConfigHash,
  generateEmbeddedDataset,
  generateEmbeddedImage,
  objectCoverageGrid,
  readEmbeddedObjects,
  renderScene,
  resolveEmbeddedConfig,
  validateEmbeddedConfig,
} from '../src/data/embedded';
import { decodeImage } from '../src/io/image_codecs';
import { sceneClassFromFileName } from '../src/data/types';
import { SeedStream } from '../src/utils/random';

const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'datagen-embedded-'));
after(() => fs.rmSync(tmpRoot, { recursive: true, force: true }));
const small = (over: Partial<EmbeddedDataConfig> = {}): EmbeddedDataConfig => ({
  ...DEFAULT_EMBEDDED_DATA,
  imageSize: 32,
  imagesPerClass: 3,
  ...over,
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

test('default config: ≥16 RSITMD-named classes, 64 px, 5 captions, RSITMD-like split fractions', () => {
  validateEmbeddedConfig(DEFAULT_EMBEDDED_DATA);
  assert.ok(DEFAULT_EMBEDDED_DATA.classes.length >= 16);
  assert.equal(DEFAULT_EMBEDDED_DATA.imageSize, 64);
  assert.equal(DEFAULT_EMBEDDED_DATA.captionsPerImage, 5);
  for (const c of DEFAULT_EMBEDDED_DATA.classes) assert.ok(!c.includes('_') && !c.includes(' '), c);
  const f = DEFAULT_EMBEDDED_DATA.splitFractions;
  assert.ok(Math.abs(f.train - 0.724) < 0.01 && Math.abs(f.val - 0.18) < 0.01 && Math.abs(f.test - 0.095) < 0.01);
  assert.throws(() => validateEmbeddedConfig(small({ classes: ['airport', 'volcano'] })), /classes\[1\].*volcano/);
  assert.throws(() => validateEmbeddedConfig(small({ splitFractions: { train: 0.5, val: 0.2, test: 0.2 } })), /sum to 1/);
  const r = resolveEmbeddedConfig({ imageSize: 224, splitFractions: { train: 0.8, val: 0.1, test: 0.1 } });
  assert.equal(r.imageSize, 224);
  assert.equal(r.imagesPerClass, DEFAULT_EMBEDDED_DATA.imagesPerClass);
  assert.throws(() => resolveEmbeddedConfig({ imgSize: 32 }), /imgSize/);
  assert.throws(() => resolveEmbeddedConfig({ imageSize: 8 }), /imageSize/);
});

test('same seed ⇒ byte-identical dataset folders; different seed ⇒ different', async () => {
  const cfg = small();
  const a = await generateEmbeddedDataset(cfg, { dataRoot: path.join(tmpRoot, 'a') });
  const b = await generateEmbeddedDataset(cfg, { dataRoot: path.join(tmpRoot, 'b'), force: true });
  const fa = allFiles(a.dir);
  const fb = allFiles(b.dir);
  assert.deepEqual(fa, fb);
  assert.ok(fa.length === cfg.classes.length * cfg.imagesPerClass + 3, `files: ${fa.length}`);
  for (const f of fa) assert.deepEqual(fs.readFileSync(path.join(a.dir, f)), fs.readFileSync(path.join(b.dir, f)), f);
  assert.equal(a.checksum, b.checksum);
  assert.equal(path.basename(a.dir), `embedded-${embeddedConfigHash(cfg)}`);

  const c = await generateEmbeddedDataset(small({ seed: 1 }), { dataRoot: path.join(tmpRoot, 'a') });
  assert.notEqual(c.checksum, a.checksum);
  let differing = 0;
  for (const rec of a.dataset.images) {
    const other = path.join(c.dir, 'images', rec.fileName);
    if (!fs.readFileSync(rec.path).equals(fs.readFileSync(other))) differing++;
  }
  assert.equal(differing, a.dataset.images.length, 'every image changes with the seed');
  const capsA = a.dataset.images.map((r) => r.captions.join('|'));
  const capsC = c.dataset.images.map((r) => r.captions.join('|'));
  assert.ok(capsA.filter((x, i) => x !== capsC[i]).length > capsA.length * 0.8);
});

test('cache: a valid folder is reused; a tampered one is regenerated', async () => {
  const cfg = small({ classes: ['airport', 'port'], imagesPerClass: 2 });
  const root = path.join(tmpRoot, 'cache');
  const first = await generateEmbeddedDataset(cfg, { dataRoot: root });
  const img = first.dataset.images[0].path;
  const before = fs.statSync(img).mtimeMs;
  const original = fs.readFileSync(img);
  const again = await generateEmbeddedDataset(cfg, { dataRoot: root });
  assert.equal(again.checksum, first.checksum);
  assert.equal(fs.statSync(img).mtimeMs, before, 'not rewritten');
  fs.writeFileSync(img, new Uint8Array([1, 2, 3]));
  const fixed = await generateEmbeddedDataset(cfg, { dataRoot: root });
  assert.equal(fixed.checksum, first.checksum);
  assert.deepEqual(fs.readFileSync(img), original);
  assert.deepEqual(fs.readdirSync(path.join(root, 'generated')), [path.basename(first.dir)], 'no temp folders left');
});

test('Karpathy dataset.json, file names, PNG size, splits in RSITMD proportions, coarse-caption noise', async () => {
  const cfg: EmbeddedDataConfig = { ...DEFAULT_EMBEDDED_DATA, imageSize: 16, supersample: 1 };
  let calls = 0;
  const g = await generateEmbeddedDataset(cfg, { dataRoot: path.join(tmpRoot, 'splits'), onProgress: () => calls++ });
  const n = cfg.classes.length * cfg.imagesPerClass;
  assert.equal(calls, n);
  const json = JSON.parse(fs.readFileSync(g.annotationFile, 'utf8'));
  assert.equal(json.dataset, 'embedded');
  assert.equal(json.images.length, n);
  let sentid = 0;
  json.images.forEach((im: { filename: string; imgid: number; split: string; sentences: Array<{ raw: string; tokens: string[]; imgid: number; sentid: number }>; sentids: number[]; class: string; coarse_caption: string }, i: number) => {
    assert.equal(im.imgid, i);
    assert.match(im.filename, /^[a-z]+_\d+\.png$/);
    assert.equal(sceneClassFromFileName(im.filename), im.class);
    assert.equal(im.sentences.length, 5);
    for (const s of im.sentences) {
      assert.equal(s.imgid, i);
      assert.equal(s.sentid, sentid++);
      assert.deepEqual(s.tokens, captionTokens(s.raw));
    }
    assert.deepEqual(im.sentids, im.sentences.map((s) => s.sentid));
    assert.equal(typeof im.coarse_caption, 'string');
  });
  const counts = { train: 0, val: 0, test: 0 };
  for (const r of g.dataset.images) counts[r.split]++;
  // Stratified: per class round(0.0953·50)=5 test, round(0.1805·50)=9 val, 36 train.
  assert.deepEqual(counts, { train: 36 * 18, val: 9 * 18, test: 5 * 18 });
  assert.deepEqual(g.dataset.classes, [...cfg.classes].sort());
  assert.equal(g.dataset.format, 'embedded');
  const png = decodeImage(fs.readFileSync(g.dataset.images[0].path), g.dataset.images[0].path);
  assert.equal(png.width, 16);
  assert.equal(png.height, 16);
  // Coarse captions: 20% noisy per class (half generic, half wrong class).
  const generic = /^(a satellite image|an aerial photograph|a remote sensing image of the ground|a top down view of some land)$/;
  const nGeneric = g.dataset.images.filter((r) => generic.test(r.coarseCaption ?? '')).length;
  assert.equal(nGeneric, 5 * 18);
  const unique = new Set(g.dataset.images.flatMap((r) => r.captions));
  assert.ok(unique.size > 0.95 * n * 5, `unique captions ${unique.size} of ${n * 5}`);
});

// ---- caption ↔ scene consistency -----------------------------------------------------------

/** Noun token sequences → kind (longest first). */
const NOUNS: Array<{ toks: string[]; kind: ObjectKind }> = (Object.keys(OBJECT_NOUNS) as ObjectKind[])
  .flatMap((kind) => [...OBJECT_NOUNS[kind].sing, ...OBJECT_NOUNS[kind].plur].map((n) => ({ toks: n.split(' '), kind })))
  .sort((a, b) => b.toks.length - a.toks.length);
const NUMBER = new Map<string, number>(COUNT_WORDS.map((w, i) => [w, i] as [string, number]).filter(([w]) => w !== 'no'));
/** Words after a count word within which its noun must appear. */
const LOOKAHEAD = 4;

/** (count, kind) mentions parsed from a caption: a count word followed within 4 words (same clause, before any 'and') by an object noun. */
function parseCounts(caption: string): Array<{ n: number; kind: ObjectKind }> {
  const out: Array<{ n: number; kind: ObjectKind }> = [];
  for (const clause of caption.split(/[,;]/)) out.push(...parseClause(captionTokens(clause)));
  return out;
}

function parseClause(toks: string[]): Array<{ n: number; kind: ObjectKind }> {
  const out: Array<{ n: number; kind: ObjectKind }> = [];
  for (let i = 0; i < toks.length; i++) {
    const n = NUMBER.get(toks[i]);
    if (n === undefined) continue;
    search: for (let j = i + 1; j <= i + LOOKAHEAD && j < toks.length; j++) {
      if (NUMBER.has(toks[j]) || toks[j] === 'and') break;
      for (const noun of NOUNS) {
        if (noun.toks.every((t, k) => toks[j + k] === t)) {
          out.push({ n, kind: noun.kind });
          break search;
        }
      }
    }
  }
  return out;
}

/** The object kind every image of a class shows at least once (its defining objects). */
const DEFINING_KIND: Record<string, ObjectKind> = {
  airport: 'plane',
  baseballfield: 'diamond',
  beach: 'umbrella',
  bridge: 'bridge',
  church: 'church',
  forest: 'clearing',
  industrial: 'building',
  meadow: 'tree',
  parking: 'car',
  playground: 'track',
  pond: 'pond',
  port: 'ship',
  railwaystation: 'train',
  residential: 'house',
  storagetanks: 'tank',
};

function countKind(scene: Scene, kind: ObjectKind): number {
  return scene.objects.filter((o) => o.kind === kind).length;
}

test('captions name the class and state counts that match the scene objects', () => {
  const cfg = small({ imagesPerClass: 12, distractorRate: 0.5, distractorMentionRate: 0.5 });
  let checked = 0;
  let images = 0;
  for (const cls of cfg.classes) {
    const word = cls.replace(/s$/, '');
    for (let i = 1; i <= cfg.imagesPerClass; i++) {
      const img = generateEmbeddedImage(cfg, cls, i);
      images++;
      assert.equal(img.captions.length, 5);
      assert.equal(new Set(img.captions).size, 5, `${img.fileName}: captions differ`);
      for (const cap of img.captions) {
        assert.ok(cap.replace(/ /g, '').includes(word), `${img.fileName}: "${cap}" lacks "${cls}"`);
        assert.ok(cap.endsWith(' .'));
        for (const m of parseCounts(cap)) {
          assert.equal(countKind(img.scene, m.kind), m.n, `${img.fileName}: "${cap}" says ${m.n} ${m.kind}`);
          checked++;
        }
      }
      const defining = DEFINING_KIND[cls];
      if (defining) assert.ok(img.scene.objects.some((o) => o.kind === defining && o.role === 'key'), `${img.fileName}: no key ${defining}`);
      // Distractor kinds never collide with the class's own kinds.
      for (const o of img.scene.objects.filter((q) => q.role === 'distractor')) {
        assert.ok(!CLASS_KINDS[cls].includes(o.kind), `${img.fileName}: distractor ${o.kind}`);
        assert.notEqual(o.sourceClass, cls);
      }
      // Every object's centre is inside the image.
      for (const o of img.scene.objects) if (o.kind !== 'bridge') assert.ok(o.cx > 0 && o.cx < 1 && o.cy > 0 && o.cy < 1);
    }
  }
  assert.ok(checked > images * 2, `only ${checked} count mentions parsed over ${images} images`);
});

test('key objects are really drawn: removing any one changes the pixels', () => {
  const cfg = small({ imageSize: 64, imagesPerClass: 2 });
  for (const cls of cfg.classes) {
    const img = generateEmbeddedImage(cfg, cls, 1);
    const full = renderScene(img.scene, 64, 2, new SeedStream(5));
    img.scene.objects.forEach((o, k) => {
      const without = { ...img.scene, objects: img.scene.objects.filter((_, j) => j !== k) };
      const other = renderScene(without, 64, 2, new SeedStream(5));
      let diff = 0;
      for (let p = 0; p < full.length; p++) if (Math.abs(full[p] - other[p]) > 8) diff++;
      assert.ok(diff > 0, `${cls}_1: object ${k} (${o.kind}, ${o.role}) is invisible`);
    });
  }
});

test('distractor rate is honoured per class; rate 0 gives none', () => {
  const cfg = small({ imagesPerClass: 20, distractorRate: 0.3 });
  let withD = 0;
  let total = 0;
  for (const cls of cfg.classes) {
    for (let i = 1; i <= cfg.imagesPerClass; i++) {
      const s = generateEmbeddedImage(cfg, cls, i).scene;
      total++;
      if (s.objects.some((o) => o.role === 'distractor')) withD++;
    }
  }
  // 6 of 20 per class are drawn with distractors; a full scene may rarely have no room.
  assert.ok(withD <= 0.3 * total && withD >= 0.27 * total, `${withD} of ${total}`);
  const none = small({ distractorRate: 0 });
  for (const cls of none.classes) assert.ok(!generateEmbeddedImage(none, cls, 1).scene.objects.some((o) => o.role === 'distractor'));
});

/** 4×4×4 colour histogram (normalised) of an RGB image. */
function colourHistogram(rgb: Uint8Array): number[] {
  const h = new Array<number>(64).fill(0);
  for (let p = 0; p < rgb.length; p += 3) h[(rgb[p] >> 6) * 16 + (rgb[p + 1] >> 6) * 4 + (rgb[p + 2] >> 6)] += 3 / rgb.length;
  return h;
}

test('classes are visibly distinct: nearest-centroid on colour histograms beats chance by far', () => {
  const cfg = small({ imageSize: 32, imagesPerClass: 8 });
  const train = 5;
  const centroids = cfg.classes.map((cls) => {
    const c = new Array<number>(64).fill(0);
    for (let i = 1; i <= train; i++) colourHistogram(generateEmbeddedImage(cfg, cls, i).rgb).forEach((v, k) => (c[k] += v / train));
    return c;
  });
  let correct = 0;
  let total = 0;
  cfg.classes.forEach((cls, ci) => {
    for (let i = train + 1; i <= cfg.imagesPerClass; i++) {
      const img = generateEmbeddedImage(cfg, cls, i);
      const h = colourHistogram(img.rgb);
      const dist = centroids.map((c) => c.reduce((a, v, k) => a + Math.abs(v - h[k]), 0));
      if (dist.indexOf(Math.min(...dist)) === ci) correct++;
      total++;
      assert.notDeepEqual(img.rgb, generateEmbeddedImage(cfg, cls, i - 1).rgb);
    }
  });
  // Chance is 1/18 ≈ 6%; colour statistics alone separate most classes.
  assert.ok(correct / total > 0.5, `nearest-centroid accuracy ${correct}/${total}`);
});

test('works at 224 px (CLIP size)', () => {
  const img = generateEmbeddedImage(small({ imageSize: 224 }), 'airport', 1);
  assert.equal(img.rgb.length, 224 * 224 * 3);
  const dec = decodeImage(img.png, 'airport_1.png');
  assert.equal(dec.width, 224);
  assert.deepEqual(dec.data, img.rgb);
});

test('object annotations in dataset.json: boxes contain the objects, coverage grid marks key objects', async () => {
  const cfg = small({ classes: ['airport', 'storagetanks', 'beach'], imagesPerClass: 4, distractorRate: 0.5 });
  const g = await generateEmbeddedDataset(cfg, { dataRoot: path.join(tmpRoot, 'objects') });
  const objects = readEmbeddedObjects(g.dir);
  assert.equal(objects.size, 12);
  for (const rec of g.dataset.images) {
    const cls = rec.sceneClass as string;
    const idx = Number(rec.fileName.replace(/^.*_(\d+)\.png$/, '$1'));
    const scene = generateEmbeddedImage(cfg, cls, idx).scene;
    const ann = objects.get(rec.fileName);
    assert.ok(ann);
    assert.equal(ann.length, scene.objects.length);
    ann.forEach((a, k) => {
      const o = scene.objects[k];
      assert.equal(a.kind, o.kind);
      assert.equal(a.role, o.role);
      assert.ok(a.box[0] <= o.cx && o.cx <= a.box[2] && a.box[1] <= o.cy && o.cy <= a.box[3]);
      assert.ok(a.box[2] - a.box[0] >= o.size * 0.05);
    });
    const key = objectCoverageGrid(ann, 7, 7, ['key']);
    assert.equal(key.length, 49);
    assert.ok(key.some((v) => v > 0), `${rec.fileName}: key objects cover some patch`);
    assert.ok(key.some((v) => v === 0), `${rec.fileName}: key objects do not cover everything`);
  }
  const withDistractors = [...objects.values()].filter((a) => a.some((o) => o.role === 'distractor'));
  assert.ok(withDistractors.length >= 3);
  for (const a of withDistractors) assert.ok(objectCoverageGrid(a, 7, 7, ['distractor']).some((v) => v > 0));
});
