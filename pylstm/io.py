"""Save and load models in the safetensors format.

A file written by `save` holds the model's parameters under its state-dict
names (torch's: ``weight_ih_l0``, ..., ``weight_hr_l1_reverse``; a cell's
``weight_ih``, ``weight_hh``, ``bias_ih``, ``bias_hh``) plus ``__metadata__``
``{"format": "pt", "pylstm": <JSON of the constructor arguments>}``, so
``safetensors.torch.load_file(path)`` gives a dict that ``torch.nn.LSTM``'s
``load_state_dict`` accepts. `load` reads files through the C reader
(src_c/safetensors.c), which checks the whole file before anything is used.
"""

import json
import os

import numpy as np

from . import _core
from .cell import LSTMCell
from .lstm import LSTM

_DTYPE_NAMES = {np.dtype(np.float32): "F32", np.dtype(np.float64): "F64"}
_LSTM_ARGS = ("input_size", "hidden_size", "num_layers", "bias", "batch_first", "dropout",
              "bidirectional", "proj_size")
_CELL_ARGS = ("input_size", "hidden_size", "bias")
_PARAM_KINDS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr")


def _config(model):
    if isinstance(model, LSTM):
        cls, names = "LSTM", _LSTM_ARGS
    elif isinstance(model, LSTMCell):
        cls, names = "LSTMCell", _CELL_ARGS
    else:
        raise TypeError(f"model: expected a pylstm.LSTM or pylstm.LSTMCell, "
                        f"got {type(model).__name__}")
    cfg = {"class": cls}
    cfg.update((n, getattr(model, n)) for n in names)
    cfg["dtype"] = model.dtype.name
    return cfg


