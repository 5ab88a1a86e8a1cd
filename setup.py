"""Build of pylstm: the C core as static libraries with their own flags, and the
Cython extension pylstm._core linked against them.

The core's files are listed in src_c/sources.txt, the list CMake reads too.
They are compiled for the platform's baseline ISA only (no flag that targets
the build machine or turns on AVX for the whole build): the fast kernels are
chosen at run time. gcc and clang compile every file alike, the kernels
carrying per-function target attributes; MSVC has no such attributes, so the
files sources.txt tags avx2 or avx512 become libraries of their own, compiled
with /arch:AVX2 or /arch:AVX512.

The package's version is the C header's PYLSTM_VERSION_MAJOR.MINOR.PATCH.
"""
import glob
import re

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_clib import build_clib
from setuptools.command.build_ext import build_ext

HEADER = "src_c/include/pylstm.h"
SOURCES = "src_c/sources.txt"
CORE_INCLUDE_DIRS = ["src_c/include", "src_c"]

# -g0: no debug information in the wheel (Python's own flags ask for -g),
# which keeps the wheel well under 1 MB. -ffp-contract=off: no fused
# multiply-adds the code did not ask for, so that gcc and clang (the macOS
# wheels) build the same kernel to the same results (src_c/common.h).
GCC_CFLAGS = ["-std=c99", "-O3", "-g0", "-fPIC", "-pthread", "-fvisibility=hidden", "-Wall",
              "-Wextra", "-ffp-contract=off"]
# /GL-: no whole-program optimization for the core, so that link-time code
# generation can never inline a function compiled with /arch:AVX2 or AVX512
# into one that runs before the CPU check. _CRT_SECURE_NO_WARNINGS: the core
# uses standard C (fopen, getenv), not Microsoft's *_s variants.
MSVC_CFLAGS = ["/O2", "/GL-", "/D_CRT_SECURE_NO_WARNINGS"]
# The MSVC flag for each ISA tag of sources.txt (x86 only: on ARM64 the
# tagged files compile to nothing).
MSVC_ARCH = {"avx2": "/arch:AVX2", "avx512": "/arch:AVX512"}


def read_version():
    """"MAJOR.MINOR.PATCH" from the PYLSTM_VERSION_* macros of the C header."""
    with open(HEADER, encoding="utf-8") as f:
        text = f.read()
    parts = []
    for part in ("MAJOR", "MINOR", "PATCH"):
        m = re.search(rf"^#define PYLSTM_VERSION_{part} (\d+)$", text, re.MULTILINE)
        if not m:
            raise SystemExit(f"{HEADER}: no '#define PYLSTM_VERSION_{part} <number>' line")
        parts.append(m.group(1))
    return ".".join(parts)


def read_sources():
    """[(path, isa tag or None)] from src_c/sources.txt (format in its header)."""
    files = []
    with open(SOURCES, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            words = line.split("#", 1)[0].split()
            if not words:
                continue
            if len(words) > 2 or (len(words) == 2 and words[1] not in MSVC_ARCH):
                raise SystemExit(f"{SOURCES}:{number}: expected 'path [{'|'.join(MSVC_ARCH)}]',"
                                 f" got {line.strip()!r}")
            files.append((words[0], words[1] if len(words) == 2 else None))
    return files


def core_headers():
    """Every header of the core: a change to one rebuilds all of its objects
    and relinks the extension (setuptools tracks only the .c files, so an
    in-place rebuild after editing, say, layer_impl.h kept the old code)."""
    return sorted(glob.glob("src_c/*.h") + glob.glob("src_c/include/*.h"))


def core_libraries(compiler_type, plat_name):
    """The core as setuptools library entries (name, build_info) for a compiler
    and a target platform (e.g. "win-amd64", "win-arm64", "linux-x86_64")."""
    files = read_sources()

    def library(name, sources, cflags):
        return (name, {"sources": sources, "include_dirs": CORE_INCLUDE_DIRS, "cflags": cflags,
                       "obj_deps": {"": core_headers()}})

    if compiler_type != "msvc":
        return [library("pylstm_core", [path for path, _ in files], GCC_CFLAGS)]
    if plat_name not in ("win-amd64", "win32"):
        return [library("pylstm_core", [path for path, _ in files], MSVC_CFLAGS)]
    libraries = [library("pylstm_core", [path for path, isa in files if isa is None], MSVC_CFLAGS)]
    for isa, arch in MSVC_ARCH.items():
        tagged = [path for path, tag in files if tag == isa]
        if tagged:
            libraries.append(library(f"pylstm_core_{isa}", tagged, MSVC_CFLAGS + [arch]))
    return libraries


class BuildClib(build_clib):
    """Builds the core's libraries for the compiler in use, known only here;
    build_ext then links the names this leaves in self.libraries."""

    def build_libraries(self, libraries):
        plat_name = self.get_finalized_command("build").plat_name
        self.libraries = core_libraries(self.compiler.compiler_type, plat_name)
        super().build_libraries(self.libraries)


class BuildExt(build_ext):
    """Builds the core library first, also for `setup.py build_ext --inplace`."""

    def run(self):
        self.run_command("build_clib")
        super().run()

    def build_extensions(self):
        # self.compiler.libraries holds the core's libraries now. libm goes
        # after them, since they are what needs it: with --as-needed (the
        # default of several distributions) a library named before the objects
        # using it is dropped, leaving the extension without a libm NEEDED.
        if self.compiler.compiler_type != "msvc":
            self.compiler.set_libraries(self.compiler.libraries + ["m"])
            for ext in self.extensions:
                ext.extra_compile_args = ext.extra_compile_args + ["-g0"]
                ext.extra_link_args = ext.extra_link_args + ["-pthread"]
                if self.plat_name.startswith("linux"):
                    ext.extra_link_args.append("-s")
        super().build_extensions()


ext = Extension(
    "pylstm._core",
    sources=["pylstm/_core.pyx"],
    # relink when the core changes (it is a static library setuptools does not
    # track)
    depends=[path for path, _ in read_sources()] + core_headers(),
    include_dirs=["src_c/include", numpy.get_include()],
    # NumPy 2 at build time, NumPy >= 1.23 at run time (pyproject's dependency).
    define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION"),
                   ("NPY_TARGET_VERSION", "NPY_1_23_API_VERSION")],
)

setup(
    version=read_version(),
    # Replaced by BuildClib with the list for the compiler in use.
    libraries=core_libraries(None, None),
    cmdclass={"build_clib": BuildClib, "build_ext": BuildExt},
    ext_modules=cythonize([ext], language_level=3, compiler_directives={"embedsignature": True}),
)
