#!/usr/bin/env bash
# Builds every C test in tests/c/ against the core in src_c/ and runs it,
# warnings as errors. Usage: tests/c/run.sh [plain|sanitize]  (default: plain)
#   sanitize: AddressSanitizer + UndefinedBehaviorSanitizer, any report fails.
# CC (default cc) picks the compiler. The tests print "N passed, N failed" last.
set -euo pipefail
cd "$(dirname "$0")/../.."
mode=${1:-plain}
cc=${CC:-cc}
out=build/ctests-$mode
mkdir -p "$out"
flags=(-std=c99 -pthread -Wall -Wextra -pedantic -Werror -Isrc_c/include -Isrc_c)
case "$mode" in
  plain) flags+=(-O2) ;;
  sanitize) flags+=(-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined
                    -fno-sanitize-recover=all) ;;
  *) echo "usage: $0 [plain|sanitize]" >&2; exit 2 ;;
esac
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
shopt -s nullglob
status=0
for src in tests/c/test_*.c; do
  name=$(basename "$src" .c)
  echo "== $name ($mode, $cc)"
  "$cc" "${flags[@]}" "$src" src_c/*.c -lm -o "$out/$name"
  if ! "$out/$name"; then
    echo "FAILED: $name ($mode)"
    status=1
  fi
done
exit $status
