/**
 * The CLIP byte-level BPE tokenizer (open_clip `SimpleTokenizer`, `src/open_clip/tokenizer.py`),
 * reproducing its ids exactly (golden/README.md §8: 20 captions, exact parity).
 *
 * Pipeline:
 * 1. clean: an ftfy-like `fixText` (NFC, curly quotes → straight, ligatures, full-width → ASCII,
 *    line breaks, control characters, HTML entities), `html.unescape` twice, strip; collapse
 *    whitespace; lowercase;
 * 2. split with `<start_of_text>|<end_of_text>|'s|'t|'re|'ve|'m|'ll|'d|\p{L}+|\p{N}|[^\s\p{L}\p{N}]+`
 *    (case-insensitive; every digit is a token);
 * 3. UTF-8 bytes → GPT-2 byte→unicode alphabet → BPE with merges 1..48894 of the vocab file, `</w>`
 *    marks the end of a word;
 * 4. `[SOT=49406] + ids + [EOT=49407]`, zero padded; longer rows are cut to the context length with
 *    the last id set to EOT.
 *
 * What ftfy does that this does not: mojibake repair (`fix_encoding`), which needs ftfy's large
 * charset tables; captions in RS datasets are clean UTF-8, and none of the golden captions need it.
 *
 * The vocabulary file (`bpe_simple_vocab_16e6.txt.gz`, MIT, OpenAI) is read from a path the user
 * gives (gzip or plain text), else found by findClipBpe(): KIT_CLIP_BPE, data/vocab/, then the copy an
 * installed Python open_clip (or OpenAI clip) package ships.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawnSync } from 'child_process';
import * as zlib from 'zlib';
import { projectRoot } from '../utils/fs';

/** `<start_of_text>` id. */
export const CLIP_SOT = 49406;
/** `<end_of_text>` id. */
export const CLIP_EOT = 49407;
/** Vocabulary size (256 bytes ×2 + merges + 2 specials). */
export const CLIP_VOCAB_SIZE = 49408;
/** Default CLIP context length. */
export const CLIP_CONTEXT_LENGTH = 77;
/** Number of merges used: `49152 − 256 − 2` (lines 1..48894 of the file). */
export const CLIP_NUM_MERGES = 49152 - 256 - 2;
/** File name of the vocabulary. */
export const CLIP_BPE_FILE = 'bpe_simple_vocab_16e6.txt.gz';

/** Where the kit looks for the vocabulary when no path is given: `<project>/data/vocab/<file>`. */
export function defaultBpePath(): string {
  return path.join(projectRoot(), 'data', 'vocab', CLIP_BPE_FILE);
}

/** Python packages that ship the vocabulary file in their own folder. */
export const CLIP_BPE_PACKAGES = ['open_clip', 'clip'];
/** Python interpreters asked where those packages are (only when no known folder has the file). */
const PYTHONS = ['python3', '/usr/bin/python3'];
/** Max ms one interpreter may take to answer (find_spec does not import the package, so torch is not loaded). */
const PYTHON_TIMEOUT_MS = 10_000;

/** `<prefix>/lib/python3*\/{site,dist}-packages` folders that exist. */
function sitePackagesUnder(prefix: string): string[] {
  const lib = path.join(prefix, 'lib');
  let names: string[];
  try {
    names = fs.readdirSync(lib).filter((n) => /^python3(\.\d+)?$/.test(n)).sort();
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const n of names) for (const sub of ['site-packages', 'dist-packages']) out.push(path.join(lib, n, sub));
  return out;
}

/** Existing folders where pip, conda, venvs, pyenv and Debian put Python packages, in search order. */
export function pythonPackageDirs(env: NodeJS.ProcessEnv = process.env): string[] {
  const home = env.HOME || os.homedir();
  const prefixes = [env.VIRTUAL_ENV, env.CONDA_PREFIX, home && path.join(home, '.local'), '/usr/local', '/usr', '/opt/conda'].filter(
    (p): p is string => !!p,
  );
  const pyenv = env.PYENV_ROOT || (home ? path.join(home, '.pyenv') : '');
  if (pyenv) {
    try {
      for (const v of fs.readdirSync(path.join(pyenv, 'versions')).sort()) prefixes.push(path.join(pyenv, 'versions', v));
    } catch {
      /* no pyenv */
    }
  }
  const dirs = prefixes.flatMap(sitePackagesUnder);
  dirs.push('/usr/lib/python3/dist-packages');
  return [...new Set(dirs)].filter((d) => fs.existsSync(d));
}

