import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backends/backend';
import { formatMeanStd, meanStd, parseCsv, readCsv, Row, rowsToHtml, toCsv, toDataFrame, toRows, writeCsv } from '../src/evaluation/tables';

const rows: Row[] = [
  { run: 'pir__base__s0', seed: 0, r1: 12.5, mR: 30.125, note: 'plain' },
  { run: 'pir__base__s1', seed: 1, r1: 11.25, mR: 29.5, note: 'comma, "quote"\nnewline' },
  { run: 'pir__base__s2', seed: 2, r1: 13, mR: Number.NaN, note: null },
  { run: '007', seed: 3, r1: -0.5, mR: 1e-7, note: 'true', ok: true },
];

test('CSV roundtrip keeps values and types (numbers, NaN, null, booleans, strings that look like numbers)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kit-csv-'));
  try {
    const file = path.join(dir, 'sub', 'results.csv');
    writeCsv(rows, file);
    const text = fs.readFileSync(file, 'utf8');
    assert.equal(text.split('\n')[0], 'run,seed,r1,mR,note,ok');
    assert.ok(text.includes('"comma, ""quote""\nnewline"'), 'RFC 4180 quoting');
    assert.equal(fs.readdirSync(path.dirname(file)).length, 1, 'atomic write leaves no temp file');
    const back = readCsv(file);
    assert.equal(back.length, rows.length);
    for (let i = 0; i < rows.length; i++) {
      for (const k of ['run', 'seed', 'r1', 'note']) assert.deepEqual(back[i][k], rows[i][k] ?? null, `row ${i} column ${k}`);
    }
    assert.ok(Number.isNaN(back[2].mR as number));
    assert.equal(back[3].mR, 1e-7);
    assert.equal(back[3].run, '007', 'a string of digits stays a string');
    assert.equal(back[3].note, 'true', "a string 'true' stays a string");
    assert.equal(back[3].ok, true);
    assert.equal(back[0].ok, null, 'missing cells become null');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  assert.throws(() => parseCsv('a,b\n1\n', 'bad.csv'), /bad\.csv: record 2 has 1 fields, expected 2/);
  assert.throws(() => parseCsv('a\n"open\n', 'q.csv'), /q\.csv: unterminated quoted field/);
  assert.equal(toCsv([]), '\n');
});

test('meanStd uses the sample std (n-1), formatMeanStd rounds both numbers', () => {
  const s = meanStd([10, 12, 14]);
  assert.equal(s.mean, 12);
  assert.equal(s.std, 2);
  assert.equal(s.n, 3);
  assert.deepEqual(meanStd([5]), { mean: 5, std: 0, n: 1 });
  assert.equal(formatMeanStd(12.3456, 0.0789, 2), '12.35 ± 0.08');
  assert.throws(() => meanStd([]), /no values/);
  assert.throws(() => meanStd([1, Number.NaN]), /value 1 is NaN/);
});

test('danfojs-node loads with wasm active, keeps the backend, and round-trips rows', async () => {
  await initBackend('wasm', { quiet: true });
  assert.equal(tf.getBackend(), 'wasm');
  const df = toDataFrame(rows.slice(0, 2));
  assert.equal(tf.getBackend(), 'wasm', 'loading danfo must not switch the tfjs backend');
  assert.deepEqual(df.columns, ['run', 'seed', 'r1', 'mR', 'note']);
  assert.deepEqual(df.shape, [2, 5]);
  const mean = df.column('r1').mean();
  assert.equal(mean, 11.875);
  assert.equal(tf.getBackend(), 'wasm');
  const back = toRows(df);
  assert.equal(back[1].note, rows[1].note);
  assert.equal(back[0].mR, 30.125);
  const html = rowsToHtml(back, { caption: 'runs <1>' });
  assert.ok(html.includes('<th>r1</th>') && html.includes('runs &lt;1&gt;') && html.includes('&quot;quote&quot;'));
  const empty = toDataFrame([], { columns: ['a'] });
  assert.deepEqual(toRows(empty), []);
});
