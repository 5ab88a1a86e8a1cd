"""`python -m pylstm demo` end to end on a short sequence, and the adding-problem data."""
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from pylstm import demo


def run_cli(*args):
    # Run from the tests' own folder, not the repository root, where
    # `python -m pylstm` would find the uncompiled source package first.
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.run([sys.executable, "-m", "pylstm", *args], capture_output=True,
                          text=True, timeout=120, env=env, cwd=os.path.dirname(__file__))


def test_adding_batch_has_one_mark_in_each_half_and_sums_them():
    rng = np.random.default_rng(0)
    x, y, marks = demo.adding_batch(rng, 11, 500)
    assert x.shape == (11, 500, 2) and y.shape == (500,)
    assert np.all(x[:, :, 1].sum(axis=0) == 2)
    assert np.all(marks[:, 0] < 5) and np.all(marks[:, 1] >= 5)
    assert np.all((x[:, :, 0] >= 0) & (x[:, :, 0] <= 1))
    assert np.allclose(y, (x[:, :, 0] * x[:, :, 1]).sum(axis=0))
    # always predicting 1.0 scores Var(u1 + u2) = 1/6
    assert abs(np.mean((y - 1.0) ** 2) - demo.BASELINE_MSE) < 0.02


def test_demo_command_trains_and_reports():
    r = run_cli("demo", "--T", "10", "--steps", "300", "--hidden", "16", "--batch-size", "32",
                "--seed", "1")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert out.startswith("adding problem: T=10")
    m = re.search(r"^test MSE (\d+\.\d+)\s+\(always predicting 1\.0 scores 0\.167\)$", out, re.M)
    assert m, out
    assert float(m.group(1)) < 0.05          # T=10 is easy: clearly better than 0.167
    assert re.search(r"^sample: prediction -?\d+\.\d+, target \d+\.\d+ \(= \d\.\d+ at t=\d+ "
                     r"\+ \d\.\d+ at t=\d+\)$", out, re.M), out
    assert re.search(r"^input gate at the marked steps vs elsewhere: mean over units \d\.\d{3} "
                     r"vs \d\.\d{3}; unit \d+: \d\.\d{3} vs \d\.\d{3}; \d+ of 16 units open "
                     r"by > 0\.3$", out, re.M), out
    assert re.search(r"^trained 300 steps in \d+\.\d s \(\d+ sequences/s\)$", out, re.M), out
    assert "300/300" in r.stderr             # the progress bar


def test_demo_quiet_prints_only_the_results():
    r = run_cli("demo", "--T", "6", "--steps", "3", "--quiet", "--epochs", "2")
    assert r.returncode == 0, r.stderr
    assert r.stderr == "" and r.stdout.startswith("trained 2 steps")


def test_demo_rejects_bad_options():
    r = run_cli("demo", "--T", "1")
    assert r.returncode != 0 and "--T" in r.stderr
    r = run_cli("nonsense")
    assert r.returncode == 2 and "invalid choice" in r.stderr


def test_demo_writes_a_plot(tmp_path):
    pytest.importorskip("matplotlib", reason="plots need matplotlib: pip install matplotlib")
    path = tmp_path / "demo.png"
    r = run_cli("demo", "--T", "8", "--steps", "5", "--hidden", "4", "--quiet",
                "--plot", str(path))
    assert r.returncode == 0, r.stderr
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"plot written to {path}" in r.stdout


def test_demo_plot_without_matplotlib_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    from pylstm.__main__ import main
    with pytest.raises(SystemExit, match="pip install matplotlib"):
        main(["demo", "--T", "4", "--steps", "1", "--plot", "x.png"])


def test_plot_gates_draws_every_layer_and_direction(tmp_path):
    pytest.importorskip("matplotlib", reason="plots need matplotlib: pip install matplotlib")
    import pylstm
    model = pylstm.LSTM(3, 5, num_layers=2, bidirectional=True, seed=0)
    x = np.random.default_rng(0).standard_normal((7, 2, 3))
    fig = pylstm.plot.gates(model, x, sample=1, lengths=[7, 4], path=tmp_path / "g.png")
    assert (tmp_path / "g.png").stat().st_size > 0
    images = [ax for ax in fig.axes if ax.images]
    assert len(images) == 4 * 7              # 4 layer-directions x (input + i f g o c h)
    assert images[4].images[0].get_array().shape == (5, 4)   # i: units x the 4 real steps
    fig = pylstm.plot.loss_curve([1.0, 0.5, 0.2, 0.1], path=tmp_path / "l.png")
    assert (tmp_path / "l.png").stat().st_size > 0
    with pytest.raises(ValueError, match="sample"):
        pylstm.plot.gates(model, x, sample=2)
