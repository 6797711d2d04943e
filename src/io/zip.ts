/**
 * Minimal ZIP reader/writer for PyTorch checkpoints (torch ≥ 1.6 `torch.save` zip format).
 *
 * Reading: finds the end-of-central-directory record (ZIP64 too), walks the central directory and
 * extracts entries that are stored (method 0) or deflated (method 8, via zlib's raw inflate). The
 * data offset is computed from each entry's *local* header, whose extra field differs from the
 * central one (PyTorch pads local headers to align tensor data to 64 bytes). CRC-32 is verified.
 *
 * Writing: stored entries only (enough for tests and for writing `.pt` files PyTorch can read).
 */
import * as zlib from 'zlib';

/** One entry of a ZIP archive. */
export interface ZipEntry {
  name: string;
  /** 0 = stored, 8 = deflated. */
  method: number;
  compressedSize: number;
  uncompressedSize: number;
  crc32: number;
  /** Offset of the local file header. */
  localHeaderOffset: number;
}

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_EOCD = 0x06054b50;
const SIG_ZIP64_EOCD = 0x06064b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;
const EOCD_MIN = 22;
const MAX_COMMENT = 0xffff;
const ZIP64_EXTRA_ID = 0x0001;
const U32_MAX = 0xffffffff;
const U16_MAX = 0xffff;
const METHOD_STORED = 0;
const METHOD_DEFLATED = 8;