/** Package folders of CLIP_BPE_PACKAGES as Python itself resolves them (importlib find_spec, no import). */
function pythonReportedPackageDirs(): { dirs: string[]; asked: string[] } {
  const code = `import importlib.util as u\nfor n in ${JSON.stringify(CLIP_BPE_PACKAGES)}:\n  try:\n    s = u.find_spec(n)\n  except Exception:\n    s = None\n  for p in (s.submodule_search_locations or []) if s else []:\n    print(p)\n`;
  const dirs: string[] = [];
  const asked: string[] = [];
  for (const py of PYTHONS) {
    const r = spawnSync(py, ['-c', code], { encoding: 'utf8', timeout: PYTHON_TIMEOUT_MS });
    if (r.error || r.status !== 0) continue;
    asked.push(py);
    for (const line of r.stdout.split('\n')) if (line.trim()) dirs.push(line.trim());
  }
  return { dirs: [...new Set(dirs)], asked };
}

/** Result of findClipBpe: the file (or null) and where it looked, in order. */
export interface ClipBpeLookup {
  path: string | null;
  /** Every file path checked. */
  tried: string[];
  /** Python package folders searched for open_clip/ and clip/. */
  packageDirs: string[];
  /** Interpreters that answered where the packages are, and the folders they reported. */
  asked: string[];
  reported: string[];
}

/**
 * Find the CLIP BPE vocabulary: `KIT_CLIP_BPE` (which must exist if set), `data/vocab/<file>`, then
 * `<pkg>/<file>` for the open_clip and clip packages in the usual site-packages folders (venv, conda,
 * ~/.local, /usr/local, pyenv, Debian), then wherever `python3` says those packages are.
 */
export function findClipBpe(env: NodeJS.ProcessEnv = process.env): ClipBpeLookup {
  const r: ClipBpeLookup = { path: null, tried: [], packageDirs: [], asked: [], reported: [] };
  const hit = (p: string): boolean => {
    r.tried.push(p);
    if (!(fs.existsSync(p) && fs.statSync(p).isFile())) return false;
    r.path = p;
    return true;
  };
  if (env.KIT_CLIP_BPE) {
    if (hit(env.KIT_CLIP_BPE)) return r;
    throw new Error(`KIT_CLIP_BPE=${env.KIT_CLIP_BPE}: no such file (expected the CLIP ${CLIP_BPE_FILE})`);
  }
  if (hit(defaultBpePath())) return r;
  r.packageDirs = pythonPackageDirs(env);
  for (const dir of r.packageDirs) for (const pkg of CLIP_BPE_PACKAGES) if (hit(path.join(dir, pkg, CLIP_BPE_FILE))) return r;
  const py = pythonReportedPackageDirs();
  r.asked = py.asked;
  r.reported = py.dirs;
  for (const dir of py.dirs) {
    const f = path.join(dir, CLIP_BPE_FILE);
    if (!r.tried.includes(f) && hit(f)) return r;
  }
  return r;
}

/** The vocabulary path from findClipBpe, or an Error that says where it looked and how to supply it. */
export function requireClipBpe(env: NodeJS.ProcessEnv = process.env): string {
  const r = findClipBpe(env);
  if (r.path) return r.path;
  const local = defaultBpePath();
  const pkgs = CLIP_BPE_PACKAGES.map((p) => `${p}/`).join(' and ');
  throw new Error(
    [
      `the CLIP BPE vocabulary ${CLIP_BPE_FILE} was not found. Looked in:`,
      `  ${path.dirname(local)}/ (KIT_CLIP_BPE is not set)`,
      `  ${pkgs} in ${r.packageDirs.length} Python package folders: ${r.packageDirs.join(', ')}`,
      r.asked.length
        ? `  ${r.asked.join(', ')} (importlib): ${r.reported.length ? `package folders ${r.reported.join(', ')} have no ${CLIP_BPE_FILE}` : `${CLIP_BPE_PACKAGES.join(' / ')} not installed`}`
        : '  no python3 answered where open_clip is installed',
      `Pass its path (--vocab, ClipTokenizer.fromFile(path)), set KIT_CLIP_BPE, copy it to ${path.relative(projectRoot(), local)}, ` +
        'or `pip install open_clip_torch` (it ships the file); the original is in openai/CLIP (MIT).',
    ].join('\n'),
  );
}

