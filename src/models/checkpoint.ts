/**
 * Checkpoint I/O for kit models.
 *
 * - A kit checkpoint IS a PyTorch `state_dict` in safetensors form: tensors under their exact
 *   state_dict keys, in torch layout (Linear `[out, in]`, conv OIHW) and dtype (F32; `I64` for
 *   `num_batches_tracked`), plus `__metadata__` with `format: "pt"` (what `safetensors.torch`
 *   writes), the kit model config (`kit_config`, JSON) and free-form provenance. So
 *   `safetensors.torch.load_file(path)` + `model.load_state_dict(...)` works in PyTorch, and the kit
 *   reads real open_clip state_dicts the same way.
 * - Import: safetensors files, and torch ≥ 1.6 `.pt`/`.pth` zip checkpoints (bare state_dicts or
 *   open_clip training checkpoints `{"epoch", "name", "state_dict": {"module.<key>": …}}`) through
 *   the restricted unpickler of `src/io/torch_pickle.ts` (nothing in the file is executed).
 * - Name mapping is the ParamStore itself: one error lists every missing, unexpected and wrongly
 *   shaped key.
 * - Files are written atomically.
 */
import * as fs from 'fs';
import * as tf from '@tensorflow/tfjs';
import { ParamStore, torchShape, toTorchLayout, fromTorchLayout } from './params';
import {
  SafeTensor,
  readSafetensors,
  readSafetensorsMetadata,
  readSafetensorsFileMetadata,
  writeSafetensors,
  toFloat32,
  numElements,
} from '../io/safetensors';
import { isZip } from '../io/zip';
import { detectCheckpointKind, unreadableCheckpointMessage } from '../io/checkpoint_kind';
import { readTorchZip, torchStateDict, writeTorchStateDict } from '../io/torch_pickle';
import { atomicWriteFile } from '../utils/fs';
import { SeedStream } from '../utils/random';
import { RetrievalModel } from './model';
import { createModel, resolveModelConfig } from './factory';

/** Metadata key holding the kit model config (JSON). */
export const META_CONFIG = 'kit_config';
/** Metadata key holding the kit's checkpoint format version. */
export const META_VERSION = 'kit_checkpoint_version';
/** Current kit checkpoint format version. */
export const CHECKPOINT_VERSION = '1';

/** A state_dict read from any supported file. */
export interface LoadedStateDict {
  /** Tensors by state_dict key (torch layout), in file order. */
  tensors: Map<string, SafeTensor>;
  /** safetensors `__metadata__` (empty for `.pt`). */
  metadata: Record<string, string>;
  /** Non-tensor top-level fields of a training checkpoint (`epoch`, `name`, …). */
  info: Record<string, string | number | boolean | null>;
  /** 'safetensors' or 'torch-zip'. */
  format: 'safetensors' | 'torch-zip';
}

/** Options of `readStateDict`. */
export interface ReadStateDictOptions {
  /** Strip this prefix from every key that has it (e.g. `param/` of the golden fixtures). Keys without it are dropped. */
  prefix?: string;
}

/**
 * Read a state_dict from bytes. The kind is detected from the content: safetensors and torch ≥ 1.6
 * zips are read; TorchScript, legacy pickle/tar checkpoints, empty and unknown files are refused,
 * each with its own message.
 */
export function readStateDictBytes(bytes: Uint8Array, source: string, opts: ReadStateDictOptions = {}): LoadedStateDict {
  let loaded: LoadedStateDict;
  const kind = detectCheckpointKind(bytes);
  const refusal = unreadableCheckpointMessage(kind, bytes, source);
  if (refusal !== null) throw new Error(refusal);
  if (kind === 'torch-zip') {
    const { tensors, info } = torchStateDict(readTorchZip(bytes, source), source);
    loaded = { tensors, metadata: {}, info, format: 'torch-zip' };
  } else {
    let tensors = readSafetensors(bytes, source);
    const keys = [...tensors.keys()];
    if (keys.length > 0 && keys.every((k) => k.startsWith('module.'))) {
      tensors = new Map([...tensors].map(([k, v]) => [k.slice('module.'.length), v]));
    }
    loaded = { tensors, metadata: readSafetensorsMetadata(bytes, source), info: {}, format: 'safetensors' };
  }
  if (opts.prefix) {
    const p = opts.prefix;
    loaded.tensors = new Map([...loaded.tensors].filter(([k]) => k.startsWith(p)).map(([k, v]) => [k.slice(p.length), v]));
  }
  return loaded;
}

/** Read a state_dict from a `.safetensors`, `.pt` or `.pth` file. */
export function readStateDict(file: string, opts: ReadStateDictOptions = {}): LoadedStateDict {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch (e) {
    throw new Error(`cannot read checkpoint ${file}: ${(e as Error).message}`);
  }
  return readStateDictBytes(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength), file, opts);
}

/** What a load did. */
export interface LoadReport {
  loaded: string[];
  /** Keys the model has but the file lacks (only non-empty when `strict` is false). */
  missing: string[];
  /** Keys the file has but the model lacks (only non-empty when `strict` is false). */
  unexpected: string[];
}

