/**
 * `npm run export -- open-clip` and the way back (src/interop/): the exported model config builds
 * the kit's exact parameter list (and the real fork's, recorded in test/fixtures); train.sh uses only
 * flags the fork's params.py defines; the shards and the test JSON read back through the kit's own
 * loaders; the exported .pt loads strictly in PyTorch into a self-written copy of the fork's module
 * structure; a kit-trained priorclip-tiny, exported and read back from the fork's epoch_N.pt layout,
 * gives identical embeddings, through `npm run evaluate` too.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawnSync } from 'child_process';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backends/backend';
import { createModel, loadModelPreset, resolveModelConfig } from '../src/models/factory';
import { torchShape } from '../src/models/params';
import { PriorClipConfig } from '../src/models/open_clip/config';
import { RetrievalModel } from '../src/models/model';
import { saveModelFile } from '../src/models/checkpoint';
import { SeedStream } from '../src/utils/random';
import { projectRoot, readJson } from '../src/utils/fs';
import { resolveExperiment } from '../src/config/experiment';
import { listShards, loadWebdataset, streamWebdataset } from '../src/data/loaders/webdataset';
import { recordImageBytes } from '../src/data/export';
import { loadDataset } from '../src/data/loaders/index';
import { clipLoss } from '../src/losses/contrastive_loss';
import { defaultTrainConfig, train } from '../src/training/trainer';
import { finishRun, runDir, startRun } from '../src/runs/record';
import { CLIP_VOCAB_SIZE } from '../src/data/clip_tokenizer';
import { fromForkModelConfig, needsProjectionPatch, toForkModelConfig } from '../src/interop/open_clip_config';
import { OPEN_CLIP_FORK, OPEN_CLIP_FORK_FLAGS } from '../src/interop/open_clip_flags';
import { buildForkJob, ForkJob, unknownForkFlags } from '../src/interop/open_clip_job';
import { EXPORT_MANIFEST, ExportManifest } from '../src/interop/open_clip_export';
import { atScaleModelConfig, evaluateAtScale, loadAtScaleCheckpoint } from '../src/interop/open_clip_import';
import { runExportCli } from '../src/cli/export';
import { runEvaluateCli } from '../src/cli/evaluate';

const TORCH_PY = '/usr/bin/python3';
const STRUCTURE_PY = path.join(projectRoot(), 'test', 'interop_torch_structure.py');
const GOLDEN_VITB32_KEYS = path.resolve(projectRoot(), '..', 'shared', 'golden', 'priorclip_vitb32_keys.json');
const FORK_TINY_KEYS = path.join(projectRoot(), 'test', 'fixtures', 'fork_priorclip_tiny_keys.json');

function torchReason(): string | null {
  const probe = spawnSync(TORCH_PY, ['-c', 'import torch'], { encoding: 'utf8' });
  return probe.status === 0 ? null : `PyTorch is not installed for ${TORCH_PY} (Debian python3-torch): ${(probe.stderr || probe.error?.message || '').trim().split('\n').pop()}`;
}
const NO_TORCH = torchReason();

function py(args: string[]): string {
  const r = spawnSync(TORCH_PY, [STRUCTURE_PY, ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
  assert.equal(r.status, 0, `python ${args[0]} failed:\n${r.stderr}`);
  return r.stdout;
}

/** priorclip-tiny with the CLIP BPE vocabulary (the fork tokenizes with CLIP BPE). */
function tinyBpe(): PriorClipConfig {
  const base = loadModelPreset('priorclip-tiny') as PriorClipConfig;
  return resolveModelConfig({ ...base, text: { ...base.text, vocabSize: CLIP_VOCAB_SIZE } }, 'test') as PriorClipConfig;
}

function keyList(m: RetrievalModel): { key: string; shape: number[] }[] {
  return m.params.list().map((e) => ({ key: e.key, shape: torchShape(e.variable.shape, e.layout) }));
}

function tmp(name: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `interop-${name}-`));
}

