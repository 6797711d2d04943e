import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ClipTokenizer, CLIP_EOT, CLIP_SOT, clipCleanText, fixText, htmlUnescape } from '../src/data/clip_tokenizer';
import { WordTokenizer, WORD_EOT, WORD_SOT, WORD_UNK, preCaption } from '../src/data/word_tokenizer';
import { readSafetensorsFile, toInt32Array } from '../src/io/safetensors';
import { loadDatasetSync } from '../src/data/loaders';
import { projectRoot } from '../src/utils/fs';

const SHARED = path.resolve(projectRoot(), '..', 'shared');
const BPE = path.join(SHARED, 'vocab', 'bpe_simple_vocab_16e6.txt.gz');

interface GoldenTok { context_length: number; sot_token_id: number; eot_token_id: number; entries: { text: string; ids: number[]; truncated: boolean }[] }

test('CLIP tokenizer: exact parity with open_clip SimpleTokenizer on every golden entry (safetensors ids)', () => {
  const tok = ClipTokenizer.fromFile(BPE);
  const golden = JSON.parse(fs.readFileSync(path.join(SHARED, 'golden', 'clip_tokenizer.json'), 'utf8')) as GoldenTok;
  const st = readSafetensorsFile(path.join(SHARED, 'golden', 'clip_tokenizer.safetensors')).get('output/ids');
  assert.ok(st !== undefined);
  const [n, L] = st.shape;
  assert.equal(n, golden.entries.length);
  assert.equal(L, golden.context_length); // context length read from the data, not assumed
  assert.equal(golden.sot_token_id, CLIP_SOT);
  assert.equal(golden.eot_token_id, CLIP_EOT);
  const want = toInt32Array(st, 'output/ids');
  const got = tok.encodeBatch(golden.entries.map((e) => e.text), { contextLength: L });
  for (let i = 0; i < n; i++) {
    assert.deepEqual(Array.from(got.subarray(i * L, (i + 1) * L)), Array.from(want.subarray(i * L, (i + 1) * L)), JSON.stringify(golden.entries[i].text));
    assert.deepEqual(Array.from(got.subarray(i * L, (i + 1) * L)), golden.entries[i].ids);
  }
  assert.ok(golden.entries.some((e) => e.truncated));
});

test('CLIP tokenizer: truncation at other context lengths keeps EOT last; cleaning steps', () => {
  const tok = ClipTokenizer.fromFile(BPE);
  const text = 'The school is near a pond and a resort; many trees are planted along the winding roads.';
  const full = tok.encodeRow(text, 77);
  const n = full.indexOf(CLIP_EOT) + 1;
  for (const L of [8, 16, n - 1, n, n + 5]) {
    const row = tok.encodeRow(text, L);
    assert.equal(row.length, L);
    assert.equal(row[0], CLIP_SOT);
    if (L < n) {
      assert.equal(row[L - 1], CLIP_EOT);
      assert.deepEqual(Array.from(row.subarray(0, L - 1)), Array.from(full.subarray(0, L - 1)));
    } else {
      assert.deepEqual(Array.from(row.subarray(0, n)), Array.from(full.subarray(0, n)));
      assert.ok(row.subarray(n).every((v) => v === 0));
    }
  }
  assert.equal(fixText('Don’t “say” it'), 'Don\'t "say" it');
  assert.equal(fixText('ﬁeld ＡＢＣ'), 'field ABC');
  assert.equal(fixText('cafe\u0301'), 'café');
  assert.equal(htmlUnescape('&amp;amp; &lt; &#39; &#x41; &ampx &bogus;'), "&amp; < ' A &x &bogus;");
  assert.equal(clipCleanText('  Farmland &amp;amp;\tmeadow\n '), 'farmland & meadow');
  assert.deepEqual(tok.encode('2,500'), tok.encode('2 , 5 0 0'));
  assert.equal(tok.decode(tok.encodeRow('A BASEBALL field.', 77)).trim(), '<start_of_text>a baseball field . <end_of_text>');
  assert.throws(() => ClipTokenizer.fromFile('/nonexistent/bpe.txt.gz'), /\/nonexistent\/bpe.txt.gz: cannot read the CLIP BPE vocabulary/);
});

test('preCaption matches the reference cleaning (method.md §2.1)', () => {
  assert.equal(preCaption('The river banks, decorated with trees (and grass)!'), 'the river banks decorated with trees and grass');
  assert.equal(preCaption('A red-roofed house / a "blue" pool; it\'s #1 ~ ok: fine?*'), 'a red roofed house a blue pool its 1 ok fine');
  assert.equal(preCaption('  many   buildings .  '), 'many buildings');
  const long = Array.from({ length: 40 }, (_, i) => `w${i}`).join(' ');
  assert.equal(preCaption(long).split(' ').length, 30);
  assert.equal(preCaption(long, 5), 'w0 w1 w2 w3 w4');
  assert.equal(preCaption('a <person> walks'), 'a person walks');
});

test('word tokenizer: vocabulary from RSITMD train captions, specials, min count, rows, save/load', () => {
  const ds = loadDatasetSync(path.join(SHARED, 'real', 'captions', 'pir-json', 'rsitmd_train.json'));
  const caps = ds.images.flatMap((r) => r.captions);
  const tok = WordTokenizer.build(caps, { minCount: 5 });
  assert.deepEqual(tok.tokens.slice(0, 4), ['<pad>', '<unk>', '<sot>', '<eot>']);
  assert.equal(tok.tokens[4], 'the'); // most frequent word
  assert.ok(tok.counts.slice(4).every((c, i, a) => c >= 5 && (i === 0 || a[i - 1] >= c)));
  const all = WordTokenizer.build(caps);
  assert.ok(all.vocabSize > tok.vocabSize);
  assert.equal(all.unknownRate(caps), 0);
  assert.ok(tok.unknownRate(caps) > 0 && tok.unknownRate(caps) < 0.05);
  assert.equal(tok.contextLength, 32);
  const row = tok.encodeRow('The river banks, decorated with zzzzqx trees.');
  assert.equal(row.length, 32);
  assert.equal(row[0], WORD_SOT);
  assert.equal(row[1], tok.id('the'));
  assert.equal(row[5], tok.id('with'));
  assert.equal(row[6], WORD_UNK);
  assert.equal(row[8], WORD_EOT);
  assert.ok(row.subarray(9).every((v) => v === 0));
  assert.equal(tok.decode(row), 'the river banks decorated with <unk> trees');
  const long = tok.encodeRow(Array(50).fill('the').join(' '), 10);
  assert.equal(long[9], WORD_EOT);
  const { ids, length } = tok.encodeBatch(['a b', 'the river banks'], { padding: 'longest' });
  assert.equal(length, 5);
  assert.equal(ids.length, 10);
  const f = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'dl-voc-')), 'vocab.json');
  tok.save(f);
  const back = WordTokenizer.load(f);
  assert.deepEqual(back.tokens, tok.tokens);
  assert.deepEqual(back.encodeRow(caps[7]), tok.encodeRow(caps[7]));
  fs.rmSync(path.dirname(f), { recursive: true, force: true });
});