/** Options of `loadStateDict`. */
export interface LoadStateDictOptions {
  /** File name for errors. */
  source?: string;
  /** Require exactly the model's keys (default true, like PyTorch). Shape errors always throw. */
  strict?: boolean;
  /** Keys of the file to ignore (e.g. open_clip's non-persistent `attn_mask` in old checkpoints). */
  ignore?: (key: string) => boolean;
}

/** File dtypes read into float parameters (converted to float32). */
const FLOAT_DTYPES: readonly string[] = ['F32', 'F16', 'BF16', 'F64'];

/** Buffers PyTorch never persists but some old checkpoints contain. */
export const DEFAULT_IGNORED = (k: string): boolean => k === 'attn_mask' || k.endsWith('.attn_mask');

/**
 * Assign a torch-layout state_dict to a ParamStore. Validates everything first; on any missing (when
 * strict), unexpected (when strict) or wrongly shaped key throws ONE error listing all of them, and
 * assigns nothing.
 */
export function loadStateDict(store: ParamStore, tensors: Map<string, SafeTensor>, opts: LoadStateDictOptions = {}): LoadReport {
  const source = opts.source ?? 'state_dict';
  const strict = opts.strict ?? true;
  const ignore = opts.ignore ?? DEFAULT_IGNORED;
  const entries = store.list();
  const byKey = new Map(entries.map((e) => [e.key, e]));
  const missing = entries.filter((e) => !tensors.has(e.key)).map((e) => e.key);
  const unexpected = [...tensors.keys()].filter((k) => !byKey.has(k) && !ignore(k));
  const wrong: string[] = [];
  for (const [k, t] of tensors) {
    const e = byKey.get(k);
    if (!e) continue;
    const want = torchShape(e.variable.shape, e.layout);
    if (want.length !== t.shape.length || want.some((d, i) => d !== t.shape[i])) {
      wrong.push(`${k}: file [${t.shape}] vs model [${want}]`);
    } else if (e.torchDtype === 'F32' && !FLOAT_DTYPES.includes(t.dtype)) {
      wrong.push(`${k}: file dtype ${t.dtype} for a float parameter (only ${FLOAT_DTYPES.join('/')} are read; quantized or integer weights are not)`);
    } else if (e.torchDtype === 'I64' && FLOAT_DTYPES.includes(t.dtype)) {
      wrong.push(`${k}: file dtype ${t.dtype} for an integer buffer`);
    }
  }
  const nonFinite: string[] = [];
  for (const [k, t] of tensors) {
    if (!byKey.has(k) || !FLOAT_DTYPES.includes(t.dtype)) continue;
    const d = toFloat32(t);
    let bad = 0;
    for (let i = 0; i < d.length; i++) if (!Number.isFinite(d[i])) bad++;
    if (bad > 0) nonFinite.push(`${k}: ${bad} of ${d.length}`);
  }
  if (nonFinite.length > 0) {
    throw new Error(`${source}: ${nonFinite.length} tensor(s) hold NaN or infinite weights (a diverged or corrupt checkpoint): ${nonFinite.slice(0, 10).join(', ')}${nonFinite.length > 10 ? ', …' : ''}`);
  }
  if (wrong.length > 0 || (strict && (missing.length > 0 || unexpected.length > 0))) {
    const list = (title: string, xs: string[]): string =>
      xs.length === 0 ? '' : `\n  ${title} (${xs.length}): ${xs.slice(0, 40).join(', ')}${xs.length > 40 ? `, … (+${xs.length - 40})` : ''}`;
    throw new Error(
      `${source}: state_dict does not match the model (${entries.length} model keys, ${tensors.size} file keys):` +
        (strict ? list('missing', missing) + list('unexpected', unexpected) : '') +
        list('wrong shape', wrong),
    );
  }
  const loaded: string[] = [];
  for (const e of entries) {
    const t = tensors.get(e.key);
    if (!t) continue;
    tf.tidy(() => {
      const v = tf.tensor(toFloat32(t), t.shape, 'float32'); // torch layout
      e.variable.assign(fromTorchLayout(v, e.layout));
    });
    loaded.push(e.key);
  }
  return { loaded, missing, unexpected };
}

/** The model's weights as a torch-layout state_dict (F32; I64 where torch stores int64), in store order. */
export function stateDictFromStore(store: ParamStore): Map<string, SafeTensor> {
  const out = new Map<string, SafeTensor>();
  for (const e of store.list()) {
    const shape = torchShape(e.variable.shape, e.layout);
    // Never return a typed array from tf.tidy: tidy walks its result element by element (slow, and
    // a RangeError beyond 2^24 elements).
    const t = toTorchLayout(e.variable, e.layout);
    let data: Float32Array;
    try {
      data = t.dataSync() as Float32Array;
    } finally {
      t.dispose();
    }
    if (data.length !== numElements(shape)) throw new Error(`stateDictFromStore: '${e.key}' has ${data.length} values for [${shape}]`);
    if (e.torchDtype === 'I64') {
      out.set(e.key, { dtype: 'I64', shape, data: BigInt64Array.from(data, (x) => BigInt(Math.round(x))) });
    } else {
      out.set(e.key, { dtype: 'F32', shape, data: data.slice() }); // own copy (the cpu backend's dataSync may share the backing array)
    }
  }
  return out;
}

