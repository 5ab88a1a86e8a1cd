"""LSTMRegressor and LSTMClassifier: scikit-learn estimators on pylstm.

scikit-learn is not needed: the estimators follow its conventions by hand
(``__init__`` only stores its arguments; ``get_params``/``set_params`` read
the ``__init__`` signature; checks happen in ``fit``; what fit learns ends in
``_``). With scikit-learn installed they pass its ``check_estimator`` (the
checks that cannot apply are listed, with reasons, in
``EXPECTED_FAILED_CHECKS``) and work in clone, pipelines, ``cross_val_score``
and ``GridSearchCV``.

Inputs
------
X : a 3-D array (n_samples, T, n_features): n sequences of T steps; or a list
    of n_samples arrays (or DataFrames) of shape (T_i, n_features): sequences
    of their own lengths (padded, and the lengths passed to the LSTM so padding
    never reaches the result); or a 2-D array or DataFrame (n_samples,
    n_features): n sequences of ONE step each. The last is scikit-learn's
    table, so ``n_features_in_`` is always the number of features per step, a
    DataFrame's columns become ``feature_names_in_`` (a list of DataFrames too),
    and an X of another width is an error, never silently another T. A
    univariate series is ``X[:, :, None]`` or a list of (T_i, 1) arrays.
y : one target per sequence (many-to-one): shape (n,) (or (n, k) for a
    multi-output regressor); the network reads the last layer's hidden state
    at each sequence's last real step (and, bidirectional, the reverse
    direction's state at t = 0).
    Or one target per step (many-to-many): shape (n, T) / (n, T, k), or a list
    of (T_i,) / (T_i, k) arrays; the loss is averaged over real steps only.
    ``per_step=None`` infers which from y's shape (a second axis equal to the
    padded length T > 1 means per step; pass ``per_step=False`` for a
    multi-output regressor target that happens to have T columns). A
    classifier's (n, 1) column is one label per sequence (raveled with
    scikit-learn's DataConversionWarning).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Literal, TypeVar, Union, cast, overload

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

from ._params import ParamsMixin
from ._progress import _NoBar, _PlainBar, _TqdmBar, progress
from ._sequences import (as_fitted_input, as_sequences, check_feature_names, check_finite,
                         per_step_target, steps_mask, unpad)
from .layers import Linear
from .losses import cross_entropy, mse
from .lstm import LSTM
from .optim import (SGD, Adam, CosineAnnealingLR, ExponentialLR, LRScheduler, OneCycleLR,
                    Optimizer, ReduceLROnPlateau, StepLR, clip_grad_norm)

_PREDICT_BATCH = 256

#: X: an array (n, T, F) or (n, F), a DataFrame, or a list of (T_i, F) sequences.
Input = Union[ArrayLike, Sequence[ArrayLike]]
#: y: (n,) / (n, k) per sequence, (n, T) / (n, T, k) or a list of (T_i,) / (T_i, k) per step.
Target = Union[ArrayLike, Sequence[ArrayLike]]
#: fit's validation_data: (X_val, y_val) or (X_val, y_val, sample_weight_val).
ValidationData = Union[tuple[Input, Target], tuple[Input, Target, Union[ArrayLike, None]]]

_E = TypeVar("_E", bound="_LSTMEstimator")
_Bar = Union[_PlainBar, _TqdmBar, _NoBar]

#: The scikit-learn checks each estimator is known to fail, with the reason:
#: ``check_estimator(est, expected_failed_checks=EXPECTED_FAILED_CHECKS[name])``.
#: One check is expected to fail for the estimators, and none for SequenceScaler
#: (scikit-learn 1.9): every other check passes in float32 and float64 and at any
#: batch size.
_MINI_BATCH = ("mini-batch training: a weight of 2 equals repeating the sample only "
               "when all the data fits in one batch and the sums round alike (the "
               "repeated copy lands in another batch; float32 rounds the sums apart)")
EXPECTED_FAILED_CHECKS: dict[str, dict[str, str]] = {
    "LSTMRegressor": {"check_sample_weight_equivalence_on_dense_data": _MINI_BATCH},
    "LSTMClassifier": {"check_sample_weight_equivalence_on_dense_data": _MINI_BATCH},
    "SequenceScaler": {},
}


def _r2(y_true: NDArray[Any], y_pred: NDArray[Any], w: NDArray[Any]) -> float:
    """R^2 of each column, averaged (scikit-learn's r2_score, uniform_average),
    with the rows weighted by w (n,)."""
    y_true = y_true.reshape(len(y_true), -1).astype(np.float64)
    y_pred = y_pred.reshape(len(y_pred), -1).astype(np.float64)
    w = w[:, None]
    ss_res = np.sum(w * (y_true - y_pred) ** 2, axis=0)
    ss_tot = np.sum(w * (y_true - np.average(y_true, axis=0, weights=w[:, 0])) ** 2, axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = np.where(ss_tot > 0, 1 - ss_res / ss_tot, np.where(ss_res > 0, 0.0, 1.0))
    return float(np.mean(r2))


def _sample_weight(sample_weight: ArrayLike | None, n: int) -> NDArray[np.float64]:
    """(n,) float64 weights, one per sequence (ones when None), checked."""
    if sample_weight is None:
        return np.ones(n)
    w = np.asarray(sample_weight)
    if w.dtype.kind not in "biuf":
        raise TypeError(f"sample_weight: expected real numbers, got dtype {w.dtype}")
    if w.ndim == 0:
        w = np.full(n, w)
    if w.shape != (n,):
        raise ValueError(f"sample_weight: expected shape ({n},) (one weight per sequence), "
                         f"got {w.shape}")
    w = w.astype(np.float64)
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError("sample_weight: expected finite non-negative numbers")
    if not w.sum() > 0:
        raise ValueError("sample_weight: expected a positive total weight, got all zeros")
    return w


def _step_weights(w: NDArray[Any], mask: NDArray[np.bool_]) -> NDArray[Any]:
    """The weights (n,) of sequences as weights of their real steps, flat (mask.sum(),)."""
    return np.broadcast_to(w[:, None], mask.shape)[mask]


class _Data:
    """One data set ready for training or evaluation, rows aligned.

    X (n, T, F) padded, lengths (n,) or None, y as given (checked), Y encoded
    targets ((n, k) / (n, T, k) standardised, or class codes (n,) / (n, T)),
    mask (n, T) real steps, w (n,) sample weights, W the weight of each loss
    position ((n,) per sequence, (n, T) per step: zero at padding; times the
    class weights for the classifier)."""

    __slots__ = ("X", "lengths", "y", "Y", "mask", "w", "W")
    X: NDArray[Any]
    lengths: NDArray[Any] | None
    y: NDArray[Any]
    Y: NDArray[Any]
    mask: NDArray[np.bool_]
    w: NDArray[np.float64]
    W: NDArray[Any]

    def __init__(self, X: NDArray[Any], lengths: NDArray[Any] | None, y: NDArray[Any],
                 Y: NDArray[Any], mask: NDArray[np.bool_], w: NDArray[np.float64],
                 W: NDArray[Any]) -> None:
        self.X, self.lengths, self.y, self.Y = X, lengths, y, Y
        self.mask, self.w, self.W = mask, w, W

    def take(self, idx: NDArray[np.intp]) -> _Data:
        lengths = None if self.lengths is None else self.lengths[idx]
        return _Data(self.X[idx], lengths, self.y[idx], self.Y[idx], self.mask[idx],
                     self.w[idx], self.W[idx])


@contextlib.contextmanager
def _unchanged_on_error(est: object) -> Iterator[None]:
    """Restores est's attributes if the block raises (the checks before training)."""
    saved = dict(est.__dict__)
    try:
        yield
    except BaseException:
        est.__dict__.clear()
        est.__dict__.update(saved)
        raise


def _end_of_epoch(sched: LRScheduler | None, monitored: float) -> None:
    """Steps an epoch schedule (OneCycleLR steps per batch, in the epoch);
    ReduceLROnPlateau reads the monitored loss."""
    if isinstance(sched, ReduceLROnPlateau):
        sched.step(monitored)
    elif sched is not None and not isinstance(sched, OneCycleLR):
        sched.step()


_SCHEDULES = (None, "constant", "step", "exponential", "cosine", "onecycle", "plateau")
LRScheduleName = Literal["constant", "step", "exponential", "cosine", "onecycle", "plateau"]


def _check_discrete(labels: NDArray[Any]) -> None:
    """Rejects real-valued targets (scikit-learn's type_of_target 'continuous') and NaN."""
    values = labels
    if labels.dtype == object:
        try:
            values = np.asarray(labels.tolist())
        except (TypeError, ValueError):
            return
    if values.dtype.kind == "f":
        check_finite(values, "y")
        if np.any(values != np.round(values)):
            raise ValueError("Unknown label type: continuous. Maybe you are trying to fit a "
                             "classifier, which expects discrete classes on a regression "
                             "target with continuous values.")


class _LSTMEstimator(ParamsMixin):
    """What the regressor and the classifier share: parameters, network, training loop."""

    _classifier = False
    _estimator_type: str  # "regressor" or "classifier", set by the subclass

    # What fit learns (see the subclasses' Attributes).
    lstm_: LSTM
    head_: Linear
    history_: dict[str, list[float]]
    best_epoch_: int | None
    best_validation_score_: float | None
    n_features_in_: int
    feature_names_in_: NDArray[Any]
    per_step_: bool
    _k_out: int  # width of the read-out: outputs or classes
    # The training state partial_fit continues.
    _rng: np.random.Generator
    _opt: Optimizer
    _sched: LRScheduler | None

    def __init__(self, hidden_size: int = 64, num_layers: int = 1, bidirectional: bool = False,
                 *, per_step: bool | None = None, epochs: int = 50, batch_size: int = 32,
                 lr: float = 1e-2, optimizer: Literal["adam", "sgd"] = "adam",
                 momentum: float = 0.9, weight_decay: float = 0.0, clip: float | None = 1.0,
                 forget_bias: float | None = 1.0, lr_schedule: LRScheduleName | None = None,
                 lr_schedule_params: Mapping[str, Any] | None = None,
                 validation_fraction: float | None = None, early_stopping: bool = False,
                 n_iter_no_change: int = 10, tol: float = 1e-4, warm_start: bool = False,
                 dtype: DTypeLike = "float32", random_state: int | None = None,
                 verbose: bool = False) -> None:
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bidirectional = bidirectional
        self.per_step = per_step
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.optimizer = optimizer
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.clip = clip
        self.forget_bias = forget_bias
        self.lr_schedule = lr_schedule
        self.lr_schedule_params = lr_schedule_params
        self.validation_fraction = validation_fraction
        self.early_stopping = early_stopping
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.warm_start = warm_start
        self.dtype = dtype
        self.random_state = random_state
        self.verbose = verbose

    def __sklearn_tags__(self) -> Any:
        from sklearn.utils import ClassifierTags, RegressorTags, Tags, TargetTags
        # The regressor takes (n, k) targets; the classifier one label per sequence.
        target = TargetTags(required=True, multi_output=not self._classifier)
        tags = Tags(estimator_type=self._estimator_type, target_tags=target,
                    classifier_tags=ClassifierTags() if self._classifier else None,
                    regressor_tags=None if self._classifier else RegressorTags())
        tags.input_tags.three_d_array = True
        return tags

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "lstm_")

    # ---- checks -----------------------------------------------------------

    def _validate_params(self) -> None:
        def integer(name: str, low: int) -> None:
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < low:
                raise ValueError(f"{name}: expected an integer >= {low}, got {v!r}")

        def number(name: str, low: float, high: float = np.inf, low_open: bool = False) -> None:
            v = getattr(self, name)
            if (isinstance(v, bool) or not isinstance(v, (int, float, np.number))
                    or not (low < v if low_open else low <= v) or not v <= high):
                raise ValueError(f"{name}: expected a number in {'(' if low_open else '['}"
                                 f"{low}, {high}], got {v!r}")

        for name in ("hidden_size", "num_layers", "epochs", "batch_size", "n_iter_no_change"):
            integer(name, 1)
        number("lr", 0, low_open=True)
        number("momentum", 0, 1)
        number("weight_decay", 0)
        number("tol", 0)
        if self.validation_fraction is not None:
            number("validation_fraction", 0, 1, low_open=True)
            if self.validation_fraction == 1:
                raise ValueError("validation_fraction: expected a number in (0, 1), got 1")
        if self.clip is not None:
            number("clip", 0, low_open=True)
        if self.forget_bias is not None:
            number("forget_bias", -np.inf)
        if self.optimizer not in ("adam", "sgd"):
            raise ValueError(f"optimizer: expected 'adam' or 'sgd', got {self.optimizer!r}")
        if self.lr_schedule not in _SCHEDULES:
            raise ValueError(f"lr_schedule: expected one of {', '.join(map(repr, _SCHEDULES))}, "
                             f"got {self.lr_schedule!r}")
        if self.lr_schedule_params is not None and not isinstance(self.lr_schedule_params,
                                                                  Mapping):
            raise ValueError(f"lr_schedule_params: expected a dict of the schedule's "
                             f"arguments or None, got {self.lr_schedule_params!r}")
        if self.per_step not in (None, True, False):
            raise ValueError(f"per_step: expected None, True or False, got {self.per_step!r}")
        if np.dtype(self.dtype) not in (np.float32, np.float64):
            raise ValueError(f"dtype: expected float32 or float64, got {self.dtype!r}")

    # ---- the network ------------------------------------------------------

    def _forward(self, x: NDArray[Any], lengths: NDArray[Any] | None, train: bool) -> Any:
        """x (T, B, F) -> outputs (B, k) per sequence or (T, B, k) per step (+ caches)."""
        D = 2 if self.bidirectional else 1
        if train:
            out, (h_n, _), cache = self.lstm_.forward_train(x, lengths=lengths)
        else:
            out, (h_n, _) = self.lstm_(x, lengths=lengths)
            cache = None
        if self.per_step_:
            feat = out
        else:
            # The last layer's h_n is the forward state at each sequence's last real
            # step and the reverse state at t = 0: exactly what a gather of `out`
            # at t = len-1 (forward) and t = 0 (reverse) would give.
            feat = np.concatenate(list(h_n[-D:]), axis=-1)
        if not train:
            return self.head_(feat)
        z, head_cache = self.head_.forward_train(feat)
        return z, (cache, head_cache, h_n.shape)

    def _backward(self, caches: Any, d_z: NDArray[Any]) -> None:
        cache, head_cache, h_shape = caches
        d_feat = self.head_.backward(head_cache, d_z)
        if self.per_step_:
            self.lstm_.backward(cache, d_feat)
        else:
            D, H = h_shape[0] // self.num_layers, self.hidden_size
            d_h_n = np.zeros(h_shape, d_feat.dtype)
            for d in range(D):
                d_h_n[h_shape[0] - D + d] = d_feat[:, d * H:(d + 1) * H]
            self.lstm_.backward(cache, None, d_h_n)

    def _batch(self, X: NDArray[Any], lengths: NDArray[Any] | None, idx: NDArray[np.intp]
               ) -> tuple[NDArray[Any], NDArray[Any] | None, int]:
        """Time-major batch trimmed to its longest sequence."""
        lens = None if lengths is None else lengths[idx]
        Tb = X.shape[1] if lens is None else int(lens.max())
        x = np.ascontiguousarray(X[idx, :Tb].transpose(1, 0, 2), dtype=self.lstm_.dtype)
        return x, lens, Tb

    def _raw_predict(self, X: NDArray[Any], lengths: NDArray[Any] | None) -> NDArray[Any]:
        """Network outputs: (n, k) per sequence, or (n, T, k) per step."""
        n, T = X.shape[:2]
        k = self.head_.out_features
        res = np.zeros((n, k) if not self.per_step_ else (n, T, k), self.lstm_.dtype)
        for s in range(0, n, _PREDICT_BATCH):
            idx = np.arange(s, min(n, s + _PREDICT_BATCH))
            x, lens, Tb = self._batch(X, lengths, idx)
            z = self._forward(x, lens, train=False)
            if self.per_step_:
                res[idx, :Tb] = z.transpose(1, 0, 2)
            else:
                res[idx] = z
        return res

    # ---- training ---------------------------------------------------------

    def _data(self, X: Input, y: Target, sample_weight: ArrayLike | None, fresh: bool,
              classes: NDArray[Any] | None = None, weigh_classes: bool = False) -> _Data:
        """A _Data from what the user passed. fresh: learn the target encoding
        (and the input width, per_step_) from it; else use the fitted ones.
        weigh_classes: set the classifier's class_weight_ from this y."""
        if fresh:
            X, lengths, _, names = as_sequences(X)
        else:
            X, lengths, _, _ = as_fitted_input(self, X)
        n, T, F = X.shape
        y, per_step = per_step_target(y, n, T, lengths,
                                      self.per_step if fresh else self.per_step_,
                                      self._classifier, type(self).__name__)
        mask = steps_mask(n, T, lengths)
        w = _sample_weight(sample_weight, n)
        if fresh:
            self.n_features_in_ = F
            check_feature_names(self, names, reset=True)
            self.per_step_ = per_step
            self._fit_targets(y, per_step, mask, w, classes)
        elif per_step != self.per_step_:
            raise ValueError(f"y: expected {'per-step' if self.per_step_ else 'one'} "
                             f"target{'s' if self.per_step_ else ' per sequence'} as in the "
                             f"first fit, got shape {np.shape(y)}")
        Y = self._encode_targets(y, per_step, mask)
        W = w[:, None] * mask if per_step else w.copy()
        if self._classifier:
            clf = cast("LSTMClassifier", self)
            if weigh_classes:
                clf._set_class_weight(Y, mask)
            W *= clf.class_weight_[Y]
        return _Data(X, lengths, y, Y, mask, w, W)

    def _check_same_network(self, why: str) -> None:
        """Continuing needs the fitted network's shape and dtype."""
        want = (self.hidden_size, self.num_layers, bool(self.bidirectional),
                np.dtype(self.dtype))
        have = (self.lstm_.hidden_size, self.lstm_.num_layers, self.lstm_.bidirectional,
                self.lstm_.dtype)
        if want != have:
            raise ValueError(f"{why}: continues the fitted network, so hidden_size, "
                             f"num_layers, bidirectional and dtype must stay {have[:3]} and "
                             f"{have[3]}, got {want[:3]} and {want[3]} (fit without "
                             f"warm_start to start a new one)")

    def _init_network(self, rng: np.random.Generator) -> None:
        dtype = np.dtype(self.dtype)
        self.lstm_ = LSTM(self.n_features_in_, self.hidden_size, self.num_layers,
                          bidirectional=self.bidirectional, dtype=dtype,
                          seed=int(rng.integers(2**31)), forget_bias=self.forget_bias)
        D = 2 if self.bidirectional else 1
        self.head_ = Linear(D * self.hidden_size, self._k_out, dtype=dtype,
                            seed=int(rng.integers(2**31)))

    def _optimizer(self) -> Optimizer:
        modules = [self.lstm_, self.head_]
        if self.optimizer == "adam":
            return Adam(modules, lr=self.lr, weight_decay=self.weight_decay)
        return SGD(modules, lr=self.lr, momentum=self.momentum, weight_decay=self.weight_decay)

    def _schedule(self, opt: Optimizer, n_batches: int) -> LRScheduler | None:
        """The lr_schedule on opt: pylstm.optim's class with lr_schedule_params,
        and defaults that fit `epochs` epochs of n_batches batches."""
        kind = self.lr_schedule
        if kind in (None, "constant"):
            return None
        kw = dict(self.lr_schedule_params or {})
        cls: Any
        if kind == "step":
            cls = StepLR
            kw.setdefault("step_size", max(1, self.epochs // 3))
        elif kind == "exponential":
            cls = ExponentialLR
            kw.setdefault("gamma", 0.95)
        elif kind == "cosine":
            cls = CosineAnnealingLR
            kw.setdefault("T_max", self.epochs)
        elif kind == "onecycle":
            cls = OneCycleLR
            kw.setdefault("max_lr", self.lr)
            if "epochs" not in kw and "steps_per_epoch" not in kw:
                kw.setdefault("total_steps", self.epochs * n_batches)
        else:
            cls = ReduceLROnPlateau
        try:
            return cls(opt, **kw)
        except TypeError as e:
            raise ValueError(f"lr_schedule_params: {e}") from e

    def _epoch(self, data: _Data, train_idx: NDArray[np.intp], rng: np.random.Generator,
               opt: Optimizer, sched: LRScheduler | None, desc: str
               ) -> tuple[float, float, _Bar]:
        """One pass over data[train_idx] in shuffled batches: (mean loss, the last
        batch's lr, the epoch's progress bar, still open)."""
        modules = [self.lstm_, self.head_]
        bs = min(self.batch_size, len(train_idx))
        n_batches = -(-len(train_idx) // bs)
        perm = rng.permutation(train_idx)
        bar = progress(n_batches, desc=desc, unit="batch", enabled=bool(self.verbose))
        total, weight, start = 0.0, 0.0, time.perf_counter()
        for b in range(n_batches):
            idx = perm[b * bs:(b + 1) * bs]
            x, lens, Tb = self._batch(data.X, data.lengths, idx)
            opt.zero_grad()
            z, caches = self._forward(x, lens, train=True)
            if self.per_step_:
                Wb = data.W[idx, :Tb].T
                loss, d_z = self._loss(z, data.Y[idx, :Tb].swapaxes(0, 1), Wb)
            else:
                Wb = data.W[idx]
                loss, d_z = self._loss(z, data.Y[idx], Wb)
            self._backward(caches, d_z)
            if self.clip is not None:
                clip_grad_norm(modules, self.clip)
            lr = opt.lr
            opt.step()
            if isinstance(sched, OneCycleLR):  # the 1cycle policy steps per batch
                sched.step()
            # The epoch's loss is the batches' losses weighted by what each
            # averaged over: the loss over the epoch's data, not the last batch's.
            total += loss * float(Wb.sum())
            weight += float(Wb.sum())
            elapsed = max(time.perf_counter() - start, 1e-9)
            bar.update(1, loss=total / weight, seq_s=f"{(b * bs + len(idx)) / elapsed:.0f}")
        return total / weight, lr, bar

    def _evaluate(self, data: _Data) -> tuple[float, float]:
        """(loss, score) on held-out data: the training loss's definition (and
        weights), and score()'s."""
        raw = self._raw_predict(data.X, data.lengths)
        loss, _ = self._loss(raw, data.Y, data.W)
        return loss, self._score_raw(raw, data.y, data.mask, data.w)

    def _fit(self: _E, X: Input, y: Target, sample_weight: ArrayLike | None = None,
             validation_data: ValidationData | None = None) -> _E:
        with _unchanged_on_error(self):
            self._validate_params()
            warm = self.warm_start and hasattr(self, "lstm_")
            if warm:
                self._check_same_network("warm_start")
            data = self._data(X, y, sample_weight, fresh=not warm, weigh_classes=True)
            rng = np.random.default_rng(self.random_state)
            if not warm:
                self._init_network(rng)
            n = len(data.X)
            frac = self.validation_fraction
            if frac is None and self.early_stopping and validation_data is None:
                frac = 0.1
            val = None
            train_idx = np.arange(n)
            if validation_data is not None:
                if not isinstance(validation_data, (tuple, list)) \
                        or len(validation_data) not in (2, 3):
                    raise ValueError("validation_data: expected a tuple (X_val, y_val) or "
                                     "(X_val, y_val, sample_weight_val)")
                X_val, y_val, *w_val = validation_data
                try:
                    val = self._data(X_val, y_val, w_val[0] if w_val else None, fresh=False)
                except (ValueError, TypeError) as e:
                    raise type(e)(f"validation_data: {e}") from e
            elif frac is not None:
                order = rng.permutation(n)
                n_val = round(frac * n)
                if n_val < 1 or n_val >= n:
                    raise ValueError(f"validation_fraction: {frac} of {n} samples leaves no "
                                     f"validation or no training data")
                val, train_idx = data.take(order[:n_val]), order[n_val:]
            if val is not None and not val.W.sum() > 0:
                raise ValueError("validation data: expected a positive total sample weight")
            train_idx = train_idx[data.w[train_idx] > 0]  # zero weight: not trained on
            if len(train_idx) == 0:
                raise ValueError("sample_weight: every training sample has weight 0")
            opt = self._optimizer()
            n_batches = -(-len(train_idx) // min(self.batch_size, len(train_idx)))
            sched = self._schedule(opt, n_batches)
        self._rng, self._opt, self._sched = rng, opt, sched
        self.history_ = {"loss": [], "lr": []}
        if val is not None:
            self.history_.update(val_loss=[], val_score=[])
        self.best_validation_score_ = self.best_epoch_ = None
        modules = [self.lstm_, self.head_]
        best_loss, best_state, no_improve = math.inf, None, 0
        for epoch in range(self.epochs):
            loss, lr, bar = self._epoch(data, train_idx, rng, opt, sched,
                                        f"{type(self).__name__} epoch {epoch + 1}/{self.epochs}")
            self.history_["loss"].append(loss)
            self.history_["lr"].append(lr)
            monitored = loss
            if val is not None:
                monitored, score = self._evaluate(val)
                self.history_["val_loss"].append(monitored)
                self.history_["val_score"].append(score)
                bar.update(0, val_loss=monitored, val_score=score)
            bar.close()
            _end_of_epoch(sched, monitored)
            if not self.early_stopping:
                continue
            no_improve = 0 if monitored < best_loss - self.tol else no_improve + 1
            if monitored < best_loss:
                best_loss, self.best_epoch_ = monitored, epoch
                self.best_validation_score_ = self.history_["val_score"][epoch]
                best_state = [m.state_dict() for m in modules]
            if no_improve >= self.n_iter_no_change:
                break
        if best_state is not None:  # early stopping keeps the best epoch's weights
            for m, s in zip(modules, best_state):
                m.load_state_dict(s)
        return self

    def _partial_fit(self: _E, X: Input, y: Target, sample_weight: ArrayLike | None = None,
                     classes: ArrayLike | None = None) -> _E:
        with _unchanged_on_error(self):
            self._validate_params()
            fresh = not hasattr(self, "lstm_")
            if not fresh:
                self._check_same_network("partial_fit")
            checked = None
            if self._classifier:
                checked = cast("LSTMClassifier", self)._check_partial_fit_classes(classes, fresh)
            data = self._data(X, y, sample_weight, fresh=fresh, classes=checked,
                              weigh_classes=fresh)
            if fresh:
                self._rng = np.random.default_rng(self.random_state)
                self._init_network(self._rng)
                self.history_ = {"loss": [], "lr": []}
                self.best_validation_score_ = self.best_epoch_ = None
            train_idx = np.flatnonzero(data.w > 0)
            n_batches = -(-len(train_idx) // min(self.batch_size, len(train_idx)))
            if getattr(self, "_opt", None) is None:
                self._opt = self._optimizer()
                self._sched = self._schedule(self._opt, n_batches)
            sched = self._sched
            if isinstance(sched, OneCycleLR) and sched.last_epoch + n_batches > sched.total_steps:
                raise ValueError(f"lr_schedule: the 'onecycle' schedule has "
                                 f"{sched.total_steps - sched.last_epoch} steps left, this "
                                 f"epoch needs {n_batches}")
        epoch = len(self.history_["loss"]) + 1
        loss, lr, bar = self._epoch(data, train_idx, self._rng, self._opt, sched,
                                    f"{type(self).__name__} epoch {epoch}")
        bar.close()
        self.history_["loss"].append(loss)
        self.history_["lr"].append(lr)
        for key in ("val_loss", "val_score"):  # no validation in partial_fit
            if key in self.history_:
                self.history_[key].append(math.nan)
        _end_of_epoch(sched, loss)
        return self

    @property
    def loss_curve_(self) -> list[float]:
        """history_["loss"]: the mean training loss of each epoch (kept for
        scikit-learn's MLP name)."""
        return self.history_["loss"]

    @property
    def validation_scores_(self) -> list[float] | None:
        """history_["val_score"], or None when no validation ran (MLP's name)."""
        return self.history_.get("val_score")

    @property
    def n_epochs_(self) -> int:
        """Epochs trained since the network was initialised in this fit (or by
        the first partial_fit)."""
        return len(self.history_["loss"])

    def _prepare_predict(self, X: Input) -> tuple[NDArray[Any], NDArray[Any] | None, bool]:
        """(X (n, T, F), lengths, whether per-step results go back as a list)."""
        X, lengths, layout, _ = as_fitted_input(self, X)
        return X, lengths, self.per_step_ and layout == "list"

    # Each estimator's own (the base is never fitted itself):

    def _fit_targets(self, y: NDArray[Any], per_step: bool, mask: NDArray[np.bool_],
                     w: NDArray[np.float64], classes: NDArray[Any] | None
                     ) -> None:  # pragma: no cover
        """Learns the target encoding (scaling or classes) from the first fit's y."""
        raise NotImplementedError

    def _encode_targets(self, y: NDArray[Any], per_step: bool, mask: NDArray[np.bool_]
                        ) -> NDArray[Any]:  # pragma: no cover
        """y as the network's targets."""
        raise NotImplementedError

    def _loss(self, z: NDArray[Any], target: NDArray[Any], weight: NDArray[Any]
              ) -> tuple[float, NDArray[Any]]:  # pragma: no cover
        """(loss, its gradient d_z)."""
        raise NotImplementedError

    def _score_raw(self, raw: NDArray[Any], y: NDArray[Any], mask: NDArray[np.bool_],
                   w: NDArray[np.float64]) -> float:  # pragma: no cover
        raise NotImplementedError

    def _score_input(self, X: Input, y: Target
                     ) -> tuple[NDArray[Any], NDArray[Any], NDArray[np.bool_]]:
        X, lengths, _, _ = as_fitted_input(self, X)
        n, T = X.shape[:2]
        y, _ = per_step_target(y, n, T, lengths, self.per_step_, self._classifier,
                               type(self).__name__)
        return self._raw_predict(X, lengths), y, steps_mask(n, T, lengths)

    def score(self, X: Input, y: Target, sample_weight: ArrayLike | None = None) -> float:
        """R^2 (regressor) or accuracy (classifier) of predict(X) against y.

        Per-step targets are scored over the real steps of every sequence;
        sample_weight (n,) weighs each sequence (all its steps)."""
        raw, y, mask = self._score_input(X, y)
        return self._score_raw(raw, y, mask, _sample_weight(sample_weight, len(mask)))


class LSTMRegressor(_LSTMEstimator):
    """An LSTM with a linear read-out, trained on mean squared error.

    Parameters
    ----------
    hidden_size : int, default 64
    num_layers : int, default 1
    bidirectional : bool, default False
    per_step : bool or None, default None
        One target per step (True) or per sequence (False); None infers it
        from y's shape (see the module docstring).
    epochs : int, default 50
        Passes over the training data (per call of fit).
    batch_size : int, default 32
    lr : float, default 1e-2
    optimizer : {"adam", "sgd"}, default "adam"
    momentum : float, default 0.9
        SGD only.
    weight_decay : float, default 0
        L2 penalty added to the gradients.
    clip : float or None, default 1.0
        Gradient-norm clipping threshold (None: no clipping).
    forget_bias : float or None, default 1.0
        Initial forget-gate bias (None: torch's initialisation).
    lr_schedule : {None, "constant", "step", "exponential", "cosine", "onecycle", "plateau"}
        How the learning rate changes, by the pylstm.optim schedule of the same
        torch name: "step" StepLR (step_size epochs // 3, gamma 0.1),
        "exponential" ExponentialLR (gamma 0.95), "cosine" CosineAnnealingLR
        (T_max epochs), each stepped after every epoch; "onecycle" OneCycleLR
        (max_lr lr, total_steps epochs x batches per epoch), stepped after every
        batch; "plateau" ReduceLROnPlateau on the validation loss (the training
        loss without validation) after every epoch. None / "constant": lr
        throughout.
    lr_schedule_params : dict or None
        Arguments for the schedule's class, replacing the defaults above, e.g.
        ``{"step_size": 5, "gamma": 0.5}`` or ``{"max_lr": 0.05, "pct_start": 0.2}``.
    validation_fraction : float in (0, 1) or None, default None
        Share of the data held out (not trained on) and scored after every
        epoch. None: 0.1 when early_stopping, else no held-out split.
        fit's ``validation_data`` replaces the split.
    early_stopping : bool, default False
        Stop when the validation loss has not fallen by tol for
        n_iter_no_change epochs, and keep the weights of the epoch with the
        lowest validation loss.
    n_iter_no_change : int, default 10
    tol : float, default 1e-4
    warm_start : bool, default False
        fit continues from the fitted network (and its target scaling or
        classes) instead of a new one; the optimiser and schedule start anew.
    dtype : "float32" or "float64", default "float32"
    random_state : int or None
        Seeds the initialisation, shuffling and validation split.
    verbose : bool, default False
        One progress line per epoch (tqdm if installed) with the epoch's mean
        training loss, the validation loss and score, and the throughput.

    Attributes
    ----------
    lstm_ : pylstm.LSTM
    head_ : pylstm.Linear
    history_ : dict of lists, one entry per epoch
        "loss": mean training loss of the epoch (over all its batches,
        weighted like the loss); "lr": the learning rate of its last batch;
        with validation, "val_loss": the same loss on the held-out data after
        the epoch, "val_score": score() on it. Losses are on standardised
        targets ((y - y_mean_) / y_scale_). A fit (warm or not) starts a new
        history; partial_fit appends (NaN for the validation entries).
    loss_curve_ : list of float
        history_["loss"] (scikit-learn's MLP name, kept).
    validation_scores_ : list of float or None
        history_["val_score"], None without validation.
    best_epoch_ : int or None
        With early_stopping, the index in history_ of the epoch whose weights
        were kept (lowest val_loss).
    best_validation_score_ : float or None
        history_["val_score"][best_epoch_].
    n_epochs_ : int
        len(history_["loss"]).
    n_features_in_ : int
        Features per step (the last axis of X; the columns of a 2-D X).
    feature_names_in_ : ndarray of str, shape (n_features_in_,)
        The columns of a DataFrame X (or of a list of DataFrames); only then.
    n_outputs_ : int
    per_step_ : bool
    y_mean_, y_scale_ : ndarrays, shape (n_outputs_,)
        The network learns (y - y_mean_) / y_scale_ (weighted by sample_weight;
        set by the first fit, or the first partial_fit call).
    """

    _estimator_type = "regressor"

    n_outputs_: int
    y_mean_: NDArray[np.float64]
    y_scale_: NDArray[np.float64]
    _y_ndim: int  # y's ndim in the first fit: decoded predictions take it

    def fit(self: _E, X: Input, y: Target, sample_weight: ArrayLike | None = None, *,
            validation_data: ValidationData | None = None) -> _E:
        """Trains on X, y (see the module docstring for their shapes); returns self.

        Parameters
        ----------
        X, y : see the module docstring
        sample_weight : array, shape (n,), optional
            Weight of each sequence in the loss (with per-step targets, of each
            of its steps): an integer weight counts like repeating the sequence,
            0 leaves it out of training.
        validation_data : tuple (X_val, y_val) or (X_val, y_val, sample_weight_val)
            Data scored after every epoch (history_ "val_loss", "val_score");
            replaces the validation_fraction split.
        """
        return self._fit(X, y, sample_weight, validation_data)

    def partial_fit(self: _E, X: Input, y: Target,
                    sample_weight: ArrayLike | None = None) -> _E:
        """One epoch over X, y (shuffled batches); returns self.

        The first call (or fit) sets up the network and the target scaling;
        later calls continue with the same optimiser state, schedule and
        random stream, so k calls on the same data train exactly as
        fit(..., epochs=k) without validation. No validation or early stopping.
        """
        return self._partial_fit(X, y, sample_weight)

    def _target_array(self, y: NDArray[Any], per_step: bool, mask: NDArray[np.bool_]
                      ) -> NDArray[np.float64]:
        """y as float64 with a trailing outputs axis, checked."""
        if y.dtype == object:
            y = y.astype(np.float64)  # numbers held as objects (a TypeError otherwise)
        if y.dtype.kind not in "biuf":
            raise TypeError(f"y: expected real numbers, got dtype {y.dtype}")
        Y = y.astype(np.float64)
        if y.ndim == (2 if per_step else 1):
            Y = Y[..., None]
        check_finite(Y[mask] if per_step else Y, "y")
        return Y

    def _fit_targets(self, y: NDArray[Any], per_step: bool, mask: NDArray[np.bool_],
                     w: NDArray[np.float64], classes: NDArray[Any] | None) -> None:
        Y = self._target_array(y, per_step, mask)
        self._y_ndim = y.ndim
        real = Y[mask] if per_step else Y
        wr = _step_weights(w, mask) if per_step else w
        self.y_mean_ = np.average(real, axis=0, weights=wr)
        scale = np.sqrt(np.average((real - self.y_mean_) ** 2, axis=0, weights=wr))
        self.y_scale_ = np.where(scale > 0, scale, 1.0)
        self.n_outputs_ = self._k_out = Y.shape[-1]

    def _encode_targets(self, y: NDArray[Any], per_step: bool, mask: NDArray[np.bool_]
                        ) -> NDArray[Any]:
        Y = self._target_array(y, per_step, mask)
        if y.ndim != self._y_ndim or Y.shape[-1] != self.n_outputs_:
            raise ValueError(f"y: expected {self.n_outputs_} output(s) as in the first fit, "
                             f"got shape {y.shape}")
        return ((Y - self.y_mean_) / self.y_scale_).astype(np.dtype(self.dtype))

    def _loss(self, z: NDArray[Any], target: NDArray[Any], weight: NDArray[Any]
              ) -> tuple[float, NDArray[Any]]:
        return mse(z, target, sample_weight=weight[..., None])

    def _decode(self, raw: NDArray[Any]) -> NDArray[np.float64]:
        out = raw.astype(np.float64) * self.y_scale_ + self.y_mean_
        return out[..., 0] if self._y_ndim == (2 if self.per_step_ else 1) else out

    @overload
    def predict(self, X: NDArray[Any]) -> NDArray[Any]: ...
    @overload
    def predict(self, X: Input) -> NDArray[Any] | list[NDArray[Any]]: ...

    def predict(self, X: Input) -> NDArray[Any] | list[NDArray[Any]]:
        """Predictions: (n,) / (n, k) per sequence; (n, T) / (n, T, k) per step, or a
        list of (T_i,) / (T_i, k) arrays when X is a list of sequences.

        X : ndarray (n, T, n_features) or (n, n_features), DataFrame, or a list of
            (T_i, n_features) arrays or DataFrames (see the module docstring)"""
        X, lengths, as_list = self._prepare_predict(X)
        return unpad(self._decode(self._raw_predict(X, lengths)), lengths, as_list)

    def _score_raw(self, raw: NDArray[Any], y: NDArray[Any], mask: NDArray[np.bool_],
                   w: NDArray[np.float64]) -> float:
        pred = self._decode(raw)
        y = np.asarray(y, np.float64)
        if self.per_step_:
            return _r2(y[mask], pred[mask], _step_weights(w, mask))
        return _r2(y, pred, w)


class LSTMClassifier(_LSTMEstimator):
    """An LSTM with a linear read-out to class scores, trained on cross-entropy.

    Parameters are those of LSTMRegressor (losses in history_ are the mean
    cross-entropy, scores the accuracy), and

    class_weight : None, "balanced" or dict {label: weight}, default None
        Weights of the classes in the loss, multiplying sample_weight.
        "balanced": n / (n_classes * count(label)) over the labels given to
        fit (over their real steps for per-step targets), scikit-learn's
        compute_class_weight formula.
        Not with partial_fit (later calls' counts are unknown).

    y holds class labels (any values np.unique can sort), one per sequence
    (n,) or one per step ((n, T) or a list of (T_i,) arrays).

    Attributes
    ----------
    classes_ : ndarray, shape (n_classes,)
    class_weight_ : ndarray, shape (n_classes,)
        The weight of each class in the loss.
    lstm_, head_, history_, loss_curve_, validation_scores_, best_epoch_,
    best_validation_score_, n_epochs_, n_features_in_, feature_names_in_,
    per_step_ :
        as in LSTMRegressor (scores are accuracies)
    """

    _estimator_type = "classifier"
    _classifier = True

    classes_: NDArray[Any]
    class_weight_: NDArray[np.float64]

    def __init__(self, hidden_size: int = 64, num_layers: int = 1, bidirectional: bool = False,
                 *, per_step: bool | None = None, epochs: int = 50, batch_size: int = 32,
                 lr: float = 1e-2, optimizer: Literal["adam", "sgd"] = "adam",
                 momentum: float = 0.9, weight_decay: float = 0.0, clip: float | None = 1.0,
                 forget_bias: float | None = 1.0, lr_schedule: LRScheduleName | None = None,
                 lr_schedule_params: Mapping[str, Any] | None = None,
                 validation_fraction: float | None = None, early_stopping: bool = False,
                 n_iter_no_change: int = 10, tol: float = 1e-4, warm_start: bool = False,
                 class_weight: Literal["balanced"] | Mapping[Any, float] | None = None,
                 dtype: DTypeLike = "float32", random_state: int | None = None,
                 verbose: bool = False) -> None:
        # Every argument but class_weight is the shared estimator's: pass them on
        # by name (scikit-learn reads the parameters from this signature).
        shared = {k: v for k, v in locals().items()
                  if k not in ("self", "class_weight", "__class__")}
        super().__init__(**shared)
        self.class_weight = class_weight

    def fit(self: _E, X: Input, y: Target, sample_weight: ArrayLike | None = None, *,
            validation_data: ValidationData | None = None) -> _E:
        """Trains on X, y; returns self. Arguments as in LSTMRegressor.fit."""
        return self._fit(X, y, sample_weight, validation_data)

    def partial_fit(self: _E, X: Input, y: Target, classes: ArrayLike | None = None,
                    sample_weight: ArrayLike | None = None) -> _E:
        """One epoch over X, y; returns self (see LSTMRegressor.partial_fit).

        classes : array-like, all the labels y may hold; needed on the first
        call (as in scikit-learn's SGDClassifier), optional later (then equal)."""
        return self._partial_fit(X, y, sample_weight, classes)

    def _validate_params(self) -> None:
        super()._validate_params()
        cw = self.class_weight
        if cw is None or (isinstance(cw, str) and cw == "balanced"):
            return
        if not isinstance(cw, Mapping) or not all(
                not isinstance(v, bool) and isinstance(v, (int, float, np.number))
                and np.isfinite(v) and v >= 0 for v in cw.values()):
            raise ValueError(f"class_weight: expected None, 'balanced' or a dict of "
                             f"non-negative weights per label, got {cw!r}")

    def _check_partial_fit_classes(self, classes: ArrayLike | None, fresh: bool
                                   ) -> NDArray[Any] | None:
        if isinstance(self.class_weight, str):
            raise ValueError("class_weight: 'balanced' is not supported by partial_fit (the "
                             "labels of later calls are unknown); pass a dict of weights")
        if classes is None:
            if fresh:
                raise ValueError("classes: expected every label y can hold (e.g. "
                                 "np.unique(y_all)) on the first call to partial_fit")
            return None
        unique = np.unique(np.asarray(classes))
        if not fresh and not np.array_equal(unique, self.classes_):
            raise ValueError(f"classes: expected the classes of the first call, "
                             f"{self.classes_!r}, got {unique!r}")
        return unique

    def _fit_targets(self, y: NDArray[Any], per_step: bool, mask: NDArray[np.bool_],
                     w: NDArray[np.float64], classes: NDArray[Any] | None) -> None:
        self.classes_ = np.unique(y[mask] if per_step else y) if classes is None else classes
        if len(self.classes_) < 2:
            raise ValueError(f"y: expected at least 2 classes, got {len(self.classes_)} "
                             f"class{'es' if len(self.classes_) != 1 else ''}")
        self._k_out = len(self.classes_)

    def _encode_targets(self, y: NDArray[Any], per_step: bool, mask: NDArray[np.bool_]
                        ) -> NDArray[Any]:
        real = y[mask] if per_step else y
        _check_discrete(real)
        unseen = np.setdiff1d(real, self.classes_)
        if unseen.size:
            raise ValueError(f"y: labels {unseen[:5].tolist()} are not among the classes "
                             f"{self.classes_.tolist()}")
        codes = np.zeros(y.shape, np.int64)
        codes[mask if per_step else slice(None)] = np.searchsorted(self.classes_, real)
        return codes

    def _set_class_weight(self, codes: NDArray[Any], mask: NDArray[np.bool_]) -> None:
        """class_weight_ from class_weight and the training labels' codes."""
        K, cw = len(self.classes_), self.class_weight
        weights = np.ones(K)
        if isinstance(cw, str):  # "balanced": scikit-learn's compute_class_weight
            real = codes[mask] if self.per_step_ else codes
            counts = np.bincount(real, minlength=K)
            present = counts > 0
            weights[present] = len(real) / (np.count_nonzero(present) * counts[present])
        elif cw is not None:
            for label, value in cw.items():
                hit = np.flatnonzero(self.classes_ == label)
                if hit.size == 0:
                    raise ValueError(f"class_weight: label {label!r} is not among the "
                                     f"classes {self.classes_.tolist()}")
                weights[hit] = value
        self.class_weight_ = weights

    def _loss(self, z: NDArray[Any], labels: NDArray[Any], weight: NDArray[Any]
              ) -> tuple[float, NDArray[Any]]:
        return cross_entropy(z, labels, sample_weight=weight)

    @staticmethod
    def _softmax(z: NDArray[Any]) -> NDArray[Any]:
        e = np.exp(z - z.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)

    @overload
    def predict_proba(self, X: NDArray[Any]) -> NDArray[np.float64]: ...
    @overload
    def predict_proba(self, X: Input) -> NDArray[np.float64] | list[NDArray[np.float64]]: ...

    def predict_proba(self, X: Input) -> NDArray[np.float64] | list[NDArray[np.float64]]:
        """Class probabilities: (n, n_classes) per sequence, (n, T, n_classes) per
        step (or a list of (T_i, n_classes) arrays when X is a list of sequences)."""
        X, lengths, as_list = self._prepare_predict(X)
        return unpad(self._softmax(self._raw_predict(X, lengths).astype(np.float64)),
                           lengths, as_list)

    @overload
    def predict(self, X: NDArray[Any]) -> NDArray[Any]: ...
    @overload
    def predict(self, X: Input) -> NDArray[Any] | list[NDArray[Any]]: ...

    def predict(self, X: Input) -> NDArray[Any] | list[NDArray[Any]]:
        """Labels: (n,) per sequence, (n, T) per step (or a list of (T_i,) arrays)."""
        X, lengths, as_list = self._prepare_predict(X)
        labels = self.classes_[np.argmax(self._raw_predict(X, lengths), axis=-1)]
        return unpad(labels, lengths, as_list)

    def _score_raw(self, raw: NDArray[Any], y: NDArray[Any], mask: NDArray[np.bool_],
                   w: NDArray[np.float64]) -> float:
        pred = self.classes_[np.argmax(raw, axis=-1)]
        y = np.asarray(y)
        if self.per_step_:
            return float(np.average(pred[mask] == y[mask], weights=_step_weights(w, mask)))
        return float(np.average(pred == y, weights=w))
