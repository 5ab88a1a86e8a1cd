#!/usr/bin/env bash
# The C code as MSVC sees it, approximated on Linux: clang in MSVC mode
# (--target=<arch>-pc-windows-msvc, _MSC_VER 1930) with __clang__ undefined,
# so that the code takes its _MSC_VER branches, not the gcc/clang ones, and
# the stand-in CRT and Windows headers beside this script (declarations only).
#  - Every file of src_c/sources.txt is compiled for x86-64 with its tag's
#    /arch emulated (avx2: -mavx2 -mfma, avx512: -mavx512f -mavx512cd
#    -mavx512bw -mavx512dq -mavx512vl). An untagged file gets no ISA flag:
#    clang's MSVC-mode headers then declare only baseline intrinsics, so AVX
#    code outside a tagged file fails here (MSVC would accept it, but such
#    code belongs in a file that sources.txt tags).
#  - Every file again for ARM64 Windows (the NEON kernel, arm_neon.h).
#  - The C tests and the C example, for syntax (what ctest builds with MSVC).
# Not checked here: MSVC's own headers (its NEON vector types are all one
# __n128, and it has no operators such as a + b on __m256, which clang
# accepts), its warnings and its code generation; the Windows jobs of
# .github/workflows/wheels.yml build with the real compiler.
# -Wno-unknown-pragmas: clang does not know MSVC's #pragma fp_contract
# (src_c/common.h), which MSVC has had since Visual Studio 2005.
# Usage: .ci/msvc/check.sh   (needs clang; prints each failure, exits 1)
set -uo pipefail
cd "$(dirname "$0")/../.."
stubs=.ci/msvc
status=0
msvc() { # target, flags..., file
  local target=$1
  shift
  clang --target="$target" -fms-compatibility -fms-extensions -fms-compatibility-version=19.30 \
    -U__clang__ -Wno-builtin-macro-redefined -ffreestanding -std=c99 -Wall -Wextra -Werror \
    -Wno-unknown-pragmas \
    -isystem "$stubs" -Isrc_c/include -Isrc_c "$@"
}
check() { # label, command...
  local label=$1 out
  shift
  if ! out=$("$@" 2>&1); then
    echo "== $label"
    echo "$out" | head -n 20
    status=1
  fi
}
obj=$(mktemp)
trap 'rm -f "$obj"' EXIT
while read -r file tag _; do
  case "$file" in '' | \#*) continue ;; esac
  case "$tag" in
    '') arch=() ;;
    avx2) arch=(-mavx2 -mfma) ;;
    avx512) arch=(-mavx512f -mavx512cd -mavx512bw -mavx512dq -mavx512vl -mavx2 -mfma) ;;
    *) echo "unknown tag '$tag' of $file in src_c/sources.txt"; status=1; continue ;;
  esac
  check "$file (x64 MSVC${tag:+, /arch:$tag})" msvc x86_64-pc-windows-msvc -O1 -c "${arch[@]}" "$file" -o "$obj"
  check "$file (ARM64 MSVC)" msvc aarch64-pc-windows-msvc -O1 -c "$file" -o "$obj"
done <src_c/sources.txt
for file in tests/c/test_*.c examples/c/*.c; do
  check "$file (x64 MSVC, syntax)" msvc x86_64-pc-windows-msvc -fsyntax-only "$file"
done
[ $status -eq 0 ] && echo "MSVC emulation: every file compiles (x64 and ARM64)"
exit $status
