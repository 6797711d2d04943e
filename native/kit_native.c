/*
 * kit_native: the kit's native CPU kernels (N-API addon), loaded only by src/backends/native.ts.
 *
 * Every function works in place on Float32Array views the caller passes (on the wasm backend these are views
 * of the WebAssembly.Memory heap, so nothing is copied). Row-major, NHWC, HWIO filters, as tfjs stores them.
 * Products go through kit_sgemm to oneDNN's dnnl_sgemm when the addon is built with it (KIT_DNNL: Debian's
 * libdnnl-dev; its JIT kernels use the CPU's widest vectors whatever OPENBLAS_CORETYPE says), else, or after
 * setGemm("openblas"), to OpenBLAS's cblas_sgemm. Both are multi-threaded (the thread count is fixed by setThreads;
 * whether a product's bits depend on it is in src/backends/blas_core.ts). im2col / col2im run on the calling
 * thread, in a fixed order (deterministic). The im2col scratch buffer is kept between calls, in row chunks of at
 * most KIT_COLS_CHUNK floats.
 *
 * Build: native/build.sh (gcc + libopenblas-dev [+ libdnnl-dev] + Node's own headers; no download).
 */
#define NAPI_VERSION 8
#include <node_api.h>
#include <cblas.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

/* OpenBLAS extensions (declared in its cblas.h too; repeated so the file also builds against a plain cblas.h). */
extern void openblas_set_num_threads(int num_threads);
extern int openblas_get_num_threads(void);
extern char *openblas_get_config(void);
extern char *openblas_get_corename(void);

/* Which library runs the products: 1 = oneDNN's dnnl_sgemm (built with KIT_DNNL), 0 = OpenBLAS's cblas_sgemm. */
#ifdef KIT_DNNL
#include <oneapi/dnnl/dnnl.h>
#include <omp.h>
static int use_dnnl = 1;
#else
static int use_dnnl = 0;
#endif

/*
 * Products of at most small_macs multiply-adds run on one thread: splitting them costs more than it gains
 * (measured with OpenBLAS: [1024,64]·[64,64] takes 0.2 ms on 1 thread, 0.37 ms on 2 of a loaded 2-core machine),
 * and a descheduled helper thread stalls the whole product.
 */
static int64_t small_macs = (int64_t)1 << 22;
static int blas_threads = 1;
/* The thread count the products run with now (threads_for), for both libraries. */
static int gemm_threads = 1;

static void set_gemm_threads(int want) {
  if (use_dnnl) {
#ifdef KIT_DNNL
    if (omp_get_max_threads() != want) omp_set_num_threads(want);
#endif
  } else if (openblas_get_num_threads() != want) {
    openblas_set_num_threads(want);
  }
  gemm_threads = want;
}

static void threads_for(int64_t macs) {
  set_gemm_threads(macs <= small_macs ? 1 : blas_threads);
}

/*
 * C = alpha·op(A)·op(B) + beta·C, row-major (ta / tb: 1 = transposed), on the chosen library at the current
 * thread count. oneDNN's matrix-vector path (M or N of 1) splits the K reduction among threads (measured: the
 * bits of [1,768]·[768,768] differ between 1 and 2 threads), so it runs on one thread: then no product's bits
 * depend on the thread count (measured on 12 shapes × 4 transpose combinations, src/backends/blas_core.ts).
 */
static void kit_sgemm(int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
                      const float *b, int64_t ldb, float beta, float *c, int64_t ldc) {
#ifdef KIT_DNNL
  if (use_dnnl) {
    const int saved = gemm_threads;
    if ((m == 1 || n == 1) && saved != 1) set_gemm_threads(1);
    dnnl_sgemm(ta ? 'T' : 'N', tb ? 'T' : 'N', m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    if (gemm_threads != saved) set_gemm_threads(saved);
    return;
  }
#endif
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, (int)m, (int)n, (int)k, alpha,
              a, (int)lda, b, (int)ldb, beta, c, (int)ldc);
}

/* Largest im2col scratch, in floats (64 MB). */
#define KIT_COLS_CHUNK (16 * 1024 * 1024)

#define CHECK(call)                                                   \
  do {                                                                \
    if ((call) != napi_ok) {                                          \
      napi_throw_error(env, NULL, "kit_native: N-API call failed");   \
      return NULL;                                                    \
    }                                                                 \
  } while (0)

static int get_f32(napi_env env, napi_value v, float **data, size_t *len) {
  napi_typedarray_type type;
  size_t length;
  void *ptr;
  napi_value ab;
  size_t off;
  if (napi_get_typedarray_info(env, v, &type, &length, &ptr, &ab, &off) != napi_ok) return 0;
  if (type != napi_float32_array) return 0;
  *data = (float *)ptr;
  *len = length;
  return 1;
}

/* Read argv[0..k) as Float32Arrays into arr / len. */
static int get_f32s(napi_env env, napi_value *argv, int k, float **arr, size_t *len) {
  for (int i = 0; i < k; i++)
    if (!get_f32(env, argv[i], &arr[i], &len[i])) return 0;
  return 1;
}

static int get_i64(napi_env env, napi_value v, int64_t *out) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok) return 0;
  *out = (int64_t)d;
  return 1;
}

static napi_value throw_msg(napi_env env, const char *msg) {
  napi_throw_error(env, NULL, msg);
  return NULL;
}

/* Read argv[first..first+n) as integers into out. */
static int get_ints(napi_env env, napi_value *argv, size_t first, size_t n, int64_t *out) {
  for (size_t i = 0; i < n; i++)
    if (!get_i64(env, argv[first + i], &out[i])) return 0;
  return 1;
}

/*
 * sgemmBatched(a, b, c, batch, m, n, k, transA, transB, strideA, strideB, strideC, beta)
 *   for i < batch: C[i] = op(A[i]) · op(B[i]) + beta·C[i] (beta 0 or 1); A[i] starts at i·strideA (0 = broadcast), etc.
 */
static napi_value sgemm_batched(napi_env env, napi_callback_info info) {
  size_t argc = 13;
  napi_value argv[13];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc != 13) return throw_msg(env, "kit_native.sgemmBatched: expected 13 arguments");
  float *a, *b, *c;
  size_t la, lb, lc;
  if (!get_f32(env, argv[0], &a, &la) || !get_f32(env, argv[1], &b, &lb) || !get_f32(env, argv[2], &c, &lc))
    return throw_msg(env, "kit_native.sgemmBatched: a, b, c must be Float32Arrays");
  int64_t v[10];
  if (!get_ints(env, argv, 3, 10, v)) return throw_msg(env, "kit_native.sgemmBatched: integer arguments expected");
  int64_t batch = v[0], m = v[1], n = v[2], k = v[3], ta = v[4], tb = v[5], sa = v[6], sb = v[7], sc = v[8];
  float beta = (float)v[9];
  if (batch < 0 || m < 0 || n < 0 || k < 0) return throw_msg(env, "kit_native.sgemmBatched: negative size");
  if (batch == 0 || m == 0 || n == 0) return NULL;
  if ((size_t)((batch - 1) * sa + m * k) > la || (size_t)((batch - 1) * sb + k * n) > lb ||
      (size_t)((batch - 1) * sc + m * n) > lc)
    return throw_msg(env, "kit_native.sgemmBatched: an operand is smaller than its shape");
  int lda = (int)(ta ? m : k), ldb = (int)(tb ? k : n);
  threads_for(m * n * k);
  for (int64_t i = 0; i < batch; i++) {
    if (k == 0) {
      float *ci = c + i * sc;
      if (beta == 0.0f) memset(ci, 0, sizeof(float) * (size_t)(m * n));
      continue;
    }
    kit_sgemm(ta, tb, (int)m, (int)n,
                (int)k, 1.0f, a + i * sa, lda, b + i * sb, ldb, beta, c + i * sc, (int)n);
  }
  return NULL;
}

/* Conv geometry shared by the three conv entry points (NHWC input, HWIO filter). */
typedef struct {
  int64_t n, h, w, cin, kh, kw, cout, oh, ow, sh, sw, dh, dw, pt, pl;
} conv_geom;

static int read_geom(napi_env env, napi_value *argv, size_t first, conv_geom *g) {
  int64_t v[15];
  if (!get_ints(env, argv, first, 15, v)) return 0;
  g->n = v[0]; g->h = v[1]; g->w = v[2]; g->cin = v[3];
  g->kh = v[4]; g->kw = v[5]; g->cout = v[6]; g->oh = v[7]; g->ow = v[8];
  g->sh = v[9]; g->sw = v[10]; g->dh = v[11]; g->dw = v[12]; g->pt = v[13]; g->pl = v[14];
  return g->n >= 0 && g->h > 0 && g->w > 0 && g->cin > 0 && g->kh > 0 && g->kw > 0 && g->cout > 0 &&
         g->oh >= 0 && g->ow >= 0 && g->sh > 0 && g->sw > 0 && g->dh > 0 && g->dw > 0;
}

/* A conv that is one plain product: 1×1 filter, stride 1, no padding (the input rows are the im2col rows). */
static int is_pointwise(const conv_geom *g) {
  return g->kh == 1 && g->kw == 1 && g->sh == 1 && g->sw == 1 && g->pt == 0 && g->pl == 0 && g->oh == g->h &&
         g->ow == g->w;
}

/* Copy / zero n floats: an inline loop for the short runs of a small-channel conv (a memcpy call costs more). */
static inline void copy_floats(float *d, const float *s, int64_t n) {
  if (n >= 16) {
    memcpy(d, s, sizeof(float) * (size_t)n);
  } else {
    for (int64_t i = 0; i < n; i++) d[i] = s[i];
  }
}

static inline void zero_floats(float *d, int64_t n) {
  if (n >= 16) {
    memset(d, 0, sizeof(float) * (size_t)n);
  } else {
    for (int64_t i = 0; i < n; i++) d[i] = 0.0f;
  }
}

