/**
 * The kit recipe as a job for the PriorCLIP open_clip fork (`python -m training.main`, or
 * `torchrun` for several GPUs): one flag list per stage, each flag with the kit config field it
 * comes from, and the parts of the recipe the fork cannot express, said plainly.
 *
 * Pure: experiment config + data sizes in, `train.sh` text out. The folder writer is
 * `open_clip_export.ts`.
 */
import { ExperimentConfig, StageConfig } from '../config/experiment';
import { PriorClipConfig } from '../models/open_clip/config';
import { ParamGroup } from '../models/model';
import { StageName } from '../training/run_cache';
import { stageTrainsGroup } from '../training/stage_task';
import { OPEN_CLIP_FORK, OPEN_CLIP_FORK_FLAGS } from './open_clip_flags';
import { forkModelName, needsProjectionPatch } from './open_clip_config';

/** One flag of a stage command: name (as params.py spells it), value (null for a switch), where it comes from. */
export interface ForkFlag {
  flag: string;
  value: string | null;
  /** The kit config field (or the export) this flag comes from. */
  from: string;
}

/** One stage's command. */
export interface ForkStage {
  stage: 'stage1' | 'stage2';
  /** `--name` of the run: checkpoints land in `<logs>/<name>/checkpoints/epoch_N.pt`. */
  name: string;
  flags: ForkFlag[];
  /** State_dict key prefixes the launcher freezes (PRIORCLIP_FREEZE). */
  freeze: string[];
  /** Recipe parts of this stage the fork cannot express. */
  notExpressed: string[];
  /** Samples per kit epoch (what `--train-num-samples` says). */
  samplesPerEpoch: number;
}

/** What the job needs to know about the exported data. */
export interface JobData {
  /** Shard spec relative to the export folder, e.g. `data/stage1/x-train-{0000..0003}.tar`. */
  trainShards: string;
  /** Samples in those shards. */
  trainSamples: number;
}

/** Inputs of `buildForkJob`. */
export interface ForkJobInput {
  exp: ExperimentConfig;
  model: PriorClipConfig;
  stage1: JobData | null;
  stage2: JobData | null;
  /** Initial weights (relative to the export folder) for the first stage, or null (random init). */
  initWeights: string | null;
}

/** The job: commands per stage plus what holds for all of them. */
export interface ForkJob {
  modelName: string;
  stages: ForkStage[];
  /** True when the launcher rebuilds `vision_proj_res` (kit-sized configs). */
  projectionPatch: boolean;
  /** Recipe parts no stage can express. */
  notExpressed: string[];
}

/** Group of a PriorCLIP state_dict key prefix (same split as `PriorClip.paramGroup`). */
const PRIORCLIP_PREFIXES: { prefix: string; group: ParamGroup }[] = [
  { prefix: 'res_visual.', group: 'prior' },
  { prefix: 'vision_proj_res.', group: 'fusion' },
  { prefix: 'visual.', group: 'image' },
  { prefix: 'logit_scale', group: 'scale' },
  { prefix: 'text_projection', group: 'textProj' },
  { prefix: 'token_embedding.', group: 'text' },
  { prefix: 'positional_embedding', group: 'text' },
  { prefix: 'transformer.', group: 'text' },
  { prefix: 'ln_final.', group: 'text' },
];

/** Optimiser steps per epoch as the fork counts them (`ceil(samples / global batch)`, then `// accum_freq`). */
export function forkStepsPerEpoch(samples: number, globalBatch: number, accum: number): number {
  return Math.floor(Math.ceil(samples / globalBatch) / accum);
}

function num(x: number): string {
  return Number.isInteger(x) ? String(x) : String(x);
}

