/**
 * open_clip `modified_resnet.ModifiedResNet` (CLIP's RN50-style encoder), used by PriorCLIP as the
 * prior / instruction encoder `res_visual`.
 *
 * - Stem: conv3×3 s2 (3→w/2) → BN → ReLU → conv3×3 (w/2→w/2) → BN → ReLU → conv3×3 (w/2→w) → BN →
 *   ReLU → avgpool 2. All 3×3 convs pad 1 (explicit, symmetric).
 * - Stages `layer1..4` of `Bottleneck`s (expansion 4), widths w, 2w, 4w, 8w; stage 1 stride 1, the
 *   first block of stages 2–4 stride 2, done by an avgpool(stride) before conv3 (anti-aliased).
 *   `downsample` = avgpool(stride) → conv1×1 → BN when stride > 1 or channels change (keys
 *   `downsample.0` = conv, `downsample.1` = BN; the avgpool is module `-1` and has no weights).
 * - `attnpool`: `AttentionPool2d(image_size/32, 32w, heads, output_dim)`.
 *
 * BatchNorm always runs in eval mode (running statistics).
 */
import * as tf from '@tensorflow/tfjs';
import { ParamStore } from '../params';
import { joinKey } from '../layers';
import { BatchNorm2d, Conv2d, avgPool2d } from './conv';
import { AttentionPool2d } from './attention';
import { Capture } from './transformer';

/** Bottleneck channel expansion. */
export const BOTTLENECK_EXPANSION = 4;
/** Total downsampling of the ResNet (stem 4 × three stride-2 stages). */
export const RESNET_REDUCTION = 32;

/** open_clip Bottleneck. */
export class Bottleneck {
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly conv2: Conv2d;
  readonly bn2: BatchNorm2d;
  readonly conv3: Conv2d;
  readonly bn3: BatchNorm2d;
  readonly downsample: { conv: Conv2d; bn: BatchNorm2d } | null;

  constructor(store: ParamStore, readonly prefix: string, inplanes: number, planes: number, readonly stride: number, zeroInitLastBn: boolean) {
    const out = planes * BOTTLENECK_EXPANSION;
    this.conv1 = new Conv2d(store, joinKey(prefix, 'conv1'), { inChannels: inplanes, outChannels: planes, kernelSize: 1 });
    this.bn1 = new BatchNorm2d(store, joinKey(prefix, 'bn1'), planes);
    this.conv2 = new Conv2d(store, joinKey(prefix, 'conv2'), { inChannels: planes, outChannels: planes, kernelSize: 3, padding: 1 });
    this.bn2 = new BatchNorm2d(store, joinKey(prefix, 'bn2'), planes);
    this.conv3 = new Conv2d(store, joinKey(prefix, 'conv3'), { inChannels: planes, outChannels: out, kernelSize: 1 });
    this.bn3 = new BatchNorm2d(store, joinKey(prefix, 'bn3'), out);
    // ModifiedResNet.init_parameters zero-inits every bn3.weight (residual branches start as identity).
    if (zeroInitLastBn) tf.tidy(() => this.bn3.weight.assign(tf.zeros(this.bn3.weight.shape)));
    this.downsample =
      stride > 1 || inplanes !== out
        ? {
            conv: new Conv2d(store, joinKey(prefix, 'downsample.0'), { inChannels: inplanes, outChannels: out, kernelSize: 1 }),
            bn: new BatchNorm2d(store, joinKey(prefix, 'downsample.1'), out),
          }
        : null;
  }

  /** x `[B,H,W,inplanes]` → `[B,H/s,W/s,4·planes]`. */
  apply(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      let h = tf.relu(this.bn1.apply(this.conv1.apply(x))); // [B,H,W,p]
      h = tf.relu(this.bn2.apply(this.conv2.apply(h))); // [B,H,W,p]
      h = avgPool2d(h, this.stride); // [B,H/s,W/s,p]
      h = this.bn3.apply(this.conv3.apply(h)); // [B,H/s,W/s,4p]
      const identity = this.downsample ? this.downsample.bn.apply(this.downsample.conv.apply(avgPool2d(x, this.stride))) : x;
      return tf.relu(tf.add(h, identity)) as tf.Tensor4D;
    });
  }
}

