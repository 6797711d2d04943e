/**
 * The main job (`npm run main`): everything the kit's results need, in order, resumable:
 *
 *   1. data       generate (or reuse) the embedded dataset
 *   2. train      stages 0 → 1 → 2 of the profile's preset (full model, first seed)
 *   3. ablations  the profile's suite (ablations × seeds) → results table + mR bar chart
 *   4. evaluate   the main model's best checkpoint on the test split (per-class, recall curves)
 *   5. figures    loss curves, recall curves (saveFigure → figures/)
 *   6. notebooks  `npm run notebooks` in a child process (skip with `--no-notebooks`)
 *
 * Each step is skipped when its outputs exist (finished run records, figure files, executed
 * notebooks), so a killed job continues where it stopped. A profile is a list of suite files
 * (src/training/profiles.ts), one per setting: the default `fast` runs the closed and the open setting
 * of embedded v2 (suites default-closed, default-open), `full` their paper suites (v2-closed, v2-open).
 * With two or more settings, steps 1–5 run once per setting, the settings side by side in child
 * processes (`npm run main -- --profile <suite> --no-notebooks`, one native thread each when workers
 * ≥ the settings, so the two cores are both used), then step 6 once.
 */
import * as fs from 'fs';
import * as path from 'path';
import { spawn, spawnSync } from 'child_process';
import * as os from 'os';
import { ExperimentConfig, FULL_MODEL, SuiteSpec, isEmbeddedV2, loadSuite, resolveExperiment } from '../config/experiment';
import { readRunRecord, runDir, runsDir } from '../runs/record';
import { atomicWriteJson, projectRoot, readJson } from '../utils/fs';
import { embeddedDatasetDir, generateEmbeddedDataset } from '../data/embedded/generate';
import { embeddedV2Dir, generateEmbeddedV2 } from '../data/embedded/v2/generate';
import { createModel } from '../models/factory';
import { SeedStream } from '../utils/random';
import { loadTrainState } from './train_state';
import { pendingVariants, runSuite, trainInWorkers } from './ablation_runner';
import { runRecipe, recipeTest } from './recipe';
import { Setting, notebookProfile, presetSetting, profileSuites } from './profiles';
import { STAGES, fullVariant, variantFinished, variantRunIds } from './run_cache';
import { evaluateSplit, stageModelConfig } from './stage_task';
import { runLossHistory } from './run_logs';
import { runFiles } from '../runs/files';
import { PreparedData, prepareExperimentData } from './data_prep';

export { notebookProfile } from './profiles';

/** Worker processes of the main job: one per core of the 2-core target machine. */
export const DEFAULT_WORKERS = 2;

/** Options of the main job. */
export interface MainJobOptions {
  /** Profile (`fast` | `full` | `v1` | `v1-full`: src/training/profiles.ts) or one suite name. */
  profile?: string;
  /** Run the notebooks at the end (default true). */
  notebooks?: boolean;
  /** Re-execute notebooks even when executed copies exist. */
  rerunNotebooks?: boolean;
  /** Seeds for the ablation suite (default: the suite's). */
  seeds?: number[];
  /** Log lines (default stderr). */
  log?: (line: string) => void;
  /** Per-stage progress bars (default true). */
  progress?: boolean;
  /** A suite object instead of the profile's file (tests, notebooks). */
  suite?: SuiteSpec;
  /** Overrides applied to the preset and every ablation (tests, quick looks). */
  overrides?: unknown;
  /** Render figures and copy the ablation table to figures/ (default true; PNG needs Chromium). */
  figures?: boolean;
  /** Training processes in parallel (default 2: tfjs-wasm uses one core per process). 1 = in-process. */
  workers?: number;
}

/** Timing of one step of the job. */
export interface StepReport {
  /** The setting whose step this is (absent: a single-setting job, or the notebooks). */
  setting?: Setting;
  step: 'data' | 'train' | 'ablations' | 'evaluate' | 'figures' | 'notebooks';
  status: 'ran' | 'skipped' | 'failed';
  /** Wall seconds. */
  seconds: number;
  /** CPU seconds of this process (absent for skipped steps and child processes). */
  cpuSeconds?: number;
  detail: string;
}

/** Summary written to `data/runs/main_<profile>.json`. */
export interface MainJobReport {
  profile: string;
  preset: string;
  startedAt: string;
  finishedAt: string;
  totalSeconds: number;
  /** CPU seconds of this process (user + system); child processes (notebooks) not included. */
  cpuSeconds: number;
  steps: StepReport[];
  /** Final run id of the main model and its test mR (the first setting's when there are several). */
  main: { runId: string; testMR: number } | null;
  /** Per setting: its suite, preset and main model (one entry for a single-suite job). */
  settings: SettingReport[];
}

