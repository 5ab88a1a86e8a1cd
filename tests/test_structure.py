"""The package's structure: its modules import each other one way (no
cycles, counting imports inside functions), `import pylstm` reaches every
public module without importing an optional package, and a model's
configuration has one description (pylstm._config) that save/load and the
torch interop share."""
import ast
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import pylstm
from pylstm import _config

PACKAGE = pathlib.Path(pylstm.__file__).parent


def imports_of(path):
    """The pylstm modules a file imports, at any depth, outside `if TYPE_CHECKING:`."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            skip.update(id(n) for n in ast.walk(node))
    found = set()
    for node in ast.walk(tree):
        if id(node) in skip or not isinstance(node, ast.ImportFrom) or node.level != 1:
            continue
        if node.module:
            found.add(node.module.split(".")[0])
        else:
            found.update(alias.name for alias in node.names)
    return found


def test_modules_import_each_other_one_way():
    graph = {p.stem: imports_of(p) for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    graph = {m: {d for d in deps if d in graph} for m, deps in graph.items()}
    assert "interop" not in graph["lstm"] | graph["cell"]
    state = {}

    def visit(m, path):
        state[m] = "open"
        for d in sorted(graph[m]):
            if state.get(d) == "open":
                pytest.fail(f"import cycle: {' -> '.join(path + [m, d])}")
            if d not in state:
                visit(d, path + [m])
        state[m] = "done"

    for m in sorted(graph):
        if m not in state:
            visit(m, [])


def test_import_pylstm_reaches_the_public_modules_without_optional_packages():
    code = ("import sys, pylstm\n"
            "mods = [pylstm.interop.from_torch, pylstm.interop.from_keras, pylstm.layers.Embedding,"
            " pylstm.plot.gates, pylstm.losses.mse, pylstm.optim.Adam, pylstm.io.save]\n"
            "print([m for m in ('torch', 'keras', 'matplotlib', 'sklearn', 'safetensors')"
            " if m in sys.modules])\n")
    # From the tests' folder: at the repository root `python -c` would import
    # the uncompiled source package instead of the installed one.
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                       cwd=os.path.dirname(__file__))
    assert r.stdout.strip() == "[]", r.stdout + r.stderr


# The metadata keys of a saved file: the C library's loader reads the same
# ones (pylstm_model_load), so they are the file format, not a detail.
FILE_FIELDS = {
    pylstm.LSTM: ["input_size", "hidden_size", "num_layers", "bias", "batch_first", "dropout",
                  "bidirectional", "proj_size"],
    pylstm.LSTMCell: ["input_size", "hidden_size", "bias"],
}


@pytest.mark.parametrize("cls", [pylstm.LSTM, pylstm.LSTMCell])
def test_the_configuration_fields_are_the_constructor_arguments_save_records(cls, tmp_path):
    assert list(_config.fields(cls)) == FILE_FIELDS[cls]
    model = (cls(3, 5, num_layers=2, bidirectional=True, proj_size=2, dtype=np.float64, seed=0)
             if cls is pylstm.LSTM else cls(3, 5, bias=False, dtype=np.float64, seed=0))
    cfg = _config.config(model)
    assert list(cfg) == ["class"] + FILE_FIELDS[cls] + ["dtype"]
    pylstm.save(model, tmp_path / "m.safetensors")
    raw = (tmp_path / "m.safetensors").read_bytes()
    header = json.loads(raw[8:8 + int.from_bytes(raw[:8], "little")])
    assert json.loads(header["__metadata__"]["pylstm"]) == cfg
    again = _config.from_config(cfg)
    assert type(again) is cls and _config.config(again) == cfg and repr(again) == repr(model)


@pytest.mark.parametrize("model", [
    pylstm.LSTM(2, 3, batch_first=True, dropout=0.25, num_layers=2),
    pylstm.LSTMCell(4, 2), pylstm.Linear(3, 2, bias=False, dtype=np.float64), pylstm.Linear(2, 5),
    pylstm.Embedding(7, 3, padding_idx=-2), pylstm.Dropout(0.3)], ids=repr)
def test_every_module_round_trips_through_its_configuration(model):
    cfg = _config.config(model)
    again = _config.from_config(cfg, seed=1) if cfg["class"] != "Dropout" else \
        _config.from_config(cfg)
    assert _config.config(again) == cfg and repr(again) == repr(model)
    assert [(n, p.shape) for n, p in again.named_parameters()] == \
        [(n, p.shape) for n, p in model.named_parameters()]


def test_a_subclass_with_its_own_constructor_is_described_as_its_pylstm_class(tmp_path):
    class Square(pylstm.LSTM):
        def __init__(self, n):
            super().__init__(n, n, num_layers=2, seed=0)

    m = Square(3)
    assert repr(m) == "Square(3, 3, num_layers=2, dtype=float32)"
    assert _config.config(m)["class"] == "LSTM"
    pylstm.save(m, tmp_path / "s.safetensors")
    back = pylstm.load(tmp_path / "s.safetensors")
    assert repr(back) == "LSTM(3, 3, num_layers=2, dtype=float32)"


def test_from_config_refuses_unknown_classes_and_keys():
    with pytest.raises(ValueError, match="'class' names no pylstm module"):
        _config.from_config({"class": "GRU", "input_size": 2})
    with pytest.raises(ValueError, match=r"unexpected keys \['units'\]"):
        _config.from_config({"class": "LSTM", "input_size": 2, "hidden_size": 3, "units": 1})


def test_from_torch_reads_the_configuration_off_a_module():
    class FakeLSTM:  # a torch.nn.LSTM from before proj_size, duck-typed
        input_size, hidden_size, num_layers, bias = 2, 3, 1, True
        batch_first, dropout, bidirectional = True, 0.0, False

        def state_dict(self):
            return pylstm.LSTM(2, 3, seed=4).state_dict()

    m = pylstm.interop.from_torch(FakeLSTM())
    assert type(m) is pylstm.LSTM and m.batch_first and m.proj_size == 0
    assert np.array_equal(m.state_dict()["weight_hh_l0"],
                          pylstm.LSTM(2, 3, seed=4).state_dict()["weight_hh_l0"])
    with pytest.raises(TypeError, match="module: expected a torch.nn.LSTMCell"):
        pylstm.LSTMCell.from_torch(FakeLSTM())


def stub_names():
    """{function: [parameter names]} and {class: {member names}} of pylstm/_core.pyi."""
    tree = ast.parse((PACKAGE / "_core.pyi").read_text(encoding="utf-8"))
    functions, classes = {}, {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            a = node.args
            functions[node.name] = [p.arg for p in a.posonlyargs + a.args + a.kwonlyargs]
        elif isinstance(node, ast.ClassDef):
            classes[node.name] = {n.name for n in node.body if isinstance(n, ast.FunctionDef)
                                  and not (n.name.startswith("__") and n.name != "__init__")}
    return functions, classes


def test_the_core_stub_matches_the_compiled_module():
    """pylstm/_core.pyi (what mypy reads) lists every public function of the
    Cython module with its parameter names, and every member of its classes."""
    import inspect

    from pylstm import _core
    functions, classes = stub_names()
    public = {n: getattr(_core, n) for n in dir(_core) if not n.startswith("_")}
    module_functions = {n: f for n, f in public.items() if callable(f) and not isinstance(f, type)}
    assert sorted(functions) == sorted(module_functions)
    for name, f in module_functions.items():
        assert functions[name] == list(inspect.signature(f).parameters), name
    for cls in (_core.Stepper, _core.Handle):
        members = {n for n in dir(cls) if not n.startswith("__")}
        if "__init__" in classes[cls.__name__]:
            members.add("__init__")
        assert classes[cls.__name__] == members, cls.__name__
