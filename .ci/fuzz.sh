#!/usr/bin/env bash
# Fuzzes the C file reader and model loader with libFuzzer (clang, ASan +
# UBSan): tests/fuzz/fuzz_safetensors.c and tests/fuzz/fuzz_model_load.c, each
# for FUZZ_SECONDS (default 60) from a copy of its corpus in
# tests/fuzz/corpus/ (the repository is never written). Any crash, leak,
# sanitizer report, timeout or unexpected status fails the script; the input
# that caused it is left in the build directory and named in the log.
# Needs clang and its fuzzer runtime: installed with apt-get when missing (as
# root on Debian); if that fails the script says so and fails.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-60}
cc=${FUZZ_CC:-clang}
out=build/fuzz
rm -rf "$out" && mkdir -p "$out"

# A libFuzzer-enabled probe: does this clang link -fsanitize=fuzzer?
printf '%s\n' '#include <stddef.h>' '#include <stdint.h>' \
  'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);' \
  'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }' \
  > "$out/probe.c"
links() { "$cc" -fsanitize=fuzzer "$out/probe.c" -o "$out/probe" 2> "$out/probe.log"; }
# On Debian the fuzzer runtime is a package apart from clang
# (libclang-rt-<major>-dev); install both if missing, as root, like
# .ci/emulation.sh does for its tools.
if ! command -v "$cc" > /dev/null || ! links; then
  if command -v apt-get > /dev/null && [[ $(id -u) == 0 ]]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    command -v "$cc" > /dev/null || apt-get install -y -q --no-install-recommends clang
    major=$("$cc" -dumpversion 2> /dev/null | cut -d. -f1) || major=none
    apt-get install -y -q --no-install-recommends "libclang-rt-$major-dev" ||
      apt-get install -y -q --no-install-recommends "libclang-rt-dev" || true
  fi
fi
if ! command -v "$cc" > /dev/null || ! links; then
  [[ -f "$out/probe.log" ]] && cat "$out/probe.log" >&2
  echo "fuzz: FAILED: $cc with its libFuzzer runtime is needed and could not be installed" \
       "(Debian, as root: apt-get install clang libclang-rt-<clang major version>-dev)" >&2
  exit 1
fi
"$cc" --version | head -n 1

core=()
while read -r path _; do
  [[ -z "$path" || "$path" == \#* ]] || core+=("$path")
done < src_c/sources.txt
flags=(-std=c99 -pthread -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined
       -fno-sanitize-recover=all -Wall -Wextra -pedantic -Werror -Isrc_c/include -Isrc_c)
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

# The core once, as objects both targets link (libFuzzer's coverage
# instrumentation included: -fsanitize=fuzzer on objects adds only that).
echo "== build the core"
objects=()
for src in "${core[@]}"; do
  obj=$out/obj/${src//\//_}.o
  mkdir -p "$out/obj"
  "$cc" "${flags[@]}" -c "$src" -o "$obj"
  objects+=("$obj")
done

total=0
for target in safetensors model_load; do
  case $target in
    safetensors) dict=tests/fuzz/safetensors.dict ;;
    model_load) dict=tests/fuzz/model.dict ;;
  esac
  exe=$out/fuzz_$target
  echo "== fuzz_$target: build"
  "$cc" "${flags[@]}" "tests/fuzz/fuzz_$target.c" "${objects[@]}" -lm -o "$exe"
  cp -r "tests/fuzz/corpus/$target" "$out/corpus_$target"
  echo "== fuzz_$target: $seconds s from $(ls "$out/corpus_$target" | wc -l) inputs"
  rc=0
  (cd "$out" && "./fuzz_$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
      -malloc_limit_mb=1024 -print_final_stats=1 -dict="../../$dict" "corpus_$target") \
      > "$out/$target.log" 2>&1 || rc=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/$target.log" | tail -n 1)
  echo "fuzz_$target: ${runs:-?} executions, exit status $rc"
  if ((rc != 0)) || [[ -z "$runs" ]]; then
    tail -n 60 "$out/$target.log"
    echo "FAILED: fuzz_$target (log: $out/$target.log)"
    exit 1
  fi
  total=$((total + runs))
done
echo "== fuzz: $total executions, no finding"
