/**
 * Vocabulary shift: text→image retrieval for queries whose words are rare in the fine training
 * captions, against queries made of well-known words (what the Temporal-PAE and the coarse stage 1
 * are claimed to help with).
 *
 * Words are the reference preprocessing (`preCaption`, split on spaces), so they are the words the
 * word tokenizer sees (case, punctuation). A word's count is its number of occurrences over all
 * fine captions of the training images. A query is
 * - **rare** when its least frequent word occurs fewer than `rareBelow` times in training (this
 *   includes words never seen, which the word tokenizer maps to `<unk>`),
 * - **in-vocabulary** otherwise.
 * For each group: the number of queries and t→i R@1/5/10 from the per-query ranks of the retrieval
 * metrics (0-based, under the evaluation's tie rule), and `gapR1` etc. = in-vocabulary − rare.
 */
import { preCaption } from '../data/word_tokenizer';

/** Default count below which a word is rare in the fine training captions. */
export const DEFAULT_RARE_BELOW = 10;

/** Words of a caption as the word tokenizer sees them (no truncation). */
export function captionWords(caption: string): string[] {
  return preCaption(caption, Number.MAX_SAFE_INTEGER)
    .split(' ')
    .filter((w) => w.length > 0);
}

/** Occurrences of every word over captions. */
export function wordCounts(captions: Iterable<string>): Map<string, number> {
  const m = new Map<string, number>();
  for (const c of captions) for (const w of captionWords(c)) m.set(w, (m.get(w) ?? 0) + 1);
  return m;
}

/** t→i recalls of a group of queries. */
export interface QueryGroup {
  queries: number;
  r1: number;
  r5: number;
  r10: number;
  /** Mean of the three. */
  mean: number;
}

/** Vocabulary-shift result. */
export interface VocabularyShift {
  rareBelow: number;
  /** Distinct words of the test queries never seen in training. */
  unseenWords: number;
  /** Queries with at least one word never seen in training. */
  unseenQueries: number;
  rare: QueryGroup;
  inVocabulary: QueryGroup;
  /** inVocabulary − rare (NaN when a group is empty). */
  gap: { r1: number; r5: number; r10: number; mean: number };
}

function group(ranks: ArrayLike<number>, members: readonly number[]): QueryGroup {
  const n = members.length;
  const at = (k: number): number => (n > 0 ? (100 * members.filter((q) => ranks[q] < k).length) / n : Number.NaN);
  const r1 = at(1);
  const r5 = at(5);
  const r10 = at(10);
  return { queries: n, r1, r5, r10, mean: (r1 + r5 + r10) / 3 };
}

/**
 * Vocabulary shift of text queries `queries` (in the order of `t2iRanks`) given the fine training
 * captions.
 */
export function vocabularyShift(queries: readonly string[], t2iRanks: ArrayLike<number>, trainCaptions: Iterable<string>, rareBelow = DEFAULT_RARE_BELOW): VocabularyShift {
  if (queries.length !== t2iRanks.length) throw new Error(`vocabularyShift: ${queries.length} queries but ${t2iRanks.length} ranks`);
  if (!(rareBelow >= 1)) throw new Error(`vocabularyShift: rareBelow must be ≥ 1, got ${rareBelow}`);
  const counts = wordCounts(trainCaptions);
  const rare: number[] = [];
  const common: number[] = [];
  const unseen = new Set<string>();
  let unseenQueries = 0;
  queries.forEach((q, i) => {
    const ws = captionWords(q);
    let min = Infinity;
    let anyUnseen = false;
    for (const w of ws) {
      const c = counts.get(w) ?? 0;
      if (c === 0) {
        unseen.add(w);
        anyUnseen = true;
      }
      min = Math.min(min, c);
    }
    if (anyUnseen) unseenQueries += 1;
    (min < rareBelow ? rare : common).push(i);
  });
  const r = group(t2iRanks, rare);
  const c = group(t2iRanks, common);
  return {
    rareBelow,
    unseenWords: unseen.size,
    unseenQueries,
    rare: r,
    inVocabulary: c,
    gap: { r1: c.r1 - r.r1, r5: c.r5 - r.r5, r10: c.r10 - r.r10, mean: c.mean - r.mean },
  };
}