function stageFlags(stage: 'stage1' | 'stage2', input: ForkJobInput, data: JobData, startFrom: string | null, modelName: string): ForkStage {
  const { exp } = input;
  const t: StageConfig = exp.train[stage];
  const p = `train.${stage}`;
  const flags: ForkFlag[] = [];
  const notExpressed: string[] = [];
  const add = (flag: string, value: string | null, from: string) => flags.push({ flag, value, from });

  const name = stage;
  const samplesPerEpoch = t.maxStepsPerEpoch > 0 ? Math.min(data.trainSamples, t.maxStepsPerEpoch * t.batchSize * t.accumSteps) : data.trainSamples;
  const steps = forkStepsPerEpoch(samplesPerEpoch, t.batchSize, t.accumSteps) * t.epochs;
  const warmup = t.warmupSteps > 0 ? t.warmupSteps : Math.round(t.warmupFraction * steps);

  add('--model', modelName, `model (exported as model_configs/${modelName}.json)`);
  if (startFrom) add('--pretrained', startFrom, stage === 'stage2' && input.stage1 ? 'stage 2 starts from stage 1 (last epoch)' : 'kit run weights (init/)');
  add('--dataset-type', 'webdataset', 'export (webdataset shards)');
  add('--train-data', `"$HERE/${data.trainShards}"`, stage === 'stage1' ? `train.stage1.captions = '${exp.train.stage1.captions}' (train split)` : 'fine captions, one sample per pair (train split)');
  add('--dataset-resampled', null, 'export: shards drawn with replacement, so any shard count fits any GPU × worker count (the paper command used it too)');
  add('--train-num-samples', String(samplesPerEpoch), t.maxStepsPerEpoch > 0 ? `${p}.maxStepsPerEpoch × batchSize × accumSteps` : 'samples in the exported train shards (one kit epoch)');
  add('--zeroshot-frequency', '0', 'export: no ImageNet zero-shot pass (the kit has none)');
  add('--epochs', String(t.epochs), `${p}.epochs`);
  add('--batch-size', `"$(( ${t.batchSize} / NPROC ))"`, `${p}.batchSize (${t.batchSize}, the contrastive batch) split over NPROC GPUs; the fork gathers features across GPUs`);
  if (t.accumSteps > 1) add('--accum-freq', String(t.accumSteps), `${p}.accumSteps`);
  add('--lr', num(t.lr), `${p}.lr`);
  add('--wd', num(t.weightDecay), `${p}.weightDecay`);
  add('--beta1', num(t.beta1), `${p}.beta1`);
  add('--beta2', num(t.beta2), `${p}.beta2`);
  add('--eps', num(t.eps), `${p}.eps`);
  add('--warmup', String(warmup), t.warmupSteps > 0 ? `${p}.warmupSteps` : `${p}.warmupFraction ${t.warmupFraction} × ${steps} steps (fork count at NPROC=1; recompute when the data changes)`);
  if (t.schedule === 'cosine') add('--lr-scheduler', 'cosine', `${p}.schedule`);
  else if (t.schedule === 'constant') add('--lr-scheduler', 'const', `${p}.schedule`);
  else {
    add('--lr-scheduler', 'const-cooldown', `${p}.schedule = 'linear' (closest: linear cooldown over every epoch)`);
    add('--epochs-cooldown', String(t.epochs), `${p}.epochs (cooldown from step 0)`);
    add('--lr-cooldown-power', '1.0', `${p}.schedule = 'linear'`);
    add('--lr-cooldown-end', '0.0', `${p}.schedule = 'linear' (decays to 0)`);
    notExpressed.push(
      `${p}.schedule 'linear': the fork has cosine / const / const-cooldown; const-cooldown from step 0 decays linearly to 0 but measures the decay from step 0, not from the end of warmup, so after warmup its lr is ${(100 * (1 - warmup / Math.max(1, steps))).toFixed(1)} % of the kit's at the same step, converging to the same 0 at the end`,
    );
  }
  if (t.gradClipNorm > 0) add('--grad-clip-norm', num(t.gradClipNorm), `${p}.gradClipNorm`);
  add('--seed', String(exp.seed), 'seed (the fork seeds torch per rank from it; the kit\'s SeedStream draws are not reproduced)');
  add('--precision', 'amp', 'not a kit field: the kit trains in float32; amp is the paper command (use fp32 to match the kit\'s arithmetic)');
  add('--workers', '"${WORKERS:-4}"', 'not a kit field: data loader workers per GPU');
  add('--save-frequency', '1', 'export: one epoch_N.pt per epoch (the kit keeps best-on-val; the fork keeps every epoch)');
  add('--logs', '"$HERE/logs"', 'export: checkpoints in logs/<name>/checkpoints/epoch_N.pt, found again by the kit from there');
  add('--name', name, 'export: stage name');

  // the loss
  const aff = stage === 'stage1' ? exp.train.stage1.affiliationWeight : exp.loss.affiliationWeight;
  const affField = stage === 'stage1' ? 'train.stage1.affiliationWeight' : 'loss.affiliationWeight';
  if (aff === 1 && exp.loss.affiliation === 'clip') add('--is_aff_loss', null, `${affField} = 1, loss.affiliation = 'clip'`);
  else if (aff === 1) {
    add('--is_aff_loss', null, `${affField} = 1`);
    notExpressed.push(`loss.affiliation '${exp.loss.affiliation}': the fork's affiliation loss is the 'clip' flavour (s·V·T̄ᵀ, t2i not transposed)`);
  } else if (aff !== 0) notExpressed.push(`${affField} = ${aff}: the fork's --is_aff_loss has weight 1 exactly (no flag for another weight); the command leaves it off`);
  if (exp.loss.contrastive !== 'clip') notExpressed.push(`loss.contrastive '${exp.loss.contrastive}': the fork's loss is CLIP InfoNCE, one positive per row ('clip'); multi-positive by image id is not available`);
  if (exp.loss.contrastiveWeight !== 1) notExpressed.push(`loss.contrastiveWeight ${exp.loss.contrastiveWeight}: the fork's contrastive weight is 1`);
  if (exp.loss.tripletWeight > 0) notExpressed.push(`loss.tripletWeight ${exp.loss.tripletWeight}: the fork has no triplet loss`);

  // what it trains
  const freeze = PRIORCLIP_PREFIXES.filter((e) => !stageTrainsGroup(stage as StageName, exp, e.group)).map((e) => e.prefix);
  for (const pre of t.freezePrefixes) if (!freeze.includes(pre)) freeze.push(pre);
  if (freeze.length > 0) {
    const why = [
      !stageTrainsGroup(stage, exp, 'prior') ? (stage === 'stage1' ? 'the prior is frozen outside stage 2 unless train.stage2.trainPrior' : 'train.stage2.trainPrior = false') : null,
      stage === 'stage2' && !exp.train.stage2.trainTextEncoder ? `train.stage2.trainTextEncoder = false${exp.train.stage2.trainTextProjection ? ' (text_projection still trains: trainTextProjection)' : ''}` : null,
      t.freezePrefixes.length > 0 ? `${p}.freezePrefixes` : null,
    ].filter((x): x is string => x !== null);
    notExpressed.push(`frozen parameters (${why.join('; ')}): the fork has no working flag (--lock-text fails on its CLIP, --lock-image locks only visual.*), so the launcher freezes them (PRIORCLIP_FREEZE)`);
  }

  if (stageTrainsGroup(stage, exp, 'prior')) {
    notExpressed.push('the prior trains in this stage: the fork trains its BatchNorm layers with batch statistics (train mode), the kit always normalises with the running statistics (eval mode) and never updates them');
  }
  // rules the fork fixes
  if (t.noDecay !== 'open_clip') notExpressed.push(`${p}.noDecay '${t.noDecay}': the fork's no-decay rule is fixed to open_clip's (ndim < 2, or a name with bn / ln / bias / logit_scale)`);
  if (!t.clampLogitScale) notExpressed.push(`${p}.clampLogitScale = false: the fork always clamps logit_scale to [0, ln 100] after each step`);
  if (t.accumSteps > 1) notExpressed.push(`${p}.accumSteps ${t.accumSteps}: the fork's --accum-freq computes the loss over the whole accumulated batch (cached features), the kit sums the gradients of per-micro-batch losses`);
  if (exp.data.augment !== 'open_clip') notExpressed.push(`data.augment '${exp.data.augment}': the fork always trains with its own augmentation (RandomResizedCrop scale 0.9–1, bicubic), which is the kit's 'open_clip'`);
  if (t.checkpointEverySteps > 0) notExpressed.push(`${p}.checkpointEverySteps ${t.checkpointEverySteps}: the fork saves per epoch (--save-frequency)`);
  notExpressed.push(
    'validation during training: the fork\'s val pass unpacks (images, texts) while its webdataset loader yields (image, text, img_name), so --val-data would stop the run at the first evaluation; ' +
      'no --val-data is passed, and the kit\'s best-on-validation selection becomes: evaluate the epoch_N.pt files with npm run evaluate --split val on data/eval/dataset.json',
  );
  if (!t.enabled) notExpressed.push(`${p}.enabled = false in the kit`);
  return { stage, name, flags, freeze, notExpressed, samplesPerEpoch };
}