test('the exported model config builds, in the kit, exactly the parameter list the kit model has (tiny and ViT-B/32)', async () => {
  await initBackend('wasm', { quiet: true });
  const tiny = tinyBpe();
  const fork = toForkModelConfig(tiny);
  assert.deepEqual(Object.keys(fork).sort(), ['embed_dim', 'text_cfg', 'vision_cfg']);
  assert.deepEqual(fork.vision_cfg.res_layers, [1, 1, 1, 1]);
  assert.equal(fork.vision_cfg.output_tokens, true);
  const back = fromForkModelConfig(JSON.parse(JSON.stringify(fork)), tiny.name);
  assert.deepEqual(back, tiny);
  const a = createModel(tiny, new SeedStream(0));
  const b = createModel(back, new SeedStream(1));
  try {
    assert.deepEqual(keyList(b), keyList(a));
    // and the REAL fork's model, built from this same exported config through the launcher (recorded fixture)
    const rec = readJson<{ config: unknown; commit: string; keys: { key: string; shape: number[] }[] }>(FORK_TINY_KEYS);
    assert.equal(rec.commit, OPEN_CLIP_FORK.commit);
    assert.deepEqual(rec.config, JSON.parse(JSON.stringify(fork)), 'the fixture was recorded from this exported config');
    assert.deepEqual(keyList(a), rec.keys);
  } finally {
    a.dispose();
    b.dispose();
  }
  assert.equal(needsProjectionPatch(tiny), true);

  const vit = loadModelPreset('priorclip-vit-b-32') as PriorClipConfig;
  assert.equal(needsProjectionPatch(vit), false, 'PIR.json is the one shape the fork hard-codes');
  const vitFork = toForkModelConfig(vit);
  // PIR.json of the fork, plus the two dataclass defaults the kit writes out (head_width 64, mlp_ratio 4)
  assert.deepEqual(vitFork, {
    embed_dim: 512,
    vision_cfg: { image_size: 224, layers: 12, width: 768, patch_size: 32, head_width: 64, mlp_ratio: 4, output_tokens: true, res_layers: [3, 4, 6, 3], res_width: 64 },
    text_cfg: { context_length: 77, vocab_size: 49408, width: 512, heads: 8, layers: 12, mlp_ratio: 4 },
  });
  const vm = createModel(fromForkModelConfig(vitFork, vit.name), new SeedStream(0));
  try {
    const keys = keyList(vm);
    assert.equal(keys.length, 643);
    if (fs.existsSync(GOLDEN_VITB32_KEYS)) {
      const ref = readJson<{ keys: { key: string; shape: number[] }[] }>(GOLDEN_VITB32_KEYS).keys.map((k) => ({ key: k.key, shape: k.shape }));
      assert.deepEqual(keys, ref, 'kit keys = the real fork state_dict of PIR.json (golden fixture)');
    }
    if (!NO_TORCH) {
      const dir = tmp('vitcfg');
      fs.writeFileSync(path.join(dir, 'c.json'), JSON.stringify(vitFork));
      assert.deepEqual(keys, JSON.parse(py(['keys', path.join(dir, 'c.json')])), 'kit keys = the self-written PyTorch structure');
    }
  } finally {
    vm.dispose();
  }
});

