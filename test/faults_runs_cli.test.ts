import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawn, spawnSync } from 'child_process';
import { projectRoot } from '../src/utils/fs';
import { ERROR_LOG, finishRun, readRunRecord, runDir, startRun, validateRunId } from '../src/runs/record';
import { parseEvaluateArgs, modelInputs, runEvaluateCli } from '../src/cli/evaluate';
import { loadModelPreset, createModel, PIR_SMALL } from '../src/models/factory';
import { ModelConfig } from '../src/models/model';
import { initBackend } from '../src/backends/backend';
import { SeedStream } from '../src/utils/random';
import { saveModelFile } from '../src/models/checkpoint';
import { loadDataset } from '../src/data/loaders/index';
import { WordTokenizer } from '../src/data/word_tokenizer';
import { discoverCases } from '../src/parity/discover';
import { runCase } from '../src/parity/run';
import { loadKarpathy } from '../src/data/loaders/karpathy';
import { parseArgs } from '../src/utils/cli_args';

const root = projectRoot();
const shared = path.resolve(root, '..', 'shared');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'faults-runs-'));
process.env.KIT_RUNS_DIR = path.join(tmp, 'runs');
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

test('run ids cannot leave the runs folder', () => {
  for (const bad of ['../../escape', '..', 'a/b', '/abs', '', 'x/../../y']) {
    assert.throws(() => validateRunId(bad), /is not allowed/, bad);
    assert.throws(() => runDir(bad), /is not allowed/, bad);
  }
  assert.throws(() => parseEvaluateArgs(['--checkpoint', 'c', '--data', 'd', '--run-id', '../../escape']), /evaluate: --run-id: run id '\.\.\/\.\.\/escape' is not allowed/);
  assert.equal(fs.existsSync(path.resolve(tmp, '..', 'escape')), false);
});

test('a failed run records a one-line reason, the trace in error.log, and its stale results are gone', () => {
  const id = 'demo__fail__s0';
  fs.mkdirSync(runDir(id), { recursive: true });
  fs.writeFileSync(path.join(runDir(id), 'metrics.json'), '{"mR": 49.39}');
  const rec = startRun({ runId: id, kind: 'evaluate', seed: 0, config: { a: 1 }, staleOutputs: ['metrics.json'] });
  assert.equal(fs.existsSync(path.join(runDir(id), 'metrics.json')), false, 'the previous metrics must not look current');
  const err = new Error('bad.png: cannot decode PNG image: truncated file\nsecond line');
  finishRun(rec, err);
  const back = readRunRecord(id);
  assert.equal(back?.status, 'failed');
  assert.equal(back?.error, 'bad.png: cannot decode PNG image: truncated file');
  assert.match(fs.readFileSync(path.join(runDir(id), ERROR_LOG), 'utf8'), /second line\n\s+at /);
  // Refusing to overwrite a different run.
  assert.throws(() => startRun({ runId: id, kind: 'evaluate', seed: 0, config: { a: 2 }, refuseDifferent: true }), /run id 'demo__fail__s0' already holds a different evaluate run/);
});

test('SIGINT and SIGTERM leave the run interrupted, not running', async () => {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    const id = `demo__${signal}__s0`;
    const script = path.join(tmp, `child-${signal}.ts`);
    fs.writeFileSync(script, `import { startRun } from ${JSON.stringify(path.join(root, 'src', 'runs', 'record'))};\n` +
      `startRun({ runId: ${JSON.stringify(id)}, kind: 'stage1', seed: 0, config: {} });\nprocess.stdout.write('ready\\n');\nsetInterval(() => {}, 1000);\n`);
    const child = spawn(process.execPath, ['--import', 'tsx', script], { cwd: root, env: { ...process.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => { if (d.toString().includes('ready')) resolve(); });
      child.on('exit', () => reject(new Error('child exited early')));
    });
    assert.equal(readRunRecord(id)?.status, 'running');
    const exit = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_c, s) => resolve(s)));
    child.kill(signal);
    assert.equal(await exit, signal, 'the process still ends by the signal');
    const rec = readRunRecord(id);
    assert.equal(rec?.status, 'interrupted');
    assert.equal(rec?.error, `interrupted by ${signal}`);
  }
});

