"""Pictures of training: the loss curve and the gates of an LSTM over time.

matplotlib is optional (``pip install "pylstm[extras]"``); it is imported only
when a function here is called. Every function draws on a matplotlib Figure (or
Axes) it is given or makes, and writes it to ``path`` when one is given.

    >>> pylstm.plot.gates(model, x, sample=0, path="gates.png")
    >>> pylstm.plot.loss_curve(losses, path="loss.png")
    >>> pylstm.plot.gates(clf, X_test, sample=3)    # a fitted LSTMClassifier
    >>> pylstm.plot.loss_curve(clf)                 # its loss per epoch
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure, SubFigure

    from .lstm import LSTM

# (key in LSTM.gates' entries, label, colour map, value range or None for symmetric)
_GATES: tuple[tuple[str, str, str, tuple[float, float] | None], ...] = (
    ("i", "input gate i", "viridis", (0, 1)),
    ("f", "forget gate f", "viridis", (0, 1)),
    ("g", "candidate g", "RdBu_r", (-1, 1)),
    ("o", "output gate o", "viridis", (0, 1)),
    ("c", "cell state c", "RdBu_r", None),
    ("h", "hidden state h", "RdBu_r", (-1, 1)))


def require_matplotlib() -> type[Figure]:
    """matplotlib's Figure class, or ImportError saying how to install it."""
    try:
        from matplotlib.figure import Figure
    except ImportError as e:
        raise ImportError("pylstm.plot needs matplotlib: pip install matplotlib "
                          '(or pip install "pylstm[extras]")') from e
    return Figure


def _save(fig: Any, path: str | os.PathLike[str] | None) -> Any:
    if path is not None:
        fig.savefig(path, dpi=110)
    return fig


