"""The NumPy reference (tests/reference.py) checked on its own, so it can be
trusted where torch is absent: its hand-written backward against central finite
differences, its numbers against torch's stored in tests/c/model_reference.h
(made by tests/make_c_reference.py), and its dropout generator against a
plain-integer SplitMix64."""
import pathlib
import re

import numpy as np
import pytest

import reference
from conftest import central_difference


def random_params(rng, I, H, L, D, P, bias):
    R = P or H
    sd = {}
    for name in reference.param_names(L, D == 2, bias, P):
        layer = int(re.search(r"_l(\d+)", name).group(1))
        kind = name.split("_l")[0]
        shape = {"weight_ih": (4 * H, I if layer == 0 else D * R), "weight_hh": (4 * H, R),
                 "bias_ih": (4 * H,), "bias_hh": (4 * H,), "weight_hr": (P, H)}[kind]
        sd[name] = rng.uniform(-0.6, 0.6, shape)
    return sd


@pytest.mark.parametrize("kw", [
    dict(),
    dict(bias=False, batch_first=True),
    dict(num_layers=2, bidirectional=True, proj_size=2, lengths=True),
    dict(num_layers=3, dropout=0.5, lengths=True),
    dict(num_layers=2, bidirectional=True, unbatched=True),
])
def test_reference_backward_matches_finite_differences(kw):
    rng = np.random.default_rng(len(kw))
    I, H, T, B = 3, 4, 5, 3
    L, D, P = kw.get("num_layers", 1), 2 if kw.get("bidirectional") else 1, kw.get("proj_size", 0)
    R = P or H
    sd = random_params(rng, I, H, L, D, P, kw.get("bias", True))
    model = reference.LSTM(sd, num_layers=L, bidirectional=D == 2,
                           batch_first=kw.get("batch_first", False), proj_size=P)
    if kw.get("unbatched"):
        x = rng.standard_normal((T, I))
        hx = (rng.standard_normal((L * D, R)), rng.standard_normal((L * D, H)))
    else:
        x = rng.standard_normal((B, T, I) if model.batch_first else (T, B, I))
        hx = (rng.standard_normal((L * D, B, R)), rng.standard_normal((L * D, B, H)))
    lengths = np.array([5, 2, 4]) if kw.get("lengths") else None
    p = kw.get("dropout", 0.0)

    def run():
        return model.forward(x, hx, lengths, dropout=p, seed=99)

    y, (hn, cn) = run()
    w = [rng.standard_normal(a.shape) for a in (y, hn, cn)]
    dx, (dh0, dc0), grads = model.backward(*w)
    if p:
        assert any((mk == 0).any() for mk in model.masks)

    def loss():
        y, (hn, cn) = run()
        return np.sum(y * w[0]) + np.sum(hn * w[1]) + np.sum(cn * w[2])

    checks = [(x, dx), (hx[0], dh0), (hx[1], dc0)]
    # The reference copies the parameters at construction: perturb its copies.
    for e, wd in enumerate(model.w):
        for key, name in (("W_ih", "weight_ih"), ("W_hh", "weight_hh"), ("b_ih", "bias_ih"),
                          ("b_hh", "bias_hh"), ("W_hr", "weight_hr")):
            if wd[key] is not None:
                checks.append((wd[key], grads[name + wd["sfx"]]))
    assert len(grads) == len(sd) and len(checks) == len(sd) + 3
    for arr, grad in checks:
        assert grad.shape == arr.shape
        for _ in range(6):
            idx = tuple(int(rng.integers(s)) for s in arr.shape)
            num = central_difference(loss, arr, idx)
            assert abs(num - grad[idx]) < 1e-7 * max(1.0, abs(num)), (idx, num, grad[idx])


@pytest.mark.parametrize("unbatched", [False, True])
def test_reference_cell_backward_matches_finite_differences(unbatched):
    rng = np.random.default_rng(5)
    sd = {"weight_ih": rng.uniform(-1, 1, (12, 2)), "weight_hh": rng.uniform(-1, 1, (12, 3)),
          "bias_ih": rng.uniform(-1, 1, 12), "bias_hh": rng.uniform(-1, 1, 12)}
    shape = (3,) if unbatched else (2, 3)
    x = rng.standard_normal((2,) if unbatched else (2, 2))
    h, c, wh, wc = (rng.standard_normal(shape) for _ in range(4))
    _, (dx, (dh, dc), grads) = reference.lstm_cell(sd, x, (h, c), wh, wc)

    def loss():
        h1, c1 = reference.lstm_cell(sd, x, (h, c))
        return np.sum(h1 * wh) + np.sum(c1 * wc)

    for arr, grad in [(x, dx), (h, dh), (c, dc)] + [(sd[k], grads[k]) for k in sd]:
        for idx in np.ndindex(arr.shape):
            assert abs(central_difference(loss, arr, idx) - grad[idx]) < 1e-8, idx