/** Build the per-stage commands. */
export function buildForkJob(input: ForkJobInput): ForkJob {
  const modelName = forkModelName(input.model);
  const stages: ForkStage[] = [];
  if (input.stage1) stages.push(stageFlags('stage1', input, input.stage1, input.initWeights ? `"$HERE/${input.initWeights}"` : null, modelName));
  if (input.stage2) {
    const from = input.stage1 ? `"$HERE/logs/stage1/checkpoints/epoch_${input.exp.train.stage1.epochs}.pt"` : input.initWeights ? `"$HERE/${input.initWeights}"` : null;
    stages.push(stageFlags('stage2', input, input.stage2, from, modelName));
  }
  const notExpressed: string[] = [];
  if (input.exp.train.stage0.enabled) notExpressed.push('stage 0 (scene classification of the prior): the fork has no stage 0; the kit runs it (npm run train), and exporting that stage-0 run (--experiment <preset>__stage0__s<seed>) gives initial weights with the pretrained res_visual (its stage-0 head prior_head is left out); otherwise the prior starts from the initial weights');
  if (!input.initWeights) notExpressed.push('no initial weights: the fork starts from its own random init (the paper\'s stage-1 / stage-2 initial weights are not published)');
  return { modelName, stages, projectionPatch: needsProjectionPatch(input.model), notExpressed };
}

