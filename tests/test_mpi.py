"""pylstm.distributed under `mpirun -np 2`: k steps of SGD with half of every
batch on each rank end at the weights of k steps on whole batches in one
process (the averaged half-batch gradient is the whole batch's gradient)."""
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("mpi4py", reason="needs mpi4py: pip install .[mpi]")
MPIRUN = shutil.which("mpirun")
pytestmark = pytest.mark.skipif(MPIRUN is None, reason="needs mpirun (Debian: openmpi-bin)")

import mpi_steps  # noqa: E402  (tests/ is on sys.path, as for conftest)


def mpirun(np_, *args):
    """mpirun's command line; as root Open MPI wants its consent, and two ranks
    may be more than the slots it counts on a small machine."""
    cmd = [MPIRUN, "-np", str(np_), "--oversubscribe"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-run-as-root")
    return cmd + list(args)


def test_two_ranks_with_half_batches_take_the_whole_batch_steps(tmp_path):
    out = str(tmp_path / "weights")
    # containers often forbid the cross-memory attach Open MPI's shared-memory
    # transport uses for large messages: copy through the shared segment
    env = dict(os.environ, PYLSTM_NUM_THREADS="1",
               OMPI_MCA_btl_vader_single_copy_mechanism="none")
    run = subprocess.run(mpirun(2, sys.executable, mpi_steps.__file__, out), env=env,
                         cwd=os.path.dirname(__file__), capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    ranks = [dict(np.load(f"{out}.rank{r}.npz")) for r in range(2)]
    # the ranks agree bit for bit: same reduced gradients, same steps
    assert ranks[0].keys() == ranks[1].keys()
    for k in ranks[0]:
        np.testing.assert_array_equal(ranks[0][k], ranks[1][k], err_msg=k)
    lstm, head = mpi_steps.train(mpi_steps.build(seed=0))  # rank 0's start, whole batches
    want = {f"lstm.{k}": v for k, v in lstm.state_dict().items()}
    want.update({f"head.{k}": v for k, v in head.state_dict().items()})
    start = mpi_steps.build(seed=0)[0].state_dict()
    moved = max(np.abs(want[f"lstm.{k}"] - v).max() for k, v in start.items())
    assert moved > 1e-2  # the steps did change the weights
    err = max(np.abs(ranks[0][k] - v).max() for k, v in want.items())
    assert err < 1e-6, f"largest weight difference {err:.3g}"
    print(f"MPI vs one process: largest weight difference {err:.3g} after "
          f"{mpi_steps.STEPS} steps")
    # float32 and float64 gradients (module and plain arrays) averaged in place
    np.testing.assert_array_equal(ranks[0]["cell_grads"], np.float32(1.5))
    assert ranks[0]["cell_grads"].dtype == np.float32
    np.testing.assert_array_equal(ranks[0]["a32"], np.full((2, 3), 1.5, np.float32))
    np.testing.assert_array_equal(ranks[0]["a64"], np.arange(4.0) * 1.5)
    assert str(ranks[0]["bad_root"]) == "root: expected a rank in 0..1, got 2"


def test_bad_arguments_are_named_before_mpi_starts():
    # (checked before mpi4py.MPI is imported: importing it starts MPI in this process)
    from pylstm.distributed import allreduce_grads, broadcast_parameters
    with pytest.raises(TypeError, match="model_or_params: expected a pylstm module"):
        allreduce_grads("lstm")
    with pytest.raises(TypeError, match=r"model_or_params\[0\]: expected a writable float32"):
        allreduce_grads([np.zeros(3, np.int64)])
    with pytest.raises(TypeError, match="model_or_params: expected a pylstm module"):
        broadcast_parameters([object()])
    assert "mpi4py.MPI" not in sys.modules
