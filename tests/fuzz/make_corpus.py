"""Writes the fuzzers' seed corpora, tests/fuzz/corpus/{model_load,safetensors}/.

The seeds are small valid files (pylstm.save of small models, and torch-named
state dicts written by the safetensors package, as torch users save them) and
a few near-misses (a truncated file, a missing or misshapen tensor, bad
metadata), so the fuzzers start from inputs that reach deep into the loader.
Run from the repository root with pylstm built in place and the safetensors
package installed:  PYTHONPATH=$PWD python tests/fuzz/make_corpus.py
"""
import json
import os
import shutil

import numpy as np
from safetensors.numpy import save as st_save

import pylstm

HERE = os.path.dirname(os.path.abspath(__file__))


def saved(model):
    path = os.path.join(HERE, "_tmp.safetensors")
    pylstm.save(model, path)
    with open(path, "rb") as f:
        data = f.read()
    os.remove(path)
    return data


def torch_named(I, H, layers=1, bidirectional=False, proj=0, bias=True, dtype=np.float32,
                cell=False):
    rng = np.random.default_rng(0)
    R = proj or H
    t = {}
    if cell:
        t = {"weight_ih": (4 * H, I), "weight_hh": (4 * H, H), "bias_ih": (4 * H,),
             "bias_hh": (4 * H,)}
    else:
        for k in range(layers):
            for sfx in ["", "_reverse"][: 2 if bidirectional else 1]:
                inp = I if k == 0 else R * (2 if bidirectional else 1)
                t[f"weight_ih_l{k}{sfx}"] = (4 * H, inp)
                t[f"weight_hh_l{k}{sfx}"] = (4 * H, R)
                if bias:
                    t[f"bias_ih_l{k}{sfx}"] = (4 * H,)
                    t[f"bias_hh_l{k}{sfx}"] = (4 * H,)
                if proj:
                    t[f"weight_hr_l{k}{sfx}"] = (proj, H)
    return st_save({n: rng.standard_normal(s).astype(dtype) for n, s in t.items()})


def with_metadata(data, **changes):
    """data (a pylstm.save file) with keys of its pylstm metadata changed."""
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + n])
    cfg = json.loads(header["__metadata__"]["pylstm"])
    cfg.update(changes)
    header["__metadata__"]["pylstm"] = json.dumps(cfg)
    head = json.dumps(header).encode()
    head += b" " * (-len(head) % 8)
    return len(head).to_bytes(8, "little") + head + data[8 + n:]


def main():
    seeds = {
        "lstm_1x2": saved(pylstm.LSTM(1, 2)),
        "lstm_3x4_2layers": saved(pylstm.LSTM(3, 4, num_layers=2)),
        "lstm_2x3_bidir": saved(pylstm.LSTM(2, 3, bidirectional=True)),
        "lstm_2x4_proj2_bidir_2layers": saved(
            pylstm.LSTM(2, 4, proj_size=2, num_layers=2, bidirectional=True)),
        "lstm_2x3_nobias_f64": saved(pylstm.LSTM(2, 3, bias=False, dtype=np.float64)),
        "lstm_2x2_batch_first_dropout": saved(
            pylstm.LSTM(2, 2, num_layers=2, batch_first=True, dropout=0.25)),
        "cell_2x3": saved(pylstm.LSTMCell(2, 3)),
        "torch_lstm_2x3_2layers": torch_named(2, 3, layers=2),
        "torch_lstm_2x4_proj_bidir": torch_named(2, 4, bidirectional=True, proj=3),
        "torch_lstm_1x2_nobias_f64": torch_named(1, 2, bias=False, dtype=np.float64),
        "torch_cell_2x2": torch_named(2, 2, cell=True),
    }
    base = seeds["lstm_3x4_2layers"]
    misses = {
        "miss_truncated": base[:-3],
        "miss_num_layers_3": with_metadata(base, num_layers=3),
        "miss_dtype_float64": with_metadata(base, dtype="float64"),
        "miss_proj_size_string": with_metadata(base, proj_size="2"),
        "miss_torch_missing_bias": st_save({
            "weight_ih_l0": np.zeros((12, 2), np.float32),
            "weight_hh_l0": np.zeros((12, 3), np.float32),
            "bias_ih_l0": np.zeros(12, np.float32)}),
        "miss_torch_layer_gap": st_save({
            "weight_ih_l0": np.zeros((4, 1), np.float32),
            "weight_hh_l0": np.zeros((4, 1), np.float32),
            "weight_ih_l2": np.zeros((4, 1), np.float32),
            "weight_hh_l2": np.zeros((4, 1), np.float32)}),
        "miss_torch_mixed_dtypes": st_save({
            "weight_ih_l0": np.zeros((4, 1), np.float32),
            "weight_hh_l0": np.zeros((4, 1), np.float64)}),
    }
    st_only = {
        "st_empty": st_save({}),
        "st_scalar_and_empty": st_save({"s": np.array(1.5),
                                        "e": np.zeros((0, 3), np.int8)}),
        "st_dtypes": st_save({"a": np.arange(3, dtype=np.uint16), "b": np.ones(2, np.int64),
                              "c": np.array([True, False]), "d": np.ones(1, np.float16)}),
        "st_metadata": st_save({"x": np.ones((2, 2), np.float32)},
                               metadata={"k": "v", "\u00e9\u6f22": "\U0001F600"}),
    }
    for kind, files in (("model_load", {**seeds, **misses}),
                        ("safetensors", {**st_only, **{k: seeds[k] for k in
                                                       ("lstm_1x2", "torch_cell_2x2")},
                                         "miss_truncated": misses["miss_truncated"]})):
        out = os.path.join(HERE, "corpus", kind)
        shutil.rmtree(out, ignore_errors=True)
        os.makedirs(out)
        for name, data in files.items():
            with open(os.path.join(out, name), "wb") as f:
                f.write(data)


if __name__ == "__main__":
    main()
