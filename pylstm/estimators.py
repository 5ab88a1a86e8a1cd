"""LSTMRegressor and LSTMClassifier: scikit-learn style estimators on pylstm.

scikit-learn is not needed: the estimators follow its conventions by hand
(``__init__`` only stores its arguments; ``get_params``/``set_params`` read
the ``__init__`` signature; checks happen in ``fit``; what fit learns ends in
``_``), so ``sklearn.base.clone``, pipelines and ``cross_val_score`` work when
scikit-learn is installed.

Inputs
------
X : array, shape (n_samples, T, n_features), or a list of n_samples arrays of
    shape (T_i, n_features) (variable lengths: padded, and the lengths passed
    to the LSTM so padding never reaches the result). A 2-D array (n, T) or
    1-D list items are read as one feature.
y : one target per sequence (many-to-one): shape (n,) (or (n, k) for a
    multi-output regressor); the network reads the last layer's hidden state
    at each sequence's last real step (and, bidirectional, the reverse
    direction's state at t = 0).
    Or one target per step (many-to-many): shape (n, T) / (n, T, k), or a list
    of (T_i,) / (T_i, k) arrays; the loss is averaged over real steps only.
    ``per_step=None`` infers which from y's shape (an (n, T) regressor target
    whose second axis equals the padded length is taken as per step; pass
    ``per_step=False`` for a multi-output target that happens to have T columns).
"""

import inspect
import time

import numpy as np

from ._progress import progress
from .layers import Linear
from .losses import cross_entropy, mse
from .lstm import LSTM
from .optim import SGD, Adam, clip_grad_norm

_PREDICT_BATCH = 256


def _as_sequences(X, n_features=None):
    """(X padded (n, T, F), lengths (n,) or None, was_list) from what the user passed."""
    if isinstance(X, np.ndarray) and X.dtype != object:
        arr, was_list = X, False
    else:
        items = list(X)
        if not items:
            raise ValueError("X: expected at least one sequence, got 0")
        seqs = [np.asarray(s) for s in items]
        shapes = {s.shape for s in seqs}
        if len(shapes) == 1:
            arr, was_list = np.stack(seqs), True
        else:
            seqs = [s[:, None] if s.ndim == 1 else s for s in seqs]
            bad = [i for i, s in enumerate(seqs) if s.ndim != 2]
            if bad:
                raise ValueError(f"X[{bad[0]}]: expected shape (T_i, n_features), "
                                 f"got {seqs[bad[0]].shape}")
            widths = {s.shape[1] for s in seqs}
            if len(widths) != 1:
                raise ValueError(f"X: every sequence needs the same number of features, "
                                 f"got {sorted(widths)}")
            lengths = np.array([s.shape[0] for s in seqs], np.int64)
            if lengths.min() < 1:
                raise ValueError("X: expected every sequence to have at least one step")
            out = np.zeros((len(seqs), int(lengths.max()), widths.pop()), np.float64)
            for i, s in enumerate(seqs):
                out[i, :len(s)] = s
            return _check_X(out, n_features), lengths, True
    if arr.ndim == 2:
        arr = arr[:, :, None]
    return _check_X(arr, n_features), None, was_list


def _check_X(arr, n_features):
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"X: expected real numbers, got dtype {arr.dtype}")
    if arr.ndim != 3:
        raise ValueError(f"X: expected shape (n_samples, T, n_features) or a list of "
                         f"(T_i, n_features) arrays, got shape {arr.shape}")
    if min(arr.shape) < 1:
        raise ValueError(f"X: expected a non-empty array, got shape {arr.shape}")
    if n_features is not None and arr.shape[2] != n_features:
        raise ValueError(f"X: has {arr.shape[2]} features, but this estimator was fitted "
                         f"with {n_features}")
    if not np.all(np.isfinite(arr)):
        raise ValueError("X: contains NaN or infinity")
    return arr


def _steps_mask(n, T, lengths):
    """(n, T) True at real steps."""
    if lengths is None:
        return np.ones((n, T), bool)
    return np.arange(T)[None, :] < lengths[:, None]