test('a process that exits while its run is running leaves it failed, with the reason', () => {
  const id = 'demo__exit__s0';
  const script = path.join(tmp, 'child-exit.ts');
  fs.writeFileSync(script, `import { startRun } from ${JSON.stringify(path.join(root, 'src', 'runs', 'record'))};\n` +
    `startRun({ runId: ${JSON.stringify(id)}, kind: 'stage2', seed: 0, config: {} });\nprocess.exit(3);\n`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', script], { cwd: root, env: { ...process.env }, encoding: 'utf8' });
  assert.equal(r.status, 3);
  const rec = readRunRecord(id);
  assert.equal(rec?.status, 'failed');
  assert.equal(rec?.error, 'the process exited (code 3) while the run was running');
});

test('evaluate: the run id tells checkpoints apart; a different run is never overwritten', async () => {
  await initBackend('wasm', { quiet: true });
  const data = path.join(shared, 'real', 'captions', 'precomp', 'rsicd_sample_caps.txt');
  const images = path.join(shared, 'real', 'images', 'rsicd');
  const config: ModelConfig = { ...structuredClone(PIR_SMALL), name: 'pir-small-ids', dropout: 0, text: { ...PIR_SMALL.text, dropout: 0 } };
  const ds = await loadDataset(data, { imagesRoot: images, split: 'test' });
  const vocab = path.join(tmp, 'vocab.json');
  WordTokenizer.build(ds.images.flatMap((r) => r.captions)).save(vocab);
  const ckpts = [1, 2].map((seed) => {
    const m = createModel(config, new SeedStream(seed));
    const f = path.join(tmp, `ckpt${seed}.safetensors`);
    saveModelFile(f, m);
    m.dispose();
    return f;
  });
  const args = (ckpt: string): string[] => ['--checkpoint', ckpt, '--data', data, '--images', images, '--vocab', vocab, '--quiet', '--limit', '2'];
  const a = await runEvaluateCli(args(ckpts[0]));
  const b = await runEvaluateCli(args(ckpts[1]));
  assert.notEqual(a.runId, b.runId);
  assert.match(a.runId, /^evaluate__pir-small-ids-rsicd_sample-test-[0-9a-f]{10}__s0$/);
  for (const r of [a, b]) assert.ok(fs.existsSync(path.join(r.outDir, 'metrics.json')));
  await assert.rejects(runEvaluateCli([...args(ckpts[1]), '--run-id', a.runId]), /already holds a different evaluate run/);
  assert.equal(JSON.parse(fs.readFileSync(path.join(a.outDir, 'metrics.json'), 'utf8')).checkpoint, path.resolve(ckpts[0]));
  // A kit checkpoint given a wrong --model gets the hint that it carries its config.
  await assert.rejects(runEvaluateCli([...args(ckpts[0]), '--model', JSON.stringify({ ...config, embedDim: config.embedDim * 2 })]), /hint: .*ckpt1\.safetensors is a kit checkpoint that carries its own model config: omit --model/);
});

test('vocabulary and model are checked against each other before any work', { skip: !fs.existsSync(path.join(shared, 'vocab', 'bpe_simple_vocab_16e6.txt.gz')) }, () => {
  const tiny = loadModelPreset('priorclip-tiny');
  assert.throws(() => modelInputs(tiny, path.join(shared, 'vocab', 'bpe_simple_vocab_16e6.txt.gz')), /has 49408 tokens but model 'priorclip-tiny' embeds only 100 \(text\.vocabSize\)/);
  const pir = { ...structuredClone(PIR_SMALL), text: { ...PIR_SMALL.text, vocabSize: 5 } };
  const vocab = path.join(tmp, 'v.json');
  WordTokenizer.build(['one two three four five six seven']).save(vocab);
  assert.throws(() => modelInputs(pir, vocab), /tokens but model 'pir-small' embeds only 5 \(text\.vocabSize\)/);
});

test('"./00003.jpg" and "00003.jpg" are one image (a duplicate), not two', async () => {
  const f = path.join(tmp, 'dup.json');
  const img = (filename: string, imgid: number) => ({ filename, imgid, split: 'train', sentences: [{ raw: 'a plane', tokens: ['a', 'plane'], imgid, sentid: imgid }], sentids: [imgid] });
  fs.writeFileSync(f, JSON.stringify({ images: [img('./00003.jpg', 0), img('00003.jpg', 1)], dataset: 'dup' }));
  await assert.rejects(async () => loadKarpathy(f), /duplicate image name "00003\.jpg"/);
});

test('parity: a sidecar that disagrees with its tensors, or has none, is an ERROR, never a PASS', () => {
  const g = path.join(shared, 'golden');
  const dir = path.join(tmp, 'parity');
  fs.mkdirSync(dir);
  fs.copyFileSync(path.join(g, 'soft_belief.json'), path.join(dir, 'soft_belief.json'));
  fs.copyFileSync(path.join(g, 'losses.safetensors'), path.join(dir, 'soft_belief.safetensors'));
  fs.copyFileSync(path.join(g, 'pir_blocks.json'), path.join(dir, 'pir_blocks.json'));
  const cases = discoverCases(dir);
  const byName = new Map(cases.map((c) => [c.name, runCase(c)]));
  assert.equal(byName.get('soft_belief')?.status, 'ERROR');
  assert.match(byName.get('soft_belief')?.message ?? '', /says case 'soft_belief' but soft_belief\.safetensors holds a 'losses' fixture/);
  assert.equal(byName.get('pir_blocks')?.status, 'ERROR');
  assert.match(byName.get('pir_blocks')?.message ?? '', /pir_blocks\.json is a case sidecar but pir_blocks\.safetensors is missing/);
  assert.throws(() => discoverCases(path.join(g, 'losses.json')), /losses\.json is a file: give the folder/);
});

test('typed flags: ranges, choices and duplicates are usage errors naming the option', () => {
  assert.throws(() => parseEvaluateArgs(['--checkpoint', 'c', '--data', 'd', '--batch', '0']), /evaluate: --batch must be an integer in \[1, 1048576\], got '0'/);
  assert.throws(() => parseEvaluateArgs(['--checkpoint', 'c', '--data', 'd', '--limit', '2.5']), /--limit must be an integer ≥ 1, got '2\.5'/);
  assert.throws(() => parseEvaluateArgs(['--checkpoint', 'c', '--data', 'd', '--seed', '-1']), /--seed must be an integer ≥ 0/);
  assert.throws(() => parseEvaluateArgs(['--checkpoint', 'c', '--checkpoint', 'd', '--data', 'd']), /--checkpoint given twice/);
  assert.throws(() => parseArgs(['--workers', 'x'], { workers: { kind: 'int', min: 1 } }, 'ablate'), /ablate: --workers must be an integer ≥ 1, got 'x'/);
  assert.deepEqual(parseArgs(['--seeds', '0,1,2'], { seeds: { kind: 'intList', min: 0 } }, 'ablate'), { seeds: [0, 1, 2] });
});

/** Runs a CLI; returns its exit code and stderr. */
function cli(script: string, args: string[]): { code: number | null; stderr: string; stdout: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(root, 'src', 'cli', script), ...args], { cwd: root, env: { ...process.env, KIT_BACKEND: 'cpu', KIT_DEBUG: '' }, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stderr: r.stderr, stdout: r.stdout };
}

