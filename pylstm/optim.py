"""Optimisers over pylstm modules, with torch.optim's update rules.

Any object with ``named_parameters()`` (live arrays) and a ``grads`` dict under
the same names is a module here: pylstm.LSTM, pylstm.LSTMCell, pylstm.Linear.
The optimisers update the parameter arrays in place, so a model and its
optimiser always share the same numbers.

    >>> import numpy as np, pylstm
    >>> lstm, head = pylstm.LSTM(3, 8, seed=0), pylstm.Linear(8, 1, seed=0)
    >>> opt = pylstm.Adam([lstm, head], lr=1e-2)
    >>> # forward_train / backward fill the grads, then:
    >>> total = pylstm.clip_grad_norm([lstm, head], 1.0); opt.step(); opt.zero_grad()
"""

import contextlib
import math

import numpy as np


def _modules(modules):
    if hasattr(modules, "named_parameters"):
        modules = [modules]
    modules = list(modules)
    for m in modules:
        if not (hasattr(m, "named_parameters") and hasattr(m, "grads")):
            raise TypeError(f"modules: expected objects with named_parameters() and grads, "
                            f"got {type(m).__name__}")
    return modules


def _named(m):
    """A module's (name, live array) pairs. pylstm modules give them through a
    private accessor that does not count as handing them to user code (see
    pylstm._module.Module), so their prepared inference path stays in use."""
    live = getattr(m, "_live_parameters", None)
    return live() if live is not None else m.named_parameters()


def _pairs(modules):
    """(parameter, gradient) of every module, in named_parameters order."""
    return [(p, m.grads[name]) for m in modules for name, p in _named(m)]


def _changed(modules):
    """Tells pylstm modules that their parameters were written."""
    for m in modules:
        changed = getattr(m, "_params_changed", None)
        if changed is not None:
            changed()


@contextlib.contextmanager
def _locked(modules, parameters=True):
    """Holds the modules' parameter locks alone (when parameters) and their
    gradient locks, so a step or a clip never runs beside a backward or
    another step on the same model (see pylstm._module._Sync). Locks are
    taken in one global order (by id), so two optimizers sharing modules
    cannot deadlock; modules without locks (user classes) are passed over."""
    syncs = {id(s): s for s in (getattr(m, "_sync", None) for m in modules) if s is not None}
    ordered = [syncs[k] for k in sorted(syncs)]
    with contextlib.ExitStack() as stack:
        if parameters:
            for s in ordered:
                stack.enter_context(s.write())
        for s in ordered:
            stack.enter_context(s.grads)
        yield


def _check_number(name, value, low=0.0, high=math.inf, high_open=False):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise TypeError(f"{name}: expected a number, got {value!r}")
    if not (low <= value and (value < high if high_open else value <= high)):
        raise ValueError(f"{name}: expected a value in [{low}, {high}"
                         f"{')' if high_open else ']'}, got {value}")
    return float(value)


class Optimizer:
    """Base: holds the modules; step() is the update rule, zero_grad() clears grads."""

    def __init__(self, modules):
        self.modules = _modules(modules)
        self.state = [{} for _ in _pairs(self.modules)]

    def zero_grad(self):
        for m in self.modules:
            m.zero_grad()

    def step(self):
        """One update of every parameter from its gradient. Safe beside other
        threads' backward calls and steps on the same modules: it holds their
        locks, so it sees complete gradients and no call sees it half done."""
        with _locked(self.modules):
            self._step()

    def _step(self):  # pragma: no cover - abstract
        raise NotImplementedError


class SGD(Optimizer):
    """Stochastic gradient descent, torch.optim.SGD's rule (no dampening, no Nesterov).

    For each parameter p with gradient g::

        d_p = g + weight_decay * p
        buf = d_p (first step), momentum * buf + d_p (later steps)   if momentum > 0
        p  -= lr * (buf if momentum > 0 else d_p)

    Parameters
    ----------
    modules : module or list of modules
    lr : float
    momentum : float, default 0
    weight_decay : float, default 0
        L2 penalty added to the gradient.
    """

    def __init__(self, modules, lr, momentum=0.0, weight_decay=0.0):
        super().__init__(modules)
        self.lr = _check_number("lr", lr)
        self.momentum = _check_number("momentum", momentum)
        self.weight_decay = _check_number("weight_decay", weight_decay)

    def _step(self):
        try:
            for (p, g), st in zip(_pairs(self.modules), self.state):
                d_p = g + self.weight_decay * p if self.weight_decay else g
                if self.momentum:
                    buf = st.get("momentum_buffer")
                    if buf is None:
                        buf = st["momentum_buffer"] = np.array(d_p, copy=True)
                    else:
                        buf *= self.momentum
                        buf += d_p
                    d_p = buf
                p -= self.lr * d_p
        finally:  # even a step stopped half-way has written parameters
            _changed(self.modules)


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015) with torch.optim.Adam's default flags.

    At step t, for each parameter p with gradient g::

        g  = g + weight_decay * p                (L2 penalty, not AdamW)
        m  = beta1 * m + (1 - beta1) * g
        v  = beta2 * v + (1 - beta2) * g^2
        p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)

    Parameters
    ----------
    modules : module or list of modules
    lr : float, default 1e-3
    betas : (float, float), default (0.9, 0.999)
    eps : float, default 1e-8
    weight_decay : float, default 0
    """

    def __init__(self, modules, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(modules)
        self.lr = _check_number("lr", lr)
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise TypeError(f"betas: expected a pair of numbers, got {betas!r}")
        self.betas = (_check_number("betas[0]", betas[0], 0.0, 1.0, high_open=True),
                      _check_number("betas[1]", betas[1], 0.0, 1.0, high_open=True))
        self.eps = _check_number("eps", eps)
        self.weight_decay = _check_number("weight_decay", weight_decay)

    def _step(self):
        beta1, beta2 = self.betas
        try:
            for (p, g), st in zip(_pairs(self.modules), self.state):
                if not st:
                    st["step"] = 0
                    st["exp_avg"] = np.zeros_like(p)
                    st["exp_avg_sq"] = np.zeros_like(p)
                st["step"] += 1
                t = st["step"]
                if self.weight_decay:
                    g = g + self.weight_decay * p
                m, v = st["exp_avg"], st["exp_avg_sq"]
                m += (1 - beta1) * (g - m)          # torch: exp_avg.lerp_(grad, 1 - beta1)
                v *= beta2
                v += (1 - beta2) * g * g
                step_size = self.lr / (1 - beta1 ** t)
                denom = np.sqrt(v) / math.sqrt(1 - beta2 ** t) + self.eps
                p -= step_size * (m / denom)
        finally:  # even a step stopped half-way has written parameters
            _changed(self.modules)


def clip_grad_norm(modules, max_norm):
    """Scales every gradient so their joint L2 norm is at most max_norm.

    torch.nn.utils.clip_grad_norm_'s rule: with ``total`` the L2 norm of all
    gradients together, every gradient is multiplied by
    ``min(1, max_norm / (total + 1e-6))``.

    Parameters
    ----------
    modules : module or list of modules
    max_norm : float

    Returns
    -------
    total : float
        The norm before clipping.
    """
    max_norm = _check_number("max_norm", max_norm)
    modules = _modules(modules)
    with _locked(modules, parameters=False):
        grads = [g for _, g in _pairs(modules)]
        total = math.sqrt(sum(float(np.sum(np.square(g, dtype=np.float64))) for g in grads))
        scale = max_norm / (total + 1e-6)
        if scale < 1.0:
            for g in grads:
                g *= g.dtype.type(scale)
    return total
