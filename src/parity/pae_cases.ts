/**
 * Parity case runners for the PAE golden fixtures (`pir_blocks`, `spatial_pae`, `temporal_pae`,
 * `soft_belief`; golden README §1–§4). Each runner reads `<dir>/<case>.json` + `.safetensors`,
 * builds the kit module with every size read from the data (width, heads, K, token counts, number of
 * rounds), loads the `param/<torch key>` tensors into it, runs it in evaluation mode and compares
 * every `output/*` with the fixture's tolerance (`|got − exp| ≤ atol + rtol·|exp|`; integer outputs
 * exactly). The parity CLI (`src/cli/parity.ts`) calls these; tests call them on the shared golden
 * folder. The caller initialises the tfjs backend.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { SeedStream } from '../utils/random';
import { readJson } from '../utils/fs';
import { SafeTensor, readSafetensorsFile, toFloat32 } from '../io/safetensors';
import { ParamStore } from '../models/params';
import { assignTorchValue } from '../models/layers';
import { CroSA, MHSA, PaeBlockConfig } from '../models/pir_blocks';
import { SpatialPae, SPATIAL_PAE_KEYS } from '../models/spatial_pae';
import { TemporalPae, TEMPORAL_PAE_KEYS } from '../models/temporal_pae';
import { softBelief } from '../models/soft_belief';
import { compareTensor, failedRow } from './compare';
import { CaseRows, ParityRow } from './types';

/** The part of a fixture's JSON sidecar the runners read. */
interface FixtureJson {
  case?: string;
  variant?: string;
  dims?: Record<string, number>;
  config?: Record<string, unknown>;
  tolerance?: { rtol?: number; atol?: number };
}

interface Fixture {
  name: string;
  file: string;
  json: FixtureJson;
  tensors: Map<string, SafeTensor>;
  tol: { rtol: number; atol: number };
}

/** Defaults only if a sidecar lacks `tolerance` (README: rtol 1e-4, atol 1e-5). */
const DEFAULT_RTOL = 1e-4;
const DEFAULT_ATOL = 1e-5;

function loadFixture(dir: string, name: string): Fixture {
  const file = path.join(dir, `${name}.safetensors`);
  const jsonFile = path.join(dir, `${name}.json`);
  if (!fs.existsSync(file)) throw new Error(`parity ${name}: fixture ${file} not found`);
  const json = fs.existsSync(jsonFile) ? readJson<FixtureJson>(jsonFile) : {};
  const tensors = readSafetensorsFile(file);
  return {
    name,
    file,
    json,
    tensors,
    tol: { rtol: json.tolerance?.rtol ?? DEFAULT_RTOL, atol: json.tolerance?.atol ?? DEFAULT_ATOL },
  };
}

function need(fx: Fixture, key: string): SafeTensor {
  const t = fx.tensors.get(key);
  if (!t) throw new Error(`${fx.file}: tensor '${key}' is missing`);
  return t;
}

function inputTensor(fx: Fixture, key: string): tf.Tensor {
  const t = need(fx, key);
  return tf.tensor(toFloat32(t), t.shape, 'float32');
}

/** Heads from the JSON (`dims.heads`, else `config.head`); the weights cannot tell. */
function headsOf(fx: Fixture): number {
  const h = fx.json.dims?.heads ?? (typeof fx.json.config?.head === 'number' ? (fx.json.config.head as number) : undefined);
  if (h === undefined) throw new Error(`${fx.file}: JSON sidecar gives no head count (dims.heads / config.head)`);
  return h;
}

/** Count `<prefix>.<i>.` copies among the param keys. */
function countCopies(fx: Fixture, prefix: string): number {
  const re = new RegExp(`^param/${prefix}\\.(\\d+)\\.`);
  let n = 0;
  for (const k of fx.tensors.keys()) {
    const m = re.exec(k);
    if (m) n = Math.max(n, Number(m[1]) + 1);
  }
  return n;
}

/** Load every `param/<strip><key>` tensor into the store; both sides must cover each other. */
function loadParams(fx: Fixture, store: ParamStore, strip = ''): void {
  const loaded = new Set<string>();
  for (const [name, t] of fx.tensors) {
    if (!name.startsWith(`param/${strip}`)) continue;
    const key = name.slice(`param/${strip}`.length);
    assignTorchValue(store, key, toFloat32(t), t.shape, fx.file);
    loaded.add(key);
  }
  const missing = store.list().map((e) => e.key).filter((k) => !loaded.has(k));
  if (missing.length > 0) throw new Error(`${fx.file}: no value for model parameter(s) ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ' …' : ''}`);
}

