/**
 * A RESTRICTED unpickler for PyTorch checkpoints (`torch.save`, zip format of torch ≥ 1.6), and the
 * loader that turns `<name>/data.pkl` + `<name>/data/<key>` into plain tensors.
 *
 * Security: pickle is a program. This VM implements the data opcodes of protocols 2–5 and resolves
 * a GLOBAL only if it is on an allowlist:
 *   - `collections.OrderedDict` (a dict),
 *   - `torch._utils._rebuild_tensor_v2`, `torch._utils._rebuild_parameter` (tensor records),
 *   - `torch.<X>Storage` (only as the storage type inside a persistent id),
 * and nothing else.
 * Any other global (`os.system`, `builtins.eval`, `posix.system`, `subprocess.Popen`, …) is refused
 * the moment it is named, with an error naming it. Nothing is ever imported, called or executed:
 * REDUCE on an allowed global builds a JS record, and NEWOBJ / INST / OBJ / EXT* are refused.
 */
import * as fs from 'fs';
import { ZipArchive, isZip, writeZip } from './zip';
import { SafeDtype, SafeTensor, DTYPE_BYTES, typedFromBytes, numElements } from './safetensors';

/** A Python global reference (module + name), only ever created for allowlisted names. */
export class PyGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
  ) {}
  toString(): string {
    return `${this.module}.${this.name}`;
  }
}

/** A Python dict / OrderedDict (insertion-ordered; keys are strings or numbers). */
export class PyDict {
  readonly map = new Map<PyKey, PyValue>();
  /** Attributes set by BUILD (e.g. a state_dict's `_metadata`); kept, never interpreted. */
  attrs: PyValue = null;
  constructor(readonly ordered = false) {}
  get(k: PyKey): PyValue | undefined {
    return this.map.get(k);
  }
}

/** A Python tuple. */
export class PyTuple {
  constructor(readonly items: PyValue[]) {}
}

/** A storage named by a persistent id: `('storage', torch.XStorage, key, location, numel)`. */
export class TorchStorageRef {
  constructor(
    readonly dtype: SafeDtype,
    readonly key: string,
    readonly location: string,
    readonly numel: number,
  ) {}
}

/** A tensor record from `_rebuild_tensor_v2(storage, offset, size, stride, ...)`. */
export class TorchTensorRef {
  constructor(
    readonly storage: TorchStorageRef,
    readonly storageOffset: number,
    readonly shape: number[],
    readonly stride: number[],
    readonly requiresGrad: boolean,
  ) {}
}

export type PyKey = string | number | bigint | boolean | null;
export type PyValue =
  | PyKey
  | Uint8Array
  | PyValue[]
  | PyTuple
  | PyDict
  | PyGlobal
  | TorchStorageRef
  | TorchTensorRef;

/** torch legacy storage class → dtype. */
const STORAGE_DTYPES: Record<string, SafeDtype> = {
  FloatStorage: 'F32',
  DoubleStorage: 'F64',
  HalfStorage: 'F16',
  BFloat16Storage: 'BF16',
  LongStorage: 'I64',
  IntStorage: 'I32',
  ShortStorage: 'I16',
  CharStorage: 'I8',
  ByteStorage: 'U8',
  BoolStorage: 'BOOL',
};

const ALLOWED_GLOBALS = new Set([
  'collections.OrderedDict',
  'torch._utils._rebuild_tensor_v2',
  'torch._utils._rebuild_parameter',
  ...Object.keys(STORAGE_DTYPES).map((s) => `torch.${s}`),
]);

/** Thrown when the pickle names a global outside the allowlist. */
export class UnsafePickleError extends Error {
  constructor(
    message: string,
    readonly globalName: string,
  ) {
    super(message);
    this.name = 'UnsafePickleError';
  }
}


/** Options of `unpickle`. */
export interface UnpickleOptions {
  /** Name for error messages (file and entry). */
  source?: string;
}

/**
 * Run the restricted pickle VM over `bytes` and return the top-level object.
 * Throws `UnsafePickleError` on a non-allowlisted global, `Error` on anything malformed.
 */