/** One setting of a main-job report. */
export interface SettingReport {
  setting: Setting;
  suite: string;
  preset: string;
  main: { runId: string; testMR: number } | null;
  /** Wall seconds of the setting's steps 1–5. */
  seconds: number;
}

/** Run the main job. */
export async function runMainJob(opts: MainJobOptions = {}): Promise<MainJobReport> {
  const t0 = Date.now();
  const cpu0 = process.cpuUsage();
  const startedAt = new Date().toISOString();
  const log = opts.log ?? ((l: string) => process.stderr.write(l + '\n'));
  const requested = opts.profile ?? 'fast';
  const suiteNames = opts.suite ? [opts.suite.name] : profileSuites(requested);
  if (suiteNames.length > 1) return runSettings(requested, suiteNames, opts, log);
  const profile = suiteNames[0];
  const suite = opts.suite ?? loadSuite(profile);
  const seeds = opts.seeds ?? suite.seeds;
  const base = resolveExperiment(suite.preset, null, opts.overrides);
  const mainSeed = seeds[0];
  const steps: StepReport[] = [];
  let data: PreparedData | null = null;
  const getData = async () => {
    if (!data) data = await prepareExperimentData(base);
    return data;
  };
  const step = async (name: StepReport['step'], done: () => boolean, fn: () => Promise<string>): Promise<void> => {
    const ts = Date.now();
    const c0 = process.cpuUsage();
    if (done()) {
      steps.push({ step: name, status: 'skipped', seconds: 0, detail: 'outputs exist' });
      log(`[main] ${name}: skipped (outputs exist)`);
      return;
    }
    log(`[main] ${name}: running`);
    try {
      const detail = await fn();
      const s = (Date.now() - ts) / 1000;
      const c = process.cpuUsage(c0);
      steps.push({ step: name, status: 'ran', seconds: s, cpuSeconds: (c.user + c.system) / 1e6, detail });
      log(`[main] ${name}: done in ${s.toFixed(1)} s — ${detail}`);
    } catch (e) {
      steps.push({ step: name, status: 'failed', seconds: (Date.now() - ts) / 1000, detail: (e as Error).message });
      writeReport();
      throw e;
    }
  };
  const ids = variantRunIds(fullVariant(base), mainSeed);
  const finalId = ids.stage2 ?? ids.stage1;
  const reportFile = path.join(runsDir(), `main_${profile}.json`);
  const writeReport = (): MainJobReport => {
    const rec = finalId ? readRunRecord(finalId) : null;
    const test = rec?.metrics.test as { mR: number } | undefined;
    const main = finalId && test ? { runId: finalId, testMR: test.mR } : null;
    const report = composeReport({ t0, cpu0, startedAt }, { profile, preset: suite.preset, steps, main, settings: [] });
    // one setting, whose seconds are the job's own
    report.settings = [{ setting: presetSetting(suite.preset), suite: suite.name, preset: suite.preset, main, seconds: report.totalSeconds }];
    atomicWriteJson(reportFile, report);
    return report;
  };

  // 1. data
  await step(
    'data',
    () => base.data.source === 'embedded' && fs.existsSync(isEmbeddedV2(base.data.embedded) ? embeddedV2Dir(base.data.embedded) : embeddedDatasetDir(base.data.embedded)),
    async () => {
      const d = await getData();
      return `${d.dataset.images.length} images, ${d.dataset.classes.length} classes (${d.seconds.toFixed(1)} s)`;
    },
  );
  // 2. the main model's stages
  const workers = opts.workers ?? DEFAULT_WORKERS;
  // with workers the step trains the full model of every seed, in this process only the main seed's
  const trainSeeds = workers > 1 ? seeds : [mainSeed];
  const allFinished = () => trainSeeds.every((s) => variantFinished(fullVariant(base), s));
  await step('train', allFinished, async () => {
    if (workers > 1) {
      // the full model of every seed, in parallel (the ablations of each seed share its stages 0–1)
      // requireRuns: a result record is not enough here (the evaluation step and the notebooks load the weights)
      await trainInWorkers(suite, [FULL_MODEL], seeds, base, opts.overrides, workers, log, { requireRuns: true });
      const rec = finalId ? readRunRecord(finalId) : null;
      const test = rec?.metrics.test as { mR: number } | undefined;
      return `full model × seeds ${seeds.join(',')} in ${workers} workers; main ${finalId} test mR ${test ? test.mR.toFixed(2) : '?'}`;
    }
    const out = await runRecipe(fullVariant(base), { seed: mainSeed, data: await getData(), log, progress: opts.progress });
    return out.stages.map((s) => `${s.stage} ${s.status} ${s.seconds.toFixed(0)} s (cpu ${s.cpuSeconds.toFixed(0)} s)${s.examplesPerSecond ? ` ${s.examplesPerSecond.toFixed(0)} ex/s (${(s.examplesPerCpuSecond ?? 0).toFixed(0)} per cpu-s)` : ''}`).join('; ') + `; test mR ${recipeTest(out).mR.toFixed(2)}`;
  });
  // 3. ablation suite
  const resultsFile = path.join(runsDir(), suite.name, 'results.json');
  await step(
    'ablations',
    () => suiteComplete(resultsFile, suite, seeds, base, opts.overrides),
    async () => {
      const out = await runSuite(suite, { seeds, data: workers > 1 ? undefined : await getData(), log, progress: opts.progress, overrides: opts.overrides, figures: opts.figures, tableDir: opts.figures === false ? null : undefined, workers });
      return `${out.trained} trained, ${out.reused} reused, ${out.rows.length} rows → ${path.relative(projectRoot(), resultsFile)}`;
    },
  );
  // 4. evaluation of the main model (full metrics: per class, curves)
  const evalFile = finalId ? path.join(runDir(finalId), 'test_metrics.json') : '';
  await step('evaluate', () => !finalId || fs.existsSync(evalFile), async () => {
    const d = await getData();
    const model = createModel(stageModelConfig(base, d, 'stage2'), new SeedStream(mainSeed).child('model'));
    try {
      loadTrainState(runFiles(finalId as string).best, model.params, null);
      const m = await evaluateSplit(base, model, d, 'test');
      atomicWriteJson(evalFile, { runId: finalId, split: 'test', metrics: { ...m, ranks: undefined, hits: undefined } });
      return `test mR ${m.mR.toFixed(2)} (${m.numImages} images, ${m.numTexts} captions) → ${path.relative(projectRoot(), evalFile)}`;
    } finally {
      model.dispose();
    }
  });
  // 5. figures
  const { figuresDir } = await import('../plotting/save');
  const lossFig = path.join(figuresDir(), `training_${base.name}.json`);
  if (opts.figures === false) steps.push({ step: 'figures', status: 'skipped', seconds: 0, detail: 'figures disabled' });
  else await step('figures', () => newerThanRuns(lossFig, STAGES.map((s) => ids[s]).filter((x): x is string => x !== null)), async () => {
    const { lossCurvesFigure } = await import('../plotting/figures/loss_curves');
    const { saveFigure } = await import('../plotting/save');
    const histories = STAGES.filter((s) => ids[s] !== null).map((s) => runLossHistory(ids[s] as string, s));
    const files: string[] = [];
    for (const h of histories) {
      const fig = lossCurvesFigure([h], { smoothing: 0.6, validationLabel: h.name === 'stage0' ? 'val accuracy (%)' : 'val mR (%)', title: `${base.name} ${h.name}: training loss` });
      const saved = await saveFigure(fig, `training_${base.name}_${h.name}`, { runs: [ids[h.name as 'stage0'] as string], configs: [base.name], source: 'src/training/main_job.ts' });
      files.push(saved.html);
    }
    // the overview puts stages 1 and 2 on one step axis (stage 2 continues after stage 1)
    let offset = 0;
    const shifted = histories
      .filter((h) => h.name !== 'stage0')
      .map((h) => {
        const o = offset;
        offset += h.points.length ? h.points[h.points.length - 1].step : 0;
        return { ...h, points: h.points.map((p) => ({ ...p, step: p.step + o })), validation: (h.validation ?? []).map((v) => ({ ...v, step: v.step + o })) };
      });
    const overview = lossCurvesFigure(shifted, { smoothing: 0.6, validationLabel: 'val mR (%)', title: `${base.name}: stages 1–2 loss and validation mR` });
    await saveFigure(overview, `training_${base.name}`, { runs: STAGES.map((s) => ids[s]).filter((x): x is string => x !== null), configs: [base.name], source: 'src/training/main_job.ts' });
    return `${files.length + 1} figures`;
  });
  // 6. notebooks
  steps.push(...(await notebooksStep(notebookProfile(profile), opts, log)));
  const report = writeReport();
  log(`[main] finished in ${report.totalSeconds.toFixed(1)} s; report → ${path.relative(projectRoot(), reportFile)}`);
  return report;
}

