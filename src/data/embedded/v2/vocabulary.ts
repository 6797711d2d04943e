/**
 * The vocabulary design of the embedded benchmark v2, as data (read by the generator, the tests
 * and — through `vocabulary.json` in every generated folder — the vocabulary-shift diagnostic).
 *
 * Three tiers, after the paper's setting (RS5M's web/VLM captions vs RSITMD's annotator sentences):
 * - **shared**: the class words ("airport", "storage tanks") and the canonical object nouns
 *   ("planes"): both corpora use them;
 * - **fine-only**: what annotators write and captioners do not — exact counts ("three"), image
 *   regions ("upper left"), colours, layout clauses (v1's caption tables, `../vocabulary.ts`);
 * - **coarse-only**: what a web captioner writes — scene synonyms ("aerodrome", "seaport"),
 *   photo words ("satellite view", "imagery"), vague quantifiers ("several");
 * - **long-tail** (a subset of the coarse vocabulary): object names the fine captions use only
 *   with probability `fine.longTailRate` ("jetliners" for planes) and the coarse captions often.
 * Words are checked against the generated captions by the tests (a declared coarse-only word never
 * occurs in a fine caption; long-tail words are rare in fine training captions).
 */
import { ObjectKind } from '../vocabulary';
import { EMBEDDED_SCENE_CLASSES } from '../config';

/** Singular and plural of a long-tail object name. */
export interface NounForms {
  sing: string[];
  plur: string[];
}

/** Coarse-only scene synonyms (noun phrases with article), per class. */
export const COARSE_SCENE_SYNONYMS: Record<string, string[]> = {
  airport: ['an airfield', 'an aerodrome', 'an air base'],
  baseballfield: ['a ballpark', 'a sandlot'],
  beach: ['a coastline', 'a seashore', 'a shoreline'],
  bridge: ['a viaduct', 'an overpass', 'a causeway'],
  church: ['a cathedral', 'a chapel', 'a basilica'],
  desert: ['an arid wasteland', 'arid badlands', 'a barren expanse'],
  farmland: ['cropland', 'an agricultural plain', 'tilled acreage'],
  forest: ['a woodland', 'a timberland', 'woods'],
  industrial: ['a manufacturing estate', 'a manufacturing complex'],
  meadow: ['grassland', 'a pasture', 'a prairie'],
  parking: ['a carpark', 'a garage yard', 'a motor yard'],
  playground: ['a schoolyard', 'an athletic campus', 'a recreation yard'],
  pond: ['a lagoon', 'a reservoir', 'a tarn'],
  port: ['a harbour', 'a seaport', 'a marina'],
  railwaystation: ['a rail terminal', 'a rail yard', 'a transit hub'],
  residential: ['a housing estate', 'suburbs', 'a subdivision'],
  river: ['a waterway', 'a stream', 'a creek'],
  storagetanks: ['a petroleum terminal', 'a fuel terminal', 'a refinery'],
  bareland: ['barren soil', 'wasteland', 'scrubland'],
  commercial: ['a shopping mall', 'a business quarter', 'downtown'],
  stadium: ['an arena', 'a coliseum', 'a velodrome'],
  denseresidential: ['tightly packed housing', 'a crowded township', 'terraced housing'],
};

/** Shared scene phrases (the class word, as the fine captions also use it), per class. */
export const SHARED_SCENE_PHRASES: Record<string, string[]> = {
  airport: ['an airport'],
  baseballfield: ['a baseball field'],
  beach: ['a beach'],
  bridge: ['a bridge'],
  church: ['a church'],
  desert: ['a desert'],
  farmland: ['farmland'],
  forest: ['a forest'],
  industrial: ['an industrial area'],
  meadow: ['a meadow'],
  parking: ['a parking lot'],
  playground: ['a playground'],
  pond: ['a pond'],
  port: ['a port'],
  railwaystation: ['a railway station'],
  residential: ['a residential area'],
  river: ['a river'],
  storagetanks: ['storage tanks'],
  bareland: ['bare land'],
  commercial: ['a commercial area'],
  stadium: ['a stadium'],
  denseresidential: ['a dense residential area'],
};