def save(model, path):
    """Writes the model's parameters and constructor arguments to a safetensors file.

    Parameters
    ----------
    model : pylstm.LSTM or pylstm.LSTMCell
    path : str or os.PathLike
        Written through a temporary file in the same directory and renamed, so
        an existing file is never left half-written.
    """
    cfg = _config(model)
    tensors = model.state_dict()
    header, offset = {}, 0
    for name, arr in tensors.items():
        nbytes = arr.size * arr.itemsize
        header[name] = {"dtype": _DTYPE_NAMES[arr.dtype], "shape": list(arr.shape),
                        "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    header["__metadata__"] = {"format": "pt", "pylstm": json.dumps(cfg, sort_keys=True)}
    head = json.dumps(header, separators=(",", ":")).encode("utf-8")
    # The spec allows trailing spaces; padding to 8 bytes keeps every tensor
    # 8-byte aligned in the file (safetensors' own writer does the same).
    head += b" " * (-len(head) % 8)
    path = os.fspath(path)
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            f.write(len(head).to_bytes(8, "little"))
            f.write(head)
            for arr in tensors.values():
                f.write(np.ascontiguousarray(arr, arr.dtype.newbyteorder("<")).tobytes())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _read(path):
    path = os.fspath(path)
    # Let Python raise the precise OSError (FileNotFoundError, IsADirectoryError,
    # PermissionError) with the file name before the C reader runs.
    with open(path, "rb"):
        pass
    return _core.safetensors_read(path)


def _dtype_of(tensors, path):
    dtypes = {a.dtype for a in tensors.values()}
    if len(dtypes) > 1:
        raise ValueError(f"{path!r}: tensors of mixed dtypes {sorted(d.name for d in dtypes)}")
    return dtypes.pop() if dtypes else np.dtype(np.float32)


def _from_metadata(text, path):
    """The model the file's pylstm metadata describes (parameters not loaded)."""
    try:
        cfg = json.loads(text)
    except ValueError as e:
        raise ValueError(f"{path!r}: unreadable pylstm metadata: {e}") from None
    if not isinstance(cfg, dict) or cfg.get("class") not in ("LSTM", "LSTMCell"):
        raise ValueError(f"{path!r}: pylstm metadata names no LSTM or LSTMCell")
    cls, names = (LSTM, _LSTM_ARGS) if cfg["class"] == "LSTM" else (LSTMCell, _CELL_ARGS)
    unknown = set(cfg) - set(names) - {"class", "dtype"}
    if unknown:
        raise ValueError(f"{path!r}: unexpected pylstm metadata keys {sorted(unknown)}")
    kwargs = {n: cfg[n] for n in names if n in cfg}
    if "input_size" not in kwargs or "hidden_size" not in kwargs:
        raise ValueError(f"{path!r}: pylstm metadata lacks input_size/hidden_size")
    return cls, kwargs, cfg.get("dtype", "float32")


def _infer(tensors, path):
    """(class, constructor kwargs) from the names and shapes of a torch state dict."""
    names = set(tensors)

    def shape2(name):
        a = tensors[name]
        if a.ndim != 2 or a.shape[0] % 4 or a.shape[0] == 0:
            raise ValueError(f"{path!r}: {name} has shape {a.shape}, expected (4*hidden_size, n)")
        return a.shape

    if names and names <= {"weight_ih", "weight_hh", "bias_ih", "bias_hh"} and \
            {"weight_ih", "weight_hh"} <= names:
        four_h, i = shape2("weight_ih")
        return LSTMCell, {"input_size": i, "hidden_size": four_h // 4, "bias": "bias_ih" in names}
    layers, reverse = set(), False
    for n in names:
        kind, _, rest = n.rpartition("_l")
        if kind not in _PARAM_KINDS:
            break
        if rest.endswith("_reverse"):
            rest, reverse = rest[: -len("_reverse")], True
        if not rest.isdigit() or (len(rest) > 1 and rest[0] == "0"):
            break
        layers.add(int(rest))
    else:
        if "weight_ih_l0" in names and "weight_hh_l0" in names:
            four_h, i = shape2("weight_ih_l0")
            r = shape2("weight_hh_l0")[1]
            proj = r if "weight_hr_l0" in names else 0
            return LSTM, {"input_size": i, "hidden_size": four_h // 4,
                          "num_layers": max(layers) + 1, "bias": "bias_ih_l0" in names,
                          "bidirectional": reverse, "proj_size": proj}
    raise ValueError(f"{path!r}: the tensor names {sorted(names)[:8]} do not form the state "
                     "dict of an LSTM (weight_ih_l0, weight_hh_l0, ...) or an LSTMCell "
                     "(weight_ih, weight_hh, bias_ih, bias_hh)")


def load(path):
    """Reads a model saved by `save`, or any safetensors file of an LSTM state dict.

    A file without pylstm's metadata (for instance
    ``safetensors.torch.save_file(torch_lstm.state_dict(), path)``) is read as
    a torch.nn.LSTM or torch.nn.LSTMCell state dict: input_size, hidden_size,
    num_layers, bias, bidirectional and proj_size come from the tensor names
    and shapes; batch_first and dropout, which the file does not record, take
    their defaults (False, 0). The dtype is the tensors' (F32 or F64).

    Returns
    -------
    pylstm.LSTM or pylstm.LSTMCell

    Raises
    ------
    OSError
        The file cannot be opened or read.
    ValueError
        The file is not valid safetensors, holds other dtypes, or does not
        describe an LSTM / LSTMCell (missing, extra or misshapen tensors).
        Nothing is returned half-built.
    """
    shown = os.fspath(path)
    tensors, metadata = _read(path)
    dtype = _dtype_of(tensors, shown)
    if "pylstm" in metadata:
        cls, kwargs, meta_dtype = _from_metadata(metadata["pylstm"], shown)
        if tensors and np.dtype(meta_dtype) != dtype:
            raise ValueError(f"{shown!r}: metadata says dtype {meta_dtype}, tensors are "
                             f"{dtype.name}")
    else:
        cls, kwargs = _infer(tensors, shown)
    try:
        model = cls(**kwargs, dtype=dtype)
        model.load_state_dict(tensors)
    except (KeyError, TypeError, ValueError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        raise ValueError(f"{shown!r}: does not match {cls.__name__}({kwargs}): {msg}") from None
    return model
