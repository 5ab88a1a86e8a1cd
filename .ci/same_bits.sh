#!/usr/bin/env bash
# Two builds of tests/c/fingerprint.c must print the same results, bit for
# bit, under each kernel named (a kernel the CPU lacks falls back to a lower
# one, which both builds then use alike). Used by .ci/c_library.sh (gcc and
# clang, native) and .ci/emulation.sh (gcc and clang for aarch64, under qemu).
# Usage: .ci/same_bits.sh "RUNNER" FINGERPRINT_A FINGERPRINT_B KERNEL...
#   RUNNER: a command to run each program under ("" for none), e.g. qemu-aarch64
set -euo pipefail
read -r -a runner <<< "$1"
a=$2 b=$3
shift 3
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for kernel in "$@"; do
  PYLSTM_KERNEL=$kernel "${runner[@]}" "$a" >"$out/a.txt"
  PYLSTM_KERNEL=$kernel "${runner[@]}" "$b" >"$out/b.txt"
  if ! cmp -s "$out/a.txt" "$out/b.txt"; then
    echo "PYLSTM_KERNEL=$kernel: $a and $b compute different results" >&2
    diff "$out/a.txt" "$out/b.txt" >&2 || true
    exit 1
  fi
  echo "PYLSTM_KERNEL=$kernel ($(head -n 1 "$out/a.txt")):" \
    "$(grep -c ' y=' "$out/a.txt") cases identical"
done
