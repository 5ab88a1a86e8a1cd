"""pylstm.Linear against the NumPy reference and torch.nn.Linear when installed
(init bounds, forward, backward), and finite differences."""
import math

import numpy as np
import pytest

import pylstm
import reference
from conftest import REFERENCES, TOL, central_difference, max_err, torch_or_skip


def run_torch(layer, x, dy):
    """torch.nn.Linear: y and the gradients of sum(y*dy): dx, dW, db."""
    torch = torch_or_skip()
    t = torch.nn.Linear(layer.in_features, layer.out_features, bias=layer.bias is not None)
    t = t.to(torch.float64 if layer.dtype == np.float64 else torch.float32)
    t.load_state_dict({k: torch.from_numpy(v) for k, v in layer.state_dict().items()})
    xt = torch.tensor(x, requires_grad=True)
    yt = t(xt)
    yt.backward(torch.tensor(dy))
    return (yt.detach().numpy(), xt.grad.numpy(), t.weight.grad.numpy(),
            None if t.bias is None else t.bias.grad.numpy())


def run_numpy(layer, x, dy):
    return reference.linear(layer.weight, layer.bias, x, dy)


RUN = {"numpy": run_numpy, "torch": run_torch}


@pytest.mark.parametrize("ref", REFERENCES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("lead", [(5,), (4, 3), (1,), ()])
def test_linear_forward_backward_match_reference(ref, dtype, bias, lead):
    rng = np.random.default_rng(len(lead) + 7 * bias)
    layer = pylstm.Linear(7, 3, bias=bias, dtype=dtype, seed=1)
    x = rng.standard_normal(lead + (7,)).astype(dtype)
    dy = rng.standard_normal(lead + (3,)).astype(dtype)
    y, cache = layer.forward_train(x)
    dx = layer.backward(cache, dy)
    ty, tdx, tdw, tdb = RUN[ref](layer, x, dy)
    atol, gtol = TOL[dtype]
    assert y.dtype == dtype and dx.dtype == dtype
    assert max_err(y, ty) < atol
    assert max_err(layer(x), y) == 0
    assert max_err(dx, tdx) < gtol
    assert max_err(layer.grads["weight"], tdw) < gtol
    if bias:
        assert max_err(layer.grads["bias"], tdb) < gtol
    else:
        assert layer.bias is None and [n for n, _ in layer.named_parameters()] == ["weight"]


@pytest.mark.parametrize("ref", REFERENCES)
def test_linear_init_bounds_and_names_match_the_reference(ref):
    layer = pylstm.Linear(50, 20, seed=0)
    if ref == "torch":
        t = torch_or_skip().nn.Linear(50, 20)
        theirs = {k: tuple(v.shape) for k, v in t.state_dict().items()}
    else:  # torch.nn.Linear's documented parameters
        theirs = {"weight": (20, 50), "bias": (20,)}
    assert {k: v.shape for k, v in layer.state_dict().items()} == theirs
    bound = 1 / math.sqrt(50)
    for name, p in layer.named_parameters():
        assert p.dtype == np.float32
        assert np.abs(p).max() <= bound
        assert np.abs(p).max() > 0.8 * bound    # spread over the whole range
        if ref == "torch":
            assert np.abs(getattr(t, name).detach().numpy()).max() <= bound


def test_linear_gradients_match_finite_differences_and_accumulate():
    rng = np.random.default_rng(3)
    layer = pylstm.Linear(4, 2, dtype=np.float64, seed=2)
    x = rng.standard_normal((3, 5, 4))
    w = rng.standard_normal((3, 5, 2))
    _, cache = layer.forward_train(x)
    dx = layer.backward(cache, w)
    _, cache = layer.forward_train(x)
    layer.backward(cache, w)                 # grads add up, like torch's .grad

    def loss():
        return float(np.sum(layer(x) * w))

    for arr, grad, factor in [(x, dx, 1)] + [(p, layer.grads[n], 2)
                                             for n, p in layer.named_parameters()]:
        for idx in np.ndindex(*arr.shape[-2:]) if arr.ndim > 1 else np.ndindex(arr.shape):
            idx = (0,) * (arr.ndim - len(idx)) + idx
            assert abs(central_difference(loss, arr, idx) * factor - grad[idx]) < 1e-7
    layer.zero_grad()
    assert all(not g.any() for g in layer.grads.values())


def test_linear_rejects_wrong_shapes_and_foreign_caches():
    layer = pylstm.Linear(4, 2)
    with pytest.raises(ValueError, match="in_features=4"):
        layer(np.zeros((3, 5)))
    _, cache = layer.forward_train(np.zeros((3, 4)))
    with pytest.raises(ValueError, match="d_out"):
        layer.backward(cache, np.zeros((3, 3)))
    with pytest.raises(ValueError, match="cache"):
        pylstm.Linear(4, 2).backward(cache, np.zeros((3, 2)))
    with pytest.raises(KeyError):
        layer.load_state_dict({"weight": np.zeros((2, 4))})
    with pytest.raises(ValueError, match="weight"):
        layer.load_state_dict({"weight": np.zeros((4, 2)), "bias": np.zeros(2)})
    with pytest.raises(TypeError):
        pylstm.Linear(4.5, 2)


def test_linear_state_dict_round_trip_and_same_seed_same_weights():
    a, b = pylstm.Linear(6, 3, seed=5), pylstm.Linear(6, 3, seed=5)
    assert all(np.array_equal(a.state_dict()[k], b.state_dict()[k]) for k in ("weight", "bias"))
    c = pylstm.Linear(6, 3, seed=6)
    c.load_state_dict(a.state_dict())
    x = np.ones((2, 6), np.float32)
    assert np.array_equal(c(x), a(x))
