/**
 * Result tables: rows of plain records, danfo DataFrames for analysis in notebooks, CSV files, and
 * "mean ± std over seeds" formatting as papers report it.
 *
 * danfojs-node is loaded lazily (≈1.5 s) on the first `toDataFrame`. It is installed with npm overrides
 * (its `@tensorflow/tfjs-node` is aliased to plain `@tensorflow/tfjs`), so it shares the kit's single
 * tfjs engine and does not change the active backend (test/infra_tables.test.ts checks this on wasm).
 */
import * as fs from 'fs';
import type { DataFrame } from 'danfojs-node';
import { atomicWriteFile } from '../utils/fs';

/** A table cell. */
export type Cell = string | number | boolean | null;
/** A table row: column name → cell. */
export type Row = Record<string, Cell>;
export type { DataFrame };

/** Node's require at call time (danfojs-node is heavy; only load it when a DataFrame is wanted). */
function nodeRequire(id: string): unknown {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require(id);
}

/** The danfojs-node module. */
export function danfo(): typeof import('danfojs-node') {
  return nodeRequire('danfojs-node') as typeof import('danfojs-node');
}

/** Column names of `rows` in first-seen order (a row may lack some columns). */
export function columnsOf(rows: readonly Row[]): string[] {
  const seen = new Set<string>();
  for (const r of rows) for (const k of Object.keys(r)) seen.add(k);
  return Array.from(seen);
}

/** A danfo DataFrame of the rows (missing cells become null). */
export function toDataFrame(rows: readonly Row[], opts: { columns?: string[] } = {}): DataFrame {
  const columns = opts.columns ?? columnsOf(rows);
  if (!rows.length) return new (danfo().DataFrame)([], { columns });
  const filled = rows.map((r) => Object.fromEntries(columns.map((c) => [c, r[c] ?? null])));
  return new (danfo().DataFrame)(filled, { columns });
}

/** Rows back from a danfo DataFrame (or a copy of rows), for display and CSV. */
export function toRows(table: readonly Row[] | DataFrame): Row[] {
  if (Array.isArray(table)) return table.map((r) => ({ ...r }));
  const df = table as DataFrame;
  const cols = df.columns.map(String);
  const values = df.values as unknown[];
  return values.map((v) => {
    const cells = Array.isArray(v) ? v : [v];
    const row: Row = {};
    cols.forEach((c, j) => {
      const x = cells[j];
      row[c] = typeof x === 'number' || typeof x === 'string' || typeof x === 'boolean' ? x : x === undefined ? null : x === null ? null : String(x);
    });
    return row;
  });
}

/** Unquoted CSV text that parseCsv reads as a number. */
const NUMBER_RE = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;
/** Unquoted CSV words that parseCsv reads as something other than a string. */
const SPECIAL_WORDS = new Set(['nan', 'inf', '-inf', 'true', 'false']);

/**
 * One CSV field per RFC 4180: quoted when it holds a comma, quote, CR or LF, and also when a string
 * would otherwise read back as a number, boolean or null, so writeCsv → readCsv keeps every type.
 */
function csvField(v: Cell): string {
  if (v === null) return '';
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : v > 0 ? 'inf' : v < 0 ? '-inf' : 'nan';
  if (typeof v === 'boolean') return String(v);
  const needsQuotes = /[",\r\n]/.test(v) || /^\s|\s$/.test(v) || v === '' || NUMBER_RE.test(v) || SPECIAL_WORDS.has(v);
  return needsQuotes ? `"${v.replace(/"/g, '""')}"` : v;
}

/** CSV text (header + rows, '\n' line ends, trailing newline). */
export function toCsv(rows: readonly Row[], opts: { columns?: string[] } = {}): string {
  const columns = opts.columns ?? columnsOf(rows);
  const lines = [columns.map(csvField).join(',')];
  for (const r of rows) lines.push(columns.map((c) => csvField(r[c] ?? null)).join(','));
  return lines.join('\n') + '\n';
}

/** Write rows as CSV, atomically (a crash never leaves half a table). Accepts a DataFrame too. */
export function writeCsv(table: readonly Row[] | DataFrame, file: string, opts: { columns?: string[] } = {}): void {
  atomicWriteFile(file, toCsv(toRows(table), opts));
}

/** Parse CSV text (RFC 4180) into rows; numeric-looking fields become numbers, empty fields null. */
export function parseCsv(text: string, file = '<csv>'): Row[] {
  const records: string[][] = [];
  let field = '';
  let record: string[] = [];
  let quoted = false;
  let wasQuoted = false;
  let i = 0;
  const endField = () => {
    record.push(wasQuoted ? `\u0000${field}` : field);
    field = '';
    wasQuoted = false;
  };
  while (i < text.length) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i += 2;
          continue;
        }
        quoted = false;
      } else field += ch;
      i++;
      continue;
    }
    if (ch === '"' && field === '') {
      quoted = true;
      wasQuoted = true;
    } else if (ch === ',') endField();
    else if (ch === '\n' || ch === '\r') {
      endField();
      records.push(record);
      record = [];
      if (ch === '\r' && text[i + 1] === '\n') i++;
    } else field += ch;
    i++;
  }
  if (quoted) throw new Error(`${file}: unterminated quoted field in record ${records.length + 1}`);
  if (field !== '' || wasQuoted || record.length) {
    endField();
    records.push(record);
  }
  if (!records.length) return [];
  const header = records[0].map((h) => h.replace(/^\u0000/, ''));
  return records.slice(1).map((rec, idx) => {
    if (rec.length !== header.length) {
      throw new Error(`${file}: record ${idx + 2} has ${rec.length} fields, expected ${header.length} (header: ${header.join(',')})`);
    }
    const row: Row = {};
    header.forEach((h, j) => {
      const raw = rec[j];
      if (raw.startsWith('\u0000')) row[h] = raw.slice(1);
      else if (raw === '') row[h] = null;
      else if (raw === 'nan') row[h] = Number.NaN;
      else if (raw === 'inf' || raw === '-inf') row[h] = raw === 'inf' ? Infinity : -Infinity;
      else if (raw === 'true' || raw === 'false') row[h] = raw === 'true';
      else if (NUMBER_RE.test(raw)) row[h] = Number(raw);
      else row[h] = raw;
    });
    return row;
  });
}

