/**
 * Tar archives (POSIX ustar), the container of webdataset shards (RS5M: method.md §6).
 *
 * Writer: deterministic bytes — entries in the order given, mtime 0, uid/gid 0, mode 0644, empty
 * user/group names — so the same samples always give the same shard (and the same sha256).
 * Names longer than 100 bytes are split into ustar `prefix` + `name`; names that cannot be split
 * get a PAX extended header (`path=` record), as Python's `tarfile` (PAX_FORMAT) writes them.
 *
 * Reader: streaming. `readTarEntries(file)` reads the file in chunks through a file handle and
 * holds at most one entry's data in memory. It understands ustar, old (v7) tar, GNU long names
 * (`L`) and PAX headers (`x` per entry, `g` global), verifies every header checksum, skips
 * directories/links, and throws an `Error` naming the file, the byte offset and the entry when the
 * archive is empty, truncated or corrupt.
 */
import * as fs from 'fs';
import { atomicWriteFile } from '../utils/fs';

/** Tar block size in bytes. */
export const TAR_BLOCK = 512;
/** Bytes read from disk per `read` call by the streaming reader. */
export const TAR_READ_CHUNK = 1 << 20;
/** Width of the ustar `name` field. */
const NAME_LEN = 100;
/** Width of the ustar `prefix` field. */
const PREFIX_LEN = 155;
/** Largest size a 12-byte octal field holds (8 GiB − 1). */
const MAX_OCTAL_SIZE = 0o77777777777;

