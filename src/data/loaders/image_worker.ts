/**
 * Image preparation off the main thread: a pool of worker threads that decode, augment (or
 * eval-resize) and normalise images into NHWC float32, so batch preparation runs in parallel with a
 * CPU-bound training step (JS has one thread per isolate; a prefetch queue alone only overlaps awaited
 * work).
 *
 * Each job carries its own augmentation seed, so the pixels are identical to the in-process path
 * (`prepareImage`) whatever the number of workers. Workers keep a bounded cache of decoded images.
 * Workers are started through tsx's CommonJS register hook, so they run from the TypeScript sources
 * under `tsx`, `node --import tsx` and tslab alike.
 */
import * as fs from 'fs';
import { Worker, isMainThread, parentPort } from 'worker_threads';
import { SeedStream } from '../../utils/random';
import { RgbImage, decodeImage } from '../../io/image_codecs';
import { AugmentConfig, augmentImage } from '../augment';
import { CLIP_MEAN, CLIP_STD, EvalTransform, evalResize, normalizeInto } from '../image_preprocess';

/** How to turn one image into network input. */
export interface PrepareConfig {
  size: number;
  augment: AugmentConfig | null;
  transform: EvalTransform;
  mean: readonly [number, number, number];
  std: readonly [number, number, number];
}

/** One image to prepare. */
export interface PrepareJob {
  /** Cache key (image id). */
  key: number;
  /** File to read, when `bytes` is absent. */
  path: string;
  bytes?: Uint8Array;
  /** Name used in error messages (file + record). */
  label: string;
  /** Augmentation seed (uint32). */
  seed: number;
}

/** Decoded images kept per worker by default (bytes). */
const WORKER_CACHE_BYTES = 128 * 1024 * 1024;

/** Decodes a job's image (errors name the file and the record). */
export function decodeJob(job: PrepareJob): RgbImage {
  let bytes = job.bytes;
  if (bytes === undefined) {
    try {
      bytes = fs.readFileSync(job.path);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new Error(`${job.path}: ${code === 'ENOENT' ? 'missing image file' : `cannot read image (${code ?? (e as Error).message})`} for ${job.label}`);
    }
  }
  try {
    return decodeImage(bytes, job.path);
  } catch (e) {
    throw new Error(`${(e as Error).message} [${job.label}]`);
  }
}

/** Augments or eval-resizes a decoded image and normalises it into `out` at `offset`. */
export function prepareImage(img: RgbImage, cfg: PrepareConfig, seed: number, out: Float32Array, offset: number): void {
  const r = cfg.augment !== null ? augmentImage(img, cfg.augment, new SeedStream(seed, `augment(${seed})`)) : evalResize(img, cfg.size, cfg.transform);
  normalizeInto(r, out, offset, cfg.mean, cfg.std);
}

interface WorkRequest { id: number; cfg: PrepareConfig; jobs: PrepareJob[] }
interface WorkReply { id: number; pixels?: Float32Array; error?: string }

/** Worker side: answers `WorkRequest`s. Started by `ImageWorkerPool`; does nothing on the main thread. */
export function runImageWorker(): void {
  if (isMainThread || parentPort === null) return;
  const port = parentPort;
  const cache = new Map<number, RgbImage>();
  let cached = 0;
  port.on('message', (req: WorkRequest) => {
    try {
      const S = req.cfg.size;
      const pixels = new Float32Array(req.jobs.length * S * S * 3);
      req.jobs.forEach((job, i) => {
        let img = cache.get(job.key);
        if (img === undefined) {
          img = decodeJob(job);
          if (cached + img.data.length <= WORKER_CACHE_BYTES) { cache.set(job.key, img); cached += img.data.length; }
        }
        prepareImage(img, req.cfg, job.seed, pixels, i * S * S * 3);
      });
      const reply: WorkReply = { id: req.id, pixels };
      port.postMessage(reply, [pixels.buffer]);
    } catch (e) {
      const reply: WorkReply = { id: req.id, error: (e as Error).message };
      port.postMessage(reply);
    }
  });
}

/** A fixed pool of image workers. `close()` when done (idle workers do not keep the process alive). */
export class ImageWorkerPool {
  private readonly workers: Worker[] = [];
  private readonly pending = new Map<number, { resolve: (p: Float32Array) => void; reject: (e: Error) => void; worker: Worker }>();
  private readonly busy: number[];
  private nextId = 0;
  private rr = 0;
  private closed = false;

  constructor(readonly size: number) {
    if (!(Number.isInteger(size) && size >= 1)) throw new Error(`ImageWorkerPool: size must be a positive integer, got ${size}`);
    const tsxApi = require.resolve('tsx/cjs/api');
    const self = __filename;
    const code = `require(${JSON.stringify(tsxApi)}).register(); require(${JSON.stringify(self)}).runImageWorker();`;
    this.busy = new Array<number>(size).fill(0);
    for (let i = 0; i < size; i++) {
      const w = new Worker(code, { eval: true });
      w.unref();
      w.on('message', (m: WorkReply) => this.onReply(i, m));
      w.on('error', (e: Error) => this.failWorker(w, e));
      w.on('exit', (c: number) => { if (!this.closed) this.failWorker(w, new Error(`image worker ${i} exited with code ${c}`)); });
      this.workers.push(w);
    }
  }

  private onReply(i: number, m: WorkReply): void {
    const p = this.pending.get(m.id);
    if (p === undefined) return;
    this.pending.delete(m.id);
    if (--this.busy[i] === 0) this.workers[i].unref();
    if (m.error !== undefined || m.pixels === undefined) p.reject(new Error(m.error ?? 'image worker returned no pixels'));
    else p.resolve(m.pixels);
  }

  private failWorker(w: Worker, e: Error): void {
    for (const [id, p] of this.pending) if (p.worker === w) { this.pending.delete(id); p.reject(e); }
  }

  /** Prepares `jobs` on one worker; resolves to `[jobs.length, S, S, 3]` pixels. */
  run(cfg: PrepareConfig, jobs: PrepareJob[]): Promise<Float32Array> {
    if (this.closed) return Promise.reject(new Error('ImageWorkerPool is closed'));
    const i = this.rr++ % this.size;
    const w = this.workers[i];
    const id = this.nextId++;
    if (this.busy[i]++ === 0) w.ref();
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, worker: w });
      const req: WorkRequest = { id, cfg, jobs };
      w.postMessage(req);
    });
  }

  /** Prepares a whole batch split over the workers: `[jobs.length, S, S, 3]`. */
  async runBatch(cfg: PrepareConfig, jobs: PrepareJob[]): Promise<Float32Array> {
    const S = cfg.size;
    const per = Math.ceil(jobs.length / this.size);
    const parts: Promise<Float32Array>[] = [];
    for (let k = 0; k < jobs.length; k += per) parts.push(this.run(cfg, jobs.slice(k, k + per)));
    const out = new Float32Array(jobs.length * S * S * 3);
    const done = await Promise.all(parts);
    let off = 0;
    for (const p of done) { out.set(p, off); off += p.length; }
    return out;
  }

  /** Terminates the workers; pending jobs are rejected. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const [id, p] of this.pending) { this.pending.delete(id); p.reject(new Error('ImageWorkerPool closed')); }
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

/** Default normalisation for `PrepareConfig`. */
export function prepareConfig(size: number, augment: AugmentConfig | null, transform: EvalTransform = 'resize',
  mean: readonly [number, number, number] = CLIP_MEAN, std: readonly [number, number, number] = CLIP_STD): PrepareConfig {
  return { size: augment !== null ? augment.size : size, augment, transform, mean, std };
}
