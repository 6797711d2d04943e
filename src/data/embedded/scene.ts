/**
 * Scene building blocks: a `SceneBuilder` collects background operations, objects (what captions
 * describe) and caption facts; `Fact`s turn structured content into paraphrasable phrases.
 */
import { SeedStream } from '../../utils/random';
import { DrawOp, Rgb } from './raster';
import { KIND_SIZE, SceneObject } from './objects';
import {
  COLOURS,
  ColourName,
  OBJECT_NOUNS,
  ObjectKind,
  REGION_PHRASES,
  Region,
  article,
  countWord,
  regionOf,
} from './vocabulary';

/**
 * A caption fact: one piece of image content in three grammatical forms, each with paraphrases
 * drawn from the caption stream.
 */
export interface Fact {
  /** Noun phrase without location ("three red planes"). */
  np(r: SeedStream): string;
  /** Noun phrase with location when it has one ("three red planes in the upper left"). */
  npLoc(r: SeedStream): string;
  /** A full clause ("three red planes are parked in the upper left"). */
  clause(r: SeedStream): string;
  /** True for facts about the class's key objects. */
  key: boolean;
}

/** A generated scene: what is drawn and what captions may say about it. */
export interface Scene {
  sceneClass: string;
  /** Background and layout operations (land cover, runways, roads, water), painted first. */
  background: DrawOp[];
  /** Objects in drawing order (key, context, then distractors). */
  objects: SceneObject[];
  /** Caption facts, key facts first. */
  facts: Fact[];
  /** Facts about distractor objects (mentioned only with `distractorMentionRate`). */
  distractorFacts: Fact[];
  /** Named scene attributes (e.g. `runway: 'horizontal'`), for inspection and tests. */
  attributes: Record<string, string | number>;
  /** Class the distractors were borrowed from, or null. */
  distractorClass: string | null;
}

/** An axis-aligned box in normalised coordinates. */
export interface Box {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

/** Margin kept between objects and the image border (normalised). */
const BORDER = 0.02;
/** Attempts per object when placing without overlap. */
const PLACE_TRIES = 80;

/** Collision radius factor per kind (× size/2): elongated shapes pack closer than their length. */
const RADIUS_FACTOR: Partial<Record<ObjectKind, number>> = {
  ship: 0.7,
  boat: 0.7,
  car: 0.75,
  building: 0.85,
  church: 0.8,
};

/** Collision radius of an object. */
export function collisionRadius(o: SceneObject): number {
  return (o.size / 2) * (RADIUS_FACTOR[o.kind] ?? 1);
}

/** Options of `SceneBuilder.place`. */
export interface PlaceOptions {
  colour: ColourName | ((r: SeedStream) => ColourName);
  role: SceneObject['role'];
  /** Size (normalised); default `KIND_SIZE[kind]` with ±10% jitter. */
  size?: number | ((r: SeedStream) => number);
  /** Angle sampler; default uniform in [0, 2π). */
  angle?: (r: SeedStream) => number;
  /** Minimum centre distance as a multiple of the summed radii (default 1.05). */
  gap?: number;
  sourceClass?: string;
}

/** Collects a scene. */
export class SceneBuilder {
  readonly background: DrawOp[] = [];
  readonly objects: SceneObject[] = [];
  readonly facts: Fact[] = [];
  readonly attributes: Record<string, string | number> = {};
  /** Objects that placement must not overlap (layout objects such as bridges are excluded). */
  private readonly solid: SceneObject[] = [];
  /** Extra forbidden zones (e.g. a runway) for placement. */
  private readonly keepOut: Box[] = [];

  constructor(
    readonly sceneClass: string,
    readonly rng: SeedStream,
  ) {}

  /** Add background operations. */
  bg(...ops: DrawOp[]): void {
    this.background.push(...ops);
  }

  /** Forbid object centres inside a box. */
  forbid(b: Box): void {
    this.keepOut.push(b);
  }

  /** Add an object as is (no overlap test); `solid` makes later placements avoid it. */
  add(o: SceneObject, solid = true): SceneObject {
    this.objects.push(o);
    if (solid) this.solid.push(o);
    return o;
  }

  /** Whether an object fits at its position without overlapping solid objects or keep-out zones. */
  fits(o: SceneObject, gap: number): boolean {
    const r = collisionRadius(o);
    if (o.cx - r < BORDER || o.cx + r > 1 - BORDER || o.cy - r < BORDER || o.cy + r > 1 - BORDER) return false;
    for (const b of this.keepOut) if (o.cx > b.x0 && o.cx < b.x1 && o.cy > b.y0 && o.cy < b.y1) return false;
    for (const p of this.solid) {
      const dx = p.cx - o.cx;
      const dy = p.cy - o.cy;
      const min = (collisionRadius(p) + r) * gap;
      if (dx * dx + dy * dy < min * min) return false;
    }
    return true;
  }

