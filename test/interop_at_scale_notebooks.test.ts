/**
 * The at-scale sections of notebooks 02, 06 and 08 (KIT_PRIORCLIP_CHECKPOINT set), without a GPU or
 * the fork: a kit priorclip-tiny run is exported (`npm run export -- open-clip`), its weights are
 * rewritten in the fork's `epoch_N.pt` layout at `<export>/logs/stage2/checkpoints/epoch_1.pt`, and
 * the exact library calls of those cells run on it: `evaluateAtScale` with the cells' options, the
 * belief overlays of 02, the recall table / curves and UMAP of 06, and `npm run evaluate` (08) on the
 * same file, whose numbers the notebook hook must equal.
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
import { PriorClipConfig } from '../src/models/open_clip/config';
import { saveModelFile } from '../src/models/checkpoint';
import { SeedStream } from '../src/utils/random';
import { projectRoot, readJson } from '../src/utils/fs';
import { resolveExperiment } from '../src/config/experiment';
import { finishRun, runDir, startRun } from '../src/runs/record';
import { CLIP_VOCAB_SIZE, findClipBpe } from '../src/data/clip_tokenizer';
import { EXPORT_MANIFEST, ExportManifest } from '../src/interop/open_clip_export';
import { evaluateAtScale } from '../src/interop/open_clip_import';
import { runExportCli } from '../src/cli/export';
import { runEvaluateCli } from '../src/cli/evaluate';
import { decodeRecordImageSync, loadDataset } from '../src/data/loaders/index';
import { preprocessImage } from '../src/data/image_preprocess';
import { beliefOverlayFigure } from '../src/plotting/figures/belief_matrix';
import * as wk from '../src/notebook/walkthrough/index';
import * as recipe from '../src/notebook/recipe/index';
import * as figures from '../src/notebook/recipe/figures';

const TORCH_PY = '/usr/bin/python3';
const STRUCTURE_PY = path.join(projectRoot(), 'test', 'interop_torch_structure.py');
const SHARED_BPE = path.resolve(projectRoot(), '..', 'shared', 'vocab', 'bpe_simple_vocab_16e6.txt.gz');

function skipReason(): string | null {
  const probe = spawnSync(TORCH_PY, ['-c', 'import torch'], { encoding: 'utf8' });
  if (probe.status !== 0) return `PyTorch is not installed for ${TORCH_PY} (writes the fork-layout epoch_N.pt)`;
  if (!fs.existsSync(SHARED_BPE) && !findClipBpe().path) return 'no CLIP BPE vocabulary (../shared/vocab, KIT_CLIP_BPE, data/vocab, open_clip)';
  return null;
}

test('notebooks 02 / 06 / 08 at-scale sections on a fork-layout epoch_1.pt inside a real export folder', async (t) => {
  const skip = skipReason();
  if (skip) {
    t.skip(skip);
    return;
  }
  await initBackend('wasm', { quiet: true });
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'atscale-nb-'));
  const prevRuns = process.env.KIT_RUNS_DIR;
  const prevBpe = process.env.KIT_CLIP_BPE;
  process.env.KIT_RUNS_DIR = path.join(root, 'runs');
  // the cells pass no vocab: the lookup (KIT_CLIP_BPE, data/vocab, open_clip) must find it
  if (!findClipBpe().path) process.env.KIT_CLIP_BPE = SHARED_BPE;
  try {
    const base = loadModelPreset('priorclip-tiny') as PriorClipConfig;
    const tiny = resolveModelConfig({ ...base, text: { ...base.text, vocabSize: CLIP_VOCAB_SIZE } }, 'test') as PriorClipConfig;
    const exp = resolveExperiment('embedded-fast', null, {
      name: 'atscale',
      data: { embedded: { name: 'atscale-tiny', classes: ['airport', 'beach', 'forest'], imagesPerClass: 10, imageSize: 64, supersample: 1 } },
      model: tiny,
    });
    const id = 'atscale__full__s0';
    const m = createModel(exp.model, new SeedStream(3).child('model'));
    fs.mkdirSync(runDir(id), { recursive: true });
    saveModelFile(path.join(runDir(id), 'best.safetensors'), m);
    m.dispose();
    finishRun(startRun({ runId: id, kind: 'stage2', seed: 0, config: { ...exp, variant: 'full' } }));
    const out = path.join(root, 'job');
    await runExportCli(['open-clip', '--experiment', id, '--out', out, '--samples-per-shard', '40', '--quiet']);
    const man = readJson<ExportManifest>(path.join(out, EXPORT_MANIFEST));
    const ckpt = path.join(out, 'logs', 'stage2', 'checkpoints', 'epoch_1.pt');
    fs.mkdirSync(path.dirname(ckpt), { recursive: true });
    const w = spawnSync(TORCH_PY, [STRUCTURE_PY, 'fork-ckpt', path.join(out, man.initWeights as string), ckpt, '1', 'stage2'], { encoding: 'utf8' });
    assert.equal(w.status, 0, w.stderr);
    const numTest = readJson<{ images: { split: string }[] }>(path.join(out, 'data', 'eval', 'dataset.json')).images.filter((r) => r.split === 'test').length;
    const before = tf.memory().numTensors;

    // 02_spatial_pae: evaluateAtScale(…, { limitImages: 4 }), then beliefs of the first 4 test images
    const a02 = await evaluateAtScale(ckpt, { limitImages: 4 });
    assert.ok(a02);
    try {
      assert.equal(a02.source, path.join(out, EXPORT_MANIFEST));
      assert.equal(a02.checkpoint, ckpt);
      const S = a02.config.kind === 'priorclip' ? a02.config.vision.imageSize : 0;
      assert.equal(S, 64);
      const recs = (a02.result.embeddings?.images ?? []).slice(0, 4);
      assert.ok(numTest > 0);
      assert.equal(recs.length, Math.min(4, numTest), 'the hook keeps the evaluated image records (the cell takes its images from them)');
      const overlays = recs.map((r) => {
        const im = decodeRecordImageSync(r);
        const px = preprocessImage(im, { size: S, transform: 'resize-center-crop' });
        const b = tf.tidy(() => {
          const o = a02.model.beliefs(tf.tensor4d(px, [1, S, S, 3]));
          return { belief: o.belief.dataSync() as Float32Array, grid: o.grid };
        });
        assert.deepEqual(b.grid, [4, 4]);
        assert.equal(b.belief.length, 1 + 4 * 4, 'CLS + every patch');
        assert.ok(b.belief.every((x) => Number.isFinite(x) && x >= 0 && x <= 1), 'soft belief in [0, 1]');
        return beliefOverlayFigure(im, { label: r.fileName, belief: Float32Array.from(b.belief) }, { grid: b.grid });
      });
      const fig = wk.sideBySide(overlays, recs.map((r) => r.fileName), `At-scale soft belief (${a02.checkpoint})`);
      assert.ok(fig.data.length >= recs.length, 'one overlay per image');
    } finally {
      a02.model.dispose();
    }

    // 06_stage2: evaluateAtScale(…) on the export's whole test split, recall table, curves, UMAP
    const a06 = await evaluateAtScale(ckpt);
    assert.ok(a06);
    a06.model.dispose();
    const e = a06.result.embeddings;
    assert.ok(e);
    assert.equal(a06.result.metrics.numImages, numTest);
    assert.equal(a06.result.metrics.numTexts, numTest * 5);
    assert.equal(e.imageEmb.length, numTest * 32);
    assert.equal(e.textEmb.length, numTest * 5 * 32);
    const scaleEval = { [`at scale: ${a06.checkpoint}`]: a06.result };
    const rows = recipe.recallRows(scaleEval);
    assert.equal(rows.length, 1);
    assert.equal(figures.recallBeforeAfter(recipe.recallRuns(scaleEval), 'Recall@K').data.length > 0, true);
    const panel = recipe.umapPanel('at scale', a06.result, { seed: 0 });
    assert.equal(panel.imageXY.length, numTest * 2);
    assert.equal(panel.textXY.length, numTest * 5 * 2);
    assert.ok(figures.umapBeforeAfter([panel], 'UMAP').data.length > 0);
    assert.equal(tf.memory().numTensors, before, 'the notebook path leaves no tensors behind');

    // 08 / npm run evaluate on the same checkpoint (config from the manifest, vocab looked up): the same numbers
    const cli = await runEvaluateCli(['--checkpoint', ckpt, '--data', path.join(out, 'data', 'eval', 'dataset.json'), '--images', path.join(out, 'data', 'eval', 'images'), '--out', path.join(out, 'eval'), '--quiet', '--backend', 'wasm']);
    assert.deepEqual(a06.result.metrics.i2t, cli.result.metrics.i2t);
    assert.deepEqual(a06.result.metrics.t2i, cli.result.metrics.t2i);
    assert.equal(a06.result.metrics.mR, cli.result.metrics.mR);
    assert.equal(rows[0].mR, Math.round(cli.result.metrics.mR * 100) / 100);

    // 08 exports the test split to its own build folder: a rerun replaces it, a foreign file is still refused
    const ds = await loadDataset(path.join(out, 'data', 'eval', 'dataset.json'), { imagesRoot: path.join(out, 'data', 'eval', 'images') });
    const nb08 = path.join(root, 'nb08', 'karpathy');
    assert.equal(recipe.exportSplitKarpathy(ds, nb08).images, numTest);
    assert.equal(recipe.exportSplitKarpathy(ds, nb08).images, numTest, 'the second run of notebook 08 replaces its export');
    fs.writeFileSync(path.join(nb08, 'mine.txt'), 'x');
    assert.throws(() => recipe.exportSplitKarpathy(ds, nb08), /not replacing .*files an export does not write \(mine\.txt\)/);
  } finally {
    if (prevRuns === undefined) delete process.env.KIT_RUNS_DIR;
    else process.env.KIT_RUNS_DIR = prevRuns;
    if (prevBpe === undefined) delete process.env.KIT_CLIP_BPE;
    else process.env.KIT_CLIP_BPE = prevBpe;
  }
});
