/**
 * The command-line flags of the PriorCLIP open_clip fork's `python -m training.main`, as read from
 * `src/training/params.py` of the public repository `jaychempan/PriorCLIP` at the commit below
 * (85 `add_argument` calls). Data, not code: the names and whether each takes a value, so that a
 * test can check every flag `train.sh` uses without needing the fork on the machine.
 *
 * Notable facts read from the same commit (they shape the export):
 * - `--is_aff_loss` (underscores) switches on the affiliation loss, weight 1;
 * - `--lock-text` exists but fails on the fork's `CLIP` (it has no `lock_text_tower`), and
 *   `--lock-image` locks only the ViT (`visual`), not the prior (`res_visual`);
 * - there is no flag for the no-decay rule (fixed: ndim < 2, or a name containing bn / ln / bias /
 *   logit_scale), for clamping `logit_scale` (always clamped to [0, ln 100]) or for a linear schedule.
 */

/** Where the list was read. */
export const OPEN_CLIP_FORK = {
  repo: 'jaychempan/PriorCLIP',
  commit: '907ad0fb7f14be7971a4abead2b98fb6b677283a',
  file: 'src/training/params.py',
} as const;

/** How a flag is used: `switch` (store_true), `value` (one value), `list` (nargs). */
export type ForkFlagKind = 'switch' | 'value' | 'list';

/** Every flag of `training.main` at {@link OPEN_CLIP_FORK}, in the order params.py declares them. */
export const OPEN_CLIP_FORK_FLAGS: Readonly<Record<string, ForkFlagKind>> = {
  '--train-data': 'value',
  '--train-data-upsampling-factors': 'value',
  '--val-data': 'value',
  '--train-num-samples': 'value',
  '--val-num-samples': 'value',
  '--dataset-type': 'value',
  '--dataset-resampled': 'switch',
  '--csv-separator': 'value',
  '--csv-img-key': 'value',
  '--csv-caption-key': 'value',
  '--imagenet-val': 'value',
  '--imagenet-v2': 'value',
  '--logs': 'value',
  '--log-local': 'switch',
  '--name': 'value',
  '--workers': 'value',
  '--batch-size': 'value',
  '--epochs': 'value',
  '--epochs-cooldown': 'value',
  '--lr': 'value',
  '--beta1': 'value',
  '--beta2': 'value',
  '--eps': 'value',
  '--wd': 'value',
  '--warmup': 'value',
  '--use-bn-sync': 'switch',
  '--skip-scheduler': 'switch',
  '--lr-scheduler': 'value',
  '--lr-cooldown-end': 'value',
  '--lr-cooldown-power': 'value',
  '--save-frequency': 'value',
  '--save-most-recent': 'switch',
  '--zeroshot-frequency': 'value',
  '--val-frequency': 'value',
  '--resume': 'value',
  '--precision': 'value',
  '--model': 'value',
  '--pretrained': 'value',
  '--pretrained-image': 'switch',
  '--lock-image': 'switch',
  '--lock-image-unlocked-groups': 'value',
  '--lock-image-freeze-bn-stats': 'switch',
  '--image-mean': 'list',
  '--image-std': 'list',
  '--image-interpolation': 'value',
  '--image-resize-mode': 'value',
  '--aug-cfg': 'list',
  '--grad-checkpointing': 'switch',
  '--local-loss': 'switch',
  '--gather-with-grad': 'switch',
  '--force-image-size': 'list',
  '--force-quick-gelu': 'switch',
  '--force-patch-dropout': 'value',
  '--force-custom-text': 'switch',
  '--torchscript': 'switch',
  '--torchcompile': 'switch',
  '--trace': 'switch',
  '--accum-freq': 'value',
  '--dist-url': 'value',
  '--dist-backend': 'value',
  '--report-to': 'value',
  '--wandb-notes': 'value',
  '--wandb-project-name': 'value',
  '--debug': 'switch',
  '--copy-codebase': 'switch',
  '--horovod': 'switch',
  '--ddp-static-graph': 'switch',
  '--no-set-device-rank': 'switch',
  '--seed': 'value',
  '--grad-clip-norm': 'value',
  '--lock-text': 'switch',
  '--lock-text-unlocked-layers': 'value',
  '--lock-text-freeze-layer-norm': 'switch',
  '--log-every-n-steps': 'value',
  '--coca-caption-loss-weight': 'value',
  '--coca-contrastive-loss-weight': 'value',
  '--remote-sync': 'value',
  '--remote-sync-frequency': 'value',
  '--remote-sync-protocol': 'value',
  '--delete-previous-checkpoint': 'switch',
  '--distill-model': 'value',
  '--distill-pretrained': 'value',
  '--use-bnb-linear': 'value',
  '--siglip': 'switch',
  '--is_aff_loss': 'switch',
};
