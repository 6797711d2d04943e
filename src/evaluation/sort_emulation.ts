/**
 * Exact emulations of the two reference sort routines whose order among EQUAL scores decides
 * the retrieval ranks on tied data (golden README §6):
 *
 * - `numpyArgsort`: numpy 1.24's default `np.argsort` (kind='quicksort') for float arrays, i.e.
 *   `aquicksort_<npy::float_tag>` in `numpy/core/src/npysort/quicksort.cpp`: median-of-3 introsort,
 *   insertion sort once `pr − pl ≤ SMALL_QUICKSORT = 15` (partitions of ≤ 16 elements), heapsort (`aheapsort_`) when
 *   the depth budget `2·floor(log2 n)` runs out. numpy 1.24 has no SIMD dispatch for argsort (the
 *   AVX-512 `x86-simd-sort` argsort arrived in numpy 1.25, whose tie order differs), so this is a
 *   line-by-line port and reproduces the order for ANY size. NaN sorts last (numpy's `float_tag::less`).
 * - `torchTopkIndices`: torch 1.13 CPU `torch.topk(largest=True)` (`topk_impl_loop` in
 *   `aten/src/ATen/native/cpu/SortingKernel.cpp`), which runs libstdc++'s `std::partial_sort` when
 *   `k·64 ≤ n` and `std::nth_element` otherwise, on (value, index) pairs with comparator
 *   `isnan(x) && !isnan(y) || x > y`. The libstdc++ (GCC) algorithms (`__introselect`,
 *   `__heap_select`, `__adjust_heap`, `__unguarded_partition_pivot`, `__insertion_sort`) are ported
 *   line by line. Only the SET of the top k is returned (hit@K does not depend on its order).
 *   Other torch versions, CUDA, or an MSVC/libc++ build may order ties differently.
 *
 * Both are verified against the real numpy 1.24.2 / torch 1.13 on random tie-heavy data
 * (test/eval_sort_emulation.test.ts) and against the golden fixture's aux ranks and hits.
 */

/** numpy's SMALL_QUICKSORT: partitions of at most this size (pr − pl) go to insertion sort. */
const NPY_SMALL_QUICKSORT = 15;
/** torch topk uses partial_sort when k · this ≤ n. */
const TORCH_PARTIAL_SORT_FACTOR = 64;

function npLess(a: number, b: number): boolean {
  return a < b || (b !== b && a === a);
}

/** floor(log2 n) for n ≥ 1 (numpy's npy_get_msb, libstdc++'s __lg). */
function floorLog2(n: number): number {
  return 31 - Math.clz32(n);
}

/** numpy `aheapsort_` on `t[off .. off+n)` (1-based heap indexing as in numpy). */
function npArgHeapsort(v: ArrayLike<number>, t: Int32Array, off: number, nIn: number): void {
  let n = nIn;
  const a = (k: number) => off + k - 1; // a = tosort - 1
  let i: number;
  let j: number;
  let tmp: number;
  for (let l = n >> 1; l > 0; --l) {
    tmp = t[a(l)];
    for (i = l, j = l << 1; j <= n; ) {
      if (j < n && npLess(v[t[a(j)]], v[t[a(j + 1)]])) j += 1;
      if (npLess(v[tmp], v[t[a(j)]])) {
        t[a(i)] = t[a(j)];
        i = j;
        j += j;
      } else break;
    }
    t[a(i)] = tmp;
  }
  for (; n > 1; ) {
    tmp = t[a(n)];
    t[a(n)] = t[a(1)];
    n -= 1;
    for (i = 1, j = 2; j <= n; ) {
      if (j < n && npLess(v[t[a(j)]], v[t[a(j + 1)]])) j++;
      if (npLess(v[tmp], v[t[a(j)]])) {
        t[a(i)] = t[a(j)];
        i = j;
        j += j;
      } else break;
    }
    t[a(i)] = tmp;
  }
}

/** Ascending `np.argsort(v)` exactly as numpy 1.24 orders it (including among equal values). */
export function numpyArgsort(v: ArrayLike<number>): Int32Array {
  const num = v.length;
  const t = new Int32Array(num);
  for (let i = 0; i < num; i++) t[i] = i;
  if (num <= 1) return t;
  const swap = (x: number, y: number) => {
    const s = t[x];
    t[x] = t[y];
    t[y] = s;
  };
  let pl = 0;
  let pr = num - 1;
  const stack: number[] = [];
  const depthStack: number[] = [];
  let cdepth = floorLog2(num) * 2;
  for (;;) {
    if (cdepth < 0) {
      npArgHeapsort(v, t, pl, pr - pl + 1);
    } else {
      while (pr - pl > NPY_SMALL_QUICKSORT) {
        const pm = pl + ((pr - pl) >> 1);
        if (npLess(v[t[pm]], v[t[pl]])) swap(pm, pl);
        if (npLess(v[t[pr]], v[t[pm]])) swap(pr, pm);
        if (npLess(v[t[pm]], v[t[pl]])) swap(pm, pl);
        const vp = v[t[pm]];
        let pi = pl;
        let pj = pr - 1;
        swap(pm, pj);
        for (;;) {
          do ++pi;
          while (npLess(v[t[pi]], vp));
          do --pj;
          while (npLess(vp, v[t[pj]]));
          if (pi >= pj) break;
          swap(pi, pj);
        }
        swap(pi, pr - 1);
        if (pi - pl < pr - pi) {
          stack.push(pi + 1, pr);
          pr = pi - 1;
        } else {
          stack.push(pl, pi - 1);
          pl = pi + 1;
        }
        depthStack.push(--cdepth);
      }
      for (let pi = pl + 1; pi <= pr; ++pi) {
        const vi = t[pi];
        const vpi = v[vi];
        let pj = pi;
        let pk = pi - 1;
        while (pj > pl && npLess(vpi, v[t[pk]])) t[pj--] = t[pk--];
        t[pj] = vi;
      }
    }
    if (stack.length === 0) break;
    pr = stack.pop() as number;
    pl = stack.pop() as number;
    cdepth = depthStack.pop() as number;
  }
  return t;
}