let crcTable: Uint32Array | null = null;
/** CRC-32 (IEEE) of bytes. */
export function crc32(bytes: Uint8Array): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = crcTable[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** Is this the start of a ZIP file (local header signature)? */
export function isZip(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04;
}

/** A parsed ZIP archive over a byte buffer. */
export class ZipArchive {
  readonly entries = new Map<string, ZipEntry>();
  private readonly dv: DataView;

  constructor(
    readonly bytes: Uint8Array,
    /** File name for error messages. */
    readonly source = '<zip bytes>',
  ) {
    this.dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.parse();
  }

  private fail(msg: string): never {
    throw new Error(`${this.source}: ${msg}`);
  }

  private u16(o: number): number {
    if (o + 2 > this.bytes.length) this.fail(`truncated ZIP (read at ${o} beyond ${this.bytes.length} bytes)`);
    return this.dv.getUint16(o, true);
  }
  private u32(o: number): number {
    if (o + 4 > this.bytes.length) this.fail(`truncated ZIP (read at ${o} beyond ${this.bytes.length} bytes)`);
    return this.dv.getUint32(o, true);
  }
  private u64(o: number): number {
    if (o + 8 > this.bytes.length) this.fail(`truncated ZIP (read at ${o} beyond ${this.bytes.length} bytes)`);
    const v = this.dv.getBigUint64(o, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) this.fail(`ZIP64 value ${v} too large`);
    return Number(v);
  }

  private parse(): void {
    const n = this.bytes.length;
    if (n < EOCD_MIN) this.fail(`not a ZIP archive (${n} bytes)`);
    let eocd = -1;
    for (let o = n - EOCD_MIN; o >= Math.max(0, n - EOCD_MIN - MAX_COMMENT); o--) {
      if (this.dv.getUint32(o, true) === SIG_EOCD) {
        eocd = o;
        break;
      }
    }
    if (eocd < 0) this.fail('not a ZIP archive or truncated: end-of-central-directory record not found');
    let count = this.u16(eocd + 10);
    let cdSize = this.u32(eocd + 12);
    let cdOffset = this.u32(eocd + 16);
    if (count === U16_MAX || cdSize === U32_MAX || cdOffset === U32_MAX) {
      const loc = eocd - 20;
      if (loc < 0 || this.u32(loc) !== SIG_ZIP64_LOCATOR) this.fail('ZIP64 archive without a ZIP64 locator');
      const z = this.u64(loc + 8);
      if (this.u32(z) !== SIG_ZIP64_EOCD) this.fail('ZIP64 end-of-central-directory record not found');
      count = this.u64(z + 32);
      cdSize = this.u64(z + 40);
      cdOffset = this.u64(z + 48);
    }
    if (cdOffset + cdSize > n) this.fail(`central directory [${cdOffset}, ${cdOffset + cdSize}) beyond the file end ${n} (truncated?)`);
    let p = cdOffset;
    for (let i = 0; i < count; i++) {
      if (this.u32(p) !== SIG_CENTRAL) this.fail(`central directory entry ${i} has a bad signature`);
      const method = this.u16(p + 10);
      const crc = this.u32(p + 16);
      let csize = this.u32(p + 20);
      let usize = this.u32(p + 24);
      const nameLen = this.u16(p + 28);
      const extraLen = this.u16(p + 30);
      const commentLen = this.u16(p + 32);
      let local = this.u32(p + 42);
      const name = Buffer.from(this.bytes.subarray(p + 46, p + 46 + nameLen)).toString('utf8');
      // ZIP64 extra field: the values that are 0xffffffff in the fixed record follow in order.
      let e = p + 46 + nameLen;
      const eEnd = e + extraLen;
      while (e + 4 <= eEnd) {
        const id = this.u16(e);
        const len = this.u16(e + 2);
        if (id === ZIP64_EXTRA_ID) {
          let q = e + 4;
          if (usize === U32_MAX) (usize = this.u64(q)), (q += 8);
          if (csize === U32_MAX) (csize = this.u64(q)), (q += 8);
          if (local === U32_MAX) local = this.u64(q);
        }
        e += 4 + len;
      }
      this.entries.set(name, { name, method, compressedSize: csize, uncompressedSize: usize, crc32: crc, localHeaderOffset: local });
      p = eEnd + commentLen;
    }
  }

  /** Entry names in archive order. */
  names(): string[] {
    return [...this.entries.keys()];
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  /** The (decompressed, CRC-checked) bytes of an entry. Stored entries are returned as a view. */
  read(name: string): Uint8Array {
    const e = this.entries.get(name);
    if (!e) this.fail(`no entry '${name}' in the archive`);
    const lh = e.localHeaderOffset;
    if (this.u32(lh) !== SIG_LOCAL) this.fail(`entry '${name}': bad local header signature at ${lh}`);
    const start = lh + 30 + this.u16(lh + 26) + this.u16(lh + 28);
    const end = start + e.compressedSize;
    if (end > this.bytes.length) this.fail(`entry '${name}': data [${start}, ${end}) beyond the file end ${this.bytes.length} (truncated?)`);
    const raw = this.bytes.subarray(start, end);
    let data: Uint8Array;
    if (e.method === METHOD_STORED) data = raw;
    else if (e.method === METHOD_DEFLATED) {
      try {
        const b = zlib.inflateRawSync(raw);
        data = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
      } catch (err) {
        this.fail(`entry '${name}': cannot inflate: ${(err as Error).message}`);
      }
    } else this.fail(`entry '${name}': unsupported compression method ${e.method} (only stored and deflated)`);
    if (data.length !== e.uncompressedSize) this.fail(`entry '${name}': ${data.length} bytes, expected ${e.uncompressedSize}`);
    if (crc32(data) !== e.crc32) this.fail(`entry '${name}': CRC-32 mismatch (corrupt file)`);
    return data;
  }
}

/** A file to put in a ZIP. */
export interface ZipInput {
  name: string;
  data: Uint8Array;
  /** Compress with deflate (default false = stored). */
  deflate?: boolean;
}

/** Write a ZIP archive (no ZIP64; < 4 GB). Local headers are padded so stored data is 64-byte aligned, as PyTorch does. */
export function writeZip(files: ZipInput[]): Uint8Array {
  const ALIGN = 64;
  const chunks: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  for (const f of files) {
    const name = Buffer.from(f.name, 'utf8');
    const method = f.deflate ? METHOD_DEFLATED : METHOD_STORED;
    const body = f.deflate ? new Uint8Array(zlib.deflateRawSync(f.data)) : f.data;
    const crc = crc32(f.data);
    const baseLen = 30 + name.length;
    let pad = (ALIGN - ((offset + baseLen + 4) % ALIGN)) % ALIGN;
    const extraLen = method === METHOD_STORED ? 4 + pad : 0;
    if (method !== METHOD_STORED) pad = 0;
    const lh = new Uint8Array(baseLen + extraLen);
    const dv = new DataView(lh.buffer);
    dv.setUint32(0, SIG_LOCAL, true);
    dv.setUint16(4, 20, true);
    dv.setUint16(8, method, true);
    dv.setUint32(14, crc, true);
    dv.setUint32(18, body.length, true);
    dv.setUint32(22, f.data.length, true);
    dv.setUint16(26, name.length, true);
    dv.setUint16(28, extraLen, true);
    lh.set(name, 30);
    if (extraLen > 0) {
      dv.setUint16(baseLen, 0x4246, true); // 'FB' padding field, as PyTorch writes
      dv.setUint16(baseLen + 2, pad, true);
    }
    const cd = new Uint8Array(46 + name.length);
    const cv = new DataView(cd.buffer);
    cv.setUint32(0, SIG_CENTRAL, true);
    cv.setUint16(4, 20, true);
    cv.setUint16(6, 20, true);
    cv.setUint16(10, method, true);
    cv.setUint32(16, crc, true);
    cv.setUint32(20, body.length, true);
    cv.setUint32(24, f.data.length, true);
    cv.setUint16(28, name.length, true);
    cv.setUint32(42, offset, true);
    cd.set(name, 46);
    chunks.push(lh, body);
    central.push(cd);
    offset += lh.length + body.length;
  }
  const cdSize = central.reduce((n, c) => n + c.length, 0);
  const eocd = new Uint8Array(EOCD_MIN);
  const ev = new DataView(eocd.buffer);
  ev.setUint32(0, SIG_EOCD, true);
  ev.setUint16(8, files.length, true);
  ev.setUint16(10, files.length, true);
  ev.setUint32(12, cdSize, true);
  ev.setUint32(16, offset, true);
  const total = offset + cdSize + EOCD_MIN;
  const out = new Uint8Array(total);
  let p = 0;
  for (const c of [...chunks, ...central, eocd]) {
    out.set(c, p);
    p += c.length;
  }
  return out;
}