export function unpickle(bytes: Uint8Array, opts: UnpickleOptions = {}): PyValue {
  const src = opts.source ?? '<pickle>';
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const stack: PyValue[] = [];
  const memo = new Map<number, PyValue>();
  const marks: number[] = [];
  let pos = 0;
  const fail = (msg: string): never => {
    throw new Error(`${src}: pickle offset ${pos}: ${msg}`);
  };
  const need = (n: number): void => {
    if (pos + n > bytes.length) fail(`truncated pickle (need ${n} more bytes)`);
  };
  const u8 = (): number => (need(1), bytes[pos++]);
  const u16 = (): number => {
    need(2);
    const v = dv.getUint16(pos, true);
    pos += 2;
    return v;
  };
  const u32 = (): number => {
    need(4);
    const v = dv.getUint32(pos, true);
    pos += 4;
    return v;
  };
  const i32 = (): number => {
    need(4);
    const v = dv.getInt32(pos, true);
    pos += 4;
    return v;
  };
  const u64 = (): number => {
    need(8);
    const v = dv.getBigUint64(pos, true);
    pos += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail(`length ${v} too large`);
    return Number(v);
  };
  const take = (n: number): Uint8Array => {
    need(n);
    const b = bytes.subarray(pos, pos + n);
    pos += n;
    return b;
  };
  const utf8 = (n: number): string => Buffer.from(take(n)).toString('utf8');
  const line = (): string => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0) fail('unterminated text line');
    const s = Buffer.from(bytes.subarray(pos, end)).toString('utf8');
    pos = end + 1;
    return s;
  };
  const pop = (): PyValue => {
    if (stack.length <= (marks.length > 0 ? marks[marks.length - 1] : 0)) fail('stack underflow (or pop across a MARK)');
    return stack.pop() as PyValue;
  };
  const top = (): PyValue => {
    if (stack.length === 0) fail('stack underflow');
    return stack[stack.length - 1];
  };
  const popMark = (): PyValue[] => {
    const m = marks.pop();
    if (m === undefined) fail('no MARK to pop to');
    return stack.splice(m as number);
  };
  const findClass = (module: string, name: string): PyGlobal => {
    const full = `${module}.${name}`;
    if (!ALLOWED_GLOBALS.has(full)) {
      throw new UnsafePickleError(
        `${src}: refusing to load global '${full}' (pickle offset ${pos}): only collections.OrderedDict, ` +
          `torch._utils._rebuild_tensor_v2/_rebuild_parameter and torch.*Storage are allowed in a checkpoint; ` +
          `this file may be malicious and nothing in it was executed`,
        full,
      );
    }
    return new PyGlobal(module, name);
  };
  const decodeLong = (b: Uint8Array): number | bigint => {
    if (b.length === 0) return 0;
    let v = 0n;
    for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
    if (b[b.length - 1] & 0x80) v -= 1n << BigInt(8 * b.length);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  };
  const setItem = (d: PyValue, k: PyValue, v: PyValue): void => {
    if (!(d instanceof PyDict)) fail('SETITEM(S) on a non-dict');
    if (!(k === null || ['string', 'number', 'bigint', 'boolean'].includes(typeof k))) fail(`unsupported dict key type`);
    (d as PyDict).map.set(k as PyKey, v);
  };
  const asInt = (v: PyValue, what: string): number => {
    if (typeof v === 'number' && Number.isInteger(v)) return v;
    return fail(`${what} must be an int`);
  };
  const intList = (v: PyValue, what: string): number[] => {
    const items = v instanceof PyTuple ? v.items : Array.isArray(v) ? v : fail(`${what} must be a tuple`);
    return (items as PyValue[]).map((x) => asInt(x, what));
  };
  const reduce = (fn: PyValue, args: PyValue): PyValue => {
    if (!(fn instanceof PyGlobal)) return fail('REDUCE on a non-callable');
    const a = args instanceof PyTuple ? args.items : fail('REDUCE arguments must be a tuple');
    const name = fn.toString();
    if (name === 'collections.OrderedDict') {
      const d = new PyDict(true);
      if (a.length > 0) {
        const init = a[0];
        const pairs = Array.isArray(init) ? init : init instanceof PyTuple ? init.items : fail('OrderedDict(...) argument must be a list of pairs');
        for (const p of pairs as PyValue[]) {
          const kv = p instanceof PyTuple ? p.items : Array.isArray(p) ? p : fail('OrderedDict pair');
          setItem(d, (kv as PyValue[])[0], (kv as PyValue[])[1]);
        }
      }
      return d;
    }
    if (name === 'torch._utils._rebuild_tensor_v2') {
      if (a.length < 4) fail('_rebuild_tensor_v2 needs (storage, offset, size, stride, ...)');
      const storage = a[0];
      if (!(storage instanceof TorchStorageRef)) return fail('_rebuild_tensor_v2: first argument is not a storage');
      const shape = intList(a[2], 'tensor size');
      const stride = intList(a[3], 'tensor stride');
      if (shape.length !== stride.length) fail(`tensor size [${shape}] and stride [${stride}] differ in rank`);
      return new TorchTensorRef(storage, asInt(a[1], 'storage offset'), shape, stride, a[4] === true);
    }
    if (name === 'torch._utils._rebuild_parameter') {
      if (!(a[0] instanceof TorchTensorRef)) return fail('_rebuild_parameter: first argument is not a tensor');
      return a[0];
    }
    return fail(`global '${name}' cannot be called (it is only allowed as a storage type)`);
  };

  for (;;) {
    const op = u8();
    switch (op) {
      case 0x80: // PROTO
        if (u8() > 5) fail('pickle protocol > 5');
        break;
      case 0x95: // FRAME
        u64();
        break;
      case 0x2e: {
        // STOP
        const v = pop();
        return v;
      }
      case 0x28: // MARK
        marks.push(stack.length);
        break;
      case 0x7d: // EMPTY_DICT
        stack.push(new PyDict());
        break;
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x29: // EMPTY_TUPLE
        stack.push(new PyTuple([]));
        break;
      case 0x8f: // EMPTY_SET (as a list)
        stack.push([]);
        break;
      case 0x90: {
        // ADDITEMS
        const items = popMark();
        const s = top();
        if (!Array.isArray(s)) fail('ADDITEMS on a non-set');
        (s as PyValue[]).push(...items);
        break;
      }
      case 0x91: // FROZENSET
        stack.push(popMark());
        break;
      case 0x74: // TUPLE
        stack.push(new PyTuple(popMark()));
        break;
      case 0x85: // TUPLE1
        stack.push(new PyTuple([pop()]));
        break;
      case 0x86: {
        // TUPLE2
        const b = pop();
        const a = pop();
        stack.push(new PyTuple([a, b]));
        break;
      }
      case 0x87: {
        // TUPLE3
        const c = pop();
        const b = pop();
        const a = pop();
        stack.push(new PyTuple([a, b, c]));
        break;
      }
      case 0x6c: // LIST
        stack.push(popMark());
        break;
      case 0x64: {
        // DICT
        const items = popMark();
        const d = new PyDict();
        for (let i = 0; i + 1 < items.length; i += 2) setItem(d, items[i], items[i + 1]);
        stack.push(d);
        break;
      }
      case 0x4a: // BININT
        stack.push(i32());
        break;
      case 0x4b: // BININT1
        stack.push(u8());
        break;
      case 0x4d: // BININT2
        stack.push(u16());
        break;
      case 0x8a: // LONG1
        stack.push(decodeLong(take(u8())));
        break;
      case 0x8b: {
        // LONG4
        const n = i32();
        if (n < 0) fail('LONG4 negative length');
        stack.push(decodeLong(take(n)));
        break;
      }
      case 0x49: {
        // INT (text)
        const s = line();
        stack.push(s === '01' ? true : s === '00' ? false : Number.parseInt(s, 10));
        break;
      }
      case 0x4c: {
        // LONG (text)
        const s = line().replace(/L$/, '');
        const b = BigInt(s);
        stack.push(b >= BigInt(Number.MIN_SAFE_INTEGER) && b <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : b);
        break;
      }
      case 0x47: {
        // BINFLOAT (big-endian double)
        need(8);
        stack.push(dv.getFloat64(pos, false));
        pos += 8;
        break;
      }
      case 0x58: // BINUNICODE
        stack.push(utf8(u32()));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(utf8(u8()));
        break;
      case 0x8d: // BINUNICODE8
        stack.push(utf8(u64()));
        break;
      case 0x54: // BINSTRING
        stack.push(Buffer.from(take(i32())).toString('latin1'));
        break;
      case 0x55: // SHORT_BINSTRING
        stack.push(Buffer.from(take(u8())).toString('latin1'));
        break;
      case 0x42: // BINBYTES
        stack.push(Uint8Array.from(take(u32())));
        break;
      case 0x43: // SHORT_BINBYTES
        stack.push(Uint8Array.from(take(u8())));
        break;
      case 0x8e: // BINBYTES8
        stack.push(Uint8Array.from(take(u64())));
        break;
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x73: {
        // SETITEM
        const v = pop();
        const k = pop();
        setItem(top(), k, v);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark();
        const d = top();
        for (let i = 0; i + 1 < items.length; i += 2) setItem(d, items[i], items[i + 1]);
        break;
      }
      case 0x61: {
        // APPEND
        const v = pop();
        const l = top();
        if (!Array.isArray(l)) fail('APPEND on a non-list');
        (l as PyValue[]).push(v);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        const l = top();
        if (!Array.isArray(l)) fail('APPENDS on a non-list');
        (l as PyValue[]).push(...items);
        break;
      }
      case 0x71: // BINPUT
        memo.set(u8(), top());
        break;
      case 0x72: // LONG_BINPUT
        memo.set(u32(), top());
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x68: // BINGET
      case 0x6a: {
        // LONG_BINGET
        const i = op === 0x68 ? u8() : u32();
        if (!memo.has(i)) fail(`memo ${i} not defined`);
        stack.push(memo.get(i) as PyValue);
        break;
      }
      case 0x70: {
        // PUT (text)
        memo.set(Number.parseInt(line(), 10), top());
        break;
      }
      case 0x67: {
        // GET (text)
        const i = Number.parseInt(line(), 10);
        if (!memo.has(i)) fail(`memo ${i} not defined`);
        stack.push(memo.get(i) as PyValue);
        break;
      }
      case 0x63: {
        // GLOBAL
        const module = line();
        const name = line();
        stack.push(findClass(module, name));
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') fail('STACK_GLOBAL needs two strings');
        stack.push(findClass(module as string, name as string));
        break;
      }
      case 0x52: {
        // REDUCE
        const args = pop();
        const fn = pop();
        stack.push(reduce(fn, args));
        break;
      }
      case 0x62: {
        // BUILD: only plain state on our own records (e.g. OrderedDict `_metadata`); nothing is called.
        const state = pop();
        const obj = top();
        if (obj instanceof PyDict) obj.attrs = state;
        else if (!(obj instanceof TorchTensorRef)) fail('BUILD on an unsupported object');
        break;
      }
      case 0x51: {
        // BINPERSID
        const pid = pop();
        const t = pid instanceof PyTuple ? pid.items : fail('persistent id must be a tuple');
        if (t.length < 5 || t[0] !== 'storage') fail(`unsupported persistent id (expected ('storage', type, key, location, numel))`);
        const type = t[1];
        if (!(type instanceof PyGlobal) || type.module !== 'torch' || !(type.name in STORAGE_DTYPES)) {
          fail(`persistent id storage type must be a torch.*Storage, got ${String(type)}`);
        }
        const key = t[2];
        if (typeof key !== 'string' && typeof key !== 'number') fail('storage key must be a string');
        stack.push(new TorchStorageRef(STORAGE_DTYPES[(type as PyGlobal).name], String(key), String(t[3]), asInt(t[4], 'storage numel')));
        break;
      }
      case 0x30: // POP (pops the mark itself when nothing is above it, like CPython)
        if (stack.length > (marks.length > 0 ? marks[marks.length - 1] : 0)) pop();
        else popMark();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        stack.push(top());
        break;
      case 0x81: // NEWOBJ
      case 0x92: // NEWOBJ_EX
      case 0x69: // INST
      case 0x6f: // OBJ
      case 0x82: // EXT1
      case 0x83: // EXT2
      case 0x84: // EXT4
      case 0x50: // PERSID (text)
        throw new UnsafePickleError(`${src}: pickle offset ${pos - 1}: opcode 0x${op.toString(16)} (object construction) is not allowed in a checkpoint`, `opcode 0x${op.toString(16)}`);
      default:
        fail(`unsupported pickle opcode 0x${op.toString(16)}`);
    }
  }
}

