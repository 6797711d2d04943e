/**
 * The one profile table. A profile names a budget: the notebooks read it from KIT_PROFILE, the main
 * job takes it as `--profile`; each profile IS a suite file (src/configs/suites/<suite>.json), which
 * names the preset, the ablations and the seeds. So `fast` = suite `default` (preset embedded-fast,
 * 3 variants × 2 seeds) and `full` = suite `paper` (the same preset, 18 variants × 3 seeds): the
 * preset is read from the suite, never restated.
 */
import { loadSuite } from '../config/experiment';

/** Profile → suite file. */
export const PROFILE_SUITES = { fast: 'default', full: 'paper' } as const;

/** Profile names (the notebook's KIT_PROFILE values). */
export type Profile = keyof typeof PROFILE_SUITES;
export const PROFILES: readonly Profile[] = Object.keys(PROFILE_SUITES) as Profile[];

/** The suite of a profile name, or the name itself when it is a suite name. */
export function profileSuite(profile: string): string {
  return (PROFILE_SUITES as Record<string, string>)[profile] ?? profile;
}

/** The preset a profile trains (the suite's `preset`). */
export function profilePreset(profile: string): string {
  return loadSuite(profileSuite(profile)).preset;
}

/** The notebook profile of a suite name (the suite name itself when no profile maps to it). */
export function notebookProfile(suite: string): string {
  const entry = Object.entries(PROFILE_SUITES).find(([, s]) => s === suite);
  return entry ? entry[0] : suite;
}
