"""Build of pylstm: the C core as a static library with its own flags, and the
Cython extension pylstm._core linked against it.

The core is compiled for the platform's baseline ISA only (no flag that targets
the build machine or turns on AVX for the whole build): the fast kernels select
themselves at run time and carry per-function target attributes.
"""
import glob
import sys

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


class BuildExt(build_ext):
    """Builds the core library first, also for `setup.py build_ext --inplace`."""

    def run(self):
        self.run_command("build_clib")
        super().run()


if sys.platform == "win32":
    core_cflags = ["/O2"]
else:
    # -g0: no debug information in the wheel (Python's own flags ask for -g),
    # which keeps the wheel well under 1 MB.
    core_cflags = ["-std=c99", "-O3", "-g0", "-fPIC", "-pthread", "-fvisibility=hidden", "-Wall",
                   "-Wextra"]

core = (
    "pylstm_core",
    {
        "sources": sorted(glob.glob("src_c/*.c")),
        "include_dirs": ["src_c/include", "src_c"],
        "cflags": core_cflags,
    },
)

ext = Extension(
    "pylstm._core",
    sources=["pylstm/_core.pyx"],
    include_dirs=["src_c/include", numpy.get_include()],
    define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
    libraries=[] if sys.platform == "win32" else ["m"],
    extra_compile_args=[] if sys.platform == "win32" else ["-g0"],
    extra_link_args=["-s"] if sys.platform.startswith("linux") else [],
)

setup(
    libraries=[core],
    cmdclass={"build_ext": BuildExt},
    ext_modules=cythonize([ext], language_level=3, compiler_directives={"embedsignature": True}),
)
