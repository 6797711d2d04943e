#!/usr/bin/env bash
# Build the kit's native CPU kernels (native/kit_native.c) into build/native/kit_native.node.
#
# Needs: a C compiler (gcc or cc), OpenBLAS's cblas.h + libopenblas (Debian: libopenblas-dev), and the
# N-API headers that ship with Node itself (<node prefix>/include/node/node_api.h). Nothing is downloaded.
# With oneDNN's headers and library as well (Debian: libdnnl-dev) the products run on its dnnl_sgemm (-DKIT_DNNL,
# OpenMP threads); without them on OpenBLAS. KIT_NATIVE_NO_DNNL=1 builds without oneDNN.
# Exit 0 and a built addon, or exit 1 with one line saying what is missing (the kit then runs on wasm).
#
#   bash native/build.sh            # build if the source or this script is newer than the addon
#   bash native/build.sh --force    # rebuild
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SRC="$ROOT/native/kit_native.c"
OUT_DIR="$ROOT/build/native"
OUT="$OUT_DIR/kit_native.node"
say() { printf '[native] %s\n' "$*"; }

CC="${CC:-}"
if [ -z "$CC" ]; then
  for c in gcc cc clang; do
    if command -v "$c" >/dev/null 2>&1; then CC="$c"; break; fi
  done
fi
[ -n "$CC" ] || { say "no C compiler (gcc/cc/clang) found: install gcc (Debian: apt-get install gcc)"; exit 1; }

NODE_BIN="$(command -v node)"
NODE_INC=""
for d in "$(dirname "$(dirname "$NODE_BIN")")/include/node" /usr/include/node /usr/local/include/node; do
  if [ -f "$d/node_api.h" ]; then NODE_INC="$d"; break; fi
done
[ -n "$NODE_INC" ] || { say "Node's N-API headers (include/node/node_api.h) not found next to $NODE_BIN"; exit 1; }

BLAS_INC=""
for d in /usr/include/x86_64-linux-gnu/openblas-pthread /usr/include/aarch64-linux-gnu/openblas-pthread \
  /usr/include/openblas /usr/include; do
  if [ -f "$d/cblas.h" ]; then BLAS_INC="$d"; break; fi
done
[ -n "$BLAS_INC" ] || { say "OpenBLAS headers (cblas.h) not found: install libopenblas-dev"; exit 1; }

mkdir -p "$OUT_DIR"
# oneDNN: its header, and a test link of dnnl_sgemm (a header without the library must not fail the build).
DNNL_FLAGS=()
DNNL_LIBS=()
GEMM="OpenBLAS"
if [ "${KIT_NATIVE_NO_DNNL:-0}" != "1" ] && [ -f /usr/include/oneapi/dnnl/dnnl.h ]; then
  probe="$OUT_DIR/dnnl_probe.$$"
  printf '#include <oneapi/dnnl/dnnl.h>\nint main(void){float a=1,b=1,c=0;return dnnl_sgemm(%s,%s,1,1,1,1.0f,&a,1,&b,1,0.0f,&c,1)!=dnnl_success;}\n' "'N'" "'N'" >"$probe.c"
  if "$CC" -fopenmp "$probe.c" -o "$probe" -ldnnl 2>/dev/null; then
    DNNL_FLAGS=(-DKIT_DNNL -fopenmp)
    DNNL_LIBS=(-ldnnl)
    GEMM="oneDNN"
  fi
  rm -f "$probe" "$probe.c"
fi
# Up to date: newer than the source and this script, and built for the same products' library (a libdnnl-dev
# installed or removed since the last build changes it).
FLAVOUR="$OUT_DIR/kit_native.gemm"
if [ "${1:-}" != "--force" ] && [ -f "$OUT" ] && [ "$OUT" -nt "$SRC" ] && [ "$OUT" -nt "${BASH_SOURCE[0]}" ] &&
  [ "$(cat "$FLAVOUR" 2>/dev/null)" = "$GEMM" ]; then
  say "up to date: ${OUT#"$ROOT"/} (products on $GEMM)"
  exit 0
fi
TMP="$OUT.tmp.$$"
# -march=native would tie the addon to this CPU; the products run in oneDNN / OpenBLAS (which pick their kernels at
# run time), so a portable -O3 build (SSE2 vectorised element-wise loops) is enough. No -ffast-math: the element-wise
# results must be the IEEE ones,
# -ffp-contract=off keeps a·b + c two roundings (the fused AdamW / GELU must give the bits of the tfjs ops), and
# -fno-math-errno / -fno-trapping-math only let sqrtf and the clamps vectorise (errno and the FP exception flags are
# never read; the values are the IEEE ones).
if ! "$CC" -O3 -ffp-contract=off -fno-math-errno -fno-trapping-math -std=c11 -fPIC -shared -Wall -Wextra -Werror=implicit-function-declaration \
  -DNODE_GYP_MODULE_NAME=kit_native "${DNNL_FLAGS[@]}" -I"$NODE_INC" -I"$BLAS_INC" "$SRC" -o "$TMP" \
  "${DNNL_LIBS[@]}" -lopenblas -lm 2>"$OUT_DIR/build.log"; then
  rm -f "$TMP"
  say "compile failed ($CC; see build/native/build.log): $(head -n 1 "$OUT_DIR/build.log")"
  exit 1
fi
mv -f "$TMP" "$OUT"
printf '%s\n' "$GEMM" >"$FLAVOUR"
say "built ${OUT#"$ROOT"/} ($CC, products on $GEMM, $(basename "$BLAS_INC")/cblas.h, N-API from $NODE_INC)"
