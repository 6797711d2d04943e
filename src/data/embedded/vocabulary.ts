/**
 * Words of the embedded benchmark: named colours, object nouns (with synonyms), count words,
 * image regions, and scene nouns. Captions are built from these, and tests parse captions back
 * with the same tables (so a count in a caption can be checked against the rendered objects).
 */
import { Rgb } from './raster';

/** Colours an object can have; the caption names them. */
export const COLOURS = {
  white: [232, 232, 228],
  grey: [128, 130, 134],
  black: [38, 38, 42],
  red: [196, 48, 40],
  blue: [46, 86, 196],
  yellow: [228, 196, 48],
  green: [56, 140, 60],
  orange: [224, 124, 36],
  brown: [124, 86, 52],
} as const satisfies Record<string, Rgb>;

/** A named colour. */
export type ColourName = keyof typeof COLOURS;

/** Land-cover colours (backgrounds; never named as object colours). */
export const LAND = {
  grass: [92, 132, 62],
  lightGrass: [132, 166, 84],
  dryGrass: [156, 152, 96],
  sand: [214, 194, 146],
  water: [42, 82, 128],
  deepWater: [28, 58, 100],
  asphalt: [72, 74, 78],
  concrete: [168, 168, 162],
  canopy: [32, 78, 36],
  soil: [124, 94, 64],
  roof: [150, 96, 80],
} as const satisfies Record<string, Rgb>;

/** Kinds of objects the generator draws (key objects of a class, context, or distractors). */
export type ObjectKind =
  | 'plane'
  | 'ship'
  | 'boat'
  | 'car'
  | 'tank'
  | 'house'
  | 'building'
  | 'umbrella'
  | 'train'
  | 'tree'
  | 'diamond'
  | 'court'
  | 'pond'
  | 'clearing'
  | 'shrub'
  | 'church'
  | 'track'
  | 'bridge'
  | 'pier';

/** Singular and plural nouns (first = canonical) per object kind. Nouns are unique across kinds. */
export const OBJECT_NOUNS: Record<ObjectKind, { sing: string[]; plur: string[] }> = {
  plane: { sing: ['plane', 'airplane', 'aircraft'], plur: ['planes', 'airplanes', 'aircraft'] },
  ship: { sing: ['ship', 'vessel', 'cargo ship'], plur: ['ships', 'vessels', 'cargo ships'] },
  boat: { sing: ['boat', 'small boat'], plur: ['boats', 'small boats'] },
  car: { sing: ['car', 'vehicle'], plur: ['cars', 'vehicles'] },
  tank: { sing: ['storage tank', 'oil tank', 'tank'], plur: ['storage tanks', 'oil tanks', 'tanks'] },
  house: { sing: ['house', 'home', 'farmhouse'], plur: ['houses', 'homes', 'farmhouses'] },
  building: { sing: ['building', 'factory building', 'warehouse'], plur: ['buildings', 'factory buildings', 'warehouses'] },
  umbrella: { sing: ['umbrella', 'parasol', 'beach umbrella'], plur: ['umbrellas', 'parasols', 'beach umbrellas'] },
  train: { sing: ['train'], plur: ['trains'] },
  tree: { sing: ['tree'], plur: ['trees'] },
  diamond: { sing: ['baseball diamond', 'diamond'], plur: ['baseball diamonds', 'diamonds'] },
  court: { sing: ['court', 'sports court', 'basketball court'], plur: ['courts', 'sports courts', 'basketball courts'] },
  pond: { sing: ['pond', 'pool of water'], plur: ['ponds', 'pools of water'] },
  clearing: { sing: ['clearing', 'open patch'], plur: ['clearings', 'open patches'] },
  shrub: { sing: ['shrub', 'bush'], plur: ['shrubs', 'bushes'] },
  church: { sing: ['church', 'church building'], plur: ['churches', 'church buildings'] },
  track: { sing: ['running track', 'athletics track'], plur: ['running tracks', 'athletics tracks'] },
  bridge: { sing: ['bridge'], plur: ['bridges'] },
  pier: { sing: ['pier', 'dock'], plur: ['piers', 'docks'] },
};

/** Count words; index = count. */
export const COUNT_WORDS = [
  'no',
  'one',
  'two',
  'three',
  'four',
  'five',
  'six',
  'seven',
  'eight',
  'nine',
  'ten',
  'eleven',
  'twelve',
  'thirteen',
  'fourteen',
  'fifteen',
  'sixteen',
  'seventeen',
  'eighteen',
  'nineteen',
  'twenty',
] as const;

/** The word for a count (digits above twenty). */
export function countWord(n: number): string {
  return n >= 0 && n < COUNT_WORDS.length ? COUNT_WORDS[n] : String(n);
}