/** One regular file of an archive. */
export interface TarEntry {
  /** Path inside the archive (`prefix/name` joined, or the PAX/GNU long name). */
  name: string;
  data: Uint8Array;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8');

function writeString(block: Uint8Array, offset: number, width: number, s: string, what: string): void {
  const bytes = encoder.encode(s);
  if (bytes.length > width) throw new Error(`tar: ${what} "${s}" is longer than ${width} bytes`);
  block.set(bytes, offset);
}

function writeOctal(block: Uint8Array, offset: number, width: number, value: number): void {
  // width-1 octal digits, zero padded, then NUL (the GNU/POSIX convention).
  const s = value.toString(8).padStart(width - 1, '0');
  if (s.length > width - 1) throw new Error(`tar: value ${value} does not fit a ${width}-byte octal field`);
  writeString(block, offset, width, s + '\0', 'octal field');
}

function headerChecksum(block: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < TAR_BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : block[i];
  return sum;
}

/** Split a UTF-8 name into ustar (prefix, name), or null if it cannot be split. */
function splitUstarName(name: string): { prefix: string; name: string } | null {
  const bytes = encoder.encode(name);
  if (bytes.length <= NAME_LEN) return { prefix: '', name };
  for (let i = name.length - 1; i > 0; i--) {
    if (name[i] !== '/') continue;
    const prefix = name.slice(0, i);
    const rest = name.slice(i + 1);
    if (encoder.encode(prefix).length <= PREFIX_LEN && encoder.encode(rest).length <= NAME_LEN && rest.length > 0) {
      return { prefix, name: rest };
    }
  }
  return null;
}

function makeHeader(name: string, prefix: string, size: number, typeflag: string): Uint8Array {
  const block = new Uint8Array(TAR_BLOCK);
  writeString(block, 0, NAME_LEN, name, 'entry name');
  writeOctal(block, 100, 8, 0o644); // mode
  writeOctal(block, 108, 8, 0); // uid
  writeOctal(block, 116, 8, 0); // gid
  writeOctal(block, 124, 12, size);
  writeOctal(block, 136, 12, 0); // mtime: fixed for deterministic bytes
  block[156] = typeflag.charCodeAt(0);
  writeString(block, 257, 6, 'ustar\0', 'magic');
  writeString(block, 263, 2, '00', 'version');
  writeString(block, 345, PREFIX_LEN, prefix, 'entry prefix');
  const sum = headerChecksum(block);
  // Checksum field: six octal digits, NUL, space (what GNU tar and Python write).
  writeString(block, 148, 8, sum.toString(8).padStart(6, '0') + '\0 ', 'checksum');
  return block;
}

function paxRecord(key: string, value: string): Uint8Array {
  // "<len> <key>=<value>\n" where <len> counts the whole record including its own digits.
  const body = ` ${key}=${value}\n`;
  const bodyLen = encoder.encode(body).length;
  let len = bodyLen + 1;
  while (String(len).length + bodyLen !== len) len = String(len).length + bodyLen;
  return encoder.encode(`${len}${body}`);
}

function padding(size: number): number {
  const rem = size % TAR_BLOCK;
  return rem === 0 ? 0 : TAR_BLOCK - rem;
}

/** The header (+ PAX header if needed) blocks of one entry. */
function entryHeaders(entry: TarEntry, index: number): Uint8Array[] {
  if (entry.name.length === 0) throw new Error(`tar: entry ${index} has an empty name`);
  if (entry.data.length > MAX_OCTAL_SIZE) throw new Error(`tar: entry ${index} "${entry.name}" exceeds 8 GiB`);
  const split = splitUstarName(entry.name);
  if (split !== null) return [makeHeader(split.name, split.prefix, entry.data.length, '0')];
  const pax = paxRecord('path', entry.name);
  const paxName = `PaxHeaders/${index}`;
  const out = [makeHeader(paxName, '', pax.length, 'x')];
  const paxBlock = new Uint8Array(pax.length + padding(pax.length));
  paxBlock.set(pax);
  out.push(paxBlock);
  const shortName = entry.name.slice(-NAME_LEN).replace(/^[^/]*\//, '');
  out.push(makeHeader(shortName.slice(0, NAME_LEN), '', entry.data.length, '0'));
  return out;
}

/** Serialise entries (in the order given) to deterministic ustar bytes, ending with two zero blocks. */
export function writeTar(entries: readonly TarEntry[]): Uint8Array {
  const parts: Uint8Array[] = [];
  let total = 0;
  entries.forEach((e, i) => {
    for (const h of entryHeaders(e, i)) {
      parts.push(h);
      total += h.length;
    }
    parts.push(e.data);
    const pad = padding(e.data.length);
    if (pad > 0) parts.push(new Uint8Array(pad));
    total += e.data.length + pad;
  });
  parts.push(new Uint8Array(2 * TAR_BLOCK));
  total += 2 * TAR_BLOCK;
  const out = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** Write a tar file atomically (temp file + rename). */
export function writeTarFile(file: string, entries: readonly TarEntry[]): void {
  atomicWriteFile(file, writeTar(entries));
}

/** A chunked reader over a file handle: `read(n)` returns exactly n bytes or fewer at EOF. */
class ChunkedFile {
  private buf = new Uint8Array(0);
  private pos = 0;
  private fileOffset = 0;
  /** Bytes consumed so far (offset of the next byte handed out). */
  consumed = 0;
  constructor(private readonly fh: fs.promises.FileHandle, private readonly chunk: number) {}

  private async fill(): Promise<boolean> {
    const chunk = new Uint8Array(this.chunk);
    const { bytesRead } = await this.fh.read(chunk, 0, this.chunk, this.fileOffset);
    if (bytesRead === 0) return false;
    this.fileOffset += bytesRead;
    const rest = this.buf.subarray(this.pos);
    const merged = new Uint8Array(rest.length + bytesRead);
    merged.set(rest);
    merged.set(chunk.subarray(0, bytesRead), rest.length);
    this.buf = merged;
    this.pos = 0;
    return true;
  }

  /** Up to n bytes (a fresh copy); fewer only at end of file. */
  async read(n: number): Promise<Uint8Array> {
    if (n > this.chunk) {
      // Large entry: read straight into its own buffer rather than growing the chunk buffer.
      const out = new Uint8Array(n);
      const have = Math.min(n, this.buf.length - this.pos);
      out.set(this.buf.subarray(this.pos, this.pos + have));
      this.pos += have;
      let got = have;
      while (got < n) {
        const { bytesRead } = await this.fh.read(out, got, n - got, this.fileOffset);
        if (bytesRead === 0) break;
        this.fileOffset += bytesRead;
        got += bytesRead;
      }
      this.consumed += got;
      return got === n ? out : out.subarray(0, got);
    }
    while (this.buf.length - this.pos < n) {
      if (!(await this.fill())) break;
    }
    const take = Math.min(n, this.buf.length - this.pos);
    const out = this.buf.slice(this.pos, this.pos + take);
    this.pos += take;
    this.consumed += take;
    return out;
  }

  /** Skip n bytes; returns how many were skipped (fewer only at end of file). */
  async skip(n: number): Promise<number> {
    let left = n;
    const inBuf = Math.min(left, this.buf.length - this.pos);
    this.pos += inBuf;
    left -= inBuf;
    if (left > 0) {
      const size = (await this.fh.stat()).size;
      const can = Math.min(left, size - this.fileOffset);
      this.fileOffset += can;
      left -= can;
    }
    this.consumed += n - left;
    return n - left;
  }
}

function readString(block: Uint8Array, offset: number, width: number): string {
  let end = offset;
  while (end < offset + width && block[end] !== 0) end++;
  return decoder.decode(block.subarray(offset, end));
}

function readOctal(block: Uint8Array, offset: number, width: number): number {
  if (block[offset] & 0x80) {
    // GNU base-256 encoding for large values.
    let v = block[offset] & 0x7f;
    for (let i = 1; i < width; i++) v = v * 256 + block[offset + i];
    return v;
  }
  const s = readString(block, offset, width).trim();
  if (s.length === 0) return 0;
  if (!/^[0-7]+$/.test(s)) return Number.NaN;
  return parseInt(s, 8);
}

function isZeroBlock(block: Uint8Array): boolean {
  for (let i = 0; i < block.length; i++) if (block[i] !== 0) return false;
  return true;
}

function parsePax(data: Uint8Array, file: string, offset: number): Map<string, string> {
  const out = new Map<string, string>();
  let pos = 0;
  while (pos < data.length) {
    let sp = pos;
    while (sp < data.length && data[sp] !== 0x20) sp++;
    const len = parseInt(decoder.decode(data.subarray(pos, sp)), 10);
    if (!Number.isFinite(len) || len <= 0 || pos + len > data.length) {
      if (data[pos] === 0) break; // NUL padding
      throw new Error(`${file}: malformed PAX header record at byte ${offset}`);
    }
    const rec = decoder.decode(data.subarray(sp + 1, pos + len - 1));
    const eq = rec.indexOf('=');
    if (eq > 0) out.set(rec.slice(0, eq), rec.slice(eq + 1));
    pos += len;
  }
  return out;
}

/** Options of `readTarEntries`. */
export interface ReadTarOptions {
  /** Bytes per disk read (default `TAR_READ_CHUNK`). */
  chunkSize?: number;
  /**
   * Require the two zero blocks that end an archive (default true). A file that stops cleanly
   * after an entry but lacks them was most likely cut off, so it is reported as truncated.
   */
  requireEndMarker?: boolean;
}

/**
 * Stream the regular files of a tar archive, in archive order, without loading the archive.
 * Throws (naming the file, byte offset and entry) on: an empty (0-byte) file, a bad header
 * checksum, a header or data cut off by end of file, or a missing end-of-archive marker.
 */
export async function* readTarEntries(file: string, opts: ReadTarOptions = {}): AsyncGenerator<TarEntry> {
  const chunk = opts.chunkSize ?? TAR_READ_CHUNK;
  const requireEnd = opts.requireEndMarker ?? true;
  let fh: fs.promises.FileHandle;
  try {
    fh = await fs.promises.open(file, 'r');
  } catch (e) {
    throw new Error(`cannot open tar archive ${file}: ${(e as Error).message}`);
  }
  try {
    const size = (await fh.stat()).size;
    if (size === 0) throw new Error(`${file}: empty tar archive (0 bytes)`);
    const r = new ChunkedFile(fh, chunk);
    let lastName = '(none: first header)';
    let paxGlobal = new Map<string, string>();
    let paxNext: Map<string, string> | null = null;
    let longName: string | null = null;
    for (;;) {
      const headerOffset = r.consumed;
      const block = await r.read(TAR_BLOCK);
      if (block.length === 0) {
        if (requireEnd) {
          throw new Error(
            `${file}: truncated tar archive: end of file at byte ${headerOffset} without the end-of-archive ` +
              `marker (last entry "${lastName}")`,
          );
        }
        return;
      }
      if (block.length < TAR_BLOCK) {
        throw new Error(
          `${file}: truncated tar archive: partial header (${block.length} of ${TAR_BLOCK} bytes) at byte ` +
            `${headerOffset}, after entry "${lastName}"`,
        );
      }
      if (isZeroBlock(block)) return; // end-of-archive marker (the second zero block is optional)
      const stored = readOctal(block, 148, 8);
      if (stored !== headerChecksum(block)) {
        throw new Error(
          `${file}: corrupt tar header at byte ${headerOffset} (checksum ${stored} ≠ ${headerChecksum(block)}), ` +
            `after entry "${lastName}"`,
        );
      }
      const typeflag = block[156] === 0 ? '0' : String.fromCharCode(block[156]);
      let name = readString(block, 0, NAME_LEN);
      const magic = readString(block, 257, 6);
      if (magic.startsWith('ustar')) {
        const prefix = readString(block, 345, PREFIX_LEN);
        if (prefix.length > 0 && magic === 'ustar') name = `${prefix}/${name}`;
      }
      let entrySize = readOctal(block, 124, 12);
      if (!Number.isFinite(entrySize) || entrySize < 0) {
        throw new Error(`${file}: bad size field in header of entry "${name}" at byte ${headerOffset}`);
      }
      const pax = paxNext ?? new Map<string, string>();
      const paxSize = pax.get('size') ?? paxGlobal.get('size');
      if (paxSize !== undefined && (typeflag === '0' || typeflag === '7')) entrySize = parseInt(paxSize, 10);
      const dataOffset = r.consumed;
      const data = await r.read(entrySize);
      if (data.length < entrySize) {
        throw new Error(
          `${file}: truncated tar archive: entry "${name}" (header at byte ${headerOffset}) declares ` +
            `${entrySize} bytes but only ${data.length} remain from byte ${dataOffset}`,
        );
      }
      const pad = padding(entrySize);
      if (pad > 0 && (await r.skip(pad)) < pad) {
        throw new Error(`${file}: truncated tar archive: padding of entry "${name}" cut off at end of file`);
      }
      switch (typeflag) {
        case 'x':
          paxNext = parsePax(data, file, headerOffset);
          continue;
        case 'g':
          paxGlobal = new Map([...paxGlobal, ...parsePax(data, file, headerOffset)]);
          continue;
        case 'L':
          longName = readString(data, 0, data.length);
          continue;
        case 'K':
          continue;
        default:
          break;
      }
      const finalName = longName ?? pax.get('path') ?? paxGlobal.get('path') ?? name;
      paxNext = null;
      longName = null;
      lastName = finalName;
      if (typeflag === '0' || typeflag === '7') yield { name: finalName, data };
      // Directories ('5'), links ('1','2'), devices and FIFOs carry no sample data: skipped.
    }
  } finally {
    await fh.close();
  }
}

/** webdataset naming: key = path up to the first '.' of the base name; ext = the rest (`a/b.c.d` → `a/b`, `c.d`). */
export function splitWebdatasetName(name: string): { key: string; ext: string } {
  const slash = name.lastIndexOf('/');
  const dot = name.indexOf('.', slash + 1);
  if (dot < 0) return { key: name, ext: '' };
  return { key: name.slice(0, dot), ext: name.slice(dot + 1) };
}

/** One webdataset sample: its key and its fields by extension (`img_content`, `caption`, …). */
export interface WebdatasetSample {
  key: string;
  fields: Map<string, Uint8Array>;
}

/**
 * Group consecutive tar entries with the same key into webdataset samples (streaming; a key that
 * re-appears non-consecutively starts a new sample, as webdataset does).
 */
export async function* readWebdatasetSamples(file: string, opts: ReadTarOptions = {}): AsyncGenerator<WebdatasetSample> {
  let current: WebdatasetSample | null = null;
  for await (const entry of readTarEntries(file, opts)) {
    const { key, ext } = splitWebdatasetName(entry.name);
    if (current === null || current.key !== key) {
      if (current !== null) yield current;
      current = { key, fields: new Map() };
    }
    if (current.fields.has(ext)) {
      throw new Error(`${file}: sample "${key}" has the field "${ext}" twice`);
    }
    current.fields.set(ext, entry.data);
  }
  if (current !== null) yield current;
}
