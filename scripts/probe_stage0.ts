/**
 * Probe: stage 0 of an experiment alone (the prior's scene classification), printing val accuracy
 * per epoch and the wall time. `KIT_RUNS_DIR` decides where its run folder goes.
 *
 *   KIT_RUNS_DIR=/tmp/x npx tsx scripts/probe_stage0.ts embedded-v2-open '{"train":{"stage0":{"lr":0.002}}}'
 */
import { initBackend } from '../src/backends/backend';
import { resolveVariant } from '../src/training/run_cache';
import { prepareExperimentData } from '../src/training/data_prep';
import { createStageModel, stageTask } from '../src/training/stage_task';
import { train } from '../src/training/trainer';
import { SeedStream } from '../src/utils/random';
import { runDir } from '../src/runs/record';

async function main(): Promise<void> {
  const preset = process.argv[2] ?? 'embedded-v2-open';
  const overrides = process.argv[3] ? (JSON.parse(process.argv[3]) as unknown) : undefined;
  await initBackend(undefined, { quiet: true });
  const v = resolveVariant(preset, null, overrides);
  const t0 = Date.now();
  const data = await prepareExperimentData(v.exp);
  const tData = (Date.now() - t0) / 1000;
  const root = new SeedStream(v.exp.seed);
  const model = createStageModel(v.exp, data, 'stage0', root.child('model'));
  const task = stageTask({ exp: v.exp, stage: 'stage0', model, data, seeds: root.child('stage0') });
  const t1 = Date.now();
  const cfg = v.exp.train.stage0;
  const res = await train(task, cfg, {
    dir: runDir(`probe-${Date.now()}`),
    seeds: root.child('stage0'),
    onEvalEnd: (e) => console.log(`epoch ${e.epoch + 1}: ${JSON.stringify(e.metrics)} (${((Date.now() - t1) / 1000).toFixed(1)} s)`),
  });
  console.log(JSON.stringify({ preset, stage0: { epochs: cfg.epochs, batchSize: cfg.batchSize, lr: cfg.lr }, train: task.numExamples, best: res.state.best, dataSeconds: tData, trainSeconds: (Date.now() - t1) / 1000 }));
  model.dispose();
}
void main();
