#!/usr/bin/env bash
# Builds every C test in tests/c/ against the core (the sources listed in
# src_c/sources.txt) and runs it, warnings as errors.
# Usage: tests/c/run.sh [plain|sanitize|thread]  (default: plain)
#   sanitize: AddressSanitizer + UndefinedBehaviorSanitizer, any report fails.
#   thread:   ThreadSanitizer (data races, lock order), any report fails;
#             with clang (gcc 12's runtime loses track of the threads a
#             forked child starts: test_fork then fails in the sanitizer).
# From the environment, for other compilers and cross builds (.ci/emulation.sh):
#   CC           the compiler (default cc)
#   EXTRA_FLAGS  more compiler and linker flags, e.g. -static
#   RUNNER       a command to run each test under, e.g. qemu-aarch64 or wine
#   EXE          the programs' file name suffix, e.g. .exe
#   TEST_TIMEOUT seconds a test may run (default 900; needs coreutils' timeout)
#   SKIP         test names not to run on this platform, and SKIP_WHY the
#                reason, printed (for an emulator's own bugs, never for ours)
# Each test must exit 0 and print "N passed, N failed" last with N failed = 0;
# the script ends with the totals.
set -euo pipefail
cd "$(dirname "$0")/../.."
mode=${1:-plain}
cc=${CC:-cc}
read -r -a extra <<< "${EXTRA_FLAGS:-}"
read -r -a runner <<< "${RUNNER:-}"
out=build/ctests-$mode${CC:+-${cc##*/}}
mkdir -p "$out"
flags=(-std=c99 -pthread -Wall -Wextra -pedantic -Werror -Isrc_c/include -Isrc_c)
case "$mode" in
  plain) flags+=(-O2) ;;
  sanitize) flags+=(-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined
                    -fno-sanitize-recover=all) ;;
  thread) flags+=(-O1 -g -fno-omit-frame-pointer -fsanitize=thread) ;;
  *) echo "usage: $0 [plain|sanitize|thread]" >&2; exit 2 ;;
esac
# The first word of each line that is not a comment (see the file's header).
core=()
while read -r path _; do
  [[ -z "$path" || "$path" == \#* ]] || core+=("$path")
done < src_c/sources.txt
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
# die_after_fork=0: test_fork starts threads in the child of a threaded
# process, which the pool supports and ThreadSanitizer by default refuses.
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:die_after_fork=0}
limit=()
if command -v timeout > /dev/null; then limit=(timeout "${TEST_TIMEOUT:-900}"); fi
# The core is compiled once per mode, one object per source, as many at a
# time as there are processors; each test links those objects (under the
# sanitizers, compiling the core with every test took most of the run).
objs=()
for path in "${core[@]}"; do
  obj=$out/core/${path//\//_}
  objs+=("${obj%.c}.o")
done
mkdir -p "$out/core"
jobs=$(getconf _NPROCESSORS_ONLN 2> /dev/null || echo 1)
echo "== the core ($mode, $cc): ${#core[@]} sources, $jobs at a time"
pids=() built=0
for i in "${!core[@]}"; do
  "$cc" "${flags[@]}" "${extra[@]}" -c "${core[i]}" -o "${objs[i]}" & pids+=($!)
  if ((${#pids[@]} >= jobs)); then
    wait "${pids[0]}" || built=1
    pids=("${pids[@]:1}")
  fi
done
for pid in "${pids[@]}"; do wait "$pid" || built=1; done
((built == 0)) || { echo "FAILED: the core does not compile ($mode)"; exit 1; }
shopt -s nullglob
status=0 programs=0 passed=0 failed=0
for src in tests/c/test_*.c; do
  name=$(basename "$src" .c)
  if [[ " ${SKIP:-} " == *" $name "* ]]; then
    echo "== $name: not run here: ${SKIP_WHY:-no reason given}"
    continue
  fi
  exe=$out/$name${EXE:-}
  echo "== $name ($mode, $cc${RUNNER:+, under $RUNNER})"
  started=$SECONDS
  "$cc" "${flags[@]}" "${extra[@]}" "$src" "${objs[@]}" -lm -o "$exe"
  rc=0   # the runner's status (pipefail); tr drops the \r of Windows line ends
  # A hung test fails after TEST_TIMEOUT seconds instead of holding CI.
  # Standard error is shown but kept out of the log whose last line is
  # checked: the tests print to standard output, and a runner's own message
  # (wine once wrote "wine client error:118:" after a test's summary line)
  # is not the test's result. A sanitizer's report also goes there, and
  # fails the test through its exit status.
  "${limit[@]}" "${runner[@]}" "$exe" 2> >(tr -d '\r' >&2) | tr -d '\r' | tee "$out/$name.log" ||
    rc=$?
  programs=$((programs + 1))
  if [[ "$(tail -n 1 "$out/$name.log")" =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
    passed=$((passed + BASH_REMATCH[1])) failed=$((failed + BASH_REMATCH[2]))
    if ((BASH_REMATCH[2] != 0)); then echo "FAILED: $name ($mode)"; status=1; fi
  else
    echo "FAILED: $name ($mode) did not end with \"N passed, N failed\""
    status=1
  fi
  if ((rc != 0)); then
    echo "FAILED: $name ($mode) exited with $rc"
    status=1
  fi
  echo "== $name: $((SECONDS - started)) s"
done
echo "== C tests ($mode, $cc): $programs programs, $passed passed, $failed failed"
((programs > 0)) || status=1
exit $status
