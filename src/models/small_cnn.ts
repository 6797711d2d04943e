/**
 * A small convolutional encoder for 64-px images, fast on the wasm backend. Each stage halves the
 * side and is one of (config `downsample`):
 * - `avgpool-conv` (default): avgPool 2×2 → conv3×3 stride 1 (symmetric padding 1) → ReLU;
 * - `conv-avgpool`: conv3×3 stride 1 → ReLU → avgPool 2×2 (4× the conv FLOPs, full-resolution first layer);
 * - `strided-conv`: conv3×3 stride 2 (symmetric padding 1, PyTorch `padding=1`) → ReLU.
 * followed by `extraConvsPerStage` conv3×3 stride-1 + ReLU layers. Stride-1 convs are preferred
 * because the wasm backend's stride-2 input gradient is slow (tfjs 4.22 native kernel).
 * Used twice by the kit's PIR-style model:
 *
 * - as the image backbone (`vision_encoder`): the final feature map becomes a grid of tokens, a
 *   LayerNorm is applied per token and their mean is prepended — the X-VLM Swin output layout
 *   `[avg; tokens]` that PIR's Spatial-PAE expects (index 0 = global token);
 * - as the scene-prior backbone (`conv_encoder`): global average pooling gives one vector per image
 *   (PIR's frozen ResNet-50 stand-in).
 *
 * Keys: `<prefix>.convs.<i>.weight` (kit HWIO, torch OIHW) and `.bias`, in layer order.
 */
import * as tf from '@tensorflow/tfjs';
import { ParamStore, normalInit, uniformInit } from './params';
import { LayerNorm, joinKey } from './layers';

/** Kernel side of every conv. */
const KERNEL = 3;
/** Symmetric padding of the 3×3 convs (PyTorch `padding=1`). */
const PAD: [[number, number], [number, number], [number, number], [number, number]] = [
  [0, 0],
  [1, 1],
  [1, 1],
  [0, 0],
];
/** He-normal gain for ReLU (`std = sqrt(2 / fan_in)`). */
const RELU_GAIN = 2;

/** How a stage halves the side. */
export type Downsample = 'avgpool-conv' | 'conv-avgpool' | 'strided-conv';
export const DOWNSAMPLE_MODES: readonly Downsample[] = ['avgpool-conv', 'conv-avgpool', 'strided-conv'];
/** Pooling window = stride of the pooled downsampling. */
const POOL = 2;

/** One conv layer. */
interface ConvLayer {
  weight: tf.Variable; // [3, 3, Cin, Cout]
  bias: tf.Variable; // [Cout]
  stride: number;
  /** avgPool 2×2 before the conv. */
  poolBefore: boolean;
  /** avgPool 2×2 after the ReLU. */
  poolAfter: boolean;
}

/** Arguments of `SmallCnn`. */
export interface SmallCnnArgs {
  /** Input channels (3 for RGB). */
  inChannels: number;
  /** Output channels per stage (each stage halves the side). */
  channels: number[];
  /** Stride-1 convs after each stage's downsampling conv. */
  extraConvsPerStage: number;
  /** How each stage halves the side. */
  downsample: Downsample;
}

/** The conv stack. */
export class SmallCnn {
  readonly layers: ConvLayer[] = [];
  readonly outChannels: number;
  readonly numStages: number;
  readonly downsample: Downsample;

  constructor(store: ParamStore, readonly prefix: string, args: SmallCnnArgs) {
    if (args.channels.length === 0) throw new Error(`${prefix}: at least one conv stage is required`);
    let cin = args.inChannels;
    let i = 0;
    for (const cout of args.channels) {
      for (let j = 0; j <= args.extraConvsPerStage; j++) {
        const fanIn = KERNEL * KERNEL * cin;
        const weight = store.add(joinKey(prefix, `convs.${i}.weight`), [KERNEL, KERNEL, cin, cout], normalInit(Math.sqrt(RELU_GAIN / fanIn)), 'conv2d');
        const bias = store.add(joinKey(prefix, `convs.${i}.bias`), [cout], uniformInit(1 / Math.sqrt(fanIn)), 'raw');
        const first = j === 0;
        this.layers.push({
          weight,
          bias,
          stride: first && args.downsample === 'strided-conv' ? 2 : 1,
          poolBefore: first && args.downsample === 'avgpool-conv',
          poolAfter: first && args.downsample === 'conv-avgpool',
        });
        cin = cout;
        i++;
      }
    }
    this.outChannels = cin;
    this.numStages = args.channels.length;
    this.downsample = args.downsample;
  }

  /** Output side for an input side (strided conv: ⌊(s − 1)/2⌋ + 1; avgPool 2: ⌊s/2⌋). */
  outputSide(inputSide: number): number {
    let s = inputSide;
    for (let k = 0; k < this.numStages; k++) s = this.downsample === 'strided-conv' ? Math.floor((s - 1) / 2) + 1 : Math.floor(s / POOL);
    return s;
  }

  /** x `[B, H, W, Cin]` → feature map `[B, h, w, C]`. */
  apply(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      let h = x;
      for (const l of this.layers) {
        if (l.poolBefore) h = tf.avgPool(h, POOL, POOL, 'valid'); // [B, h/2, w/2, Cin]
        h = tf.relu(tf.add(tf.conv2d(h, l.weight as tf.Tensor4D, l.stride, PAD), l.bias)) as tf.Tensor4D; // [B, h', w', Cout]
        if (l.poolAfter) h = tf.avgPool(h, POOL, POOL, 'valid'); // [B, h'/2, w'/2, Cout]
      }
      return h;
    });
  }
}

/** The image backbone: CNN grid tokens + LayerNorm + prepended mean token. */
export class SmallCnnTokenEncoder {
  readonly cnn: SmallCnn;
  readonly norm: LayerNorm;

  constructor(store: ParamStore, readonly prefix: string, args: SmallCnnArgs) {
    this.cnn = new SmallCnn(store, prefix, args);
    this.norm = new LayerNorm(store, joinKey(prefix, 'norm'), { dim: this.cnn.outChannels });
  }

  /** Token grid `[rows, cols]` for an input side. */
  grid(imageSize: number): [number, number] {
    const s = this.cnn.outputSide(imageSize);
    return [s, s];
  }

  /** images `[B, H, W, 3]` → tokens `[B, 1 + h·w, C]` (index 0 = mean of the normalised grid tokens). */
  apply(images: tf.Tensor4D): tf.Tensor3D {
    return tf.tidy(() => {
      const f = this.cnn.apply(images); // [B, h, w, C]
      const [B, h, w, C] = f.shape as number[];
      const tokens = this.norm.apply(tf.reshape(f, [B, h * w, C])); // [B, hw, C]
      const avg = tf.mean(tokens, 1, true); // [B, 1, C]
      return tf.concat([avg, tokens], 1) as tf.Tensor3D; // [B, 1 + hw, C]
    });
  }
}

/** The prior backbone: CNN + global average pooling. */
export class SmallCnnPooledEncoder {
  readonly cnn: SmallCnn;

  constructor(store: ParamStore, readonly prefix: string, args: SmallCnnArgs) {
    this.cnn = new SmallCnn(store, prefix, args);
  }

  /** images `[B, H, W, 3]` → `[B, C]`. */
  apply(images: tf.Tensor4D): tf.Tensor2D {
    return tf.tidy(() => tf.mean(this.cnn.apply(images), [1, 2]) as tf.Tensor2D); // [B, h, w, C] → [B, C]
  }
}
