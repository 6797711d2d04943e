/**
 * safetensors: read and write the format used by Hugging Face and by the golden parity fixtures.
 *
 * Layout: an 8-byte little-endian header length N, N bytes of JSON header (padded with spaces to a
 * multiple of 8), then the raw little-endian tensor data. The header maps each tensor name to
 * `{dtype, shape, data_offsets: [begin, end]}` (offsets relative to the start of the data section)
 * and may carry `__metadata__`, a string→string map.
 *
 * Reading copies each tensor into its own aligned typed array (the data section has no alignment
 * guarantee), so the returned arrays never alias the input bytes.
 */
import * as fs from 'fs';
import { atomicWriteFile } from '../utils/fs';

/** Every dtype the safetensors spec defines. */
export type SafeDtype =
  | 'F64'
  | 'F32'
  | 'F16'
  | 'BF16'
  | 'I64'
  | 'I32'
  | 'I16'
  | 'I8'
  | 'U64'
  | 'U32'
  | 'U16'
  | 'U8'
  | 'BOOL';

/** The typed array a dtype is stored in (F16/BF16 keep their raw 16-bit words in a Uint16Array). */
export type SafeData =
  | Float64Array
  | Float32Array
  | Uint16Array
  | BigInt64Array
  | BigUint64Array
  | Int32Array
  | Uint32Array
  | Int16Array
  | Int8Array
  | Uint8Array;

/** One tensor of a safetensors file. */
export interface SafeTensor {
  dtype: SafeDtype;
  /** Row-major shape; `[]` is a scalar. */
  shape: number[];
  /** Elements in row-major order. */
  data: SafeData;
}

/** Bytes per element of each dtype. */
export const DTYPE_BYTES: Record<SafeDtype, number> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U64: 8,
  U32: 4,
  U16: 2,
  U8: 1,
  BOOL: 1,
};

/** Length of the little-endian u64 header-size prefix. */
const HEADER_PREFIX_BYTES = 8;
/** Header is padded to a multiple of this. */
const HEADER_ALIGN = 8;
/** Refuse absurd header sizes (the reference implementation uses 100 MB). */
const MAX_HEADER_BYTES = 100_000_000;
/** Key of the free-form metadata map in the header. */
const METADATA_KEY = '__metadata__';

