"""The version has one source, the PYLSTM_VERSION_* macros of pylstm.h: the
package metadata (setup.py parses them), pylstm.__version__ and the C
library's pylstm_version() / pylstm_version_number() must agree."""
import importlib.metadata
import os
import re

import pylstm
from pylstm import _core


def test_version_string_and_number_from_the_c_library_agree():
    assert re.fullmatch(r"\d+\.\d+\.\d+", pylstm.__version__), pylstm.__version__
    major, minor, patch = (int(p) for p in pylstm.__version__.split("."))
    assert minor < 100 and patch < 100  # what MAJOR*10000 + MINOR*100 + PATCH can hold
    assert _core._version_number == major * 10000 + minor * 100 + patch


HEADER = os.path.join(os.path.dirname(__file__), "..", "src_c", "include", "pylstm.h")


def header_version():
    """"MAJOR.MINOR.PATCH" from the header's macros, read as setup.py reads them."""
    with open(HEADER, encoding="utf-8") as f:
        text = f.read()
    return ".".join(re.search(rf"^#define PYLSTM_VERSION_{part} (\d+)$", text, re.M).group(1)
                    for part in ("MAJOR", "MINOR", "PATCH"))


def test_installed_metadata_matches_the_c_library():
    # An installed package is compared with its metadata (every installed run,
    # CI and the wheel tests, sets PYLSTM_TEST_INSTALLED, so it must have some);
    # an in-place build has none, and is compared with the header's macros, the
    # numbers setup.py would write into the metadata.
    try:
        want = importlib.metadata.version("pylstm")
    except importlib.metadata.PackageNotFoundError:
        assert not os.environ.get("PYLSTM_TEST_INSTALLED"), \
            "PYLSTM_TEST_INSTALLED is set but pylstm has no installed metadata"
        want = header_version()
    assert want == pylstm.__version__
