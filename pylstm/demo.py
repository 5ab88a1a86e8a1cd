"""The adding problem (Hochreiter & Schmidhuber 1997, experiment 4), trained with NumPy only.

    python -m pylstm demo [--T 100] [--steps N] [--plot FILE.png]

Each sequence has T steps of two input channels: channel 0 holds random values
drawn from U[0, 1]; channel 1 is 0 except at exactly two marked steps, where it
is 1. The target, read once after the last step, is the sum of the two marked
values. This is the common modern variant of the task (as in Arjovsky et al.
2016 and Le et al. 2015): one mark is drawn uniformly from the first half of the
sequence, t in [0, T//2), the other from the second half, t in [T//2, T). The
original paper used values in [-1, 1], marks among the first ten and the first
half of the steps, and target 0.5 + (x1 + x2) / 4.

Always predicting 1.0 (the mean target) scores an MSE of Var(x1 + x2) =
2/12 = 0.167, so anything clearly below that means the network remembers the
marked values across the sequence; below 0.01 it has solved the task.

The model: a pylstm.LSTM (forget-gate bias 1.0, Jozefowicz et al. 2015) whose
last hidden state feeds a pylstm.Linear to one output; MSE loss, Adam with
gradient-norm clipping, and a fresh random batch at every step (so there is no
over-fitting and the test set is drawn from the same distribution).
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any, TextIO

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

from . import plot as _plot
from ._progress import progress
from .layers import Linear
from .losses import mse
from .lstm import LSTM
from .optim import Adam, clip_grad_norm

BASELINE_MSE = 2.0 / 12.0   # always predicting 1.0


def adding_batch(rng: np.random.Generator, T: int, B: int, dtype: DTypeLike = np.float32
                 ) -> tuple[NDArray[Any], NDArray[Any], NDArray[np.int64]]:
    """One batch of the adding problem.

    Returns
    -------
    x : ndarray, shape (T, B, 2)
        Channel 0 values in U[0, 1], channel 1 the two marks.
    y : ndarray, shape (B,)
        Sum of the two marked values.
    marks : ndarray of int, shape (B, 2)
        The marked steps (first half, second half).
    """
    if T < 2:
        raise ValueError(f"T: expected at least 2 steps (one mark in each half), got {T}")
    x = np.zeros((T, B, 2), dtype)
    x[:, :, 0] = rng.uniform(0.0, 1.0, (T, B))
    half = T // 2
    marks = np.stack([rng.integers(0, half, B), rng.integers(half, T, B)], axis=1)
    cols = np.arange(B)
    x[marks[:, 0], cols, 1] = 1
    x[marks[:, 1], cols, 1] = 1
    y = x[marks[:, 0], cols, 0] + x[marks[:, 1], cols, 0]
    return x, y.astype(dtype), marks


class AddingModel:
    """LSTM -> last hidden state -> Linear(H, 1)."""

    def __init__(self, hidden: int, seed: int | None) -> None:
        self.lstm = LSTM(2, hidden, forget_bias=1.0, seed=seed)
        self.head = Linear(hidden, 1, seed=None if seed is None else seed + 1)
        self.modules = [self.lstm, self.head]

    def predict(self, x: ArrayLike) -> NDArray[Any]:
        _, (h_n, _) = self.lstm(x)
        return self.head(h_n[-1])[:, 0]

    def train_step(self, x: ArrayLike, y: ArrayLike) -> float:
        """Forward, backward; gradients left in the modules. Returns the loss."""
        _, (h_n, _), cache = self.lstm.forward_train(x)
        pred, head_cache = self.head.forward_train(h_n[-1])
        loss, d_pred = mse(pred[:, 0], y)
        d_h = self.head.backward(head_cache, d_pred[:, None])
        d_h_n = np.zeros_like(h_n)
        d_h_n[-1] = d_h
        self.lstm.backward(cache, None, d_h_n)
        return loss


def input_gate_at_marks(model: AddingModel, x: ArrayLike, marks: NDArray[Any]
                        ) -> tuple[NDArray[Any], NDArray[Any]]:
    """Mean input-gate activation of each unit at the marked steps and at the others.

    Returns
    -------
    at_marks, elsewhere : ndarrays, shape (H,)
        Means over the batch's marked steps and over its unmarked steps.
    """
    i = model.lstm.gates(x)[0]["i"]                     # (T, B, H)
    at = np.zeros(i.shape[:2], bool)
    cols = np.arange(i.shape[1])
    at[marks[:, 0], cols] = True
    at[marks[:, 1], cols] = True
    return i[at].mean(axis=0), i[~at].mean(axis=0)


def run(T: int = 100, steps: int = 1500, hidden: int = 64, batch_size: int = 64,
        lr: float = 1e-2, clip: float = 1.0, seed: int = 0, n_test: int = 1000,
        plot: str | None = None, quiet: bool = False, out: TextIO = sys.stdout
        ) -> dict[str, Any]:
    """Trains on the adding problem and reports; returns a dict of results."""
    rng = np.random.default_rng(seed)
    test_rng = np.random.default_rng([seed, 1])      # a separate stream: never trained on
    x_test, y_test, marks_test = adding_batch(test_rng, T, n_test)
    model = AddingModel(hidden, seed)
    opt = Adam(model.modules, lr=lr)

    def say(*parts: object) -> None:
        if not quiet:
            print(*parts, file=out, flush=True)

    say(f"adding problem: T={T}, LSTM(2, {hidden}) + Linear({hidden}, 1), batch {batch_size}, "
        f"Adam lr {lr:g}, clip {clip:g}, {steps} steps, seed {seed}")
    bar = progress(steps, desc="training", unit="step", enabled=not quiet)
    losses = []
    start = time.perf_counter()
    for step in range(steps):
        x, y, _ = adding_batch(rng, T, batch_size)
        opt.zero_grad()
        losses.append(model.train_step(x, y))
        clip_grad_norm(model.modules, clip)
        opt.step()
        elapsed = time.perf_counter() - start
        bar.update(1, loss=float(np.mean(losses[-20:])),
                   seq_s=f"{(step + 1) * batch_size / max(elapsed, 1e-9):.0f}")
    bar.close()
    seconds = time.perf_counter() - start
    pred = np.concatenate([model.predict(x_test[:, s:s + 500])
                           for s in range(0, n_test, 500)])
    test_mse = float(np.mean((pred - y_test) ** 2))
    i_marked, i_other = input_gate_at_marks(model, x_test[:, :200], marks_test[:200])
    unit = int(np.argmax(i_marked - i_other))
    k = 0
    a, b = marks_test[k]
    print(f"trained {steps} steps in {seconds:.1f} s "
          f"({steps * batch_size / seconds:.0f} sequences/s)", file=out)
    print(f"test MSE {test_mse:.4f}   (always predicting 1.0 scores {BASELINE_MSE:.3f})",
          file=out)
    print(f"sample: prediction {pred[k]:.3f}, target {y_test[k]:.3f} "
          f"(= {x_test[a, k, 0]:.3f} at t={a} + {x_test[b, k, 0]:.3f} at t={b})", file=out)
    print(f"input gate at the marked steps vs elsewhere: mean over units {i_marked.mean():.3f} "
          f"vs {i_other.mean():.3f}; unit {unit}: {i_marked[unit]:.3f} vs {i_other[unit]:.3f}; "
          f"{int(np.sum(i_marked - i_other > 0.3))} of {hidden} units open by > 0.3", file=out)
    if plot:
        _plot.demo_figure(losses, model.lstm, x_test[:, k:k + 1], path=plot,
                          title=f"adding problem, T={T}: marks at t={a} and t={b}")
        print(f"plot written to {plot}", file=out)
    return {"test_mse": test_mse, "seconds": seconds, "losses": losses, "i_marked": i_marked,
            "i_other": i_other, "model": model}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--T", type=int, default=100, help="sequence length (default 100)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--hidden", type=int, default=64, help="LSTM hidden size (default 64)")
    p.add_argument("--steps", "--epochs", dest="steps", type=int, default=1500,
                   help="training steps, each on a fresh random batch (default 1500)")
    p.add_argument("--batch-size", type=int, default=64, help="sequences per step (default 64)")
    p.add_argument("--lr", type=float, default=1e-2, help="Adam learning rate (default 1e-2)")
    p.add_argument("--clip", type=float, default=1.0,
                   help="gradient-norm clipping threshold (default 1.0)")
    p.add_argument("--plot", metavar="FILE.png",
                   help="write the loss curve and the gates of one test sequence (matplotlib)")
    p.add_argument("--quiet", action="store_true", help="no progress bar or header")


def main(args: argparse.Namespace) -> int:
    for name in ("T", "hidden", "steps", "batch_size"):
        if getattr(args, name) < (2 if name == "T" else 1):
            raise SystemExit(f"--{name.replace('_', '-')}: expected a positive integer"
                             + (" >= 2" if name == "T" else ""))
    if args.plot:
        try:
            _plot.require_matplotlib()    # fail before training, not after
        except ImportError as e:
            raise SystemExit(f"--plot: {e}") from None
    run(T=args.T, steps=args.steps, hidden=args.hidden, batch_size=args.batch_size, lr=args.lr,
        clip=args.clip, seed=args.seed, plot=args.plot, quiet=args.quiet)
    return 0