/** Number of elements of a shape (1 for a scalar). */
export function numElements(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function isSafeDtype(s: unknown): s is SafeDtype {
  return typeof s === 'string' && Object.prototype.hasOwnProperty.call(DTYPE_BYTES, s);
}

/** Make a typed array of `dtype` with `n` elements. */
function allocate(dtype: SafeDtype, n: number): SafeData {
  switch (dtype) {
    case 'F64':
      return new Float64Array(n);
    case 'F32':
      return new Float32Array(n);
    case 'F16':
    case 'BF16':
    case 'U16':
      return new Uint16Array(n);
    case 'I64':
      return new BigInt64Array(n);
    case 'U64':
      return new BigUint64Array(n);
    case 'I32':
      return new Int32Array(n);
    case 'U32':
      return new Uint32Array(n);
    case 'I16':
      return new Int16Array(n);
    case 'I8':
      return new Int8Array(n);
    case 'U8':
    case 'BOOL':
      return new Uint8Array(n);
  }
}

/** Copy little-endian raw bytes into a fresh typed array of `dtype` (the host is little-endian). */
export function typedFromBytes(dtype: SafeDtype, bytes: Uint8Array, n: number): SafeData {
  const out = allocate(dtype, n);
  new Uint8Array(out.buffer, out.byteOffset, out.byteLength).set(bytes.subarray(0, n * DTYPE_BYTES[dtype]));
  return out;
}

interface HeaderEntry {
  dtype: SafeDtype;
  shape: number[];
  data_offsets: [number, number];
}

interface ParsedHeader {
  entries: Map<string, HeaderEntry>;
  metadata: Record<string, string>;
  dataStart: number;
}

/**
 * Parses and validates the header as the reference implementation (`safetensors` crate, `validate`)
 * does: the JSON starts with '{'; each tensor's byte span matches its dtype × shape; sorted by offset
 * the spans start at 0 and are contiguous (no gap, no overlap); the last one ends exactly at the end
 * of the data section (no trailing bytes). `dataLength` is the data section's size (from the bytes,
 * or from the file size when only the header was read).
 */
function parseHeader(bytes: Uint8Array, source: string, dataLength?: number): ParsedHeader {
  if (bytes.length < HEADER_PREFIX_BYTES) {
    throw new Error(`${source}: truncated safetensors file (${bytes.length} bytes, need at least 8 for the header length)`);
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n64 = dv.getBigUint64(0, true);
  if (n64 > BigInt(MAX_HEADER_BYTES)) {
    throw new Error(`${source}: safetensors header length ${n64} is implausible (limit ${MAX_HEADER_BYTES}); not a safetensors file?`);
  }
  const n = Number(n64);
  const dataStart = HEADER_PREFIX_BYTES + n;
  if (dataStart > bytes.length) {
    throw new Error(`${source}: truncated safetensors header: header says ${n} bytes but the file has only ${bytes.length - HEADER_PREFIX_BYTES} after the length prefix`);
  }
  if (n === 0 || bytes[HEADER_PREFIX_BYTES] !== 0x7b) {
    throw new Error(`${source}: safetensors header of ${n} bytes does not start with '{'; not a safetensors file?`);
  }
  const text = Buffer.from(bytes.buffer, bytes.byteOffset + HEADER_PREFIX_BYTES, n).toString('utf8');
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new Error(`${source}: safetensors header is not valid JSON: ${(e as Error).message}`);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new Error(`${source}: safetensors header must be a JSON object`);
  }
  const dataLen = dataLength ?? bytes.length - dataStart;
  const entries = new Map<string, HeaderEntry>();
  let metadata: Record<string, string> = {};
  for (const [name, v] of Object.entries(raw as Record<string, unknown>)) {
    if (name === METADATA_KEY) {
      if (v === null || typeof v !== 'object' || Array.isArray(v)) {
        throw new Error(`${source}: '${METADATA_KEY}' must be an object of strings`);
      }
      const m: Record<string, string> = {};
      for (const [mk, mv] of Object.entries(v as Record<string, unknown>)) {
        if (typeof mv !== 'string') throw new Error(`${source}: ${METADATA_KEY}.${mk} must be a string, got ${typeof mv}`);
        m[mk] = mv;
      }
      metadata = m;
      continue;
    }
    if (v === null || typeof v !== 'object') throw new Error(`${source}: tensor '${name}': header entry must be an object`);
    const e = v as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (!Object.prototype.hasOwnProperty.call(e, 'dtype') || !isSafeDtype(e.dtype)) {
      throw new Error(`${source}: tensor '${name}': unknown dtype ${JSON.stringify(e.dtype)} (expected one of ${Object.keys(DTYPE_BYTES).join(', ')})`);
    }
    if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isInteger(d) && d >= 0)) {
      throw new Error(`${source}: tensor '${name}': shape must be an array of non-negative integers, got ${JSON.stringify(e.shape)}`);
    }
    const offs = e.data_offsets;
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => Number.isInteger(o) && o >= 0) || offs[1] < offs[0]) {
      throw new Error(`${source}: tensor '${name}': data_offsets must be [begin, end] with 0 ≤ begin ≤ end, got ${JSON.stringify(offs)}`);
    }
    const shape = e.shape as number[];
    const [begin, end] = offs as [number, number];
    const expected = numElements(shape) * DTYPE_BYTES[e.dtype];
    if (end - begin !== expected) {
      throw new Error(`${source}: tensor '${name}': ${e.dtype}${JSON.stringify(shape)} needs ${expected} bytes but data_offsets [${begin}, ${end}] span ${end - begin}`);
    }
    if (end > dataLen) {
      throw new Error(`${source}: tensor '${name}': data_offsets [${begin}, ${end}] out of range: the data section has ${dataLen} bytes (file truncated?)`);
    }
    entries.set(name, { dtype: e.dtype, shape: [...shape], data_offsets: [begin, end] });
  }
  // Contiguous, non-overlapping spans covering the data section exactly.
  const spans = [...entries].sort((a, b) => a[1].data_offsets[0] - b[1].data_offsets[0] || a[1].data_offsets[1] - b[1].data_offsets[1]);
  let at = 0;
  let prev = '';
  for (const [name, e] of spans) {
    const [begin, end] = e.data_offsets;
    if (begin < at) throw new Error(`${source}: tensor '${name}' data_offsets [${begin}, ${end}] overlap tensor '${prev}' (which ends at ${at}): invalid safetensors file`);
    if (begin > at) throw new Error(`${source}: ${begin - at} bytes at data offset ${at} belong to no tensor (before '${name}'): invalid safetensors file`);
    at = end;
    prev = name;
  }
  if (at !== dataLen) {
    throw new Error(`${source}: the tensors cover ${at} bytes of the ${dataLen}-byte data section: ${dataLen - at} trailing bytes (invalid safetensors file)`);
  }
  return { entries, metadata, dataStart };
}

