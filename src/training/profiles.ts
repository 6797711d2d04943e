/**
 * The one profile table. A profile names a budget: the notebooks read it from KIT_PROFILE, the main
 * job takes it as `--profile`. A profile is a list of suite files (src/configs/suites/<suite>.json),
 * one per setting it covers; each suite names its preset, ablations and seeds, so the preset is read
 * from the suite, never restated:
 *
 *   fast     = default-closed + default-open   (embedded v2, both settings, a reduced ablation set)
 *   full     = v2-closed + v2-open             (embedded v2, the paper's ablations per setting, 5 seeds)
 *   v1       = default                         (embedded v1, the hybrid recipe of the first version)
 *   v1-full  = paper                           (embedded v1, the v1 paper suite)
 *
 * The setting of a suite comes from its preset: a PriorCLIP model is the open domain; a PIR model
 * without stage 1 is the closed domain (PIR's one fine stage after a frozen prior); a PIR model with
 * stage 1 is the v1 hybrid.
 */
import { ExperimentConfig, loadSuite, resolveExperiment, SuiteSpec } from '../config/experiment';

/** Profile → its suites, one per setting, in the order the main job and the notebooks show them. */
export const PROFILE_SUITES = {
  fast: ['default-closed', 'default-open'],
  full: ['v2-closed', 'v2-open'],
  v1: ['default'],
  'v1-full': ['paper'],
} as const;

/** The profile with the same settings' whole suites (the tables the fast profiles' notebooks reuse when complete). */
export const PROFILE_FULL: Record<keyof typeof PROFILE_SUITES, keyof typeof PROFILE_SUITES> = { fast: 'full', full: 'full', v1: 'v1-full', 'v1-full': 'v1-full' };

/** True for the profiles that run their suites whole, at the preset's own budget. */
export function isFullProfile(profile: string): boolean {
  return (PROFILE_FULL as Record<string, string>)[profile] === profile;
}

/** Profile names (the notebook's KIT_PROFILE values). */
export type Profile = keyof typeof PROFILE_SUITES;
export const PROFILES: readonly Profile[] = Object.keys(PROFILE_SUITES) as Profile[];

/** The paper's two settings, and the first version's hybrid of both. */
export type Setting = 'closed' | 'open' | 'hybrid';

/** What each setting is, in one line (tables, notebook captions). */
export const SETTING_TITLES: Record<Setting, string> = {
  closed: 'closed domain (PIR: frozen external prior, one fine stage, hard-belief S-PAE + T-PAE)',
  open: 'open domain (PriorCLIP: pretrained prior, stage 1 coarse, stage 2 fine with the soft belief)',
  hybrid: 'v1 hybrid (PIR model, prior and stage 1 on the fine set itself)',
};

/** One setting of a profile: its suite (preset, ablations, seeds). */
export interface ProfileSetting {
  setting: Setting;
  suite: SuiteSpec;
  preset: string;
}

/** The suites of a profile, or `[profile]` when it is a suite name. */
export function profileSuites(profile: string): string[] {
  const known = (PROFILE_SUITES as Record<string, readonly string[]>)[profile];
  return known ? [...known] : [profile];
}

/** The setting an experiment trains (see the module comment). */
export function experimentSetting(exp: ExperimentConfig): Setting {
  if (exp.model.kind === 'priorclip') return 'open';
  return exp.train.stage1.enabled ? 'hybrid' : 'closed';
}

/** The setting a preset trains. */
export function presetSetting(preset: string): Setting {
  return experimentSetting(resolveExperiment(preset));
}

/** The settings of a profile (or of one suite name), with their suites. */
export function profileSettings(profile: string): ProfileSetting[] {
  return profileSuites(profile).map((name) => {
    const suite = loadSuite(name);
    return { setting: presetSetting(suite.preset), suite, preset: suite.preset };
  });
}

/** One setting of a profile; without `setting`, the profile's first (closed for fast and full). */
export function profileSetting(profile: string, setting?: Setting): ProfileSetting {
  const all = profileSettings(profile);
  if (setting === undefined) return all[0];
  const hit = all.find((s) => s.setting === setting);
  if (!hit) throw new Error(`profile '${profile}' has no ${setting} setting (it has: ${all.map((s) => s.setting).join(', ')})`);
  return hit;
}

/** The suite a profile runs for a setting (default: its first). */
export function profileSuite(profile: string, setting?: Setting): string {
  return profileSetting(profile, setting).suite.name;
}

/** The preset a profile trains for a setting (default: its first), read from the suite. */
export function profilePreset(profile: string, setting?: Setting): string {
  return profileSetting(profile, setting).preset;
}

/** The notebook profile whose suites include `suite` (the suite name itself when none does). */
export function notebookProfile(suite: string): string {
  const entry = Object.entries(PROFILE_SUITES).find(([, s]) => (s as readonly string[]).includes(suite));
  return entry ? entry[0] : suite;
}