/** Arguments of `ModifiedResNet`. */
export interface ModifiedResNetArgs {
  /** Blocks per stage, e.g. `[3, 4, 6, 3]`. */
  layers: number[];
  /** Attention-pool output width (PriorCLIP: `embedDim`). */
  outputDim: number;
  /** Attention-pool heads. */
  heads: number;
  /** Input image side (must be a multiple of 32 for the pool's positional embedding). */
  imageSize: number;
  /** Base width w (64 for RN50). */
  width: number;
  /** Zero-init every `bn3.weight` (open_clip init). Default true. */
  zeroInitLastBn?: boolean;
}

/** open_clip ModifiedResNet. */
export class ModifiedResNet {
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly conv2: Conv2d;
  readonly bn2: BatchNorm2d;
  readonly conv3: Conv2d;
  readonly bn3: BatchNorm2d;
  readonly stages: Bottleneck[][] = [];
  readonly attnpool: AttentionPool2d;

  constructor(store: ParamStore, readonly prefix: string, readonly args: ModifiedResNetArgs) {
    const w = args.width;
    if (w % 2 !== 0) throw new Error(`${prefix}: res width ${w} must be even (the stem uses w/2)`);
    const half = w / 2;
    this.conv1 = new Conv2d(store, joinKey(prefix, 'conv1'), { inChannels: 3, outChannels: half, kernelSize: 3, stride: 2, padding: 1 });
    this.bn1 = new BatchNorm2d(store, joinKey(prefix, 'bn1'), half);
    this.conv2 = new Conv2d(store, joinKey(prefix, 'conv2'), { inChannels: half, outChannels: half, kernelSize: 3, padding: 1 });
    this.bn2 = new BatchNorm2d(store, joinKey(prefix, 'bn2'), half);
    this.conv3 = new Conv2d(store, joinKey(prefix, 'conv3'), { inChannels: half, outChannels: w, kernelSize: 3, padding: 1 });
    this.bn3 = new BatchNorm2d(store, joinKey(prefix, 'bn3'), w);
    let inplanes = w;
    const zero = args.zeroInitLastBn ?? true;
    args.layers.forEach((n, s) => {
      const planes = w * 2 ** s;
      const blocks: Bottleneck[] = [];
      for (let j = 0; j < n; j++) {
        const stride = j === 0 && s > 0 ? 2 : 1;
        blocks.push(new Bottleneck(store, joinKey(prefix, `layer${s + 1}.${j}`), inplanes, planes, stride, zero));
        inplanes = planes * BOTTLENECK_EXPANSION;
      }
      this.stages.push(blocks);
    });
    const embedDim = w * RESNET_REDUCTION;
    this.attnpool = new AttentionPool2d(store, joinKey(prefix, 'attnpool'), {
      spacialDim: Math.floor(args.imageSize / RESNET_REDUCTION),
      embedDim,
      heads: args.heads,
      outputDim: args.outputDim,
    });
  }

  /** x `[B,H,W,3]` → `[B, outputDim]`. `capture` receives `res/stem`, `res/layer1..4` (NHWC), `res/out`. */
  apply(x: tf.Tensor4D, capture: Capture | null = null): tf.Tensor2D {
    return tf.tidy(() => {
      let h = tf.relu(this.bn1.apply(this.conv1.apply(x))); // [B,H/2,W/2,w/2]
      h = tf.relu(this.bn2.apply(this.conv2.apply(h))); // [B,H/2,W/2,w/2]
      h = tf.relu(this.bn3.apply(this.conv3.apply(h))); // [B,H/2,W/2,w]
      h = avgPool2d(h, 2); // [B,H/4,W/4,w]
      capture?.('res/stem', h);
      this.stages.forEach((blocks, s) => {
        for (const b of blocks) h = b.apply(h);
        capture?.(`res/layer${s + 1}`, h);
      });
      const out = this.attnpool.apply(h); // [B, outputDim]
      capture?.('res/out', out);
      return out;
    });
  }
}
