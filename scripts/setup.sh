#!/usr/bin/env bash
# `npm run setup`: everything a fresh Debian/Ubuntu machine needs to run the kit, its tests and notebooks.
#
#   1. System tools (only those missing): Jupyter's nbconvert + nbclient + jupyter-client (to execute
#      notebooks headless), the classic Jupyter Notebook (`npm run lab`) and Chromium (PNG figures). As root this runs apt-get; otherwise it prints the
#      command to run.
#   2. npm ci (skipped when node_modules already matches package-lock.json; KIT_SETUP_FORCE_NPM=1 forces it).
#   3. The project-local tslab kernelspec (.jupyter/kernels/tslab and build/jupyter/kernels/tslab).
#   +  The native CPU kernels (gcc + libopenblas-dev [+ libdnnl-dev] → build/native/kit_native.node; optional, see that section).
#
# Idempotent: a second run only checks and finishes in a few seconds.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

say() { printf '[setup] %s\n' "$*"; }
# Whether Debian package $1 is installed (dpkg-query).
deb_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

# --- 1. system packages -------------------------------------------------------------------------
APT_PACKAGES=(jupyter-nbconvert python3-nbclient jupyter-client jupyter-notebook chromium)
missing=()
if command -v dpkg-query >/dev/null 2>&1; then
  for p in "${APT_PACKAGES[@]}"; do
    deb_installed "$p" || missing+=("$p")
  done
else
  # Not Debian: check the commands instead and explain.
  { [ -n "${JUPYTER:-}" ] || command -v jupyter >/dev/null 2>&1; } || missing+=(jupyter)
  { [ -n "${KIT_CHROMIUM:-}" ] || command -v chromium >/dev/null 2>&1; } || missing+=(chromium)
  { [ -n "${JUPYTER_NOTEBOOK:-}" ] || command -v jupyter-notebook >/dev/null 2>&1; } || missing+=(jupyter-notebook)
fi

if [ "${#missing[@]}" -eq 0 ]; then
  say "system packages present: ${APT_PACKAGES[*]}"
elif ! command -v apt-get >/dev/null 2>&1; then
  say "missing: ${missing[*]}. This is not a Debian/Ubuntu machine; install Jupyter (pip install jupyter nbconvert"
  say "nbclient 'notebook<7'; set JUPYTER=/path/to/jupyter and JUPYTER_NOTEBOOK=/path/to/jupyter-notebook if"
  say "needed) and Chromium (set KIT_CHROMIUM=/path/to/chrome)."
elif [ "$(id -u)" -eq 0 ]; then
  say "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  apt-get install -y --no-install-recommends "${missing[@]}"
else
  say "missing system packages: ${missing[*]}. Run:"
  say "  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}"
  say "(continuing: tests run without them; notebooks need Jupyter, PNG figures need Chromium)"
fi

# --- 2. npm packages ----------------------------------------------------------------------------
# npm ci writes node_modules/.package-lock.json; when it equals package-lock.json's packages the install is current.
lock_current() {
  [ -f node_modules/.package-lock.json ] && [ -x node_modules/.bin/tsx ] && [ -x node_modules/.bin/tslab ] &&
    node -e '
      const a = require("./package-lock.json").packages || {};
      const b = require("./node_modules/.package-lock.json").packages || {};
      const strip = (p) => Object.fromEntries(Object.entries(p).filter(([k]) => k !== "")
        .map(([k, v]) => [k, v.version]));
      const x = strip(a), y = strip(b);
      const bad = Object.keys(x).filter((k) => !(k in y) && !a[k].optional)
        .concat(Object.keys(x).filter((k) => k in y && x[k] !== y[k]));
      process.exit(bad.length ? 1 : 0);
    ' 2>/dev/null
}
if [ "${KIT_SETUP_FORCE_NPM:-0}" != "1" ] && lock_current; then
  say "node_modules matches package-lock.json (set KIT_SETUP_FORCE_NPM=1 to reinstall)"
else
  say "npm ci"
  npm ci
fi

# --- 3. kernelspec ------------------------------------------------------------------------------
node_modules/.bin/tsx scripts/run_notebooks.ts --install-kernel | sed 's/^/[setup] /'

# --- native CPU kernels (src/backends/native_kernels.ts) -----------------------------------------
# The kit's OpenBLAS addon: native/kit_native.c → build/native/kit_native.node, compiled with gcc against
# libopenblas-dev and the N-API headers that ship with Node (nothing downloaded, no binary committed).
# Optional: when it cannot be built the kit runs on wasm and its backend line says why.
# KIT_SETUP_NATIVE=0 skips this section.
if [ "${KIT_SETUP_NATIVE:-1}" != "0" ]; then
  NATIVE_APT=(gcc libc6-dev libopenblas-dev)
  # Node's N-API headers come with Node (nodesource/official builds); Debian's own nodejs keeps them in libnode-dev.
  node_prefix="$(dirname "$(dirname "$(command -v node)")")"
  if [ ! -f "$node_prefix/include/node/node_api.h" ] && [ ! -f /usr/include/node/node_api.h ]; then
    NATIVE_APT+=(libnode-dev)
  fi
  native_missing=()
  if command -v dpkg-query >/dev/null 2>&1; then
    for p in "${NATIVE_APT[@]}"; do
      deb_installed "$p" || native_missing+=("$p")
    done
  fi
  if [ "${#native_missing[@]}" -gt 0 ]; then
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
      say "installing for the native kernels: ${native_missing[*]}"
      export DEBIAN_FRONTEND=noninteractive
      apt-get install -y --no-install-recommends "${native_missing[@]}" ||
        { apt-get update && apt-get install -y --no-install-recommends "${native_missing[@]}"; } ||
        say "could not install ${native_missing[*]} (the kit will run on wasm)"
    else
      say "native kernels need: ${native_missing[*]} (sudo apt-get install -y --no-install-recommends ${native_missing[*]})"
    fi
  fi
  # oneDNN (Debian: libdnnl-dev) runs the products when present: its JIT kernels use the CPU's widest vectors (measured
  # 2026-12-04 on a 2-core AMD EPYC: 1024² sgemm 219 / 404 GFLOP/s at 1 / 2 threads vs OpenBLAS's 110 / 223). Optional:
  # without it the products run on OpenBLAS. Installed on its own so that a system without the package still builds.
  if command -v dpkg-query >/dev/null 2>&1 && ! deb_installed libdnnl-dev; then
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
      say "installing for the native kernels' products: libdnnl-dev (oneDNN)"
      DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends libdnnl-dev ||
        say "could not install libdnnl-dev (the products will run on OpenBLAS)"
    else
      say "optional for faster products: libdnnl-dev (sudo apt-get install -y --no-install-recommends libdnnl-dev)"
    fi
  fi
  if bash native/build.sh; then
    say "native kernels ready (backend 'native'; KIT_BACKEND=wasm forces plain wasm)"
  else
    say "native kernels not built: the kit runs on wasm (see the line above)"
  fi
fi
say "done. Next: npm test; npm run notebooks"