/** GPT-2 `bytes_to_unicode`: printable bytes map to themselves, the rest to U+0100…. */
export function bytesToUnicode(): string[] {
  const bs: number[] = [];
  for (let b = '!'.charCodeAt(0); b <= '~'.charCodeAt(0); b++) bs.push(b);
  for (let b = 0xa1; b <= 0xac; b++) bs.push(b);
  for (let b = 0xae; b <= 0xff; b++) bs.push(b);
  const cs = bs.slice();
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n);
      n++;
    }
  }
  const out = new Array<string>(256);
  bs.forEach((b, i) => { out[b] = String.fromCodePoint(cs[i]); });
  return out;
}

// ---------------------------------------------------------------------------------------------
// Cleaning
// ---------------------------------------------------------------------------------------------

/** HTML5 named entities the kit resolves (the common ones; Python's table has 2,231). */
const HTML_ENTITIES: Record<string, string> = {
  amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: '\u00a0', copy: '©', reg: '®', trade: '™',
  hellip: '…', mdash: '—', ndash: '–', lsquo: '‘', rsquo: '’', ldquo: '“', rdquo: '”', sbquo: '‚', bdquo: '„',
  laquo: '«', raquo: '»', deg: '°', middot: '·', times: '×', divide: '÷', plusmn: '±', sup2: '²', sup3: '³',
  frac12: '½', frac14: '¼', frac34: '¾', micro: 'µ', para: '¶', sect: '§', euro: '€', pound: '£', yen: '¥',
  cent: '¢', iexcl: '¡', iquest: '¿', bull: '•', prime: '′', Prime: '″', ensp: '\u2002', emsp: '\u2003',
  thinsp: '\u2009', zwnj: '\u200c', zwj: '\u200d', shy: '\u00ad', eacute: 'é', egrave: 'è', ecirc: 'ê',
  euml: 'ë', aacute: 'á', agrave: 'à', acirc: 'â', auml: 'ä', atilde: 'ã', aring: 'å', aelig: 'æ', ccedil: 'ç',
  iacute: 'í', igrave: 'ì', icirc: 'î', iuml: 'ï', oacute: 'ó', ograve: 'ò', ocirc: 'ô', ouml: 'ö', otilde: 'õ',
  oslash: 'ø', uacute: 'ú', ugrave: 'ù', ucirc: 'û', uuml: 'ü', ntilde: 'ñ', szlig: 'ß', Eacute: 'É', Auml: 'Ä',
  Ouml: 'Ö', Uuml: 'Ü', Ntilde: 'Ñ', Ccedil: 'Ç', larr: '←', rarr: '→', uarr: '↑', darr: '↓', harr: '↔',
  le: '≤', ge: '≥', ne: '≠', asymp: '≈', infin: '∞', minus: '−',
};
/** Entities Python's `html.unescape` also accepts without the trailing ';' (HTML4 legacy names). */
const LEGACY_NO_SEMICOLON = new Set(['amp', 'lt', 'gt', 'quot', 'nbsp', 'copy', 'reg', 'deg', 'middot', 'times',
  'divide', 'plusmn', 'sup2', 'sup3', 'frac12', 'frac14', 'frac34', 'micro', 'para', 'sect', 'pound', 'yen', 'cent',
  'iexcl', 'iquest', 'laquo', 'raquo', 'shy', 'eacute', 'egrave', 'ecirc', 'euml', 'aacute', 'agrave', 'acirc',
  'auml', 'atilde', 'aring', 'aelig', 'ccedil', 'iacute', 'igrave', 'icirc', 'iuml', 'oacute', 'ograve', 'ocirc',
  'ouml', 'otilde', 'oslash', 'uacute', 'ugrave', 'ucirc', 'uuml', 'ntilde', 'szlig', 'Eacute', 'Auml', 'Ouml',
  'Uuml', 'Ntilde', 'Ccedil']);
/** Python `html._invalid_charrefs` for the C1 range (Windows-1252 interpretation). */
const INVALID_CHARREFS: Record<number, string> = {
  0x00: '\ufffd', 0x0d: '\r', 0x80: '\u20ac', 0x81: '\x81', 0x82: '\u201a', 0x83: '\u0192', 0x84: '\u201e',
  0x85: '\u2026', 0x86: '\u2020', 0x87: '\u2021', 0x88: '\u02c6', 0x89: '\u2030', 0x8a: '\u0160', 0x8b: '\u2039',
  0x8c: '\u0152', 0x8d: '\x8d', 0x8e: '\u017d', 0x8f: '\x8f', 0x90: '\x90', 0x91: '\u2018', 0x92: '\u2019',
  0x93: '\u201c', 0x94: '\u201d', 0x95: '\u2022', 0x96: '\u2013', 0x97: '\u2014', 0x98: '\u02dc', 0x99: '\u2122',
  0x9a: '\u0161', 0x9b: '\u203a', 0x9c: '\u0153', 0x9d: '\x9d', 0x9e: '\u017e', 0x9f: '\u0178',
};

