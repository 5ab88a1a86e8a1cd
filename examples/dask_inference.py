"""Batch inference on Dask: fitted pylstm models mapped over a chunked
dask.array on a cluster of worker processes.

    python examples/dask_inference.py [--n 20000] [--chunk 2000]

Needs dask and distributed (pip install "pylstm[dask]"). pylstm models and
estimators pickle (the weights travel; each worker rebuilds the C side on
first use), so ``X.map_blocks(estimator.predict, ...)`` ships the model with
the tasks and every worker predicts its chunks of sequences. Chunks run along
the sample axis only: each holds whole sequences. pylstm's results do not
depend on the thread count, so the cluster's predictions equal the ones this
process computes, to the bit (checked at the end). Here the cluster is a
LocalCluster of 2 worker processes; pointing the Client at a real scheduler
(``Client("tcp://scheduler:8786")``) changes nothing else. For a large
model, ``client.scatter(model, broadcast=True)`` sends it to each worker
once instead of with every task.
"""

import argparse
import time

import dask.array as da
import numpy as np
from dask.distributed import Client, LocalCluster

import pylstm
from pylstm.demo import adding_batch


def last_output(block, lstm):
    """(n, T, I) sequences -> (n, H): the LSTM's output after the last step."""
    out, _ = lstm(block)
    return out[:, -1]


def sequences(rng, T, n):
    """n adding-problem sequences, (n, T, 2), and their targets (n,)."""
    x, y, _ = adding_batch(rng, T, n)
    return np.ascontiguousarray(x.transpose(1, 0, 2)), y


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=20000, help="sequences to score (default 20000)")
    p.add_argument("--chunk", type=int, default=2000, help="sequences per chunk (default 2000)")
    p.add_argument("--T", type=int, default=30, help="sequence length (default 30)")
    args = p.parse_args()
    rng = np.random.default_rng(0)

    # Two fitted models: an estimator (adding problem, a short fit) and a bare LSTM.
    X_train, y_train = sequences(rng, args.T, 1000)
    reg = pylstm.LSTMRegressor(hidden_size=32, epochs=3, random_state=0).fit(X_train, y_train)
    lstm = pylstm.LSTM(2, 16, batch_first=True, seed=0)

    X_np, _ = sequences(rng, args.T, args.n)
    X = da.from_array(X_np, chunks=(args.chunk, -1, -1))  # whole sequences per chunk
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      env={"PYLSTM_NUM_THREADS": "1"}) as cluster, Client(cluster) as client:
        print(f"{len(client.scheduler_info()['workers'])} workers; X: {X.shape} in "
              f"{X.numblocks[0]} chunks of {args.chunk} sequences")
        start = time.perf_counter()
        pred = X.map_blocks(reg.predict, drop_axis=[1, 2], dtype=np.float64).compute()
        feats = X.map_blocks(last_output, lstm=lstm, drop_axis=1,
                             chunks=(X.chunks[0], (lstm.hidden_size,)),
                             dtype=lstm.dtype).compute()
        print(f"predicted on the cluster in {time.perf_counter() - start:.2f} s: "
              f"{pred.shape} predictions, {feats.shape} LSTM features")
    same = np.array_equal(pred, reg.predict(X_np)) and np.array_equal(
        feats, last_output(X_np, lstm))
    print(f"predictions identical to those made in this process: {same}")
    if not same:
        raise SystemExit("the cluster's predictions differ from the local ones")


if __name__ == "__main__":
    main()
