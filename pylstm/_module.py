"""What every pylstm module shares: parameters held in NumPy arrays under
torch's names, gradients beside them, and the state-dict round trip."""

import numpy as np

from ._checks import as_array, shape_error


class Module:
    """Base of LSTM, LSTMCell and Linear. Subclasses fill ``self._params``
    (name -> array, in torch's state-dict order), ``self.grads`` (same names
    and shapes) and ``self.dtype``."""

    def parameters(self):
        """The live parameter arrays, in state-dict order (update them in place)."""
        return list(self._params.values())

    def named_parameters(self):
        return list(self._params.items())

    def __getattr__(self, name):
        params = self.__dict__.get("_params")
        if params is not None and name in params:
            return params[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def state_dict(self):
        """Copies of the parameters under torch's names."""
        return {name: p.copy() for name, p in self._params.items()}

    def load_state_dict(self, state_dict, strict=True):
        """Copies arrays into the parameters, checking names and shapes first.

        Nothing is changed unless every entry is valid."""
        missing = [n for n in self._params if n not in state_dict]
        unexpected = [n for n in state_dict if n not in self._params]
        if strict and (missing or unexpected):
            raise KeyError(f"state_dict: missing keys {missing}, unexpected keys {unexpected}")
        staged = {}
        for name, value in state_dict.items():
            if name not in self._params:
                continue
            arr = as_array(f"state_dict[{name!r}]", value, self.dtype)
            if arr.shape != self._params[name].shape:
                raise shape_error(f"state_dict[{name!r}]", self._params[name].shape, arr.shape)
            staged[name] = arr
        for name, arr in staged.items():
            np.copyto(self._params[name], arr)

    def zero_grad(self):
        """Sets every gradient to zero (they accumulate, like torch's .grad)."""
        for g in self.grads.values():
            g[...] = 0
