/**
 * Temporal-PAE step by step on one caption batch (notebook 03). The model's text side gives the
 * projected tokens T; the module's own `trace` gives every round (SA output A, mapped previous step
 * = the CA query, CA output = next X). On top, per round:
 *
 * - cos(X_prev[j], X_new[j]) per token position (how much the round rewrote each token; pads too,
 *   since PIR attends to them);
 * - the cross-attention of token 0's query (the mapped previous token 0) over the self-attended
 *   current step: which words the summary slot reads in that round;
 * - the mean pairwise token similarity.
 */
import * as tf from '@tensorflow/tfjs';
import { PirModel } from '../../models/pir';
import { l2normalize } from '../../models/layers';
import { WORD_EOT, WORD_PAD, WORD_SOT, WordTokenizer } from '../../data/word_tokenizer';
import { RoundSummary, meanTokenSimilarity, summarizeRounds } from './spatial';

/** Per-round, per-position change of the tokens. */
export interface TemporalRound extends RoundSummary {
  /** cos(X_prev[b, j], X_new[b, j]) `[B][L]`. */
  cosPerToken: number[][];
  /** Mean of cosPerToken over word positions (SOT, words, EOT) and over pad positions. */
  meanCosWords: number;
  meanCosPads: number;
}

/** Everything notebook 03 shows about one Temporal-PAE call. */
export interface TemporalWalkthrough {
  batch: number;
  length: number;
  width: number;
  /** Token strings per caption and position (`<sot>`, words, `<eot>`, `<pad>`). */
  words: string[][];
  initialTokenSimilarity: number;
  rounds: TemporalRound[];
  /** cos(final embedding, normalize(T[:, 0])) per caption: how far the PAE branch moved it from token 0. */
  embeddingVsToken0: number[];
  shapes: { tensor: string; shape: string; meaning: string }[];
}

/** Token strings of id rows `[B, L]`. */
export function tokenStrings(tok: WordTokenizer, ids: Int32Array, length: number): string[][] {
  const B = ids.length / length;
  return Array.from({ length: B }, (_, b) =>
    Array.from(ids.subarray(b * length, (b + 1) * length), (id) => (id === WORD_PAD ? '<pad>' : id === WORD_SOT ? '<sot>' : id === WORD_EOT ? '<eot>' : tok.tokens[id] ?? '<unk>')),
  );
}

/** Run the model's Temporal-PAE on token ids `[B, L]` and summarise every round. */
export function traceTemporalPae(model: PirModel, tok: WordTokenizer, ids: Int32Array, length: number): TemporalWalkthrough {
  const pae = model.temporalPae;
  if (!pae) throw new Error(`traceTemporalPae: model '${model.config.name}' has temporalPae.enabled = false`);
  const B = ids.length / length;
  if (!Number.isInteger(B) || B < 1) throw new Error(`traceTemporalPae: ${ids.length} ids are not rows of length ${length}`);
  const tokens = tf.tensor2d(ids, [B, length], 'int32');
  const T = model.textTokens(tokens); // [B, L, D]
  const trace = pae.trace(T, null);
  try {
    const D = (T.shape as number[])[2];
    const words = tokenStrings(tok, ids, length);
    const base = summarizeRounds(T, trace.rounds, pae.cfg.heads);
    let prev: tf.Tensor3D = T;
    const rounds: TemporalRound[] = base.map((r, i) => {
      const next = trace.rounds[i].caOut;
      const cosPerToken = tf.tidy(() => tf.sum(tf.mul(l2normalize(prev, -1), l2normalize(next, -1)), -1).arraySync() as number[][]); // [B, L]
      prev = next;
      let ws = 0;
      let wn = 0;
      let ps = 0;
      let pn = 0;
      cosPerToken.forEach((row, b) =>
        row.forEach((v, j) => {
          if (words[b][j] === '<pad>') {
            ps += v;
            pn++;
          } else {
            ws += v;
            wn++;
          }
        }),
      );
      return { ...r, cosPerToken, meanCosWords: wn ? ws / wn : Number.NaN, meanCosPads: pn ? ps / pn : Number.NaN };
    });
    const embeddingVsToken0 = tf.tidy(() => {
      const t0 = l2normalize(tf.reshape(tf.slice(T, [0, 0, 0], [B, 1, D]), [B, D]), -1); // [B, D]
      return Array.from(tf.sum(tf.mul(t0, trace.tEmb), -1).dataSync());
    });
    return {
      batch: B,
      length,
      width: D,
      words,
      initialTokenSimilarity: meanTokenSimilarity(T),
      rounds,
      embeddingVsToken0,
      shapes: [
        { tensor: 'ids', shape: `[${B}, ${length}]`, meaning: '<sot> words <eot> <pad>… (padded to the longest caption)' },
        { tensor: 'T = text_proj(text encoder)', shape: `[${B}, ${length}, ${D}]`, meaning: 'token 0 (<sot>, BERT’s [CLS]) is the global text token' },
        { tensor: 'A = txt_sa[i](X)', shape: `[${B}, ${length}, ${D}]`, meaning: 'the current step, self-attended' },
        { tensor: 'query = mapping_txt[i](X)', shape: `[${B}, ${length}, ${D}]`, meaning: 'the previous step, mapped: one query per position' },
        { tensor: 'X = txt_ca[i](query, A)', shape: `[${B}, ${length}, ${D}]`, meaning: 'keys, values and residual from A' },
        { tensor: 't = normalize(T[:, 0] + head_txt(X[:, 0]))', shape: `[${B}, ${D}]`, meaning: 'text embedding (unit length)' },
      ],
    };
  } finally {
    tf.dispose([tokens, T, trace as unknown as tf.TensorContainerObject]);
  }
}

/** One row per round (for `showTable`). */
export function temporalRoundRows(w: TemporalWalkthrough): Record<string, number | string>[] {
  const rows: Record<string, number | string>[] = [
    { step: 'T (projected text tokens)', 'cos(before, after): words': '', 'cos(before, after): pads': '', 'token–token similarity': w.initialTokenSimilarity },
  ];
  for (const r of w.rounds) {
    rows.push({
      step: `after round ${r.round}`,
      'cos(before, after): words': r.meanCosWords,
      'cos(before, after): pads': r.meanCosPads,
      'token–token similarity': r.tokenSimilarity,
    });
  }
  return rows;
}