/** Compare a float result with the fixture tensor `name` (the fixture's tolerance). */
function compareFloat(fx: Fixture, name: string, got: tf.Tensor): ParityRow {
  return compareTensor(name, got.dataSync(), got.shape, need(fx, name), { exact: false, rtol: fx.tol.rtol, atol: fx.tol.atol });
}

/** Compare an integer result exactly. */
function compareInt(fx: Fixture, name: string, got: tf.Tensor): ParityRow {
  return compareTensor(name, got.dataSync(), got.shape, need(fx, name), { exact: true });
}

function result(fx: Fixture, dims: Record<string, number>, compared: ParityRow[]): CaseRows {
  // Every `output/*` of the fixture must have been compared: a skipped output is a failure.
  const seen = new Set(compared.map((o) => o.name));
  const rows = [...compared];
  for (const name of fx.tensors.keys()) {
    if (name.startsWith('output/') && !seen.has(name)) rows.push(failedRow(name, 'not compared by the runner'));
  }
  return { rows, dims };
}

/** Run `fn` and dispose every tensor it created (tf.tidy for non-tensor results). */
function scoped<T>(fn: () => T): T {
  tf.engine().startScope();
  try {
    return fn();
  } finally {
    tf.engine().endScope();
  }
}

/** A throwaway store (parity loads every value, so the seed only fills initial values). */
function scratchStore(name: string): ParamStore {
  return new ParamStore(new SeedStream(0).child(`parity/${name}`));
}

/** FFN ratio from `ffn.0.weight` (torch `[hidden, D]`). */
function mlpRatioOf(fx: Fixture, ffn0Key: string, width: number): number {
  const hidden = need(fx, ffn0Key).shape[0];
  if (hidden % width !== 0) throw new Error(`${fx.file}: ${ffn0Key} hidden width ${hidden} is not a multiple of D=${width}`);
  return hidden / width;
}

/** Case 1: PIR MHSA and CroSA blocks. */
export function runPirBlocksCase(dir: string): CaseRows {
  const fx = loadFixture(dir, 'pir_blocks');
  const D = need(fx, 'input/x').shape[2];
  const cfg: PaeBlockConfig = { width: D, heads: headsOf(fx), dropout: 0, mlpRatio: mlpRatioOf(fx, 'param/mhsa.ffn.0.weight', D) };
  const mhsaStore = scratchStore('mhsa');
  const crosaStore = scratchStore('crosa');
  try {
    const mhsa = new MHSA(mhsaStore, '', cfg);
    const crosa = new CroSA(crosaStore, '', cfg);
    loadParams(fx, mhsaStore, 'mhsa.');
    loadParams(fx, crosaStore, 'crosa.');
    const outputs = scoped(() => {
      const x = inputTensor(fx, 'input/x') as tf.Tensor3D;
      const y = inputTensor(fx, 'input/y') as tf.Tensor3D;
      const a = mhsa.trace(x, null);
      const b = crosa.trace(x, y, null);
      return [
        compareFloat(fx, 'output/mhsa_mhatt', a.mhatt),
        compareFloat(fx, 'output/mhsa_after_norm1', a.afterNorm1),
        compareFloat(fx, 'output/mhsa', a.out),
        compareFloat(fx, 'output/crosa_mhatt', b.mhatt),
        compareFloat(fx, 'output/crosa_after_norm1', b.afterNorm1),
        compareFloat(fx, 'output/crosa', b.out),
      ];
    });
    return result(fx, { D, heads: cfg.heads, mlpHidden: cfg.mlpRatio * D }, outputs);
  } finally {
    mhsaStore.dispose();
    crosaStore.dispose();
  }
}

