/**
 * ParamStore: every trainable tensor of a kit model, keyed by its PyTorch `state_dict` name.
 *
 * The kit stores weights in the layout tfjs computes fastest with (Linear `[in, out]`, conv HWIO),
 * and records for each one how it maps to PyTorch's layout (Linear `[out, in]`, conv OIHW). That one
 * table is what checkpoint import/export, weight decay rules and freezing read: there is no second
 * name mapping anywhere in the kit.
 *
 * Initial values are drawn from a child seed stream named after the key, so a model's initial
 * weights do not depend on the order in which modules are built.
 */
import * as tf from '@tensorflow/tfjs';
import { SeedStream } from '../utils/random';

/**
 * How a kit tensor maps to the PyTorch tensor of the same key.
 * - `raw`: same shape and order (biases, LayerNorm, embeddings, `visual.proj`, `text_projection`).
 * - `linear`: torch `[out, in]` ↔ kit `[in, out]` (a transpose).
 * - `conv2d`: torch OIHW ↔ kit HWIO.
 */
export type TorchLayout = 'raw' | 'linear' | 'conv2d';

/** How to fill a new parameter. */
export type Init =
  | { kind: 'zeros' }
  | { kind: 'ones' }
  | { kind: 'constant'; value: number }
  | { kind: 'normal'; std: number }
  | { kind: 'uniform'; bound: number };

export const zerosInit: Init = { kind: 'zeros' };
export const onesInit: Init = { kind: 'ones' };
export const normalInit = (std: number): Init => ({ kind: 'normal', std });
export const uniformInit = (bound: number): Init => ({ kind: 'uniform', bound });
export const constantInit = (value: number): Init => ({ kind: 'constant', value });

/** One registered parameter. */
export interface ParamEntry {
  /** PyTorch state_dict key, e.g. `visual.transformer.resblocks.0.attn.in_proj_weight`. */
  key: string;
  /** The tfjs variable (kit layout). */
  variable: tf.Variable;
  /** Layout relation to PyTorch. */
  layout: TorchLayout;
  /** dtype the PyTorch side stores (buffers such as `num_batches_tracked` are int64 there). */
  torchDtype: 'F32' | 'I64';
  /** false for buffers (BatchNorm running stats): never given to an optimiser. */
  trainable: boolean;
}

/** Kit shape → torch shape for a layout. */
export function torchShape(kitShape: readonly number[], layout: TorchLayout): number[] {
  if (layout === 'linear') return [kitShape[1], kitShape[0]];
  if (layout === 'conv2d') return [kitShape[3], kitShape[2], kitShape[0], kitShape[1]];
  return [...kitShape];
}

/** Kit tensor → PyTorch layout (caller disposes). */
export function toTorchLayout(t: tf.Tensor, layout: TorchLayout): tf.Tensor {
  if (layout === 'linear') return tf.transpose(t, [1, 0]); // [in,out] -> [out,in]
  if (layout === 'conv2d') return tf.transpose(t, [3, 2, 0, 1]); // HWIO -> OIHW
  return t.clone();
}

/** PyTorch-layout tensor → kit layout (caller disposes). */
export function fromTorchLayout(t: tf.Tensor, layout: TorchLayout): tf.Tensor {
  if (layout === 'linear') return tf.transpose(t, [1, 0]); // [out,in] -> [in,out]
  if (layout === 'conv2d') return tf.transpose(t, [2, 3, 1, 0]); // OIHW -> HWIO
  return t.clone();
}

/** The parameters of one model. */
export class ParamStore {
  private readonly entries = new Map<string, ParamEntry>();

  constructor(private readonly seeds: SeedStream) {}

  /** Create and register a parameter. `shape` is the kit shape. */
  add(
    key: string,
    shape: number[],
    init: Init,
    layout: TorchLayout = 'raw',
    opts: { trainable?: boolean; torchDtype?: 'F32' | 'I64' } = {},
  ): tf.Variable {
    if (this.entries.has(key)) throw new Error(`ParamStore: duplicate parameter key '${key}'`);
    const trainable = opts.trainable ?? true;
    const value = tf.tidy(() => makeInit(shape, init, this.seeds.child(key)));
    const variable = tf.variable(value, trainable);
    value.dispose();
    this.entries.set(key, { key, variable, layout, trainable, torchDtype: opts.torchDtype ?? 'F32' });
    return variable;
  }

  /** The variable registered under `key`; throws naming the key if absent. */
  get(key: string): tf.Variable {
    const e = this.entries.get(key);
    if (!e) throw new Error(`ParamStore: no parameter '${key}'`);
    return e.variable;
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  /** All entries in registration order (the state_dict order of the reference, where modules follow it). */
  list(): ParamEntry[] {
    return [...this.entries.values()];
  }

  /** Trainable variables whose key passes `filter` (default: all trainable). */
  trainableVariables(filter: (key: string) => boolean = () => true): tf.Variable[] {
    return this.list()
      .filter((e) => e.trainable && filter(e.key))
      .map((e) => e.variable);
  }

  /** Total element count. */
  numElements(filter: (key: string) => boolean = () => true): number {
    return this.list()
      .filter((e) => filter(e.key))
      .reduce((n, e) => n + e.variable.size, 0);
  }

  /** Dispose every variable. */
  dispose(): void {
    for (const e of this.entries.values()) e.variable.dispose();
    this.entries.clear();
  }
}

function makeInit(shape: number[], init: Init, seeds: SeedStream): tf.Tensor {
  switch (init.kind) {
    case 'zeros':
      return tf.zeros(shape);
    case 'ones':
      return tf.ones(shape);
    case 'constant':
      return tf.fill(shape, init.value);
    case 'normal':
      return tf.randomNormal(shape, 0, init.std, 'float32', seeds.nextSeed());
    case 'uniform':
      return tf.randomUniform(shape, -init.bound, init.bound, 'float32', seeds.nextSeed());
  }
}
