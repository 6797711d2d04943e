import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { decodeRecordImage, loadDataset, loadDatasetSync } from '../src/data/loaders';
import { writeTar, writeTarFile } from '../src/io/tar';
import { WordTokenizer } from '../src/data/word_tokenizer';
import { projectRoot } from '../src/utils/fs';

const IMGS = path.resolve(projectRoot(), '..', 'shared', 'real', 'images');

const made: string[] = [];
function tmp(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'dl-err-'));
  made.push(d);
  return d;
}
after(() => {
  for (const d of made) fs.rmSync(d, { recursive: true, force: true });
});
function writeJson(dir: string, name: string, v: unknown): string {
  const f = path.join(dir, name);
  fs.writeFileSync(f, JSON.stringify(v));
  return f;
}
const five = ['a', 'b', 'c', 'd', 'e'];

test('missing image → error naming the path and the record', async () => {
  const dir = tmp();
  const f = writeJson(dir, 'x_test.json', [{ image: 'test/nothere_1.jpg', caption: five }]);
  const ds = loadDatasetSync(f, { imagesRoot: dir });
  await assert.rejects(decodeRecordImage(ds.images[0]), (e: Error) =>
    e.message.includes(path.join(dir, 'test', 'nothere_1.jpg')) && /missing image file/.test(e.message) && e.message.includes('image 0 "test/nothere_1.jpg" (test)'));
});

test('undecodable image → error naming the path, the record and the format', async () => {
  const dir = tmp();
  fs.writeFileSync(path.join(dir, 'bad_1.jpg'), fs.readFileSync(path.join(IMGS, 'rsicd', '00001.jpg')).subarray(0, 500));
  const f = writeJson(dir, 'x_test.json', [{ image: 'bad_1.jpg', caption: five }]);
  const ds = loadDatasetSync(f);
  await assert.rejects(decodeRecordImage(ds.images[0]), (e: Error) =>
    e.message.includes(path.join(dir, 'bad_1.jpg')) && /cannot decode JPEG/.test(e.message) && e.message.includes('image 0 "bad_1.jpg"'));
});

test('record without captions → error naming file and record (Karpathy and PIR JSON)', () => {
  const dir = tmp();
  const k = writeJson(dir, 'k.json', { images: [{ filename: 'a_1.jpg', split: 'train', sentences: [{ raw: 'x' }] }, { filename: 'b_2.jpg', split: 'train', sentences: [] }] });
  assert.throws(() => loadDatasetSync(k), (e: Error) => e.message.includes(`${k} images[1] (b_2.jpg)`) && /has no captions/.test(e.message));
  const p = writeJson(dir, 'p_test.json', [{ image: 'a_1.jpg', caption: five }, { image: 'b_1.jpg', caption: ['x', '  ', 'y', 'z', 'w'] }]);
  assert.throws(() => loadDatasetSync(p), (e: Error) => e.message.includes(`${p} record 1 (b_1.jpg) caption[1]`) && /empty caption/.test(e.message));
});

test('val/test image without exactly five captions → error (train may have any number ≥ 1)', () => {
  const dir = tmp();
  const p = writeJson(dir, 'p_val.json', [{ image: 'a_1.jpg', caption: five }, { image: 'b_1.jpg', caption: ['1', '2', '3', '4'] }]);
  assert.throws(() => loadDatasetSync(p), (e: Error) => e.message.includes(`${p} record 1 (b_1.jpg)`) && /val image "b_1.jpg" has 4 captions; the retrieval protocol needs exactly 5/.test(e.message));
  assert.equal(loadDatasetSync(p, { captionsPerEvalImage: null }).images[1].captions.length, 4);
  const t = writeJson(dir, 'p_train.json', [{ image: 'a_1.jpg', caption: 'one', image_id: 0 }]);
  assert.equal(loadDatasetSync(t).images[0].captions.length, 1);
  // precomp: caption line count matching neither layout.
  fs.writeFileSync(path.join(dir, 'q_test_filename.txt'), 'a_1.jpg\nb_2.jpg\n');
  fs.writeFileSync(path.join(dir, 'q_test_caps.txt'), 'x\n'.repeat(7));
  assert.throws(() => loadDatasetSync(path.join(dir, 'q_test_caps.txt')), /7 caption lines for 2 names.*expected 2 \(one name per caption\) or 10/);
});

