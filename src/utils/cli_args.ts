/**
 * The one command-line parser of every CLI (train, ablate, evaluate, data, parity, main).
 *
 * Options: `--key value`, `--key=value`, boolean `--flag` / `--no-flag`, repeatable lists; typed
 * specs check integers and numbers against their range and strings against their choices. Every
 * problem is a `UsageError` with one line naming the command and the option; `runCli` turns it into
 * that line plus the usage on stderr and exit code 2, and any other error into its message (no
 * stack trace unless `KIT_DEBUG=1`) and exit code 1.
 */

/** A usage error: bad or missing option, bad value (exit code 2). */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** A typed option. */
export type FlagSpec =
  | { kind: 'string'; choices?: readonly string[] }
  | { kind: 'boolean' }
  | { kind: 'list' }
  | { kind: 'int'; min?: number; max?: number }
  | { kind: 'number'; min?: number; max?: number }
  | { kind: 'intList'; min?: number; max?: number };

/** Spec: option name → kind (the short forms are untyped strings, booleans and string lists). */
export type ArgSpec = Record<string, 'string' | 'boolean' | 'list' | FlagSpec>;

/** Parsed options: strings, booleans, string lists, numbers and integer lists. */
export type ParsedArgs = Record<string, string | boolean | string[] | number | number[]>;

/** Parsed command line: options and positional arguments. */
export interface ParsedCommandLine {
  flags: ParsedArgs;
  positional: string[];
}

/** Positional arguments a command accepts (default: none). */
export interface PositionalSpec {
  min?: number;
  max?: number;
}

function specOf(spec: ArgSpec, name: string): FlagSpec | undefined {
  const s = spec[name];
  if (s === undefined) return undefined;
  return typeof s === 'string' ? ({ kind: s } as FlagSpec) : s;
}

function rangeText(min: number | undefined, max: number | undefined): string {
  if (min !== undefined && max !== undefined) return ` in [${min}, ${max}]`;
  if (min !== undefined) return min === 0 ? ' ≥ 0' : ` ≥ ${min}`;
  if (max !== undefined) return ` ≤ ${max}`;
  return '';
}

function checkNumber(command: string, name: string, raw: string, s: { kind: 'int' | 'number' | 'intList'; min?: number; max?: number }): number {
  const t = raw.trim();
  const n = t === '' ? NaN : Number(t);
  const integer = s.kind !== 'number';
  const ok = Number.isFinite(n) && (!integer || Number.isInteger(n)) && (s.min === undefined || n >= s.min) && (s.max === undefined || n <= s.max);
  if (!ok) {
    throw new UsageError(`${command}: --${name} must be ${integer ? 'an integer' : 'a number'}${rangeText(s.min, s.max)}, got '${raw}'`);
  }
  return n;
}

function convert(command: string, name: string, raw: string, s: FlagSpec): string | number | number[] {
  switch (s.kind) {
    case 'string':
      if (s.choices !== undefined && !s.choices.includes(raw)) throw new UsageError(`${command}: --${name} must be one of ${s.choices.join(', ')}, got '${raw}'`);
      return raw;
    case 'int':
    case 'number':
      return checkNumber(command, name, raw, s);
    case 'intList': {
      const parts = raw.split(',').filter((x) => x.trim().length > 0);
      if (parts.length === 0) throw new UsageError(`${command}: --${name} expects comma-separated integers, got '${raw}'`);
      return parts.map((p) => checkNumber(command, name, p, s));
    }
    default:
      return raw;
  }
}