/** Every flag the job uses that `training.main` at the recorded fork commit does not define (empty = all known). */
export function unknownForkFlags(job: ForkJob): string[] {
  return job.stages.flatMap((s) => s.flags.filter((f) => !(f.flag in OPEN_CLIP_FORK_FLAGS)).map((f) => `${s.stage}: ${f.flag}`));
}

function shellComment(s: string): string {
  return s.replace(/\n/g, ' ');
}

/** `train.sh`: one flag array per stage, one line per flag with its source, then both launch forms. */
export function trainScript(job: ForkJob, title: string): string {
  const out: string[] = [];
  out.push('#!/usr/bin/env bash');
  out.push(`# ${title}`);
  out.push(`# Written by the PriorCLIP Kit (npm run export -- open-clip) for the open_clip fork ${OPEN_CLIP_FORK.repo} @ ${OPEN_CLIP_FORK.commit.slice(0, 7)}.`);
  out.push('#');
  out.push('# Usage:');
  out.push('#   PRIORCLIP_SRC=/path/to/PriorCLIP/src bash train.sh            # every stage, one GPU (python)');
  out.push('#   PRIORCLIP_SRC=/path/to/PriorCLIP/src NPROC=4 bash train.sh    # every stage, 4 GPUs (torchrun)');
  out.push('#   ... bash train.sh stage2                                      # one stage');
  out.push('# Each flag below says which kit config field it comes from. The launcher priorclip_launch.py');
  out.push('# registers ./model_configs with open_clip, freezes what the kit freezes (PRIORCLIP_FREEZE)');
  out.push(job.projectionPatch
    ? '# and REBUILDS vision_proj_res as Linear(embed_dim, vision width): this config is not embed 512 / width 768, which the fork hard-codes.'
    : '# and would rebuild vision_proj_res if the config needed it (this one is embed 512 / width 768: unchanged).');
  out.push('#');
  out.push('# NOT expressed by the fork (the run differs from the kit recipe here):');
  const all = [...job.notExpressed, ...job.stages.flatMap((s) => s.notExpressed.map((n) => `${s.stage}: ${n}`))];
  for (const n of all) out.push(`#   - ${shellComment(n)}`);
  out.push('set -euo pipefail');
  out.push('HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"');
  out.push('if [ -z "${PRIORCLIP_SRC:-}" ]; then echo "train.sh: set PRIORCLIP_SRC to the src/ folder of the fork (holding open_clip/ and training/)" >&2; exit 2; fi');
  out.push('export PRIORCLIP_SRC');
  out.push('NPROC="${NPROC:-1}"');
  out.push('PYTHON="${PYTHON:-python}"');
  out.push('# the kit runs every BatchNorm in eval mode (running statistics, never updated): keep the frozen prior\'s BatchNorm in eval mode too');
  out.push('FREEZE_BN="${FREEZE_BN:-1}"');
  out.push('');
  for (const s of job.stages) {
    out.push(`# ---- ${s.stage} ----`);
    out.push(`${s.stage.toUpperCase()}_FREEZE="${s.freeze.join(',')}"`);
    out.push(`${s.stage.toUpperCase()}_FLAGS=(`);
    const width = Math.max(...s.flags.map((f) => f.flag.length + (f.value === null ? 0 : f.value.length + 1)));
    for (const f of s.flags) {
      const text = f.value === null ? f.flag : `${f.flag} ${f.value}`;
      out.push(`  ${text.padEnd(width)}  # ${shellComment(f.from)}`);
    }
    out.push(')');
    out.push('');
  }
  out.push('run_stage() {  # <STAGE> <freeze prefixes> <flags...>');
  out.push('  local stage="$1" freeze="$2"; shift 2');
  out.push('  echo "== $stage (NPROC=$NPROC, frozen: ${freeze:-none})" >&2');
  out.push('  if [ "$NPROC" -gt 1 ]; then');
  out.push('    # several GPUs: torchrun runs the launcher once per GPU');
  out.push('    (cd "$PRIORCLIP_SRC" && PRIORCLIP_FREEZE="$freeze" PRIORCLIP_FREEZE_BN="$FREEZE_BN" torchrun --nproc_per_node "$NPROC" "$HERE/priorclip_launch.py" "$@")');
  out.push('  else');
  out.push('    # one GPU (or CPU)');
  out.push('    (cd "$PRIORCLIP_SRC" && PRIORCLIP_FREEZE="$freeze" PRIORCLIP_FREEZE_BN="$FREEZE_BN" "$PYTHON" "$HERE/priorclip_launch.py" "$@")');
  out.push('  fi');
  out.push('}');
  out.push('');
  out.push('WANT="${1:-all}"');
  for (const s of job.stages) {
    out.push(`if [ "$WANT" = all ] || [ "$WANT" = ${s.stage} ]; then run_stage ${s.stage} "$${s.stage.toUpperCase()}_FREEZE" "\${${s.stage.toUpperCase()}_FLAGS[@]}"; fi`);
  }
  out.push('');
  return out.join('\n');
}
