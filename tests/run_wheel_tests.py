"""Runs the test suite against the installed pylstm, twice: with the kernels
this CPU selects, then with PYLSTM_KERNEL=ref (the portable C kernel).

    python path/to/tests/run_wheel_tests.py path/to/tests [pytest options]

cibuildwheel's test command and .ci/package.sh call it. The environment is
set here, in Python, so the command needs no shell quoting (Windows runs it
with cmd.exe, which keeps single quotes literally). Tests that need torch,
keras or other optional packages skip when they are absent. Exits non-zero
if either run fails, or if `import pylstm` would not load the installed
package (a source tree on the path would shadow the wheel under test).
"""
import os
import subprocess
import sys
import tempfile

# One value per line: the path may hold spaces.
PROBE = ("import os, pylstm; "
         "print(os.path.realpath(pylstm.__file__), pylstm.__version__, pylstm.gemm_kernel(), "
         "sep=chr(10))")


def run(args, env, cwd):
    print("+", " ".join(args), flush=True)
    return subprocess.call(args, env=env, cwd=cwd)


def main(argv):
    tests = os.path.realpath(argv[1] if len(argv) > 1 else os.path.dirname(__file__))
    source_root = os.path.dirname(tests)
    # A neutral working directory: `python -m` puts the current one first on
    # sys.path, and the source tree's pylstm/ (without the compiled _core)
    # must not be what gets imported.
    cwd = tempfile.mkdtemp(prefix="pylstm-wheel-tests-")
    failed = 0
    for kernel in (None, "ref"):
        env = dict(os.environ, PYLSTM_TEST_INSTALLED="1")
        env.pop("PYLSTM_KERNEL", None)
        if kernel:
            env["PYLSTM_KERNEL"] = kernel
        probe = subprocess.run([sys.executable, "-c", PROBE], env=env, cwd=cwd,
                               capture_output=True, text=True)
        print(probe.stdout + probe.stderr, end="", flush=True)
        if probe.returncode != 0:
            return 1
        where, _, chosen = probe.stdout.splitlines()
        if where.startswith(source_root + os.sep):
            print(f"pylstm is imported from the source tree ({where}), not the installed wheel")
            return 1
        if kernel and chosen != kernel:
            print(f"PYLSTM_KERNEL={kernel} but the library chose {chosen}")
            return 1
        failed |= run([sys.executable, "-m", "pytest", tests, "-q", "-p", "no:cacheprovider",
                       *argv[2:]], env, cwd) != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
