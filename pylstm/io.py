"""Save and load models in the safetensors format.

A file written by `save` holds the model's parameters under its state-dict
names (torch's: ``weight_ih_l0``, ..., ``weight_hr_l1_reverse``; a cell's
``weight_ih``, ``weight_hh``, ``bias_ih``, ``bias_hh``) plus ``__metadata__``
``{"format": "pt", "pylstm": <JSON of the constructor arguments>}``, so
``safetensors.torch.load_file(path)`` gives a dict that ``torch.nn.LSTM``'s
``load_state_dict`` accepts.

`load` treats the file as untrusted: only a regular file is read, and no more
than its size; the container is checked by the C reader (src_c/safetensors.c);
the configuration (from the metadata or the tensor names) and every tensor's
name and shape are checked here, against the tensors the file holds, before
the model is made, so nothing the file claims is allocated unless the file
holds it. The rules are those of the C library's loader (pylstm_model_load in
pylstm.h), which reads the same files; tests/test_io_hostile.py holds both to
the same verdicts. This module says which rule a file breaks.

`save` writes a new file beside the target under a random name, created
exclusively, fsyncs it and renames it over the target, so readers and
concurrent savers only ever see a complete file.
"""

from __future__ import annotations

import errno
import json
import os
import secrets
import stat
from typing import IO, Any, Union

import numpy as np
from numpy.typing import NDArray

from . import _config, _core
from ._checks import check_size
from .cell import LSTMCell
from .cell import param_shapes as cell_param_shapes
from .lstm import LSTM
from .lstm import param_shapes as lstm_param_shapes

_Path = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]
_Tensors = dict[str, NDArray[Any]]
_Model = type[LSTM] | type[LSTMCell]

_DTYPE_NAMES = {np.dtype(np.float32): "F32", np.dtype(np.float64): "F64"}
_PARAM_KINDS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr")
# pylstm.save writes a couple of hundred characters of metadata; a longer
# text is refused before it is parsed.
_MAX_METADATA = 4096


def _file_config(model: LSTM | LSTMCell) -> dict[str, Any]:
    """What save records: pylstm._config's description of the model (class,
    constructor fields, dtype), as an LSTM or LSTMCell."""
    for cls in (LSTM, LSTMCell):
        if isinstance(model, cls):
            return _config.config(model, as_class=cls)
    raise TypeError(f"model: expected a pylstm.LSTM or pylstm.LSTMCell, "
                    f"got {type(model).__name__}")


# ---- save ----------------------------------------------------------------

def _header(cfg: dict[str, Any], tensors: _Tensors) -> bytes:
    """The 8-byte length and the JSON header of a file holding `tensors`."""
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
    return len(head).to_bytes(8, "little") + head


def _write(f: IO[bytes], head: bytes, tensors: _Tensors) -> None:
    """Writes the file's bytes to the binary file object f."""
    f.write(head)
    for arr in tensors.values():
        le = np.ascontiguousarray(arr, arr.dtype.newbyteorder("<"))
        f.write(le.reshape(-1).view(np.uint8).data)