/** A loaded PyTorch checkpoint: the unpickled object plus its storages. */
export interface TorchCheckpoint {
  /** The top-level object (a dict for state_dicts and training checkpoints). */
  root: PyValue;
  /** Materialise a tensor record into a contiguous row-major tensor (strides and offset honoured). */
  tensor(t: TorchTensorRef, name?: string): SafeTensor;
}

/**
 * Open a torch ≥ 1.6 zip checkpoint from bytes. Only the pickle is parsed eagerly; storages are read
 * when a tensor is materialised.
 */
export function readTorchZip(bytes: Uint8Array, source = '<torch checkpoint>'): TorchCheckpoint {
  if (!isZip(bytes)) {
    throw new Error(`${source}: not a zip-format PyTorch checkpoint (torch ≥ 1.6 'torch.save'); legacy (pre-1.6) and TorchScript files are not supported — re-save with torch.save(state_dict, path)`);
  }
  const zip = new ZipArchive(bytes, source);
  const pkl = zip.names().find((n) => n.endsWith('data.pkl') && n.split('/').length === 2);
  if (!pkl) throw new Error(`${source}: no '<name>/data.pkl' entry in the archive (found ${zip.names().slice(0, 5).join(', ')}…)`);
  const prefix = pkl.slice(0, pkl.length - 'data.pkl'.length);
  const bo = `${prefix}byteorder`;
  if (zip.has(bo)) {
    const order = Buffer.from(zip.read(bo)).toString('utf8').trim();
    if (order !== 'little') throw new Error(`${source}: byteorder '${order}' is not supported (little-endian only)`);
  }
  const root = unpickle(zip.read(pkl), { source: `${source}:${pkl}` });
  const cache = new Map<string, Uint8Array>();
  const storageBytes = (s: TorchStorageRef): Uint8Array => {
    let b = cache.get(s.key);
    if (!b) {
      const entry = `${prefix}data/${s.key}`;
      if (!zip.has(entry)) throw new Error(`${source}: storage '${entry}' referenced by the pickle is missing`);
      b = zip.read(entry);
      cache.set(s.key, b);
    }
    return b;
  };
  return {
    root,
    tensor(t: TorchTensorRef, name = 'tensor'): SafeTensor {
      const dtype = t.storage.dtype;
      const esz = DTYPE_BYTES[dtype];
      const raw = storageBytes(t.storage);
      const storageNumel = Math.floor(raw.length / esz);
      const n = numElements(t.shape);
      if (n === 0) return { dtype, shape: [...t.shape], data: typedFromBytes(dtype, new Uint8Array(0), 0) };
      // Largest element index touched, to bound-check before copying.
      let maxIdx = t.storageOffset;
      for (let i = 0; i < t.shape.length; i++) maxIdx += (t.shape[i] - 1) * t.stride[i];
      if (t.storageOffset < 0 || maxIdx >= storageNumel || t.stride.some((s) => s < 0)) {
        throw new Error(`${source}: tensor '${name}' (offset ${t.storageOffset}, size [${t.shape}], stride [${t.stride}]) reads outside its storage of ${storageNumel} elements`);
      }
      // Contiguous row-major?
      let contiguous = true;
      let expect = 1;
      for (let i = t.shape.length - 1; i >= 0; i--) {
        if (t.shape[i] !== 1 && t.stride[i] !== expect) contiguous = false;
        expect *= t.shape[i];
      }
      if (contiguous) {
        const start = t.storageOffset * esz;
        return { dtype, shape: [...t.shape], data: typedFromBytes(dtype, raw.subarray(start, start + n * esz), n) };
      }
      // Strided copy, element by element (bytes), row-major over the logical shape.
      const out = new Uint8Array(n * esz);
      const rank = t.shape.length;
      const idx = new Array<number>(rank).fill(0);
      let src = t.storageOffset;
      for (let k = 0; k < n; k++) {
        out.set(raw.subarray(src * esz, src * esz + esz), k * esz);
        for (let d = rank - 1; d >= 0; d--) {
          idx[d]++;
          src += t.stride[d];
          if (idx[d] < t.shape[d]) break;
          src -= t.stride[d] * t.shape[d];
          idx[d] = 0;
        }
      }
      return { dtype, shape: [...t.shape], data: typedFromBytes(dtype, out, n) };
    },
  };
}

