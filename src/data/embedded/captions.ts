/**
 * Captions of the embedded benchmark.
 *
 * Fine captions (five per image, RSITMD-like: lower case, " ." at the end) are generated from the
 * scene's facts — what was actually drawn — with several sentence templates and synonyms, so the
 * captions of one image differ from each other and images of one class differ by their details.
 * Distractors are mentioned only rarely (`distractorMentionRate`): they are noise the model should
 * learn to ignore, which is what a scene prior helps with.
 *
 * Coarse captions (one per image, RS5M-like: "an aerial image of a harbor") name only the class;
 * a configurable fraction is generic ("a satellite image") or names a wrong class.
 */
import { SeedStream } from '../../utils/random';
import { Fact, Scene } from './scene';
import { COARSE_NOUNS, SCENE_NOUNS, article } from './vocabulary';

/** Probability that a caption combines its primary fact with a second one. */
const SECOND_FACT_PROB = 0.7;
/** Attempts to draw a caption that differs from the image's earlier captions. */
const DEDUP_TRIES = 8;

type Template = (s: string, x: Fact, y: Fact | null, r: SeedStream) => string;

/** Sentence templates: s = scene noun, x = primary fact, y = optional second fact. */
const TEMPLATES: Template[] = [
  (s, x, y, r) => `${article(s)} ${s} with ${x.npLoc(r)}${y ? ` and ${y.np(r)}` : ''}`,
  (s, x, y, r) => `in this ${s} , ${x.clause(r)}${y ? ` and ${y.clause(r)}` : ''}`,
  (s, x, y, r) => `we can see ${x.npLoc(r)}${y ? ` and ${y.np(r)}` : ''} in this ${s}`,
  (s, x, y, r) => `this ${s} has ${x.npLoc(r)}${y ? ` , and ${y.clause(r)}` : ''}`,
  (s, x, y, r) => `${article(s)} ${s} where ${x.clause(r)}${y ? ` and ${y.clause(r)}` : ''}`,
  (s, x, y, r) => `seen from above , ${article(s)} ${s} with ${x.npLoc(r)}${y ? ` ; ${y.clause(r)}` : ''}`,
  (s, x, y, r) => `${x.clause(r)}${y ? ` and ${y.clause(r)}` : ''} in the ${s}`,
];

/**
 * Fine captions of a scene. The key fact (index 0) is the primary fact of at least two captions;
 * with `mentionDistractor`, one caption also mentions the distractor objects.
 */
export function fineCaptions(scene: Scene, count: number, mentionDistractor: boolean, r: SeedStream): string[] {
  const facts = scene.facts;
  if (facts.length === 0) throw new Error(`fineCaptions: scene of class ${scene.sceneClass} has no facts`);
  const nouns = SCENE_NOUNS[scene.sceneClass];
  if (!nouns) throw new Error(`fineCaptions: no scene nouns for class "${scene.sceneClass}"`);
  const nf = facts.length;
  const primaries = [0, 1 % nf, 0, 2 % nf, r.int(nf)];
  const templateOrder = r.permutation(TEMPLATES.length);
  const mentionAt = mentionDistractor && scene.distractorFacts.length > 0 ? r.int(count) : -1;
  const out: string[] = [];
  for (let k = 0; k < count; k++) {
    let caption = '';
    for (let attempt = 0; attempt < DEDUP_TRIES; attempt++) {
      const x = facts[k < primaries.length && attempt === 0 ? primaries[k] : r.int(nf)];
      let y: Fact | null = null;
      if (nf > 1 && r.bernoulli(SECOND_FACT_PROB)) {
        const others = facts.filter((f) => f !== x);
        y = r.pick(others);
      }
      if (k === mentionAt) y = r.pick(scene.distractorFacts);
      const template = TEMPLATES[templateOrder[(k + attempt) % TEMPLATES.length]];
      caption = `${template(r.pick(nouns), x, y, r)} .`;
      if (!out.includes(caption)) break;
    }
    out.push(caption);
  }
  return out;
}

/** Kinds of coarse caption. */
export type CoarseKind = 'clean' | 'generic' | 'wrong';

/** Coarse templates over a noun phrase that carries its own article ("a harbor", "storage tanks"). */
const COARSE_TEMPLATES: Array<(np: string) => string> = [
  (np) => `an aerial image of ${np}`,
  (np) => `a satellite image of ${np}`,
  (np) => `a remote sensing image showing ${np}`,
  (np) => `${np} seen from above`,
  (np) => `an overhead photo of ${np}`,
];
const GENERIC_CAPTIONS = ['a satellite image', 'an aerial photograph', 'a remote sensing image of the ground', 'a top down view of some land'];

/**
 * One coarse (stage-1) caption. `wrong` names a class other than the true one, drawn from `classes`.
 */
export function coarseCaption(sceneClass: string, kind: CoarseKind, classes: readonly string[], r: SeedStream): string {
  if (kind === 'generic') return r.pick(GENERIC_CAPTIONS);
  let cls = sceneClass;
  if (kind === 'wrong') {
    const others = classes.filter((c) => c !== sceneClass);
    if (others.length === 0) return r.pick(GENERIC_CAPTIONS);
    cls = r.pick(others);
  }
  const nouns = COARSE_NOUNS[cls];
  if (!nouns) throw new Error(`coarseCaption: no coarse nouns for class "${cls}"`);
  return r.pick(COARSE_TEMPLATES)(r.pick(nouns));
}
