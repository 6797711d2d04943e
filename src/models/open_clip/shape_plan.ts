/**
 * A ParamStore that records what a model would register (key, kit shape, layout, dtype) without
 * allocating the weights: every `add` returns a shared-size scalar placeholder variable. Used to
 * check a full-size model's state_dict naming (e.g. ViT-B/32 PriorCLIP, 189M values) in
 * milliseconds. A model built on it must not be run.
 */
import * as tf from '@tensorflow/tfjs';
import { ParamStore, Init, TorchLayout } from '../params';
import { SeedStream } from '../../utils/random';

/** One recorded registration. */
export interface PlannedParam {
  key: string;
  /** Kit shape. */
  shape: number[];
  layout: TorchLayout;
  torchDtype: 'F32' | 'I64';
  trainable: boolean;
}

/** See file comment. */
export class ShapePlanStore extends ParamStore {
  readonly planned: PlannedParam[] = [];
  private readonly keys = new Set<string>();
  private readonly placeholders: tf.Variable[] = [];

  constructor() {
    super(new SeedStream(0, 'shape-plan'));
  }

  override add(
    key: string,
    shape: number[],
    _init: Init,
    layout: TorchLayout = 'raw',
    opts: { trainable?: boolean; torchDtype?: 'F32' | 'I64' } = {},
  ): tf.Variable {
    if (this.keys.has(key)) throw new Error(`ParamStore: duplicate parameter key '${key}'`);
    this.keys.add(key);
    this.planned.push({ key, shape: [...shape], layout, torchDtype: opts.torchDtype ?? 'F32', trainable: opts.trainable ?? true });
    const v = tf.tidy(() => tf.variable(tf.scalar(0), false));
    this.placeholders.push(v);
    return v;
  }

  /** Total element count of the plan. */
  override numElements(filter: (key: string) => boolean = () => true): number {
    return this.planned.filter((e) => filter(e.key)).reduce((n, e) => n + e.shape.reduce((a, b) => a * b, 1), 0);
  }

  override dispose(): void {
    for (const v of this.placeholders) v.dispose();
    this.placeholders.length = 0;
  }
}