/*
 * im2col of output rows [r0, r1) (row = b·oh·ow + y·ow + x) into cols [r1−r0, kh·kw·cin]. The position is
 * advanced row by row (no divisions per row), and with dilation 1 a filter row whose taps all fall inside the
 * input is one contiguous run of kw·cin floats (one copy instead of kw).
 */
static void im2col(const conv_geom *g, const float *x, int64_t r0, int64_t r1, float *cols) {
  const int64_t ohw = g->oh * g->ow, kcols = g->kh * g->kw * g->cin, cin = g->cin, span = g->kw * cin;
  int64_t bi = r0 / ohw, oy = (r0 % ohw) / g->ow, ox = (r0 % ohw) % g->ow;
  for (int64_t r = r0; r < r1; r++) {
    float *dst = cols + (r - r0) * kcols;
    const float *xb = x + bi * g->h * g->w * cin;
    const int64_t ix0 = ox * g->sw - g->pl;
    const int contiguous = g->dw == 1 && ix0 >= 0 && ix0 + g->kw <= g->w;
    for (int64_t ky = 0; ky < g->kh; ky++) {
      const int64_t iy = oy * g->sh - g->pt + ky * g->dh;
      float *d = dst + ky * span;
      if (iy < 0 || iy >= g->h) {
        zero_floats(d, span);
      } else if (contiguous) {
        copy_floats(d, xb + (iy * g->w + ix0) * cin, span);
      } else {
        for (int64_t kx = 0; kx < g->kw; kx++) {
          const int64_t ix = ix0 + kx * g->dw;
          if (ix < 0 || ix >= g->w) zero_floats(d + kx * cin, cin);
          else copy_floats(d + kx * cin, xb + (iy * g->w + ix) * cin, cin);
        }
      }
    }
    if (++ox == g->ow) {
      ox = 0;
      if (++oy == g->oh) {
        oy = 0;
        bi++;
      }
    }
  }
}

/*
 * col2im: dx += scatter of dcols rows [r0, r1) (inverse of im2col). Rows are visited in ascending order, so
 * every dx value sums its contributions in one fixed order; the rows of one image only touch that image.
 */
static void col2im(const conv_geom *g, const float *dcols, int64_t r0, int64_t r1, float *dx) {
  const int64_t ohw = g->oh * g->ow, kcols = g->kh * g->kw * g->cin, cin = g->cin;
  int64_t bi = r0 / ohw, oy = (r0 % ohw) / g->ow, ox = (r0 % ohw) % g->ow;
  for (int64_t r = r0; r < r1; r++) {
    const float *src = dcols + (r - r0) * kcols;
    float *xb = dx + bi * g->h * g->w * cin;
    for (int64_t ky = 0; ky < g->kh; ky++) {
      const int64_t iy = oy * g->sh - g->pt + ky * g->dh;
      if (iy < 0 || iy >= g->h) continue;
      for (int64_t kx = 0; kx < g->kw; kx++) {
        const int64_t ix = ox * g->sw - g->pl + kx * g->dw;
        if (ix < 0 || ix >= g->w) continue;
        const float *s = src + (ky * g->kw + kx) * cin;
        float *d = xb + (iy * g->w + ix) * cin;
        for (int64_t c = 0; c < cin; c++) d[c] += s[c];
      }
    }
    if (++ox == g->ow) {
      ox = 0;
      if (++oy == g->oh) {
        oy = 0;
        bi++;
      }
    }
  }
}

/*
 * The im2col / col2im scratch buffer, kept between calls and grown when a conv needs more (at most
 * KIT_COLS_CHUNK floats). A fresh malloc per call of a multi-MB buffer is an mmap whose pages the kernel faults
 * in and zeroes on every call: ~2,000 page faults per pir-small training step, ~8 % of its time (perf). Every
 * call comes from the JS thread, one at a time, so one buffer serves all.
 */
static float *scratch_buf = NULL;
static size_t scratch_cap = 0;

static float *scratch(size_t floats) {
  if (floats > scratch_cap) {
    free(scratch_buf);
    scratch_buf = (float *)malloc(sizeof(float) * floats);
    scratch_cap = scratch_buf ? floats : 0;
  }
  return scratch_buf;
}

static int64_t rows_per_chunk(const conv_geom *g) {
  const int64_t kcols = g->kh * g->kw * g->cin;
  int64_t rows = KIT_COLS_CHUNK / (kcols > 0 ? kcols : 1);
  return rows < 1 ? 1 : rows;
}

#define CONV_ARGS 18 /* 3 arrays + 15 geometry integers */

static int conv_args(napi_env env, napi_callback_info info, float **p0, size_t *l0, float **p1, size_t *l1,
                     float **p2, size_t *l2, conv_geom *g, const char **err) {
  size_t argc = CONV_ARGS;
  napi_value argv[CONV_ARGS];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != CONV_ARGS) {
    *err = "expected 3 Float32Arrays and 15 integers";
    return 0;
  }
  if (!get_f32(env, argv[0], p0, l0) || !get_f32(env, argv[1], p1, l1) || !get_f32(env, argv[2], p2, l2)) {
    *err = "the first three arguments must be Float32Arrays";
    return 0;
  }
  if (!read_geom(env, argv, 3, g)) {
    *err = "bad conv geometry";
    return 0;
  }
  return 1;
}

/* conv2d(x, filter, y, geometry…): y [n, oh, ow, cout] = im2col(x) · filter [kh·kw·cin, cout]. */
static napi_value conv2d(napi_env env, napi_callback_info info) {
  float *x, *f, *y;
  size_t lx, lf, ly;
  conv_geom g;
  const char *err = NULL;
  if (!conv_args(env, info, &x, &lx, &f, &lf, &y, &ly, &g, &err)) return throw_msg(env, err);
  const int64_t rows = g.n * g.oh * g.ow, kcols = g.kh * g.kw * g.cin;
  if ((int64_t)lx < g.n * g.h * g.w * g.cin || (int64_t)lf < kcols * g.cout || (int64_t)ly < rows * g.cout)
    return throw_msg(env, "kit_native.conv2d: an operand is smaller than its shape");
  if (rows == 0) return NULL;
  threads_for((rows < rows_per_chunk(&g) ? rows : rows_per_chunk(&g)) * kcols * g.cout);
  if (is_pointwise(&g)) {
    kit_sgemm(0, 0, (int)rows, (int)g.cout, (int)kcols, 1.0f, x, (int)kcols,
                f, (int)g.cout, 0.0f, y, (int)g.cout);
    return NULL;
  }
  const int64_t chunk = rows_per_chunk(&g) < rows ? rows_per_chunk(&g) : rows;
  float *cols = scratch((size_t)(chunk * kcols));
  if (!cols) return throw_msg(env, "kit_native.conv2d: out of memory for the im2col buffer");
  for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
    const int64_t r1 = r0 + chunk < rows ? r0 + chunk : rows;
    im2col(&g, x, r0, r1, cols);
    kit_sgemm(0, 0, (int)(r1 - r0), (int)g.cout, (int)kcols, 1.0f, cols,
                (int)kcols, f, (int)g.cout, 0.0f, y + r0 * g.cout, (int)g.cout);
  }
  return NULL;
}

/* conv2dBackpropInput(dy, filter, dx, geometry…): dx = col2im(dy · filterᵀ). dx is overwritten. */
static napi_value conv2d_backprop_input(napi_env env, napi_callback_info info) {
  float *dy, *f, *dx;
  size_t ldy, lf, ldx;
  conv_geom g;
  const char *err = NULL;
  if (!conv_args(env, info, &dy, &ldy, &f, &lf, &dx, &ldx, &g, &err)) return throw_msg(env, err);
  const int64_t rows = g.n * g.oh * g.ow, kcols = g.kh * g.kw * g.cin;
  if ((int64_t)ldx < g.n * g.h * g.w * g.cin || (int64_t)lf < kcols * g.cout || (int64_t)ldy < rows * g.cout)
    return throw_msg(env, "kit_native.conv2dBackpropInput: an operand is smaller than its shape");
  threads_for((rows < rows_per_chunk(&g) ? rows : rows_per_chunk(&g)) * kcols * g.cout);
  if (is_pointwise(&g)) {
    kit_sgemm(0, 1, (int)rows, (int)kcols, (int)g.cout, 1.0f, dy, (int)g.cout,
                f, (int)g.cout, 0.0f, dx, (int)kcols);
    return NULL;
  }
  memset(dx, 0, sizeof(float) * (size_t)(g.n * g.h * g.w * g.cin));
  if (rows == 0) return NULL;
  const int64_t chunk = rows_per_chunk(&g) < rows ? rows_per_chunk(&g) : rows;
  float *dcols = scratch((size_t)(chunk * kcols));
  if (!dcols) return throw_msg(env, "kit_native.conv2dBackpropInput: out of memory for the col buffer");
  for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
    const int64_t r1 = r0 + chunk < rows ? r0 + chunk : rows;
    kit_sgemm(0, 1, (int)(r1 - r0), (int)kcols, (int)g.cout, 1.0f,
                dy + r0 * g.cout, (int)g.cout, f, (int)g.cout, 0.0f, dcols, (int)kcols);
    col2im(&g, dcols, r0, r1, dx);
  }
  return NULL;
}