/** Step 6: `npm run notebooks -- --profile <nb>` in a child process, unless disabled or up to date. */
async function notebooksStep(nb: string, opts: MainJobOptions, log: (l: string) => void): Promise<StepReport[]> {
  if (opts.notebooks === false) return [{ step: 'notebooks', status: 'skipped', seconds: 0, detail: '--no-notebooks' }];
  if (!opts.rerunNotebooks && notebooksExecuted()) {
    log('[main] notebooks: skipped (outputs exist)');
    return [{ step: 'notebooks', status: 'skipped', seconds: 0, detail: 'outputs exist' }];
  }
  log(`[main] notebooks: running (profile ${nb})`);
  const ts = Date.now();
  const r = spawnSync('npm', ['run', 'notebooks', '--', '--profile', nb], { cwd: projectRoot(), stdio: 'inherit', env: { ...process.env, KIT_PROFILE: nb } });
  const seconds = (Date.now() - ts) / 1000;
  if (r.status !== 0) throw new Error(`npm run notebooks exited with ${r.status}`);
  log(`[main] notebooks: done in ${seconds.toFixed(1)} s`);
  return [{ step: 'notebooks', status: 'ran', seconds, detail: `executed notebooks (profile ${nb}) in build/notebooks/` }];
}

/**
 * A profile of several settings: steps 1–5 of each setting's suite, then the notebooks once. With
 * `workers` ≥ 2 the settings run side by side, each in a child `npm run main -- --profile <suite>
 * --no-notebooks --workers max(1, workers / settings)` (its own report `main_<suite>.json`), with
 * KIT_NATIVE_THREADS = cores / settings unless set; with one worker they run one after the other here.
 */
