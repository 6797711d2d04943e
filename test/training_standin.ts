/**
 * A tiny stand-in dual encoder and dataset for the trainer tests (not a test file itself):
 * linear image / text towers, a CLIP loss with the kit's dropout and an open_clip `logit_scale`.
 */
import * as tf from '@tensorflow/tfjs';
import { ParamStore, normalInit, constantInit, zerosInit } from '../src/models/params';
import { SeedStream } from '../src/utils/random';
import { TrainTask } from '../src/training/trainer';

export const STANDIN_DIM = 8;
export const STANDIN_EMB = 4;

export interface StandinBatch {
  img: tf.Tensor2D;
  txt: tf.Tensor2D;
}

/** n paired examples: text features are a noisy linear map of image features. */
export function standinData(n: number, seed: number): { img: Float32Array; txt: Float32Array } {
  const s = new SeedStream(seed).child('data');
  const img = new Float32Array(n * STANDIN_DIM);
  const txt = new Float32Array(n * STANDIN_DIM);
  for (let i = 0; i < img.length; i++) img[i] = s.normal();
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < STANDIN_DIM; j++) {
      txt[i * STANDIN_DIM + j] = img[i * STANDIN_DIM + ((j + 3) % STANDIN_DIM)] + 0.1 * s.normal();
    }
  }
  return { img, txt };
}

/** Build the stand-in task (model params + data + loss). */
export function standinTask(n: number, seed: number, dropoutRate = 0.1): TrainTask<StandinBatch> & { dispose(): void } {
  const params = new ParamStore(new SeedStream(seed).child('model'));
  params.add('visual.proj.weight', [STANDIN_DIM, STANDIN_EMB], normalInit(0.3), 'linear');
  params.add('visual.proj.bias', [STANDIN_EMB], zerosInit);
  params.add('text.proj.weight', [STANDIN_DIM, STANDIN_EMB], normalInit(0.3), 'linear');
  params.add('prior.weight', [STANDIN_DIM, STANDIN_EMB], normalInit(0.3), 'linear');
  params.add('logit_scale', [], constantInit(Math.log(1 / 0.07)));
  const data = standinData(n, seed);
  return {
    params,
    numExamples: n,
    makeBatch(indices: number[]): StandinBatch {
      const img = new Float32Array(indices.length * STANDIN_DIM);
      const txt = new Float32Array(indices.length * STANDIN_DIM);
      indices.forEach((k, r) => {
        img.set(data.img.subarray(k * STANDIN_DIM, (k + 1) * STANDIN_DIM), r * STANDIN_DIM);
        txt.set(data.txt.subarray(k * STANDIN_DIM, (k + 1) * STANDIN_DIM), r * STANDIN_DIM);
      });
      return { img: tf.tensor2d(img, [indices.length, STANDIN_DIM]), txt: tf.tensor2d(txt, [indices.length, STANDIN_DIM]) };
    },
    disposeBatch(b: StandinBatch) {
      b.img.dispose();
      b.txt.dispose();
    },
    loss(b: StandinBatch, seeds: SeedStream) {
      const x = dropoutRate > 0 ? tf.dropout(b.img, dropoutRate, undefined, seeds.nextSeed()) : b.img;
      const v = tf.add(tf.matMul(x, params.get('visual.proj.weight')), params.get('visual.proj.bias')); // [B, E]
      const t = tf.matMul(b.txt, params.get('text.proj.weight')); // [B, E]
      const vn = tf.div(v, tf.norm(v, 2, 1, true));
      const tn = tf.div(t, tf.norm(t, 2, 1, true));
      const logits = tf.mul(tf.exp(params.get('logit_scale')), tf.matMul(vn, tn, false, true)); // [B, B]
      const labels = tf.oneHot(tf.range(0, b.img.shape[0], 1, 'int32'), b.img.shape[0]);
      const li = tf.losses.softmaxCrossEntropy(labels, logits) as tf.Scalar;
      const lt = tf.losses.softmaxCrossEntropy(labels, tf.transpose(logits)) as tf.Scalar;
      const total = tf.div(tf.add(li, lt), 2) as tf.Scalar;
      return { total, parts: { contrastive: total, i2t: li } };
    },
    async validate() {
      const r = tf.tidy(() => {
        const v = tf.matMul(tf.tensor2d(data.img, [n, STANDIN_DIM]), params.get('visual.proj.weight'));
        const t = tf.matMul(tf.tensor2d(data.txt, [n, STANDIN_DIM]), params.get('text.proj.weight'));
        const sims = tf.matMul(tf.div(v, tf.norm(v, 2, 1, true)), tf.div(t, tf.norm(t, 2, 1, true)), false, true); // [n, n]
        return tf.mean(tf.cast(tf.equal(tf.argMax(sims, 1), tf.range(0, n, 1, 'int32')), 'float32'));
      });
      const r1 = (await r.data())[0] * 100;
      r.dispose();
      return { mR: r1, r1 };
    },
    dispose() {
      params.dispose();
    },
  };
}