/* conv2dBackpropFilter(x, dy, df, geometry…): df [kh·kw·cin, cout] = im2col(x)ᵀ · dy. df is overwritten. */
static napi_value conv2d_backprop_filter(napi_env env, napi_callback_info info) {
  float *x, *dy, *df;
  size_t lx, ldy, ldf;
  conv_geom g;
  const char *err = NULL;
  if (!conv_args(env, info, &x, &lx, &dy, &ldy, &df, &ldf, &g, &err)) return throw_msg(env, err);
  const int64_t rows = g.n * g.oh * g.ow, kcols = g.kh * g.kw * g.cin;
  if ((int64_t)lx < g.n * g.h * g.w * g.cin || (int64_t)ldf < kcols * g.cout || (int64_t)ldy < rows * g.cout)
    return throw_msg(env, "kit_native.conv2dBackpropFilter: an operand is smaller than its shape");
  if (rows == 0) {
    memset(df, 0, sizeof(float) * (size_t)(kcols * g.cout));
    return NULL;
  }
  threads_for((rows < rows_per_chunk(&g) ? rows : rows_per_chunk(&g)) * kcols * g.cout);
  if (is_pointwise(&g)) {
    kit_sgemm(1, 0, (int)kcols, (int)g.cout, (int)rows, 1.0f, x, (int)kcols,
                dy, (int)g.cout, 0.0f, df, (int)g.cout);
    return NULL;
  }
  const int64_t chunk = rows_per_chunk(&g) < rows ? rows_per_chunk(&g) : rows;
  float *cols = scratch((size_t)(chunk * kcols));
  if (!cols) return throw_msg(env, "kit_native.conv2dBackpropFilter: out of memory for the im2col buffer");
  for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
    const int64_t r1 = r0 + chunk < rows ? r0 + chunk : rows;
    im2col(&g, x, r0, r1, cols);
    kit_sgemm(1, 0, (int)kcols, (int)g.cout, (int)(r1 - r0), 1.0f, cols,
                (int)kcols, dy + r0 * g.cout, (int)g.cout, r0 == 0 ? 0.0f : 1.0f, df, (int)g.cout);
  }
  return NULL;
}

/*
 * biasAct(y, bias, rows, n, act, alpha): y[r, j] = act(y[r, j] + bias[j mod biasLen]) in place.
 * act: 0 linear, 1 relu, 2 relu6, 3 leakyrelu(alpha), 4 elu, 5 sigmoid. bias: empty (none), 1 value, or n values.
 */
static napi_value bias_act(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc != 6) return throw_msg(env, "kit_native.biasAct: expected 6 arguments");
  float *y, *bias;
  size_t ly, lb;
  if (!get_f32(env, argv[0], &y, &ly) || !get_f32(env, argv[1], &bias, &lb))
    return throw_msg(env, "kit_native.biasAct: y and bias must be Float32Arrays");
  int64_t rows, n, act;
  double alpha;
  if (!get_i64(env, argv[2], &rows) || !get_i64(env, argv[3], &n) || !get_i64(env, argv[4], &act) ||
      napi_get_value_double(env, argv[5], &alpha) != napi_ok)
    return throw_msg(env, "kit_native.biasAct: numeric arguments expected");
  if ((int64_t)ly < rows * n || (lb != 0 && lb != 1 && (int64_t)lb != n))
    return throw_msg(env, "kit_native.biasAct: y or bias has the wrong size");
  const float a = (float)alpha;
  if (act == 0 && lb == (size_t)n) {
    /* the common case (a linear layer's bias): one vectorised add per row, the same float additions */
    for (int64_t r = 0; r < rows; r++) {
      float *restrict row = y + r * n;
      const float *restrict bb = bias;
      for (int64_t j = 0; j < n; j++) row[j] = row[j] + bb[j];
    }
    return NULL;
  }
  for (int64_t r = 0; r < rows; r++) {
    float *row = y + r * n;
    for (int64_t j = 0; j < n; j++) {
      float v = row[j] + (lb == 0 ? 0.0f : bias[lb == 1 ? 0 : j]);
      if (act == 1) v = v > 0.0f ? v : 0.0f;
      else if (act == 2) v = v < 0.0f ? 0.0f : (v > 6.0f ? 6.0f : v);
      else if (act == 3) v = v < 0.0f ? a * v : v;
      else if (act == 4) v = v >= 0.0f ? v : expf(v) - 1.0f;
      else if (act == 5) v = 1.0f / (1.0f + expf(-v));
      row[j] = v;
    }
  }
  return NULL;
}


/* Coefficients of the float32 erf rational form (src/models/layers.ts ERF_P / ERF_Q, x² Horner, highest first): double
 * literals rounded to float, as tfjs rounds a JS number. */
static const float ERF_P[7] = {-2.72614225801306e-10, 2.77068142495902e-8, -2.10102402082508e-6, -5.69250639462346e-5,
                               -7.34990630326855e-4,  -2.95459980854025e-3, -1.60960333262415e-2};
static const float ERF_Q[5] = {-1.45660718464996e-5, -2.13374055278905e-4, -1.68282697438203e-3, -7.37332916720468e-3,
                               -1.42647390514189e-2};

/* Read k Float32Arrays of one length n from argv[0..k). */
static int same_len_f32(napi_env env, napi_value *argv, int k, float **arr, size_t *n) {
  size_t len;
  for (int i = 0; i < k; i++) {
    if (!get_f32(env, argv[i], &arr[i], &len)) return 0;
    if (i == 0) *n = len;
    else if (len != *n) return 0;
  }
  return 1;
}

/*
 * Element-wise loops compiled twice: for AVX2 and for the x86-64 baseline (SSE2); the first call picks one for
 * this CPU (KIT_NATIVE_NO_AVX2=1 forces the baseline). The same IEEE float operations in the same order either
 * way (no FMA: -ffp-contract=off; gcc inlines the one body into both), so the values do not depend on which one
 * runs: AVX2 only makes the vector loops wider. (gcc 12's target_clones cannot clone static functions.)
 */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
static int kit_has_avx2(void) {
  static int v = -1;
  if (v < 0) {
    const char *off = getenv("KIT_NATIVE_NO_AVX2"); /* "1": the baseline loops (tests compare the two) */
    __builtin_cpu_init();
    v = (off == NULL || strcmp(off, "1") != 0) && __builtin_cpu_supports("avx2") ? 1 : 0;
  }
  return v;
}
#define KIT_TWO_BUILDS(name, params, args)                                                         \
  __attribute__((target("avx2"))) static void name##_avx2 params { name##_body args; }               \
  static void name##_base params { name##_body args; }                                               \
  static void name params {                                                                          \
    if (kit_has_avx2()) name##_avx2 args;                                                            \
    else name##_base args;                                                                           \
  }
#else
#define KIT_TWO_BUILDS(name, params, args) \
  static void name params { name##_body args; }
#endif

#define KIT_BODY static inline __attribute__((always_inline)) void

/*
 * adamwInPlace(p, m, v, g, beta1, oneMinusBeta1, beta2, oneMinusBeta2, decayFactor, bc2Sqrt, eps, stepSize): the
 * step of `adamw` (its formula below) with p, m, v overwritten, each value read before it is written at the same
 * index; `adamw` copies p, m, v into its outputs and runs this loop on them. The caller guarantees four distinct buffers.
 */
KIT_BODY adamw_inplace_body(float *restrict p, float *restrict m, float *restrict v, const float *restrict g, size_t n, const float *c) {
  const float b1 = c[0], omb1 = c[1], b2 = c[2], omb2 = c[3], df = c[4], bc2 = c[5], eps = c[6], step = c[7];
  for (size_t i = 0; i < n; i++) {
    const float gi = g[i];
    const float mi = m[i] * b1 + gi * omb1;
    const float vi = v[i] * b2 + (gi * gi) * omb2;
    const float denom = sqrtf(vi) / bc2 + eps;
    p[i] = p[i] * df - (mi / denom) * step;
    m[i] = mi;
    v[i] = vi;
  }
}
KIT_TWO_BUILDS(adamw_inplace, (float *restrict p, float *restrict m, float *restrict v, const float *restrict g, size_t n, const float *c), (p, m, v, g, n, c))

/*
 * adamw(p, m, v, g, pOut, mOut, vOut, beta1, oneMinusBeta1, beta2, oneMinusBeta2, decayFactor, bc2Sqrt, eps, stepSize):
 * one AdamW step of one parameter, element by element, as float32 operations in exactly the order of the tfjs
 * formula in src/training/adamw.ts (each constant rounded to float32 first, as tfjs does with a JS scalar):
 *   m' = m·β1 + g·(1−β1);  v' = v·β2 + (g·g)·(1−β2);  p' = p·decayFactor − (m' / (sqrt(v')/bc2Sqrt + ε))·stepSize
 * (decayFactor = 1 − lr·wd, or 1: p·1 is exact). IEEE single operations, no contraction into FMA (build.sh
 * passes -ffp-contract=off), so the results are the bits of the tfjs ops on cpu or wasm. One thread.
 */
static napi_value adamw(napi_env env, napi_callback_info info) {
  size_t argc = 15;
  napi_value argv[15];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc != 15) return throw_msg(env, "kit_native.adamw: expected 7 Float32Arrays and 8 numbers");
  float *arr[7];
  size_t len[7];
  if (!get_f32s(env, argv, 7, arr, len)) return throw_msg(env, "kit_native.adamw: the first 7 arguments must be Float32Arrays");
  const size_t n = len[0];
  for (int i = 1; i < 7; i++)
    if (len[i] != n) return throw_msg(env, "kit_native.adamw: p, m, v, g and the outputs must have the same length");
  double c[8];
  for (int i = 0; i < 8; i++)
    if (napi_get_value_double(env, argv[7 + i], &c[i]) != napi_ok) return throw_msg(env, "kit_native.adamw: numeric arguments expected");
  float cf[8];
  for (int i = 0; i < 8; i++) cf[i] = (float)c[i];
  /* the outputs are fresh tensors (src/backends/native_kernels.ts allocates them): copy, then the in-place step */
  if (n > 0) {
    memcpy(arr[4], arr[0], n * sizeof(float));
    memcpy(arr[5], arr[1], n * sizeof(float));
    memcpy(arr[6], arr[2], n * sizeof(float));
  }
  adamw_inplace(arr[4], arr[5], arr[6], arr[3], n, cf);
  return NULL;
}

