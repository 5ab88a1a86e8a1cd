"""Shared helpers of the test suite.

torch is the reference of the parity tests only; they skip with a reason when
it is not installed (pip install .[test] brings it)."""
import numpy as np
import pytest


def torch_or_skip():
    return pytest.importorskip("torch", reason="torch is the reference: pip install .[test]")


def max_err(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    return float(np.max(np.abs(a - b))) if a.size else 0.0


# (atol for values, atol for gradients) per dtype: float64 must agree to
# rounding, float32 to what float32 accumulation allows.
TOL = {np.float64: (1e-10, 1e-9), np.float32: (2e-5, 1e-4)}