/**
 * Parse safetensors bytes. `source` (a file name) is used in error messages.
 * Tensors come back in the file's header order (which is sorted-name order for files we write).
 */
export function readSafetensors(bytes: Uint8Array, source = '<safetensors bytes>'): Map<string, SafeTensor> {
  const { entries, dataStart } = parseHeader(bytes, source);
  const out = new Map<string, SafeTensor>();
  for (const [name, e] of entries) {
    const [begin, end] = e.data_offsets;
    const n = numElements(e.shape);
    const data = typedFromBytes(e.dtype, bytes.subarray(dataStart + begin, dataStart + end), n);
    out.set(name, { dtype: e.dtype, shape: e.shape, data });
  }
  return out;
}

/** The `__metadata__` string map of safetensors bytes (empty object when absent). */
export function readSafetensorsMetadata(bytes: Uint8Array, source = '<safetensors bytes>'): Record<string, string> {
  return parseHeader(bytes, source).metadata;
}

/** Header-only view: name → {dtype, shape}, without copying any tensor data. */
export function readSafetensorsIndex(
  bytes: Uint8Array,
  source = '<safetensors bytes>',
): Map<string, { dtype: SafeDtype; shape: number[] }> {
  const { entries } = parseHeader(bytes, source);
  const out = new Map<string, { dtype: SafeDtype; shape: number[] }>();
  for (const [k, e] of entries) out.set(k, { dtype: e.dtype, shape: e.shape });
  return out;
}

function readFileBytes(file: string): Uint8Array {
  try {
    const buf = fs.readFileSync(file);
    return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  } catch (e) {
    throw new Error(`cannot read ${file}: ${(e as Error).message}`);
  }
}

/** Read a safetensors file; errors name the file. */
export function readSafetensorsFile(file: string): Map<string, SafeTensor> {
  return readSafetensors(readFileBytes(file), file);
}

/** Read a safetensors file together with its metadata. */
export function readSafetensorsFileWithMetadata(file: string): {
  tensors: Map<string, SafeTensor>;
  metadata: Record<string, string>;
} {
  const bytes = readFileBytes(file);
  return { tensors: readSafetensors(bytes, file), metadata: readSafetensorsMetadata(bytes, file) };
}

