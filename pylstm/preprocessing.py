"""SequenceScaler: scikit-learn's StandardScaler for batches of sequences."""

from __future__ import annotations

from typing import Any

import numpy as np

from ._params import ParamsMixin
from ._sequences import (Sequences, as_fitted_input, as_sequences, check_feature_names,
                         not_fitted_error, restore_layout, steps_mask, with_lengths)

__all__ = ["SequenceScaler"]


def _is_constant(var: np.ndarray, mean: np.ndarray, n: int) -> np.ndarray:
    """Features whose variance is within float64 rounding of zero (scikit-learn's
    bound, so a constant feature gets scale 1 exactly when StandardScaler's does)."""
    eps = np.finfo(np.float64).eps
    return var <= n * eps * var + (n * mean * eps) ** 2


class SequenceScaler(ParamsMixin):
    """Standardises each feature over all steps of all sequences.

    A step's feature f becomes ``(x - mean_[f]) / scale_[f]``, the mean and
    standard deviation taken over every real step of every sequence seen by
    ``fit``: what ``sklearn.preprocessing.StandardScaler`` computes on the
    steps stacked into one (n_steps, n_features) table. It takes the layouts
    of ``LSTMRegressor`` / ``LSTMClassifier`` and gives back the same layout, so
    ``make_pipeline(SequenceScaler(), LSTMRegressor())`` works in
    ``cross_val_score`` and ``GridSearchCV``.

    Parameters
    ----------
    with_mean : bool, default True
        Subtract the mean.
    with_std : bool, default True
        Divide by the standard deviation (a feature of variance 0 gets scale 1).

    Attributes
    ----------
    mean_ : ndarray, shape (n_features,), or None
        None when neither with_mean nor with_std.
    var_, scale_ : ndarrays, shape (n_features,), or None
        None when not with_std.
    n_samples_seen_ : int
        Number of real steps the statistics were taken over.
    n_features_in_ : int
    feature_names_in_ : ndarray of str, shape (n_features_in_,)
        The columns of a DataFrame X (or of a list of DataFrames); only then.

    Notes
    -----
    X is a 3-D array (n, T, n_features), a list of (T_i, n_features) arrays or
    DataFrames, or a 2-D (n, n_features) table (one step per row, where this is
    StandardScaler). For a padded 3-D X, ``lengths`` (shape (n,)) marks the real
    steps: padding is left out of the statistics and comes out of transform
    and inverse_transform as 0.0 (the padding the estimators use themselves).
    The input is never modified; float32 and float64 stay as they are, other
    numbers become float64.
    """

    def __init__(self, *, with_mean: bool = True, with_std: bool = True) -> None:
        self.with_mean = with_mean
        self.with_std = with_std

    def __sklearn_tags__(self) -> Any:
        from sklearn.utils import Tags, TargetTags, TransformerTags
        tags = Tags(estimator_type=None, target_tags=TargetTags(required=False),
                    transformer_tags=TransformerTags(preserves_dtype=["float64", "float32"]))
        tags.input_tags.three_d_array = True
        return tags

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "n_features_in_")

    @staticmethod
    def _steps(seqs: Sequences) -> np.ndarray:
        """The real steps as one (n_steps, n_features) float64 table."""
        X, lengths = seqs.X, seqs.lengths
        if lengths is None:
            return X.reshape(-1, X.shape[2]).astype(np.float64)
        return X[steps_mask(X.shape[0], X.shape[1], lengths)].astype(np.float64)

    def fit(self, X: Any, y: Any = None, lengths: Any = None) -> SequenceScaler:
        """Learns mean_ and scale_ from X's real steps; returns self.

        Parameters
        ----------
        X : ndarray (n, T, n_features) or (n, n_features), or a list of
            (T_i, n_features) arrays or DataFrames
        y : ignored
        lengths : array of int, shape (n,), optional
            Real steps of each sequence of a padded 3-D X.
        """
        seqs = with_lengths(as_sequences(X), lengths)
        steps = self._steps(seqs)
        mean = steps.mean(axis=0)
        var = steps.var(axis=0)
        self.n_features_in_ = steps.shape[1]
        check_feature_names(self, seqs.feature_names, reset=True)
        self.n_samples_seen_ = len(steps)
        self.mean_: np.ndarray | None = mean if self.with_mean or self.with_std else None
        self.var_: np.ndarray | None = var if self.with_std else None
        self.scale_: np.ndarray | None = None
        if self.with_std:
            self.scale_ = np.where(_is_constant(var, mean, len(steps)), 1.0, np.sqrt(var))
        return self

    def _apply(self, X: Any, lengths: Any, inverse: bool) -> Any:
        seqs = with_lengths(as_fitted_input(self, X), lengths)
        dtype = seqs.X.dtype if seqs.X.dtype in (np.float32, np.float64) else np.float64
        out = seqs.X.astype(dtype, copy=True)
        if inverse:
            if self.with_std:
                out *= self.scale_
            if self.with_mean:
                out += self.mean_
        else:
            if self.with_mean:
                out -= self.mean_
            if self.with_std:
                out /= self.scale_
        if seqs.lengths is not None:
            out[~steps_mask(out.shape[0], out.shape[1], seqs.lengths)] = 0.0
        return restore_layout(out, seqs.lengths, seqs.layout)

    def transform(self, X: Any, lengths: Any = None) -> Any:
        """X standardised, in X's layout (a list stays a list; padding is 0).

        Parameters
        ----------
        X : as in fit, with n_features_in_ features
        lengths : array of int, shape (n,), optional
            Real steps of each sequence of a padded 3-D X.

        Returns
        -------
        ndarray of X's shape, or a list of (T_i, n_features) arrays
        """
        return self._apply(X, lengths, inverse=False)

    def fit_transform(self, X: Any, y: Any = None, lengths: Any = None) -> Any:
        """fit(X, y, lengths) then transform(X, lengths)."""
        return self.fit(X, y, lengths).transform(X, lengths)

    def inverse_transform(self, X: Any, lengths: Any = None) -> Any:
        """Undoes transform: ``x * scale_ + mean_`` at every real step (padding is 0)."""
        return self._apply(X, lengths, inverse=True)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Output feature names: those seen in fit (x0, x1, ... without names)."""
        if not self.__sklearn_is_fitted__():
            raise not_fitted_error(self)
        names = getattr(self, "feature_names_in_", None)
        if input_features is not None:
            given = np.asarray(input_features, dtype=object)
            if names is not None and not np.array_equal(given, names):
                raise ValueError("input_features is not equal to feature_names_in_")
            if len(given) != self.n_features_in_:
                raise ValueError(f"input_features should have length equal to number of "
                                 f"features ({self.n_features_in_}), got {len(given)}")
            return given
        if names is not None:
            return names
        return np.asarray([f"x{i}" for i in range(self.n_features_in_)], dtype=object)