/** Long-tail object names per kind (coarse vocabulary; rare in fine captions). */
export const LONG_TAIL_OBJECT_NAMES: Record<ObjectKind, NounForms> = {
  plane: { sing: ['jetliner', 'airliner'], plur: ['jetliners', 'airliners'] },
  ship: { sing: ['freighter', 'tanker'], plur: ['freighters', 'tankers'] },
  boat: { sing: ['dinghy', 'skiff'], plur: ['dinghies', 'skiffs'] },
  car: { sing: ['sedan', 'hatchback'], plur: ['sedans', 'hatchbacks'] },
  tank: { sing: ['silo', 'cistern'], plur: ['silos', 'cisterns'] },
  house: { sing: ['cottage', 'bungalow'], plur: ['cottages', 'bungalows'] },
  building: { sing: ['mill', 'workshop'], plur: ['mills', 'workshops'] },
  umbrella: { sing: ['sunshade', 'awning'], plur: ['sunshades', 'awnings'] },
  train: { sing: ['locomotive', 'railcar'], plur: ['locomotives', 'railcars'] },
  tree: { sing: ['conifer', 'oak'], plur: ['conifers', 'oaks'] },
  diamond: { sing: ['infield'], plur: ['infields'] },
  court: { sing: ['hardcourt'], plur: ['hardcourts'] },
  pond: { sing: ['waterhole'], plur: ['waterholes'] },
  clearing: { sing: ['glade'], plur: ['glades'] },
  shrub: { sing: ['thicket', 'bramble'], plur: ['thickets', 'brambles'] },
  church: { sing: ['steeple', 'chapel'], plur: ['steeples', 'chapels'] },
  track: { sing: ['racetrack'], plur: ['racetracks'] },
  bridge: { sing: ['footbridge', 'flyover'], plur: ['footbridges', 'flyovers'] },
  pier: { sing: ['jetty', 'wharf'], plur: ['jetties', 'wharves'] },
};

/** Coarse caption templates over a scene phrase (RS5M / VLM-captioner style). */
export const COARSE_TEMPLATES: ReadonlyArray<(scene: string) => string> = [
  (s) => `a satellite view of ${s}`,
  (s) => `an overhead shot of ${s}`,
  (s) => `aerial imagery of ${s}`,
  (s) => `a bird's eye snapshot of ${s}`,
  (s) => `${s} photographed from a satellite`,
  (s) => `high resolution imagery showing ${s}`,
];

/** Coarse captions that name no scene (noise). */
export const COARSE_GENERIC_CAPTIONS: readonly string[] = [
  'a satellite image',
  'an aerial photograph',
  'remote sensing imagery of the earth',
  'an overhead view of some terrain',
];

/** Vague quantifiers of coarse object mentions (captioners do not count). */
export const VAGUE_QUANTIFIERS: readonly string[] = ['several', 'lots of', 'a few', 'some'];

/** Lower-case words of phrases. */
function words(phrases: readonly string[]): string[] {
  return phrases.flatMap((p) => p.toLowerCase().split(/[^a-z0-9']+/).filter((w) => w.length > 0));
}

/** Words too common to belong to a tier (articles, prepositions). */
export const FUNCTION_WORDS: readonly string[] = ['a', 'an', 'the', 'of', 'with', 'from', 'some', 'and', 'in', 'on'];

/**
 * Class words of the AID-only classes (`./classes.ts`) that the fine captions never use (their other
 * words — "bare", "land", "dense", "residential", "area" — are fine words too).
 */
export const EXTRA_CLASS_WORDS: readonly string[] = ['commercial', 'stadium'];

/** The declared tiers (sorted, function words removed). */
export interface VocabularyTiers {
  /** Words only coarse captions use (scene synonyms, photo words, quantifiers, long-tail names). */
  coarseOnly: string[];
  /** The long-tail object names (⊂ coarseOnly): rare in fine captions by `fine.longTailRate`. */
  longTail: string[];
  /** Words both corpora use (the class words of the fine classes' shared scene phrases). */
  shared: string[];
}

/** The declared vocabulary tiers of v2. */
export function declaredVocabularyTiers(): VocabularyTiers {
  const fn = new Set(FUNCTION_WORDS);
  const uniq = (ws: string[]): string[] => [...new Set(ws.filter((w) => !fn.has(w)))].sort();
  const longTail = uniq(words(Object.values(LONG_TAIL_OBJECT_NAMES).flatMap((f) => [...f.sing, ...f.plur])));
  const templateWords = words(COARSE_TEMPLATES.map((t) => t('')));
  const coarseOnly = uniq([
    ...words(Object.values(COARSE_SCENE_SYNONYMS).flat()),
    ...templateWords,
    ...words(COARSE_GENERIC_CAPTIONS),
    ...words(VAGUE_QUANTIFIERS),
    ...EXTRA_CLASS_WORDS,
    ...longTail,
  ]);
  const fineClassPhrases = EMBEDDED_SCENE_CLASSES.flatMap((c) => SHARED_SCENE_PHRASES[c] ?? []);
  const shared = uniq(words(fineClassPhrases)).filter((w) => !coarseOnly.includes(w));
  return { coarseOnly, longTail, shared };
}