def _create_temp(path: str) -> tuple[int, str]:
    """(fd, name) of a new empty file beside `path`, opened for writing.

    The name is random and the file is created with O_CREAT | O_EXCL, which
    never opens an existing file nor follows a symlink, so a file or link
    planted beside the target is never written through, and concurrent saves
    never share a temporary file. Permissions: those of the file being
    replaced when it is a regular file (saving over a private model keeps it
    private), else 0666 less the umask, as open() would create it."""
    directory, base = os.path.split(path)
    try:
        st = os.stat(path)
        keep = stat.S_IMODE(st.st_mode) if stat.S_ISREG(st.st_mode) else None
    except OSError:
        keep = None
    flags = (os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
             | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
    for _ in range(100):
        tmp = os.path.join(directory, f".{base}.{secrets.token_hex(8)}.tmp")
        try:
            fd = os.open(tmp, flags, 0o666)
        except FileExistsError:
            continue
        if keep is not None and hasattr(os, "fchmod"):
            try:
                os.fchmod(fd, keep)
            except BaseException:
                os.close(fd)
                os.unlink(tmp)
                raise
        return fd, tmp
    raise FileExistsError(errno.EEXIST, "no unused temporary name beside the file", path)


def _fsync_dir(directory: str) -> None:
    """Makes a rename in `directory` durable (POSIX; Windows has no such call)."""
    if os.name == "nt":
        return
    fd = os.open(directory or os.curdir, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    except OSError as e:  # some file systems cannot sync a directory
        if e.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):
            raise
    finally:
        os.close(fd)


def save(model: LSTM | LSTMCell, path: _Path) -> None:
    """Writes the model's parameters and constructor arguments to a safetensors file.

    Parameters
    ----------
    model : pylstm.LSTM or pylstm.LSTMCell
    path : str or os.PathLike
        Written to a new file in the same directory (a random name, created
        exclusively), flushed to disk and renamed over `path`, then the
        directory is flushed too: `path` always holds either its old contents
        or the whole new model, and of several saves to one path at once the
        last rename wins whole. A symlink at `path` is replaced, not followed.
        The new file keeps the permission bits of the file it replaces (else
        0666 less the umask).
    """
    cfg = _file_config(model)
    tensors = model.state_dict()
    head = _header(cfg, tensors)
    path = os.fsdecode(path)
    fd, tmp = _create_temp(path)
    try:
        with open(fd, "wb", closefd=True) as f:
            _write(f, head, tensors)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(os.path.dirname(path))


# ---- load ----------------------------------------------------------------

def _read_regular(path: _Path, shown: str) -> bytearray:
    """The bytes of the regular file at `path`, at most its size at opening.

    A FIFO, a device or a socket is refused (ValueError) before anything is
    read: opening is non-blocking, so a FIFO without a writer cannot hang it,
    and /dev/zero cannot feed it forever. A directory is IsADirectoryError."""
    flags = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NONBLOCK", 0)
    fd = os.open(path, flags)
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), shown)
        if not stat.S_ISREG(st.st_mode):
            raise ValueError(f"{shown!r}: not a regular file (a FIFO, device or socket); "
                             "pylstm.load reads regular files only")
    except BaseException:
        os.close(fd)
        raise
    with open(fd, "rb", buffering=0, closefd=True) as f:
        buf = bytearray(st.st_size)
        view, got = memoryview(buf), 0
        while got < len(buf):  # a file that grows meanwhile is read to its first size
            n = f.readinto(view[got:])
            if not n:  # it shrank: parse what was there (a truncated file is refused)
                break
            got += n
        view.release()
        del buf[got:]
        return buf


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _describe(cls: _Model, kwargs: dict[str, Any]) -> str:
    return f"{cls.__name__}({', '.join(f'{k}={_short(v)}' for k, v in kwargs.items())})"


def _dtype_of(tensors: _Tensors, path: str) -> np.dtype[Any]:
    dtypes = {a.dtype for a in tensors.values()}
    if len(dtypes) > 1:
        raise ValueError(f"{path!r}: tensors of mixed dtypes {sorted(d.name for d in dtypes)}")
    return dtypes.pop() if dtypes else np.dtype(np.float32)


def _flat_object(text: str) -> bool:
    """True if the JSON text nests no array or object inside its outer one.

    Checked by one pass over the characters before json.loads runs, so deep
    nesting is refused without recursion."""
    depth, in_string, escaped = 0, False, False
    for c in text:
        if in_string:
            if escaped:
                escaped = False
            elif c == "\\":
                escaped = True
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
        elif c in "[{":
            depth += 1
            if depth > 1:
                return False
        elif c in "]}":
            depth -= 1
    return True


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError(f"repeated keys {sorted({k for k in keys if keys.count(k) > 1})}")
    return dict(pairs)


def _from_metadata(text: str, path: str) -> tuple[_Model, dict[str, Any], np.dtype[Any]]:
    """(class, constructor kwargs, dtype) from the file's pylstm metadata,
    every value checked for type and range (not yet against the tensors)."""
    if len(text) > _MAX_METADATA:
        raise ValueError(f"{path!r}: pylstm metadata longer than {_MAX_METADATA} characters")
    if not _flat_object(text):
        raise ValueError(f"{path!r}: pylstm metadata is not a flat JSON object (it nests "
                         "arrays or objects)")
    try:
        cfg = json.loads(text, object_pairs_hook=_unique_keys)
    except ValueError as e:
        raise ValueError(f"{path!r}: unreadable pylstm metadata: {e}") from None
    if not isinstance(cfg, dict) or cfg.get("class") not in ("LSTM", "LSTMCell"):
        raise ValueError(f"{path!r}: pylstm metadata names no LSTM or LSTMCell")
    cls = LSTM if cfg["class"] == "LSTM" else LSTMCell
    names = tuple(_config.fields(cls))
    unknown = set(cfg) - set(names) - {"class", "dtype"}
    if unknown:
        raise ValueError(f"{path!r}: unexpected pylstm metadata keys {sorted(unknown)}")
    if "input_size" not in cfg or "hidden_size" not in cfg:
        raise ValueError(f"{path!r}: pylstm metadata lacks input_size/hidden_size")
    kwargs = {n: cfg[n] for n in names if n in cfg}
    try:
        for name in ("input_size", "hidden_size", "num_layers", "proj_size"):
            if name in kwargs:
                check_size(name, kwargs[name], minimum=0 if name == "proj_size" else 1)
        if kwargs.get("proj_size", 0) >= kwargs["hidden_size"]:
            raise ValueError(f"proj_size: has to be smaller than hidden_size, got "
                             f"{_short(kwargs['proj_size'])}")
        for name in ("bias", "batch_first", "bidirectional"):
            if name in kwargs and not isinstance(kwargs[name], bool):
                raise TypeError(f"{name}: expected true or false, got {_short(kwargs[name])}")
        dropout = kwargs.get("dropout", 0.0)
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) \
                or not 0 <= dropout <= 1:
            raise ValueError(f"dropout: expected a number in [0, 1], got {_short(dropout)}")
        dtype = cfg.get("dtype", "float32")
        if dtype not in ("float32", "float64"):
            raise ValueError(f"dtype: expected \"float32\" or \"float64\", got {_short(dtype)}")
    except (TypeError, ValueError) as e:
        raise ValueError(f"{path!r}: bad pylstm metadata: {e}") from None
    return cls, kwargs, np.dtype(dtype)


