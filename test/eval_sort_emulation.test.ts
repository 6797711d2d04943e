import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import { execFileSync } from 'child_process';
import { numpyArgsort, torchTopkIndices } from '../src/evaluation/sort_emulation';

/** Debian's python3 with numpy 1.24 + torch 1.13 (the golden fixtures' environment), if present. */
const PY = '/usr/bin/python3';

function referenceAvailable(): string | null {
  if (!fs.existsSync(PY)) return `${PY} not found`;
  try {
    const v = execFileSync(PY, ['-c', 'import numpy, torch; print(numpy.__version__, torch.__version__)'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
    return v.startsWith('1.24.') ? null : `numpy/torch versions ${v} (emulation targets numpy 1.24, torch 1.13)`;
  } catch {
    return 'numpy/torch not importable';
  }
}

const GEN = `
import numpy as np, torch, json, sys
rng = np.random.default_rng(int(sys.argv[1]))
cases = []
for trial in range(160):
    n = int(rng.choice([2,3,5,16,17,18,20,31,33,64,65,100,257,640,1500]))
    levels = int(rng.integers(1, max(2, n//2)+1))
    v = rng.integers(0, levels, n).astype(np.float32) * np.float32(0.125)
    if trial % 5 == 0: v = rng.random(n).astype(np.float32)
    if trial % 7 == 0: v[:] = 0.5
    ks = sorted(set([1, min(5,n), min(10,n), int(rng.integers(1,n+1))]))
    cases.append({"v": v.tolist(), "argsort": np.argsort(v).tolist(),
                  "topk": {str(k): sorted(torch.topk(torch.from_numpy(v), k)[1].tolist()) for k in ks}})
# organ-pipe inputs exhaust numpy's depth budget: these exercise the heapsort fallback (aheapsort_)
for n in [256, 1024, 3000]:
    v = np.array([i if i < n / 2 else n - i for i in range(n)], dtype=np.float32)
    cases.append({"v": v.tolist(), "argsort": np.argsort(v).tolist(), "topk": {"10": sorted(torch.topk(torch.from_numpy(v), 10)[1].tolist())}})
print(json.dumps(cases))
`;

const why = referenceAvailable();
test('numpy argsort and torch.topk tie orders are reproduced exactly (vs the real numpy 1.24 / torch 1.13)', { skip: why ?? false }, () => {
  const out = execFileSync(PY, ['-c', GEN, '5'], { maxBuffer: 1 << 28 }).toString();
  const cases = JSON.parse(out) as { v: number[]; argsort: number[]; topk: Record<string, number[]> }[];
  let topks = 0;
  for (const [ci, c] of cases.entries()) {
    const v = Float32Array.from(c.v);
    assert.deepEqual(Array.from(numpyArgsort(v)), c.argsort, `argsort case ${ci} (n=${v.length})`);
    for (const [k, exp] of Object.entries(c.topk)) {
      topks++;
      const got = Array.from(torchTopkIndices(v, Number(k))).sort((a, b) => a - b);
      assert.deepEqual(got, exp, `topk case ${ci} (n=${v.length}, k=${k})`);
    }
  }
  assert.ok(cases.length === 163 && topks > 400);
});

test('emulations are valid sorts/selections on their own', () => {
  const v = Float32Array.from([3, 1, 2, 2, 5, 0, 2, 5, NaN, 1]);
  const a = numpyArgsort(v);
  for (let i = 1; i < a.length - 1; i++) assert.ok(v[a[i - 1]] <= v[a[i]]);
  assert.equal(a[a.length - 1], 8, 'NaN sorts last, as in numpy');
  const top = Array.from(torchTopkIndices(v, 3)).sort();
  assert.ok(top.includes(8) && top.includes(4) && top.includes(7), 'NaN counts as largest in torch.topk');
  assert.throws(() => torchTopkIndices(v, 11));
});
