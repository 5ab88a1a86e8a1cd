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

Learning-rate schedules (torch.optim.lr_scheduler's names, arguments and
numbers) change ``opt.lr`` between steps, called as in torch::

    >>> sched = pylstm.optim.StepLR(opt, step_size=10, gamma=0.5)
    >>> # each epoch: the batches' opt.step(), then
    >>> sched.step()

A pylstm optimiser has one parameter group: its ``lr`` (and ``momentum`` or
``betas``) attributes are what torch keeps in ``param_groups[0]``, and
``get_last_lr()`` returns a one-element list as torch does for one group.
"""

import contextlib
import math
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Protocol, Union

import numpy as np
from numpy.typing import NDArray


class Trainable(Protocol):
    """What the optimisers need of a module: pylstm.LSTM, LSTMCell and Linear
    are ones, and so is any class with these members."""

    @property
    def grads(self) -> Mapping[str, NDArray[Any]]:
        """The gradients, under the names named_parameters() gives."""

    def named_parameters(self) -> Iterable[tuple[str, NDArray[Any]]]:
        """(name, live parameter array) pairs."""

    def zero_grad(self) -> None:
        """Sets every gradient to zero (called by Optimizer.zero_grad)."""


#: One module or several (a list, a tuple).
Modules = Union[Trainable, Iterable[Trainable]]


def _modules(modules: Modules) -> list[Trainable]:
    given: Any = modules  # one module or an iterable of them, told apart below
    items: list[Trainable] = [given] if hasattr(given, "named_parameters") else list(given)
    for m in items:
        if not (hasattr(m, "named_parameters") and hasattr(m, "grads")):
            raise TypeError(f"modules: expected objects with named_parameters() and grads, "
                            f"got {type(m).__name__}")
    return items


def _named(m: Trainable) -> Iterable[tuple[str, NDArray[Any]]]:
    """A module's (name, live array) pairs. pylstm modules give them through a
    private accessor that does not count as handing them to user code (see
    pylstm._module.Module), so their prepared inference path stays in use."""
    live = getattr(m, "_live_parameters", None)
    return live() if live is not None else m.named_parameters()


def _pairs(modules: Iterable[Trainable]) -> list[tuple[NDArray[Any], NDArray[Any]]]:
    """(parameter, gradient) of every module, in named_parameters order."""
    return [(p, m.grads[name]) for m in modules for name, p in _named(m)]


def _changed(modules: Iterable[Trainable]) -> None:
    """Tells pylstm modules that their parameters were written."""
    for m in modules:
        changed = getattr(m, "_params_changed", None)
        if changed is not None:
            changed()


@contextlib.contextmanager
def _locked(modules: Iterable[Trainable], parameters: bool = True) -> Iterator[None]:
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


def _check_number(name: str, value: Any, low: float = 0.0, high: float = math.inf,
                  high_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise TypeError(f"{name}: expected a number, got {value!r}")
    if not (low <= value and (value < high if high_open else value <= high)):
        raise ValueError(f"{name}: expected a value in [{low}, {high}"
                         f"{')' if high_open else ']'}, got {value}")
    return float(value)


def _repr(obj: object, names: tuple[str, ...]) -> str:
    """``Name(a=1, b=(0.9, 0.999))``: the named attributes in constructor order."""
    args = ", ".join(f"{n}={getattr(obj, n)!r}" for n in names)
    return f"{type(obj).__name__}({args})"


class Optimizer:
    """Base: holds the modules; step() is the update rule, zero_grad() clears grads."""

    lr: float
    initial_lr: float | None
    _hyper: tuple[str, ...] = ("lr",)

    def __init__(self, modules: Modules) -> None:
        self.modules: list[Trainable] = _modules(modules)
        # Per parameter, in _pairs order: the update rule's buffers.
        self.state: list[dict[str, Any]] = [{} for _ in _pairs(self.modules)]
        # The lr a schedule starts from (torch's param_group["initial_lr"]):
        # set by the first schedule attached, read by one resumed with last_epoch.
        self.initial_lr = None

    def __repr__(self) -> str:
        return _repr(self, self._hyper)

    def zero_grad(self) -> None:
        for m in self.modules:
            m.zero_grad()

    def step(self) -> None:
        """One update of every parameter from its gradient. Safe beside other
        threads' backward calls and steps on the same modules: it holds their
        locks, so it sees complete gradients and no call sees it half done."""
        with _locked(self.modules):
            self._step()

    def _step(self) -> None:  # pragma: no cover - abstract
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

    _hyper = ("lr", "momentum", "weight_decay")

    def __init__(self, modules: Modules, lr: float, momentum: float = 0.0,
                 weight_decay: float = 0.0) -> None:
        super().__init__(modules)
        self.lr = _check_number("lr", lr)
        self.momentum = _check_number("momentum", momentum)
        self.weight_decay = _check_number("weight_decay", weight_decay)

    def _step(self) -> None:
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

    _hyper = ("lr", "betas", "eps", "weight_decay")

    def __init__(self, modules: Modules, lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0) -> None:
        super().__init__(modules)
        self.lr = _check_number("lr", lr)
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise TypeError(f"betas: expected a pair of numbers, got {betas!r}")
        self.betas = (_check_number("betas[0]", betas[0], 0.0, 1.0, high_open=True),
                      _check_number("betas[1]", betas[1], 0.0, 1.0, high_open=True))
        self.eps = _check_number("eps", eps)
        self.weight_decay = _check_number("weight_decay", weight_decay)

    def _step(self) -> None:
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


def clip_grad_norm(modules: Modules, max_norm: float) -> float:
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


# ---- learning-rate schedules ----------------------------------------------


def _check_int(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name}: expected an integer >= {low}, got {value!r}")
    return int(value)


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"{name}: expected one of {', '.join(map(repr, choices))}, "
                         f"got {value!r}")
    return value


def _check_optimizer(optimizer: Any) -> None:
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"optimizer: expected a pylstm.optim optimiser (SGD, Adam), "
                        f"got {type(optimizer).__name__}")


class LRScheduler:
    """Base of the schedules: torch.optim.lr_scheduler.LRScheduler for one group.

    Attaching a schedule records the optimiser's lr as ``initial_lr`` (unless
    an earlier schedule did) and takes the first step, which sets
    ``last_epoch`` to 0 (torch's ``_initial_step``). Call :meth:`step` after
    ``optimizer.step()``, once per epoch (once per batch for OneCycleLR).

    Parameters
    ----------
    optimizer : pylstm.optim.Optimizer
    last_epoch : int, default -1
        Index of the last epoch done; other than -1 only to resume, which
        needs ``optimizer.initial_lr`` (set by the schedule that ran before).

    Attributes
    ----------
    base_lrs : list of float
        ``[optimizer.initial_lr]``.
    last_epoch : int
        Steps taken since the start (0 right after construction).
    """

    _args: tuple[str, ...] = ()

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        _check_optimizer(optimizer)
        self.optimizer = optimizer
        if isinstance(last_epoch, bool) or not isinstance(last_epoch, (int, np.integer)) \
                or last_epoch < -1:
            raise ValueError(f"last_epoch: expected an integer >= -1, got {last_epoch!r}")
        if last_epoch == -1:
            if optimizer.initial_lr is None:
                optimizer.initial_lr = optimizer.lr
        elif optimizer.initial_lr is None:
            raise ValueError("last_epoch: resuming a schedule needs optimizer.initial_lr "
                             "(set when the first schedule was attached)")
        self.base_lrs: list[float] = [float(optimizer.initial_lr)]
        self.last_epoch = int(last_epoch)
        self._step_count = 0
        self._is_initial = True
        try:
            self.step()
        finally:
            self._is_initial = False

    def _next_lr(self, lr: float) -> float:  # pragma: no cover - abstract
        """The lr at ``last_epoch`` (already advanced), from the current ``lr``."""
        raise NotImplementedError

    def step(self) -> None:
        """Advances ``last_epoch`` by one and sets ``optimizer.lr`` for it."""
        self._step_count += 1
        self.last_epoch += 1
        self.optimizer.lr = self._next_lr(self.optimizer.lr)
        self._last_lr = [self.optimizer.lr]

    def get_last_lr(self) -> list[float]:
        """``[lr]`` as set by the last step (a list, as torch gives one per group)."""
        return list(self._last_lr)

    def state_dict(self) -> dict[str, Any]:
        """Everything but the optimiser (torch's rule), for load_state_dict."""
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restores what state_dict() returned."""
        self.__dict__.update(state_dict)

    def __repr__(self) -> str:
        return _repr(self, self._args + ("last_epoch",))


class StepLR(LRScheduler):
    """Multiplies the lr by gamma every step_size epochs (torch.optim.lr_scheduler.StepLR).

    ``lr = initial_lr * gamma ** (last_epoch // step_size)``, computed as torch
    does: the current lr times gamma when last_epoch is a non-zero multiple of
    step_size.

    Parameters
    ----------
    optimizer : Optimizer
    step_size : int
    gamma : float, default 0.1
    last_epoch : int, default -1
    """

    _args = ("step_size", "gamma")

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1,
                 last_epoch: int = -1) -> None:
        self.step_size = _check_int("step_size", step_size, 1)
        self.gamma = _check_number("gamma", gamma)
        super().__init__(optimizer, last_epoch)

    def _next_lr(self, lr: float) -> float:
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return lr
        return lr * self.gamma


class ExponentialLR(LRScheduler):
    """Multiplies the lr by gamma every epoch (torch.optim.lr_scheduler.ExponentialLR).

    Parameters
    ----------
    optimizer : Optimizer
    gamma : float
    last_epoch : int, default -1
    """

    _args = ("gamma",)

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1) -> None:
        self.gamma = _check_number("gamma", gamma)
        super().__init__(optimizer, last_epoch)

    def _next_lr(self, lr: float) -> float:
        return lr if self._is_initial else lr * self.gamma


class CosineAnnealingLR(LRScheduler):
    """Cosine annealing from initial_lr to eta_min over T_max epochs
    (torch.optim.lr_scheduler.CosineAnnealingLR).

    Approximately ``eta_min + (initial_lr - eta_min) (1 + cos(pi t / T_max)) / 2``
    at t = last_epoch, computed with torch's recursion from the current lr (so
    the numbers are torch's to the last bit); past T_max the lr rises again
    along the cosine, as in torch.

    Parameters
    ----------
    optimizer : Optimizer
    T_max : int
    eta_min : float, default 0
    last_epoch : int, default -1
    """

    _args = ("T_max", "eta_min")

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0,
                 last_epoch: int = -1) -> None:
        self.T_max = _check_int("T_max", T_max, 1)
        self.eta_min = _check_number("eta_min", eta_min)
        super().__init__(optimizer, last_epoch)

    def _next_lr(self, lr: float) -> float:
        t, T, eta_min, base = self.last_epoch, self.T_max, self.eta_min, self.base_lrs[0]
        if self._is_initial:
            return lr
        if (t - 1 - T) % (2 * T) == 0:
            return lr + (base - eta_min) * (1 - math.cos(math.pi / T)) / 2
        return ((1 + math.cos(math.pi * t / T)) / (1 + math.cos(math.pi * (t - 1) / T))
                * (lr - eta_min) + eta_min)


class OneCycleLR(LRScheduler):
    """The 1cycle policy (Smith & Topin 2018, "Super-Convergence"):
    torch.optim.lr_scheduler.OneCycleLR.

    Stepped once per batch. The lr rises from ``max_lr / div_factor`` to
    ``max_lr`` over the first ``pct_start`` of ``total_steps``, then anneals to
    ``max_lr / div_factor / final_div_factor`` (three_phase: back to the
    initial lr first, then down). With cycle_momentum, the momentum (SGD) or
    beta1 (Adam) moves the other way, between max_momentum and base_momentum.
    Stepping past total_steps raises ValueError, as in torch.

    Parameters
    ----------
    optimizer : Optimizer
    max_lr : float
    total_steps : int, optional
        Or epochs and steps_per_epoch (total_steps = their product).
    epochs, steps_per_epoch : int, optional
    pct_start : float, default 0.3
    anneal_strategy : {"cos", "linear"}, default "cos"
    cycle_momentum : bool, default True
    base_momentum, max_momentum : float, default 0.85, 0.95
    div_factor : float, default 25
    final_div_factor : float, default 1e4
    three_phase : bool, default False
    last_epoch : int, default -1
        The index of the last batch done (to resume).
    """

    _args = ("max_lr", "total_steps", "pct_start", "anneal_strategy", "cycle_momentum",
             "base_momentum", "max_momentum", "div_factor", "final_div_factor", "three_phase")

    def __init__(self, optimizer: Optimizer, max_lr: float, total_steps: int | None = None,
                 epochs: int | None = None, steps_per_epoch: int | None = None,
                 pct_start: float = 0.3, anneal_strategy: str = "cos",
                 cycle_momentum: bool = True, base_momentum: float = 0.85,
                 max_momentum: float = 0.95, div_factor: float = 25.0,
                 final_div_factor: float = 1e4, three_phase: bool = False,
                 last_epoch: int = -1) -> None:
        if total_steps is not None:
            self.total_steps = _check_int("total_steps", total_steps, 1)
        elif epochs is not None and steps_per_epoch is not None:
            self.total_steps = (_check_int("epochs", epochs, 1)
                                * _check_int("steps_per_epoch", steps_per_epoch, 1))
        else:
            raise ValueError("total_steps: expected total_steps, or epochs and "
                             "steps_per_epoch")
        self.max_lr = _check_number("max_lr", max_lr)
        self.pct_start = _check_number("pct_start", pct_start, 0.0, 1.0)
        self.anneal_strategy = _check_choice("anneal_strategy", anneal_strategy,
                                             ("cos", "linear"))
        self.cycle_momentum = bool(cycle_momentum)
        self.base_momentum = _check_number("base_momentum", base_momentum)
        self.max_momentum = _check_number("max_momentum", max_momentum)
        self.div_factor = _check_number("div_factor", div_factor, 0.0)
        self.final_div_factor = _check_number("final_div_factor", final_div_factor, 0.0)
        self.three_phase = bool(three_phase)
        _check_optimizer(optimizer)
        self.initial_lr = self.max_lr / self.div_factor
        self.min_lr = self.initial_lr / self.final_div_factor
        # (end step, start lr, end lr, start momentum, end momentum) per phase.
        up = float(self.pct_start * self.total_steps) - 1
        if self.three_phase:
            self._phases = [
                (up, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                (float(2 * self.pct_start * self.total_steps) - 2, "max_lr", "initial_lr",
                 "base_momentum", "max_momentum"),
                (self.total_steps - 1, "initial_lr", "min_lr", "max_momentum", "max_momentum")]
        else:
            self._phases = [
                (up, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                (self.total_steps - 1, "max_lr", "min_lr", "base_momentum", "max_momentum")]
        if last_epoch == -1:
            optimizer.initial_lr = self.initial_lr
            if self.cycle_momentum:
                self._set_momentum(optimizer, self.max_momentum)
        super().__init__(optimizer, last_epoch)

    @staticmethod
    def _set_momentum(optimizer: Optimizer, value: float) -> None:
        """beta1 for Adam, momentum for SGD (torch: "betas" or "momentum" in defaults)."""
        if hasattr(optimizer, "betas") and optimizer.betas is not None:
            optimizer.betas = (value, optimizer.betas[1])
        elif hasattr(optimizer, "momentum"):
            optimizer.momentum = value
        else:
            raise ValueError("cycle_momentum: the optimiser has neither momentum nor betas")

    def _anneal(self, start: float, end: float, pct: float) -> float:
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def _next_lr(self, lr: float) -> float:
        step = self.last_epoch
        start = 0.0
        for i, (end, lr0, lr1, m0, m1) in enumerate(self._phases):
            if step <= end or i == len(self._phases) - 1:
                pct = (step - start) / (end - start)
                if self.cycle_momentum:
                    self._set_momentum(self.optimizer, self._anneal(
                        getattr(self, m0), getattr(self, m1), pct))
                return self._anneal(getattr(self, lr0), getattr(self, lr1), pct)
            start = end
        raise AssertionError("unreachable: the last phase always matches")

    def step(self) -> None:
        """Advances one batch; raises ValueError past total_steps (as torch does),
        leaving the lr unchanged."""
        if self.last_epoch + 1 > self.total_steps:
            raise ValueError(f"Tried to step {self.last_epoch + 1} times. The specified "
                             f"number of total steps is {self.total_steps}")
        super().step()


class ReduceLROnPlateau(LRScheduler):
    """Multiplies the lr by factor when a metric stops improving
    (torch.optim.lr_scheduler.ReduceLROnPlateau).

    ``step(metric)`` once per epoch. The metric improves when it beats the best
    so far by the threshold (mode "min", threshold_mode "rel":
    ``metric < best * (1 - threshold)``; "abs": ``metric < best - threshold``;
    mode "max" mirrored). After more than ``patience`` epochs without
    improvement the lr becomes ``max(lr * factor, min_lr)`` (a change smaller
    than eps is skipped) and ``cooldown`` epochs follow in which bad epochs are
    not counted.

    Parameters
    ----------
    optimizer : Optimizer
    mode : {"min", "max"}, default "min"
    factor : float, default 0.1
        In [0, 1).
    patience : int, default 10
    threshold : float, default 1e-4
    threshold_mode : {"rel", "abs"}, default "rel"
    cooldown : int, default 0
    min_lr : float or list of one float, default 0
    eps : float, default 1e-8
    """

    _args = ("mode", "factor", "patience", "threshold", "threshold_mode", "cooldown",
             "min_lr", "eps")

    def __init__(self, optimizer: Optimizer, mode: str = "min", factor: float = 0.1,
                 patience: int = 10, threshold: float = 1e-4, threshold_mode: str = "rel",
                 cooldown: int = 0, min_lr: float | list[float] = 0.0,
                 eps: float = 1e-8) -> None:
        _check_optimizer(optimizer)
        self.optimizer = optimizer
        self.mode = _check_choice("mode", mode, ("min", "max"))
        self.factor = _check_number("factor", factor, 0.0, 1.0, high_open=True)
        self.patience = _check_int("patience", patience, 0)
        self.threshold = _check_number("threshold", threshold)
        self.threshold_mode = _check_choice("threshold_mode", threshold_mode, ("rel", "abs"))
        self.cooldown = _check_int("cooldown", cooldown, 0)
        if isinstance(min_lr, (list, tuple)):
            if len(min_lr) != 1:
                raise ValueError(f"min_lr: expected 1 value (one parameter group), "
                                 f"got {len(min_lr)}")
            min_lr = min_lr[0]
        self.min_lr = _check_number("min_lr", min_lr)
        self.eps = _check_number("eps", eps)
        self.last_epoch = 0
        self._last_lr = [optimizer.lr]
        self.best = math.inf if self.mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0

    def _is_better(self, a: float) -> bool:
        best, th = self.best, self.threshold
        if self.mode == "min":
            return a < (best * (1.0 - th) if self.threshold_mode == "rel" else best - th)
        return a > (best * (th + 1.0) if self.threshold_mode == "rel" else best + th)

    def step(self, metrics: float) -> None:  # type: ignore[override]
        """Records one epoch's metric (e.g. the validation loss)."""
        current = float(metrics)
        self.last_epoch += 1
        if self._is_better(current):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # bad epochs in cooldown do not count
        if self.num_bad_epochs > self.patience:
            old = float(self.optimizer.lr)
            new = max(old * self.factor, self.min_lr)
            if old - new > self.eps:
                self.optimizer.lr = new
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = [self.optimizer.lr]

    def __repr__(self) -> str:
        return _repr(self, self._args)
