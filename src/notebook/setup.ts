/**
 * `setupNotebook()`: the one visible setup call at the top of every notebook.
 *
 *   import * as nb from './src/notebook/setup';
 *   const env = await nb.setupNotebook({ seed: 0 });
 *
 * It initialises the tfjs backend (nothing tensor-related works before that), picks the profile
 * ('fast' unless the argument or KIT_PROFILE says 'full'), creates the root SeedStream, routes progress
 * bars to live notebook outputs, and prints one line of versions / backend / profile / seed.
 */
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { BackendInfo, initBackend } from '../backends/backend';
import { SeedStream } from '../utils/random';
import { projectRoot, readJson } from '../utils/fs';
import { runsDir } from '../runs/record';
import { figuresDir } from '../plotting/save';
import { enableNotebookProgress, inNotebook, tslabVersions } from './display';
import { PROFILES, Profile } from '../training/profiles';

/** Notebook profiles (the one table: src/training/profiles.ts): 'fast' runs every notebook in minutes on 2 cores; 'full' is the opt-in real thing. */
export { PROFILES } from '../training/profiles';
export type { Profile } from '../training/profiles';
/** Root seed when none is given. */
export const DEFAULT_SEED = 0;

export interface NotebookPaths {
  root: string;
  figures: string;
  runs: string;
  data: string;
  build: string;
}

export interface NotebookEnv {
  profile: Profile;
  seed: number;
  /** Root random stream: take named children (`env.seeds.child('data')`), never draw from it directly in cells. */
  seeds: SeedStream;
  backend: BackendInfo;
  paths: NotebookPaths;
  /** True inside a tslab kernel. */
  inNotebook: boolean;
}

export interface SetupOptions {
  profile?: Profile;
  seed?: number;
  /** Backend name (wasm, cpu, tensorflow, tensorflow-gpu, auto); default KIT_BACKEND or auto. */
  backend?: string;
  /** Do not print the banner. */
  quiet?: boolean;
}

/** The profile from the argument, else KIT_PROFILE, else 'fast'; anything else is an error. */
export function resolveProfile(arg?: string): Profile {
  const p = arg ?? process.env.KIT_PROFILE ?? 'fast';
  if (!(PROFILES as readonly string[]).includes(p)) {
    throw new Error(`profile '${p}'${arg === undefined ? ' (from KIT_PROFILE)' : ''} is not one of ${PROFILES.join(', ')}`);
  }
  return p as Profile;
}

let bannerShown = false;

/** Prepare a notebook (or script) session; see the file comment. Safe to call again. */
export async function setupNotebook(opts: SetupOptions = {}): Promise<NotebookEnv> {
  const profile = resolveProfile(opts.profile);
  const seed = opts.seed ?? DEFAULT_SEED;
  if (!Number.isInteger(seed) || seed < 0) throw new Error(`setupNotebook: seed must be a non-negative integer, got ${seed}`);
  const backend = await initBackend(opts.backend ?? process.env.KIT_BACKEND, { quiet: true });
  const notebook = inNotebook();
  if (notebook) enableNotebookProgress();
  const root = projectRoot();
  const paths: NotebookPaths = {
    root,
    figures: figuresDir(),
    runs: runsDir(),
    data: path.join(root, 'data'),
    build: path.join(root, 'build'),
  };
  if (!opts.quiet && !bannerShown) {
    bannerShown = true;
    let kit = 'unknown';
    try {
      kit = readJson<{ version: string }>(path.join(root, 'package.json')).version;
    } catch {
      /* keep unknown */
    }
    const ts = tslabVersions();
    const parts = [
      `PriorCLIP Kit ${kit}`,
      `node ${process.version}`,
      `tfjs ${tf.version.tfjs}`,
      ts ? `tslab ${ts.tslab} (TypeScript ${ts.typescript})` : null,
      `backend ${backend.name}${backend.kitKernels.length ? ` (+${backend.kitKernels.length} kit kernels)` : ''}`,
      `profile ${profile}`,
      `seed ${seed}`,
    ].filter(Boolean);
    console.log(parts.join(' · '));
    if (backend.skipped.length) {
      console.log(
        `  faster backends not available here: ${backend.skipped.map((s) => s.name).join(', ')} ` +
          `(reasons in env.backend.skipped)`,
      );
    }
  }
  return { profile, seed, seeds: new SeedStream(seed), backend, paths, inNotebook: notebook };
}
