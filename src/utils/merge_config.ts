/**
 * Config resolution: deep-merge override objects onto a fully specified base, rejecting unknown keys
 * and wrong types with an error that names the key path (e.g. `model.spatialPae.filterSize`).
 *
 * The base object *is* the schema: every key the kit understands exists in the defaults with a value
 * of the right type, so there is no second schema to keep in sync. Arrays are replaced whole.
 * A `null` in the base means "nullable": an override may set it to null or to any JSON value.
 */

/** A JSON-like plain object. */
export type JsonObject = { [key: string]: JsonValue };
export type JsonValue = string | number | boolean | null | JsonValue[] | JsonObject;

/** Recursively optional, for override objects. */
export type DeepPartial<T> = T extends (infer U)[]
  ? U[]
  : T extends object
    ? { [K in keyof T]?: DeepPartial<T[K]> }
    : T;

export class ConfigError extends Error {
  constructor(
    message: string,
    /** The dotted key path at fault. */
    readonly keyPath: string,
  ) {
    super(message);
    this.name = 'ConfigError';
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function kindOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

/**
 * Merge `override` onto `base` (neither is modified) and return the result.
 * @param source names where the override came from (a file path), for error messages.
 */
export function mergeConfig<T>(base: T, override: unknown, source = 'override', prefix = ''): T {
  if (override === undefined) return structuredClone(base);
  if (!isPlainObject(base)) {
    return checkLeaf(base, override, source, prefix) as T;
  }
  if (!isPlainObject(override)) {
    throw new ConfigError(
      `${source}: '${prefix || '<root>'}' must be an object, got ${kindOf(override)}`,
      prefix,
    );
  }
  const out: Record<string, unknown> = structuredClone(base) as Record<string, unknown>;
  for (const [k, v] of Object.entries(override)) {
    const keyPath = prefix ? `${prefix}.${k}` : k;
    if (!(k in out)) {
      const known = Object.keys(out).join(', ');
      throw new ConfigError(`${source}: unknown config key '${keyPath}' (known here: ${known})`, keyPath);
    }
    out[k] = mergeConfig(out[k], v, source, keyPath);
  }
  return out as T;
}

function checkLeaf(base: unknown, value: unknown, source: string, keyPath: string): unknown {
  if (base === null) return structuredClone(value);
  const want = kindOf(base);
  const got = kindOf(value);
  if (want !== got) {
    throw new ConfigError(
      `${source}: config key '${keyPath}' must be ${want}, got ${got} (${JSON.stringify(value)})`,
      keyPath,
    );
  }
  if (want === 'number' && !Number.isFinite(value as number)) {
    throw new ConfigError(`${source}: config key '${keyPath}' must be a finite number`, keyPath);
  }
  if (want === 'array') {
    const b = base as unknown[];
    const v = value as unknown[];
    if (b.length > 0) {
      const elemKind = kindOf(b[0]);
      v.forEach((x, i) => {
        if (kindOf(x) !== elemKind) {
          throw new ConfigError(
            `${source}: config key '${keyPath}[${i}]' must be ${elemKind}, got ${kindOf(x)}`,
            `${keyPath}[${i}]`,
          );
        }
      });
    }
  }
  return structuredClone(value);
}

/** Check that `value` is one of `allowed`, naming the key path otherwise. */
export function checkEnum<T extends string>(value: string, allowed: readonly T[], keyPath: string): T {
  if (!(allowed as readonly string[]).includes(value)) {
    throw new ConfigError(`config key '${keyPath}' must be one of ${allowed.join(' | ')}, got '${value}'`, keyPath);
  }
  return value as T;
}
