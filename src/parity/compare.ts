/**
 * Elementwise comparison of a computed output with a fixture tensor.
 */
import { SafeTensor, toFloat32, toInt32Numbers } from '../io/safetensors';
import { OutputTolerance } from './tolerance';
import { ParityRow } from './types';

/** Relative errors are reported where |exp| exceeds this (as the fixtures' float32_vs_float64 does). */
export const REL_FLOOR = 1e-3;

/** Is a safetensors dtype an integer type (compared exactly)? */
export function isIntegerDtype(dtype: string): boolean {
  return /^(I|U)\d+$/.test(dtype) || dtype === 'BOOL';
}

/** Compare `got` (row-major, shape `gotShape`) with `exp` under `tol`. */
export function compareTensor(
  name: string,
  got: ArrayLike<number>,
  gotShape: readonly number[],
  exp: SafeTensor,
  tol: OutputTolerance,
): ParityRow {
  // Read the tolerance through one explicit shape: tslab's non-strict TS 5.0 does not narrow the union.
  const t = tol as { exact: boolean; rtol?: number; atol?: number };
  const rtol = t.rtol ?? 0;
  const atol = t.atol ?? 0;
  const tolFields = t.exact ? { exact: true } : { rtol, atol };
  if (gotShape.length !== exp.shape.length || gotShape.some((d, i) => d !== exp.shape[i])) {
    return { name, maxAbs: Infinity, maxRel: Infinity, pass: false, ...tolFields, error: `shape [${gotShape}] vs expected [${exp.shape}]` };
  }
  const e: ArrayLike<number> = isIntegerDtype(exp.dtype) ? toInt32Numbers(exp, name) : toFloat32(exp);
  if (got.length !== e.length) {
    return { name, maxAbs: Infinity, maxRel: Infinity, pass: false, ...tolFields, error: `${got.length} values vs expected ${e.length}` };
  }
  let maxAbs = 0;
  let maxRel = 0;
  let pass = true;
  for (let i = 0; i < e.length; i++) {
    const d = Math.abs(got[i] - e[i]);
    const ok = t.exact ? got[i] === e[i] : d <= atol + rtol * Math.abs(e[i]);
    if (!ok) pass = false;
    if (!(d <= maxAbs)) maxAbs = d; // NaN-propagating max
    if (Math.abs(e[i]) > REL_FLOOR && !(d / Math.abs(e[i]) <= maxRel)) maxRel = d / Math.abs(e[i]);
  }
  return { name, maxAbs, maxRel, pass, ...tolFields };
}
