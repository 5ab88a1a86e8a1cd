"""benchmarks/bench.py --isa: the caps reach pylstm in the fresh process it runs.

Only the plumbing is checked here (which kernel ran, what the JSON records); the
timings themselves are the benchmark's business, never a test's."""
import json
import os
import subprocess
import sys

import pytest

import pylstm

BENCH = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "benchmarks",
                     "bench.py")


@pytest.mark.skipif(not os.path.exists(BENCH), reason="no benchmarks/ beside these tests")
@pytest.mark.skipif(pylstm.gemm_kernel() not in ("avx2", "avx512"),
                    reason="the AVX2 kernel does not run on this CPU")
def test_isa_avx2_runs_the_avx2_kernel_and_records_the_caps(tmp_path):
    out = tmp_path / "bench.json"
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYLSTM_KERNEL", "ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS")}
    # pylstm from wherever this test imports it (the source tree or a wheel)
    env["PYTHONPATH"] = os.path.dirname(os.path.dirname(os.path.abspath(pylstm.__file__)))
    r = subprocess.run([sys.executable, BENCH, "--isa", "avx2", "--cases", "stream",
                        "--threads", "1", "--repeats", "1", "--min-seconds", "0.001",
                        "--settle", "0", "--json", str(out)],
                       capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr
    machine = json.loads(out.read_text())["machine"]
    assert machine["kernel"] == "avx2 (PYLSTM_KERNEL=avx2)"
    assert machine["isa_cap"]["env"] == {"PYLSTM_KERNEL": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2",
                                         "MKL_ENABLE_INSTRUCTIONS": "AVX2"}
    assert "onnxruntime is not" in r.stdout
