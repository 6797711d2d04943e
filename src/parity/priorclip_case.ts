/**
 * Parity case `priorclip` (golden README §7): the whole open_clip "PIR" model and its intermediates,
 * with the weights taken from the fixture's `param/*` tensors AND from every attached PyTorch
 * checkpoint (`*_state_dict.pt`, `*_train_checkpoint.pt`).
 *
 * Every size comes from the data: the model config from the JSON `model_config` (open_clip format),
 * else inferred from the parameter shapes; inputs from `input/image` (NCHW → NHWC) and `input/text`.
 * Every `output/*` tensor of the fixture must be produced (NCHW for the ResNet feature maps).
 */
import { Capture } from '../models/open_clip/transformer';
import { l2normalize } from '../models/layers';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { SafeTensor, toFloat32, toInt32Array } from '../io/safetensors';
import { SeedStream } from '../utils/random';
import { PriorClip, resolvePriorClipConfig } from '../models/priorclip';
import { PriorClipConfig } from '../models/open_clip/config';
import { KeyTable, OPEN_CLIP_TEXT_KEYS, OPEN_CLIP_TOP_KEYS, OPEN_CLIP_VISION_KEYS, openClipToKitKeys } from '../interop/open_clip_keys';
import { loadStateDict, readStateDict } from '../models/checkpoint';
import { compareTensor, isIntegerDtype } from './compare';
import { ToleranceTable } from './tolerance';
import { ParityRow } from './types';

/** Inputs of the case. */
interface Inputs {
  images: SafeTensor;
  text: SafeTensor;
}

function countIndexed(keys: string[], re: RegExp): number {
  let n = 0;
  for (const k of keys) {
    const m = re.exec(k);
    if (m) n = Math.max(n, Number(m[1]) + 1);
  }
  return n;
}

/**
 * Infer an open_clip PIR config from parameter shapes. Head counts are not visible in weights:
 * `headWidth` (vision + prior pool) and `textHeads` must come from the JSON (defaults: open_clip's 64 / width÷64).
 */
export function inferPriorClipConfig(params: Map<string, SafeTensor>, hints: { headWidth?: number; textHeads?: number } = {}): PriorClipConfig {
  const shape = (k: string): number[] => {
    const t = params.get(k);
    if (!t) throw new Error(`cannot infer the model config: parameter '${k}' is missing`);
    return t.shape;
  };
  const keys = [...params.keys()];
  const [width, , patch] = shape('visual.conv1.weight');
  const grid = Math.round(Math.sqrt(shape('visual.positional_embedding')[0] - 1));
  const [textWidth, embed] = shape('text_projection');
  const headWidth = hints.headWidth ?? 64;
  return resolvePriorClipConfig({
    name: 'inferred',
    embedDim: embed,
    vision: {
      imageSize: grid * patch,
      layers: countIndexed(keys, /^visual\.transformer\.resblocks\.(\d+)\./),
      width,
      patchSize: patch,
      headWidth,
      mlpRatio: shape('visual.transformer.resblocks.0.mlp.c_fc.weight')[0] / width,
      resLayers: [1, 2, 3, 4].map((s) => countIndexed(keys, new RegExp(`^res_visual\\.layer${s}\\.(\\d+)\\.`))),
      resWidth: shape('res_visual.conv3.weight')[0],
    },
    text: {
      contextLength: shape('positional_embedding')[0],
      vocabSize: shape('token_embedding.weight')[0],
      width: textWidth,
      heads: hints.textHeads ?? Math.max(1, textWidth / 64),
      layers: countIndexed(keys, /^transformer\.resblocks\.(\d+)\./),
      mlpRatio: shape('transformer.resblocks.0.mlp.c_fc.weight')[0] / textWidth,
    },
  });
}

/**
 * The config of the case: the JSON's `model_config` (open_clip, snake_case) converted by the interop
 * key table and merged on PIR.json defaults, else inferred. open_clip configs may carry keys the kit
 * does not model (e.g. `timm_model_name`): only the table's keys are kept here, the fixture being
 * someone else's file; `fromForkModelConfig` (a file the user names) refuses them instead.
 */
export function caseConfig(json: Record<string, unknown>, params: Map<string, SafeTensor>, source: string): PriorClipConfig {
  const mc = json.model_config as Record<string, unknown> | undefined;
  const soft = typeof json.soft_belief === 'string' ? { softBelief: json.soft_belief } : {};
  if (mc && typeof mc === 'object') {
    const pick = (o: unknown, table: KeyTable): Record<string, unknown> =>
      Object.fromEntries(Object.entries((o ?? {}) as Record<string, unknown>).filter(([k]) => k in table));
    const filtered = pick(mc, OPEN_CLIP_TOP_KEYS);
    if ('vision_cfg' in filtered) filtered.vision_cfg = pick(mc.vision_cfg, OPEN_CLIP_VISION_KEYS);
    if ('text_cfg' in filtered) filtered.text_cfg = pick(mc.text_cfg, OPEN_CLIP_TEXT_KEYS);
    const src = `${source} model_config`;
    return resolvePriorClipConfig({ ...openClipToKitKeys(filtered, src), name: path.basename(source), ...soft }, src);
  }
  const d = (json.derived ?? {}) as Record<string, unknown>;
  const width = params.get('visual.conv1.weight')?.shape[0];
  const headWidth = typeof d.vision_heads === 'number' && width ? width / d.vision_heads : undefined;
  return inferPriorClipConfig(params, { headWidth });
}

