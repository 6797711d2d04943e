import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { projectRoot } from '../src/utils/fs';
import { discoverCases, detectType } from '../src/parity/discover';
import { parseToleranceNote, toleranceTable } from '../src/parity/tolerance';
import { readSafetensorsFile, writeSafetensorsFile } from '../src/io/safetensors';

const ROOT = projectRoot();
const GOLDEN = path.resolve(ROOT, '..', 'shared', 'golden');

function parity(dir: string, extra: string[] = []): { status: number | null; out: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src', 'cli', 'parity.ts'), dir, ...extra], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, KIT_BACKEND: process.env.KIT_BACKEND ?? 'wasm' },
  });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

test('npm run parity on ../shared/golden: every case PASSes, one line each, exit 0', () => {
  const reportFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'parity-')), 'report.json');
  const r = parity(GOLDEN, ['--json', reportFile]);
  assert.equal(r.status, 0, r.out);
  const lines = r.out.split('\n').filter((l) => /^(PASS|FAIL|ERROR|NOT IMPLEMENTED)\s/.test(l));
  const names = lines.map((l) => l.split(/\s+/)[1]).sort();
  assert.deepEqual(names, ['clip_tokenizer', 'losses', 'pir_blocks', 'priorclip_tiny', 'priorclip_vitb32_keys', 'retrieval', 'soft_belief', 'spatial_pae', 'temporal_pae']);
  for (const l of lines) {
    assert.match(l, /^PASS\s/);
    assert.match(l, /max abs \S+\s+max rel \S+/);
  }
  const report = JSON.parse(fs.readFileSync(reportFile, 'utf8')) as { reports: { name: string; rows: unknown[] }[] };
  assert.equal(report.reports.find((x) => x.name === 'priorclip_tiny')?.rows.length, 65);
  fs.rmSync(path.dirname(reportFile), { recursive: true });
});

test('renamed fixtures are typed by content; an empty dir, an unknown case and a wrong output all fail', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'parity-renamed-'));
  try {
    // Hidden-variant style names: the type must come from the JSON / tensors, not the file name.
    const link = (from: string, to: string): void => fs.symlinkSync(path.join(GOLDEN, from), path.join(dir, to));
    link('spatial_pae.safetensors', 'case_b1.safetensors');
    link('spatial_pae.json', 'case_b1.json');
    link('priorclip_tiny.safetensors', 'model_variant.safetensors');
    link('priorclip_tiny.json', 'model_variant.json');
    link('priorclip_tiny_state_dict.pt', 'model_variant_sd.pt');
    const cases = discoverCases(dir);
    assert.deepEqual(cases.map((c) => [c.name, c.type]), [['case_b1', 'spatial_pae'], ['model_variant', 'priorclip']]);
    assert.deepEqual(cases[1].checkpoints.map((c) => path.basename(c)), ['model_variant_sd.pt']);
    let r = parity(dir);
    assert.equal(r.status, 0, r.out);
    assert.equal(r.out.split('\n').filter((l) => /^PASS\s/.test(l)).length, 2);

    // A fixture whose expected output was tampered with must FAIL (the check can fail).
    const t = readSafetensorsFile(path.join(GOLDEN, 'soft_belief.safetensors'));
    const seq = t.get('output/head/seq');
    if (!seq || !(seq.data instanceof Float32Array)) throw new Error('fixture changed');
    seq.data[5] += 1e-3;
    writeSafetensorsFile(path.join(dir, 'tampered.safetensors'), t);
    fs.copyFileSync(path.join(GOLDEN, 'soft_belief.json'), path.join(dir, 'tampered.json'));
    // …and an unknown case type is a failure too.
    writeSafetensorsFile(path.join(dir, 'mystery.safetensors'), new Map([['input/x', { dtype: 'F32', shape: [1], data: Float32Array.from([1]) }]]));
    r = parity(dir);
    assert.notEqual(r.status, 0);
    assert.match(r.out, /^FAIL\s+tampered\s+\[soft_belief\]/m);
    assert.match(r.out, /FAIL output\/head\/seq/);
    assert.match(r.out, /^NOT IMPLEMENTED\s+mystery\s+\[unknown\]/m);
  } finally {
    fs.rmSync(dir, { recursive: true });
  }
  const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'parity-empty-'));
  const r = parity(empty);
  assert.notEqual(r.status, 0);
  assert.match(r.out, /no parity cases found/);
  fs.rmSync(empty, { recursive: true });
});

test('tolerance notes: per-output clauses and exact outputs', () => {
  const note = 'intermediates (res/*, vit/*, text/*) and unnormalised embeddings; for output/image_features, output/text_features use rtol 1e-4 atol 1e-5, for output/logits_per_image rtol 1e-4 atol 1e-4; sorted_ind exact';
  assert.equal(parseToleranceNote(note).length, 3);
  const t = toleranceTable({ tolerance: { rtol: 1e-3, atol: 1e-4, note } });
  assert.deepEqual(t.forOutput('output/vit/ln_post', false), { exact: false, rtol: 1e-3, atol: 1e-4 });
  assert.deepEqual(t.forOutput('output/text_features', false), { exact: false, rtol: 1e-4, atol: 1e-5 });
  assert.deepEqual(t.forOutput('output/logits_per_image', false), { exact: false, rtol: 1e-4, atol: 1e-4 });
  assert.deepEqual(t.forOutput('output/vit/sorted_ind', false), { exact: true });
  assert.deepEqual(t.forOutput('output/anything', true), { exact: true });
  const s = toleranceTable({ tolerance: { rtol: 1e-4, atol: 1e-6, outputs: { 'output/x': { atol: 1e-2 }, 'output/y': 'exact' } } });
  assert.deepEqual(s.forOutput('output/x', false), { exact: false, rtol: 1e-4, atol: 1e-2 });
  assert.deepEqual(s.forOutput('output/y', false), { exact: true });
  assert.equal(detectType('whatever', { case: 'retrieval' }, ['input/sims']).type, 'retrieval');
  assert.equal(detectType('x', null, ['output/t_emb', 'input/T']).type, 'temporal_pae');
});
