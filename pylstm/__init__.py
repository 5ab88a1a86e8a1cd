"""pylstm: a fast LSTM with a portable C99 core and PyTorch's numbers.

    >>> import numpy as np, pylstm
    >>> lstm = pylstm.LSTM(8, 16, seed=0)
    >>> out, (h_n, c_n) = lstm(np.zeros((5, 2, 8), np.float32))
    >>> out.shape, h_n.shape
    ((5, 2, 16), (1, 2, 16))
"""

from . import losses, optim, plot  # pylstm.losses.mse, pylstm.plot.gates, ...
from ._core import __version__, gemm_kernel, get_num_threads, set_num_threads
from .cell import LSTMCell
from .estimators import LSTMClassifier, LSTMRegressor
from .io import load, save
from .layers import Linear
from .lstm import LSTM
from .optim import SGD, Adam, clip_grad_norm
from .preprocessing import SequenceScaler

__all__ = ["LSTM", "LSTMCell", "__version__", "load", "save", "set_num_threads",
           "get_num_threads", "gemm_kernel"]
__all__ += ["Linear", "SGD", "Adam", "clip_grad_norm", "LSTMRegressor", "LSTMClassifier",
            "SequenceScaler", "losses", "optim", "plot"]


def _default_threads():
    """The cores this process may use (PYLSTM_NUM_THREADS overrides).

    A value that is not an integer in 1..64 must not stop `import pylstm`
    (a typo in a job script would break every program using it): it is
    ignored, or clamped into range, with a RuntimeWarning naming it."""
    import os
    import warnings

    env = os.environ.get("PYLSTM_NUM_THREADS")
    if env is not None and env.strip():
        try:
            n = int(env)
        except ValueError:
            warnings.warn(f"PYLSTM_NUM_THREADS: expected an integer 1..64, got {env!r}; "
                          "using the default (the cores this process may use)",
                          RuntimeWarning, stacklevel=3)
        else:
            if not 1 <= n <= 64:
                warnings.warn(f"PYLSTM_NUM_THREADS: expected an integer 1..64, got {env!r}; "
                              f"using {max(1, min(64, n))}", RuntimeWarning, stacklevel=3)
            return max(1, min(64, n))
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        n = os.cpu_count() or 1
    return max(1, min(64, n))


set_num_threads(_default_threads())