static napi_value adamw_in_place(napi_env env, napi_callback_info info) {
  size_t argc = 12;
  napi_value argv[12];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc != 12) return throw_msg(env, "kit_native.adamwInPlace: expected 4 Float32Arrays and 8 numbers");
  float *arr[4];
  size_t len[4];
  if (!get_f32s(env, argv, 4, arr, len)) return throw_msg(env, "kit_native.adamwInPlace: the first 4 arguments must be Float32Arrays");
  for (int i = 1; i < 4; i++)
    if (len[i] != len[0]) return throw_msg(env, "kit_native.adamwInPlace: p, m, v and g must have the same length");
  for (int i = 0; i < 4; i++)
    for (int j = i + 1; j < 4; j++)
      if (len[0] > 0 && arr[i] < arr[j] + len[0] && arr[j] < arr[i] + len[0])
        return throw_msg(env, "kit_native.adamwInPlace: p, m, v and g must not overlap");
  float c[8];
  for (int i = 0; i < 8; i++) {
    double d;
    if (napi_get_value_double(env, argv[4 + i], &d) != napi_ok) return throw_msg(env, "kit_native.adamwInPlace: numeric arguments expected");
    c[i] = (float)d;
  }
  adamw_inplace(arr[0], arr[1], arr[2], arr[3], len[0], c);
  return NULL;
}

/* GELU forward over n values (see geluForward). */
KIT_BODY gelu_fwd_body(const float *x, float *y, float *cdf, size_t n, const float sqrt2) {
  for (size_t i = 0; i < n; i++) {
    const float xi = x[i];
    float xc = xi / sqrt2;
    xc = xc < -4.0f ? -4.0f : xc; /* two selects (NaN passes through, as in tf.clipByValue): vectorisable */
    xc = xc > 4.0f ? 4.0f : xc;
    const float x2 = xc * xc;
    /* Horner in x², written out (a loop over the coefficients keeps gcc from vectorising the element loop) */
    float p = x2 * ERF_P[0] + ERF_P[1];
    p = p * x2 + ERF_P[2];
    p = p * x2 + ERF_P[3];
    p = p * x2 + ERF_P[4];
    p = p * x2 + ERF_P[5];
    p = p * x2 + ERF_P[6];
    float q = x2 * ERF_Q[0] + ERF_Q[1];
    q = q * x2 + ERF_Q[2];
    q = q * x2 + ERF_Q[3];
    q = q * x2 + ERF_Q[4];
    const float c = (1.0f + (xc * p) / q) * 0.5f;
    cdf[i] = c;
    y[i] = xi * c;
  }
}
KIT_TWO_BUILDS(gelu_fwd, (const float *x, float *y, float *cdf, size_t n, const float sqrt2), (x, y, cdf, n, sqrt2))

/* GELU gradient over n values (see geluBackward). */
KIT_BODY gelu_bwd_body(const float *dy, const float *x, const float *cdf, float *dx, size_t n, const float inv_sqrt_2pi) {
  for (size_t i = 0; i < n; i++) {
    const float xi = x[i];
    const float pdf = expf((xi * xi) * -0.5f) * inv_sqrt_2pi;
    dx[i] = dy[i] * (cdf[i] + xi * pdf);
  }
}
KIT_TWO_BUILDS(gelu_bwd, (const float *dy, const float *x, const float *cdf, float *dx, size_t n, const float inv_sqrt_2pi), (dy, x, cdf, dx, n, inv_sqrt_2pi))

/* Rows of a LayerNorm whose sums run interleaved (independent dependency chains). */
#define LN_ROWS 4

/* LayerNorm forward over rows × d (see layerNormForward). */
KIT_BODY ln_forward_body(const float *x, const float *g, const float *b, float *y, float *xh, float *rs, int64_t rows, int64_t d, double eps) {
  /*
   * LN_ROWS rows at a time: each row's sums are one chain of dependent double adds (latency-bound), so the rows'
   * chains are interleaved (every row still adds its values in index order: the same bits as one row at a time).
   */
  for (int64_t r0 = 0; r0 < rows; r0 += LN_ROWS) {
    const int64_t nr = rows - r0 < LN_ROWS ? rows - r0 : LN_ROWS;
    const float *xr[LN_ROWS];
    double s[LN_ROWS] = {0}, ss[LN_ROWS] = {0}, mu[LN_ROWS], rstd[LN_ROWS];
    for (int64_t q = 0; q < LN_ROWS; q++) xr[q] = x + (r0 + (q < nr ? q : 0)) * d; /* padding lanes repeat row r0 */
    for (int64_t j = 0; j < d; j++)
      for (int q = 0; q < LN_ROWS; q++) s[q] += xr[q][j];
    for (int q = 0; q < LN_ROWS; q++) mu[q] = s[q] / (double)d;
    for (int64_t j = 0; j < d; j++)
      for (int q = 0; q < LN_ROWS; q++) {
        const double c = (double)xr[q][j] - mu[q];
        ss[q] += c * c;
      }
    for (int q = 0; q < LN_ROWS; q++) rstd[q] = 1.0 / sqrt(ss[q] / (double)d + eps);
    for (int64_t q = 0; q < nr; q++) {
      const int64_t r = r0 + q;
      rs[r] = (float)rstd[q];
      float *xhr = xh + r * d, *yr = y + r * d;
      for (int64_t j = 0; j < d; j++) {
        const float h = (float)(((double)xr[q][j] - mu[q]) * rstd[q]);
        xhr[j] = h;
        yr[j] = h * g[j] + b[j];
      }
    }
  }
}
KIT_TWO_BUILDS(ln_forward, (const float *x, const float *g, const float *b, float *y, float *xh, float *rs, int64_t rows, int64_t d, double eps), (x, g, b, y, xh, rs, rows, d, eps))

/* LayerNorm gradient over rows × d (see layerNormBackward); acc [2d] gathers Σ dy·xhat and Σ dy. */
KIT_BODY ln_backward_body(const float *dy, const float *xh, const float *rs, const float *g, float *dx, double *acc, int64_t rows, int64_t d) {
  /*
   * LN_ROWS rows at a time, as in the forward pass: the rows' mean chains interleaved, then dγ/dβ and dx as
   * loops over j (vectorisable); dγ/dβ still add the rows in row order for every j (the bits of one row at a time).
   */
  for (int64_t r0 = 0; r0 < rows; r0 += LN_ROWS) {
    const int64_t nr = rows - r0 < LN_ROWS ? rows - r0 : LN_ROWS;
    const float *dyr[LN_ROWS], *xhr[LN_ROWS];
    for (int64_t q = 0; q < LN_ROWS; q++) {
      const int64_t r = r0 + (q < nr ? q : 0); /* padding lanes repeat row r0 and are not used */
      dyr[q] = dy + r * d;
      xhr[q] = xh + r * d;
    }
    double m1[LN_ROWS] = {0}, m2[LN_ROWS] = {0};
    for (int64_t j = 0; j < d; j++) {
      const double gj = (double)g[j];
      for (int q = 0; q < LN_ROWS; q++) {
        const double gh = (double)dyr[q][j] * gj;
        m1[q] += gh;
        m2[q] += gh * (double)xhr[q][j];
      }
    }
    for (int64_t q = 0; q < nr; q++) {
      const float *dq = dyr[q], *hq = xhr[q];
      for (int64_t j = 0; j < d; j++) {
        acc[j] += (double)dq[j] * (double)hq[j];
        acc[d + j] += (double)dq[j];
      }
    }
    for (int64_t q = 0; q < nr; q++) {
      const double mm1 = m1[q] / (double)d, mm2 = m2[q] / (double)d, rstd = (double)rs[r0 + q];
      const float *dq = dyr[q], *hq = xhr[q];
      float *dxr = dx + (r0 + q) * d;
      for (int64_t j = 0; j < d; j++) {
        const double gh = (double)dq[j] * (double)g[j];
        dxr[j] = (float)(rstd * (gh - mm1 - (double)hq[j] * mm2));
      }
    }
  }
}
KIT_TWO_BUILDS(ln_backward, (const float *dy, const float *xh, const float *rs, const float *g, float *dx, double *acc, int64_t rows, int64_t d), (dy, xh, rs, g, dx, acc, rows, d))

/*
 * geluForward(x, y, cdf): cdf = Φ(x) = (1 + erf(x/√2))·0.5, y = x·cdf, with erf the rational form of
 * src/models/layers.ts `erfRational` on x/√2 clamped to [−4, 4]: the same float32 operations in the same order as
 * the kit's tfjs composition (so the same bits as on cpu / wasm). One pass instead of ~28 kernel launches.
 */
static napi_value gelu_forward(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  float *a[3];
  size_t n;
  if (argc != 3 || !same_len_f32(env, argv, 3, a, &n)) return throw_msg(env, "kit_native.geluForward: x, y, cdf must be Float32Arrays of one length");
  const float *x = a[0];
  float *y = a[1], *cdf = a[2];
  const float sqrt2 = (float)sqrt(2.0); /* Math.SQRT2 in float32 */
  gelu_fwd(x, y, cdf, n, sqrt2);
  return NULL;
}

/* geluBackward(dy, x, cdf, dx): dx = dy·(cdf + x·φ(x)), φ(x) = exp((x·x)·(−0.5))·(1/√(2π)) (order of layers.ts). */
static napi_value gelu_backward(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  float *a[4];
  size_t n;
  if (argc != 4 || !same_len_f32(env, argv, 4, a, &n)) return throw_msg(env, "kit_native.geluBackward: dy, x, cdf, dx must be Float32Arrays of one length");
  const float *dy = a[0], *x = a[1], *cdf = a[2];
  float *dx = a[3];
  const float inv_sqrt_2pi = (float)(1.0 / sqrt(2.0 * 3.141592653589793)); /* 1 / Math.sqrt(2·Math.PI) in float32 */
  gelu_bwd(dy, x, cdf, dx, n, inv_sqrt_2pi);
  return NULL;
}

/*
 * layerNormForward(x, gamma, beta, y, xhat, rstd, rows, d, eps): per row of d values, μ and the biased σ² (sums in
 * double, in index order), rstd = 1/√(σ² + eps), xhat = (x − μ)·rstd, y = xhat·γ + β. One pass per row.
 */
