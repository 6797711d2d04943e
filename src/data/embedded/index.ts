/**
 * The embedded benchmark: a procedurally generated, RSITMD-shaped aerial-scene retrieval dataset
 * that needs no download and trains on 2 CPU cores in minutes.
 *
 * Design (why the paper's mechanisms matter on it):
 * - 18 RSITMD scene classes (`airport`, `port`, `storagetanks`, …), each with its own land cover,
 *   layout and *key objects* (planes on an apron, ships at piers, round tanks, …).
 * - Images of one class differ only in details — counts, colours, positions, orientations of the
 *   key objects and layout — and the five fine captions state exactly those details, generated
 *   from the drawn objects. Retrieval inside a class therefore needs fine-grained alignment.
 * - A fraction of images (`distractorRate`) also holds *distractors*: objects typical of another
 *   class (a plane in a port), which the captions almost never mention. A scene prior (knowing
 *   "this is a port") tells the model which objects matter — what Spatial-PAE's prior encoder and
 *   the class-based affiliation loss exploit.
 * - One coarse RS5M-like caption per image ("an aerial image of a harbor"), a configurable share
 *   generic or naming a wrong class: noisy stage-1 pairs.
 * - Ground-truth object boxes per image (`objects` in dataset.json) let notebooks measure where a
 *   model's patch beliefs fall (key objects vs distractors).
 *
 * Entry points: `generateEmbeddedDataset(config)` (cached folder in Karpathy format),
 * `generateEmbeddedImage(config, class, n)` (one image in memory, with its scene), `DEFAULT_EMBEDDED_DATA`.
 */
export * from './config';
export * from './vocabulary';
export * from './raster';
export * from './objects';
export * from './scene';
export * from './classes';
export * from './captions';
export * from './generate';
export * from './annotations';