/** Read only the header bytes (length prefix + JSON) of a safetensors file, not the tensor data. */
function readHeaderBytes(file: string): { bytes: Uint8Array; dataLength: number } {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (e) {
    throw new Error(`cannot read ${file}: ${(e as Error).message}`);
  }
  try {
    const prefix = Buffer.alloc(HEADER_PREFIX_BYTES);
    const got = fs.readSync(fd, prefix, 0, HEADER_PREFIX_BYTES, 0);
    if (got < HEADER_PREFIX_BYTES) throw new Error(`${file}: truncated safetensors file (${got} bytes, need at least 8 for the header length)`);
    const n64 = prefix.readBigUInt64LE(0);
    if (n64 > BigInt(MAX_HEADER_BYTES)) throw new Error(`${file}: safetensors header length ${n64} is implausible (limit ${MAX_HEADER_BYTES}); not a safetensors file?`);
    const n = Number(n64);
    const size = fs.fstatSync(fd).size;
    if (HEADER_PREFIX_BYTES + n > size) throw new Error(`${file}: truncated safetensors header: header says ${n} bytes but the file has only ${size - HEADER_PREFIX_BYTES} after the length prefix`);
    const out = Buffer.alloc(HEADER_PREFIX_BYTES + n);
    prefix.copy(out, 0);
    const read = fs.readSync(fd, out, HEADER_PREFIX_BYTES, n, HEADER_PREFIX_BYTES);
    if (read < n) throw new Error(`${file}: truncated safetensors header: header says ${n} bytes but the file has only ${read} after the length prefix`);
    return { bytes: new Uint8Array(out.buffer, out.byteOffset, out.byteLength), dataLength: size - HEADER_PREFIX_BYTES - n };
  } finally {
    fs.closeSync(fd);
  }
}

/** Read only the metadata of a safetensors file (reads the header, not the tensor data). */
export function readSafetensorsFileMetadata(file: string): Record<string, string> {
  const { bytes, dataLength } = readHeaderBytes(file);
  return parseHeader(bytes, file, dataLength).metadata;
}

/** Header-only view of a safetensors file: name → {dtype, shape} (reads the header, not the tensor data). */
export function readSafetensorsFileIndex(file: string): Map<string, { dtype: SafeDtype; shape: number[] }> {
  const { bytes, dataLength } = readHeaderBytes(file);
  const { entries } = parseHeader(bytes, file, dataLength);
  const out = new Map<string, { dtype: SafeDtype; shape: number[] }>();
  for (const [k, e] of entries) out.set(k, { dtype: e.dtype, shape: e.shape });
  return out;
}

/** Decode one IEEE half-precision word. */
export function f16ToF32(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 0x1f) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

/** Any tensor → Float32Array (F16/BF16 decoded, integers converted). Shares memory when already F32. */
export function toFloat32(t: SafeTensor): Float32Array {
  const d = t.data;
  if (d instanceof Float32Array) return d;
  const n = d.length;
  const out = new Float32Array(n);
  if (t.dtype === 'F16' && d instanceof Uint16Array) {
    for (let i = 0; i < n; i++) out[i] = f16ToF32(d[i]);
  } else if (t.dtype === 'BF16' && d instanceof Uint16Array) {
    const u32 = new Uint32Array(out.buffer);
    for (let i = 0; i < n; i++) u32[i] = d[i] << 16;
  } else if (d instanceof BigInt64Array || d instanceof BigUint64Array) {
    for (let i = 0; i < n; i++) out[i] = Number(d[i]);
  } else {
    for (let i = 0; i < n; i++) out[i] = d[i] as number;
  }
  return out;
}

/**
 * Integer tensor → plain numbers (I64 via BigInt64Array). Throws if a value is not an integer
 * or not exactly representable (|v| > 2^53).
 */
export function toInt32Numbers(t: SafeTensor, name = 'tensor'): number[] {
  const d = t.data;
  const out = new Array<number>(d.length);
  if (d instanceof BigInt64Array || d instanceof BigUint64Array) {
    for (let i = 0; i < d.length; i++) {
      const v = d[i];
      if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(-Number.MAX_SAFE_INTEGER)) {
        throw new Error(`${name}: element ${i} = ${v} is too large for a JS number`);
      }
      out[i] = Number(v);
    }
    return out;
  }
  for (let i = 0; i < d.length; i++) {
    const v = t.dtype === 'F16' || t.dtype === 'BF16' ? NaN : (d[i] as number);
    if (!Number.isInteger(v)) throw new Error(`${name}: element ${i} (${t.dtype}) is not an integer`);
    out[i] = v;
  }
  return out;
}

