#!/usr/bin/env bash
# Other CPUs and platforms, emulated on an x86-64 Debian machine (.ci/run
# calls this; it installs what it lacks with apt-get, so run it as root there):
#  1. the x86-64 dispatch floor: the tests in which the C core computes (see
#     cpu_tests below), without torch, on the installed package, with Python
#     itself run by qemu-user as a Nehalem (SSE4.2, no AVX: the reference
#     kernel) and as a Haswell (AVX2 + FMA: the avx2 kernel); qemu 7.2
#     emulates no AVX-512, the native runs cover it;
#  2. aarch64: the C tests cross-compiled, run by qemu-aarch64 (NEON kernel),
#     and gcc and clang builds computing the same bits;
#  3. Windows: the C tests cross-compiled with MinGW-w64 (Win32 threads), run
#     by wine (no display needed: they are console programs).
# Every step says what it checks; any failure ends the script with status 1.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
started=$(date +%s)
unset PYLSTM_KERNEL   # each run below must pick its kernel by CPU detection

# Each step's wall time, and the CPU time of the processes it ran (a busy
# machine stretches the first, not the second): the user + system clock ticks
# of this shell's finished children, fields 16 and 17 of /proc/PID/stat.
child_ticks() { local st; read -r -a st < /proc/$$/stat; echo $((st[15] + st[16])); }
step() { echo; echo "==== $*"; step_started=$(date +%s) step_ticks=$(child_ticks); }
step_done() {
  echo "==== done in $(($(date +%s) - step_started)) s" \
    "(CPU $((($(child_ticks) - step_ticks) / $(getconf CLK_TCK))) s)"
}
fail() { echo "FAILED: $*" >&2; exit 1; }

work=$(mktemp -d)
cleanup() {
  if [[ -n "${WINEPREFIX:-}" ]]; then wineserver -k 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

step "Debian packages: qemu-user, aarch64 and MinGW-w64 cross compilers, wine, clang"
packages=()
command -v qemu-x86_64 > /dev/null || packages+=(qemu-user)
command -v aarch64-linux-gnu-gcc > /dev/null ||
  packages+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross)   # libc6-dev: for -static