def stored_torch_case():
    """The arrays of tests/c/model_reference.h (torch 2.13 numbers) by name."""
    text = (pathlib.Path(__file__).parent / "c" / "model_reference.h").read_text()
    arrays = {name: np.array([float(v) for v in body.replace("\n", " ").split(",")])
              for name, body in re.findall(r"static const double (\w+)\[\d+\] = \{([^}]*)\};",
                                           text)}
    dims = {k: int(v) for k, v in re.findall(r"#define REF_(\w) (\d+)", text)}
    lengths = [int(v) for v in re.search(r"ref_lengths\[REF_B\] = \{([^}]*)\}",
                                         text).group(1).split(",")]
    return arrays, dims, np.array(lengths)


def test_reference_reproduces_the_numbers_stored_for_the_c_tests():
    """torch.nn.LSTM(3, 5, num_layers=2, bidirectional=True, proj_size=2) with
    unsorted lengths, float64: the reference must give torch's outputs and
    gradients to rounding, with no torch at run time."""
    a, n, lengths = stored_torch_case()
    T, B, I, H, P, L, D = (n[k] for k in "TBIHPLD")
    R = P
    names = {"W_ih": "weight_ih", "W_hh": "weight_hh", "b_ih": "bias_ih", "b_hh": "bias_hh",
             "W_hr": "weight_hr"}
    sd = {}
    for k in range(L * D):
        layer, d = divmod(k, D)
        sfx = f"_l{layer}" + ("_reverse" if d else "")
        shapes = {"W_ih": (4 * H, I if layer == 0 else D * R), "W_hh": (4 * H, R),
                  "b_ih": (4 * H,), "b_hh": (4 * H,), "W_hr": (P, H)}
        for c, t in names.items():
            sd[t + sfx] = a[f"ref_{c}_{k}"].reshape(shapes[c])
    model = reference.LSTM(sd, num_layers=L, bidirectional=D == 2, proj_size=P)
    x = a["ref_x"].reshape(T, B, I)
    h0, c0 = a["ref_h0"].reshape(L * D, B, R), a["ref_c0"].reshape(L * D, B, H)
    y, (hn, cn) = model.forward(x, (h0, c0), lengths)
    dx, (dh0, dc0), grads = model.backward(a["ref_dy"].reshape(y.shape),
                                           a["ref_dhn"].reshape(hn.shape),
                                           a["ref_dcn"].reshape(cn.shape))
    got = {"y": y, "hn": hn, "cn": cn, "dx": dx, "dh0": dh0, "dc0": dc0}
    for name, v in got.items():
        np.testing.assert_allclose(v.ravel(), a["ref_" + name], rtol=0, atol=1e-12,
                                   err_msg=name)
    for k in range(L * D):
        layer, d = divmod(k, D)
        sfx = f"_l{layer}" + ("_reverse" if d else "")
        for c, t in names.items():
            np.testing.assert_allclose(grads[t + sfx].ravel(), a[f"ref_grad_{c}_{k}"], rtol=0,
                                       atol=1e-12, err_msg=t + sfx)


def splitmix_uniform(seed, layer, k):
    """pylstm.h's keep-test value for one element, with Python integers."""
    M = 2**64 - 1

    def mix(z):
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M
        return z ^ (z >> 31)

    z = ((mix(layer + 1) ^ seed) + (k + 1) * 0x9E3779B97F4A7C15) & M
    return (mix(z) >> 11) / 2.0**53


@pytest.mark.parametrize("seed", [0, 1, 2**63 - 1, 0xDEADBEEF12345678])
def test_dropout_mask_is_splitmix64_bit_for_bit(seed):
    shape = (5, 3, 4)
    p = 0.37
    for layer in (0, 1, 6):
        mask = reference.dropout_mask(seed, layer, shape, p).ravel()
        for k in range(mask.size):
            keep = splitmix_uniform(seed, layer, k) >= p
            assert mask[k] == (1 / (1 - p) if keep else 0.0), (layer, k)
    big = reference.dropout_mask(seed, 0, (400, 50), p)
    n = big.size
    assert abs((big == 0).mean() - p) < 4 * np.sqrt(p * (1 - p) / n)
    assert not reference.dropout_mask(seed, 0, shape, 1.0).any()
    assert (reference.dropout_mask(seed, 0, shape, 0.0) == 1).all()
