/**
 * Parity of the losses against the golden `losses` case (`<dir>/losses.safetensors`, golden README §5),
 * for the parity CLI and the tests. Sizes are read from the file.
 */
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { toFloat32, toInt32Numbers } from '../io/safetensors';
import { clipLoss, pirContrastiveLoss } from '../losses/contrastive_loss';
import { clipAffiliationLoss, pirAffiliationLoss } from '../losses/affiliation_loss';
import { tripletLoss, DEFAULT_TRIPLET_MARGIN } from '../losses/triplet_loss';
import { CLIP_LOSS_CONFIG, DEFAULT_LOSS_CONFIG, totalLoss } from '../losses/total_loss';
import { compareValues, failedRow, readFixtureTensors } from './compare';
import { ParityRow } from './types';

/** Golden tolerance for the losses case. */
export const LOSSES_RTOL = 1e-4;
export const LOSSES_ATOL = 1e-5;

/** Run every loss output of the case in `dir` and compare it with the golden value. */
export function runLossesCase(dir: string): ParityRow[] {
  const file = path.join(dir, 'losses.safetensors');
  const { tensors: t, get } = readFixtureTensors(file);
  const rows: ParityRow[] = [];
  const computed: Record<string, number> = {};
  tf.tidy(() => {
    const v = get('input/image_features');
    const w = get('input/text_features');
    const img = tf.tensor2d(toFloat32(v), v.shape as [number, number]);
    const txt = tf.tensor2d(toFloat32(w), w.shape as [number, number]);
    const ids = toInt32Numbers(get('input/image_ids'), 'input/image_ids');
    const labels = toInt32Numbers(get('input/labels'), 'input/labels');
    const temp = tf.scalar(toFloat32(get('input/temp'))[0]);
    const temp2 = tf.scalar(toFloat32(get('input/temp2'))[0]);
    const s = tf.scalar(toFloat32(get('input/logit_scale'))[0]);
    const val = (x: tf.Scalar) => x.dataSync()[0];
    computed['output/pir/contr_loss_idx'] = val(pirContrastiveLoss(img, txt, temp, ids));
    computed['output/pir/contr_loss_noidx'] = val(pirContrastiveLoss(img, txt, temp));
    computed['output/pir/affil_loss'] = val(pirAffiliationLoss(img, txt, temp2, labels));
    const pirTotal = totalLoss({ imageFeatures: img, textFeatures: txt, temp, temp2, imageIds: ids, labels }, DEFAULT_LOSS_CONFIG);
    computed['output/pir/total_loss'] = val(pirTotal.total);
    computed['output/pir/triplet_loss'] = val(tripletLoss(img, txt, DEFAULT_TRIPLET_MARGIN, false));
    computed['output/pir/triplet_loss_max_violation'] = val(tripletLoss(img, txt, DEFAULT_TRIPLET_MARGIN, true));
    computed['output/openclip/contrastive_loss'] = val(clipLoss(img, txt, s));
    const clipTotal = totalLoss({ imageFeatures: img, textFeatures: txt, logitScale: s, labels }, CLIP_LOSS_CONFIG);
    computed['output/openclip_aff/contrastive_loss'] = val(clipTotal.parts.contrastive);
    computed['output/openclip_aff/affiliation_loss'] = val(clipAffiliationLoss(img, txt, s, labels));
    computed['output/openclip_aff/total_loss'] = val(clipTotal.total);
    for (const x of [pirTotal, clipTotal]) {
      x.total.dispose();
      Object.values(x.parts).forEach((p: tf.Tensor) => p.dispose());
    }
  });
  const outputs = [...t.keys()].filter((k) => k.startsWith('output/')).sort();
  for (const k of outputs) {
    if (!(k in computed)) {
      rows.push(failedRow(k, 'not computed by the kit'));
      continue;
    }
    rows.push(compareValues(k, [computed[k]], toFloat32(get(k)), { exact: false, rtol: LOSSES_RTOL, atol: LOSSES_ATOL }));
  }
  for (const k of Object.keys(computed)) {
    if (!t.has(k)) rows.push(failedRow(k, `missing in ${file}`));
  }
  return rows;
}
