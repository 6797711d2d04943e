/**
 * Parity case `clip_tokenizer` (golden README §8): the kit's CLIP BPE tokenizer on the fixture's
 * captions must give exactly `output/ids`. The vocabulary is looked up in `KIT_CLIP_BPE`, the kit's
 * data folder, the fixture folder and `<fixture>/../vocab/`, and checked against the JSON's sha256.
 */
import * as fs from 'fs';
import * as path from 'path';
import { SafeTensor, toInt32Numbers } from '../io/safetensors';
import { sha256File } from '../utils/fs';
import { ClipTokenizer, CLIP_BPE_FILE, defaultBpePath, findClipBpe } from '../data/clip_tokenizer';
import { ParityRow } from './types';

/** Candidate vocabulary paths, in order. */
export function vocabCandidates(fixtureDir: string): string[] {
  const c: string[] = [];
  if (process.env.KIT_CLIP_BPE) c.push(process.env.KIT_CLIP_BPE);
  c.push(defaultBpePath(), path.join(fixtureDir, CLIP_BPE_FILE), path.join(fixtureDir, '..', 'vocab', CLIP_BPE_FILE));
  // Then an installed Python open_clip / clip package's copy (findClipBpe's package search).
  const found = c.some((p) => fs.existsSync(p)) ? null : findClipBpe({ ...process.env, KIT_CLIP_BPE: '' }).path;
  if (found) c.push(found);
  return c;
}

/** Run the tokenizer case. */
export function runClipTokenizerCase(file: string, json: Record<string, unknown>, tensors: Map<string, SafeTensor>): ParityRow[] {
  const ids = tensors.get('output/ids');
  if (!ids) throw new Error(`${file}: tensor 'output/ids' is missing`);
  const entries = json.entries as { text: string }[] | undefined;
  if (!Array.isArray(entries)) throw new Error(`${file}: JSON sidecar has no 'entries' list of {text, ids}`);
  const [n, ctx] = ids.shape;
  if (entries.length !== n) throw new Error(`${file}: ${entries.length} entries vs ${n} rows of output/ids`);
  const dir = path.dirname(file);
  const vocab = vocabCandidates(dir).find((p) => fs.existsSync(p));
  if (!vocab) throw new Error(`${file}: CLIP vocabulary ${CLIP_BPE_FILE} not found (tried ${vocabCandidates(dir).join(', ')}; set KIT_CLIP_BPE)`);
  const rows: ParityRow[] = [];
  if (typeof json.vocab_sha256 === 'string') {
    const h = sha256File(vocab);
    rows.push({ name: `vocabulary sha256 (${vocab})`, maxAbs: h === json.vocab_sha256 ? 0 : 1, maxRel: 0, pass: h === json.vocab_sha256, exact: true, error: h === json.vocab_sha256 ? undefined : `got ${h}` });
  }
  const tok = ClipTokenizer.fromFile(vocab);
  const got = tok.encodeBatch(entries.map((e) => e.text), { contextLength: ctx });
  const exp = toInt32Numbers(ids, 'output/ids');
  let wrongRows = 0;
  let maxAbs = 0;
  for (let r = 0; r < n; r++) {
    let bad = false;
    for (let j = 0; j < ctx; j++) {
      const d = Math.abs(got[r * ctx + j] - exp[r * ctx + j]);
      if (d !== 0) bad = true;
      maxAbs = Math.max(maxAbs, d);
    }
    if (bad) wrongRows++;
  }
  rows.push({ name: `output/ids [${n}, ${ctx}]`, maxAbs, maxRel: 0, pass: wrongRows === 0 && got.length === exp.length, exact: true, error: wrongRows > 0 ? `${wrongRows} of ${n} rows differ` : undefined });
  return rows;
}