/** A 3×3 cell of the image, named as captions name it. */
export type Region =
  | 'upper left'
  | 'top'
  | 'upper right'
  | 'left'
  | 'center'
  | 'right'
  | 'lower left'
  | 'bottom'
  | 'lower right';

/** Regions row-major (row = y third, column = x third). */
export const REGIONS: readonly Region[] = [
  'upper left',
  'top',
  'upper right',
  'left',
  'center',
  'right',
  'lower left',
  'bottom',
  'lower right',
];

/** The region (3×3 grid) holding a normalised point. */
export function regionOf(x: number, y: number): Region {
  const col = x < 1 / 3 ? 0 : x < 2 / 3 ? 1 : 2;
  const row = y < 1 / 3 ? 0 : y < 2 / 3 ? 1 : 2;
  return REGIONS[row * 3 + col];
}

/** Centre of a region in normalised coordinates. */
export function regionCentre(r: Region): [number, number] {
  const i = REGIONS.indexOf(r);
  return [((i % 3) + 0.5) / 3, (Math.floor(i / 3) + 0.5) / 3];
}

/** Location phrases per region (paraphrases). */
export const REGION_PHRASES: Record<Region, string[]> = {
  'upper left': ['in the upper left', 'at the top left', 'in the top left corner'],
  top: ['at the top', 'in the upper part', 'near the top edge'],
  'upper right': ['in the upper right', 'at the top right', 'in the top right corner'],
  left: ['on the left', 'on the left side', 'in the left part'],
  center: ['in the center', 'in the middle', 'at the center'],
  right: ['on the right', 'on the right side', 'in the right part'],
  'lower left': ['in the lower left', 'at the bottom left', 'in the bottom left corner'],
  bottom: ['at the bottom', 'in the lower part', 'near the bottom edge'],
  'lower right': ['in the lower right', 'at the bottom right', 'in the bottom right corner'],
};

/** Scene nouns used in fine captions; every variant contains the class word (spaces allowed). */
export const SCENE_NOUNS: Record<string, string[]> = {
  airport: ['airport', 'airport', 'small airport'],
  baseballfield: ['baseball field', 'baseball field area', 'baseball field park'],
  beach: ['beach', 'sandy beach', 'beach area'],
  bridge: ['bridge area', 'bridge scene', 'bridge crossing'],
  church: ['church area', 'church square', 'church district'],
  desert: ['desert', 'desert area', 'sandy desert'],
  farmland: ['farmland', 'farmland area', 'stretch of farmland'],
  forest: ['forest', 'forest area', 'dense forest'],
  industrial: ['industrial area', 'industrial zone', 'industrial park'],
  meadow: ['meadow', 'green meadow', 'meadow area'],
  parking: ['parking lot', 'parking area', 'parking space'],
  playground: ['playground', 'school playground', 'playground area'],
  pond: ['pond area', 'pond landscape', 'pond park'],
  port: ['port', 'port area', 'busy port'],
  railwaystation: ['railway station', 'railway station area', 'busy railway station'],
  residential: ['residential area', 'residential district', 'residential neighborhood'],
  river: ['river landscape', 'river area', 'river valley'],
  storagetanks: ['storage tank area', 'storage tank farm', 'storage tank depot'],
};

/** Noun phrases (with article) used by coarse (RS5M-like) captions; synonyms need not contain the class word. */
export const COARSE_NOUNS: Record<string, string[]> = {
  airport: ['an airport', 'an airfield'],
  baseballfield: ['a baseball field', 'a ballpark'],
  beach: ['a beach', 'a coastline'],
  bridge: ['a bridge', 'a bridge over water'],
  church: ['a church', 'a cathedral'],
  desert: ['a desert', 'sand dunes'],
  farmland: ['farmland', 'agricultural land'],
  forest: ['a forest', 'a woodland'],
  industrial: ['an industrial area', 'a factory zone'],
  meadow: ['a meadow', 'grassland'],
  parking: ['a parking lot', 'a car park'],
  playground: ['a playground', 'a sports ground'],
  pond: ['a pond', 'a small lake'],
  port: ['a port', 'a harbor'],
  railwaystation: ['a railway station', 'a train station'],
  residential: ['a residential area', 'a housing estate'],
  river: ['a river', 'a waterway'],
  storagetanks: ['storage tanks', 'an oil depot'],
};

/** "a" or "an" before a phrase. */
export function article(phrase: string): string {
  return /^[aeiou]/.test(phrase) ? 'an' : 'a';
}

/** Lower-case words of a caption (letters, digits and apostrophes), as the Karpathy `tokens` field. */
export function captionTokens(raw: string): string[] {
  return raw
    .toLowerCase()
    .replace(/[^a-z0-9' ]+/g, ' ')
    .split(/\s+/)
    .filter((t) => t.length > 0);
}
