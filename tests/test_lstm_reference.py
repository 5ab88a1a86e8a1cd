"""pylstm.LSTM against the NumPy reference (tests/reference.py) and, when it is
installed, torch.nn.LSTM: outputs, final states and every gradient over the
whole grid of constructor options, float64 and float32."""
import copy
import itertools

import numpy as np
import pytest

import pylstm
import reference
from conftest import REFERENCES, TOL, max_err, torch_or_skip

GRID = list(itertools.product(
    [True, False],       # bias
    [False, True],       # bidirectional
    [False, True],       # batch_first
    [False, True],       # non-contiguous input
    [False, True],       # lengths (random order)
    [0, 2],              # proj_size
    [1, 2, 3],           # num_layers
))


def torch_lstm_like(model):
    torch = torch_or_skip()
    t = torch.nn.LSTM(model.input_size, model.hidden_size, num_layers=model.num_layers,
                      bias=model.bias, batch_first=model.batch_first,
                      bidirectional=model.bidirectional, proj_size=model.proj_size)
    t = t.double() if model.dtype == np.float64 else t.float()
    t.load_state_dict({k: torch.from_numpy(v) for k, v in model.state_dict().items()})
    return t


def numpy_lstm_like(model):
    return reference.LSTM(model.state_dict(), num_layers=model.num_layers,
                          bidirectional=model.bidirectional, batch_first=model.batch_first,
                          proj_size=model.proj_size)


def run_torch(model, x, hx, lengths, dy, dhn, dcn):
    """torch forward + backward of sum(y*dy) + sum(h_n*dhn) + sum(c_n*dcn)."""
    torch = torch_or_skip()
    t = torch_lstm_like(model)
    xt = torch.tensor(x, requires_grad=True)
    h0 = torch.tensor(hx[0], requires_grad=True)
    c0 = torch.tensor(hx[1], requires_grad=True)
    if lengths is not None:
        packed = torch.nn.utils.rnn.pack_padded_sequence(
            xt, torch.tensor(lengths), batch_first=t.batch_first, enforce_sorted=False)
        yp, (hn, cn) = t(packed, (h0, c0))
        y, _ = torch.nn.utils.rnn.pad_packed_sequence(
            yp, batch_first=t.batch_first, total_length=x.shape[1 if t.batch_first else 0])
    else:
        y, (hn, cn) = t(xt, (h0, c0))
    loss = (y * torch.tensor(dy)).sum() + (hn * torch.tensor(dhn)).sum() + \
        (cn * torch.tensor(dcn)).sum()
    loss.backward()
    grads = {k: p.grad.numpy() for k, p in t.named_parameters()}
    return (y.detach().numpy(), hn.detach().numpy(), cn.detach().numpy(), xt.grad.numpy(),
            h0.grad.numpy(), c0.grad.numpy(), grads)


def run_numpy(model, x, hx, lengths, dy, dhn, dcn):
    """The same from the NumPy reference, in float64."""
    r = numpy_lstm_like(model)
    y, (hn, cn) = r.forward(x, hx, lengths)
    dx, (dh0, dc0), grads = r.backward(dy, dhn, dcn)
    return y, hn, cn, dx, dh0, dc0, grads


RUN = {"numpy": run_numpy, "torch": run_torch}


def check_against_reference(ref, model, rng, T, B, noncontig, use_lengths):
    dtype = model.dtype.type
    D = model.num_directions
    R = model.proj_size or model.hidden_size
    L = model.num_layers
    shape = (B, T, model.input_size) if model.batch_first else (T, B, model.input_size)
    x = rng.standard_normal(shape).astype(dtype)
    if noncontig:
        # Same values, every other element of a larger buffer, and Fortran-ordered.
        big = np.zeros(shape[:-1] + (2 * shape[-1],), dtype)
        big[..., ::2] = x
        x_in = big[..., ::2]
        assert not x_in.flags.c_contiguous
    else:
        x_in = x
    h0 = rng.standard_normal((L * D, B, R)).astype(dtype)
    c0 = np.asfortranarray(rng.standard_normal((L * D, B, model.hidden_size)).astype(dtype))
    lengths = rng.integers(1, T + 1, size=B) if use_lengths else None
    if use_lengths:
        lengths[rng.integers(B)] = T  # torch pads to the longest sequence

    y, (hn, cn), cache = model.forward_train(x_in, (h0, c0), lengths=lengths)
    y_inf, (hn_inf, cn_inf) = model(x_in, (h0, c0), lengths=lengths)
    assert np.array_equal(y, y_inf) and np.array_equal(hn, hn_inf) and np.array_equal(cn, cn_inf)

    dy = rng.standard_normal(y.shape).astype(dtype)
    dhn = rng.standard_normal(hn.shape).astype(dtype)
    dcn = rng.standard_normal(cn.shape).astype(dtype)
    model.zero_grad()
    dx, (dh0, dc0) = model.backward(cache, dy, dhn, dcn)

    ty, thn, tcn, tdx, tdh0, tdc0, tgrads = RUN[ref](
        model, x, (h0, np.ascontiguousarray(c0)), lengths, dy, dhn, dcn)
    vtol, gtol = TOL[dtype]
    errs = {"output": max_err(y, ty), "h_n": max_err(hn, thn), "c_n": max_err(cn, tcn)}
    assert max(errs.values()) < vtol, errs
    gerrs = {"dx": max_err(dx, tdx), "dh0": max_err(dh0, tdh0), "dc0": max_err(dc0, tdc0)}
    gerrs.update({k: max_err(model.grads[k], g) for k, g in tgrads.items()})
    assert set(tgrads) == set(model.grads)
    assert max(gerrs.values()) < gtol, gerrs
    return max(max(errs.values()), max(gerrs.values()))