/** Python `html.unescape` (numeric references exactly; named references from the table above). */
export function htmlUnescape(s: string): string {
  if (!s.includes('&')) return s;
  return s.replace(/&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)/g, (m, body: string) => {
    if (body[0] === '#') {
      const hex = body[1] === 'x' || body[1] === 'X';
      const num = parseInt(body.slice(hex ? 2 : 1).replace(/;$/, ''), hex ? 16 : 10);
      if (num in INVALID_CHARREFS) return INVALID_CHARREFS[num];
      if ((num >= 0xd800 && num <= 0xdfff) || num > 0x10ffff) return '\ufffd';
      if ((num >= 0x1 && num <= 0x8) || (num >= 0xe && num <= 0x1f) || (num >= 0x7f && num <= 0x9f) ||
        (num >= 0xfdd0 && num <= 0xfdef) || num === 0xb || (num & 0xfffe) === 0xfffe) return '';
      return String.fromCodePoint(num);
    }
    const semi = body.endsWith(';');
    const name = semi ? body.slice(0, -1) : body;
    if (semi && name in HTML_ENTITIES) return HTML_ENTITIES[name];
    // Python: the longest legacy prefix without ';' is replaced, the rest kept.
    for (let k = name.length; k > 1; k--) {
      const pre = name.slice(0, k);
      if (LEGACY_NO_SEMICOLON.has(pre)) return HTML_ENTITIES[pre] + body.slice(k);
    }
    return m;
  });
}

/** Latin ligatures ftfy expands (`fix_latin_ligatures`). */
const LIGATURES: Record<string, string> = {
  '\u0132': 'IJ', '\u0133': 'ij', '\u0149': "ʼn", '\u01c4': 'DŽ', '\u01c5': 'Dž', '\u01c6': 'dž', '\u01c7': 'LJ',
  '\u01c8': 'Lj', '\u01c9': 'lj', '\u01ca': 'NJ', '\u01cb': 'Nj', '\u01cc': 'nj', '\u01f1': 'DZ', '\u01f2': 'Dz',
  '\u01f3': 'dz', '\ufb00': 'ff', '\ufb01': 'fi', '\ufb02': 'fl', '\ufb03': 'ffi', '\ufb04': 'ffl', '\ufb05': 'ſt',
  '\ufb06': 'st',
};

/**
 * ftfy `fix_text` with default settings, minus mojibake repair: HTML unescape when the text does not
 * look like HTML, terminal escapes removed, ligatures expanded, full-width characters narrowed, curly
 * quotes straightened, line breaks unified, control characters removed, then NFC.
 */