static napi_value layer_norm_forward(napi_env env, napi_callback_info info) {
  size_t argc = 9;
  napi_value argv[9];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc != 9) return throw_msg(env, "kit_native.layerNormForward: expected 6 Float32Arrays and 3 numbers");
  float *a[6];
  size_t len[6];
  if (!get_f32s(env, argv, 6, a, len)) return throw_msg(env, "kit_native.layerNormForward: Float32Arrays expected");
  int64_t rows, d;
  double eps;
  if (!get_i64(env, argv[6], &rows) || !get_i64(env, argv[7], &d) || napi_get_value_double(env, argv[8], &eps) != napi_ok || rows < 0 || d < 1)
    return throw_msg(env, "kit_native.layerNormForward: rows, d, eps expected");
  const size_t n = (size_t)(rows * d);
  if (len[0] < n || len[1] < (size_t)d || len[2] < (size_t)d || len[3] < n || len[4] < n || len[5] < (size_t)rows)
    return throw_msg(env, "kit_native.layerNormForward: an operand is smaller than its shape");
  const float *x = a[0], *g = a[1], *b = a[2];
  float *y = a[3], *xh = a[4], *rs = a[5];
  ln_forward(x, g, b, y, xh, rs, rows, d, eps);
  return NULL;
}

/*
 * layerNormBackward(dy, xhat, rstd, gamma, dx, dgamma, dbeta, rows, d): with ĝ = dy·γ,
 * dx = rstd·(ĝ − mean(ĝ) − xhat·mean(ĝ·xhat)) per row; dγ = Σ_rows dy·xhat, dβ = Σ_rows dy (double sums, row order).
 */
static napi_value layer_norm_backward(napi_env env, napi_callback_info info) {
  size_t argc = 9;
  napi_value argv[9];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc != 9) return throw_msg(env, "kit_native.layerNormBackward: expected 7 Float32Arrays and 2 integers");
  float *a[7];
  size_t len[7];
  if (!get_f32s(env, argv, 7, a, len)) return throw_msg(env, "kit_native.layerNormBackward: Float32Arrays expected");
  int64_t rows, d;
  if (!get_i64(env, argv[7], &rows) || !get_i64(env, argv[8], &d) || rows < 0 || d < 1)
    return throw_msg(env, "kit_native.layerNormBackward: rows, d expected");
  const size_t n = (size_t)(rows * d);
  if (len[0] < n || len[1] < n || len[2] < (size_t)rows || len[3] < (size_t)d || len[4] < n || len[5] < (size_t)d || len[6] < (size_t)d)
    return throw_msg(env, "kit_native.layerNormBackward: an operand is smaller than its shape");
  const float *dy = a[0], *xh = a[1], *rs = a[2], *g = a[3];
  float *dx = a[4], *dg = a[5], *db = a[6];
  double *acc = (double *)calloc((size_t)(2 * d), sizeof(double));
  if (!acc) return throw_msg(env, "kit_native.layerNormBackward: out of memory");
  ln_backward(dy, xh, rs, g, dx, acc, rows, d);
  for (int64_t j = 0; j < d; j++) {
    dg[j] = (float)acc[j];
    db[j] = (float)acc[d + j];
  }
  free(acc);
  return NULL;
}

/*
 * batchNorm(x, mean, variance, offset, scale, y, rows, c, eps): inference batch norm over the last axis (NHWC):
 * y[r, j] = (x[r, j] − mean[j])·k[j] + offset[j], k[j] = scale[j] / √(variance[j] + eps) (k in double, rounded once).
 * mean / variance / offset / scale: c values, 1 value (broadcast), or empty (offset 0, scale 1).
 */
static napi_value batch_norm(napi_env env, napi_callback_info info) {
  size_t argc = 9;
  napi_value argv[9];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc != 9) return throw_msg(env, "kit_native.batchNorm: expected 6 Float32Arrays and 3 numbers");
  float *a[6];
  size_t len[6];
  if (!get_f32s(env, argv, 6, a, len)) return throw_msg(env, "kit_native.batchNorm: Float32Arrays expected");
  int64_t rows, c;
  double eps;
  if (!get_i64(env, argv[6], &rows) || !get_i64(env, argv[7], &c) || napi_get_value_double(env, argv[8], &eps) != napi_ok || rows < 0 || c < 1)
    return throw_msg(env, "kit_native.batchNorm: rows, c, eps expected");
  if (len[0] < (size_t)(rows * c) || len[5] < (size_t)(rows * c)) return throw_msg(env, "kit_native.batchNorm: x or y is smaller than its shape");
  for (int i = 1; i < 5; i++)
    if (len[i] != (size_t)c && len[i] != 1 && !(len[i] == 0 && i >= 3)) return throw_msg(env, "kit_native.batchNorm: mean/variance/offset/scale must have c or 1 values");
  float *k = (float *)malloc(sizeof(float) * (size_t)c * 3);
  if (!k) return throw_msg(env, "kit_native.batchNorm: out of memory");
  float *mu = k + c, *off = k + 2 * c;
  for (int64_t j = 0; j < c; j++) {
    const double sc = len[4] == 0 ? 1.0 : (double)a[4][len[4] == 1 ? 0 : j];
    const double var = (double)a[2][len[2] == 1 ? 0 : j];
    k[j] = (float)(sc / sqrt(var + eps));
    mu[j] = a[1][len[1] == 1 ? 0 : j];
    off[j] = len[3] == 0 ? 0.0f : a[3][len[3] == 1 ? 0 : j];
  }
  const float *x = a[0];
  float *y = a[5];
  for (int64_t r = 0; r < rows; r++) {
    const float *restrict xr = x + r * c;
    float *restrict yr = y + r * c;
    for (int64_t j = 0; j < c; j++) yr[j] = (xr[j] - mu[j]) * k[j] + off[j];
  }
  free(k);
  return NULL;
}

/*
 * expf for the attention softmax, branch-free so gcc vectorises the loop (glibc's expf is a scalar call: ~8 ns per
 * value here, the softmax's whole cost). Cephes' single-precision exp: round-to-nearest n = x·log2(e) by the
 * 1.5·2²³ trick, Cody–Waite reduction g = x − n·ln2, degree-6 polynomial, 2ⁿ from the exponent bits. Relative
 * error ≤ 2 ulp on [−87, 88]; below −87 (e.g. a −∞ mask entry) the result is 0, NaN stays NaN. The values are not
 * glibc's expf bits (nor wasm's): the softmax agrees with tfjs's within float32 rounding, as any other sum order.
 */
static inline float kit_expf(float x) {
  const float xc = x > 88.0f ? 88.0f : (x < -87.0f ? -87.0f : x);
  const float t = xc * 1.44269504088896341f + 12582912.0f;
  const float nf = t - 12582912.0f;
  const float g = (xc - nf * 0.693359375f) - nf * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * g + 1.3981999507e-3f;
  p = p * g + 8.3334519073e-3f;
  p = p * g + 4.1665795894e-2f;
  p = p * g + 1.6666665459e-1f;
  p = p * g + 5.0000001201e-1f;
  const float r = (p * (g * g) + g) + 1.0f;
  const int32_t bits = ((int32_t)nf + 127) << 23;
  float s;
  memcpy(&s, &bits, sizeof s);
  const float y = r * s;
  return x < -87.0f ? 0.0f : (x != x ? x : y);
}

/* Rows interleaved in the softmax chains (max, Σ, Σ dP∘P), as in LayerNorm: each row's chain is latency-bound. */
#define SM_ROWS 8

/*
 * One head's scores p [Lq, Lk] in place: s = p·scale (+ mask [Lq, Lk]), P = softmax over each row, max subtracted.
 * The scale/mask, exp and division loops run over j (vectorisable); SM_ROWS rows' max and Σ chains are interleaved,
 * every row still adding its values in index order (the bits of one row at a time). The row max is exact in any
 * order (a NaN score is skipped by the comparison in every order, and ±0 give the same exp(s − max)).
 */
KIT_BODY softmax_rows_body(float *p, const float *mask, int64_t Lq, int64_t Lk, float sc) {
  for (int64_t i0 = 0; i0 < Lq; i0 += SM_ROWS) {
    const int64_t nr = Lq - i0 < SM_ROWS ? Lq - i0 : SM_ROWS;
    float *row[SM_ROWS];
    float mx[SM_ROWS], sum[SM_ROWS];
    for (int q = 0; q < SM_ROWS; q++) {
      row[q] = p + (i0 + (q < nr ? q : 0)) * Lk; /* padding lanes repeat row i0 and are not written */
      mx[q] = -INFINITY;
      sum[q] = 0.0f;
    }
    for (int64_t q = 0; q < nr; q++) {
      float *r = row[q];
      if (mask) {
        const float *mr = mask + (i0 + q) * Lk;
        for (int64_t j = 0; j < Lk; j++) r[j] = r[j] * sc + mr[j];
      } else {
        for (int64_t j = 0; j < Lk; j++) r[j] = r[j] * sc;
      }
    }
    for (int64_t j = 0; j < Lk; j++)
      for (int q = 0; q < SM_ROWS; q++) {
        const float v = row[q][j];
        mx[q] = v > mx[q] ? v : mx[q];
      }
    for (int64_t q = 0; q < nr; q++) {
      float *r = row[q];
      const float m = mx[q];
      for (int64_t j = 0; j < Lk; j++) r[j] = kit_expf(r[j] - m);
    }
    for (int64_t j = 0; j < Lk; j++)
      for (int q = 0; q < SM_ROWS; q++) sum[q] += row[q][j];
    for (int64_t q = 0; q < nr; q++) {
      float *r = row[q];
      const float t = sum[q];
      for (int64_t j = 0; j < Lk; j++) r[j] = r[j] / t;
    }
  }
}
KIT_TWO_BUILDS(softmax_rows, (float *p, const float *mask, int64_t Lq, int64_t Lk, float sc), (p, mask, Lq, Lk, sc))

/*
 * One head's softmax gradient in place: dz [Lq, Lk] holds dA = dO·Vᵀ on entry; g = dA∘drop (+ dprobs), then
 * dZ = P∘(g − Σ_j g∘P) per row. drop / dprobs may be NULL. SM_ROWS rows' Σ chains interleaved (index order per row).
 */
