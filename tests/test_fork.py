"""The C thread pool across processes: a model run in a multiprocessing child
(fork, forkserver and spawn start methods) gives the parent's result bit for
bit, after the parent's pool ran with 2 threads. With fork the child inherits
the parent's pool state without its worker threads; before the core reset the
pool in the child (pthread_atfork) its first parallel call hung, which here is
a timeout. POSIX only: Windows has spawn alone, which the rest of the suite
already exercises."""
import multiprocessing as mp
import sys

import numpy as np
import pytest

import pylstm

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="fork and forkserver are POSIX")

# Big enough that at 2 threads the core splits the input projection and every
# step between threads.
I, H, T, B = 40, 96, 50, 8


def _model_and_input():
    model = pylstm.LSTM(I, H, num_layers=2, bidirectional=True, seed=3)
    x = np.random.default_rng(3).standard_normal((T, B, I)).astype(np.float32)
    return model, x


def _run_in_child(state, x):
    """What the child computes: its thread count and the model's output."""
    model = pylstm.LSTM(I, H, num_layers=2, bidirectional=True)
    model.load_state_dict(state)
    y, (h, c) = model(x)
    return pylstm.get_num_threads(), y, h, c


# The start methods this platform has (all three on Linux), so none is
# collected only to be skipped.
@pytest.mark.parametrize("method", [m for m in ("fork", "forkserver", "spawn")
                                    if m in mp.get_all_start_methods()])
def test_child_process_computes_what_the_parent_does(method):
    old = pylstm.get_num_threads()
    try:
        pylstm.set_num_threads(2)
        model, x = _model_and_input()
        y, (h, c) = model(x)  # the parent's pool has run jobs before the fork
        with mp.get_context(method).Pool(1) as pool:
            threads, y2, h2, c2 = pool.apply_async(_run_in_child, (model.state_dict(), x)).get(
                timeout=120)
        if method == "fork":
            assert threads == 2  # inherited, and its workers re-created in the child
        assert np.array_equal(y, y2)
        assert np.array_equal(h, h2)
        assert np.array_equal(c, c2)
    finally:
        pylstm.set_num_threads(old)