/** Case 2: Spatial-PAE with hard belief. */
export function runSpatialPaeCase(dir: string): CaseRows {
  const fx = loadFixture(dir, 'spatial_pae');
  const [B, N, D] = need(fx, 'input/V').shape;
  const K = need(fx, 'output/kept_idx').shape[1];
  const nV = countCopies(fx, SPATIAL_PAE_KEYS.sa);
  const store = scratchStore('spatial_pae');
  try {
    const pae = new SpatialPae(store, D, {
      enabled: true,
      belief: 'hard',
      filterSize: K,
      numRounds: nV,
      heads: headsOf(fx),
      dropout: 0,
      mlpRatio: nV > 0 ? mlpRatioOf(fx, `param/${SPATIAL_PAE_KEYS.sa}.0.ffn.0.weight`, D) : 2,
    });
    loadParams(fx, store);
    const outputs = scoped(() => {
      const V = inputTensor(fx, 'input/V') as tf.Tensor3D;
      const c = inputTensor(fx, 'input/c') as tf.Tensor3D;
      const t = pae.trace(V, c, null);
      const out = [
        compareFloat(fx, 'output/belief', t.belief),
        compareInt(fx, 'output/sorted_ind', t.sortedInd),
        compareInt(fx, 'output/kept_idx', t.keptIdx),
        compareFloat(fx, 'output/S_filtered', t.sFiltered),
      ];
      t.rounds.forEach((r, i) => {
        out.push(compareFloat(fx, `output/iter${i}/sa_out`, r.saOut));
        out.push(compareFloat(fx, `output/iter${i}/query`, r.query));
        out.push(compareFloat(fx, `output/iter${i}/ca_out`, r.caOut));
      });
      out.push(compareFloat(fx, 'output/S_final', t.sFinal));
      out.push(compareFloat(fx, 'output/v_emb', t.vEmb));
      return out;
    });
    return result(fx, { B, N, D, K, heads: pae.cfg.heads, n_v: nV }, outputs);
  } finally {
    store.dispose();
  }
}

/** Case 3: Temporal-PAE. */
export function runTemporalPaeCase(dir: string): CaseRows {
  const fx = loadFixture(dir, 'temporal_pae');
  const [B, L, D] = need(fx, 'input/T').shape;
  const nT = countCopies(fx, TEMPORAL_PAE_KEYS.sa);
  const store = scratchStore('temporal_pae');
  try {
    const pae = new TemporalPae(store, D, {
      enabled: true,
      numRounds: nT,
      heads: headsOf(fx),
      dropout: 0,
      mlpRatio: nT > 0 ? mlpRatioOf(fx, `param/${TEMPORAL_PAE_KEYS.sa}.0.ffn.0.weight`, D) : 2,
    });
    loadParams(fx, store);
    const outputs = scoped(() => {
      const T = inputTensor(fx, 'input/T') as tf.Tensor3D;
      const t = pae.trace(T, null);
      const out: ParityRow[] = [];
      t.rounds.forEach((r, i) => {
        out.push(compareFloat(fx, `output/iter${i}/sa_out`, r.saOut));
        out.push(compareFloat(fx, `output/iter${i}/query`, r.query));
        out.push(compareFloat(fx, `output/iter${i}/ca_out`, r.caOut));
      });
      out.push(compareFloat(fx, 'output/X_final', t.xFinal));
      out.push(compareFloat(fx, 'output/t_emb', t.tEmb));
      return out;
    });
    return result(fx, { B, L, D, heads: pae.cfg.heads, n_t: nT }, outputs);
  } finally {
    store.dispose();
  }
}

/** Case 4: PriorCLIP soft belief, both formulas. */
export function runSoftBeliefCase(dir: string): CaseRows {
  const fx = loadFixture(dir, 'soft_belief');
  const [B, T, W] = need(fx, 'input/x').shape;
  const outputs = scoped(() => {
    const x = inputTensor(fx, 'input/x') as tf.Tensor3D;
    const y = inputTensor(fx, 'input/y') as tf.Tensor3D;
    const head = softBelief(x, y, 'head');
    const old = softBelief(x, y, 'c20bbe30');
    return [
      compareFloat(fx, 'output/belief_matrix', head.beliefMatrix),
      compareInt(fx, 'output/sorted_ind', head.sortedInd),
      compareFloat(fx, 'output/sorted_belief', head.sortedBelief),
      compareFloat(fx, 'output/index_weights', head.indexWeights),
      compareFloat(fx, 'output/head/tokens', head.tokens),
      compareFloat(fx, 'output/head/seq', head.seq),
      compareFloat(fx, 'output/c20bbe30/tokens', old.tokens),
      compareFloat(fx, 'output/c20bbe30/seq', old.seq),
    ];
  });
  return result(fx, { B, T, W }, outputs);
}

/** All four PAE cases by name (for the parity CLI). */
export const PAE_PARITY_CASES: Record<string, (dir: string) => CaseRows> = {
  pir_blocks: runPirBlocksCase,
  spatial_pae: runSpatialPaeCase,
  temporal_pae: runTemporalPaeCase,
  soft_belief: runSoftBeliefCase,
};
