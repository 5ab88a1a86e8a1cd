"""The version has one source, the PYLSTM_VERSION_* macros of pylstm.h: the
package metadata (setup.py parses them), pylstm.__version__ and the C
library's pylstm_version() / pylstm_version_number() must agree."""
import importlib.metadata
import os
import re

import pytest

import pylstm
from pylstm import _core


def test_version_string_and_number_from_the_c_library_agree():
    assert re.fullmatch(r"\d+\.\d+\.\d+", pylstm.__version__), pylstm.__version__
    major, minor, patch = (int(p) for p in pylstm.__version__.split("."))
    assert minor < 100 and patch < 100  # what MAJOR*10000 + MINOR*100 + PATCH can hold
    assert _core._version_number == major * 10000 + minor * 100 + patch


def test_installed_metadata_matches_the_c_library():
    # An in-place build has no metadata; every installed run (CI, the wheel
    # tests) sets PYLSTM_TEST_INSTALLED so the comparison cannot be skipped.
    try:
        installed = importlib.metadata.version("pylstm")
    except importlib.metadata.PackageNotFoundError:
        if os.environ.get("PYLSTM_TEST_INSTALLED"):
            pytest.fail("PYLSTM_TEST_INSTALLED is set but pylstm has no installed metadata")
        pytest.skip("pylstm is not installed (in-place build): no package metadata to compare")
    assert installed == pylstm.__version__
