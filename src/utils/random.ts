/**
 * Seeded, named random streams: the only source of randomness in the kit.
 *
 * A run has one root seed. Every component asks for its own child stream by name
 * (`seeds.child('shuffle')`, `seeds.child('spatialPae')`), so adding a random draw in one
 * component never shifts the numbers of another. Streams are sfc32 generators seeded through
 * splitmix32 from (parent state, FNV-1a hash of the name).
 *
 * tfjs ops that take a seed (initialisers, `tf.randomNormal`, dropout) must get a *fresh* integer
 * from `stream.nextSeed()` on every call: a constant seed repeats the same draw (style.md §4.8).
 */

/** FNV-1a 32-bit offset basis. */
const FNV_OFFSET = 0x811c9dc5;
/** FNV-1a 32-bit prime. */
const FNV_PRIME = 0x01000193;
/** splitmix32 increment (golden ratio · 2^32). */
const SPLITMIX_GAMMA = 0x9e3779b9;
/** 2^32, to map a uint32 to [0, 1). */
const TWO_POW_32 = 4294967296;
/** Largest seed handed to tfjs ops: they take a JS number and feed it to seedrandom. */
const MAX_TF_SEED = 2147483647;
/** Warm-up draws after seeding sfc32, as its author recommends. */
const SFC32_WARMUP = 12;

/** 32-bit FNV-1a hash of a string. */
export function hashString(s: string): number {
  let h = FNV_OFFSET;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, FNV_PRIME) >>> 0;
  }
  return h >>> 0;
}

function splitmix32(state: { s: number }): number {
  state.s = (state.s + SPLITMIX_GAMMA) >>> 0;
  let z = state.s;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  return (z ^ (z >>> 16)) >>> 0;
}

/** A deterministic random stream with named children. */
export class SeedStream {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  /** Stream path, e.g. `root(0)/data/shuffle`, for error messages and run records. */
  readonly path: string;
  /** The 32-bit seed this stream was created from. */
  readonly seed: number;
  private cachedNormal: number | null = null;

  constructor(seed: number, path = `root(${seed})`) {
    if (!Number.isFinite(seed)) throw new Error(`SeedStream: seed must be a finite number, got ${seed}`);
    this.seed = seed >>> 0;
    this.path = path;
    const st = { s: this.seed };
    this.a = splitmix32(st);
    this.b = splitmix32(st);
    this.c = splitmix32(st);
    this.d = splitmix32(st);
    for (let i = 0; i < SFC32_WARMUP; i++) this.nextUint32();
  }

  /** A child stream that depends only on this stream's seed and the name (not on draws made). */
  child(name: string): SeedStream {
    const st = { s: (this.seed ^ hashString(name)) >>> 0 };
    splitmix32(st);
    return new SeedStream(splitmix32(st), `${this.path}/${name}`);
  }

  /** Next uint32 (sfc32). */
  nextUint32(): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0;
    this.d = (this.d + 1) >>> 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) >>> 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) >>> 0;
    return t >>> 0;
  }

  /** Uniform float in [0, 1). */
  random(): number {
    return this.nextUint32() / TWO_POW_32;
  }

  /** Uniform float in [lo, hi). */
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.random();
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    if (!(n > 0)) throw new Error(`SeedStream.int: n must be > 0, got ${n}`);
    return Math.floor(this.random() * n);
  }

  /** Uniform integer in [lo, hi] (inclusive). */
  intBetween(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  /** True with probability p. */
  bernoulli(p: number): boolean {
    return this.random() < p;
  }

  /** Standard normal draw (Box–Muller, caching the second value). */
  normal(mean = 0, std = 1): number {
    if (this.cachedNormal !== null) {
      const z = this.cachedNormal;
      this.cachedNormal = null;
      return mean + std * z;
    }
    let u = 0;
    while (u === 0) u = this.random();
    const v = this.random();
    const r = Math.sqrt(-2 * Math.log(u));
    this.cachedNormal = r * Math.sin(2 * Math.PI * v);
    return mean + std * r * Math.cos(2 * Math.PI * v);
  }

  /** One element of a non-empty array. */
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error(`SeedStream.pick: empty array (${this.path})`);
    return items[this.int(items.length)];
  }

  /** In-place Fisher–Yates shuffle; returns the array. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = items[i];
      items[i] = items[j];
      items[j] = tmp;
    }
    return items;
  }

  /** A permutation of 0..n-1. */
  permutation(n: number): number[] {
    return this.shuffle(Array.from({ length: n }, (_, i) => i));
  }

  /** A fresh integer seed for a tfjs op (initialiser, randomNormal, dropout). Never reuse it. */
  nextSeed(): number {
    return this.nextUint32() % MAX_TF_SEED;
  }

  /** A `() => number` in [0, 1), e.g. for umap-js's `random` option. */
  asFunction(): () => number {
    return () => this.random();
  }
}
