"""Pictures of training: the loss curve and the gates of an LSTM over time.

matplotlib is optional (``pip install "pylstm[extras]"``); it is imported only
when a function here is called. Every function draws on a matplotlib Figure (or
Axes) it is given or makes, and writes it to ``path`` when one is given.

    >>> pylstm.plot.gates(model, x, sample=0, path="gates.png")
    >>> pylstm.plot.loss_curve(losses, path="loss.png")
"""

import numpy as np

_GATES = (("i", "input gate i", "viridis", (0, 1)),
          ("f", "forget gate f", "viridis", (0, 1)),
          ("g", "candidate g", "RdBu_r", (-1, 1)),
          ("o", "output gate o", "viridis", (0, 1)),
          ("c", "cell state c", "RdBu_r", None),
          ("h", "hidden state h", "RdBu_r", (-1, 1)))


def require_matplotlib():
    """matplotlib's Figure class, or ImportError saying how to install it."""
    try:
        from matplotlib.figure import Figure
    except ImportError as e:
        raise ImportError("pylstm.plot needs matplotlib: pip install matplotlib "
                          '(or pip install "pylstm[extras]")') from e
    return Figure


def _save(fig, path):
    if path is not None:
        fig.savefig(path, dpi=110)
    return fig


def loss_curve(losses, path=None, ax=None, smooth=None, title="training loss"):
    """Plots a loss per step (log scale) with a moving average.

    Parameters
    ----------
    losses : sequence of float
    path : str or path-like, optional
        Where to write the figure (format from the suffix, e.g. .png).
    ax : matplotlib Axes, optional
        Draw here instead of on a new figure.
    smooth : int, optional
        Moving-average window (default: about 1/50 of the run, at least 1).

    Returns
    -------
    matplotlib Figure
    """
    Figure = require_matplotlib()
    losses = np.asarray(losses, dtype=np.float64).ravel()
    if ax is None:
        fig = Figure(figsize=(6, 4), layout="constrained")
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    steps = np.arange(1, len(losses) + 1)
    ax.plot(steps, losses, color="0.75", lw=0.8, label="per step")
    w = smooth or max(1, len(losses) // 50)
    if 1 < w < len(losses):
        avg = np.convolve(losses, np.ones(w) / w, mode="valid")
        ax.plot(steps[w - 1:], avg, color="C0", lw=1.5, label=f"mean of {w}")
        ax.legend(loc="upper right")
    if len(losses) and np.all(losses > 0):
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(title)
    return _save(fig, path)


def gates(model, x, sample=0, path=None, *, lengths=None, fig=None, title=None):
    """Heatmaps of i, f, g, o, c, h over time for one sequence, every layer and direction.

    One column per (layer, direction) in model.gates() order, one row per
    quantity (units on the vertical axis, time on the horizontal), and the
    input sequence on top.

    Parameters
    ----------
    model : pylstm.LSTM
    x : array, shape (T, B, input_size) ((B, T, input_size) if batch_first)
        or (T, input_size)
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
    xa = np.asarray(x)
    traces = model.gates(xa, lengths=lengths)
    if xa.ndim == 2:
        xa = xa[:, None, :]
    elif getattr(model, "batch_first", False):
        xa = xa.transpose(1, 0, 2)
    T, B = xa.shape[:2]
    if not 0 <= sample < B:
        raise ValueError(f"sample: expected an index in 0..{B - 1}, got {sample}")
    T_s = T if lengths is None else int(np.asarray(lengths)[sample])
    D = 2 if getattr(model, "bidirectional", False) else 1
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


def demo_figure(losses, model, x, path=None, title=None):
    """The loss curve beside the gates of sequence 0 of x, in one figure."""
    Figure = require_matplotlib()
    fig = Figure(figsize=(17, 11), layout="constrained")
    left, right = fig.subfigures(1, 2, width_ratios=[1, 1.6])
    loss_curve(losses, ax=left.add_subplot())
    gates(model, x, sample=0, fig=right, title=title)
    return _save(fig, path)
