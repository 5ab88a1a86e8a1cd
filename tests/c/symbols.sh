#!/usr/bin/env bash
# Symbol hygiene of the C core, with the compiler CC (default cc) and nm:
#  1. every global symbol the core's objects define (every file of
#     src_c/sources.txt, archived together) starts with pylstm_;
#  2. a shared library built from them with -fvisibility=hidden exports
#     exactly the functions pylstm.h declares with PYLSTM_API.
# Prints what is wrong and exits non-zero on a violation.
# Usage: tests/c/symbols.sh   (POSIX with binutils-style nm)
set -euo pipefail
cd "$(dirname "$0")/../.."
cc=${CC:-cc}
out=build/symbols
rm -rf "$out"
mkdir -p "$out"
status=0
while read -r src _; do
  "$cc" -std=c99 -O1 -fPIC -pthread -fvisibility=hidden -DPYLSTM_BUILD_SHARED \
    -Isrc_c/include -Isrc_c -c "$src" -o "$out/$(basename "$src" .c).o"
done < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' src_c/sources.txt)
ar rcs "$out/libpylstm.a" "$out"/*.o

stray=$(nm -g --defined-only "$out/libpylstm.a" | awk 'NF == 3 { print $3 }' | grep -v '^pylstm_' || true)
if [ -n "$stray" ]; then
  echo "global symbols without the pylstm_ prefix:"; echo "$stray"; status=1
fi

"$cc" -shared -pthread -o "$out/libpylstm.so" "$out"/*.o -lm
# Linker-defined markers (_end, __bss_start, ...) are not the library's.
nm -D --defined-only "$out/libpylstm.so" | awk 'NF == 3 { print $3 }' |
  grep -v -E '^(_init|_fini|_edata|_end|__bss_start)$' | sort > "$out/exported.txt"
grep -h 'PYLSTM_API' src_c/include/pylstm.h | grep -v '#define' |
  sed -E 's/^[^(]*[ *]([A-Za-z_][A-Za-z_0-9]*)[[:space:]]*\(.*/\1/' | sort -u > "$out/declared.txt"
extra=$(comm -23 "$out/exported.txt" "$out/declared.txt")
missing=$(comm -13 "$out/exported.txt" "$out/declared.txt")
if [ -n "$extra" ]; then
  echo "exported but not declared in pylstm.h:"; echo "$extra"; status=1
fi
if [ -n "$missing" ]; then
  echo "declared in pylstm.h but not exported:"; echo "$missing"; status=1
fi
echo "$(wc -l < "$out/exported.txt") exported, $(wc -l < "$out/declared.txt") declared"
[ $status -eq 0 ] && echo "symbols OK"
exit $status
