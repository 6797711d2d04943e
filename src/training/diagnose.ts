/**
 * Diagnostics of a finished run, from its record and checkpoints: for runs made before the
 * diagnostics existed (`--store` adds them to run.json without touching its stage key), and for
 * the stage-2 START point (the seeded initial weights with the stage-0 prior and the stage-1
 * backbones loaded, exactly as `runRecipe` builds them) to compare with the best checkpoint.
 */
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { SeedStream } from '../utils/random';
import { readRunRecord, runDir, writeRunRecord } from '../runs/record';
import { ExperimentConfig } from '../config/experiment';
import { ModelConfig, RetrievalModel } from '../models/model';
import { createModel } from '../models/factory';
import { Diagnostics, computeDiagnostics, datasetObjects, diagnosticColumns, readDiagnostics } from '../evaluation/diagnostics';
import { isBeliefSource, objectCells } from '../evaluation/belief_localisation';
import { AnatomySummary, ImageAnatomy, batchAnatomy, summariseAnatomy } from '../evaluation/belief_saturation';
import { splitImages } from '../data/types';
import { preprocessImage } from '../data/image_preprocess';
import { QueryRanks } from '../evaluation/statistics';
import { ResultRow } from './results';
import { dataNeeds } from '../models/family';
import { runFiles } from '../runs/files';
import { PreparedData, prepareExperimentData } from './data_prep';
import { loadTrainState } from './train_state';
import { loadInitialWeights } from './stage_task';

/** Which weights of a run to diagnose. */
export type DiagnosePoint = 'best' | 'start';

/** Options of `diagnoseRun`. */
export interface DiagnoseOptions {
  /** `best` (default): the run's best checkpoint; `start`: a stage-2 run's initial weights. */
  at?: DiagnosePoint;
  /** Prepared data of the run's experiment (reused across calls). */
  data?: PreparedData;
  /** Write the diagnostics into the run record (only with `at: 'best'`). */
  store?: boolean;
}

/** The experiment config and model config a run record was made from. */
function runConfig(id: string): { exp: ExperimentConfig; model: ModelConfig; seed: number; parents: string[]; kind: string } {
  const r = readRunRecord(id);
  if (!r) throw new Error(`diagnoseRun: no run record ${path.join(runDir(id), 'run.json')}`);
  if (r.status !== 'finished') throw new Error(`diagnoseRun: run ${id} is ${r.status}, not finished`);
  const exp = r.config as ExperimentConfig;
  if (!exp || typeof exp !== 'object' || !exp.model || !exp.data) throw new Error(`diagnoseRun: ${path.join(runDir(id), 'run.json')} has no experiment config`);
  return { exp, model: exp.model, seed: r.seed, parents: r.parents, kind: r.kind };
}

/** Build the model of a run at a point (caller disposes). */
export function runModel(id: string, at: DiagnosePoint = 'best'): RetrievalModel {
  const c = runConfig(id);
  const model = createModel(c.model, new SeedStream(c.seed).child('model'));
  if (at === 'best') {
    loadTrainState(runFiles(id).best, model.params, null);
    return model;
  }
  if (c.kind !== 'stage2') throw new Error(`diagnoseRun: 'start' is defined for stage-2 runs (${id} is ${c.kind})`);
  const parentOf = (kind: string): string | null => c.parents.find((p) => readRunRecord(p)?.kind === kind) ?? null;
  loadInitialWeights(model, 'stage2', { stage0: parentOf('stage0'), stage1: parentOf('stage1'), stage2: null });
  return model;
}

/** Diagnostics of a finished run on its test split. */
export async function diagnoseRun(id: string, opts: DiagnoseOptions = {}): Promise<Diagnostics> {
  const c = runConfig(id);
  const data = opts.data ?? (await prepareExperimentData(c.exp));
  const model = runModel(id, opts.at ?? 'best');
  try {
    const d = await computeDiagnostics(model, data.dataset, 'test', {
      tokenize: data.encodeText,
      imageSize: dataNeeds(c.exp.model).imageSize,
      transform: dataNeeds(c.exp.model).evalTransform,
      decode: (r) => data.cache.get(r),
      tieRule: c.exp.eval.tieRule,
      batchSize: c.exp.eval.batchSize,
    });
    if (opts.store && (opts.at ?? 'best') === 'best') {
      const r = readRunRecord(id);
      if (r) {
        r.metrics.diagnostics = d;
        writeRunRecord(r);
      }
    }
    return d;
  } finally {
    model.dispose();
  }
}