/** Parses `argv` (without node and script) against `spec`, with positional arguments. */
export function parseCommandLine(argv: readonly string[], spec: ArgSpec, command: string, positional: PositionalSpec = {}): ParsedCommandLine {
  const flags: ParsedArgs = {};
  const pos: string[] = [];
  const known = (): string => Object.keys(spec).map((k) => `--${k}`).join(', ');
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--') || a === '--') {
      if (a === '--') continue;
      pos.push(a);
      continue;
    }
    let name = a.slice(2);
    let value: string | undefined;
    const eq = name.indexOf('=');
    if (eq >= 0) {
      value = name.slice(eq + 1);
      name = name.slice(0, eq);
    }
    if (name.startsWith('no-') && specOf(spec, name.slice(3))?.kind === 'boolean') {
      if (value !== undefined) throw new UsageError(`${command}: --${name} takes no value`);
      flags[name.slice(3)] = false;
      continue;
    }
    const s = specOf(spec, name);
    if (s === undefined) throw new UsageError(`${command}: unknown option --${name} (known: ${known()})`);
    if (s.kind === 'boolean') {
      if (value !== undefined && value !== 'true' && value !== 'false') throw new UsageError(`${command}: --${name} is a switch (true or false), got '${value}'`);
      flags[name] = value === undefined ? true : value === 'true';
      continue;
    }
    if (value === undefined) {
      value = argv[++i];
      if (value === undefined || (value.startsWith('--') && value.length > 2)) throw new UsageError(`${command}: --${name} needs a value`);
    }
    if (s.kind === 'list') {
      const prev = flags[name];
      flags[name] = [...(Array.isArray(prev) ? (prev as string[]) : []), value];
      continue;
    }
    if (flags[name] !== undefined) throw new UsageError(`${command}: --${name} given twice`);
    flags[name] = convert(command, name, value, s);
  }
  const min = positional.min ?? 0;
  const max = positional.max ?? 0;
  if (pos.length > max) throw new UsageError(`${command}: unexpected argument '${pos[max]}'${max === 0 ? ' (options start with --)' : ''}`);
  if (pos.length < min) throw new UsageError(`${command}: needs ${min} argument${min > 1 ? 's' : ''}, got ${pos.length}`);
  return { flags, positional: pos };
}

/** Parses `argv` against `spec` (no positional arguments). */
export function parseArgs(argv: readonly string[], spec: ArgSpec, command: string): ParsedArgs {
  return parseCommandLine(argv, spec, command).flags;
}

/** `"0,1,2"` → [0, 1, 2] (errors name the option). */
export function parseIntList(s: string, option: string): number[] {
  return convert('option', option, s, { kind: 'intList' }) as number[];
}

/**
 * `--set a.b.c=value` pairs → a nested override object. Values parse as JSON when they can
 * (numbers, booleans, arrays, null), else stay strings.
 */
export function setsToOverrides(sets: readonly string[]): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  for (const s of sets) {
    const eq = s.indexOf('=');
    if (eq <= 0) throw new UsageError(`--set '${s}': expected key.path=value`);
    const keys = s.slice(0, eq).split('.');
    if (keys.some((k) => k.length === 0)) throw new UsageError(`--set '${s}': empty key in the path`);
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

/** Typed accessors (the spec guarantees the type; undefined when the option was not given). */
export function str(a: ParsedArgs, k: string): string | undefined {
  const v = a[k];
  return typeof v === 'string' ? v : undefined;
}
export function num(a: ParsedArgs, k: string): number | undefined {
  const v = a[k];
  return typeof v === 'number' ? v : undefined;
}
export function nums(a: ParsedArgs, k: string): number[] | undefined {
  const v = a[k];
  return Array.isArray(v) && (v as unknown[]).every((x) => typeof x === 'number') ? (v as number[]) : undefined;
}
export function list(a: ParsedArgs, k: string): string[] {
  const v = a[k];
  return Array.isArray(v) ? (v as unknown[]).map(String) : [];
}
export function flag(a: ParsedArgs, k: string): boolean | undefined {
  const v = a[k];
  return typeof v === 'boolean' ? v : undefined;
}

/** Environment variable that makes `runCli` print stack traces. */
export const DEBUG_ENV = 'KIT_DEBUG';

/** One line (or a few, for multi-line messages) for an error, never a stack unless KIT_DEBUG=1. */
export function formatCliError(e: unknown): string {
  if (process.env[DEBUG_ENV] === '1' && e instanceof Error && e.stack) return e.stack;
  return e instanceof Error ? e.message : String(e);
}

/**
 * Runs a CLI's main function and exits: its number (or 0), 2 with the usage on a UsageError, 1 with
 * the error's message on any other error.
 */
export function runCli(main: () => Promise<number | void>, usage: string, after?: () => Promise<void> | void): void {
  main().then(
    async (code) => {
      if (after) await after();
      process.exit(typeof code === 'number' ? code : 0);
    },
    async (e: unknown) => {
      if (e instanceof UsageError) process.stderr.write(`${e.message}\n${usage}\n`);
      else process.stderr.write(`${formatCliError(e)}\n`);
      try {
        if (after) await after();
      } catch {
        /* keep the first error */
      }
      process.exit(e instanceof UsageError ? 2 : 1);
    },
  );
}
