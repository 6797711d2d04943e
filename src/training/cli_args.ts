/**
 * Tiny argument parser for the training commands: `--key value`, `--key=value`, boolean `--flag`,
 * `--no-flag`; unknown options are errors that list the known ones.
 */

/** Parsed options: strings for valued options, booleans for flags. */
export type ParsedArgs = Record<string, string | boolean | string[]>;

/** Spec: option name → 'string' | 'boolean' | 'list' (repeatable string). */
export type ArgSpec = Record<string, 'string' | 'boolean' | 'list'>;

/** Parse `argv` (without node and script) against `spec`. */
export function parseArgs(argv: readonly string[], spec: ArgSpec, command: string): ParsedArgs {
  const out: ParsedArgs = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) throw new Error(`${command}: unexpected argument '${a}' (options start with --)`);
    let name = a.slice(2);
    let value: string | undefined;
    const eq = name.indexOf('=');
    if (eq >= 0) {
      value = name.slice(eq + 1);
      name = name.slice(0, eq);
    }
    if (name.startsWith('no-') && spec[name.slice(3)] === 'boolean') {
      out[name.slice(3)] = false;
      continue;
    }
    const kind = spec[name];
    if (!kind) throw new Error(`${command}: unknown option --${name} (known: ${Object.keys(spec).map((k) => `--${k}`).join(', ')})`);
    if (kind === 'boolean') {
      out[name] = value === undefined ? true : value !== 'false';
      continue;
    }
    if (value === undefined) {
      value = argv[++i];
      if (value === undefined) throw new Error(`${command}: --${name} needs a value`);
    }
    if (kind === 'list') {
      const prev = out[name];
      out[name] = [...(Array.isArray(prev) ? prev : []), value];
    } else {
      out[name] = value;
    }
  }
  return out;
}

/** `"0,1,2"` → [0, 1, 2] (errors name the option). */
export function parseIntList(s: string, option: string): number[] {
  const xs = s.split(',').filter((x) => x.trim().length > 0).map((x) => Number(x.trim()));
  if (xs.length === 0 || xs.some((x) => !Number.isInteger(x))) throw new Error(`--${option}: expected comma-separated integers, got '${s}'`);
  return xs;
}

/**
 * `--set a.b.c=value` pairs → a nested override object. Values parse as JSON when they can
 * (numbers, booleans, arrays, null), else stay strings.
 */
export function setsToOverrides(sets: readonly string[]): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  for (const s of sets) {
    const eq = s.indexOf('=');
    if (eq <= 0) throw new Error(`--set '${s}': expected key.path=value`);
    const keys = s.slice(0, eq).split('.');
    const raw = s.slice(eq + 1);
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch {
      value = raw;
    }
    let node = root;
    keys.slice(0, -1).forEach((k) => {
      const next = node[k];
      if (typeof next !== 'object' || next === null) node[k] = {};
      node = node[k] as Record<string, unknown>;
    });
    node[keys[keys.length - 1]] = value;
  }
  return root;
}