/**
 * Read each row's run record: set `row.diagnostics` (headline columns) where the record has
 * diagnostics, and return the per-query test ranks by run id (for the bootstrap interval).
 * Rows of runs made before diagnostics existed are left as they are.
 */
export function attachDiagnostics(rows: ResultRow[]): Map<string, QueryRanks> {
  const ranks = new Map<string, QueryRanks>();
  for (const row of rows) {
    const d = readDiagnostics(readRunRecord(row.runId)?.metrics);
    if (!d) continue;
    row.diagnostics = diagnosticColumns(d);
    if (Array.isArray(d.ranks?.txt2img)) ranks.set(row.runId, d.ranks);
  }
  return ranks;
}

/** Belief anatomy (`belief_saturation.ts`) of a run's model over its test split. */
export async function beliefAnatomyOfRun(id: string, opts: { at?: DiagnosePoint; data?: PreparedData } = {}): Promise<AnatomySummary> {
  const c = runConfig(id);
  const data = opts.data ?? (await prepareExperimentData(c.exp));
  const objects = datasetObjects(data.dataset);
  if (typeof objects === 'string') throw new Error(`beliefAnatomyOfRun(${id}): ${objects}`);
  const model = runModel(id, opts.at ?? 'best');
  try {
    if (!isBeliefSource(model)) throw new Error(`beliefAnatomyOfRun(${id}): model '${c.exp.model.kind}' exposes no image tokens and prior`);
    const { imageSize: size, evalTransform: transform } = dataNeeds(c.exp.model);
    const k = c.exp.model.kind === 'priorclip' ? 1 : c.exp.model.spatialPae.filterSize;
    const recs = splitImages(data.dataset, 'test');
    const per: ImageAnatomy[] = [];
    const bs = c.exp.eval.batchSize;
    for (let s = 0; s < recs.length; s += bs) {
      const batch = recs.slice(s, s + bs);
      const px = await Promise.all(batch.map(async (r) => preprocessImage(await data.cache.get(r), { size, transform })));
      const flat = new Float32Array(px.length * size * size * 3);
      px.forEach((p, i) => flat.set(p, i * p.length));
      const images = tf.tensor4d(flat, [px.length, size, size, 3]);
      const V = model.imageTokens(images); // [B, N, D]
      const [B, , D] = V.shape as number[];
      const c0 = model.priorToken(images) ?? (tf.slice(V, [0, 0, 0], [B, 1, D]) as tf.Tensor3D); // [B, 1, D]
      try {
        const cells = batch.map((r) => {
          const o = objects.get(r.fileName);
          if (!o) throw new Error(`beliefAnatomyOfRun(${id}): no objects for ${r.fileName}`);
          return objectCells(o, model.grid);
        });
        per.push(...batchAnatomy(V, c0, cells, k));
      } finally {
        images.dispose();
        V.dispose();
        c0.dispose();
      }
    }
    return summariseAnatomy(per);
  } finally {
    model.dispose();
  }
}

/** Relative change ‖W_best − W_start‖ / ‖W_start‖ of a stage-2 run's parameters, by key (the keys that `filter` keeps). */
export function parameterDrift(id: string, filter: (key: string) => boolean = () => true): { key: string; relChange: number; norm: number }[] {
  const a = runModel(id, 'start');
  const b = runModel(id, 'best');
  try {
    return a.params
      .list()
      .filter((e) => filter(e.key))
      .map((e) => {
        const [d, n] = tf.tidy(() => {
          const w0 = e.variable;
          const w1 = b.params.get(e.key);
          return [tf.norm(tf.sub(w1, w0)).dataSync()[0], tf.norm(w0).dataSync()[0]];
        });
        return { key: e.key, relChange: n > 0 ? d / n : Number.NaN, norm: n };
      });
  } finally {
    a.dispose();
    b.dispose();
  }
}
