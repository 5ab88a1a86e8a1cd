"""Data-parallel training over MPI: the adding problem (see pylstm/demo.py) on
several processes, each computing the gradients of its share of every batch.

    mpirun -np 2 python examples/mpi_train.py [--steps 800] [--T 50]

(as root Open MPI also wants --allow-run-as-root). Every rank draws the same
batches from one seed and keeps its slice; pylstm.distributed averages the
gradients across the ranks before each step, so all ranks hold the same
weights throughout, and rank 0 prints the loss of the whole batch. Needs
mpi4py (pip install "pylstm[mpi]"), which builds against an MPI library
(Debian: apt-get install openmpi-bin libopenmpi-dev).
"""

import argparse
import time

import numpy as np
from mpi4py import MPI

import pylstm
from pylstm.demo import BASELINE_MSE, AddingModel, adding_batch
from pylstm.distributed import allreduce_grads, broadcast_parameters


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--T", type=int, default=50, help="sequence length (default 50)")
    p.add_argument("--steps", type=int, default=800, help="training steps (default 800)")
    p.add_argument("--batch-size", type=int, default=64,
                   help="sequences per step over all ranks (default 64)")
    p.add_argument("--hidden", type=int, default=64, help="LSTM hidden size (default 64)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
    if args.batch_size % size:
        raise SystemExit(f"--batch-size: {args.batch_size} does not split into {size} equal "
                         "shares (equal shares make the mean of the ranks' losses the "
                         "whole batch's)")
    share = slice(rank * args.batch_size // size, (rank + 1) * args.batch_size // size)
    # the ranks on one machine share its cores (pylstm takes them all by default)
    on_this_machine = comm.Split_type(MPI.COMM_TYPE_SHARED).Get_size()
    pylstm.set_num_threads(max(1, pylstm.get_num_threads() // on_this_machine))

    model = AddingModel(args.hidden, seed=args.seed + rank)  # different until the broadcast
    broadcast_parameters(model.modules)                      # rank 0's initial weights
    opt = pylstm.Adam(model.modules, lr=1e-2)
    rng = np.random.default_rng(args.seed)                   # the same batches on every rank
    if rank == 0:
        print(f"adding problem: T={args.T}, LSTM(2, {args.hidden}) + Linear, batch "
              f"{args.batch_size} = {size} ranks x {args.batch_size // size}, "
              f"{args.steps} steps", flush=True)
    start = time.perf_counter()
    recent = []
    for step in range(1, args.steps + 1):
        x, y, _ = adding_batch(rng, args.T, args.batch_size)
        opt.zero_grad()
        loss = model.train_step(x[:, share], y[share])
        allreduce_grads(model.modules)            # one Allreduce: the whole batch's gradient
        pylstm.clip_grad_norm(model.modules, 1.0)
        opt.step()
        recent.append(comm.allreduce(loss) / size)  # the whole batch's loss
        if rank == 0 and (step % 100 == 0 or step == args.steps):
            print(f"step {step:4d}  loss {np.mean(recent):.4f}", flush=True)
            recent = []
    x_test, y_test, _ = adding_batch(np.random.default_rng([args.seed, 1]), args.T, 500)
    test_mse = float(np.mean((model.predict(x_test) - y_test) ** 2))
    same = comm.allreduce(model.lstm.state_dict()["weight_hh_l0"].tobytes() ==
                          comm.bcast(model.lstm.state_dict()["weight_hh_l0"].tobytes()),
                          op=MPI.LAND)
    if rank == 0:
        print(f"{args.steps} steps in {time.perf_counter() - start:.1f} s on {size} ranks; "
              f"test MSE {test_mse:.4f} (always predicting 1.0 scores {BASELINE_MSE:.3f}); "
              f"weights identical on all ranks: {same}")


if __name__ == "__main__":
    main()
