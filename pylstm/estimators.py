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

import time
from typing import Any

import numpy as np

from ._params import ParamsMixin
from ._progress import progress
from ._sequences import (as_fitted_input, as_sequences, check_feature_names, check_finite,
                         per_step_target, steps_mask, unpad)
from .layers import Linear
from .losses import cross_entropy, mse
from .lstm import LSTM
from .optim import SGD, Adam, clip_grad_norm

_PREDICT_BATCH = 256

#: The scikit-learn checks each estimator is known to fail, with the reason:
#: ``check_estimator(est, expected_failed_checks=EXPECTED_FAILED_CHECKS[name])``.
#: Empty: the estimators and SequenceScaler pass every check of scikit-learn 1.9.
EXPECTED_FAILED_CHECKS: dict[str, dict[str, str]] = {
    "LSTMRegressor": {},
    "LSTMClassifier": {},
    "SequenceScaler": {},
}


def _r2(y_true, y_pred):
    """R^2 of each column, averaged (scikit-learn's r2_score, uniform_average)."""
    y_true = y_true.reshape(len(y_true), -1).astype(np.float64)
    y_pred = y_pred.reshape(len(y_pred), -1).astype(np.float64)
    ss_res = np.sum((y_true - y_pred) ** 2, axis=0)
    ss_tot = np.sum((y_true - y_true.mean(axis=0)) ** 2, axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = np.where(ss_tot > 0, 1 - ss_res / ss_tot, np.where(ss_res > 0, 0.0, 1.0))
    return float(np.mean(r2))


def _check_discrete(labels):
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

    def __init__(self, hidden_size=64, num_layers=1, bidirectional=False, *, per_step=None,
                 epochs=50, batch_size=32, lr=1e-2, optimizer="adam", momentum=0.9,
                 weight_decay=0.0, clip=1.0, forget_bias=1.0, validation_fraction=0.1,
                 early_stopping=False, n_iter_no_change=10, tol=1e-4, dtype="float32",
                 random_state=None, verbose=False):
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
        self.validation_fraction = validation_fraction
        self.early_stopping = early_stopping
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
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

    def _validate_params(self):
        def integer(name, low):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < low:
                raise ValueError(f"{name}: expected an integer >= {low}, got {v!r}")

        def number(name, low, high=np.inf, low_open=False):
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
        number("validation_fraction", 0, 1, low_open=True)
        if self.clip is not None:
            number("clip", 0, low_open=True)
        if self.forget_bias is not None:
            number("forget_bias", -np.inf)
        if self.optimizer not in ("adam", "sgd"):
            raise ValueError(f"optimizer: expected 'adam' or 'sgd', got {self.optimizer!r}")
        if self.per_step not in (None, True, False):
            raise ValueError(f"per_step: expected None, True or False, got {self.per_step!r}")
        if np.dtype(self.dtype) not in (np.float32, np.float64):
            raise ValueError(f"dtype: expected float32 or float64, got {self.dtype!r}")

    # ---- the network ------------------------------------------------------

    def _forward(self, x, lengths, train):
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

    def _backward(self, caches, d_z):
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

    def _batch(self, X, lengths, idx):
        """Time-major batch trimmed to its longest sequence."""
        lens = None if lengths is None else lengths[idx]
        Tb = X.shape[1] if lens is None else int(lens.max())
        x = np.ascontiguousarray(X[idx, :Tb].transpose(1, 0, 2), dtype=self.lstm_.dtype)
        return x, lens, Tb

    def _raw_predict(self, X, lengths):
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

    def _fit(self, X, y):
        self._validate_params()
        X, lengths, _, names = as_sequences(X)
        n, T, F = X.shape
        y, per_step = per_step_target(y, n, T, lengths, self.per_step, self._classifier,
                                      type(self).__name__)
        Y = self._encode_targets(y, per_step, steps_mask(n, T, lengths))  # fills _k_out
        rng = np.random.default_rng(self.random_state)
        dtype = np.dtype(self.dtype)
        self.n_features_in_ = F
        check_feature_names(self, names, reset=True)
        self.per_step_ = per_step
        self.lstm_ = LSTM(F, self.hidden_size, self.num_layers,
                          bidirectional=self.bidirectional, dtype=dtype,
                          seed=int(rng.integers(2**31)), forget_bias=self.forget_bias)
        D = 2 if self.bidirectional else 1
        self.head_ = Linear(D * self.hidden_size, self._k_out, dtype=dtype,
                            seed=int(rng.integers(2**31)))
        modules = [self.lstm_, self.head_]
        if self.optimizer == "adam":
            opt = Adam(modules, lr=self.lr, weight_decay=self.weight_decay)
        else:
            opt = SGD(modules, lr=self.lr, momentum=self.momentum,
                      weight_decay=self.weight_decay)

        order = rng.permutation(n)
        if self.early_stopping:
            n_val = round(self.validation_fraction * n)
            if n_val < 1 or n_val >= n:
                raise ValueError(f"validation_fraction: {self.validation_fraction} of "
                                 f"{n} samples leaves no validation or no training data")
            val_idx, train_idx = order[:n_val], order[n_val:]
        else:
            val_idx, train_idx = None, order
        mask = steps_mask(n, T, lengths)
        bs = min(self.batch_size, len(train_idx))
        n_batches = -(-len(train_idx) // bs)
        self.loss_curve_ = []
        self.validation_scores_ = [] if self.early_stopping else None
        self.best_validation_score_ = None
        best_state, no_improve = None, 0
        bar = progress(self.epochs * n_batches, desc=type(self).__name__, unit="batch",
                       enabled=bool(self.verbose))
        start, seen = time.perf_counter(), 0
        for epoch in range(self.epochs):
            perm = rng.permutation(train_idx)
            total = 0.0
            for b in range(n_batches):
                idx = perm[b * bs:(b + 1) * bs]
                x, lens, Tb = self._batch(X, lengths, idx)
                opt.zero_grad()
                z, caches = self._forward(x, lens, train=True)
                if per_step:
                    loss, d_z = self._loss(z, Y[idx, :Tb].swapaxes(0, 1), mask[idx, :Tb].T)
                else:
                    loss, d_z = self._loss(z, Y[idx], None)
                self._backward(caches, d_z)
                if self.clip is not None:
                    clip_grad_norm(modules, self.clip)
                opt.step()
                total += loss * len(idx)
                seen += len(idx)
                bar.update(1, epoch=f"{epoch + 1}/{self.epochs}", loss=loss,
                           seq_s=f"{seen / max(time.perf_counter() - start, 1e-9):.0f}")
            self.loss_curve_.append(total / len(train_idx))
            if val_idx is not None:
                Xv = X[val_idx]
                lv = None if lengths is None else lengths[val_idx]
                score = self._score_raw(self._raw_predict(Xv, lv), y[val_idx], mask[val_idx])
                self.validation_scores_.append(score)
                if self.best_validation_score_ is None or score > self.best_validation_score_:
                    if (self.best_validation_score_ is None
                            or score > self.best_validation_score_ + self.tol):
                        no_improve = 0
                    else:
                        no_improve += 1
                    self.best_validation_score_ = score
                    best_state = [m.state_dict() for m in modules]
                else:
                    no_improve += 1
                if no_improve >= self.n_iter_no_change:
                    break
        bar.close()
        self.n_epochs_ = len(self.loss_curve_)
        if best_state is not None:  # early stopping keeps the best epoch's weights
            for m, s in zip(modules, best_state):
                m.load_state_dict(s)
        return self

    def _prepare_predict(self, X):
        """(X (n, T, F), lengths, whether per-step results go back as a list)."""
        X, lengths, layout, _ = as_fitted_input(self, X)
        return X, lengths, self.per_step_ and layout == "list"

    def _score_input(self, X, y):
        X, lengths, _, _ = as_fitted_input(self, X)
        n, T = X.shape[:2]
        y, _ = per_step_target(y, n, T, lengths, self.per_step_, self._classifier,
                               type(self).__name__)
        return self._raw_predict(X, lengths), y, steps_mask(n, T, lengths)

    def score(self, X, y, sample_weight=None):
        """R^2 (regressor) or accuracy (classifier) of predict(X) against y.

        Per-step targets are scored over the real steps of every sequence."""
        if sample_weight is not None:
            raise NotImplementedError("sample_weight is not supported")
        return self._score_raw(*self._score_input(X, y))


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
        Passes over the training data.
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
    validation_fraction : float, default 0.1
        Share of the data held out to score each epoch when early_stopping.
    early_stopping : bool, default False
        Stop when the validation score has not improved by tol for
        n_iter_no_change epochs, and keep the best epoch's weights.
    n_iter_no_change : int, default 10
    tol : float, default 1e-4
    dtype : "float32" or "float64", default "float32"
    random_state : int or None
        Seeds the initialisation, shuffling and validation split.
    verbose : bool, default False
        Show a progress bar (tqdm if installed) with epoch, loss and throughput.

    Attributes
    ----------
    lstm_ : pylstm.LSTM
    head_ : pylstm.Linear
    loss_curve_ : list of float
        Mean training loss of each epoch (on standardised targets).
    validation_scores_ : list of float or None
        R^2 on the held-out data after each epoch (early_stopping only).
    best_validation_score_ : float or None
    n_epochs_ : int
    n_features_in_ : int
        Features per step (the last axis of X; the columns of a 2-D X).
    feature_names_in_ : ndarray of str, shape (n_features_in_,)
        The columns of a DataFrame X (or of a list of DataFrames); only then.
    n_outputs_ : int
    per_step_ : bool
    y_mean_, y_scale_ : ndarrays, shape (n_outputs_,)
        The network learns (y - y_mean_) / y_scale_.
    """

    _estimator_type = "regressor"

    def fit(self, X, y):
        """Trains on X, y (see the module docstring for their shapes); returns self."""
        return self._fit(X, y)

    def _encode_targets(self, y, per_step, mask):
        if y.dtype == object:
            y = y.astype(np.float64)  # numbers held as objects (a TypeError otherwise)
        if y.dtype.kind not in "biuf":
            raise TypeError(f"y: expected real numbers, got dtype {y.dtype}")
        Y = y.astype(np.float64)
        if y.ndim == (2 if per_step else 1):
            Y = Y[..., None]
        real = Y[mask] if per_step else Y
        check_finite(real, "y")
        scale = real.std(axis=0)
        self._y_ndim = y.ndim
        self.y_mean_ = real.mean(axis=0)
        self.y_scale_ = np.where(scale > 0, scale, 1.0)
        self.n_outputs_ = self._k_out = Y.shape[-1]
        return ((Y - self.y_mean_) / self.y_scale_).astype(np.dtype(self.dtype))

    def _loss(self, z, target, mask):
        return mse(z, target, mask=None if mask is None else mask[..., None])

    def _decode(self, raw):
        out = raw.astype(np.float64) * self.y_scale_ + self.y_mean_
        return out[..., 0] if self._y_ndim == (2 if self.per_step_ else 1) else out

    def predict(self, X: Any) -> Any:
        """Predictions: (n,) / (n, k) per sequence; (n, T) / (n, T, k) per step, or a
        list of (T_i,) / (T_i, k) arrays when X is a list of sequences.

        X : ndarray (n, T, n_features) or (n, n_features), DataFrame, or a list of
            (T_i, n_features) arrays or DataFrames (see the module docstring)"""
        X, lengths, as_list = self._prepare_predict(X)
        return unpad(self._decode(self._raw_predict(X, lengths)), lengths, as_list)

    def _score_raw(self, raw, y, mask):
        pred = self._decode(raw)
        y = np.asarray(y, np.float64)
        if self.per_step_:
            return _r2(y[mask], pred[mask])
        return _r2(y, pred)


class LSTMClassifier(_LSTMEstimator):
    """An LSTM with a linear read-out to class scores, trained on cross-entropy.

    Parameters are those of LSTMRegressor; y holds class labels (any values
    np.unique can sort), one per sequence (n,) or one per step ((n, T) or a
    list of (T_i,) arrays).

    Attributes
    ----------
    classes_ : ndarray, shape (n_classes,)
    lstm_, head_, loss_curve_, n_epochs_, n_features_in_, feature_names_in_, per_step_ :
        as in LSTMRegressor
    validation_scores_ : list of float or None
        Accuracy on the held-out data after each epoch (early_stopping only).
    """

    _estimator_type = "classifier"
    _classifier = True

    def fit(self, X, y):
        """Trains on X, y (see the module docstring for their shapes); returns self."""
        return self._fit(X, y)

    def _encode_targets(self, y, per_step, mask):
        real = y[mask] if per_step else y
        _check_discrete(real)
        classes = np.unique(real)
        if len(classes) < 2:
            raise ValueError(f"y: expected at least 2 classes, got {len(classes)} "
                             f"class{'es' if len(classes) != 1 else ''}")
        codes = np.zeros(y.shape, np.int64)
        codes[mask if per_step else slice(None)] = np.searchsorted(classes, real)
        self.classes_ = classes
        self._k_out = len(classes)
        return codes

    def _loss(self, z, labels, mask):
        return cross_entropy(z, labels, mask=mask)

    @staticmethod
    def _softmax(z):
        e = np.exp(z - z.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)

    def predict_proba(self, X: Any) -> Any:
        """Class probabilities: (n, n_classes) per sequence, (n, T, n_classes) per
        step (or a list of (T_i, n_classes) arrays when X is a list of sequences)."""
        X, lengths, as_list = self._prepare_predict(X)
        return unpad(self._softmax(self._raw_predict(X, lengths).astype(np.float64)),
                           lengths, as_list)

    def predict(self, X: Any) -> Any:
        """Labels: (n,) per sequence, (n, T) per step (or a list of (T_i,) arrays)."""
        X, lengths, as_list = self._prepare_predict(X)
        labels = self.classes_[np.argmax(self._raw_predict(X, lengths), axis=-1)]
        return unpad(labels, lengths, as_list)

    def _score_raw(self, raw, y, mask):
        pred = self.classes_[np.argmax(raw, axis=-1)]
        y = np.asarray(y)
        if self.per_step_:
            return float(np.mean(pred[mask] == y[mask]))
        return float(np.mean(pred == y))