export function fixText(text: string): string {
  let s = text;
  if (!/<[a-zA-Z/!]/.test(s)) s = htmlUnescape(s); // ftfy unescape_html='auto'
  s = s.replace(/\x1b\[[0-9;]*[A-Za-z]/g, ''); // remove_terminal_escapes
  s = s.replace(/[\u0132\u0133\u0149\u01c4-\u01cc\u01f1-\u01f3\ufb00-\ufb06]/g, (c) => LIGATURES[c] ?? c);
  // fix_character_width: full-width ASCII variants → ASCII, ideographic space → space (NFKC of that block).
  s = s.replace(/[\uff01-\uff5e]/g, (c) => String.fromCharCode(c.charCodeAt(0) - 0xfee0)).replace(/\u3000/g, ' ');
  s = s.replace(/[\u02bc\u2018-\u201b]/g, "'").replace(/[\u201c-\u201f]/g, '"'); // uncurl_quotes
  s = s.replace(/\r\n|[\r\u2028\u2029\u0085]/g, '\n'); // fix_line_breaks
  // remove_control_chars (keeps \t \n \f \r), plus BOM / bidi / interlinear annotation marks as ftfy does.
  s = s.replace(/[\x00-\x08\x0b\x0e-\x1f\x7f\u206a-\u206f\ufeff\ufff9-\ufffc\u180b-\u180d\u034f\u061c]/g, '');
  return s.normalize('NFC');
}

/** Python `str.isspace` whitespace (what `re.sub(r'\s+', ...)` collapses on str). */
const PY_WS = /[\s\x1c-\x1f\x85]+/g;

/** The reference `whitespace_clean(basic_clean(text)).lower()`. */
export function clipCleanText(text: string): string {
  let s = fixText(text);
  s = htmlUnescape(htmlUnescape(s));
  s = s.replace(PY_WS, ' ').trim();
  return s.toLowerCase();
}

/** The split pattern (`regex` module semantics with `re.IGNORECASE`). */
const CLIP_PATTERN = /<start_of_text>|<end_of_text>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+/giu;

// ---------------------------------------------------------------------------------------------
// Tokenizer
// ---------------------------------------------------------------------------------------------

/** Options of `encodeBatch`. */
export interface ClipTokenizeOptions {
  /** Row length (default 77). */
  contextLength?: number;
}

/** The CLIP BPE tokenizer. Build with `ClipTokenizer.fromFile(path)`. */
export class ClipTokenizer {
  private readonly encoder = new Map<string, number>();
  private readonly decoderTable: string[] = [];
  private readonly ranks = new Map<string, number>();
  private readonly byteEncoder = bytesToUnicode();
  private readonly byteDecoder = new Map<string, number>();
  private readonly cache = new Map<string, string[]>();
  private readonly utf8 = new TextEncoder();
  /** Largest cache size before it is cleared (bounded memory on huge corpora). */
  private static readonly CACHE_LIMIT = 100000;
  readonly vocabSize: number;
  readonly sot = CLIP_SOT;
  readonly eot = CLIP_EOT;

  /** `mergesText` is the decompressed vocab file (first line = version header). */
  constructor(mergesText: string, source = 'bpe vocabulary') {
    const lines = mergesText.split('\n');
    if (lines.length < CLIP_NUM_MERGES + 1) {
      throw new Error(`${source}: ${lines.length} lines, expected at least ${CLIP_NUM_MERGES + 1} (a CLIP bpe_simple_vocab file)`);
    }
    const merges: [string, string][] = [];
    for (let i = 1; i <= CLIP_NUM_MERGES; i++) {
      const parts = lines[i].split(' ');
      if (parts.length !== 2) throw new Error(`${source} line ${i + 1}: expected a merge "a b", got ${JSON.stringify(lines[i])}`);
      merges.push([parts[0], parts[1]]);
    }
    const vocab: string[] = [];
    // Order: byte symbols in bytes_to_unicode order (printables first), then with </w>.
    const order = byteOrder();
    for (const b of order) vocab.push(this.byteEncoder[b]);
    for (const b of order) vocab.push(this.byteEncoder[b] + '</w>');
    for (const [a, b] of merges) vocab.push(a + b);
    vocab.push('<start_of_text>', '<end_of_text>');
    vocab.forEach((v, i) => { this.encoder.set(v, i); this.decoderTable[i] = v; });
    merges.forEach(([a, b], i) => this.ranks.set(`${a} ${b}`, i));
    this.byteEncoder.forEach((c, b) => this.byteDecoder.set(c, b));
    this.vocabSize = vocab.length;
    if (this.vocabSize !== CLIP_VOCAB_SIZE) throw new Error(`${source}: vocabulary has ${this.vocabSize} entries, expected ${CLIP_VOCAB_SIZE}`);
    this.cache.set('<start_of_text>', ['<start_of_text>']);
    this.cache.set('<end_of_text>', ['<end_of_text>']);
  }

  /** Reads a vocab file (`.gz` via zlib, else plain text); without a path, the one findClipBpe() finds. */
  static fromFile(file?: string): ClipTokenizer {
    if (file === undefined) file = requireClipBpe();
    let bytes: Buffer;
    try {
      bytes = fs.readFileSync(file);
    } catch (e) {
      throw new Error(`${file}: cannot read the CLIP BPE vocabulary (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); ` +
        `download ${CLIP_BPE_FILE} from openai/CLIP (MIT) and pass its path`);
    }
    let text: string;
    try {
      text = (bytes[0] === 0x1f && bytes[1] === 0x8b ? zlib.gunzipSync(bytes) : bytes).toString('utf8');
    } catch (e) {
      throw new Error(`${file}: not a valid gzip file: ${(e as Error).message}`);
    }
    return new ClipTokenizer(text, file);
  }

  private bpe(token: string): string[] {
    const hit = this.cache.get(token);
    if (hit !== undefined) return hit;
    const chars = Array.from(token);
    let word: string[] = chars.slice(0, -1);
    word.push(chars[chars.length - 1] + '</w>');
    if (word.length === 1) {
      this.remember(token, word);
      return word;
    }
    for (;;) {
      let best = -1;
      let bestRank = Infinity;
      for (let i = 0; i < word.length - 1; i++) {
        const r = this.ranks.get(`${word[i]} ${word[i + 1]}`);
        if (r !== undefined && r < bestRank) { bestRank = r; best = i; }
      }
      if (best < 0) break;
      const first = word[best];
      const second = word[best + 1];
      const next: string[] = [];
      let i = 0;
      while (i < word.length) {
        // Python: find the next occurrence of `first` from i, copy what is before it.
        let j = -1;
        for (let k = i; k < word.length; k++) if (word[k] === first) { j = k; break; }
        if (j < 0) { for (let k = i; k < word.length; k++) next.push(word[k]); break; }
        for (let k = i; k < j; k++) next.push(word[k]);
        i = j;
        if (word[i] === first && i < word.length - 1 && word[i + 1] === second) {
          next.push(first + second);
          i += 2;
        } else {
          next.push(word[i]);
          i += 1;
        }
      }
      word = next;
      if (word.length === 1) break;
    }
    this.remember(token, word);
    return word;
  }

  private remember(token: string, word: string[]): void {
    if (this.cache.size > ClipTokenizer.CACHE_LIMIT) this.cache.clear();
    this.cache.set(token, word);
  }

  /** Token ids of one text (no SOT/EOT, no truncation), as `SimpleTokenizer.encode`. */
  encode(text: string): number[] {
    const ids: number[] = [];
    const clean = clipCleanText(text);
    for (const m of clean.matchAll(CLIP_PATTERN)) {
      const bytes = this.utf8.encode(m[0]);
      let t = '';
      for (const b of bytes) t += this.byteEncoder[b];
      for (const piece of this.bpe(t)) {
        const id = this.encoder.get(piece);
        if (id === undefined) throw new Error(`CLIP tokenizer: BPE piece ${JSON.stringify(piece)} not in the vocabulary`);
        ids.push(id);
      }
    }
    return ids;
  }

  /** Decodes ids back to text (`SimpleTokenizer.decode`: `</w>` → space, specials kept). */
  decode(ids: ArrayLike<number>): string {
    const bytes: number[] = [];
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (id === 0 && i > 0) continue; // padding
      const s = this.decoderTable[id];
      if (s === undefined) throw new Error(`CLIP tokenizer: id ${id} outside the vocabulary`);
      for (const ch of s) {
        const b = this.byteDecoder.get(ch);
        if (b !== undefined) bytes.push(b);
        else for (const x of this.utf8.encode(ch)) bytes.push(x);
      }
    }
    return new TextDecoder('utf-8', { fatal: false }).decode(new Uint8Array(bytes)).replace(/<\/w>/g, ' ');
  }

  /** One row: `[SOT] + ids + [EOT]`, zero padded; too long → cut, last id EOT. */
  encodeRow(text: string, contextLength = CLIP_CONTEXT_LENGTH): Int32Array {
    const row = new Int32Array(contextLength);
    const ids = this.encode(text);
    const all = [this.sot, ...ids, this.eot];
    const n = Math.min(all.length, contextLength);
    for (let i = 0; i < n; i++) row[i] = all[i];
    if (all.length > contextLength) row[contextLength - 1] = this.eot;
    return row;
  }

  /** Rows for a batch of texts: Int32Array `[texts.length · contextLength]` (row-major). */
  encodeBatch(texts: readonly string[], opts: ClipTokenizeOptions = {}): Int32Array {
    const L = opts.contextLength ?? CLIP_CONTEXT_LENGTH;
    if (!(L >= 2)) throw new Error(`CLIP tokenizer: context length ${L} < 2`);
    const out = new Int32Array(texts.length * L);
    texts.forEach((t, i) => out.set(this.encodeRow(t, L), i * L));
    return out;
  }

  /** Number of tokens of a text including SOT/EOT, before truncation. */
  countTokens(text: string): number {
    return this.encode(text).length + 2;
  }
}

/** Byte order of `bytes_to_unicode()` values (printables first, then the remapped rest). */
function byteOrder(): number[] {
  const bs: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) bs.push(b);
  for (let b = 0xa1; b <= 0xac; b++) bs.push(b);
  for (let b = 0xae; b <= 0xff; b++) bs.push(b);
  for (let b = 0; b < 256; b++) if (!bs.includes(b)) bs.push(b);
  return bs;
}