@pytest.mark.parametrize("ref", REFERENCES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("bias,bidir,batch_first,noncontig,use_lengths,proj,layers", GRID)
def test_lstm_matches_reference_on_option_grid(ref, dtype, bias, bidir, batch_first, noncontig,
                                               use_lengths, proj, layers):
    rng = np.random.default_rng(hash((bias, bidir, batch_first, noncontig, use_lengths, proj,
                                      layers)) % 2**32)
    model = pylstm.LSTM(4, 5, num_layers=layers, bias=bias, batch_first=batch_first,
                        bidirectional=bidir, proj_size=proj, dtype=dtype,
                        seed=int(rng.integers(2**31)))
    check_against_reference(ref, model, rng, T=6, B=3, noncontig=noncontig,
                            use_lengths=use_lengths)


@pytest.mark.parametrize("ref", REFERENCES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", range(12))
def test_lstm_matches_reference_on_random_sizes(ref, dtype, case):
    """Random sizes, 1 and odd primes included, larger than the grid's."""
    rng = np.random.default_rng(1000 + case)
    pick = lambda: int(rng.choice([1, 2, 3, 7, 13, 31, int(rng.integers(1, 40))]))  # noqa: E731
    H = max(pick(), 2)
    model = pylstm.LSTM(pick(), H, num_layers=int(rng.integers(1, 3)),
                        bidirectional=bool(rng.integers(2)), batch_first=bool(rng.integers(2)),
                        proj_size=int(rng.integers(0, H)), dtype=dtype, seed=case)
    check_against_reference(ref, model, rng, T=pick(), B=pick(), noncontig=bool(rng.integers(2)),
                            use_lengths=bool(rng.integers(2)))


def reference_unbatched(ref, model, x, dy):
    """Output, states and gradients for unbatched x (T, I), no hx, loss sum(y*dy)."""
    if ref == "numpy":
        r = numpy_lstm_like(model)
        y, (hn, cn) = r.forward(x)
        dx, _, grads = r.backward(dy)
        return y, hn, cn, dx, grads
    torch = torch_or_skip()
    t = torch_lstm_like(model)
    xt = torch.tensor(x, requires_grad=True)
    ty, (thn, tcn) = t(xt)
    (ty * torch.tensor(dy)).sum().backward()
    return (ty.detach().numpy(), thn.detach().numpy(), tcn.detach().numpy(), xt.grad.numpy(),
            {k: p.grad.numpy() for k, p in t.named_parameters()})


@pytest.mark.parametrize("ref", REFERENCES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("bidir,proj", [(False, 0), (True, 3)])
def test_unbatched_input_matches_reference(ref, dtype, bidir, proj):
    rng = np.random.default_rng(7)
    model = pylstm.LSTM(3, 6, num_layers=2, bidirectional=bidir, proj_size=proj, dtype=dtype,
                        seed=3)
    x = rng.standard_normal((5, 3)).astype(dtype)
    y, (hn, cn), cache = model.forward_train(x)
    assert y.shape == (5, model.num_directions * (proj or 6))
    assert hn.shape == (2 * model.num_directions, proj or 6)
    dy = rng.standard_normal(y.shape).astype(dtype)
    dx, (dh0, dc0) = model.backward(cache, dy)
    ty, thn, tcn, tdx, tgrads = reference_unbatched(ref, model, x, dy)
    vtol, gtol = TOL[dtype]
    assert max_err(y, ty) < vtol
    assert max_err(hn, thn) < vtol
    assert max_err(cn, tcn) < vtol
    assert max_err(dx, tdx) < gtol
    assert dh0.shape == hn.shape and dc0.shape == cn.shape
    assert set(tgrads) == set(model.grads)
    for k, g in tgrads.items():
        assert max_err(model.grads[k], g) < gtol, k


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kw", [
    dict(num_layers=2),
    dict(num_layers=3, bidirectional=True, proj_size=2),
    dict(num_layers=2, bidirectional=True, batch_first=True, bias=False),
])
@pytest.mark.parametrize("p", [0.3, 1.0])
@pytest.mark.parametrize("use_lengths", [False, True])
def test_dropout_training_matches_reference_masks(dtype, kw, p, use_lengths):
    """Training with dropout against the reference's masks, rebuilt from the
    counter-based rule in pylstm.h and the seed forward_train draws (torch's
    masks come from another generator, so only the NumPy reference can check
    this): any mask element that differed would change outputs by O(1)."""
    rng = np.random.default_rng(int(10 * p) + 3 * use_lengths + len(kw))
    model = pylstm.LSTM(4, 5, dropout=p, dtype=dtype, seed=11, **kw)
    T, B = 7, 4
    LD, R = model.num_layers * model.num_directions, model.proj_size or 5
    x = rng.standard_normal((B, T, 4) if model.batch_first else (T, B, 4)).astype(dtype)
    hx = (rng.standard_normal((LD, B, R)).astype(dtype),
          rng.standard_normal((LD, B, 5)).astype(dtype))
    lengths = np.array([7, 3, 1, 5]) if use_lengths else None
    seed = int(copy.deepcopy(model._rng).integers(0, 2**63))  # the draw forward_train makes
    y, (hn, cn), cache = model.forward_train(x, hx, lengths=lengths)
    dy, dhn, dcn = (rng.standard_normal(a.shape).astype(dtype) for a in (y, hn, cn))
    dx, (dh0, dc0) = model.backward(cache, dy, dhn, dcn)
    r = numpy_lstm_like(model)
    ry, (rhn, rcn) = r.forward(x, hx, lengths, dropout=p, seed=seed)
    rdx, (rdh0, rdc0), rgrads = r.backward(dy, dhn, dcn)
    if p < 1:  # the masks drop some and keep some
        assert all(0 < (mk == 0).mean() < 1 for mk in r.masks)
    vtol, gtol = TOL[dtype]
    assert max(max_err(y, ry), max_err(hn, rhn), max_err(cn, rcn)) < vtol
    assert max(max_err(dx, rdx), max_err(dh0, rdh0), max_err(dc0, rdc0)) < gtol
    assert max(max_err(model.grads[k], g) for k, g in rgrads.items()) < gtol


def test_missing_hx_means_zero_state():
    model = pylstm.LSTM(3, 4, num_layers=2, bidirectional=True, dtype=np.float64, seed=0)
    x = np.random.default_rng(0).standard_normal((5, 2, 3))
    zeros = (np.zeros((4, 2, 4)), np.zeros((4, 2, 4)))
    a = model(x)
    b = model(x, zeros)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1][0], b[1][0])


