/**
 * Convolution-side PyTorch modules for the open_clip towers: `nn.Conv2d` (no bias, explicit
 * symmetric padding), `nn.BatchNorm2d` in eval mode, `nn.AvgPool2d(k)`, and the ViT patch embedding.
 *
 * Activations are NHWC; weights are stored HWIO in the kit (ParamStore layout `conv2d`, torch OIHW).
 * Padding is always explicit `[[p,p],[p,p]]`: TF's `'same'` pads (0,1) on even sizes with stride 2,
 * which is not what PyTorch's `padding=1` does.
 */
import * as tf from '@tensorflow/tfjs';
import { ParamStore, Init, uniformInit, zerosInit, onesInit } from '../params';
import { joinKey } from '../layers';

/** PyTorch BatchNorm default epsilon. */
export const BATCH_NORM_EPS = 1e-5;

/** `F.conv2d` with PyTorch padding semantics: x `[B,H,W,Cin]`, w HWIO → `[B,H',W',Cout]`. */
export function conv2dTorch(x: tf.Tensor4D, w: tf.Tensor4D, stride: number, padding: number): tf.Tensor4D {
  const pad: [[number, number], [number, number], [number, number], [number, number]] = [
    [0, 0],
    [padding, padding],
    [padding, padding],
    [0, 0],
  ];
  return tf.conv2d(x, w, [stride, stride], padding === 0 ? 'valid' : pad);
}

/** Arguments of `Conv2d`. */
export interface Conv2dArgs {
  inChannels: number;
  outChannels: number;
  kernelSize: number;
  stride?: number;
  padding?: number;
  /** Weight init; default PyTorch's kaiming_uniform(a=√5) = `U(−1/√fan_in, 1/√fan_in)`. */
  weightInit?: Init;
}

/** `nn.Conv2d(..., bias=False)`: `<prefix>.weight` (torch OIHW, kit HWIO). */
export class Conv2d {
  readonly weight: tf.Variable;
  readonly stride: number;
  readonly padding: number;
  readonly kernelSize: number;

  constructor(store: ParamStore, readonly prefix: string, args: Conv2dArgs) {
    this.stride = args.stride ?? 1;
    this.padding = args.padding ?? 0;
    this.kernelSize = args.kernelSize;
    const fanIn = args.inChannels * args.kernelSize * args.kernelSize;
    this.weight = store.add(
      joinKey(prefix, 'weight'),
      [args.kernelSize, args.kernelSize, args.inChannels, args.outChannels],
      args.weightInit ?? uniformInit(1 / Math.sqrt(fanIn)),
      'conv2d',
    );
  }

  /** x `[B,H,W,Cin]` → `[B,H',W',Cout]`. */
  apply(x: tf.Tensor4D): tf.Tensor4D {
    return conv2dTorch(x, this.weight as tf.Tensor as tf.Tensor4D, this.stride, this.padding);
  }
}

/**
 * `nn.BatchNorm2d` in eval mode: `(x − running_mean)/√(running_var + eps)·weight + bias` over the
 * channel (last, NHWC) axis. `running_mean`, `running_var` and `num_batches_tracked` (int64 in
 * PyTorch) are registered as non-trainable buffers so checkpoints round-trip them. The kit never
 * updates the running statistics (the reference towers run in eval mode for parity; training a
 * BatchNorm with batch statistics is not part of PriorCLIP's recipe).
 */
export class BatchNorm2d {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable;
  readonly runningMean: tf.Variable;
  readonly runningVar: tf.Variable;
  readonly numBatchesTracked: tf.Variable;

  constructor(store: ParamStore, readonly prefix: string, channels: number, readonly eps = BATCH_NORM_EPS) {
    this.weight = store.add(joinKey(prefix, 'weight'), [channels], onesInit, 'raw');
    this.bias = store.add(joinKey(prefix, 'bias'), [channels], zerosInit, 'raw');
    this.runningMean = store.add(joinKey(prefix, 'running_mean'), [channels], zerosInit, 'raw', { trainable: false });
    this.runningVar = store.add(joinKey(prefix, 'running_var'), [channels], onesInit, 'raw', { trainable: false });
    this.numBatchesTracked = store.add(joinKey(prefix, 'num_batches_tracked'), [], zerosInit, 'raw', {
      trainable: false,
      torchDtype: 'I64',
    });
  }

  /** x `[B,H,W,C]` → `[B,H,W,C]`. */
  apply(x: tf.Tensor4D): tf.Tensor4D {
    return tf.batchNorm(x, this.runningMean, this.runningVar, this.bias, this.weight, this.eps) as tf.Tensor4D;
  }
}

/** `nn.AvgPool2d(k)`: kernel = stride = k, no padding (floors odd sizes like PyTorch). */
export function avgPool2d(x: tf.Tensor4D, k: number): tf.Tensor4D {
  if (k === 1) return x;
  return tf.avgPool(x, k, k, 'valid');
}

/**
 * Patch embedding = `nn.Conv2d(3, W, kernel=P, stride=P, bias=False)`, computed as a patchify
 * reshape + one matmul (identical result; cheaper, and its gradient needs no conv kernels).
 * x `[B,H,W,C]`, w HWIO `[P,P,C,W]` → `[B, (H/P)·(W/P), W]` in row-major patch order.
 */
export function patchEmbed(x: tf.Tensor4D, w: tf.Tensor4D): tf.Tensor3D {
  return tf.tidy(() => {
    const [B, H, Wd, C] = x.shape;
    const [P, P2, Cin, D] = w.shape;
    if (P !== P2 || Cin !== C) throw new Error(`patchEmbed: weight [${w.shape}] does not fit input [${x.shape}]`);
    const gh = Math.floor(H / P);
    const gw = Math.floor(Wd / P);
    if (gh === 0 || gw === 0) throw new Error(`patchEmbed: image ${H}×${Wd} is smaller than the patch ${P}`);
    const xc = gh * P === H && gw * P === Wd ? x : tf.slice(x, [0, 0, 0, 0], [B, gh * P, gw * P, C]);
    const p6 = tf.reshape(xc, [B, gh, P, gw, P, C]); // [B, gh, P, gw, P, C]
    const pt = tf.transpose(p6, [0, 1, 3, 2, 4, 5]); // [B, gh, gw, P, P, C]
    const flat = tf.reshape(pt, [B * gh * gw, P * P * C]); // [B·N, P·P·C] (h, w, c order = HWIO order)
    const wf = tf.reshape(w, [P * P * C, D]); // [P·P·C, D]
    const y = tf.matMul(flat as tf.Tensor2D, wf as tf.Tensor2D); // [B·N, P·P·C]·[P·P·C, D] → [B·N, D]
    return tf.reshape(y, [B, gh * gw, D]) as tf.Tensor3D; // [B, N, D]
  });
}
