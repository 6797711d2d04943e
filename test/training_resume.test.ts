/**
 * Kill-and-resume: a run SIGKILLed mid-training resumes from its latest checkpoint and produces the
 * same per-step losses as an uninterrupted run, bit for bit (same backend, separate processes).
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawn, spawnSync } from 'child_process';
import { projectRoot } from '../src/utils/fs';
import { StepLog } from '../src/training/train_state';
import { nativeAddonPath } from '../src/backends/native_kernels';

/** The real-model case also runs on the native path (fused AdamW, GELU, LayerNorm) when the addon is built. */
const NATIVE_BUILT = fs.existsSync(nativeAddonPath());
const nativeSkip = NATIVE_BUILT ? false : 'build/native/kit_native.node not built';
if (!NATIVE_BUILT && process.env.KIT_NATIVE_REQUIRED === '1') throw new Error('KIT_NATIVE_REQUIRED=1 but the native addon is not built');

const CHILD = path.join(projectRoot(), 'test', 'training_resume_child.ts');

function runToEnd(dir: string, seed: number): void {
  const r = spawnSync(process.execPath, ['--import', 'tsx', CHILD, dir, String(seed), '0'], { cwd: projectRoot(), encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /done/);
}

function runAndKill(dir: string, seed: number, killAtStep: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, dir, String(seed), '40'], { cwd: projectRoot() });
    let seen = 0;
    let buf = '';
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      const m = [...buf.matchAll(/step (\d+)/g)];
      if (m.length) seen = Number(m[m.length - 1][1]);
      if (seen >= killAtStep && child.exitCode === null) child.kill('SIGKILL');
    });
    child.on('exit', (code, signal) => {
      if (signal === 'SIGKILL') resolve(seen);
      else reject(new Error(`child exited ${code} before being killed`));
    });
  });
}

function losses(dir: string): StepLog[] {
  return JSON.parse(fs.readFileSync(path.join(dir, 'losses.json'), 'utf8')) as StepLog[];
}

test('SIGKILL mid-run, resume: losses identical to an uninterrupted run', { timeout: 120000 }, async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'kit-resume-'));
  const full = path.join(root, 'full');
  const killed = path.join(root, 'killed');
  runToEnd(full, 3);
  const ref = losses(full);
  assert.equal(ref.length, 9); // 3 epochs × floor(96/16/2) = 3 steps
  // kill in the middle of epoch 2 (step 5 is mid-epoch: steps 4..6 belong to epoch 1)
  const at = await runAndKill(killed, 3, 5);
  assert.ok(at >= 5 && at < 9, `killed at step ${at}`);
  assert.ok(!fs.existsSync(path.join(killed, 'losses.json')), 'killed run must not have finished');
  runToEnd(killed, 3);
  const got = losses(killed);
  assert.equal(got.length, ref.length);
  for (let i = 0; i < ref.length; i++) {
    assert.equal(got[i].loss, ref[i].loss, `step ${i + 1} loss`);
    assert.equal(got[i].gradNorm, ref[i].gradNorm, `step ${i + 1} grad norm`);
    assert.deepEqual(got[i].parts, ref[i].parts);
  }
  // the final weights are byte-identical too
  assert.deepEqual(fs.readFileSync(path.join(killed, 'final.safetensors')), fs.readFileSync(path.join(full, 'final.safetensors')));
  fs.rmSync(root, { recursive: true, force: true });
});

function runRecipeChild(runs: string, backend: string): { status: number | null; stdout: string; stderr: string } {
  const child = path.join(projectRoot(), 'test', 'training_resume_real_child.ts');
  const r = spawnSync(process.execPath, ['--import', 'tsx', child], { cwd: projectRoot(), encoding: 'utf8', env: { ...process.env, KIT_RUNS_DIR: runs, KIT_TEST_BACKEND: backend } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

for (const backend of ['wasm', 'native'] as const) {
  test(`real model (dropout on) on ${backend}: SIGKILL during stage 2, resume: same stage-2 losses and test metrics`, { timeout: 300000, skip: backend === 'native' ? nativeSkip : false }, async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'kit-resume-real-'));
    const full = path.join(root, 'full');
    const killed = path.join(root, 'killed');
    const a = runRecipeChild(full, backend);
    assert.equal(a.status, 0, a.stderr);
    // killed run: watch stage 2's latest.json and SIGKILL once it reports step ≥ 5 (mid epoch 2)
    const childFile = path.join(projectRoot(), 'test', 'training_resume_real_child.ts');
    const latest = path.join(killed, 'tinyresume__stage2__s0', 'latest.json');
    const killedAt = await new Promise<number>((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', 'tsx', childFile], { cwd: projectRoot(), env: { ...process.env, KIT_RUNS_DIR: killed, KIT_TEST_BACKEND: backend } });
      let step = -1;
      const timer = setInterval(() => {
        try {
          if (fs.existsSync(latest)) step = (JSON.parse(fs.readFileSync(latest, 'utf8')) as { step: number }).step;
        } catch {
          /* being renamed: read next time */
        }
        if (step >= 5 && child.exitCode === null) child.kill('SIGKILL');
      }, 20);
      child.on('exit', (_code, signal) => {
        clearInterval(timer);
        if (signal === 'SIGKILL') resolve(step);
        else reject(new Error('the recipe finished before it could be killed'));
      });
    });
    assert.ok(killedAt >= 5 && killedAt < 12, `killed at step ${killedAt}`);
    const b = runRecipeChild(killed, backend);
    assert.equal(b.status, 0, b.stderr);
    const ref = losses(path.join(full, 'tinyresume__stage2__s0'));
    const got = losses(path.join(killed, 'tinyresume__stage2__s0'));
    assert.equal(ref.length, 12);
    assert.deepEqual(got.map((l) => l.loss), ref.map((l) => l.loss));
    assert.deepEqual(got.map((l) => l.parts), ref.map((l) => l.parts));
    assert.equal(b.stdout.trim(), a.stdout.trim(), 'same test mR');
    fs.rmSync(root, { recursive: true, force: true });
  });
}