/** libstdc++ algorithms on an index array `q`, comparing `v[q[·]]` with torch's "largest" comparator. */
class StdTopk {
  constructor(
    private readonly v: ArrayLike<number>,
    readonly q: Int32Array,
  ) {}

  comp(x: number, y: number): boolean {
    const a = this.v[x];
    const b = this.v[y];
    return (a !== a && b === b) || a > b;
  }

  swap(i: number, j: number): void {
    const s = this.q[i];
    this.q[i] = this.q[j];
    this.q[j] = s;
  }

  adjustHeap(first: number, holeIndexIn: number, len: number, value: number): void {
    const q = this.q;
    let holeIndex = holeIndexIn;
    const topIndex = holeIndex;
    let secondChild = holeIndex;
    while (secondChild < Math.trunc((len - 1) / 2)) {
      secondChild = 2 * (secondChild + 1);
      if (this.comp(q[first + secondChild], q[first + secondChild - 1])) secondChild--;
      q[first + holeIndex] = q[first + secondChild];
      holeIndex = secondChild;
    }
    if ((len & 1) === 0 && secondChild === Math.trunc((len - 2) / 2)) {
      secondChild = 2 * (secondChild + 1);
      q[first + holeIndex] = q[first + secondChild - 1];
      holeIndex = secondChild - 1;
    }
    // __push_heap
    let parent = Math.trunc((holeIndex - 1) / 2);
    while (holeIndex > topIndex && this.comp(q[first + parent], value)) {
      q[first + holeIndex] = q[first + parent];
      holeIndex = parent;
      parent = Math.trunc((holeIndex - 1) / 2);
    }
    q[first + holeIndex] = value;
  }

  makeHeap(first: number, last: number): void {
    const len = last - first;
    if (len < 2) return;
    let parent = Math.trunc((len - 2) / 2);
    for (;;) {
      this.adjustHeap(first, parent, len, this.q[first + parent]);
      if (parent === 0) return;
      parent--;
    }
  }

  heapSelect(first: number, middle: number, last: number): void {
    this.makeHeap(first, middle);
    for (let i = middle; i < last; ++i) {
      if (this.comp(this.q[i], this.q[first])) {
        // __pop_heap(first, middle, i)
        const value = this.q[i];
        this.q[i] = this.q[first];
        this.adjustHeap(first, 0, middle - first, value);
      }
    }
  }

  moveMedianToFirst(result: number, a: number, b: number, c: number): void {
    const q = this.q;
    if (this.comp(q[a], q[b])) {
      if (this.comp(q[b], q[c])) this.swap(result, b);
      else if (this.comp(q[a], q[c])) this.swap(result, c);
      else this.swap(result, a);
    } else if (this.comp(q[a], q[c])) this.swap(result, a);
    else if (this.comp(q[b], q[c])) this.swap(result, c);
    else this.swap(result, b);
  }

  unguardedPartition(firstIn: number, lastIn: number, pivot: number): number {
    let first = firstIn;
    let last = lastIn;
    const q = this.q;
    for (;;) {
      while (this.comp(q[first], q[pivot])) ++first;
      --last;
      while (this.comp(q[pivot], q[last])) --last;
      if (!(first < last)) return first;
      this.swap(first, last);
      ++first;
    }
  }

  insertionSort(first: number, last: number): void {
    const q = this.q;
    if (first === last) return;
    for (let i = first + 1; i !== last; ++i) {
      if (this.comp(q[i], q[first])) {
        const val = q[i];
        q.copyWithin(first + 1, first, i);
        q[first] = val;
      } else {
        const val = q[i];
        let hole = i;
        let next = i - 1;
        while (this.comp(val, q[next])) {
          q[hole] = q[next];
          hole = next;
          --next;
        }
        q[hole] = val;
      }
    }
  }

  introselect(firstIn: number, nth: number, lastIn: number, depthIn: number): void {
    let first = firstIn;
    let last = lastIn;
    let depth = depthIn;
    while (last - first > 3) {
      if (depth === 0) {
        this.heapSelect(first, nth + 1, last);
        this.swap(first, nth);
        return;
      }
      --depth;
      const mid = first + Math.trunc((last - first) / 2);
      this.moveMedianToFirst(first, first + 1, mid, last - 1);
      const cut = this.unguardedPartition(first + 1, last, first);
      if (cut <= nth) first = cut;
      else last = cut;
    }
    this.insertionSort(first, last);
  }
}

/**
 * Indices of the k largest values as torch 1.13 CPU `torch.topk(v, k)` selects them (as a set, in
 * the emulated selection order, not sorted). 1 ≤ k ≤ n.
 */
export function torchTopkIndices(v: ArrayLike<number>, k: number): Int32Array {
  const n = v.length;
  if (!(k >= 1 && k <= n)) throw new Error(`torchTopkIndices: k must be in [1, ${n}], got ${k}`);
  const q = new Int32Array(n);
  for (let i = 0; i < n; i++) q[i] = i;
  const s = new StdTopk(v, q);
  if (k * TORCH_PARTIAL_SORT_FACTOR <= n) {
    s.heapSelect(0, k, n); // std::partial_sort = heap_select + sort_heap (order only)
  } else if (k - 1 !== n) {
    s.introselect(0, k - 1, n, floorLog2(n) * 2); // std::nth_element
  }
  return q.slice(0, k);
}
