#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ with Debian's clang (clang-14, ASan +
# UBSan + libFuzzer) into build-fuzz/ and runs one for a bounded time:
#   scripts/fuzz.sh TARGET [SECONDS] [extra libFuzzer flags]
# TARGET: config | idx | checkpoint | integer_model. Not part of CI (a fuzzer
# runs for minutes). Crashes are written to build-fuzz/crashes/TARGET/; each
# one found becomes a regression test (tests/bad_input/). The seed corpus is
# fuzz/corpus/TARGET (checked in), and the working corpus grows in
# build-fuzz/corpus/TARGET.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:?usage: scripts/fuzz.sh config|idx|checkpoint|integer_model [SECONDS]}
seconds=${2:-600}
shift $(($# < 2 ? $# : 2))
CXX=${CXX:-clang++-14}
out=build-fuzz
mkdir -p "$out/obj" "$out/crashes/$target" "$out/corpus/$target"
flags=(-std=c++17 -O1 -g -fno-omit-frame-pointer -I. -fsanitize=fuzzer,address,undefined
  -fno-sanitize-recover=undefined -DNDEBUG)
torch_flags=(-isystem /usr/include/torch/csrc/api/include -D_GLIBCXX_USE_CXX11_ABI=1)
torch_libs=(-ltorch -ltorch_cpu -lc10)

# The target and the reader it fuzzes are compiled here, instrumented; the
# rest comes from the project's Release build (BUILD, default build/: run
# `make build` first), uninstrumented.
build=${BUILD:-build}
space=(space/macro.cpp space/candidate.cpp space/paths.cpp space/plan.cpp)
lib() { for l in "$@"; do echo "$build/$l"; done; }
case "$target" in
  config)
    sources=(fuzz/config_fuzzer.cpp config/config.cpp "${space[@]}")
    libs=(-lyaml-cpp) ;;
  idx)
    sources=(fuzz/idx_fuzzer.cpp evaluators/train/dataset.cpp)
    flags+=("${torch_flags[@]}")
    libs=($(lib evaluators/train/libfnas_train.a space/libfnas_space.a common/libfnas_common.a)
      "${torch_libs[@]}" -ltbb -lz) ;;
  checkpoint)
    sources=(fuzz/checkpoint_fuzzer.cpp evaluators/train/checkpoint.cpp)
    flags+=("${torch_flags[@]}")
    libs=($(lib evaluators/train/libfnas_train.a space/libfnas_space.a common/libfnas_common.a)
      "${torch_libs[@]}" -ltbb -lz) ;;
  integer_model)
    sources=(fuzz/integer_model_fuzzer.cpp evaluators/quant/export.cpp)
    flags+=("${torch_flags[@]}")
    libs=($(lib evaluators/quant/libfnas_quant.a evaluators/train/libfnas_train.a \
      space/libfnas_space.a common/libfnas_common.a) "${torch_libs[@]}" -ltbb -lz) ;;
  *) echo "unknown fuzz target '$target' (config, idx, checkpoint, integer_model)" >&2; exit 2 ;;
esac

# One object per source (recompiled when the source is newer), then the link.
objs=()
for src in "${sources[@]}"; do
  obj="$out/obj/${target}_$(echo "$src" | tr / _).o"
  if [[ ! -f $obj || $src -nt $obj ]]; then
    echo "compiling $src" >&2
    $CXX "${flags[@]}" -c "$src" -o "$obj"
  fi
  objs+=("$obj")
done
bin="$out/${target}_fuzzer"
$CXX "${flags[@]}" "${objs[@]}" -Wl,--start-group "${libs[@]}" -Wl,--end-group -o "$bin"

echo "running $bin for ${seconds}s (corpus $out/corpus/$target + fuzz/corpus/$target)" >&2
mkdir -p "fuzz/corpus/$target"
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0} FNAS_FUZZ_SEED_DIR="$out/corpus/$target" \
  "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 \
  -artifact_prefix="$out/crashes/$target/" -print_final_stats=1 "$@" \
  "$out/corpus/$target" "fuzz/corpus/$target"
