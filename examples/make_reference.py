"""Write the model and the reference numbers that the C, Rust and Go examples check.

    python examples/make_reference.py          # rewrites examples/data/*
    python examples/make_reference.py --check  # exits 1 if the stored files differ

A small model with everything a handle must get right (two layers, both
directions, a projection), float32, seed 0, saved with pylstm.save to
examples/data/model.safetensors; then a batch of three sequences of different
lengths, run through it in Python, written with the outputs to
examples/data/reference.txt.

reference.txt is plain text. Lines starting with '#' are comments; the rest is
a sequence of records, each a name, a count n, then n numbers, all separated
by whitespace (line breaks anywhere), in this order:

    dims     3        T B I
    lengths  B        each sequence's length (torch's packed-sequence rule)
    x        T*B*I    input (T, B, I), time-major, row-major
    y        T*B*D*R  output (T, B, D*R); rows past a sequence's length are 0
    h_n      L*D*B*R  final h (L*D, B, R)
    c_n      L*D*B*H  final c (L*D, B, H)

with the model's L layers, D = 2 directions, hidden size H and R = proj_size.
Floats have 9 significant digits, so they read back as the same float32.
"""
import argparse
import os
import sys
import tempfile

import numpy as np

import pylstm

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data")
T, B = 5, 3
LENGTHS = [5, 2, 4]


def record(name, values, fmt):
    values = np.asarray(values).ravel()
    lines = [f"{name} {values.size}"]
    for k in range(0, values.size, 8):
        lines.append(" ".join(fmt % v for v in values[k:k + 8]))
    return "\n".join(lines) + "\n"


def read(path):
    """reference.txt as {name: float64 array}."""
    with open(path) as f:
        tokens = [t for line in f if not line.startswith("#") for t in line.split()]
    records, k = {}, 0
    while k < len(tokens):
        name, n = tokens[k], int(tokens[k + 1])
        records[name] = np.array(tokens[k + 2:k + 2 + n], dtype=np.float64)
        k += 2 + n
    return records


def same(name, new, old):
    """Inputs must match exactly; outputs to 1e-6, since another CPU's kernel
    (AVX-512, AVX2, NEON or portable C) may round differently."""
    if new.shape != old.shape:
        return False
    if name in ("dims", "lengths", "x"):
        return np.array_equal(new, old)
    return bool(np.max(np.abs(new - old), initial=0.0) <= 1e-6)


def write(directory):
    lstm = pylstm.LSTM(3, 5, num_layers=2, bidirectional=True, proj_size=2, dtype=np.float32,
                       seed=0)
    model_path = os.path.join(directory, "model.safetensors")
    pylstm.save(lstm, model_path)

    x = np.random.default_rng(0).uniform(-1, 1, size=(T, B, lstm.input_size)).astype(np.float32)
    lengths = np.array(LENGTHS, dtype=np.int64)
    y, (h_n, c_n) = lstm(x, lengths=lengths)
    text = ("# pylstm reference: written by examples/make_reference.py (the layout is described\n"
            "# there) for model.safetensors; the C, Rust and Go examples check against it.\n"
            + record("dims", [T, B, lstm.input_size], "%d")
            + record("lengths", lengths, "%d")
            + record("x", x, "%.9g")
            + record("y", y, "%.9g")
            + record("h_n", h_n, "%.9g")
            + record("c_n", c_n, "%.9g"))
    with open(os.path.join(directory, "reference.txt"), "w", newline="\n") as f:
        f.write(text)
    return model_path


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="compare with the stored files instead of rewriting them")
    args = parser.parse_args()
    if not args.check:
        os.makedirs(DATA, exist_ok=True)
        write(DATA)
        print(f"wrote {DATA}/model.safetensors and {DATA}/reference.txt")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        write(tmp)
        stale = []
        with open(os.path.join(tmp, "model.safetensors"), "rb") as new, \
                open(os.path.join(DATA, "model.safetensors"), "rb") as old:
            if new.read() != old.read():  # the weights depend on the seed alone
                stale.append("model.safetensors")
        new, old = (read(os.path.join(d, "reference.txt")) for d in (tmp, DATA))
        if list(new) != list(old):
            stale.append("reference.txt (records)")
        for name in new:
            if name in old and not same(name, new[name], old[name]):
                stale.append(f"reference.txt ({name})")
    if stale:
        print(f"examples/data: {', '.join(stale)} differ from what make_reference.py writes now")
        return 1
    print("examples/data matches make_reference.py")
    return 0


if __name__ == "__main__":
    sys.exit(main())
