/**
 * Word-level tokenizer for the small kit models (closed-domain PIR stand-ins without BERT): the
 * reference caption cleaning `pre_caption` (method.md §2.1, X-VLM `dataset/utils.py`) followed by a
 * vocabulary built from the training captions.
 *
 * Ids: 0 `<pad>`, 1 `<unk>`, 2 `<sot>` (the [CLS] position: models pool here or at EOT), 3 `<eot>`,
 * then words by descending count (ties alphabetical), each seen at least `minCount` times.
 * Rows: `[SOT] + words + [EOT]`, zero padded to the context length; a longer row is cut and its last id
 * set to EOT (the CLIP convention), so EOT is always present.
 */
import { atomicWriteJson, readJson } from '../utils/fs';

/** Padding id (also what `tf.gather` of row padding returns). */
export const WORD_PAD = 0;
/** Unknown-word id. */
export const WORD_UNK = 1;
/** Start-of-text id. */
export const WORD_SOT = 2;
/** End-of-text id. */
export const WORD_EOT = 3;
/** Special tokens in id order. */
export const WORD_SPECIALS = ['<pad>', '<unk>', '<sot>', '<eot>'] as const;
/** The reference `max_words` (PIR configs). */
export const PRE_CAPTION_MAX_WORDS = 30;
/** Default context length: 30 words + SOT + EOT. */
export const WORD_CONTEXT_LENGTH = PRE_CAPTION_MAX_WORDS + 2;
/** Version tag written into vocabulary files. */
const VOCAB_FORMAT = 'priorclip-kit/word-vocab@1';

/**
 * The reference `pre_caption(caption, max_words)`: lowercase; delete `,.'!?"()*#:;~`; `-` and `/` →
 * space; `<person>` → `person`; runs of ≥ 2 whitespace → one space; strip; keep the first `maxWords`
 * space-separated words.
 */