async function runSettings(profile: string, suiteNames: string[], opts: MainJobOptions, log: (l: string) => void): Promise<MainJobReport> {
  const t0 = Date.now();
  const cpu0 = process.cpuUsage();
  const startedAt = new Date().toISOString();
  const workers = opts.workers ?? DEFAULT_WORKERS;
  const parts: MainJobReport[] = [];
  const pre: StepReport[] = [];
  // the settings may share a dataset: generate it once here, before two processes would race to publish the same folder
  for (const name of suiteNames) {
    const data = resolveExperiment(loadSuite(name).preset, null, opts.overrides).data;
    if (data.source !== 'embedded') continue;
    const ts = Date.now();
    const dir = isEmbeddedV2(data.embedded) ? embeddedV2Dir(data.embedded) : embeddedDatasetDir(data.embedded);
    if (fs.existsSync(dir)) continue;
    log(`[main] data: generating ${path.relative(projectRoot(), dir)} (for ${name})`);
    if (isEmbeddedV2(data.embedded)) await generateEmbeddedV2(data.embedded);
    else await generateEmbeddedDataset(data.embedded);
    pre.push({ step: 'data', status: 'ran', seconds: (Date.now() - ts) / 1000, detail: `${path.relative(projectRoot(), dir)}, generated once for the settings` });
  }
  // children take the profile by name: overrides and figure switches (tests) keep the in-process route
  if (workers >= 2 && opts.overrides === undefined && opts.figures === undefined) {
    const childWorkers = Math.max(1, Math.floor(workers / suiteNames.length));
    const threads = process.env.KIT_NATIVE_THREADS ?? String(Math.max(1, Math.floor(os.cpus().length / suiteNames.length)));
    log(`[main] profile ${profile}: ${suiteNames.join(' and ')} side by side (${suiteNames.length} processes, ${childWorkers} worker(s) and ${threads} native thread(s) each)`);
    const codes = await Promise.all(suiteNames.map((name) => runChild(name, childWorkers, threads, opts, log)));
    const failed = suiteNames.filter((_, i) => codes[i] !== 0);
    if (failed.length) throw new Error(`the main job of suite(s) ${failed.join(', ')} failed (exit ${codes.filter((c) => c !== 0).join(', ')}); their lines above say why; rerun to continue where they stopped`);
    for (const name of suiteNames) parts.push(readJson<MainJobReport>(path.join(runsDir(), `main_${name}.json`)));
  } else {
    for (const name of suiteNames) parts.push(await runMainJob({ ...opts, suite: undefined, profile: name, notebooks: false }));
  }
  // the settings' own 'notebooks' rows only say they left the notebooks to this job: drop them
  const settingSteps = (p: MainJobReport) => p.steps.filter((st) => st.step !== 'notebooks').map((st) => ({ ...st, setting: p.settings[0]?.setting, cpuSeconds: workers >= 2 ? undefined : st.cpuSeconds }));
  const steps: StepReport[] = [...pre, ...parts.flatMap(settingSteps)];
  steps.push(...(await notebooksStep(profile, opts, log)));
  const report = composeReport({ t0, cpu0, startedAt }, { profile, preset: parts.map((p) => p.preset).join(' + '), steps, main: parts[0]?.main ?? null, settings: parts.flatMap((p) => p.settings) });
  const reportFile = path.join(runsDir(), `main_${profile}.json`);
  atomicWriteJson(reportFile, report);
  log(`[main] finished in ${report.totalSeconds.toFixed(1)} s; report → ${path.relative(projectRoot(), reportFile)}`);
  return report;
}