def _per_step_target(y, n, T, lengths, per_step, classifier):
    """(y array, per_step) with y (n, k) per sequence or (n, T, k) per step."""
    ragged = False
    if not isinstance(y, np.ndarray):
        items = list(y)
        if len(items) != n:
            raise ValueError(f"y: expected {n} targets (one per sequence), got {len(items)}")
        parts = [np.asarray(v) for v in items]
        ragged = len({p.shape for p in parts}) > 1
        if not ragged:
            y = np.stack(parts) if parts[0].ndim else np.asarray(parts)
    if ragged:
        if per_step is False:
            raise ValueError("y: sequences of different lengths need per_step targets")
        if lengths is None:
            lengths = np.full(n, T)
        k_shapes = {p.shape[1:] for p in parts}
        for i, p in enumerate(parts):
            if p.ndim == 0 or len(p) != lengths[i]:
                raise ValueError(f"y[{i}]: expected {lengths[i]} per-step targets (the length "
                                 f"of X[{i}]), got shape {p.shape}")
        if len(k_shapes) != 1:
            raise ValueError("y: every sequence's targets need the same trailing shape")
        out = np.zeros((n, T) + k_shapes.pop(), parts[0].dtype)
        for i, p in enumerate(parts):
            out[i, :len(p)] = p
        y = out
        per_step = True
    y = np.asarray(y)
    if y.shape[:1] != (n,):
        raise ValueError(f"y: expected {n} targets (one per sequence), got shape {y.shape}")
    if per_step is None:
        if classifier:
            per_step = y.ndim == 2
        else:
            per_step = y.ndim == 3 or (y.ndim == 2 and y.shape[1] == T and T > 1)
    if per_step:
        if y.ndim < 2 or y.shape[1] != T:
            raise ValueError(f"y: per-step targets need shape (n, T={T}, ...), got {y.shape}")
        if y.ndim > (2 if classifier else 3):
            raise ValueError(f"y: expected at most {2 if classifier else 3} dimensions for "
                             f"per-step targets, got shape {y.shape}")
    elif y.ndim > (1 if classifier else 2):
        raise ValueError(f"y: expected shape (n,){'' if classifier else ' or (n, k)'} for "
                         f"one target per sequence, got {y.shape}")
    return y, bool(per_step)


