"""k steps of data-parallel SGD, for tests/test_mpi.py.

Under ``mpirun -np N python mpi_steps.py OUT`` each rank starts from its own
random weights, takes rank 0's (broadcast_parameters), then trains on its
1/N of every batch, averaging gradients with allreduce_grads before each
step, and writes its final weights and a few allreduce checks to
OUT.rank<r>.npz. test_mpi.py imports ``build`` and ``train`` to take the
same k steps in one process on the whole batches."""
import sys

import numpy as np

import pylstm
from pylstm.demo import adding_batch
from pylstm.losses import mse

T, B, H, STEPS = 9, 16, 5, 4


def build(seed):
    """A 2-layer bidirectional float64 LSTM and a Linear head on its last layer."""
    lstm = pylstm.LSTM(2, H, num_layers=2, bidirectional=True, dtype=np.float64, seed=seed)
    head = pylstm.Linear(2 * H, 1, dtype=np.float64, seed=seed + 100)
    return [lstm, head]


def batches():
    rng = np.random.default_rng(7)
    return [adding_batch(rng, T, B, np.float64)[:2] for _ in range(STEPS)]


def add_grads(modules, x, y):
    """Forward and backward of the mean squared error; returns the loss."""
    lstm, head = modules
    _, (h_n, _), cache = lstm.forward_train(x)
    pred, head_cache = head.forward_train(np.concatenate([h_n[-2], h_n[-1]], axis=1))
    loss, d_pred = mse(pred[:, 0], y)
    d_feat = head.backward(head_cache, d_pred[:, None])
    d_h_n = np.zeros_like(h_n)
    d_h_n[-2], d_h_n[-1] = d_feat[:, :H], d_feat[:, H:]
    lstm.backward(cache, None, d_h_n)
    return loss


def train(modules, part=slice(None), average=None):
    """SGD with momentum over batches(), on the sequences `part` of each."""
    opt = pylstm.SGD(modules, lr=0.5, momentum=0.9)
    for x, y in batches():
        opt.zero_grad()
        add_grads(modules, x[:, part], y[part])
        if average is not None:
            average(modules)
        opt.step()
    return modules


def main(out):
    from mpi4py import MPI

    from pylstm.distributed import allreduce_grads, broadcast_parameters

    comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
    modules = build(seed=rank)          # different on every rank until the broadcast
    bad_root = ""
    try:
        broadcast_parameters(modules, root=size)
    except ValueError as e:
        bad_root = str(e)
    broadcast_parameters(modules)
    share = B // size
    train(modules, slice(rank * share, (rank + 1) * share), allreduce_grads)
    state = {f"lstm.{k}": v for k, v in modules[0].state_dict().items()}
    state.update({f"head.{k}": v for k, v in modules[1].state_dict().items()})
    # float32 and mixed dtypes, a single module and plain arrays
    cell = pylstm.LSTMCell(3, 2, seed=rank)
    for g in cell.grads.values():
        g[...] = rank + 1
    allreduce_grads(cell)
    arrays = [np.full((2, 3), rank + 1, np.float32), np.arange(4.0) * (rank + 1)]
    allreduce_grads(arrays)
    cell_grads = np.concatenate([g.ravel() for g in cell.grads.values()])
    np.savez(f"{out}.rank{rank}.npz", **state, cell_grads=cell_grads, a32=arrays[0],
             a64=arrays[1], bad_root=bad_root)


if __name__ == "__main__":
    main(sys.argv[1])
