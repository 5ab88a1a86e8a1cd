"""atheris (libFuzzer for Python) target for pylstm.load: the Python checks in
pylstm/io.py on top of the C reader. Every input must load (and then run) or
raise ValueError; any other exception is a finding.

    pip install atheris
    cp -r tests/fuzz/corpus/model_load /tmp/corpus
    PYTHONPATH=$PWD python tests/fuzz/fuzz_load.py -max_total_time=60 \
        -dict=tests/fuzz/model.dict /tmp/corpus

(.ci/fuzz.sh runs the C targets only: atheris needs a clang-built wheel that
not every platform has.)
"""
import os
import sys
import tempfile

import atheris
import numpy as np

with atheris.instrument_imports():
    import pylstm

PATH = os.path.join(tempfile.mkdtemp(prefix="pylstm-fuzz-"), "input.safetensors")


def test_one_input(data):
    with open(PATH, "wb") as f:
        f.write(data)
    try:
        m = pylstm.load(PATH)
    except ValueError:
        return
    x = np.zeros((2, 1, m.input_size) if isinstance(m, pylstm.LSTM) else (1, m.input_size),
                 m.dtype)
    m(x)
    assert m.state_dict()


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