/** Run the model on the inputs with the given weights and compare every output. */
function runOnce(
  label: string,
  cfg: PriorClipConfig,
  weights: Map<string, SafeTensor>,
  weightsSource: string,
  inputs: Inputs,
  expected: Map<string, SafeTensor>,
  tol: ToleranceTable,
): ParityRow[] {
  const model = new PriorClip(cfg, new SeedStream(0).child('parity'));
  const rows: ParityRow[] = [];
  let outs: Map<string, tf.Tensor> | null = null;
  try {
    loadStateDict(model.params, weights, { source: weightsSource });
    const images = tf.tidy(() => tf.transpose(tf.tensor4d(toFloat32(inputs.images), inputs.images.shape as [number, number, number, number]), [0, 2, 3, 1])); // NCHW → NHWC
    const tokens = tf.tensor2d(toInt32Array(inputs.text, 'input/text'), inputs.text.shape as [number, number], 'int32');
    try {
      outs = forwardWithIntermediates(model, images, tokens);
    } finally {
      images.dispose();
      tokens.dispose();
    }
    for (const [name, exp] of expected) {
      const key = name.slice('output/'.length);
      const rowName = `${label}${name}`;
      const got = outs.get(key);
      if (!got) {
        rows.push({ name: rowName, maxAbs: Infinity, maxRel: Infinity, pass: false, error: 'not computed by the kit model' });
        continue;
      }
      const t = got.rank === 4 ? tf.transpose(got, [0, 3, 1, 2]) : got; // NHWC → NCHW for feature maps
      rows.push(compareTensor(rowName, t.dataSync() as ArrayLike<number>, t.shape, exp, tol.forOutput(name, isIntegerDtype(exp.dtype))));
      if (t !== got) t.dispose();
    }
  } finally {
    if (outs) for (const t of outs.values()) t.dispose();
    model.dispose();
  }
  return rows;
}

/** Run the priorclip case. */
export function runPriorClipCase(
  fixtureFile: string,
  json: Record<string, unknown>,
  tensors: Map<string, SafeTensor>,
  checkpoints: string[],
  tol: ToleranceTable,
): ParityRow[] {
  const params = new Map<string, SafeTensor>();
  const expected = new Map<string, SafeTensor>();
  for (const [k, v] of tensors) {
    if (k.startsWith('param/')) params.set(k.slice('param/'.length), v);
    else if (k.startsWith('output/')) expected.set(k, v);
  }
  const images = tensors.get('input/image');
  const text = tensors.get('input/text');
  if (!images || !text) throw new Error(`${fixtureFile}: needs input/image and input/text`);
  if (expected.size === 0) throw new Error(`${fixtureFile}: no output/* tensors to compare`);
  const cfg = caseConfig(json, params, fixtureFile);
  const inputs = { images, text };
  const rows = runOnce('', cfg, params, fixtureFile, inputs, expected, tol);
  for (const ck of checkpoints) {
    const label = `[${path.basename(ck)}] `;
    const sd = readStateDict(ck);
    // The checkpoint's tensors must equal the fixture's params bit for bit…
    let differing = 0;
    for (const [k, v] of params) {
      const w = sd.tensors.get(k);
      if (!w || w.dtype !== v.dtype || w.shape.join() !== v.shape.join()) {
        differing++;
        continue;
      }
      const a = toFloat32(v);
      const b = toFloat32(w);
      for (let i = 0; i < a.length; i++) {
        if (!Object.is(a[i], b[i])) {
          differing++;
          break;
        }
      }
    }
    rows.push({
      name: `${label}state_dict (${sd.tensors.size} tensors${sd.info.epoch !== undefined ? `, epoch ${sd.info.epoch}` : ''}) == param/*`,
      maxAbs: differing === 0 && sd.tensors.size === params.size ? 0 : Infinity,
      maxRel: 0,
      pass: differing === 0 && sd.tensors.size === params.size,
      exact: true,
      error: differing > 0 || sd.tensors.size !== params.size ? `${differing} tensors differ, ${sd.tensors.size} vs ${params.size} keys` : undefined,
    });
    // …and the model loaded from it must reproduce every output.
    rows.push(...runOnce(label, cfg, sd.tensors, ck, inputs, expected, tol));
  }
  return rows;
}

/**
 * Everything the parity fixture checks: the model's full forward through its traced encoders
 * (`encodeImageRaw` / `encodeTextRaw` with a capture), returning the named intermediates (`res/*`,
 * `vision_proj_res`, `vit/*`, `text/ln_final`, the raw and normalised embeddings, `logit_scale`,
 * `logits_per_image`). Caller disposes the returned tensors.
 */
export function forwardWithIntermediates(model: PriorClip, images: tf.Tensor4D, tokens: tf.Tensor2D): Map<string, tf.Tensor> {
  const out = new Map<string, tf.Tensor>();
  const capture: Capture = (name, t) => {
    out.get(name)?.dispose();
    out.set(name, tf.keep(t.clone()));
  };
  tf.tidy(() => {
    const img = model.encodeImageRaw(images, capture);
    const txt = model.encodeTextRaw(tokens, capture);
    const imgN = l2normalize(img, -1); // [B, E]
    const txtN = l2normalize(txt, -1); // [N, E]
    const scale = model.logitScale();
    capture('image_features', imgN);
    capture('text_features', txtN);
    capture('logit_scale', scale);
    capture('logits_per_image', tf.mul(scale, tf.matMul(imgN, txtN, false, true))); // [B, E]·[N, E]ᵀ → [B, N]
  });
  return out;
}
