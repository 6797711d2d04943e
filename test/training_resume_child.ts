/**
 * Child process for test/training_resume.test.ts: trains the stand-in task into a folder, resuming
 * from its latest checkpoint. argv: <dir> <seed> <slowMs>. Prints "step <n>" after each step.
 */
import { initBackend } from '../src/backends/backend';
import { SeedStream } from '../src/utils/random';
import { defaultTrainConfig, train } from '../src/training/trainer';
import { standinTask } from './training_standin';

async function main(): Promise<void> {
  const [dir, seedArg, slowArg] = process.argv.slice(2);
  await initBackend((process.env.KIT_TEST_BACKEND as 'cpu' | 'wasm' | undefined) ?? 'cpu');
  const seed = Number(seedArg);
  const slowMs = Number(slowArg);
  const task = standinTask(96, seed);
  const cfg = { ...defaultTrainConfig(), epochs: 3, batchSize: 16, accumSteps: 2, lr: 0.05, checkpointEverySteps: 1, gradClipNorm: 1 };
  await train(task, cfg, {
    dir,
    seeds: new SeedStream(seed),
    onStepEnd: (log) => {
      process.stdout.write(`step ${log.step}\n`);
      const until = Date.now() + slowMs;
      while (Date.now() < until) {
        /* slow down so the parent can kill us mid-run */
      }
    },
  });
  task.dispose();
  process.stdout.write('done\n');
}

main().catch((e: unknown) => {
  process.stderr.write(String((e as Error).stack ?? e) + '\n');
  process.exit(1);
});
