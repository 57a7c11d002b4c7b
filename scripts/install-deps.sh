#!/usr/bin/env bash
# Installs the Debian packages factorize-nas needs, and only those missing.
# Idempotent: a second run installs nothing. Uses sudo when not root.
# Set FNAS_WITH_BENCH=1 to also install the Python baselines' packages.
set -euo pipefail

packages=(
  build-essential cmake pkg-config ccache
  libtorch-dev          # LibTorch 1.13 (CPU)
  libtbb-dev            # oneTBB
  libyaml-cpp-dev
  libsqlitecpp-dev libsqlite3-dev sqlite3
  libgtest-dev
  libcli11-dev
  nlohmann-json3-dev
  zlib1g-dev
  python3-numpy         # the independent reader of exported integer models (tests)
  dataset-fashion-mnist # the dataset that works out of the box
  chromium              # headless browser of the report's browser test (tests/report)
)
if [[ "${FNAS_WITH_BENCH:-0}" == 1 ]]; then
  packages+=(python3-torch python3-torchvision python3-optuna python3-yaml bc)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
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
echo "install-deps: done"
