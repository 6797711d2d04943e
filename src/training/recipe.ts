/**
 * The training recipe (method.md §4.2, style.md §4.5): stages 0 → 1 → 2 of one variant and seed.
 *
 * - **stage 0** trains the scene-prior encoder on scene classification (PIR: its CNN and
 *   `conv_encoder.fc`; PriorCLIP: the ModifiedResNet `res_visual` and a stage-0-only head
 *   `prior_head`); the prior is frozen afterwards (both references use a frozen pretrained prior).
 * - **stage 1** contrastive pre-training on the coarse captions: image and text encoders, no PAE
 *   (the paper's figure: plain contrastive, both towers trained). PIR's stage-1 model has no prior;
 *   PriorCLIP keeps its soft-belief towers and reads the stage-0 prior, frozen (see `stage_task.ts`).
 * - **stage 2** vision-instruction fine-tuning on the fine captions: Spatial-PAE (with the stage-0
 *   prior), Temporal-PAE, contrastive + affiliation; the text encoder frozen unless
 *   `train.stage2.trainTextEncoder` (the paper's figure freezes it).
 *
 * The pieces live beside it: `run_cache.ts` (stage keys, run ids, reuse), `stage_task.ts` (a
 * stage's model, initial weights, task, evaluation), `trainer.ts` (the loop and its step). This file
 * only orders them: for each stage, reuse the finished run or train it, then test the last stage.
 *
 *   const out = await runRecipe(resolveVariant('embedded-fast', 'no-prior'), { seed: 1, onStepEnd: (stage, log) => … });
 */
import { SeedStream } from '../utils/random';
import { RunRecord, finishRun, readRunRecord, startRun, writeRunRecord } from '../runs/record';
import { runFiles } from '../runs/files';
import { ExperimentConfig } from '../config/experiment';
import { dataNeeds } from '../models/family';
import { computeDiagnostics } from '../evaluation/diagnostics';
import { saveModelFile } from '../models/checkpoint';
import { PreparedData, prepareExperimentData } from './data_prep';
import { TrainConfig, stepsPerEpoch, train } from './trainer';
import { EvalLog, StepLog, loadTrainState } from './train_state';
import { createProgress } from '../utils/progress';
import { STAGES, StageName, StageOutcome, Variant, disabledStage, fullVariant, reusedStage, stageKeys, stageRunRecord, variantRunIds } from './run_cache';
import { TestSummary, createStageModel, evaluateSplit, loadInitialWeights, stageDataset, stageModelConfig, stageTask, summariseMetrics } from './stage_task';
import { splitImages } from '../data/types';

/** Outcome of a whole recipe for one variant and seed. */
export interface RecipeOutcome {
  variant: string;
  seed: number;
  stages: StageOutcome[];
  /** Run id of the last stage run (holds the test metrics). */
  finalRunId: string;
  /** Test metrics of the final run; null only with `upTo` when that stage's run was reused as a parent (never tested). */
  test: TestSummary | null;
  /** Best validation mR of the final stage. */
  valBest: number;
  /** Wall seconds of this call. */
  seconds: number;
}

/** Options of `runRecipe`. */
export interface RecipeOptions {
  /** Seed (default: the experiment's). */
  seed?: number;
  /** Last stage to run (default: all); later stages are reported `disabled`. */
  upTo?: StageName;
  /** Prepared data to reuse across calls (must come from the same data config). */
  data?: PreparedData;
  /** Log lines (default: stderr). */
  log?: (line: string) => void;
  /** Show per-stage progress bars (default true). */
  progress?: boolean;
  /** After every optimiser step of a stage that trains. */
  onStepEnd?: (stage: StageName, log: StepLog) => void;
  /** After every validation of a stage that trains. */
  onEvalEnd?: (stage: StageName, log: EvalLog, isBest: boolean) => void;
}

function defaultLog(line: string): void {
  process.stderr.write(line + '\n');
}

function roundAll(m: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(m)) out[k] = Math.round(v * 100) / 100;
  return out;
}

/**
 * Run (or reuse, or resume) every enabled stage of a variant for one seed, then evaluate the last
 * stage's best checkpoint on the TEST split (written to its run record). An `ExperimentConfig` is
 * run as the full model of itself (`fullVariant`).
 */