def _r2(y_true, y_pred):
    """R^2 of each column, averaged (scikit-learn's r2_score, uniform_average)."""
    y_true = y_true.reshape(len(y_true), -1).astype(np.float64)
    y_pred = y_pred.reshape(len(y_pred), -1).astype(np.float64)
    ss_res = np.sum((y_true - y_pred) ** 2, axis=0)
    ss_tot = np.sum((y_true - y_true.mean(axis=0)) ** 2, axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = np.where(ss_tot > 0, 1 - ss_res / ss_tot, np.where(ss_res > 0, 0.0, 1.0))
    return float(np.mean(r2))


class _LSTMEstimator:
    """What the regressor and the classifier share: parameters, network, training loop."""

    _classifier = False

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

    # ---- scikit-learn's parameter protocol --------------------------------

    @classmethod
    def _param_names(cls):
        sig = inspect.signature(cls.__init__)
        return sorted(n for n, p in sig.parameters.items()
                      if n != "self" and p.kind != p.VAR_KEYWORD)

    def get_params(self, deep=True):
        """The constructor arguments as a dict (scikit-learn's protocol)."""
        return {n: getattr(self, n) for n in self._param_names()}

    def set_params(self, **params):
        """Sets constructor arguments by name; returns self."""
        valid = self._param_names()
        for name, value in params.items():
            if name not in valid:
                raise ValueError(f"Invalid parameter {name!r} for estimator {self!r}. "
                                 f"Valid parameters are: {valid!r}.")
            setattr(self, name, value)
        return self

    def __repr__(self):
        defaults = {n: p.default for n, p in inspect.signature(type(self).__init__)
                    .parameters.items() if n != "self"}
        args = ", ".join(f"{n}={getattr(self, n)!r}" for n in defaults
                         if getattr(self, n) is not defaults[n]
                         and getattr(self, n) != defaults[n])
        return f"{type(self).__name__}({args})"

    def __sklearn_tags__(self):
        from sklearn.utils import ClassifierTags, RegressorTags, Tags, TargetTags
        tags = Tags(estimator_type=self._estimator_type, target_tags=TargetTags(required=True),
                    classifier_tags=ClassifierTags() if self._classifier else None,
                    regressor_tags=None if self._classifier else RegressorTags())
        tags.input_tags.three_d_array = True
        return tags

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

    def _check_is_fitted(self):
        if not hasattr(self, "lstm_"):
            raise AttributeError(f"This {type(self).__name__} instance is not fitted yet. "
                                 "Call 'fit' with appropriate arguments first.")

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
        X, lengths, _ = _as_sequences(X)
        n, T, F = X.shape
        y, per_step = _per_step_target(y, n, T, lengths, self.per_step, self._classifier)
        Y = self._encode_targets(y, per_step, _steps_mask(n, T, lengths))  # fills _k_out
        rng = np.random.default_rng(self.random_state)
        dtype = np.dtype(self.dtype)
        self.n_features_in_ = F
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
        mask = _steps_mask(n, T, lengths)
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
        self._check_is_fitted()
        X, lengths, was_list = _as_sequences(X, self.n_features_in_)
        return X, lengths, self.per_step_ and was_list and lengths is not None

    @staticmethod
    def _unpad(arr, lengths, as_list):
        """Per-step results: a list of (T_i, ...) arrays for ragged input, else arr."""
        if not as_list:
            return arr
        return [arr[i, :int(L)] for i, L in enumerate(lengths)]

    def _score_input(self, X, y):
        X, lengths, _ = _as_sequences(X, self.n_features_in_)
        n, T = X.shape[:2]
        y, _ = _per_step_target(y, n, T, lengths, self.per_step_, self._classifier)
        return self._raw_predict(X, lengths), y, _steps_mask(n, T, lengths)

    def score(self, X, y, sample_weight=None):
        """R^2 (regressor) or accuracy (classifier) of predict(X) against y.

        Per-step targets are scored over the real steps of every sequence."""
        if sample_weight is not None:
            raise NotImplementedError("sample_weight is not supported")
        self._check_is_fitted()
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
        if y.dtype.kind not in "biuf":
            raise TypeError(f"y: expected real numbers, got dtype {y.dtype}")
        self._y_ndim = y.ndim
        y = y.astype(np.float64)
        Y = y[..., None] if y.ndim == (2 if per_step else 1) else y
        real = Y[mask] if per_step else Y
        if not np.all(np.isfinite(real)):
            raise ValueError("y: contains NaN or infinity")
        self.y_mean_ = real.mean(axis=0)
        scale = real.std(axis=0)
        self.y_scale_ = np.where(scale > 0, scale, 1.0)
        self.n_outputs_ = self._k_out = Y.shape[-1]
        return ((Y - self.y_mean_) / self.y_scale_).astype(np.dtype(self.dtype))

    def _loss(self, z, target, mask):
        return mse(z, target, mask=None if mask is None else mask[..., None])

    def _decode(self, raw):
        out = raw.astype(np.float64) * self.y_scale_ + self.y_mean_
        return out[..., 0] if self._y_ndim == (2 if self.per_step_ else 1) else out

    def predict(self, X):
        """Predictions: (n,) / (n, k) per sequence; (n, T) / (n, T, k) per step, or a
        list of (T_i,) / (T_i, k) arrays when X is a list of different lengths."""
        X, lengths, as_list = self._prepare_predict(X)
        return self._unpad(self._decode(self._raw_predict(X, lengths)), lengths, as_list)

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
    lstm_, head_, loss_curve_, n_epochs_, n_features_in_, per_step_ :
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
        self.classes_ = np.unique(real)
        if len(self.classes_) < 2:
            raise ValueError(f"y: expected at least 2 classes, got {len(self.classes_)}")
        codes = np.zeros(y.shape, np.int64)
        codes[mask if per_step else slice(None)] = np.searchsorted(self.classes_, real)
        self._k_out = len(self.classes_)
        return codes

    def _loss(self, z, labels, mask):
        return cross_entropy(z, labels, mask=mask)

    @staticmethod
    def _softmax(z):
        e = np.exp(z - z.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)

    def predict_proba(self, X):
        """Class probabilities: (n, n_classes) per sequence, (n, T, n_classes) per
        step (or a list of (T_i, n_classes) arrays for X of different lengths)."""
        X, lengths, as_list = self._prepare_predict(X)
        return self._unpad(self._softmax(self._raw_predict(X, lengths).astype(np.float64)),
                           lengths, as_list)

    def predict(self, X):
        """Labels: (n,) per sequence, (n, T) per step (or a list of (T_i,) arrays)."""
        X, lengths, as_list = self._prepare_predict(X)
        labels = self.classes_[np.argmax(self._raw_predict(X, lengths), axis=-1)]
        return self._unpad(labels, lengths, as_list)

    def _score_raw(self, raw, y, mask):
        pred = self.classes_[np.argmax(raw, axis=-1)]
        y = np.asarray(y)
        if self.per_step_:
            return float(np.mean(pred[mask] == y[mask]))
        return float(np.mean(pred == y))