def _infer(tensors: _Tensors, path: str) -> tuple[_Model, dict[str, Any]]:
    """(class, constructor kwargs) from the names and shapes of a torch state dict."""
    names = set(tensors)

    def shape2(name: str) -> tuple[int, ...]:
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
        if not (rest.isascii() and rest.isdigit()) or (len(rest) > 1 and rest[0] == "0"):
            break
        # A layer index says how many tensors the file must hold; one beyond
        # the count it holds is refused before any count is derived from it.
        if len(rest) > len(str(len(names))) or int(rest) >= len(names):
            raise ValueError(f"{path!r}: tensor {_short(n)} names layer {_short(rest)}, "
                             f"but the file holds only {len(names)} tensors")
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


def _check_tensors(cls: _Model, kwargs: dict[str, Any], tensors: _Tensors, path: str) -> None:
    """Every parameter the configuration implies is in the file with its exact
    shape, and nothing else is: the count first (computed, not looped, so a
    claim of 10**8 layers costs nothing), then each name and shape."""
    bias = kwargs.get("bias", True)
    if cls is LSTMCell:
        want = 2 + 2 * bias
        shapes = cell_param_shapes(kwargs["input_size"], kwargs["hidden_size"], bias)
    else:
        L, P = kwargs.get("num_layers", 1), kwargs.get("proj_size", 0)
        D = 2 if kwargs.get("bidirectional", False) else 1
        want = L * D * (2 + 2 * bias + (P > 0))
        shapes = lstm_param_shapes(kwargs["input_size"], kwargs["hidden_size"], L, bias,
                                   D == 2, P)
    what = f"{path!r}: does not match {_describe(cls, kwargs)}"
    if want != len(tensors):
        raise ValueError(f"{what}: it has {want} parameters, the file holds {len(tensors)} "
                         f"tensors {sorted(tensors)[:8]}")
    for name, shape in shapes:
        if name not in tensors:
            raise ValueError(f"{what}: missing keys [{name!r}] (the file holds "
                             f"{sorted(tensors)[:8]})")
        if tensors[name].shape != shape:
            raise ValueError(f"{what}: {name} has shape {tensors[name].shape}, expected "
                             f"{_short(shape)}")


def load(path: _Path) -> LSTM | LSTMCell:
    """Reads a model saved by `save`, or any safetensors file of an LSTM state dict.

    A file without pylstm's metadata (for instance
    ``safetensors.torch.save_file(torch_lstm.state_dict(), path)``) is read as
    a torch.nn.LSTM or torch.nn.LSTMCell state dict: input_size, hidden_size,
    num_layers, bias, bidirectional and proj_size come from the tensor names
    and shapes; batch_first and dropout, which the file does not record, take
    their defaults (False, 0). The dtype is the tensors' (F32 or F64).

    The file is untrusted: see the module's docstring for what is checked;
    no model is made until everything is.

    Returns
    -------
    pylstm.LSTM or pylstm.LSTMCell

    Raises
    ------
    OSError
        The file cannot be opened or read (IsADirectoryError for a directory).
    ValueError
        Naming the file and the problem: not a regular file, not valid
        safetensors, other dtypes, bad metadata (types, ranges, nesting), or
        tensors that do not form exactly the described LSTM / LSTMCell
        (missing, extra or misshapen).
    """
    shown = os.fsdecode(os.fspath(path))
    data = _read_regular(path, shown)
    try:
        tensors, metadata = _core.safetensors_parse(data)
    except ValueError as e:
        raise ValueError(f"{shown!r}: {e}") from None
    del data
    dtype = _dtype_of(tensors, shown)
    if "pylstm" in metadata:
        cls, kwargs, meta_dtype = _from_metadata(metadata["pylstm"], shown)
        if meta_dtype != dtype:
            raise ValueError(f"{shown!r}: metadata says dtype {meta_dtype}, tensors are "
                             f"{dtype.name}")
    else:
        cls, kwargs = _infer(tensors, shown)
    _check_tensors(cls, kwargs, tensors, shown)
    try:
        model = cls(**kwargs, dtype=dtype)
        model.load_state_dict(tensors)
    except (KeyError, TypeError, ValueError) as e:  # the checks above should leave none
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        raise ValueError(f"{shown!r}: does not match {_describe(cls, kwargs)}: {msg}") from None
    return model