export function preCaption(caption: string, maxWords = PRE_CAPTION_MAX_WORDS): string {
  let s = caption.toLowerCase().replace(/[,.'!?"()*#:;~]/g, '').replace(/-/g, ' ').replace(/\//g, ' ').replace(/<person>/g, 'person');
  s = s.replace(/\s{2,}/g, ' ');
  s = s.replace(/\n+$/, '').replace(/^ +| +$/g, '');
  const words = s.split(' ');
  if (words.length > maxWords) s = words.slice(0, maxWords).join(' ');
  return s;
}

/** Words of a cleaned caption (empty caption → no words). */
function words(clean: string): string[] {
  return clean.split(/\s+/).filter((w) => w.length > 0);
}

/** Options for building a vocabulary. */
export interface WordVocabOptions {
  /** Keep words seen at least this often (default 1). */
  minCount?: number;
  /** Cap on the number of words (most frequent first); default unlimited. */
  maxSize?: number;
  /** `max_words` of `preCaption` (default 30). */
  maxWords?: number;
  /** Row length (default 32). */
  contextLength?: number;
}

/** Saved vocabulary file layout. */
export interface WordVocabJson {
  format: string;
  maxWords: number;
  contextLength: number;
  minCount: number;
  /** Token strings by id (specials first). */
  tokens: string[];
  /** Training counts by id (0 for specials). */
  counts: number[];
}

/** Options of `encodeBatch`. */
export interface WordEncodeOptions {
  /** `max` (default): every row has `contextLength` ids; `longest`: pad to the longest row of the batch (PIR's BERT call). */
  padding?: 'max' | 'longest';
}

/** A word-level tokenizer with a fixed vocabulary. */
export class WordTokenizer {
  readonly tokens: readonly string[];
  readonly counts: readonly number[];
  readonly maxWords: number;
  readonly contextLength: number;
  readonly minCount: number;
  private readonly index = new Map<string, number>();

  constructor(v: WordVocabJson, source = 'word vocabulary') {
    if (v.format !== VOCAB_FORMAT) throw new Error(`${source}: format ${JSON.stringify(v.format)}, expected ${VOCAB_FORMAT}`);
    if (!Array.isArray(v.tokens) || v.tokens.length < WORD_SPECIALS.length) throw new Error(`${source}: "tokens" must list at least the ${WORD_SPECIALS.length} special tokens`);
    WORD_SPECIALS.forEach((s, i) => {
      if (v.tokens[i] !== s) throw new Error(`${source}: token ${i} is ${JSON.stringify(v.tokens[i])}, expected ${s}`);
    });
    if (!Array.isArray(v.counts) || v.counts.length !== v.tokens.length) throw new Error(`${source}: "counts" must have one entry per token (${v.tokens.length})`);
    if (!(Number.isInteger(v.contextLength) && v.contextLength >= 2)) throw new Error(`${source}: contextLength must be an integer ≥ 2, got ${v.contextLength}`);
    if (!(Number.isInteger(v.maxWords) && v.maxWords >= 1)) throw new Error(`${source}: maxWords must be an integer ≥ 1, got ${v.maxWords}`);
    v.tokens.forEach((t, i) => {
      if (typeof t !== 'string' || t.length === 0) throw new Error(`${source}: token ${i} is not a non-empty string`);
      if (this.index.has(t)) throw new Error(`${source}: token ${JSON.stringify(t)} appears twice (ids ${this.index.get(t)} and ${i})`);
      this.index.set(t, i);
    });
    this.tokens = v.tokens.slice();
    this.counts = v.counts.slice();
    this.maxWords = v.maxWords;
    this.contextLength = v.contextLength;
    this.minCount = v.minCount;
  }

  /** Builds the vocabulary from (training) captions. */
  static build(captions: Iterable<string>, opts: WordVocabOptions = {}): WordTokenizer {
    const maxWords = opts.maxWords ?? PRE_CAPTION_MAX_WORDS;
    const minCount = opts.minCount ?? 1;
    const counts = new Map<string, number>();
    for (const c of captions) for (const w of words(preCaption(c, maxWords))) counts.set(w, (counts.get(w) ?? 0) + 1);
    let entries = [...counts.entries()].filter(([w, n]) => n >= minCount && !(WORD_SPECIALS as readonly string[]).includes(w));
    entries.sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    if (opts.maxSize !== undefined) entries = entries.slice(0, opts.maxSize);
    return new WordTokenizer({
      format: VOCAB_FORMAT,
      maxWords,
      contextLength: opts.contextLength ?? maxWords + 2,
      minCount,
      tokens: [...WORD_SPECIALS, ...entries.map((e) => e[0])],
      counts: [...WORD_SPECIALS.map(() => 0), ...entries.map((e) => e[1])],
    });
  }

  /** Number of ids (specials included): the embedding table size. */
  get vocabSize(): number {
    return this.tokens.length;
  }

  /** Id of a word (`<unk>` when unknown). */
  id(word: string): number {
    return this.index.get(word) ?? WORD_UNK;
  }

  /** Ids of one caption: cleaning, words, no SOT/EOT, no truncation beyond `maxWords`. */
  encode(caption: string): number[] {
    return words(preCaption(caption, this.maxWords)).map((w) => this.id(w));
  }

  /** One row of `length` ids (default the context length). */
  encodeRow(caption: string, length = this.contextLength): Int32Array {
    const all = [WORD_SOT, ...this.encode(caption), WORD_EOT];
    const row = new Int32Array(length);
    const n = Math.min(all.length, length);
    for (let i = 0; i < n; i++) row[i] = all[i];
    if (all.length > length) row[length - 1] = WORD_EOT;
    return row;
  }

  /** Rows for a batch, row-major Int32Array; returns the row length used. */
  encodeBatch(captions: readonly string[], opts: WordEncodeOptions = {}): { ids: Int32Array; length: number } {
    let length = this.contextLength;
    if (opts.padding === 'longest') {
      length = 2;
      for (const c of captions) length = Math.max(length, Math.min(this.contextLength, this.encode(c).length + 2));
    }
    const ids = new Int32Array(captions.length * length);
    captions.forEach((c, i) => ids.set(this.encodeRow(c, length), i * length));
    return { ids, length };
  }

  /** Words of ids (specials except `<unk>` dropped). */
  decode(ids: ArrayLike<number>): string {
    const out: string[] = [];
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (id === WORD_EOT) break;
      if (id === WORD_PAD || id === WORD_SOT) continue;
      out.push(this.tokens[id] ?? '<unk>');
    }
    return out.join(' ');
  }

  /** Fraction of words of `captions` that map to `<unk>`. */
  unknownRate(captions: Iterable<string>): number {
    let n = 0;
    let unk = 0;
    for (const c of captions) for (const id of this.encode(c)) { n++; if (id === WORD_UNK) unk++; }
    return n === 0 ? 0 : unk / n;
  }

  toJSON(): WordVocabJson {
    return { format: VOCAB_FORMAT, maxWords: this.maxWords, contextLength: this.contextLength, minCount: this.minCount, tokens: this.tokens.slice(), counts: this.counts.slice() };
  }

  /** Writes the vocabulary atomically. */
  save(file: string): void {
    atomicWriteJson(file, this.toJSON());
  }

  /** Reads a vocabulary file (errors name the file). */
  static load(file: string): WordTokenizer {
    return new WordTokenizer(readJson<WordVocabJson>(file), file);
  }
}