/** Integer tensor → Int32Array (for tf.tensor(..., 'int32')); throws outside the int32 range. */
export function toInt32Array(t: SafeTensor, name = 'tensor'): Int32Array {
  if (t.data instanceof Int32Array) return t.data;
  const nums = toInt32Numbers(t, name);
  const out = new Int32Array(nums.length);
  for (let i = 0; i < nums.length; i++) {
    if (nums[i] > 2147483647 || nums[i] < -2147483648) throw new Error(`${name}: element ${i} = ${nums[i]} overflows int32`);
    out[i] = nums[i];
  }
  return out;
}

/** Convenience constructors. */
export function f32Tensor(shape: number[], data: Float32Array | number[]): SafeTensor {
  const d = data instanceof Float32Array ? data : Float32Array.from(data);
  if (d.length !== numElements(shape)) throw new Error(`f32Tensor: ${d.length} values for shape [${shape}]`);
  return { dtype: 'F32', shape: [...shape], data: d };
}
export function i64Tensor(shape: number[], data: readonly number[] | BigInt64Array): SafeTensor {
  const d = data instanceof BigInt64Array ? data : BigInt64Array.from(data, (v) => BigInt(v));
  if (d.length !== numElements(shape)) throw new Error(`i64Tensor: ${d.length} values for shape [${shape}]`);
  return { dtype: 'I64', shape: [...shape], data: d };
}

/**
 * Serialise tensors (written in sorted-name order, header padded with spaces to a multiple of 8).
 * `metadata` values must be strings (the format allows nothing else).
 */
export function writeSafetensors(
  tensors: Map<string, SafeTensor> | Record<string, SafeTensor>,
  metadata?: Record<string, string>,
): Uint8Array {
  const map = tensors instanceof Map ? tensors : new Map(Object.entries(tensors));
  const names = [...map.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new Error(`writeSafetensors: metadata '${k}' must be a string`);
    }
    header[METADATA_KEY] = metadata;
  }
  let offset = 0;
  for (const name of names) {
    if (name === METADATA_KEY) throw new Error(`writeSafetensors: '${METADATA_KEY}' is reserved and cannot name a tensor`);
    const t = map.get(name) as SafeTensor;
    if (!isSafeDtype(t.dtype)) throw new Error(`writeSafetensors: tensor '${name}': unknown dtype ${String(t.dtype)}`);
    const n = numElements(t.shape);
    if (t.data.length !== n) {
      throw new Error(`writeSafetensors: tensor '${name}' has ${t.data.length} elements but shape [${t.shape}] needs ${n}`);
    }
    const bytes = n * DTYPE_BYTES[t.dtype];
    if (t.data.byteLength !== bytes) {
      throw new Error(`writeSafetensors: tensor '${name}': ${t.dtype} data is stored in a ${t.data.constructor.name} (${t.data.byteLength} bytes, need ${bytes})`);
    }
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  const pad = (HEADER_ALIGN - (json.length % HEADER_ALIGN)) % HEADER_ALIGN;
  if (pad > 0) json = Buffer.concat([json, Buffer.alloc(pad, 0x20)]);
  const out = new Uint8Array(HEADER_PREFIX_BYTES + json.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, HEADER_PREFIX_BYTES);
  let pos = HEADER_PREFIX_BYTES + json.length;
  for (const name of names) {
    const t = map.get(name) as SafeTensor;
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), pos);
    pos += t.data.byteLength;
  }
  return out;
}

/** Write a safetensors file atomically. */
export function writeSafetensorsFile(
  file: string,
  tensors: Map<string, SafeTensor> | Record<string, SafeTensor>,
  metadata?: Record<string, string>,
): void {
  atomicWriteFile(file, writeSafetensors(tensors, metadata));
}
