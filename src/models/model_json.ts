/**
 * The model JSONs (`src/configs/models/<name>.json`) as the source of every model number: the
 * defaults of each kind are the JSON of that kind's reference preset (`pir-small.json`, `pir.json`,
 * `priorclip-vit-b-32.json`), so a preset file states its whole config and TS holds no copy.
 */
import * as path from 'path';
import { projectRoot, readJson } from '../utils/fs';

/** Folder of the model presets. */
export function modelPresetsDir(): string {
  return path.join(projectRoot(), 'src', 'configs', 'models');
}

/** A model preset file without its `description` (prose, not config). Throws naming the file. */
export function readModelJson(name: string): Record<string, unknown> {
  const file = path.join(modelPresetsDir(), `${name}.json`);
  const raw = readJson<unknown>(file);
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new Error(`${file}: a model preset must be a JSON object`);
  const { description: _description, ...cfg } = raw as Record<string, unknown>;
  return cfg;
}