KIT_BODY softmax_grad_rows_body(float *dz, const float *p, const float *drop, const float *dprobs, int64_t Lq, int64_t Lk) {
  const int64_t n = Lq * Lk;
  if (drop)
    for (int64_t i = 0; i < n; i++) dz[i] = dz[i] * drop[i];
  if (dprobs)
    for (int64_t i = 0; i < n; i++) dz[i] = dz[i] + dprobs[i];
  for (int64_t i0 = 0; i0 < Lq; i0 += SM_ROWS) {
    const int64_t nr = Lq - i0 < SM_ROWS ? Lq - i0 : SM_ROWS;
    const float *pr[SM_ROWS], *gr[SM_ROWS];
    float dot[SM_ROWS];
    for (int q = 0; q < SM_ROWS; q++) {
      const int64_t i = i0 + (q < nr ? q : 0); /* padding lanes repeat row i0 and are not written */
      pr[q] = p + i * Lk;
      gr[q] = dz + i * Lk;
      dot[q] = 0.0f;
    }
    for (int64_t j = 0; j < Lk; j++)
      for (int q = 0; q < SM_ROWS; q++) dot[q] += gr[q][j] * pr[q][j];
    for (int64_t q = 0; q < nr; q++) {
      float *r = dz + (i0 + q) * Lk;
      const float *pq = pr[q], d = dot[q];
      for (int64_t j = 0; j < Lk; j++) r[j] = (r[j] - d) * pq[j];
    }
  }
}
KIT_TWO_BUILDS(softmax_grad_rows, (float *dz, const float *p, const float *drop, const float *dprobs, int64_t Lq, int64_t Lk), (dz, p, drop, dprobs, Lq, Lk))

/*
 * Scaled dot-product attention, heads as contiguous slices of the width (src/models/layers.ts
 * `attentionWithProbabilities`), one launch for all B·H heads, no transposes: head h of q [B, Lq, D] is the
 * strided matrix q + b·Lq·D + h·dh with row stride D, which the sgemm reads directly (lda = D).
 *
 * attentionForward(q, k, v, mask, drop, out, probs, B, Lq, Lk, H, scale):
 *   S = (Q·Kᵀ)·scale (+ mask [Lq, Lk]); P = softmax_rows(S) (max subtracted, as tfjs); A = P∘drop (or P);
 *   out[b, :, h·dh…] = A·V. probs [B, H, Lq, Lk] = P. mask / drop may be empty (none).
 * Every head on the calling thread, heads in order, one thread for the small products: the values do not
 * depend on the thread count.
 */
static napi_value attention_forward(napi_env env, napi_callback_info info) {
  size_t argc = 12;
  napi_value argv[12];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc != 12) return throw_msg(env, "kit_native.attentionForward: expected 7 Float32Arrays and 5 numbers");
  float *a[7];
  size_t len[7];
  if (!get_f32s(env, argv, 7, a, len)) return throw_msg(env, "kit_native.attentionForward: Float32Arrays expected");
  int64_t v[4];
  double scale;
  if (!get_ints(env, argv, 7, 4, v) || napi_get_value_double(env, argv[11], &scale) != napi_ok)
    return throw_msg(env, "kit_native.attentionForward: B, Lq, Lk, H, scale expected");
  const int64_t B = v[0], Lq = v[1], Lk = v[2], H = v[3];
  if (B < 0 || Lq < 1 || Lk < 1 || H < 1) return throw_msg(env, "kit_native.attentionForward: bad sizes");
  const int64_t D = (int64_t)len[0] / (B * Lq > 0 ? B * Lq : 1), dh = D / H;
  const int has_mask = len[3] > 0, has_drop = len[4] > 0;
  if (D * B * Lq != (int64_t)len[0] || dh * H != D || (int64_t)len[1] != B * Lk * D || (int64_t)len[2] != B * Lk * D ||
      (int64_t)len[5] != B * Lq * D || (int64_t)len[6] != B * H * Lq * Lk || (has_mask && (int64_t)len[3] != Lq * Lk) ||
      (has_drop && (int64_t)len[4] != B * H * Lq * Lk))
    return throw_msg(env, "kit_native.attentionForward: an operand does not match [B, L, D] / [B, H, Lq, Lk]");
  const float *q = a[0], *k = a[1], *vv = a[2], *mask = a[3], *drop = a[4];
  float *out = a[5], *probs = a[6];
  const float sc = (float)scale;
  float *tmp = has_drop ? (float *)malloc(sizeof(float) * (size_t)(Lq * Lk)) : NULL;
  if (has_drop && !tmp) return throw_msg(env, "kit_native.attentionForward: out of memory");
  threads_for(0);
  for (int64_t b = 0; b < B; b++) {
    for (int64_t h = 0; h < H; h++) {
      const float *qh = q + b * Lq * D + h * dh, *kh = k + b * Lk * D + h * dh, *vh = vv + b * Lk * D + h * dh;
      float *p = probs + (b * H + h) * Lq * Lk;
      kit_sgemm(0, 1, (int)Lq, (int)Lk, (int)dh, 1.0f, qh, (int)D, kh, (int)D, 0.0f, p,
                  (int)Lk);
      softmax_rows(p, has_mask ? mask : NULL, Lq, Lk, sc);
      const float *att = p;
      if (has_drop) {
        const float *dm = drop + (b * H + h) * Lq * Lk;
        for (int64_t i = 0; i < Lq * Lk; i++) tmp[i] = p[i] * dm[i];
        att = tmp;
      }
      kit_sgemm(0, 0, (int)Lq, (int)dh, (int)Lk, 1.0f, att, (int)Lk, vh, (int)D, 0.0f,
                  out + b * Lq * D + h * dh, (int)D);
    }
  }
  free(tmp);
  return NULL;
}

/*
 * attentionBackward(dout, dprobs, q, k, v, probs, drop, dq, dk, dv, dmask, B, Lq, Lk, H, scale): the gradient of
 * attentionForward. Per head: dA = dO·Vᵀ; dP = dA∘drop + dprobs; dZ = P∘(dP − Σ_j dP∘P) (softmax); dS = dZ·scale;
 * dQ = dS·K, dK = dSᵀ·Q, dV = Aᵀ·dO (A = P∘drop); dmask [Lq, Lk] = Σ_{b,h} dZ (heads in order). dprobs, drop and
 * dmask may be empty (none). dq / dk / dv / dmask are overwritten.
 */
static napi_value attention_backward(napi_env env, napi_callback_info info) {
  size_t argc = 16;
  napi_value argv[16];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc != 16) return throw_msg(env, "kit_native.attentionBackward: expected 11 Float32Arrays and 5 numbers");
  float *a[11];
  size_t len[11];
  if (!get_f32s(env, argv, 11, a, len)) return throw_msg(env, "kit_native.attentionBackward: Float32Arrays expected");
  int64_t v[4];
  double scale;
  if (!get_ints(env, argv, 11, 4, v) || napi_get_value_double(env, argv[15], &scale) != napi_ok)
    return throw_msg(env, "kit_native.attentionBackward: B, Lq, Lk, H, scale expected");
  const int64_t B = v[0], Lq = v[1], Lk = v[2], H = v[3];
  if (B < 0 || Lq < 1 || Lk < 1 || H < 1) return throw_msg(env, "kit_native.attentionBackward: bad sizes");
  const int64_t D = (int64_t)len[2] / (B * Lq > 0 ? B * Lq : 1), dh = D / H, PL = B * H * Lq * Lk;
  const int has_dp = len[1] > 0, has_drop = len[6] > 0, has_dm = len[10] > 0;
  if (D * B * Lq != (int64_t)len[2] || dh * H != D || (int64_t)len[0] != B * Lq * D || (has_dp && (int64_t)len[1] != PL) ||
      (int64_t)len[3] != B * Lk * D || (int64_t)len[4] != B * Lk * D || (int64_t)len[5] != PL ||
      (has_drop && (int64_t)len[6] != PL) || (int64_t)len[7] != B * Lq * D || (int64_t)len[8] != B * Lk * D ||
      (int64_t)len[9] != B * Lk * D || (has_dm && (int64_t)len[10] != Lq * Lk))
    return throw_msg(env, "kit_native.attentionBackward: an operand does not match [B, L, D] / [B, H, Lq, Lk]");
  const float *dout = a[0], *dprobs = a[1], *q = a[2], *k = a[3], *vv = a[4], *probs = a[5], *drop = a[6];
  float *dq = a[7], *dk = a[8], *dv = a[9], *dmask = a[10];
  const float sc = (float)scale;
  float *att = (float *)malloc(sizeof(float) * (size_t)(2 * Lq * Lk));
  if (!att) return throw_msg(env, "kit_native.attentionBackward: out of memory");
  float *dz = att + Lq * Lk;
  if (has_dm) memset(dmask, 0, sizeof(float) * (size_t)(Lq * Lk));
  threads_for(0);
  for (int64_t b = 0; b < B; b++) {
    for (int64_t h = 0; h < H; h++) {
      const int64_t o = b * Lq * D + h * dh, ok = b * Lk * D + h * dh, op = (b * H + h) * Lq * Lk;
      const float *p = probs + op;
      const float *A = p;
      if (has_drop) {
        for (int64_t i = 0; i < Lq * Lk; i++) att[i] = p[i] * drop[op + i];
        A = att;
      }
      /* dV = Aᵀ·dO  [Lk, dh] */
      kit_sgemm(1, 0, (int)Lk, (int)dh, (int)Lq, 1.0f, A, (int)Lk, dout + o, (int)D, 0.0f,
                  dv + ok, (int)D);
      /* dA = dO·Vᵀ  [Lq, Lk] into dz */
      kit_sgemm(0, 1, (int)Lq, (int)Lk, (int)dh, 1.0f, dout + o, (int)D, vv + ok, (int)D,
                  0.0f, dz, (int)Lk);
      softmax_grad_rows(dz, p, has_drop ? drop + op : NULL, has_dp ? dprobs + op : NULL, Lq, Lk);
      if (has_dm)
        for (int64_t i = 0; i < Lq * Lk; i++) dmask[i] += dz[i];
      for (int64_t i = 0; i < Lq * Lk; i++) dz[i] = dz[i] * sc;
      /* dQ = dS·K  [Lq, dh];  dK = dSᵀ·Q  [Lk, dh] */
      kit_sgemm(0, 0, (int)Lq, (int)dh, (int)Lk, 1.0f, dz, (int)Lk, k + ok, (int)D, 0.0f,
                  dq + o, (int)D);
      kit_sgemm(1, 0, (int)Lk, (int)dh, (int)Lq, 1.0f, dz, (int)Lk, q + o, (int)D, 0.0f,
                  dk + ok, (int)D);
    }
  }
  free(att);
  return NULL;
}

