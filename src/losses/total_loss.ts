/**
 * The training objective: a weighted sum of the contrastive, affiliation and triplet losses, each
 * part reported separately (method.md §3).
 *
 * Closed-domain PIR: `L = L_c(pir, image ids) + center_factor · L_a(pir)` (`center_factor` = 1).
 * Open-domain PriorCLIP: `L = L_c(clip) + L_a(clip)` (with `--is_aff_loss`).
 * A weight of 0 switches a part off: it is then neither computed nor reported.
 */
import * as tf from '@tensorflow/tfjs';
import { clipLoss, pirContrastiveLoss, RowIds } from './contrastive_loss';
import { clipAffiliationLoss, pirAffiliationLoss } from './affiliation_loss';
import { DEFAULT_TRIPLET_MARGIN, tripletLoss } from './triplet_loss';

/** Which reference a loss term follows. */
export type LossFlavour = 'pir' | 'clip';

/** Loss configuration (a config section: every field has a default in `DEFAULT_LOSS_CONFIG`). */
export interface LossConfig {
  /** Contrastive flavour: 'pir' (`V·Tᵀ/temp`, multi-positive by image id) or 'clip' (`s·V·Tᵀ`, one positive per row). */
  contrastive: LossFlavour;
  /** Weight of the contrastive part (0 = off). Reference: 1. */
  contrastiveWeight: number;
  /** PIR contrastive only: treat captions of the same image id as positives (false = diagonal only, `idx=None`). */
  useImageIds: boolean;
  /** Affiliation flavour: 'pir' (`/temp2`, transposed t2i term) or 'clip' (`s·`, not transposed). */
  affiliation: LossFlavour;
  /** Weight of the affiliation part: PIR's `center_factor` (reference 1; 0 = `use_affil_loss=False`). */
  affiliationWeight: number;
  /** Weight of the VSE triplet part (reference option `use_triplet_loss`, off: 0). */
  tripletWeight: number;
  /** Triplet hinge margin (reference 0.2). */
  tripletMargin: number;
  /** Triplet: hardest negative only (VSE++) instead of the sum over negatives. Reference: false. */
  tripletMaxViolation: boolean;
}

/** PIR closed-domain defaults: multi-positive contrastive + affiliation, no triplet. */
export const DEFAULT_LOSS_CONFIG: LossConfig = {
  contrastive: 'pir',
  contrastiveWeight: 1,
  useImageIds: true,
  affiliation: 'pir',
  affiliationWeight: 1,
  tripletWeight: 0,
  tripletMargin: DEFAULT_TRIPLET_MARGIN,
  tripletMaxViolation: false,
};

/** Open-domain PriorCLIP defaults (`ClipLoss(is_aff_loss=True)`). */
export const CLIP_LOSS_CONFIG: LossConfig = {
  ...DEFAULT_LOSS_CONFIG,
  contrastive: 'clip',
  useImageIds: false,
  affiliation: 'clip',
};

/** What the loss needs from a batch and the model's forward pass. */
export interface LossInputs {
  /** L2-normalised image features [N, E]. */
  imageFeatures: tf.Tensor2D;
  /** L2-normalised text features [N, E]. */
  textFeatures: tf.Tensor2D;
  /** PIR contrastive temperature (needed by the 'pir' contrastive flavour). */
  temp?: tf.Scalar;
  /** PIR affiliation temperature (needed by the 'pir' affiliation flavour). */
  temp2?: tf.Scalar;
  /** Exponentiated logit scale (needed by the 'clip' flavours). */
  logitScale?: tf.Scalar;
  /** Image id of each row (PIR multi-positive contrastive). */
  imageIds?: RowIds;
  /** Scene-class label of each row (affiliation). */
  labels?: RowIds;
}

/** The total loss and each weighted-in part, unweighted (names: `contrastive`, `affiliation`, `triplet`). */
export interface LossOutput {
  total: tf.Scalar;
  parts: Record<string, tf.Scalar>;
}

function need<T>(value: T | undefined, field: string, part: string): T {
  if (value === undefined) throw new Error(`totalLoss: the ${part} part needs LossInputs.${field}, which is missing`);
  return value;
}

/**
 * `total = Σ weight_p · part_p` over the parts with non-zero weight. `parts` holds the unweighted
 * values (the caller disposes `total` and every part; they are separate tensors).
 */
export function totalLoss(inputs: LossInputs, config: LossConfig = DEFAULT_LOSS_CONFIG): LossOutput {
  const img = inputs.imageFeatures;
  const txt = inputs.textFeatures;
  // Resolve every required input first, so a missing one throws before any tensor is made.
  const plan: { name: string; weight: number; run: () => tf.Scalar }[] = [];
  if (config.contrastiveWeight !== 0) {
    if (config.contrastive === 'pir') {
      const temp = need(inputs.temp, 'temp', 'pir contrastive');
      const ids = config.useImageIds ? need(inputs.imageIds, 'imageIds', 'pir contrastive (useImageIds)') : undefined;
      plan.push({ name: 'contrastive', weight: config.contrastiveWeight, run: () => pirContrastiveLoss(img, txt, temp, ids) });
    } else {
      const s = need(inputs.logitScale, 'logitScale', 'clip contrastive');
      plan.push({ name: 'contrastive', weight: config.contrastiveWeight, run: () => clipLoss(img, txt, s) });
    }
  }
  if (config.affiliationWeight !== 0) {
    const labels = need(inputs.labels, 'labels', 'affiliation');
    if (config.affiliation === 'pir') {
      const temp2 = need(inputs.temp2, 'temp2', 'pir affiliation');
      plan.push({ name: 'affiliation', weight: config.affiliationWeight, run: () => pirAffiliationLoss(img, txt, temp2, labels) });
    } else {
      const s = need(inputs.logitScale, 'logitScale', 'clip affiliation');
      plan.push({ name: 'affiliation', weight: config.affiliationWeight, run: () => clipAffiliationLoss(img, txt, s, labels) });
    }
  }
  if (config.tripletWeight !== 0) {
    plan.push({ name: 'triplet', weight: config.tripletWeight, run: () => tripletLoss(img, txt, config.tripletMargin, config.tripletMaxViolation) });
  }
  if (plan.length === 0) throw new Error('totalLoss: every loss weight is 0; enable at least one part');
  const parts: Record<string, tf.Scalar> = {};
  try {
    for (const p of plan) parts[p.name] = p.run();
    const total = tf.tidy(() => plan.reduce<tf.Scalar>((acc, p) => tf.add(acc, tf.mul(parts[p.name], p.weight)) as tf.Scalar, tf.scalar(0)));
    return { total, parts };
  } catch (e) {
    Object.values(parts).forEach((t) => t.dispose());
    throw e;
  }
}
