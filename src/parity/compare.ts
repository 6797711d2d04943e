/**
 * Elementwise comparison of a computed output with a fixture tensor.
 */
import { SafeTensor, readSafetensorsFile, toFloat32, toInt32Numbers } from '../io/safetensors';
import { OutputTolerance } from './tolerance';
import { ParityRow } from './types';

/** Relative errors are reported where |exp| exceeds this (as the fixtures' float32_vs_float64 does). */
export const REL_FLOOR = 1e-3;

/** Is a safetensors dtype an integer type (compared exactly)? */
export function isIntegerDtype(dtype: string): boolean {
  return /^(I|U)\d+$/.test(dtype) || dtype === 'BOOL';
}

/**
 * The one comparison rule of every parity case: elementwise `|got − exp| ≤ atol + rtol·|exp|`
 * (`exact`: equality). `maxAbs` is the NaN-propagating max |got − exp|; `maxRel` the max
 * |got − exp| / |exp| over elements with |exp| > REL_FLOOR.
 */
export function compareValues(name: string, got: ArrayLike<number>, exp: ArrayLike<number>, tol: OutputTolerance): ParityRow {
  // Read the tolerance through one explicit shape: tslab's non-strict TS 5.0 does not narrow the union.
  const t = tol as { exact: boolean; rtol?: number; atol?: number };
  const rtol = t.rtol ?? 0;
  const atol = t.atol ?? 0;
  const tolFields = t.exact ? { exact: true } : { rtol, atol };
  if (got.length !== exp.length) {
    return { name, maxAbs: Infinity, maxRel: Infinity, pass: false, ...tolFields, error: `${got.length} values vs expected ${exp.length}` };
  }
  let maxAbs = 0;
  let maxRel = 0;
  let pass = true;
  for (let i = 0; i < exp.length; i++) {
    const d = Math.abs(got[i] - exp[i]);
    const ok = t.exact ? got[i] === exp[i] : d <= atol + rtol * Math.abs(exp[i]);
    if (!ok) pass = false;
    if (!(d <= maxAbs)) maxAbs = d; // NaN-propagating max
    if (Math.abs(exp[i]) > REL_FLOOR && !(d / Math.abs(exp[i]) <= maxRel)) maxRel = d / Math.abs(exp[i]);
  }
  return { name, maxAbs, maxRel, pass, ...tolFields };
}

/** A row for an output that could not be compared (missing, not computed, wrong shape). */
export function failedRow(name: string, error: string, exact = false): ParityRow {
  return { name, maxAbs: Infinity, maxRel: Infinity, pass: false, ...(exact ? { exact: true } : {}), error };
}

/** Compare `got` (row-major, shape `gotShape`) with the fixture tensor `exp` under `tol` (integer dtypes read as integers). */
export function compareTensor(name: string, got: ArrayLike<number>, gotShape: readonly number[], exp: SafeTensor, tol: OutputTolerance): ParityRow {
  if (gotShape.length !== exp.shape.length || gotShape.some((d, i) => d !== exp.shape[i])) {
    const row = compareValues(name, [], [0], tol);
    return { ...row, error: `shape [${gotShape}] vs expected [${exp.shape}]` };
  }
  const e: ArrayLike<number> = isIntegerDtype(exp.dtype) ? toInt32Numbers(exp, name) : toFloat32(exp);
  return compareValues(name, got, e, tol);
}

/** A fixture's tensors and a getter that throws naming the file and the missing tensor. */
export function readFixtureTensors(file: string): { tensors: Map<string, SafeTensor>; get: (key: string) => SafeTensor } {
  const tensors = readSafetensorsFile(file);
  return {
    tensors,
    get: (key) => {
      const v = tensors.get(key);
      if (!v) throw new Error(`${file}: tensor '${key}' is missing`);
      return v;
    },
  };
}