test('configs the fork cannot build are refused with the key named', () => {
  const tiny = loadModelPreset('priorclip-tiny') as PriorClipConfig;
  assert.throws(() => toForkModelConfig(tiny), /text\.vocabSize is 100.*CLIP BPE \(49408/);
  assert.throws(() => toForkModelConfig({ ...tinyBpe(), softBelief: 'c20bbe30' }), /softBelief 'c20bbe30' has no counterpart/);
  assert.throws(() => fromForkModelConfig({ embed_dim: 32, vision_cfg: {} }, 'x'), /missing 'text_cfg'/);
  assert.throws(() => fromForkModelConfig({ embed_dim: 32, vision_cfg: { res_widht: 4 }, text_cfg: {} }, 'x'), /res_widht/);
});

/** Flags of train.sh's stage arrays: [{stage, flag, value}] (value null for a switch). */
function scriptFlags(script: string): { stage: string; flag: string; value: string | null }[] {
  const out: { stage: string; flag: string; value: string | null }[] = [];
  let stage: string | null = null;
  for (const line of script.split('\n')) {
    const open = /^(STAGE\d)_FLAGS=\($/.exec(line);
    if (open) {
      stage = open[1].toLowerCase();
      continue;
    }
    if (line === ')') stage = null;
    if (!stage) continue;
    const code = line.replace(/\s+#.*$/, '').trim();
    const m = /^(--[A-Za-z0-9_-]+)(?:\s+(.+))?$/.exec(code);
    assert.ok(m, `train.sh ${stage}: line is not '--flag [value]  # source': ${line}`);
    assert.match(line, /\s# \S/, `train.sh ${stage}: ${m[1]} has no comment naming its kit source`);
    out.push({ stage, flag: m[1], value: m[2] ?? null });
  }
  return out;
}

function checkScriptAgainstFork(script: string): void {
  const flags = scriptFlags(script);
  assert.ok(flags.length > 20, 'the stage arrays were found');
  for (const f of flags) {
    const kind = OPEN_CLIP_FORK_FLAGS[f.flag];
    assert.ok(kind, `${f.stage}: ${f.flag} is not a flag of training.main at ${OPEN_CLIP_FORK.commit.slice(0, 7)}`);
    if (kind === 'switch') assert.equal(f.value, null, `${f.stage}: ${f.flag} is a switch (store_true) but has a value`);
    else assert.notEqual(f.value, null, `${f.stage}: ${f.flag} takes a value`);
  }
  assert.ok(!flags.some((f) => f.flag === '--lock-text'), '--lock-text fails on the fork CLIP');
  const sh = spawnSync('bash', ['-n'], { input: script, encoding: 'utf8' });
  assert.equal(sh.status, 0, `train.sh is not valid bash: ${sh.stderr}`);
}

test('the recorded flag list is params.py at the recorded commit (85 flags), and the check can fail', () => {
  assert.equal(Object.keys(OPEN_CLIP_FORK_FLAGS).length, 85);
  assert.equal(OPEN_CLIP_FORK_FLAGS['--is_aff_loss'], 'switch');
  assert.equal(OPEN_CLIP_FORK_FLAGS['--wd'], 'value');
  const exp = resolveExperiment('embedded-fast');
  const data = { trainShards: 'data/x-{0000..0001}.tar', trainSamples: 100 };
  const job: ForkJob = buildForkJob({ exp: { ...exp, model: tinyBpe() }, model: tinyBpe(), stage1: data, stage2: data, initWeights: null });
  assert.deepEqual(unknownForkFlags(job), []);
  job.stages[1].flags.push({ flag: '--aff-loss', value: null, from: 'a typo' });
  assert.deepEqual(unknownForkFlags(job), ['stage2: --aff-loss']);
});

test('recipe mapping: lr / wd / epochs / warmup / affiliation / frozen towers, and what the fork cannot express', () => {
  const base = resolveExperiment('embedded-fast', null, {
    model: tinyBpe(),
    loss: { contrastive: 'clip', affiliation: 'clip', useImageIds: false },
    train: { stage1: { lr: 3e-4, weightDecay: 0.2, epochs: 5, batchSize: 16, schedule: 'cosine', warmupFraction: 0.1, noDecay: 'open_clip', clampLogitScale: true } },
    data: { augment: 'open_clip' },
  });
  const job = buildForkJob({ exp: base, model: tinyBpe(), stage1: { trainShards: 's1.tar', trainSamples: 160 }, stage2: { trainShards: 's2.tar', trainSamples: 800 }, initWeights: 'init/r.pt' });
  const get = (s: number, f: string) => job.stages[s].flags.find((x) => x.flag === f);
  assert.equal(get(0, '--lr')?.value, '0.0003');
  assert.equal(get(0, '--lr')?.from, 'train.stage1.lr');
  assert.equal(get(0, '--wd')?.value, '0.2');
  assert.equal(get(0, '--epochs')?.value, '5');
  assert.equal(get(0, '--warmup')?.value, '5', '0.1 × (160/16 = 10 steps × 5 epochs)');
  assert.equal(get(0, '--pretrained')?.value, '"$HERE/init/r.pt"');
  assert.equal(get(1, '--pretrained')?.value, '"$HERE/logs/stage1/checkpoints/epoch_5.pt"');
  assert.equal(get(0, '--is_aff_loss'), undefined, 'stage 1: affiliation weight 0');
  assert.equal(get(1, '--is_aff_loss')?.value, null);
  assert.equal(get(1, '--lr-scheduler')?.value, 'const-cooldown', 'embedded-fast stage 2 is linear');
  assert.deepEqual(job.stages[0].freeze, ['res_visual.'], 'stage 1 never trains the prior');
  assert.deepEqual(job.stages[1].freeze, ['res_visual.', 'token_embedding.', 'positional_embedding', 'transformer.', 'ln_final.'], 'stage 2: text tower frozen, projection trains');
  const s1 = job.stages[0].notExpressed.join('\n');
  assert.doesNotMatch(s1, /noDecay|clampLogitScale|augment|loss.contrastive/, 'stage 1 set to what the fork does');
  const s2 = job.stages[1].notExpressed.join('\n');
  assert.match(s2, /noDecay 'pir'/);
  assert.match(s2, /clampLogitScale = false/);
  assert.match(s2, /schedule 'linear'/);
  assert.match(s2, /trainTextEncoder = false/);
});

test('export from a kit-trained priorclip-tiny run: folder, shards, Karpathy JSON, .pt in PyTorch, fork epoch_N.pt read back with identical embeddings', async (t) => {
  await initBackend('wasm', { quiet: true });
  const runsDir = tmp('runs');
  const prevRuns = process.env.KIT_RUNS_DIR;
  process.env.KIT_RUNS_DIR = runsDir;
  const out = path.join(tmp('out'), 'job');
  let trained: RetrievalModel | null = null;
  let back: RetrievalModel | null = null;
  try {
    const exp = resolveExperiment('embedded-fast', null, {
      name: 'interop',
      data: { embedded: { name: 'interop-tiny', classes: ['airport', 'beach', 'forest'], imagesPerClass: 10, imageSize: 64, supersample: 1 } },
      model: tinyBpe(),
    });
    const t0 = Date.now();
    // train the model a few kit steps (kit trainer, AdamW) on random inputs: the point is weights that are not the init
    const id = 'interop__full__s0';
    trained = createModel(exp.model, new SeedStream(3).child('model'));
    const fresh = createModel(exp.model, new SeedStream(3).child('model'));
    const m = trained;
    const S = tinyBpe().vision.imageSize;
    const L = tinyBpe().text.contextLength;
    const rs = new SeedStream(9);
    const N = 8;
    const images = Float32Array.from({ length: N * S * S * 3 }, () => rs.normal());
    const tokens = Int32Array.from({ length: N * L }, (_, i) => (i % L === 0 ? 49406 : i % L < 5 ? 1 + rs.int(40000) : i % L === 5 ? 49407 : 0));
    const cfg = { ...defaultTrainConfig(), epochs: 1, batchSize: 4, lr: 1e-3, evalEveryEpochs: 0, warmupFraction: 0 };
    await train(
      {
        params: m.params,
        numExamples: N,
        makeBatch: (idx) => ({
          img: tf.tensor4d(idx.flatMap((i) => Array.from(images.subarray(i * S * S * 3, (i + 1) * S * S * 3))), [idx.length, S, S, 3]),
          tok: tf.tensor2d(idx.flatMap((i) => Array.from(tokens.subarray(i * L, (i + 1) * L))), [idx.length, L], 'int32'),
        }),
        disposeBatch: (b) => tf.dispose([b.img, b.tok]),
        loss: (b) => {
          const total = clipLoss(m.encodeImage(b.img), m.encodeText(b.tok), tf.exp(m.params.get('logit_scale')) as tf.Scalar);
          return { total, parts: { contrastive: total } };
        },
      },
      cfg,
      { dir: runDir(id), seeds: new SeedStream(4), saveWeights: (f) => saveModelFile(f, m) },
    );
    const moved = tf.tidy(() => tf.max(tf.abs(tf.sub(m.params.get('visual.proj'), fresh.params.get('visual.proj')))).dataSync()[0]);
    fresh.dispose();
    assert.ok(moved > 1e-5, `training moved the weights (max |Δ visual.proj| = ${moved})`);
    finishRun(startRun({ runId: id, kind: 'stage2', seed: 0, config: { ...exp, variant: 'full' } }));

    t.diagnostic(`trained in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const t1 = Date.now();
    const res = await runExportCli(['open-clip', '--experiment', id, '--out', out, '--samples-per-shard', '40', '--quiet']);
    t.diagnostic(`exported in ${((Date.now() - t1) / 1000).toFixed(1)} s`);
    const man = readJson<ExportManifest>(path.join(out, EXPORT_MANIFEST));
    assert.equal(man.kind, 'open-clip');
    assert.equal(man.initWeights, `init/${id}.pt`);
    assert.equal(man.projectionPatch, true);
    for (const f of ['train.sh', 'README.md', 'priorclip_launch.py', 'model_configs/priorclip-tiny.json', `init/${id}.pt`, 'data/eval/dataset.json']) {
      assert.ok(fs.existsSync(path.join(out, f)), `${f} written`);
    }
    checkScriptAgainstFork(fs.readFileSync(path.join(out, 'train.sh'), 'utf8'));
    assert.deepEqual(res.files.filter((f) => f.endsWith('.json') && f.startsWith('model_configs/')), ['model_configs/priorclip-tiny.json']);

    // shards round-trip through the kit's own webdataset reader
    const { dataset } = await (await import('../src/training/data_prep')).prepareData(exp.data, 'word', 16);
    const train2 = dataset.images.filter((r) => r.split === 'train');
    // stage 2 holds one sample per pair (what the fork's loader iterates): read sample by sample
    const pairs: string[] = [];
    const bytesOk: boolean[] = [];
    const byName = new Map(train2.map((r) => [r.fileName, r]));
    for await (const smp of streamWebdataset(listShards(path.join(out, 'data', 'stage2')), { split: 'train' })) {
      pairs.push(`${smp.raw.fileName}|${smp.raw.captions.join('/')}`);
      const src = byName.get(smp.raw.fileName);
      bytesOk.push(src !== undefined && Buffer.from(smp.imageBytes).equals(Buffer.from(recordImageBytes(src))));
    }
    assert.deepEqual(pairs, train2.flatMap((r) => r.captions.map((c) => `${r.fileName}|${c}`)), 'every (image, fine caption) pair once, in order');
    assert.ok(bytesOk.every(Boolean), 'image bytes as the source');
    const s1 = await loadWebdataset(path.join(out, 'data', 'stage1'), { split: 'train' });
    // a stage-1 sample's caption is the coarse one; the kit's reader also gets the fine captions back (its json field)
    const s1ByName = new Map(s1.images.map((r) => [r.fileName, r]));
    for (const r of train2) {
      assert.equal(s1ByName.get(r.fileName)?.coarseCaption, r.coarseCaption, `stage 1 coarse caption of ${r.fileName}`);
      assert.deepEqual(s1ByName.get(r.fileName)?.captions, r.captions, `stage 1 fine captions of ${r.fileName}`);
    }
    assert.equal(man.stages[0].trainSamples, train2.length);
    assert.equal(man.stages[1].trainSamples, train2.length * 5);
    const sizes = readJson<Record<string, number>>(path.join(out, 'data', 'stage2', 'sizes.json'));
    assert.equal(Object.values(sizes).reduce((a, b) => a + b, 0), train2.length * 5);
    // the test split as the Karpathy JSON retrieval.py reads (split 'test', sentences[].raw, filename)
    const kj = readJson<{ images: { split: string; filename: string; sentences: { raw: string }[] }[] }>(path.join(out, 'data', 'eval', 'dataset.json'));
    const test2 = dataset.images.filter((r) => r.split === 'test');
    const val2 = dataset.images.filter((r) => r.split === 'val');
    assert.ok(test2.length > 0 && val2.length > 0);
    // what retrieval.py takes: the entries with split 'test', each caption's 'raw', the image 'filename'
    const forRetrieval = kj.images.filter((im) => im.split === 'test');
    assert.deepEqual(forRetrieval.map((im) => im.sentences.map((x) => x.raw)), test2.map((r) => r.captions));
    assert.equal(kj.images.filter((im) => im.split === 'val').length, val2.length);
    assert.ok(kj.images.every((im) => fs.existsSync(path.join(out, 'data', 'eval', 'images', im.filename))));
    const kt = await loadDataset(path.join(out, 'data', 'eval', 'dataset.json'), { imagesRoot: path.join(out, 'data', 'eval', 'images') });
    assert.deepEqual(kt.images.filter((r) => r.split === 'test').map((r) => r.captions), test2.map((r) => r.captions));
    assert.ok(!scriptFlags(fs.readFileSync(path.join(out, 'train.sh'), 'utf8')).some((f) => f.flag === '--val-data'), 'no --val-data: the fork val pass cannot unpack its webdataset batches');

    if (NO_TORCH) {
      t.diagnostic(`PyTorch checks skipped: ${NO_TORCH}`);
    } else {
      // the exported .pt loads strictly in PyTorch into the fork's module structure (self-written copy)
      const loaded = JSON.parse(py(['load', path.join(out, 'model_configs', 'priorclip-tiny.json'), path.join(out, man.initWeights as string)])) as { loaded: number; keys: { key: string; shape: number[]; dtype: string }[] };
      assert.deepEqual(loaded.keys.map((k) => ({ key: k.key, shape: k.shape })), keyList(m));
      assert.ok(loaded.keys.filter((k) => k.key.endsWith('num_batches_tracked')).every((k) => k.dtype === 'torch.int64'));
      // the fork's checkpoint layout, where train.sh puts it; read back by the kit
      const ckpt = path.join(out, 'logs', 'stage2', 'checkpoints', 'epoch_3.pt');
      fs.mkdirSync(path.dirname(ckpt), { recursive: true });
      py(['fork-ckpt', path.join(out, man.initWeights as string), ckpt, '3', 'stage2']);
      assert.equal(atScaleModelConfig(ckpt)?.source, path.join(out, EXPORT_MANIFEST), 'config found from the manifest above logs/');
      const got = loadAtScaleCheckpoint(ckpt);
      back = got.model;
      const rsImg = tf.tensor4d(images.subarray(0, 2 * S * S * 3), [2, S, S, 3]);
      const rsTok = tf.tensor2d(tokens.subarray(0, 2 * L), [2, L], 'int32');
      const [a1, a2, b1, b2] = [m.encodeImage(rsImg), m.encodeText(rsTok), back.encodeImage(rsImg), back.encodeText(rsTok)].map((x) => x.dataSync().slice());
      assert.deepEqual(b1, a1, 'image embeddings identical');
      assert.deepEqual(b2, a2, 'text embeddings identical');
      tf.dispose([rsImg, rsTok]);
      // npm run evaluate: the same checkpoint, no --model (config from the manifest) = the kit run's own file
      const vocab = path.resolve(projectRoot(), '..', 'shared', 'vocab', 'bpe_simple_vocab_16e6.txt.gz');
      if (fs.existsSync(vocab)) {
        const common = ['--data', path.join(out, 'data', 'eval', 'dataset.json'), '--images', path.join(out, 'data', 'eval', 'images'), '--vocab', vocab, '--quiet', '--backend', 'wasm'];
        const fromFork = await runEvaluateCli(['--checkpoint', ckpt, '--out', path.join(out, 'eval-fork'), ...common]);
        const fromKit = await runEvaluateCli(['--checkpoint', path.join(runDir(id), 'best.safetensors'), '--out', path.join(out, 'eval-kit'), ...common]);
        assert.deepEqual(fromFork.result.metrics.i2t, fromKit.result.metrics.i2t);
        assert.equal(fromFork.result.metrics.mR, fromKit.result.metrics.mR);
        // the notebook hook (02 / 06 / 08): same numbers, embeddings kept for UMAP, beliefs for the maps
        const hook = await evaluateAtScale(ckpt, { vocab });
        assert.ok(hook);
        try {
          assert.equal(hook.result.metrics.mR, fromKit.result.metrics.mR);
          const e = hook.result.embeddings;
          assert.ok(e && e.imageEmb.length === hook.result.metrics.numImages * e.dim && e.textEmb.length === hook.result.metrics.numTexts * e.dim);
          const img = tf.tensor4d(images.subarray(0, S * S * 3), [1, S, S, 3]);
          const bel = hook.model.beliefs(img);
          assert.deepEqual(bel.belief.shape, [1, 1 + bel.grid[0] * bel.grid[1]], 'belief over CLS + every patch of the at-scale model');
          assert.deepEqual(bel.grid, [S / 16, S / 16]);
          tf.dispose([img, bel.belief, ...(bel.keptIdx ? [bel.keptIdx] : [])]);
        } finally {
          hook.model.dispose();
        }
        if (!process.env.KIT_PRIORCLIP_CHECKPOINT) assert.equal(await evaluateAtScale(undefined), null, 'no checkpoint named: the hook stays off');
      } else t.diagnostic('evaluate check skipped: ../shared/vocab has no CLIP BPE file');
    }
  } finally {
    trained?.dispose();
    back?.dispose();
    if (prevRuns === undefined) delete process.env.KIT_RUNS_DIR;
    else process.env.KIT_RUNS_DIR = prevRuns;
  }
});

test('priorclip-vit-b-32 export from a preset: one command, PIR.json-shaped config, no patch needed, valid train.sh', async () => {
  const out = path.join(tmp('vit'), 'job');
  const res = await runExportCli(['open-clip', '--experiment', 'embedded-fast', '--model', 'priorclip-vit-b-32', '--out', out, '--samples-per-shard', '2000', '--quiet']);
  assert.equal(res.manifest.forkModel, 'priorclip-vit-b-32');
  assert.equal(res.manifest.projectionPatch, false);
  assert.equal(res.manifest.initWeights, null);
  const script = fs.readFileSync(path.join(out, 'train.sh'), 'utf8');
  checkScriptAgainstFork(script);
  assert.match(script, /unchanged/);
  assert.match(script, /torchrun --nproc_per_node "\$NPROC"/);
  assert.equal(atScaleModelConfig(path.join(out, 'logs', 'stage2', 'checkpoints', 'epoch_1.pt'))?.config.name, 'priorclip-vit-b-32');
});

test('PIR-kind experiment: data and weights-by-name exported, the rest said plainly', async () => {
  const out = path.join(tmp('pir'), 'job');
  const res = await runExportCli(['open-clip', '--experiment', 'embedded-fast', '--out', out, '--quiet']);
  assert.equal(res.manifest.kind, 'pir-not-mapped');
  assert.equal(res.job, null);
  assert.ok(!fs.existsSync(path.join(out, 'train.sh')));
  assert.match(fs.readFileSync(path.join(out, 'NOT_MAPPED.md'), 'utf8'), /no open_clip model/);
  const ds = await loadDataset(path.join(out, 'data', 'karpathy', 'dataset.json'));
  assert.ok(ds.images.some((r) => r.split === 'train') && ds.images.some((r) => r.split === 'test'));
});

/** A stand-in for the fork's package layout (NOT its code): records what train.sh and the launcher hand it. */
function writeStubFork(dir: string): void {
  fs.mkdirSync(path.join(dir, 'open_clip'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'training'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'open_clip', '__init__.py'), 'REGISTERED = []\ndef add_model_config(p):\n    REGISTERED.append(str(p))\n');
  fs.writeFileSync(
    path.join(dir, 'open_clip', 'model.py'),
    [
      'import torch, torch.nn as nn',
      'class CLIP(nn.Module):',
      '    def __init__(self, embed_dim, vision_cfg, text_cfg, quick_gelu=False, **kw):',
      '        super().__init__()',
      '        self.vision_proj_res = nn.Linear(512, 768)  # the hard-coded layer of the real fork',
      '        self.res_visual = nn.BatchNorm2d(2)',
      '        self.visual = nn.Linear(2, 2)',
      '        self.transformer = nn.Linear(2, 2)',
      '        self.text_projection = nn.Parameter(torch.zeros(2, 2))',
      '',
    ].join('\n'),
  );
  fs.writeFileSync(path.join(dir, 'training', '__init__.py'), '');
  fs.writeFileSync(
    path.join(dir, 'training', 'main.py'),
    [
      'import json, os, open_clip',
      'from open_clip.model import CLIP',
      'def main(args):',
      '    model_name = args[args.index("--model") + 1]',
      '    cfg = None',
      '    for d in open_clip.REGISTERED:',
      '        f = os.path.join(d, model_name + ".json")',
      '        if os.path.exists(f): cfg = json.load(open(f))',
      '    m = CLIP(**cfg)',
      '    m.train()',
      '    name = args[args.index("--name") + 1]',
      '    out = {"argv": args, "cwd": os.getcwd(), "proj": list(m.vision_proj_res.weight.shape),',
      '           "bn_training": m.res_visual.training, "frozen": sorted(n for n, p in m.named_parameters() if not p.requires_grad)}',
      '    json.dump(out, open(os.path.join(os.environ["STUB_OUT"], name + ".json"), "w"))',
      '',
    ].join('\n'),
  );
}

test('train.sh runs the launcher per stage: model_configs registered, vision_proj_res rebuilt, kit freezes applied, flags passed as written', async (t) => {
  if (NO_TORCH) {
    t.skip(`needs PyTorch for the launcher (torch.nn): ${NO_TORCH}`);
    return;
  }
  const out = path.join(tmp('sh'), 'job');
  await runExportCli(['open-clip', '--experiment', 'embedded-fast', '--model', 'priorclip-tiny', '--set', `model.text.vocabSize=${CLIP_VOCAB_SIZE}`, '--out', out, '--samples-per-shard', '2000', '--quiet']);
  const fork = tmp('stubfork');
  writeStubFork(fork);
  const rec = tmp('stubout');
  const r = spawnSync('bash', [path.join(out, 'train.sh')], { encoding: 'utf8', env: { ...process.env, PRIORCLIP_SRC: fork, PYTHON: TORCH_PY, STUB_OUT: rec, NPROC: '1' } });
  assert.equal(r.status, 0, `train.sh failed:\n${r.stderr}`);
  const s1 = readJson<{ argv: string[]; cwd: string; proj: number[]; frozen: string[]; bn_training: boolean }>(path.join(rec, 'stage1.json'));
  const s2 = readJson<{ argv: string[]; cwd: string; proj: number[]; frozen: string[] }>(path.join(rec, 'stage2.json'));
  assert.deepEqual(s1.proj, [64, 32], 'vision_proj_res rebuilt as Linear(embed 32 → width 64)');
  assert.deepEqual(s1.frozen, ['res_visual.bias', 'res_visual.weight']);
  assert.equal(s1.bn_training, false, "the frozen prior's BatchNorm stays in eval mode under model.train(), as in the kit");
  assert.deepEqual(s2.frozen, ['res_visual.bias', 'res_visual.weight', 'transformer.bias', 'transformer.weight'], 'text tower frozen, text_projection trains');
  assert.equal(fs.realpathSync(s1.cwd), fs.realpathSync(fork), 'runs from the fork src/ (python -m training.main layout)');
  const flagsOf = (argv: string[]) => argv.filter((a) => a.startsWith('--'));
  for (const argv of [s1.argv, s2.argv]) for (const f of flagsOf(argv)) assert.ok(f in OPEN_CLIP_FORK_FLAGS, `${f} reaches training.main and is a fork flag`);
  const val = (argv: string[], f: string) => argv[argv.indexOf(f) + 1];
  assert.equal(val(s1.argv, '--batch-size'), '32', 'NPROC=1: the whole kit batch on one GPU');
  assert.equal(val(s1.argv, '--train-data'), path.join(out, 'data', 'stage1', 'embedded-coarse-train-0000.tar'));
  assert.equal(val(s2.argv, '--pretrained'), path.join(out, 'logs', 'stage1', 'checkpoints', 'epoch_8.pt'));
  assert.ok(s2.argv.includes('--is_aff_loss'));
  // the one-stage form, and the torchrun form's batch split
  const r2 = spawnSync('bash', [path.join(out, 'train.sh'), 'stage2'], { encoding: 'utf8', env: { ...process.env, PRIORCLIP_SRC: fork, PYTHON: TORCH_PY, STUB_OUT: rec, NPROC: '1' } });
  assert.equal(r2.status, 0, r2.stderr);
  assert.match(fs.readFileSync(path.join(out, 'train.sh'), 'utf8'), /--batch-size "\$\(\( 32 \/ NPROC \)\)"/);
});

test('export refuses a non-empty folder that is not an export, and replaces an export only with --force', async () => {
  const dir = tmp('force');
  fs.writeFileSync(path.join(dir, 'notes.txt'), 'mine');
  await assert.rejects(runExportCli(['open-clip', '--experiment', 'embedded-fast', '--out', dir, '--quiet']), /not empty and holds no kit_export\.json/);
  const out = path.join(dir, 'job');
  const args = ['open-clip', '--experiment', 'embedded-fast', '--model', 'priorclip-vit-b-32', '--out', out, '--quiet'];
  await runExportCli([...args, '--samples-per-shard', '500']);
  const many = fs.readdirSync(path.join(out, 'data', 'stage2')).filter((f) => f.endsWith('.tar')).length;
  await assert.rejects(runExportCli(args), /already holds an export.*--force/);
  await runExportCli([...args, '--samples-per-shard', '100000', '--force']);
  const tars = fs.readdirSync(path.join(out, 'data', 'stage2')).filter((f) => f.endsWith('.tar'));
  assert.ok(many > 1 && tars.length === 1, `stale shards removed (${many} → ${tars.length})`);
});