command -v x86_64-w64-mingw32-gcc-win32 > /dev/null || packages+=(gcc-mingw-w64-x86-64-win32)
command -v wine > /dev/null || packages+=(wine wine64)
command -v clang > /dev/null || packages+=(clang)
if ((${#packages[@]})); then
  echo "installing ${packages[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${packages[@]}"
else
  echo "all present"
fi
qemu-x86_64 --version | head -n 1
step_done

step "x86-64: a virtual environment with pylstm installed and the suite's optional packages but torch and keras"
venv=$work/venv
python3 -m venv "$venv"
"$venv/bin/pip" install -q . pytest hypothesis safetensors scikit-learn matplotlib
"$venv/bin/pip" list 2> /dev/null | grep -iE '^(numpy|pytest|hypothesis|safetensors|scikit-learn|scipy|matplotlib|pylstm) '
host_kernel=$(cd "$work" && "$venv/bin/python" -c 'import pylstm; print(pylstm.gemm_kernel())')
echo "kernel on this machine's CPU: $host_kernel"
step_done

# Python as CPU $2, named python-$1 in the venv's bin/. qemu-user emulates
# only the process it starts, so -0 makes argv[0], hence sys.executable, this
# script: the tests' subprocesses (benchmarks/bench.py, the start methods of
# test_fork) are emulated too.
# Being in bin/, it finds the venv's pyvenv.cfg like bin/python does.
emulated_python() {
  cat > "$venv/bin/python-$1" << EOF
#!/bin/sh
exec qemu-x86_64 -cpu $2 -0 "\$0" "\$(dirname "\$0")/python" "\$@"
EOF
  chmod +x "$venv/bin/python-$1"
}

# Run by each emulated Python: NumPy's own CPU detection sees the features the
# emulated CPU has (argument 2), NumPy computes, and pylstm, the installed one,
# picks kernel argument 1, also in a subprocess of sys.executable.
check_cpu=$(cat << 'EOF'
import subprocess, sys
import numpy as np, pylstm
try:
    from numpy._core._multiarray_umath import __cpu_baseline__, __cpu_features__
except ImportError:  # NumPy 1.x
    from numpy.core._multiarray_umath import __cpu_baseline__, __cpu_features__
want_kernel, want_features = sys.argv[1], dict(f.split("=") for f in sys.argv[2].split())
print(f"python {sys.version.split()[0]} as {sys.executable}")
print(f"numpy {np.__version__}: baseline {' '.join(__cpu_baseline__)}; sees "
      + " ".join(f"{f}={int(__cpu_features__[f])}" for f in want_features))
assert all(__cpu_features__[f] == (v == "1") for f, v in want_features.items()), \
    "NumPy's CPU detection disagrees with the emulated CPU"
a = np.linspace(-1, 1, 12).reshape(3, 4)
assert np.allclose(a @ a.T, np.einsum("ik,jk->ij", a, a)), "NumPy computes wrongly"
print(f"pylstm {pylstm.__file__}")
assert pylstm.__file__.startswith(sys.prefix), "not the installed pylstm"
kernel = pylstm.gemm_kernel()
child = subprocess.run([sys.executable, "-c", "import pylstm; print(pylstm.gemm_kernel())"],
                       capture_output=True, text=True, check=True)
print(f"pylstm kernel: {kernel}; in a subprocess: {child.stdout.strip()}")
assert kernel == want_kernel and child.stdout.strip() == want_kernel and not child.stderr
EOF
)

# What the CPU changes is the kernel the core picks and the instructions it
# runs, so the emulated runs take the test files in which the C core computes:
# the LSTM, its cell, gates and stream against the NumPy reference and finite
# differences, dropout between layers, 1 and 2 threads, fork, the C model
# handle and file reader, bench.py's kernel caps, and the property tests (a
# batch against its rows, lengths = T against none: the kernels' edge tiles).
# The rest of the suite (argument checks, scikit-learn conformance, training
# controls, NumPy-only layers, losses and optimisers) does not depend on the
# CPU; it runs natively with every kernel (PYLSTM_KERNEL=ref and avx2 in
# .ci/run). The whole suite under qemu took 40 minutes; these files take
# about 3 to 7.
cpu_tests=(lstm_reference cell_reference gates gradcheck stream dropout threads fork
  handle io bench properties)
cpu_tests=("${cpu_tests[@]/#/$repo/tests/test_}")
cpu_tests=("${cpu_tests[@]/%/.py}")

# Features qemu (TCG) cannot emulate make it print a warning on stderr for
# each process, which tests that expect a quiet stderr would take for output;
# the features dropped here are system-level ones user code never sees.
cpus=(Nehalem "Haswell,-pcid,-x2apic,-tsc-deadline,-invpcid,-hle,-rtm")
kernels=(ref avx2)
numpy_features=("AVX=0 AVX2=0 FMA3=0 SSE42=1 POPCNT=1" "AVX=1 AVX2=1 FMA3=1 F16C=1")
for i in 0 1; do
  cpu=${cpus[i]} name=${cpus[i]%%,*}
  name=${name,,}
  step "x86-64 as $name (qemu-x86_64 -cpu $cpu): NumPy runs, pylstm picks '${kernels[i]}', the core's tests pass"
  emulated_python "$name" "$cpu"
  warnings=$(qemu-x86_64 -cpu "$cpu" /bin/true 2>&1)
  [[ -z "$warnings" ]] || fail "qemu warns for -cpu $cpu (drop those features): $warnings"
  # Outside the source tree, so that `import pylstm` is the installed package.
  (cd "$work" && "$venv/bin/python-$name" -c "$check_cpu" "${kernels[i]}" "${numpy_features[i]}") ||
    fail "NumPy or the kernel choice under $name"
  # qemu 7.2's TCG miscomputes (or crashes in) NumPy's AVX2 float64 kernels on
  # strided input, e.g. np.tanh(a[:, 2:3]): the NumPy reference of the tests
  # then disagrees with pylstm, whose own results match plain Python math.
  # NumPy's dispatch above its baseline is switched off for the emulated runs;
  # pylstm detects and uses the CPU's features as ever (checked above).
  npy_off=$(cd "$work" && "$venv/bin/python-$name" -c \
    'from numpy._core._multiarray_umath import __cpu_dispatch__ as d, __cpu_features__ as f
print(" ".join(x for x in d if f.get(x)))')
  echo "NumPy dispatch switched off for the tests: ${npy_off:-none}"
  (cd "$work" && NPY_DISABLE_CPU_FEATURES="$npy_off" \
    "$venv/bin/python-$name" -m pytest -q -p no:cacheprovider "${cpu_tests[@]}") ||
    fail "pytest under $name"
  step_done
done

# test_gemm prints the kernel the CPU detection chose ("default kernel: X,
# ...") and "kernel X: done" for each kernel it checked against the reference.
expect_kernel() { # log kernel
  grep -q "^default kernel: $2," "$1" || fail "the default kernel is not $2: $(grep '^default kernel' "$1")"
  grep -q "^kernel $2: done" "$1" || fail "test_gemm did not test the $2 kernel"
  echo "default kernel $2, tested against the reference"
}

step "aarch64: the C tests, cross-compiled (static), under qemu-aarch64; the NEON kernel is chosen"
# test_fork is left out: qemu-user (7.2) itself aborts with an assertion in its
# TCG code when a forked child of a threaded process starts a thread, which a
# 15-line program without pylstm reproduces; natively it runs in `run.sh plain`.
SKIP=test_fork SKIP_WHY="qemu-user aborts in fork() after threads (an emulator bug)" \
CC=aarch64-linux-gnu-gcc EXTRA_FLAGS=-static RUNNER=qemu-aarch64 tests/c/run.sh plain |
  tee "$work/aarch64.log" || fail "C tests on aarch64"
expect_kernel "$work/aarch64.log" neon
step_done

step "aarch64: gcc and clang builds compute the same bits (tests/c/fingerprint.c, NEON and ref)"
# What the Linux aarch64 wheels (gcc) and the macOS arm64 ones (clang) do
# with the same kernel; NEON has FMA in its baseline, so a contracting build
# would differ here in every case.
for cc in gcc clang; do
  case $cc in
    gcc) compile=(aarch64-linux-gnu-gcc) ;;
    clang) compile=(clang --target=aarch64-linux-gnu --sysroot=/usr/aarch64-linux-gnu) ;;
  esac
  "${compile[@]}" -std=c99 -O2 -pthread -static -Wall -Wextra -pedantic -Werror \
    -Isrc_c/include -Isrc_c tests/c/fingerprint.c src_c/*.c -lm -o "$work/fingerprint-$cc" ||
    fail "fingerprint with $cc for aarch64"
done
.ci/same_bits.sh qemu-aarch64 "$work/fingerprint-gcc" "$work/fingerprint-clang" neon ref ||
  fail "aarch64: gcc and clang builds compute different results"
step_done

step "Windows: the C tests, cross-compiled with MinGW-w64 (Win32 threads, static), under wine"
export WINEPREFIX=$work/wine WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
unset DISPLAY   # headless: console programs need no display
wineboot -i > /dev/null 2>&1 || fail "wineboot could not create $WINEPREFIX"
CC=x86_64-w64-mingw32-gcc-win32 EXTRA_FLAGS=-static RUNNER=wine EXE=.exe tests/c/run.sh plain |
  tee "$work/windows.log" || fail "C tests on Windows (wine)"
expect_kernel "$work/windows.log" "$host_kernel"   # wine runs the code on this CPU
step_done

echo
echo "emulation checks passed in $(($(date +%s) - started)) s" \
  "(CPU $(($(child_ticks) / $(getconf CLK_TCK))) s)"