/** Read a CSV file written by writeCsv (or any RFC 4180 CSV with a header). */
export function readCsv(file: string): Row[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`readCsv: cannot read ${file}: ${(e as Error).message}`);
  }
  return parseCsv(text, file);
}

/**
 * Mean and sample standard deviation (n − 1 denominator, as pandas/danfo `std()` and papers reporting
 * "± std over seeds" use). std is 0 for a single value; NaN values are an error.
 */
export function meanStd(values: readonly number[]): { mean: number; std: number; n: number } {
  if (!values.length) throw new Error('meanStd: no values');
  values.forEach((v, i) => {
    if (!Number.isFinite(v)) throw new Error(`meanStd: value ${i} is ${v}, expected a finite number`);
  });
  const n = values.length;
  const mean = values.reduce((s, v) => s + v, 0) / n;
  if (n === 1) return { mean, std: 0, n };
  const ss = values.reduce((s, v) => s + (v - mean) * (v - mean), 0);
  return { mean, std: Math.sqrt(ss / (n - 1)), n };
}

/** "12.34 ± 0.56" (digits after the point for both numbers). */
export function formatMeanStd(mean: number, std: number, digits = 2): string {
  return `${mean.toFixed(digits)} ± ${std.toFixed(digits)}`;
}

function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

export interface HtmlTableOptions {
  /** Digits after the point for non-integer numbers (default 4 significant-looking: 4). */
  digits?: number;
  /** Column order / subset. */
  columns?: string[];
  /** Caption above the table. */
  caption?: string;
  /** At most this many rows (a note says how many were left out). Default 200. */
  maxRows?: number;
}

/** Default number of rows an HTML table shows. */
export const DEFAULT_MAX_ROWS = 200;

/** An HTML table of rows (numbers right-aligned and rounded; strings escaped). */
export function rowsToHtml(rows: readonly Row[], opts: HtmlTableOptions = {}): string {
  const columns = opts.columns ?? columnsOf(rows);
  const digits = opts.digits ?? 4;
  const maxRows = opts.maxRows ?? DEFAULT_MAX_ROWS;
  const fmt = (v: Cell): { text: string; num: boolean } => {
    if (v === null) return { text: '', num: false };
    if (typeof v === 'number') return { text: Number.isInteger(v) ? String(v) : v.toFixed(digits), num: true };
    return { text: String(v), num: false };
  };
  const th = columns.map((c) => `<th>${escapeHtml(c)}</th>`).join('');
  const body = rows
    .slice(0, maxRows)
    .map((r) => {
      const tds = columns
        .map((c) => {
          const f = fmt(r[c] ?? null);
          return `<td${f.num ? ' style="text-align:right"' : ''}>${escapeHtml(f.text)}</td>`;
        })
        .join('');
      return `<tr>${tds}</tr>`;
    })
    .join('\n');
  const more = rows.length > maxRows ? `\n<p><em>${rows.length - maxRows} more rows not shown (${rows.length} total)</em></p>` : '';
  const caption = opts.caption ? `<caption style="caption-side:top;text-align:left"><b>${escapeHtml(opts.caption)}</b></caption>` : '';
  return `<table class="kit-table">${caption}\n<thead><tr>${th}</tr></thead>\n<tbody>\n${body}\n</tbody>\n</table>${more}`;
}
