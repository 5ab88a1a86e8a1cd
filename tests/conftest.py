"""Shared helpers of the test suite.

Numeric tests compare pylstm with a reference that could disagree: the NumPy
recomputation of the equations in tests/reference.py always, and torch as well
when it is installed (pip install .[test] brings it). The `ref` parameter says
which; its "torch" cases are only collected when torch is importable, so a
suite without torch (the wheel tests) still checks every number."""
import importlib.util

import numpy as np
import pytest

HAVE_TORCH = importlib.util.find_spec("torch") is not None

# The references every parity test runs against: "numpy" always, "torch" too
# when installed.
REFERENCES = ["numpy"] + (["torch"] if HAVE_TORCH else [])


def pytest_report_header(config):
    if HAVE_TORCH:
        return "numeric references: numpy (tests/reference.py) and torch"
    return "numeric references: numpy (tests/reference.py); torch cross-checks not collected"


def torch_or_skip():
    """torch, or a skip when it is not installed."""
    torch = pytest.importorskip("torch", reason="needs torch: pip install .[test]")
    # The suite's shapes are tiny: torch's intra-op threads only spin, and on a
    # busy machine that made the torch cases many times slower.
    if torch.get_num_threads() != 1:
        torch.set_num_threads(1)
    return torch


def max_err(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    return float(np.max(np.abs(a - b))) if a.size else 0.0


def central_difference(loss, arr, idx, eps=1e-6):
    """(loss(arr[idx] + eps) - loss(arr[idx] - eps)) / 2eps, arr changed in
    place and restored; loss() reads arr."""
    old = arr[idx]
    arr[idx] = old + eps
    up = loss()
    arr[idx] = old - eps
    down = loss()
    arr[idx] = old
    return (up - down) / (2 * eps)


# (atol for values, atol for gradients) per dtype: float64 must agree to
# rounding, float32 to what float32 accumulation allows.
TOL = {np.float64: (1e-10, 1e-9), np.float32: (2e-5, 1e-4)}


def sample(model, seed=0, T=5, B=3):
    """A seeded time-major input (T, B, input_size) in the model's dtype."""
    x = np.random.default_rng(seed).standard_normal((T, B, model.input_size))
    return x.astype(model.dtype)