/** Anything with a config and a ParamStore (every kit model). */
export interface CheckpointableModel {
  readonly config: unknown;
  readonly params: ParamStore;
}

/** Serialise a model as a state_dict-named safetensors file (bytes). */
export function modelFileBytes(model: CheckpointableModel, extraMetadata: Record<string, string> = {}): Uint8Array {
  const metadata: Record<string, string> = {
    format: 'pt',
    [META_VERSION]: CHECKPOINT_VERSION,
    [META_CONFIG]: JSON.stringify(model.config),
    ...extraMetadata,
  };
  return writeSafetensors(stateDictFromStore(model.params), metadata);
}

/** Save a model checkpoint atomically (safetensors, torch layout, config in the metadata). */
export function saveModelFile(file: string, model: CheckpointableModel, extraMetadata: Record<string, string> = {}): void {
  atomicWriteFile(file, modelFileBytes(model, extraMetadata));
}

/**
 * Export the weights as a PyTorch state_dict: `.pt` / `.pth` → a torch zip checkpoint
 * (`torch.load(path)` gives an OrderedDict), anything else → safetensors (same as saveModelFile).
 */
export function exportStateDict(file: string, model: CheckpointableModel): void {
  if (/\.(pt|pth)$/i.test(file)) {
    const archive = (file.split(/[\\/]/).pop() ?? 'archive').replace(/\.(pt|pth)$/i, '').replace(/[^A-Za-z0-9_.-]/g, '_') || 'archive';
    atomicWriteFile(file, writeTorchStateDict(stateDictFromStore(model.params), archive));
  } else {
    saveModelFile(file, model);
  }
}

/**
 * Load any supported checkpoint file into a model (strict by default). Returns what was loaded and
 * the file's metadata / training info.
 */
export function loadModelFileInto(
  model: CheckpointableModel,
  file: string,
  opts: Omit<LoadStateDictOptions, 'source'> & ReadStateDictOptions = {},
): LoadReport & { metadata: Record<string, string>; info: LoadedStateDict['info']; format: LoadedStateDict['format'] } {
  const sd = readStateDict(file, { prefix: opts.prefix });
  const report = loadStateDict(model.params, sd.tensors, { ...opts, source: file });
  return { ...report, metadata: sd.metadata, info: sd.info, format: sd.format };
}

/** Bytes read to tell a checkpoint's kind before reading its metadata (covers the tar magic at 257). */
const CONFIG_SNIFF_BYTES = 512;

/** The model config stored in a kit checkpoint's metadata (null for foreign files). */
export function modelFileConfig(file: string): unknown {
  if (!fs.existsSync(file)) throw new Error(`cannot read checkpoint ${file}: no such file`);
  if (fs.statSync(file).isDirectory()) throw new Error(`cannot read checkpoint ${file}: it is a folder, not a file`);
  const head = Buffer.alloc(CONFIG_SNIFF_BYTES);
  const fd = fs.openSync(file, 'r');
  let got: number;
  try {
    got = fs.readSync(fd, head, 0, CONFIG_SNIFF_BYTES, 0);
  } finally {
    fs.closeSync(fd);
  }
  if (isZip(head)) return null; // torch checkpoints carry no kit config
  const sniff = head.subarray(0, got);
  const kind = detectCheckpointKind(sniff);
  if (kind !== 'safetensors') throw new Error(unreadableCheckpointMessage(kind, sniff, file) ?? `${file}: unreadable checkpoint`);
  const raw = readSafetensorsFileMetadata(file)[META_CONFIG];
  if (raw === undefined) return null;
  try {
    return JSON.parse(raw);
  } catch (e) {
    throw new Error(`${file}: metadata '${META_CONFIG}' is not valid JSON: ${(e as Error).message}`);
  }
}

/**
 * Build a kit model from a kit checkpoint (config read from its metadata) — or from any state_dict
 * file when `config` is given (e.g. an open_clip `.pt` with a PIR.json-style config) — and load the
 * weights strictly. `seeds` only fills the initial values that the load then overwrites.
 */
export function loadModelFile(file: string, opts: { config?: unknown; seeds?: SeedStream; ignore?: (key: string) => boolean } = {}): RetrievalModel {
  const raw = opts.config ?? modelFileConfig(file);
  if (raw === null || raw === undefined) {
    throw new Error(`${file}: no '${META_CONFIG}' metadata (not a kit checkpoint); pass the model config explicitly`);
  }
  const model = createModel(resolveModelConfig(raw, `${file} (${META_CONFIG})`), opts.seeds ?? new SeedStream(0).child('checkpoint'));
  try {
    loadModelFileInto(model, file, opts.ignore ? { ignore: opts.ignore } : {});
  } catch (e) {
    model.dispose();
    throw e;
  }
  return model;
}
