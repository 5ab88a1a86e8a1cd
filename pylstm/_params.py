"""scikit-learn's parameter protocol, written out so scikit-learn stays optional.

A class using it keeps every constructor argument as an attribute of the same
name and does nothing else in ``__init__``; ``sklearn.base.clone``,
``GridSearchCV`` and pipelines then work on it.
"""

from __future__ import annotations

import inspect
from typing import Any


class ParamsMixin:
    """get_params / set_params / __repr__ read from the ``__init__`` signature."""

    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return sorted(n for n, p in sig.parameters.items()
                      if n != "self" and p.kind != p.VAR_KEYWORD)

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor arguments as a dict (scikit-learn's protocol)."""
        return {n: getattr(self, n) for n in self._param_names()}

    def set_params(self, **params: Any) -> Any:
        """Sets constructor arguments by name; returns self."""
        valid = self._param_names()
        for name, value in params.items():
            if name not in valid:
                raise ValueError(f"Invalid parameter {name!r} for estimator {self!r}. "
                                 f"Valid parameters are: {valid!r}.")
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        defaults = {n: p.default for n, p in inspect.signature(type(self).__init__)
                    .parameters.items() if n != "self"}
        args = ", ".join(f"{n}={getattr(self, n)!r}" for n in defaults
                         if getattr(self, n) is not defaults[n]
                         and getattr(self, n) != defaults[n])
        return f"{type(self).__name__}({args})"