def test_gradients_accumulate_until_zero_grad():
    model = pylstm.LSTM(3, 4, dtype=np.float64, seed=0)
    x = np.random.default_rng(0).standard_normal((5, 2, 3))
    y, _, cache = model.forward_train(x)
    model.backward(cache, np.ones_like(y))
    once = {k: g.copy() for k, g in model.grads.items()}
    model.backward(cache, np.ones_like(y))
    for k in once:
        np.testing.assert_allclose(model.grads[k], 2 * once[k], rtol=1e-12, atol=1e-14)
    model.zero_grad()
    assert all(not g.any() for g in model.grads.values())


@pytest.mark.parametrize("ref", REFERENCES)
def test_state_dict_names_and_shapes_match_the_reference(ref):
    for kw in ({}, {"bias": False}, {"num_layers": 3, "bidirectional": True, "proj_size": 2}):
        ours = pylstm.LSTM(4, 5, **kw).state_dict()
        if ref == "torch":
            theirs = {k: tuple(v.shape) for k, v in
                      torch_or_skip().nn.LSTM(4, 5, **kw).state_dict().items()}
            assert list(ours) == list(theirs)
        else:
            # torch's documented names and order (tests/reference.py); shapes from
            # the equations: layer l > 0 reads D*R inputs.
            assert list(ours) == reference.param_names(kw.get("num_layers", 1),
                                                       kw.get("bidirectional", False),
                                                       kw.get("bias", True),
                                                       kw.get("proj_size", 0))
            D, R = 1 + kw.get("bidirectional", False), kw.get("proj_size", 0) or 5
            theirs = {k: ((20, 4 if "_l0" in k else D * R) if k.startswith("weight_ih")
                          else (20, R) if k.startswith("weight_hh")
                          else (R, 5) if k.startswith("weight_hr") else (20,)) for k in ours}
        assert all(ours[k].shape == theirs[k] for k in ours)


def test_init_is_uniform_within_one_over_sqrt_h_and_seeded():
    a = pylstm.LSTM(10, 25, num_layers=2, seed=5)
    b = pylstm.LSTM(10, 25, num_layers=2, seed=5)
    c = pylstm.LSTM(10, 25, num_layers=2, seed=6)
    k = 1 / np.sqrt(25)
    for name, p in a.state_dict().items():
        assert np.abs(p).max() <= k and np.abs(p).max() > 0.9 * k
        assert np.array_equal(p, b.state_dict()[name])
        assert not np.array_equal(p, c.state_dict()[name])
