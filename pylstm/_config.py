"""A model's configuration, described once: the arguments of its constructor.

The fields of a pylstm module are the positional-or-keyword parameters of
its class's ``__init__`` (torch's constructor arguments: for LSTM
``input_size, hidden_size, num_layers, bias, batch_first, dropout,
bidirectional, proj_size``), read from the signature, so adding an argument
there is the only edit. The keyword-only ones are not configuration: ``dtype``
is recorded beside the fields, ``seed`` and ``forget_bias`` only shape the
initial values.

Everything that describes or rebuilds a model reads this module: save/load
(the file's metadata is ``config(model)``), the torch interop (fields read off
a torch module's attributes), the reprs, and the C library's loader, which
reads the same metadata keys.

pylstm's module classes register themselves here when they are defined
(``Module.__init_subclass__``), so ``from_config`` finds them by name and this
module imports none of them.
"""

from __future__ import annotations

import inspect
from typing import Any

# class name -> class, filled by Module.__init_subclass__ for pylstm's own
# classes (pylstm._module.Module; typed loosely here, as this module imports
# none of pylstm's)
CLASSES: dict[str, type] = {}


class _Required:
    """The default of a field that has none."""

    def __repr__(self) -> str:
        return "<required>"


REQUIRED: Any = _Required()


def register(cls: type) -> None:
    """Makes cls known to from_config under its name."""
    CLASSES[cls.__name__] = cls


def fields(cls: type) -> dict[str, Any]:
    """{field: default} of a module class, in constructor order (REQUIRED
    for those without a default)."""
    # the constructor's own signature (inspect.signature(cls) could report
    # Module.__new__'s *args, **kwargs instead)
    params = inspect.signature(getattr(cls, "__init__")).parameters.values()
    return {p.name: REQUIRED if p.default is p.empty else p.default for p in params
            if p.kind is p.POSITIONAL_OR_KEYWORD and p.name != "self"}


def pylstm_class(model: Any) -> type:
    """The pylstm class of a model: its own, or for an instance of a user's
    subclass (whose constructor may take other arguments) the nearest
    pylstm class it derives from."""
    for cls in type(model).__mro__:
        if CLASSES.get(cls.__name__) is cls:
            return cls
    return type(model)


def values(model: Any, cls: type | None = None) -> dict[str, Any]:
    """{field: value} of a model as an instance of cls (default its pylstm
    class): what that constructor was given, normalised."""
    read = getattr(model, "_config_value", None)
    return {name: read(name) if read is not None else getattr(model, name)
            for name in fields(pylstm_class(model) if cls is None else cls)}


def config(model: Any, as_class: type | None = None) -> dict[str, Any]:
    """The model's class name, fields and dtype name (when it has a dtype),
    as plain JSON-able values: {"class": "LSTM", "input_size": 8, ...,
    "dtype": "float32"}. ``as_class``: describe the model as an instance of
    this class (its name and fields); default its pylstm class."""
    cls = pylstm_class(model) if as_class is None else as_class
    cfg: dict[str, Any] = {"class": cls.__name__}
    cfg.update(values(model, cls))
    dtype = getattr(model, "dtype", None)
    if dtype is not None:
        cfg["dtype"] = dtype.name
    return cfg


def from_config(cfg: dict[str, Any], **init: Any) -> Any:
    """A new model of the configuration ``config`` gave (fresh parameters).

    Parameters
    ----------
    cfg : dict
        "class" (a pylstm module class name), any of its fields (the others
        take their defaults) and "dtype" if the class has one.
    **init
        Keyword-only constructor arguments to add (e.g. ``seed=0``).
    """
    name = cfg.get("class")
    cls = CLASSES.get(name) if isinstance(name, str) else None
    if cls is None:
        raise ValueError(f"config: 'class' names no pylstm module, got {name!r} "
                         f"(expected one of {sorted(CLASSES)})")
    names = fields(cls)
    unknown = sorted(set(cfg) - set(names) - {"class", "dtype"})
    if unknown:
        raise ValueError(f"config: unexpected keys {unknown} for {cls.__name__}")
    kwargs = {n: cfg[n] for n in names if n in cfg}
    if "dtype" in cfg:
        kwargs["dtype"] = cfg["dtype"]
    return cls(**kwargs, **init)


def from_attributes(cls: type, obj: Any) -> dict[str, Any]:
    """The fields of cls read off another object's attributes of the same
    names (a torch module's), absent ones taking their defaults."""
    out = {}
    for name, default in fields(cls).items():
        if default is REQUIRED:
            out[name] = getattr(obj, name)
        else:
            out[name] = getattr(obj, name, default)
    return out


def describe(model: Any) -> str:
    """``Class(a, b, name=value, ..., dtype=float32)``: the fields without a
    default by value, then every other field that differs from its default
    (the repr of pylstm's modules)."""
    shown = []
    cls = pylstm_class(model)
    defaults = fields(cls)
    for name, value in values(model, cls).items():
        if defaults[name] is REQUIRED:
            shown.append(repr(value))
        elif value != defaults[name]:
            shown.append(f"{name}={value!r}")
    dtype = getattr(model, "dtype", None)
    if dtype is not None:
        shown.append(f"dtype={dtype.name}")
    return f"{type(model).__name__}({', '.join(shown)})"