  /**
   * Place up to `count` objects of a kind with centres inside `box`, without overlap.
   * Returns the objects actually placed (fewer when the box is full): captions use that count.
   */
  place(kind: ObjectKind, count: number, box: Box, opts: PlaceOptions): SceneObject[] {
    const r = this.rng;
    const placed: SceneObject[] = [];
    const gap = opts.gap ?? 1.05;
    for (let i = 0; i < count; i++) {
      for (let t = 0; t < PLACE_TRIES; t++) {
        const size =
          typeof opts.size === 'function' ? opts.size(r) : opts.size ?? KIND_SIZE[kind] * r.uniform(0.9, 1.1);
        const o: SceneObject = {
          kind,
          colour: typeof opts.colour === 'function' ? opts.colour(r) : opts.colour,
          cx: r.uniform(box.x0, box.x1),
          cy: r.uniform(box.y0, box.y1),
          size,
          angle: opts.angle ? opts.angle(r) : r.uniform(0, 2 * Math.PI),
          role: opts.role,
        };
        if (opts.sourceClass !== undefined) o.sourceClass = opts.sourceClass;
        if (this.fits(o, gap)) {
          placed.push(this.add(o));
          break;
        }
      }
    }
    return placed;
  }

  /** Finish: a `Scene` (distractors are added by the generator afterwards). */
  build(): Scene {
    return {
      sceneClass: this.sceneClass,
      background: this.background,
      objects: this.objects,
      facts: this.facts,
      distractorFacts: [],
      attributes: this.attributes,
      distractorClass: null,
    };
  }
}

/** A colour with random brightness jitter (±amount, same factor on all channels). */
export function jitter(c: Rgb, amount: number, r: SeedStream): Rgb {
  const f = 1 + r.uniform(-amount, amount);
  return [c[0] * f, c[1] * f, c[2] * f];
}

/** Named colour as RGB. */
export function rgbOf(c: ColourName): Rgb {
  return COLOURS[c];
}

/** Centroid of objects. */
export function centroid(objs: readonly SceneObject[]): [number, number] {
  let x = 0;
  let y = 0;
  for (const o of objs) {
    x += o.cx;
    y += o.cy;
  }
  return [x / objs.length, y / objs.length];
}

/** Region of a group of objects (by centroid). */
export function groupRegion(objs: readonly SceneObject[]): Region {
  const [x, y] = centroid(objs);
  return regionOf(x, y);
}

/** A location phrase for a region. */
export function locPhrase(region: Region, r: SeedStream): string {
  return r.pick(REGION_PHRASES[region]);
}

/** Options of `groupFact`. */
export interface GroupFactOptions {
  /** Colour words before the noun ("red"); null = no colour. A function gets (count) for e.g. "red-roofed". */
  colour: string | null;
  /** Verb phrases as [plural, singular] pairs ("are parked", "is parked"). */
  verbs: Array<[string, string]>;
  /** Mention the group's region. */
  located: boolean;
  /** Replace the noun phrase with alternative forms (each gets the count phrase prepended). */
  nounForms?: (plural: boolean) => string[];
  key: boolean;
  /** Noun to use when the count is zero ("there are no boats …"): defaults to the canonical plural. */
  zeroTail?: string;
}

/** A fact about `objs` (all of one kind): count, colour and (optionally) region. */
export function groupFact(kind: ObjectKind, objs: readonly SceneObject[], opts: GroupFactOptions): Fact {
  const n = objs.length;
  const plural = n !== 1;
  const region = n > 0 ? groupRegion(objs) : null;
  const nouns = OBJECT_NOUNS[kind];
  const np = (r: SeedStream): string => {
    if (n === 0) return `no ${r.pick(nouns.plur)}`;
    const forms = opts.nounForms ? opts.nounForms(plural) : [r.pick(plural ? nouns.plur : nouns.sing)];
    const noun = r.pick(forms);
    const body = opts.colour !== null && !opts.nounForms ? `${opts.colour} ${noun}` : noun;
    const count = n === 1 ? (r.bernoulli(0.5) ? 'one' : article(body)) : countWord(n);
    return `${count} ${body}`;
  };
  const loc = (r: SeedStream): string => (region !== null && opts.located ? ` ${locPhrase(region, r)}` : '');
  return {
    key: opts.key,
    np,
    npLoc: (r) => `${np(r)}${loc(r)}`,
    clause: (r) => {
      if (n === 0) return `there are ${np(r)}${opts.zeroTail ? ` ${opts.zeroTail}` : ''}`;
      const [pl, sg] = r.pick(opts.verbs);
      return `${np(r)} ${plural ? pl : sg}${loc(r)}`;
    },
  };
}

/** A fact given directly as paraphrase lists. */
export function attributeFact(nps: string[], clauses: string[], key = false): Fact {
  if (nps.length === 0 || clauses.length === 0) throw new Error('attributeFact: needs at least one np and clause');
  return { key, np: (r) => r.pick(nps), npLoc: (r) => r.pick(nps), clause: (r) => r.pick(clauses) };
}
