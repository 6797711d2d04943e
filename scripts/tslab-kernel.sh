#!/usr/bin/env bash
# Jupyter kernel launcher for the kit's TypeScript notebooks (kernelspec name: tslab).
#
# tslab uses its working directory as the TypeScript rootDir, and Jupyter starts kernels in the
# notebook's folder. Notebooks live in notebooks/ but import './src/...', so the kernel must run
# from the project root (docs/tooling.md §4 pitfall 1). This script cds there and execs tslab.
#
# Usage (from kernel.json): tslab-kernel.sh {connection_file}
set -euo pipefail
if [ "$#" -lt 1 ]; then
  echo "usage: $0 <jupyter connection file>" >&2
  exit 2
fi
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TSLAB="$ROOT/node_modules/.bin/tslab"
if [ ! -x "$TSLAB" ]; then
  echo "tslab-kernel.sh: $TSLAB not found; run 'npm ci' in $ROOT first" >&2
  exit 1
fi
# The connection file may be relative to Jupyter's cwd: make it absolute before leaving that folder.
case "$1" in
  /*) CONN="$1" ;;
  *) CONN="$(pwd)/$1" ;;
esac
cd "$ROOT"
# Lets src/notebook/* know it runs inside a notebook kernel (display instead of terminal bars).
export KIT_IN_NOTEBOOK=1
exec "$TSLAB" kernel --config-path "$CONN"
