/**
 * Data records shared by every loader, the embedded-dataset generator, batching and evaluation.
 *
 * A dataset is a flat list of images; each image owns its captions. The evaluation protocol
 * (method.md §5) needs exactly five captions per val/test image; caption ids are then assigned in
 * image order (`captionIndex` / `txt2img` below), the way the reference `re_eval_dataset` does.
 */

/** The three splits every RSITR dataset uses. */
export type Split = 'train' | 'val' | 'test';

/** All split names, in canonical order. */
export const SPLITS: readonly Split[] = ['train', 'val', 'test'];

/** Captions per image the retrieval protocol expects for val/test (method.md §5). */
export const CAPTIONS_PER_IMAGE = 5;

/** One image and its captions. */
export interface ImageRecord {
  /** Dataset-unique integer id (position in `RetrievalDataset.images` unless the source file gives one). */
  imageId: number;
  /** File name as written in the annotation (may include a sub-folder, e.g. `train/bridge_942.tif`). */
  fileName: string;
  /** Absolute (or imagesRoot-resolved) path of the image file; for webdataset, `<shard>#<key>`. */
  path: string;
  split: Split;
  /** Captions exactly as in the source file (not cleaned: cleaning is the tokenizer's job). */
  captions: string[];
  /** Scene class from the file-name prefix (`airport_12.jpg` → `airport`); null for numeric names. */
  sceneClass: string | null;
  /** Id the source annotation gave this image (PIR JSON `image_id`, Karpathy `imgid`), when it differs from `imageId`. */
  sourceId?: number;
  /** Optional coarse caption (stage-1 RS5M-style pairs, embedded dataset). */
  coarseCaption?: string;
  /** Encoded image bytes, when the source keeps them in memory (webdataset shards, embedded data). */
  bytes?: Uint8Array;
}

/** Loader formats the kit reads. */
export type DatasetFormat = 'karpathy' | 'pir-json' | 'precomp' | 'webdataset' | 'embedded';

/** A loaded dataset: images with captions, and the sorted list of scene classes. */
export interface RetrievalDataset {
  /** Human-readable name (usually the annotation file's base name). */
  name: string;
  /** One of `DatasetFormat` (string so that other producers can add formats). */
  format: string;
  /** Folder image file names are resolved against. */
  imagesRoot: string;
  images: ImageRecord[];
  /** Sorted distinct non-null scene classes; a record's label is its index here. */
  classes: string[];
}

/** One caption of a split, flattened in image order (text id = position). */
export interface CaptionEntry {
  /** Text id within the split (0-based, image order, then caption order). */
  textId: number;
  /** Index of the owning image within the split's image list. */
  imageIndex: number;
  imageId: number;
  caption: string;
}

/** Images of one split plus the caption ↔ image maps the retrieval metrics need. */
export interface SplitView {
  split: Split;
  images: ImageRecord[];
  captions: CaptionEntry[];
  /** `txt2img[t]` = index (within `images`) of the image owning caption t. */
  txt2img: Int32Array;
  /** `img2txt[i]` = text ids of image i. */
  img2txt: number[][];
}

/** Records of one split, in dataset order. */
export function splitImages(ds: RetrievalDataset, split: Split): ImageRecord[] {
  return ds.images.filter((r) => r.split === split);
}

/** Flattens a split into captions with `txt2img`/`img2txt` maps (text ids in image order). */
export function splitView(ds: RetrievalDataset, split: Split): SplitView {
  const images = splitImages(ds, split);
  const captions: CaptionEntry[] = [];
  const img2txt: number[][] = [];
  images.forEach((rec, imageIndex) => {
    const ids: number[] = [];
    for (const caption of rec.captions) {
      ids.push(captions.length);
      captions.push({ textId: captions.length, imageIndex, imageId: rec.imageId, caption });
    }
    img2txt.push(ids);
  });
  const txt2img = new Int32Array(captions.map((c) => c.imageIndex));
  return { split, images, captions, txt2img, img2txt };
}

/** Class index of a record (−1 when it has no class). */
export function classIndex(ds: RetrievalDataset, rec: ImageRecord): number {
  return rec.sceneClass === null ? -1 : ds.classes.indexOf(rec.sceneClass);
}

/**
 * Scene class from a file name, as the reference does: base name, prefix before the first '_';
 * names without '_' whose stem is purely numeric (`00001.jpg`) carry no class (null).
 * A name without '_' that is not numeric gets its stem as class.
 */
export function sceneClassFromFileName(fileName: string): string | null {
  const base = fileName.split(/[\\/]/).pop() ?? fileName;
  const stem = base.replace(/\.[^.]*$/, '');
  const us = stem.indexOf('_');
  const prefix = us >= 0 ? stem.slice(0, us) : stem;
  if (prefix.length === 0 || /^\d+$/.test(prefix)) return null;
  return prefix;
}

/** Sorted distinct non-null classes of a record list. */
export function collectClasses(images: readonly ImageRecord[]): string[] {
  const set = new Set<string>();
  for (const r of images) if (r.sceneClass !== null) set.add(r.sceneClass);
  return [...set].sort();
}
