/**
 * One key style across model kinds: the kit's PriorCLIP config is camelCase, open_clip's snake_case
 * exists only at the interop boundary (`src/interop/open_clip_keys.ts`, one table, both directions).
 * An old snake_case key in a kit config (experiment, ablation, `--set`, model JSON, notebook
 * modelOverrides) is refused naming its path, the camelCase spelling and the interop converter; an
 * open_clip JSON with a key the table does not have is refused naming the key.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { loadModelPreset, resolveModelConfig } from '../src/models/factory';
import { PriorClipConfig, PRIORCLIP_VIT_B_32, resolvePriorClipConfig } from '../src/models/open_clip/config';
import { defaultExperiment, listAblations, mergeExperiment, resolveExperiment } from '../src/config/experiment';
import { setsToOverrides } from '../src/utils/cli_args';
import { CLIP_VOCAB_SIZE } from '../src/data/clip_tokenizer';
import { ConfigError } from '../src/utils/merge_config';
import { fromForkModelConfig, toForkModelConfig } from '../src/interop/open_clip_config';
import {
  KIT_ONLY_RENAMED_KEYS,
  OPEN_CLIP_TEXT_KEYS,
  OPEN_CLIP_TOP_KEYS,
  OPEN_CLIP_VISION_KEYS,
  kitToOpenClipKeys,
  oldOpenClipKeys,
  openClipToKitKeys,
} from '../src/interop/open_clip_keys';
import { modelConfigFromArg } from '../src/interop/open_clip_import';

/** The error an old key must give: its path, the camelCase path, and the interop function. */
function oldKeyError(oldPath: string, newPath: string): (e: unknown) => boolean {
  return (e: unknown) => {
    assert.ok(e instanceof ConfigError, `a ConfigError, got ${String(e)}`);
    assert.ok(e.message.includes(`'${oldPath}' (write '${newPath}')`), e.message);
    assert.match(e.message, /fromForkModelConfig\(\) in src\/interop\/open_clip_config\.ts/);
    assert.equal(e.keyPath, oldPath);
    return true;
  };
}

function tinyBpe(): PriorClipConfig {
  const base = loadModelPreset('priorclip-tiny') as PriorClipConfig;
  return resolvePriorClipConfig({ ...base, text: { ...base.text, vocabSize: CLIP_VOCAB_SIZE } }, 'test');
}

test('the key table is one-to-one per level and covers every field of the kit PriorCLIP config', () => {
  for (const table of [OPEN_CLIP_TOP_KEYS, OPEN_CLIP_VISION_KEYS, OPEN_CLIP_TEXT_KEYS]) {
    const kit = Object.values(table);
    assert.equal(new Set(kit).size, kit.length, 'no two open_clip keys map to one kit key');
    for (const k of kit) assert.match(k, /^[a-z][A-Za-z0-9]*$/, `kit key '${k}' is camelCase`);
    for (const k of Object.keys(table)) assert.match(k, /^[a-z][a-z0-9_]*$/, `open_clip key '${k}' is snake_case`);
  }
  // a field added to the config without a table row would fail here (kind / name / softBelief are the kit's own)
  const own = new Set(['kind', 'name', ...Object.values(KIT_ONLY_RENAMED_KEYS)]);
  assert.deepEqual(Object.keys(PRIORCLIP_VIT_B_32).filter((k) => !own.has(k)).sort(), Object.values(OPEN_CLIP_TOP_KEYS).sort());
  assert.deepEqual(Object.keys(PRIORCLIP_VIT_B_32.vision).sort(), Object.values(OPEN_CLIP_VISION_KEYS).sort());
  assert.deepEqual(Object.keys(PRIORCLIP_VIT_B_32.text).sort(), Object.values(OPEN_CLIP_TEXT_KEYS).sort());
});

