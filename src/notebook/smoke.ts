/**
 * The smoke test of notebooks/00_smoke.ipynb: a seeded 2-layer MLP learns a toy 2-class problem
 * (two interleaved half-moons) with Adam, so one notebook exercises backend, autodiff, optimiser,
 * progress, plotting and tables end to end in a few seconds.
 */
import * as tf from '@tensorflow/tfjs';
import { SeedStream } from '../utils/random';
import { createProgress } from '../utils/progress';
import { PlotlyFigure, runColor } from '../plotting/theme';

export interface SmokeConfig {
  /** Points per class. */
  pointsPerClass: number;
  /** Std of Gaussian noise added to the moons. */
  noise: number;
  /** Hidden units of the MLP. */
  hidden: number;
  /** Adam learning rate. */
  learningRate: number;
  /** Full-batch training steps. */
  steps: number;
}

/** Defaults: converges to > 95 % train accuracy in ~1 s on wasm. */
export const SMOKE_DEFAULTS: SmokeConfig = { pointsPerClass: 128, noise: 0.1, hidden: 32, learningRate: 0.03, steps: 200 };

export interface SmokeResult {
  config: SmokeConfig;
  /** Cross-entropy after each step (before the update). */
  losses: number[];
  /** Train accuracy after training. */
  accuracy: number;
  /** Wall-clock training time (ms). */
  ms: number;
  /** tf.memory().numTensors after minus before (0 = no leak). */
  leakedTensors: number;
}

/** Two interleaved half-moons: x [2N, 2] and labels [2N] (0 or 1). */
export function makeMoons(seeds: SeedStream, pointsPerClass: number, noise: number): { x: Float32Array; y: Int32Array } {
  const n = pointsPerClass;
  const x = new Float32Array(2 * n * 2);
  const y = new Int32Array(2 * n);
  for (let i = 0; i < n; i++) {
    const a = Math.PI * seeds.random();
    x[i * 2] = Math.cos(a) + noise * seeds.normal();
    x[i * 2 + 1] = Math.sin(a) + noise * seeds.normal();
    y[i] = 0;
    const b = Math.PI * seeds.random();
    x[(n + i) * 2] = 1 - Math.cos(b) + noise * seeds.normal();
    x[(n + i) * 2 + 1] = 0.5 - Math.sin(b) + noise * seeds.normal();
    y[n + i] = 1;
  }
  return { x, y };
}

/**
 * Train the smoke MLP (2 → hidden → 2, ReLU, softmax cross-entropy, Adam) on the moons, full batch.
 * Each step runs inside tf.tidy: tf.variableGrads gives the loss and gradients, Adam applies them.
 */
export async function trainSmokeMlp(seeds: SeedStream, overrides: Partial<SmokeConfig> = {}): Promise<SmokeResult> {
  const config: SmokeConfig = { ...SMOKE_DEFAULTS, ...overrides };
  const before = tf.memory().numTensors;
  const r = await train(seeds, config);
  return { ...r, leakedTensors: tf.memory().numTensors - before };
}

async function train(seeds: SeedStream, config: SmokeConfig): Promise<Omit<SmokeResult, 'leakedTensors'>> {
  const t0 = Date.now();
  const data = makeMoons(seeds.child('data'), config.pointsPerClass, config.noise);
  const init = seeds.child('init');
  const N = data.y.length;
  const x = tf.tensor2d(data.x, [N, 2]); // [N, 2]
  const yOneHot = tf.tidy(() => tf.oneHot(tf.tensor1d(data.y, 'int32'), 2).toFloat()); // [N, 2]
  // tf.variable keeps its own copy; tidy disposes the initial values.
  const [w1, b1, w2, b2] = tf.tidy(() => [
    tf.variable(tf.randomNormal([2, config.hidden], 0, Math.sqrt(2 / 2), 'float32', init.nextSeed()), true, 'smoke/w1'), // [2, H]
    tf.variable(tf.zeros([config.hidden]), true, 'smoke/b1'), // [H]
    tf.variable(tf.randomNormal([config.hidden, 2], 0, Math.sqrt(1 / config.hidden), 'float32', init.nextSeed()), true, 'smoke/w2'), // [H, 2]
    tf.variable(tf.zeros([2]), true, 'smoke/b2'), // [2]
  ]);
  const vars = [w1, b1, w2, b2];
  const forward = (): tf.Tensor2D => tf.add(tf.matMul(tf.relu(tf.add(tf.matMul(x, w1), b1)), w2), b2) as tf.Tensor2D; // [N, 2]
  const optimizer = tf.train.adam(config.learningRate);
  const losses: number[] = [];
  const progress = createProgress('smoke MLP', config.steps);
  try {
    for (let step = 0; step < config.steps; step++) {
      const loss = tf.tidy(() => {
        const { value, grads } = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(yOneHot, forward()) as tf.Scalar, vars);
        optimizer.applyGradients(Object.entries(grads).map(([name, tensor]) => ({ name, tensor })));
        return value;
      });
      const v = (await loss.data())[0];
      loss.dispose();
      losses.push(v);
      progress.tick(1, `loss ${v.toFixed(4)}`);
    }
    const accuracy = tf.tidy(() => tf.mean(tf.equal(tf.argMax(forward(), 1), tf.argMax(yOneHot, 1)).toFloat()).dataSync()[0]);
    progress.done(`accuracy ${(accuracy * 100).toFixed(1)} %`);
    return { config, losses, accuracy, ms: Date.now() - t0 };
  } finally {
    optimizer.dispose();
    tf.dispose([x, yOneHot, ...vars]);
  }
}

/** Loss curve figure of a smoke run. */
export function smokeLossFigure(result: SmokeResult): PlotlyFigure {
  return {
    data: [
      {
        type: 'scatter',
        mode: 'lines',
        name: 'train loss',
        x: result.losses.map((_, i) => i + 1),
        y: result.losses,
        line: { color: runColor(0), width: 2 },
      },
    ],
    layout: {
      title: { text: `Smoke MLP on two moons: loss (final accuracy ${(result.accuracy * 100).toFixed(1)} %)` },
      xaxis: { title: { text: 'step' } },
      yaxis: { title: { text: 'softmax cross-entropy' }, rangemode: 'tozero' },
      showlegend: false,
    },
  };
}

/** Every `every`-th step of the loss curve as table rows. */
export function smokeLossRows(result: SmokeResult, every = 20): { step: number; loss: number }[] {
  const rows: { step: number; loss: number }[] = [];
  result.losses.forEach((loss, i) => {
    if ((i + 1) % every === 0 || i === 0) rows.push({ step: i + 1, loss });
  });
  return rows;
}
