#!/usr/bin/env bash
# Build the kit's native CPU kernels (native/kit_native.c) into build/native/kit_native.node.
#
# Needs: a C compiler (gcc or cc), OpenBLAS's cblas.h + libopenblas (Debian: libopenblas-dev), and the
# N-API headers that ship with Node itself (<node prefix>/include/node/node_api.h). Nothing is downloaded.
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

if [ "${1:-}" != "--force" ] && [ -f "$OUT" ] && [ "$OUT" -nt "$SRC" ] && [ "$OUT" -nt "${BASH_SOURCE[0]}" ]; then
  say "up to date: ${OUT#"$ROOT"/}"
  exit 0
fi

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
TMP="$OUT.tmp.$$"
# -march=native would tie the addon to this CPU; the products run in OpenBLAS (which picks its kernels at run
# time), so a portable -O3 build (SSE2 vectorised element-wise loops) is enough. No -ffast-math: the element-wise
# results must be the IEEE ones,
# -ffp-contract=off keeps a·b + c two roundings (the fused AdamW / GELU must give the bits of the tfjs ops), and
# -fno-math-errno / -fno-trapping-math only let sqrtf and the clamps vectorise (errno and the FP exception flags are
# never read; the values are the IEEE ones).
if ! "$CC" -O3 -ffp-contract=off -fno-math-errno -fno-trapping-math -std=c11 -fPIC -shared -Wall -Wextra -Werror=implicit-function-declaration \
  -DNODE_GYP_MODULE_NAME=kit_native -I"$NODE_INC" -I"$BLAS_INC" "$SRC" -o "$TMP" -lopenblas -lm 2>"$OUT_DIR/build.log"; then
  rm -f "$TMP"
  say "compile failed ($CC; see build/native/build.log): $(head -n 1 "$OUT_DIR/build.log")"
  exit 1
fi
mv -f "$TMP" "$OUT"
say "built ${OUT#"$ROOT"/} ($CC, $(basename "$BLAS_INC")/cblas.h, N-API from $NODE_INC)"