/*
 * Element-wise a op b (op 0 add, 1 sub, 2 mul, 3 div) over [outer, inner], each operand either whole
 * ([outer, inner]) or repeated over the outer axis ([inner]: a bias, a per-channel scale).
 * One IEEE float operation per value: the bits of tfjs-wasm's (and any backend's) binary kernels.
 */
#define BIN_LOOP(expr)                                                                                  \
  do {                                                                                                  \
    for (int64_t r = 0; r < outer; r++) {                                                               \
      const float *restrict ar = a + (ra ? 0 : r * inner), *restrict br = b + (rb ? 0 : r * inner);     \
      float *restrict orow = o + r * inner;                                                             \
      for (int64_t i = 0; i < inner; i++) {                                                             \
        const float x = ar[i], y = br[i];                                                               \
        orow[i] = expr;                                                                                 \
      }                                                                                                 \
    }                                                                                                   \
  } while (0)

KIT_BODY binary_body(const float *a, const float *b, float *o, int op, int64_t outer, int64_t inner, int ra, int rb) {
  switch (op) {
    case 0: BIN_LOOP(x + y); break;
    case 1: BIN_LOOP(x - y); break;
    case 2: BIN_LOOP(x * y); break;
    default: BIN_LOOP(x / y); break;
  }
}
KIT_TWO_BUILDS(binary, (const float *a, const float *b, float *o, int op, int64_t outer, int64_t inner, int ra, int rb), (a, b, o, op, outer, inner, ra, rb))

/* binaryOp(a, b, out, op, outer, inner): out [outer·inner]; a and b each of outer·inner or inner values. */
static napi_value binary_op(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  float *a, *b, *o;
  size_t la, lb, lo;
  int64_t v[3];
  if (argc != 6 || !get_f32(env, argv[0], &a, &la) || !get_f32(env, argv[1], &b, &lb) || !get_f32(env, argv[2], &o, &lo) ||
      !get_ints(env, argv, 3, 3, v))
    return throw_msg(env, "kit_native.binaryOp: expected (Float32Array a, Float32Array b, Float32Array out, op, outer, inner)");
  const int64_t op = v[0], outer = v[1], inner = v[2], n = outer * inner;
  if (op < 0 || op > 3 || outer < 0 || inner < 1 || (int64_t)lo != n || ((int64_t)la != n && (int64_t)la != inner) ||
      ((int64_t)lb != n && (int64_t)lb != inner))
    return throw_msg(env, "kit_native.binaryOp: op in 0..3 and operands of outer·inner or inner values expected");
  const int ra = (int64_t)la != n, rb = (int64_t)lb != n;
  binary(a, b, o, (int)op, outer, inner, ra, rb);
  return NULL;
}

/*
 * sumAxes(x, out, outer, red, inner): out[o, j] = Σ_r x[o, r, j] over x viewed as [outer, red, inner], in float,
 * r ascending from 0: the bits of tfjs-wasm's Sum, which transposes the reduced axes innermost and adds them one by
 * one in that order. Here the inner axis is the vector one (no transpose, no reassociation).
 */
static napi_value sum_axes(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  float *x, *out;
  size_t lx, lo;
  int64_t v[3];
  if (argc != 5 || !get_f32(env, argv[0], &x, &lx) || !get_f32(env, argv[1], &out, &lo) || !get_ints(env, argv, 2, 3, v))
    return throw_msg(env, "kit_native.sumAxes: expected (Float32Array x, Float32Array out, outer, red, inner)");
  const int64_t outer = v[0], red = v[1], inner = v[2];
  if (outer < 0 || red < 0 || inner < 0 || (int64_t)lx < outer * red * inner || (int64_t)lo < outer * inner)
    return throw_msg(env, "kit_native.sumAxes: an operand is smaller than its shape");
  for (int64_t o = 0; o < outer; o++) {
    float *acc = out + o * inner;
    for (int64_t j = 0; j < inner; j++) acc[j] = 0.0f;
    const float *xo = x + o * red * inner;
    for (int64_t r = 0; r < red; r++) {
      const float *row = xo + r * inner;
      for (int64_t j = 0; j < inner; j++) acc[j] += row[j];
    }
  }
  return NULL;
}

/*
 * avgPoolGrad(dy, dx, n, h, w, c, oh, ow, sh, sw, fh, fw): dx (overwritten) = Σ over the unpadded windows of
 * dy·(1/(fh·fw)), in the order and the arithmetic of the kit's JS kernel (src/backends/wasm_kernels.ts
 * avgPoolGradScatter: the product and the sum in double, each sum rounded to float on store): the same bits.
 */
static napi_value avg_pool_grad(napi_env env, napi_callback_info info) {
  size_t argc = 12;
  napi_value argv[12];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  float *dy, *dx;
  size_t ldy, ldx;
  int64_t v[10];
  if (argc != 12 || !get_f32(env, argv[0], &dy, &ldy) || !get_f32(env, argv[1], &dx, &ldx) || !get_ints(env, argv, 2, 10, v))
    return throw_msg(env, "kit_native.avgPoolGrad: expected (Float32Array dy, Float32Array dx, n, h, w, c, oh, ow, sh, sw, fh, fw)");
  const int64_t n = v[0], h = v[1], w = v[2], c = v[3], oh = v[4], ow = v[5], sh = v[6], sw = v[7], fh = v[8], fw = v[9];
  if (n < 0 || h < 0 || w < 0 || c < 0 || oh < 0 || ow < 0 || sh < 1 || sw < 1 || fh < 1 || fw < 1)
    return throw_msg(env, "kit_native.avgPoolGrad: bad geometry");
  if ((int64_t)ldy < n * oh * ow * c || (int64_t)ldx < n * h * w * c || (oh > 0 && (oh - 1) * sh + fh > h) ||
      (ow > 0 && (ow - 1) * sw + fw > w))
    return throw_msg(env, "kit_native.avgPoolGrad: an operand is smaller than its shape, or a window leaves the input");
  memset(dx, 0, sizeof(float) * (size_t)(n * h * w * c));
  const double mult = 1.0 / (double)(fh * fw);
  for (int64_t b = 0; b < n; b++) {
    for (int64_t r = 0; r < oh; r++) {
      const float *dyRow = dy + (b * oh + r) * ow * c;
      for (int64_t i = r * sh; i < r * sh + fh; i++) {
        float *outRow = dx + (b * h + i) * w * c;
        for (int64_t q = 0; q < ow; q++) {
          const float *d = dyRow + q * c;
          for (int64_t j = q * sw; j < q * sw + fw; j++) {
            float *o = outRow + j * c;
            for (int64_t ch = 0; ch < c; ch++) o[ch] = (float)((double)o[ch] + (double)d[ch] * mult);
          }
        }
      }
    }
  }
  return NULL;
}

/*
 * sumSquares(x): Σ x² in double (four interleaved partial sums, combined in a fixed order: deterministic), for the
 * global gradient norm (src/training/adamw.ts `clipByGlobalNorm`, one KitGlobalNorm launch for every gradient).
 */
static napi_value sum_squares(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  float *x;
  size_t n;
  if (argc != 1 || !get_f32(env, argv[0], &x, &n)) return throw_msg(env, "kit_native.sumSquares: a Float32Array expected");
  double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += (double)x[i] * (double)x[i];
    s1 += (double)x[i + 1] * (double)x[i + 1];
    s2 += (double)x[i + 2] * (double)x[i + 2];
    s3 += (double)x[i + 3] * (double)x[i + 3];
  }
  for (; i < n; i++) s0 += (double)x[i] * (double)x[i];
  napi_value out;
  CHECK(napi_create_double(env, (s0 + s1) + (s2 + s3), &out));
  return out;
}

/*
 * linearBackward(dy, x, w, dx, dw, db, n, in, out): the gradient of y = x·w + b for x [n, in], w [in, out]:
 *   dx = dy·wᵀ [n, in], dw = xᵀ·dy [in, out], db = 1ᵀ·dy [out] (db empty = no bias). Each product is the kit_sgemm
 * call (same operands, leading dimensions and thread rule) that sgemmBatched makes for the three tfjs matMuls of
 * src/models/layers.ts `linear` (db as [1, n]·[n, out] with a ones row), so the values are the bits of that
 * composition on the native path; one launch instead of three products, a ones upload and the reshapes.
 */