test('kit ⇄ open_clip round trip: every PriorCLIP preset, and non-default quickGelu / initLogitScale', () => {
  const cases: PriorClipConfig[] = [
    tinyBpe(),
    loadModelPreset('priorclip-vit-b-32') as PriorClipConfig,
    resolvePriorClipConfig({ ...tinyBpe(), name: 'tiny-quick', quickGelu: true, initLogitScale: 1.5 }),
  ];
  for (const kit of cases) {
    const fork = JSON.parse(JSON.stringify(toForkModelConfig(kit))) as Record<string, unknown>; // through a file's JSON
    for (const k of Object.keys(fork)) assert.ok(k in OPEN_CLIP_TOP_KEYS, `'${k}' is an open_clip key`);
    assert.equal(fork.embed_dim, kit.embedDim);
    assert.equal((fork.vision_cfg as Record<string, unknown>).image_size, kit.vision.imageSize);
    assert.equal((fork.text_cfg as Record<string, unknown>).context_length, kit.text.contextLength);
    assert.deepEqual(fromForkModelConfig(fork, kit.name), kit, kit.name);
  }
  // the defaults are left out as PIR.json leaves them out, and written when they differ
  const quick = JSON.parse(JSON.stringify(toForkModelConfig(cases[2]))) as Record<string, unknown>;
  assert.equal(quick.quick_gelu, true);
  assert.equal(quick.init_logit_scale, 1.5);
  assert.ok(!('quick_gelu' in toForkModelConfig(cases[0])) && !('init_logit_scale' in toForkModelConfig(cases[0])));
  // the key-level functions are inverse to each other
  const { kind: _k, name: _n, softBelief: _s, ...sizes } = cases[1];
  assert.deepEqual(openClipToKitKeys(kitToOpenClipKeys(sizes)), sizes);
  assert.throws(() => kitToOpenClipKeys({ ...sizes, softBelief: 'head' }), /'softBelief' \(known here: embedDim/);
});

test('an open_clip model-config JSON with a key the table does not have is refused, naming the key', () => {
  const fork = toForkModelConfig(tinyBpe()) as unknown as Record<string, Record<string, unknown>>;
  assert.throws(() => fromForkModelConfig({ ...fork, vision_cfg: { ...fork.vision_cfg, timm_model_name: 'vit' } }, 'x', 'PIR-x.json'), (e: unknown) => {
    assert.ok(e instanceof ConfigError);
    assert.match(e.message, /^PIR-x\.json: unknown open_clip vision_cfg key 'vision_cfg\.timm_model_name' \(known here: image_size, layers/);
    assert.equal(e.keyPath, 'vision_cfg.timm_model_name');
    return true;
  });
  assert.throws(() => fromForkModelConfig({ ...fork, text_cfg: { ...fork.text_cfg, hf_tokenizer_name: 'x' } }, 'x'), /unknown open_clip text_cfg key 'text_cfg\.hf_tokenizer_name'/);
  assert.throws(() => fromForkModelConfig({ ...fork, custom_text: true }, 'x'), /unknown open_clip model-config key 'custom_text'/);
  // a kit (camelCase) key is not open_clip either
  assert.throws(() => fromForkModelConfig({ ...fork, vision_cfg: { ...fork.vision_cfg, imageSize: 64 } }, 'x'), /unknown open_clip vision_cfg key 'vision_cfg\.imageSize'/);
  assert.throws(() => fromForkModelConfig({ ...fork, vision_cfg: 3 }, 'x'), /'vision_cfg' must be an object/);
});

test('an old snake_case key in a kit config is refused with its path, the camelCase spelling and the converter', () => {
  // --set on the v2-open experiment (the CLI path: setsToOverrides → resolveExperiment)
  assert.throws(() => resolveExperiment('embedded-v2-open', null, setsToOverrides(['model.vision_cfg.image_size=96'])), oldKeyError('model.vision_cfg.image_size', 'model.vision.imageSize'));
  assert.throws(() => resolveExperiment('embedded-v2-open', null, setsToOverrides(['model.text_cfg.vocab_size=49408'])), oldKeyError('model.text_cfg.vocab_size', 'model.text.vocabSize'));
  // the new block with an old leaf, and a kit-only switch
  assert.throws(() => resolveExperiment('embedded-v2-open', null, { model: { vision: { patch_size: 8 } } }), oldKeyError('model.vision.patch_size', 'model.vision.patchSize'));
  // an ablation (as an ablation file spells its overrides)
  assert.throws(
    () => resolveExperiment('embedded-v2-open', { name: 'old', description: 'old spelling', overrides: { model: { soft_belief: 'none' } } as never }),
    oldKeyError('model.soft_belief', 'model.softBelief'),
  );
  // an experiment file whose model section switches to priorclip
  assert.throws(
    () => mergeExperiment(defaultExperiment(), { model: { kind: 'priorclip', embed_dim: 32, vision_cfg: { res_layers: [1, 1, 1, 1] } } }, 'my-exp.json'),
    (e: unknown) => {
      oldKeyError('model.embed_dim', 'model.embedDim')(e);
      assert.match((e as Error).message, /^my-exp\.json: old snake_case PriorCLIP keys /);
      assert.ok((e as Error).message.includes(`'model.vision_cfg.res_layers' (write 'model.vision.resLayers')`), 'every old key is listed');
      return true;
    },
  );
  // a model JSON (kit config, with a kind) and the direct resolver
  assert.throws(() => resolveModelConfig({ kind: 'priorclip', quick_gelu: true }, 'm.json'), oldKeyError('quick_gelu', 'quickGelu'));
  assert.throws(() => resolvePriorClipConfig({ vision_cfg: {} }, 'm.json'), oldKeyError('vision_cfg', 'vision'));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keys-'));
  const kitFile = path.join(dir, 'old-kit.json');
  fs.writeFileSync(kitFile, JSON.stringify({ kind: 'priorclip', text_cfg: { context_length: 24 } }));
  assert.throws(() => modelConfigFromArg(kitFile), oldKeyError('text_cfg.context_length', 'text.contextLength'));
  // the same file in open_clip's schema (no kind) is converted
  const forkFile = path.join(dir, 'fork.json');
  fs.writeFileSync(forkFile, JSON.stringify(toForkModelConfig(tinyBpe())));
  assert.deepEqual(modelConfigFromArg(forkFile), { ...tinyBpe(), name: 'fork' });
  // ... and given where a kit config is expected (`npm run evaluate -- --model <file>`), the converter is named
  assert.throws(() => resolveModelConfig(toForkModelConfig(tinyBpe()), 'PIR-tiny.json'), /PIR-tiny\.json: this is an open_clip model config .*fromForkModelConfig\(\) in src\/interop\/open_clip_config\.ts/);
  fs.rmSync(dir, { recursive: true, force: true });
  // the camelCase spelling of the same overrides is accepted
  const ok = resolveExperiment('embedded-v2-open', null, setsToOverrides(['model.vision.imageSize=96', 'model.vision.patchSize=16']));
  assert.ok(ok.model.kind === 'priorclip' && ok.model.vision.imageSize === 96);
  // a PIR experiment never had these keys: the ordinary unknown-key error (PIR keys unchanged)
  assert.throws(() => resolveExperiment('embedded-fast', null, setsToOverrides(['model.vision_cfg.image_size=96'])), /unknown config key 'model\.vision_cfg'/);
  assert.deepEqual(oldOpenClipKeys({ embedDim: 3, spatialPae: { filterSize: 4 } }), []);
});

test('the committed v2-open experiment and its ablations resolve in camelCase', () => {
  const exp = resolveExperiment('embedded-v2-open');
  assert.ok(exp.model.kind === 'priorclip');
  assert.equal(exp.model.vision.imageSize, 64);
  assert.equal(exp.model.text.contextLength, 24);
  assert.equal(exp.model.softBelief, 'head');
  assert.equal((resolveExperiment('embedded-v2-open', 'open-no-belief').model as PriorClipConfig).softBelief, 'none');
  const c20 = listAblations().find((a) => a.name === 'open-belief-c20bbe30');
  assert.ok(c20, 'the open-belief sweep expands to open-belief-c20bbe30');
  assert.equal((resolveExperiment('embedded-v2-open', c20).model as PriorClipConfig).softBelief, 'c20bbe30');
});