/** Read a torch zip checkpoint file. */
export function readTorchFile(file: string): TorchCheckpoint {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch (e) {
    throw new Error(`cannot read ${file}: ${(e as Error).message}`);
  }
  return readTorchZip(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength), file);
}

/**
 * Find the state_dict in a checkpoint and materialise it: a bare `{key: tensor}` dict, or an
 * open_clip training checkpoint `{"epoch", "name", "state_dict": {...}, ...}` (also `model`,
 * `module` wrappers). A `module.` prefix on every key (DistributedDataParallel) is stripped.
 * Returns tensors in file order plus the non-tensor top-level fields (epoch, name, …) when present.
 */
export function torchStateDict(
  ckpt: TorchCheckpoint,
  source = '<torch checkpoint>',
): { tensors: Map<string, SafeTensor>; info: Record<string, string | number | boolean | null> } {
  const root = ckpt.root;
  if (!(root instanceof PyDict)) throw new Error(`${source}: the checkpoint's top-level object is not a dict`);
  const info: Record<string, string | number | boolean | null> = {};
  let sd: PyDict = root;
  const isTensorDict = (d: PyDict): boolean => d.map.size > 0 && [...d.map.values()].some((v) => v instanceof TorchTensorRef);
  if (!isTensorDict(root)) {
    const inner = ['state_dict', 'model', 'module', 'model_state_dict'].map((k) => root.get(k)).find((v) => v instanceof PyDict && isTensorDict(v));
    if (!(inner instanceof PyDict)) {
      throw new Error(`${source}: no state_dict found (top-level keys: ${[...root.map.keys()].map(String).join(', ')}; expected tensors or a 'state_dict' entry)`);
    }
    sd = inner;
    for (const [k, v] of root.map) {
      if (typeof k === 'string' && (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' || v === null)) info[k] = v as string | number | boolean | null;
    }
  }
  const keys = [...sd.map.keys()].map(String);
  const strip = keys.length > 0 && keys.every((k) => k.startsWith('module.'));
  const tensors = new Map<string, SafeTensor>();
  for (const [k, v] of sd.map) {
    if (!(v instanceof TorchTensorRef)) continue; // e.g. non-tensor extras
    const name = strip ? String(k).slice('module.'.length) : String(k);
    tensors.set(name, ckpt.tensor(v, name));
  }
  return { tensors, info };
}

// -------------------------------------------------------------------------------------------------
// Writing: a state_dict as a torch ≥ 1.6 zip checkpoint that `torch.load` reads
// -------------------------------------------------------------------------------------------------

/** Emits pickle opcodes (protocol 2). Exposed for tests that need hand-made pickles. */
export class PickleWriter {
  private readonly parts: number[] = [];

  private bytes(b: ArrayLike<number>): this {
    for (let i = 0; i < b.length; i++) this.parts.push(b[i]);
    return this;
  }
  private u32(v: number): this {
    return this.bytes([v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff]);
  }
  /** A raw opcode byte (for tests). */
  op(code: number): this {
    this.parts.push(code);
    return this;
  }
  proto(v = 2): this {
    return this.op(0x80).op(v);
  }
  mark(): this {
    return this.op(0x28);
  }
  str(s: string): this {
    const b = Buffer.from(s, 'utf8');
    return this.op(0x58).u32(b.length).bytes(b);
  }
  int(v: number): this {
    if (!Number.isInteger(v)) throw new Error(`PickleWriter.int: ${v} is not an integer`);
    if (v >= 0 && v < 256) return this.op(0x4b).op(v);
    if (v >= 0 && v < 65536) return this.op(0x4d).bytes([v & 0xff, v >> 8]);
    if (v >= -2147483648 && v <= 2147483647) return this.op(0x4a).u32(v >>> 0);
    // LONG1: little-endian two's complement, shortest form.
    let x = BigInt(v);
    const out: number[] = [];
    for (;;) {
      out.push(Number(x & 0xffn));
      x >>= 8n;
      const signBit = (out[out.length - 1] & 0x80) !== 0;
      if ((x === 0n && !signBit) || (x === -1n && signBit)) break;
    }
    return this.op(0x8a).op(out.length).bytes(out);
  }
  bool(v: boolean): this {
    return this.op(v ? 0x88 : 0x89);
  }
  none(): this {
    return this.op(0x4e);
  }
  /** GLOBAL 'module\nname\n'. */
  global(module: string, name: string): this {
    return this.op(0x63).bytes(Buffer.from(`${module}\n${name}\n`, 'utf8'));
  }
  tuple(): this {
    return this.op(0x74);
  }
  emptyTuple(): this {
    return this.op(0x29);
  }
  emptyDict(): this {
    return this.op(0x7d);
  }
  reduce(): this {
    return this.op(0x52);
  }
  setitems(): this {
    return this.op(0x75);
  }
  binpersid(): this {
    return this.op(0x51);
  }
  stop(): this {
    return this.op(0x2e);
  }
  /** A tuple of ints: MARK ints... TUPLE. */
  intTuple(xs: readonly number[]): this {
    this.mark();
    for (const x of xs) this.int(x);
    return this.tuple();
  }
  finish(): Uint8Array {
    return Uint8Array.from(this.parts);
  }
}

const DTYPE_STORAGE: Partial<Record<SafeDtype, string>> = Object.fromEntries(
  Object.entries(STORAGE_DTYPES).map(([k, v]) => [v, k]),
) as Partial<Record<SafeDtype, string>>;

/**
 * Serialise a state_dict (tensor map, row-major, any safetensors dtype torch has) as a torch zip
 * checkpoint: `<archive>/data.pkl` (an OrderedDict of `_rebuild_tensor_v2` records),
 * `<archive>/data/<i>` (one storage per tensor) and `<archive>/version`. PyTorch ≥ 1.6 loads it
 * with `torch.load(path)`.
 */
export function writeTorchStateDict(tensors: Map<string, SafeTensor>, archive = 'archive'): Uint8Array {
  const w = new PickleWriter().proto(2);
  w.global('collections', 'OrderedDict').emptyTuple().reduce();
  w.mark();
  const files: { name: string; data: Uint8Array }[] = [];
  let i = 0;
  for (const [key, t] of tensors) {
    const storage = DTYPE_STORAGE[t.dtype];
    if (!storage) throw new Error(`writeTorchStateDict: tensor '${key}' has dtype ${t.dtype}, which torch storages cannot hold`);
    const n = numElements(t.shape);
    const stride: number[] = new Array<number>(t.shape.length);
    let s = 1;
    for (let d = t.shape.length - 1; d >= 0; d--) {
      stride[d] = s;
      s *= t.shape[d];
    }
    const sk = String(i++);
    w.str(key);
    w.global('torch._utils', '_rebuild_tensor_v2');
    w.mark();
    w.mark().str('storage').global('torch', storage).str(sk).str('cpu').int(n).tuple().binpersid();
    w.int(0).intTuple(t.shape).intTuple(stride).bool(false);
    w.global('collections', 'OrderedDict').emptyTuple().reduce();
    w.tuple().reduce();
    files.push({ name: `${archive}/data/${sk}`, data: new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength) });
  }
  w.setitems().stop();
  return writeZip([
    { name: `${archive}/data.pkl`, data: w.finish() },
    ...files,
    { name: `${archive}/version`, data: Buffer.from('3\n', 'utf8') },
  ]);
}
