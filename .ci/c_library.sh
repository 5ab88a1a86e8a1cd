#!/usr/bin/env bash
# The C library as a product, as a user outside this repository meets it:
#  1. with gcc and with clang: configure with CMake (warnings as errors), build,
#     run ctest (tests/c, the symbol checks, the C/Rust/Go examples) and install
#     to a temporary prefix;
#  2. against each install, from a directory outside the tree: the program in
#     README.md's "Using the C library" section, built with pkg-config and with
#     a tiny CMake project using find_package(pylstm) (shared and static), run
#     on examples/data/model.safetensors; all builds must print the same numbers;
#  3. the gcc and clang builds print the same results, bit for bit, for each
#     kernel this CPU has (tests/c/fingerprint.c);
#  4. the Rust and Go examples built against the gcc install (pkg-config) and
#     run against the reference Python wrote;
#  5. if a Python environment with pylstm is at .venv (as .ci/run makes it):
#     examples/make_reference.py --check, so the stored data stays reproducible,
#     and the README program's numbers against Python's.
# Installs clang, golang-go, pkg-config, cmake and cargo with apt-get if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
started=$(date +%s)

missing=()
for tool in clang:clang go:golang-go pkg-config:pkg-config cmake:cmake cargo:cargo; do
  command -v "${tool%%:*}" >/dev/null || missing+=("${tool#*:}")
done
if ((${#missing[@]})); then
  echo "== apt-get install ${missing[*]}"
  sudo=$([ "$(id -u)" = 0 ] || echo sudo)
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${missing[@]}"
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
model=$root/examples/data/model.safetensors
reference=$root/examples/data/reference.txt
jobs=2

# The README's program, verbatim: the first ```c block of its C section.
awk '/^## Using the C library/ {in_section = 1; next}
     in_section && /^## / {exit}
     in_section && /^```c$/ {in_code = 1; next}
     in_code && /^```$/ {exit}
     in_code {print}' README.md >"$tmp/run_model.c"
if ! grep -q pylstm_model_load "$tmp/run_model.c"; then
  echo "README.md: no C program found in 'Using the C library'" >&2
  exit 1
fi

for cc in gcc clang; do
  build=$tmp/build-$cc prefix=$tmp/prefix-$cc
  echo "== $cc: configure, build, ctest, install to $prefix"
  cmake -S . -B "$build" -DCMAKE_C_COMPILER="$cc" -DCMAKE_BUILD_TYPE=Release \
    -DPYLSTM_BUILD_TESTS=ON -DPYLSTM_BUILD_EXAMPLES=ON -DPYLSTM_WERROR=ON >"$tmp/configure-$cc.log"
  cmake --build "$build" -j "$jobs" >"$tmp/build-$cc.log" || { cat "$tmp/build-$cc.log"; exit 1; }
  (cd "$build" && ctest --output-on-failure -j "$jobs")
  cmake --install "$build" --prefix "$prefix" >/dev/null
  libdir=$(dirname "$(find "$prefix" -name pylstm.pc)")/..
  export PKG_CONFIG_PATH=$libdir/pkgconfig

  echo "== $cc: README program against the install, with pkg-config"
  out=$tmp/out-$cc
  mkdir -p "$out"
  # shellcheck disable=SC2046  # pkg-config prints several flags
  "$cc" -std=c99 -O2 -Wall -Wextra -pedantic -Werror "$tmp/run_model.c" \
    $(pkg-config --cflags --libs pylstm) -o "$out/run_model_pc"
  LD_LIBRARY_PATH=$libdir "$out/run_model_pc" "$model" >"$out/pkg-config.txt"

  echo "== $cc: README program against the install, with find_package(pylstm)"
  mkdir -p "$tmp/consumer-$cc"
  cp "$tmp/run_model.c" "$tmp/consumer-$cc/"
  cat >"$tmp/consumer-$cc/CMakeLists.txt" <<'EOF'
cmake_minimum_required(VERSION 3.15)
project(pylstm_consumer C)
find_package(pylstm 0.1 REQUIRED)
add_executable(run_model run_model.c)
target_link_libraries(run_model PRIVATE pylstm::pylstm)
add_executable(run_model_static run_model.c)
target_link_libraries(run_model_static PRIVATE pylstm::pylstm_static)
set_target_properties(run_model run_model_static PROPERTIES C_STANDARD 99)
foreach(t run_model run_model_static)
  target_compile_options(${t} PRIVATE -Wall -Wextra -pedantic -Werror)
endforeach()
EOF
  cmake -S "$tmp/consumer-$cc" -B "$tmp/consumer-$cc/build" -DCMAKE_C_COMPILER="$cc" \
    -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
  cmake --build "$tmp/consumer-$cc/build" >/dev/null
  if readelf -d "$tmp/consumer-$cc/build/run_model_static" | grep -q 'libpylstm'; then
    echo "run_model_static depends on libpylstm.so: pylstm::pylstm_static is not static" >&2
    exit 1
  fi
  # The shared one finds libpylstm.so through CMake's build-tree rpath.
  "$tmp/consumer-$cc/build/run_model" "$model" >"$out/cmake-shared.txt"
  "$tmp/consumer-$cc/build/run_model_static" "$model" >"$out/cmake-static.txt"
  for f in cmake-shared cmake-static; do
    cmp -s "$out/pkg-config.txt" "$out/$f.txt" || {
      echo "README program: $f printed other numbers than the pkg-config build" >&2
      diff "$out/pkg-config.txt" "$out/$f.txt" >&2
      exit 1
    }
  done
  echo "README program ($cc; pkg-config, CMake shared, CMake static agree):" \
    "$(tr '\n' ' ' <"$out/pkg-config.txt")"
done

echo "== gcc and clang builds: the same bits for every kernel"
.ci/same_bits.sh "" "$tmp/build-gcc/tests/c/fingerprint" "$tmp/build-clang/tests/c/fingerprint" \
  ref avx2 avx512 neon

echo "== Rust and Go examples against the gcc install"
libdir=$(dirname "$(find "$tmp/prefix-gcc" -name pylstm.pc)")/..
export PKG_CONFIG_PATH=$libdir/pkgconfig LD_LIBRARY_PATH=$libdir
CARGO_TARGET_DIR=$tmp/rust-target cargo run --offline --quiet \
  --manifest-path examples/rust/Cargo.toml -- "$model" "$reference"
(cd examples/go && GOPROXY=off GOFLAGS=-mod=readonly GOTOOLCHAIN=local GOCACHE=$tmp/go-cache \
  go run . "$model" "$reference")

if [ -x .venv/bin/python ] && .venv/bin/python -c "import pylstm" 2>/dev/null; then
  echo "== examples/make_reference.py --check"
  .venv/bin/python examples/make_reference.py --check
  # The README program ran x = 0.5 everywhere (T = 4, B = 1): the same in Python.
  .venv/bin/python - "$model" "$tmp/out-gcc/pkg-config.txt" <<'EOF'
import sys
import numpy as np
import pylstm
model = pylstm.load(sys.argv[1])
y, _ = model(np.full((4, 1, model.input_size), 0.5, np.float32))
err = float(np.max(np.abs(np.loadtxt(sys.argv[2]) - y[-1, 0])))
print(f"README program vs Python: max abs error {err:.3g} (printed with 6 decimals)")
sys.exit(not err <= 1e-5)
EOF
fi

echo "C library checks finished in $(($(date +%s) - started)) s"