static napi_value linear_backward(napi_env env, napi_callback_info info) {
  size_t argc = 9;
  napi_value argv[9];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc != 9) return throw_msg(env, "kit_native.linearBackward: expected 6 Float32Arrays and 3 integers");
  float *a[6];
  size_t len[6];
  if (!get_f32s(env, argv, 6, a, len)) return throw_msg(env, "kit_native.linearBackward: Float32Arrays expected");
  int64_t v[3];
  if (!get_ints(env, argv, 6, 3, v) || v[0] < 1 || v[1] < 1 || v[2] < 1) return throw_msg(env, "kit_native.linearBackward: n, in, out expected");
  const int64_t n = v[0], fin = v[1], fout = v[2];
  const int has_b = len[5] > 0;
  if ((int64_t)len[0] != n * fout || (int64_t)len[1] != n * fin || (int64_t)len[2] != fin * fout || (int64_t)len[3] != n * fin ||
      (int64_t)len[4] != fin * fout || (has_b && (int64_t)len[5] != fout))
    return throw_msg(env, "kit_native.linearBackward: an operand does not match [n, in] / [in, out]");
  const float *dy = a[0], *x = a[1], *w = a[2];
  float *dx = a[3], *dw = a[4], *db = a[5];
  /* dx = dy·wᵀ: m = n, n = in, k = out */
  threads_for(n * fin * fout);
  kit_sgemm(0, 1, (int)n, (int)fin, (int)fout, 1.0f, dy, (int)fout, w, (int)fout, 0.0f, dx, (int)fin);
  /* dw = xᵀ·dy: m = in, n = out, k = n */
  kit_sgemm(1, 0, (int)fin, (int)fout, (int)n, 1.0f, x, (int)fin, dy, (int)fout, 0.0f, dw, (int)fout);
  if (has_b) {
    float *ones = (float *)malloc(sizeof(float) * (size_t)n);
    if (!ones) return throw_msg(env, "kit_native.linearBackward: out of memory");
    for (int64_t i = 0; i < n; i++) ones[i] = 1.0f;
    threads_for(n * fout);
    kit_sgemm(0, 0, 1, (int)fout, (int)n, 1.0f, ones, (int)n, dy, (int)fout, 0.0f, db, (int)fout);
    free(ones);
  }
  return NULL;
}

/*
 * dropoutMask(out, rate, seed): the inverted-dropout mask of src/models/layers.ts `dropoutMask`, bit for bit:
 * mulberry32 from seed (uint32 arithmetic = JS's |0, >>>, Math.imul), u = draw·2⁻³² in double, element kept (value
 * (float)(1/(1−rate))) iff u ≥ rate, else 0. Written straight into a heap tensor: no JS loop, no upload.
 * mulberry32's state after i + 1 draws is seed + (i + 1)·0x6d2b79f5 (mod 2³²), so every value is computed from its
 * index (no serial chain: the loop vectorises). u = t·2⁻³² is exact in double, so "u ≥ rate" is the integer test
 * t ≥ ⌈rate·2³²⌉.
 */
KIT_BODY dropout_fill_body(float *out, size_t n, double rate, uint32_t seed) {
  const float scale = (float)(1.0 / (1.0 - rate));
  const double thr = ceil(rate * 4294967296.0); /* in [0, 2³²] */
  if (thr > 4294967295.0) {
    for (size_t i = 0; i < n; i++) out[i] = 0.0f;
    return;
  }
  const uint32_t th = (uint32_t)thr;
  for (size_t i = 0; i < n; i++) {
    const uint32_t s = seed + (uint32_t)(i + 1) * 0x6d2b79f5u;
    uint32_t t = (s ^ (s >> 15)) * (1u | s);
    t = (t + (t ^ (t >> 7)) * (61u | t)) ^ t;
    out[i] = (t ^ (t >> 14)) >= th ? scale : 0.0f;
  }
}
KIT_TWO_BUILDS(dropout_fill, (float *out, size_t n, double rate, uint32_t seed), (out, n, rate, seed))

static napi_value dropout_mask(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  float *out;
  size_t n;
  double rate, seed;
  if (argc != 3 || !get_f32(env, argv[0], &out, &n) || napi_get_value_double(env, argv[1], &rate) != napi_ok ||
      napi_get_value_double(env, argv[2], &seed) != napi_ok || !(rate >= 0.0 && rate < 1.0))
    return throw_msg(env, "kit_native.dropoutMask: out (Float32Array), rate in [0, 1), seed expected");
  dropout_fill(out, n, rate, (uint32_t)(int32_t)(int64_t)seed /* seed | 0 */);
  return NULL;
}

static napi_value set_threads(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int64_t t;
  if (argc != 1 || !get_i64(env, argv[0], &t) || t < 1) return throw_msg(env, "kit_native.setThreads: a positive integer expected");
  blas_threads = (int)t;
  set_gemm_threads((int)t);
  return NULL;
}

/* setGemm("onednn" | "openblas"): the library the products run on ("onednn" only in a KIT_DNNL build). */
static napi_value set_gemm(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char name[16];
  size_t len = 0;
  if (argc != 1 || napi_get_value_string_utf8(env, argv[0], name, sizeof name, &len) != napi_ok)
    return throw_msg(env, "kit_native.setGemm: \"onednn\" or \"openblas\" expected");
  int want;
  if (strcmp(name, "openblas") == 0) want = 0;
  else if (strcmp(name, "onednn") == 0) want = 1;
  else return throw_msg(env, "kit_native.setGemm: \"onednn\" or \"openblas\" expected");
#ifndef KIT_DNNL
  if (want) return throw_msg(env, "kit_native.setGemm: this build has no oneDNN (install libdnnl-dev and rebuild: bash native/build.sh --force)");
#endif
  use_dnnl = want;
  set_gemm_threads(gemm_threads);
  return NULL;
}

/* gemmLibrary(): "onednn" or "openblas", the library the products run on now. */
static napi_value gemm_library(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value out;
  CHECK(napi_create_string_utf8(env, use_dnnl ? "onednn" : "openblas", NAPI_AUTO_LENGTH, &out));
  return out;
}

/* gemmBuilds(): the libraries this build can use, e.g. "onednn 2.6.3,openblas". */
static napi_value gemm_builds(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value out;
  char buf[64];
#ifdef KIT_DNNL
  const dnnl_version_t *v = dnnl_version();
  snprintf(buf, sizeof buf, "onednn %d.%d.%d,openblas", v->major, v->minor, v->patch);
#else
  snprintf(buf, sizeof buf, "openblas");
#endif
  CHECK(napi_create_string_utf8(env, buf, NAPI_AUTO_LENGTH, &out));
  return out;
}

/* setSmallGemm(macs): products of at most macs multiply-adds run on one thread (0 = always all threads). */
static napi_value set_small_gemm(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int64_t v;
  if (argc != 1 || !get_i64(env, argv[0], &v) || v < 0) return throw_msg(env, "kit_native.setSmallGemm: a non-negative integer expected");
  small_macs = v;
  return NULL;
}

static napi_value get_threads(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value out;
  CHECK(napi_create_int32(env, blas_threads, &out));
  return out;
}

/* simdLevel(): which build of the element-wise loops runs here, "avx2" or "baseline". */
static napi_value simd_level(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value out;
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
  const char *level = kit_has_avx2() ? "avx2" : "baseline";
#else
  const char *level = "baseline";
#endif
  CHECK(napi_create_string_utf8(env, level, NAPI_AUTO_LENGTH, &out));
  return out;
}

static napi_value get_config(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value out;
  const char *cfg = openblas_get_config();
  const char *core = openblas_get_corename();
  char buf[512];
  snprintf(buf, sizeof buf, "%s; core %s", cfg ? cfg : "?", core ? core : "?");
  CHECK(napi_create_string_utf8(env, buf, NAPI_AUTO_LENGTH, &out));
  return out;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"sgemmBatched", NULL, sgemm_batched, NULL, NULL, NULL, napi_enumerable, NULL},
      {"setGemm", NULL, set_gemm, NULL, NULL, NULL, napi_enumerable, NULL},
      {"gemmLibrary", NULL, gemm_library, NULL, NULL, NULL, napi_enumerable, NULL},
      {"gemmBuilds", NULL, gemm_builds, NULL, NULL, NULL, napi_enumerable, NULL},
      {"conv2d", NULL, conv2d, NULL, NULL, NULL, napi_enumerable, NULL},
      {"conv2dBackpropInput", NULL, conv2d_backprop_input, NULL, NULL, NULL, napi_enumerable, NULL},
      {"conv2dBackpropFilter", NULL, conv2d_backprop_filter, NULL, NULL, NULL, napi_enumerable, NULL},
      {"biasAct", NULL, bias_act, NULL, NULL, NULL, napi_enumerable, NULL},
      {"adamw", NULL, adamw, NULL, NULL, NULL, napi_enumerable, NULL},
      {"adamwInPlace", NULL, adamw_in_place, NULL, NULL, NULL, napi_enumerable, NULL},
      {"geluForward", NULL, gelu_forward, NULL, NULL, NULL, napi_enumerable, NULL},
      {"geluBackward", NULL, gelu_backward, NULL, NULL, NULL, napi_enumerable, NULL},
      {"layerNormForward", NULL, layer_norm_forward, NULL, NULL, NULL, napi_enumerable, NULL},
      {"layerNormBackward", NULL, layer_norm_backward, NULL, NULL, NULL, napi_enumerable, NULL},
      {"batchNorm", NULL, batch_norm, NULL, NULL, NULL, napi_enumerable, NULL},
      {"attentionForward", NULL, attention_forward, NULL, NULL, NULL, napi_enumerable, NULL},
      {"attentionBackward", NULL, attention_backward, NULL, NULL, NULL, napi_enumerable, NULL},
      {"sumSquares", NULL, sum_squares, NULL, NULL, NULL, napi_enumerable, NULL},
      {"sumAxes", NULL, sum_axes, NULL, NULL, NULL, napi_enumerable, NULL},
      {"binaryOp", NULL, binary_op, NULL, NULL, NULL, napi_enumerable, NULL},
      {"avgPoolGrad", NULL, avg_pool_grad, NULL, NULL, NULL, napi_enumerable, NULL},
      {"linearBackward", NULL, linear_backward, NULL, NULL, NULL, napi_enumerable, NULL},
      {"dropoutMask", NULL, dropout_mask, NULL, NULL, NULL, napi_enumerable, NULL},
      {"setThreads", NULL, set_threads, NULL, NULL, NULL, napi_enumerable, NULL},
      {"getThreads", NULL, get_threads, NULL, NULL, NULL, napi_enumerable, NULL},
      {"setSmallGemm", NULL, set_small_gemm, NULL, NULL, NULL, napi_enumerable, NULL},
      {"blasConfig", NULL, get_config, NULL, NULL, NULL, napi_enumerable, NULL},
      {"simdLevel", NULL, simd_level, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return NULL;
  napi_value version;
  if (napi_create_int32(env, 16, &version) == napi_ok) napi_set_named_property(env, exports, "abiVersion", version);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