/** When a main job started: wall clock, CPU clock and ISO time. */
interface JobClock {
  t0: number;
  cpu0: NodeJS.CpuUsage;
  startedAt: string;
}

/** A main-job report: the given parts, finished now, with the wall and CPU seconds since `clock`. */
function composeReport(clock: JobClock, parts: Pick<MainJobReport, 'profile' | 'preset' | 'steps' | 'main' | 'settings'>): MainJobReport {
  const c = process.cpuUsage(clock.cpu0);
  return {
    profile: parts.profile,
    preset: parts.preset,
    startedAt: clock.startedAt,
    finishedAt: new Date().toISOString(),
    totalSeconds: (Date.now() - clock.t0) / 1000,
    cpuSeconds: (c.user + c.system) / 1e6,
    steps: parts.steps,
    main: parts.main,
    settings: parts.settings,
  };
}

/** One setting's main job in a child process; its lines are prefixed with the suite name. Resolves to the exit code. */
function runChild(suite: string, workers: number, threads: string, opts: MainJobOptions, log: (l: string) => void): Promise<number> {
  const args = ['src/cli/main.ts', '--profile', suite, '--no-notebooks', '--workers', String(workers), '--no-progress'];
  if (opts.seeds) args.push('--seeds', opts.seeds.join(','));
  const tsx = path.join(projectRoot(), 'node_modules', '.bin', 'tsx');
  return new Promise((resolve) => {
    const child = spawn(tsx, args, { cwd: projectRoot(), env: { ...process.env, KIT_NATIVE_THREADS: threads }, stdio: ['ignore', 'pipe', 'pipe'] });
    const prefix = (buf: Buffer, carry: { rest: string }) => {
      const text = carry.rest + buf.toString('utf8');
      const lines = text.split('\n');
      carry.rest = lines.pop() ?? '';
      for (const l of lines) if (l.length) log(`[${suite}] ${l}`);
    };
    const out = { rest: '' };
    const err = { rest: '' };
    child.stdout.on('data', (b: Buffer) => prefix(b, out));
    child.stderr.on('data', (b: Buffer) => prefix(b, err));
    child.on('close', (code) => {
      for (const c of [out, err]) if (c.rest.length) log(`[${suite}] ${c.rest}`);
      resolve(code ?? 1);
    });
  });
}

/** True when a suite results file covers every (ablation, seed). */
/** The suite's results file lists every (ablation, seed), and the suite runner would train none of them. */
function suiteComplete(file: string, suite: SuiteSpec, seeds: readonly number[], base: ExperimentConfig, overrides: unknown): boolean {
  if (!fs.existsSync(file)) return false;
  const r = readJson<{ rows: { ablation: string; seed: number }[] }>(file);
  if (!suite.ablations.every((a) => seeds.every((s) => r.rows.some((x) => x.ablation === a && x.seed === s)))) return false;
  return pendingVariants(suite, suite.ablations, seeds, base, overrides).length === 0;
}

/** True when `file` exists and was written after every listed run record (figures of retrained runs are redrawn). */
export function newerThanRuns(file: string, runIds: readonly string[]): boolean {
  if (!fs.existsSync(file)) return false;
  const t = fs.statSync(file).mtimeMs;
  return runIds.every((id) => {
    const rec = path.join(runDir(id), 'run.json');
    return !fs.existsSync(rec) || fs.statSync(rec).mtimeMs <= t;
  });
}

/** True when every notebook has an executed copy in build/notebooks/ that is newer than its source. */
function notebooksExecuted(): boolean {
  const src = path.join(projectRoot(), 'notebooks');
  const out = path.join(projectRoot(), 'build', 'notebooks');
  if (!fs.existsSync(src) || !fs.existsSync(out)) return false;
  return fs
    .readdirSync(src)
    .filter((f) => f.endsWith('.ipynb'))
    .every((f) => fs.existsSync(path.join(out, f)) && fs.statSync(path.join(out, f)).mtimeMs >= fs.statSync(path.join(src, f)).mtimeMs);
}