def loss_curve(losses: Any, path: str | os.PathLike[str] | None = None,
               ax: Axes | None = None, smooth: int | None = None,
               title: str = "training loss", unit: str | None = None) -> Figure:
    """Plots a loss per step or per epoch (log scale), with a moving average.

    Parameters
    ----------
    losses : sequence of float, or a fitted LSTMRegressor / LSTMClassifier
        An estimator's ``loss_curve_`` (one mean training loss per epoch) is
        drawn per epoch, with its validation loss beside it when its
        ``history_`` records one.
    path : str or path-like, optional
        Where to write the figure (format from the suffix, e.g. .png).
    ax : matplotlib Axes, optional
        Draw here instead of on a new figure.
    smooth : int, optional
        Moving-average window (default: about 1/50 of the run, at least 1;
        none for an estimator's epochs).
    unit : str, optional
        What one value is: "step" (default) or "epoch" (the default for an
        estimator); it labels the horizontal axis.

    Returns
    -------
    matplotlib Figure
    """
    Figure = require_matplotlib()
    val = None
    if hasattr(losses, "fit"):  # an estimator
        if not hasattr(losses, "loss_curve_"):
            raise ValueError(f"losses: the {type(losses).__name__} is not fitted yet "
                             "(it has no loss_curve_)")
        history = getattr(losses, "history_", None)
        if isinstance(history, dict) and history.get("val_loss"):
            val = np.asarray(history["val_loss"], dtype=np.float64).ravel()
        losses, unit, smooth = losses.loss_curve_, unit or "epoch", smooth or 1
    unit = unit or "step"
    y = np.asarray(losses, dtype=np.float64).ravel()
    fig: Any
    if ax is None:
        fig = Figure(figsize=(6, 4), layout="constrained")
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    steps = np.arange(1, len(y) + 1)
    ax.plot(steps, y, color="0.75" if val is None else "C0", lw=0.8 if val is None else 1.5,
            marker=None if unit == "step" else ".", label=f"training, per {unit}")
    if val is not None:
        ax.plot(np.arange(1, len(val) + 1), val, color="C1", lw=1.5, marker=".",
                label="validation")
    w = smooth or max(1, len(y) // 50)
    if 1 < w < len(y):
        avg = np.convolve(y, np.ones(w) / w, mode="valid")
        ax.plot(steps[w - 1:], avg, color="C0", lw=1.5, label=f"mean of {w} {unit}s")
    if val is not None or 1 < w < len(y):
        ax.legend(loc="upper right")
    if len(y) and np.all(y > 0) and (val is None or np.all(val > 0)):
        ax.set_yscale("log")
    ax.set_xlabel(unit)
    ax.set_ylabel("loss")
    ax.set_title(title)
    return _save(fig, path)


def _model_and_input(model: Any, x: Any, lengths: ArrayLike | None
                     ) -> tuple[LSTM, NDArray[Any], NDArray[Any] | None]:
    """(the LSTM, x time-major (T, B, I), lengths) for a model and its input
    in the model's own layout: an LSTM's (batch_first or not, or unbatched),
    or a fitted estimator's, which takes (n, T, F) or a list of (T_i, F)."""
    if hasattr(model, "gates") and hasattr(model, "batch_first"):  # an LSTM
        xa = np.asarray(x)
        if xa.ndim == 2:  # one unbatched sequence (T, I)
            xa = xa[:, None, :]
        elif xa.ndim == 3 and model.batch_first:
            xa = xa.transpose(1, 0, 2)
        return model, xa, None if lengths is None else np.asarray(lengths)
    if not hasattr(model, "fit"):
        raise TypeError(f"model: expected a pylstm.LSTM or a fitted LSTMRegressor / "
                        f"LSTMClassifier, got {type(model).__name__}")
    lstm = getattr(model, "lstm_", None)
    if lstm is None:
        raise ValueError(f"model: the {type(model).__name__} is not fitted yet (it has no lstm_)")
    if not isinstance(x, np.ndarray) and isinstance(x, (list, tuple)) and lengths is None and \
            len({np.shape(s) for s in x}) > 1:  # ragged sequences, as the estimators take
        seqs = [np.asarray(s, dtype=np.float64) for s in x]
        seqs = [s[:, None] if s.ndim == 1 else s for s in seqs]
        lens = np.array([len(s) for s in seqs], np.int64)
        xa = np.zeros((len(seqs), int(lens.max()), seqs[0].shape[1]))
        for k, s in enumerate(seqs):
            xa[k, :len(s)] = s
        return lstm, xa.transpose(1, 0, 2), lens
    xa = np.asarray(x)
    if xa.ndim == 2 and lstm.input_size == 1:  # (n, T): univariate sequences
        xa = xa[:, :, None]
    if xa.ndim != 3:
        raise ValueError(f"x: expected the estimator's input, (n_samples, T, n_features) or a "
                         f"list of (T_i, n_features) arrays, got shape {xa.shape}")
    return lstm, xa.transpose(1, 0, 2), None if lengths is None else np.asarray(lengths)


def gates(model: Any, x: ArrayLike, sample: int = 0,
          path: str | os.PathLike[str] | None = None, *, lengths: ArrayLike | None = None,
          fig: Figure | SubFigure | None = None, title: str | None = None) -> Any:
    """Heatmaps of i, f, g, o, c, h over time for one sequence, every layer and direction.

    One column per (layer, direction) in model.gates() order, one row per
    quantity (units on the vertical axis, time on the horizontal), and the
    input sequence on top.

    Parameters
    ----------
    model : pylstm.LSTM, or a fitted pylstm.LSTMRegressor / LSTMClassifier
        (its ``lstm_`` is drawn)
    x : the model's input, in the model's own layout
        For an LSTM: (T, B, input_size), (B, T, input_size) if its
        batch_first, or (T, input_size). For an estimator: what its predict
        takes, batch-first (n_samples, T, n_features) or a list of
        (T_i, n_features) sequences (padded here, their lengths respected).
    sample : int
        Which sequence of the batch to draw.
    path : str or path-like, optional
        Where to write the figure.
    lengths : array of int, shape (B,), optional
        Passed to model.gates; only the sample's real steps are drawn.
    fig : matplotlib Figure or SubFigure, optional
        Draw here instead of on a new figure.

    Returns
    -------
    matplotlib Figure (or the SubFigure given)
    """
    Figure = require_matplotlib()
    lstm, xa, lens = _model_and_input(model, x, lengths)
    T, B = xa.shape[:2]
    if not 0 <= sample < B:
        raise ValueError(f"sample: expected an index in 0..{B - 1}, got {sample}")
    traces = lstm.gates(xa.transpose(1, 0, 2) if lstm.batch_first else xa, lengths=lens)
    T_s = T if lens is None else int(lens[sample])
    D = 2 if lstm.bidirectional else 1
    ncols = len(traces)
    if fig is None:
        fig = Figure(figsize=(3.2 + 3.6 * ncols, 11), layout="constrained")
    axes = fig.subplots(1 + len(_GATES), ncols, squeeze=False, sharex=True,
                        gridspec_kw={"height_ratios": [0.5] + [1] * len(_GATES)})
    extent = (-0.5, T_s - 0.5)
    for col, tr in enumerate(traces):
        layer, d = divmod(col, D)
        ax = axes[0, col]
        ax.imshow(xa[:T_s, sample, :].T, aspect="auto", interpolation="nearest", cmap="Greys",
                  extent=extent + (xa.shape[2] - 0.5, -0.5))
        ax.set_title(f"layer {layer}" + (" reverse" if d else "") + ": input x", fontsize=9)
        ax.set_ylabel("feature", fontsize=8)
        for row, (key, label, cmap, lim) in enumerate(_GATES, start=1):
            a = tr[key][:T_s, sample, :].T           # (units, time)
            if lim is None:
                m = float(np.max(np.abs(a))) or 1.0
                lim = (-m, m)
            ax = axes[row, col]
            im = ax.imshow(a, aspect="auto", interpolation="nearest", cmap=cmap,
                           vmin=lim[0], vmax=lim[1], extent=extent + (a.shape[0] - 0.5, -0.5))
            ax.set_ylabel(f"{label}\nunit", fontsize=8)
            fig.colorbar(im, ax=ax, fraction=0.04, pad=0.01)
        axes[-1, col].set_xlabel("time step t")
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def demo_figure(losses: ArrayLike, model: LSTM, x: ArrayLike,
                path: str | os.PathLike[str] | None = None, title: str | None = None) -> Figure:
    """The loss curve beside the gates of sequence 0 of x, in one figure."""
    Figure = require_matplotlib()
    fig = Figure(figsize=(17, 11), layout="constrained")
    subfigures: Any = fig.subfigures(1, 2, width_ratios=[1, 1.6])
    left, right = subfigures
    loss_curve(losses, ax=left.add_subplot())
    gates(model, x, sample=0, fig=right, title=title)
    return _save(fig, path)