test('duplicate image names → error naming both records', () => {
  const dir = tmp();
  const p = writeJson(dir, 'p_test.json', [{ image: 'a_1.jpg', caption: five }, { image: 'b_1.jpg', caption: five }, { image: 'a_1.jpg', caption: five }]);
  assert.throws(() => loadDatasetSync(p), (e: Error) => e.message.includes(`${p} record 2 (a_1.jpg): duplicate image name "a_1.jpg" (already at ${p} record 0 (a_1.jpg))`));
  fs.writeFileSync(path.join(dir, 'r_test_filename.txt'), ['a_1.jpg', 'a_1.jpg', 'b_1.jpg', 'a_1.jpg'].join('\n') + '\n');
  fs.writeFileSync(path.join(dir, 'r_test_caps.txt'), 'x\ny\nz\nw\n');
  assert.throws(() => loadDatasetSync(path.join(dir, 'r_test_caps.txt'), { captionsPerEvalImage: null }), /line 4 \(a_1.jpg\): duplicate image name "a_1.jpg"/);
  const t = writeJson(dir, 'p_train.json', [{ image: 'a_1.jpg', caption: 'x', image_id: 1 }, { image: 'a_1.jpg', caption: 'y', image_id: 2 }]);
  assert.throws(() => loadDatasetSync(t), /record 1 \(a_1.jpg\): image_id 2 differs from 1/);
});

test('unknown split → error naming the record and the value; unnamed split without a hint → error', () => {
  const dir = tmp();
  const k = writeJson(dir, 'k.json', { images: [{ filename: 'a_1.jpg', split: 'holdout', sentences: [{ raw: 'x' }] }] });
  assert.throws(() => loadDatasetSync(k), (e: Error) => e.message.includes(`${k} images[0] (a_1.jpg): unknown split "holdout"`));
  const p = writeJson(dir, 'captions.json', [{ image: 'a_1.jpg', caption: five }]);
  assert.throws(() => loadDatasetSync(p), /captions.json: cannot tell the split/);
  assert.equal(loadDatasetSync(p, { split: 'test' }).images[0].split, 'test');
});

test('empty, marker-only and truncated shards → errors naming the shard', async () => {
  const dir = tmp();
  const empty = path.join(dir, 'empty.tar');
  fs.writeFileSync(empty, new Uint8Array(0));
  await assert.rejects(loadDataset(empty), (e: Error) => e.message.includes(empty) && /empty tar archive/.test(e.message));
  const none = path.join(dir, 'none.tar');
  writeTarFile(none, []);
  await assert.rejects(loadDataset(none), (e: Error) => e.message.includes(`${none}: shard holds no samples`));
  const bytes = writeTar([
    { name: 's1.jpg', data: fs.readFileSync(path.join(IMGS, 'rsicd', '00001.jpg')) },
    { name: 's1.txt', data: new TextEncoder().encode('a caption') },
  ]);
  const cut = path.join(dir, 'cut.tar');
  fs.writeFileSync(cut, bytes.subarray(0, 5000));
  await assert.rejects(loadDataset(cut), (e: Error) => e.message.includes(cut) && /truncated/.test(e.message));
  const nocap = path.join(dir, 'nocap.tar');
  writeTarFile(nocap, [{ name: 's1.jpg', data: fs.readFileSync(path.join(IMGS, 'rsicd', '00001.jpg')) }]);
  await assert.rejects(loadDataset(nocap), (e: Error) => e.message.includes(`${nocap} sample "s1": no caption`));
});

test('malformed annotation files → errors naming the file; word vocabulary files validated on load', () => {
  const dir = tmp();
  const bad = path.join(dir, 'bad.json');
  fs.writeFileSync(bad, '{"images": [');
  assert.throws(() => loadDatasetSync(bad), (e: Error) => e.message.includes(bad) && /not valid JSON/.test(e.message));
  const other = writeJson(dir, 'other.json', { foo: 1 });
  assert.throws(() => loadDatasetSync(other), /neither Karpathy/);
  const v = path.join(dir, 'vocab.json');
  WordTokenizer.build(['a b c']).save(v);
  assert.deepEqual(fs.readdirSync(dir).filter((f) => f.endsWith('.tmp')), []);
  const j = JSON.parse(fs.readFileSync(v, 'utf8')) as { tokens: string[] };
  j.tokens[1] = 'a';
  fs.writeFileSync(v, JSON.stringify(j));
  assert.throws(() => WordTokenizer.load(v), (e: Error) => e.message.includes(v) && /token 1 is "a", expected <unk>/.test(e.message));
});