test('every CLI: usage errors and bad values give one clear line and a non-zero exit, never a stack trace', () => {
  const cases: [string, string[], number, RegExp][] = [
    ['train.ts', ['--seed', '-1'], 2, /^train: --seed must be an integer ≥ 0, got '-1'$/],
    ['train.ts', ['--set', 'train.stage1.nope=1'], 1, /train\.stage1\.nope/],
    ['ablate.ts', ['--workers', '0'], 2, /^ablate: --workers must be an integer in \[1, 64\], got '0'$/],
    ['main.ts', ['--seeds', 'a,b'], 2, /^main: --seeds must be an integer ≥ 0, got 'a'$/],
    ['evaluate.ts', ['--checkpoint', 'c', '--data', 'd', '--batch', '0'], 2, /^evaluate: --batch must be an integer in \[1, 1048576\], got '0'$/],
    ['parity.ts', ['--bogus'], 2, /^parity: unknown option --bogus/],
    ['parity.ts', [path.join(tmp, 'nope')], 1, /^fixture directory .*nope does not exist$/],
    ['data.ts', ['export', 'x.json', '--to', 'webdataset', '--out', tmp, '--per-shard', '0'], 2, /^data export: --per-shard must be an integer in \[1, 1000000\], got '0'$/],
  ];
  for (const [script, args, code, first] of cases) {
    const r = cli(script, args);
    const what = `${script} ${args.join(' ')}: ${r.stderr}`;
    assert.equal(r.code, code, what);
    const lines = r.stderr.split('\n').filter((l) => l.trim().length > 0);
    assert.match(lines[0] ?? '', first, what);
    assert.ok(!/^\s+at /m.test(r.stderr), `stack trace in ${what}`);
    assert.ok(!/parity: parity:/.test(r.stderr), what);
    if (code === 2) assert.match(r.stderr, /usage: npm run /, what);
  }
});