export async function runRecipe(target: Variant | ExperimentConfig, opts: RecipeOptions = {}): Promise<RecipeOutcome> {
  const t0 = Date.now();
  const v = 'base' in target ? target : fullVariant(target);
  const exp = v.exp;
  const seed = opts.seed ?? exp.seed;
  const log = opts.log ?? defaultLog;
  const tag = `[${v.name} s${seed}]`;
  const data = opts.data ?? (await prepareExperimentData(exp));
  const last = opts.upTo ? STAGES.indexOf(opts.upTo) : STAGES.length - 1;
  const allIds = variantRunIds(v, seed);
  const ids = { ...allIds };
  STAGES.forEach((s, i) => {
    if (i > last) ids[s] = null;
  });
  const keys = stageKeys(exp, seed);
  // the stage whose best checkpoint is tested: the last retrieval stage (stage 0 trains a classifier);
  // with `upTo`, a recipe may end at stage 0 (a prior for later calls), which is then the final run, untested
  const evalStage = [...STAGES].reverse().find((s) => s !== 'stage0' && ids[s] !== null);
  const finalStage = evalStage ?? (opts.upTo && ids.stage0 !== null ? 'stage0' : undefined);
  if (!finalStage) throw new Error(`experiment '${exp.name}' (${v.name}): stages 1 and 2 are both disabled${opts.upTo ? ` up to ${opts.upTo}` : ''}; nothing to evaluate`);
  const outcomes: StageOutcome[] = [];
  const root = new SeedStream(seed);

  for (const stage of STAGES) {
    const id = ids[stage];
    if (id === null) {
      outcomes.push(disabledStage(stage));
      continue;
    }
    const existing = stageRunRecord(id, stage, keys[stage]);
    if (existing) {
      log(`${tag} ${stage}: reusing finished run ${id}`);
      outcomes.push(reusedStage(stage, existing));
      continue;
    }
    const ts = Date.now();
    const cpu0 = process.cpuUsage();
    const parents = STAGES.slice(0, STAGES.indexOf(stage)).map((s) => ids[s]).filter((x): x is string => x !== null);
    const modelCfg = stageModelConfig(exp, data, stage);
    const model = createStageModel(exp, data, stage, root.child('model'));
    const files = runFiles(id);
    const record: RunRecord = startRun({ runId: id, kind: stage, seed, config: { ...exp, model: modelCfg, variant: v.name }, data: data.identity, parents });
    record.metrics.stageKey = keys[stage];
    writeRunRecord(record);
    if (data.wordTokenizer) data.wordTokenizer.save(files.vocab);
    try {
      loadInitialWeights(model, stage, ids);
      const trainCfg: TrainConfig = exp.train[stage];
      const task = stageTask({ exp, stage, model, data, seeds: root.child(stage) });
      const totalSteps = Math.max(1, trainCfg.epochs * stepsPerEpoch(trainCfg, task.numExamples));
      const bar = opts.progress === false ? null : createProgress(`${v.name} s${seed} ${stage}`, totalSteps);
      const res = await train(task, trainCfg, {
        dir: files.dir,
        seeds: root.child(stage),
        record,
        onStepEnd: (l) => {
          bar?.tick(1, `loss ${l.loss.toFixed(4)}`);
          opts.onStepEnd?.(stage, l);
        },
        saveWeights: (file) => saveModelFile(file, model, { kit_run_id: id, kit_stage: stage }),
        onEvalEnd: (e, isBest) => {
          log(`${tag} ${stage} epoch ${e.epoch + 1}: ${JSON.stringify(roundAll(e.metrics))}${isBest ? ' (best)' : ''}`);
          opts.onEvalEnd?.(stage, e, isBest);
        },
      });
      bar?.done();
      record.metrics.examplesPerSecond = res.examplesPerSecond;
      record.metrics.numExamples = task.numExamples;
      // which corpus the stage read (embedded v2: prior / coarse / fine; v1: the one dataset)
      const ds = stageDataset(exp, data, stage);
      record.metrics.trainCorpus = { name: ds.name, images: splitImages(ds, 'train').length, classes: ds.classes.length };
      if (stage === evalStage) {
        loadTrainState(files.best, model.params, null);
        const te = Date.now();
        const m = await evaluateSplit(exp, model, data, 'test');
        // the evaluation result → run record path (the final stage's test metrics)
        record.metrics.test = summariseMetrics(m);
        const needs = dataNeeds(exp.model);
        record.metrics.diagnostics = await computeDiagnostics(model, data.dataset, 'test', { tokenize: data.encodeText, imageSize: needs.imageSize, transform: needs.evalTransform, decode: (r) => data.cache.get(r), tieRule: exp.eval.tieRule, batchSize: exp.eval.batchSize });
        record.timings.testSeconds = (Date.now() - te) / 1000;
      }
      record.timings.totalSeconds = (Date.now() - ts) / 1000;
      const cpu = process.cpuUsage(cpu0);
      record.timings.cpuSeconds = (cpu.user + cpu.system) / 1e6;
      finishRun(record);
      outcomes.push({ stage, runId: id, status: 'trained', seconds: (Date.now() - ts) / 1000, examplesPerSecond: res.examplesPerSecond, examplesPerCpuSecond: res.examplesPerCpuSecond, cpuSeconds: record.timings.cpuSeconds, bestVal: res.state.best ? res.state.best.value : null });
    } catch (e) {
      finishRun(record, e as Error);
      throw e;
    } finally {
      model.dispose();
    }
  }
  const finalRunId = ids[finalStage] as string;
  const finalOutcome = outcomes.find((o) => o.stage === finalStage) as StageOutcome;
  const test = (readRunRecord(finalRunId)?.metrics.test as TestSummary | undefined) ?? null;
  if (!test && !opts.upTo) throw new Error(`run ${finalRunId} has no test metrics in its record`);
  return { variant: v.name, seed, stages: outcomes, finalRunId, test, valBest: finalOutcome.bestVal ?? Number.NaN, seconds: (Date.now() - t0) / 1000 };
}

/** The test metrics of a recipe outcome (throws naming the run when it has none). */
export function recipeTest(out: RecipeOutcome): TestSummary {
  if (!out.test) throw new Error(`run ${out.finalRunId} has no test metrics in its record (it was trained as a parent of a later stage)`);
  return out.test;
}
