#!/usr/bin/env bash
# Installs the Debian packages factorize-nas needs, and only those missing.
# Idempotent: a second run installs nothing. Uses sudo when not root.
# Set FNAS_WITH_BENCH=1 to also install the Python baselines' packages.
set -euo pipefail

packages=(
  build-essential cmake pkg-config ccache
  libtorch-dev          # LibTorch 1.13 (CPU)
  libdnnl-dev           # oneDNN's header: its sgemm runs the dense layers (space/dense.h)
  libtbb-dev            # oneTBB
  libyaml-cpp-dev
  libsqlitecpp-dev libsqlite3-dev sqlite3
  libgtest-dev
  libcli11-dev
  nlohmann-json3-dev
  zlib1g-dev
  python3-numpy         # the independent reader of exported integer models (tests)
  libonnx-dev libprotobuf-dev  # the ONNX export (protobuf classes, checker)
  python3-onnx          # onnx.checker in the ONNX Runtime test
  libpng-dev            # `predict` on PNG files
  libtcmalloc-minimal4  # the memory allocator every binary links (common/allocator.h)
  libopenmpi-dev openmpi-bin  # MPI: `search --mpi` and its tests (the build works without)
  dataset-fashion-mnist # the dataset that works out of the box
  chromium              # headless browser of the report's browser test (tests/report)
)
if [[ "${FNAS_WITH_BENCH:-0}" == 1 ]]; then
  packages+=(python3-torch python3-torchvision python3-optuna python3-yaml bc)
fi

# Node.js and npm run ONNX Runtime in the tests: Debian's, unless a Node.js is
# already there (e.g. NodeSource's, which bundles npm and conflicts with Debian's npm).
if ! command -v npm >/dev/null; then
  packages+=(nodejs npm)
fi

# onnxruntime-node, pinned by package-lock.json, into node_modules/. Its install
# script downloads from a host that may be unreachable; the CPU binaries it needs
# are inside the package, so the scripts are skipped.
install_node_modules() {
  local root
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  if [[ ! -f "$root/node_modules/onnxruntime-node/package.json" ]]; then
    echo "install-deps: npm ci in $root"
    (cd "$root" && npm ci --ignore-scripts --no-audit --no-fund >/dev/null)
  fi
}

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
  install_node_modules
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo=()
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install ${missing[*]}" >&2; exit 1; }
  sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
install_node_modules
echo "install-deps: done"
