"""pylstm.Embedding against torch.nn.Embedding when installed and a NumPy
recomputation (reference.embedding, position by position): init, forward,
the scatter-added gradient with repeated ids and padding_idx, errors, and
training with pylstm's optimisers."""
import pickle

import numpy as np
import pytest

import pylstm
import reference
from conftest import REFERENCES, TOL, max_err, torch_or_skip


def run_torch(layer, idx, dy):
    """torch.nn.Embedding: y and the gradient of sum(y*dy) with respect to the weight."""
    torch = torch_or_skip()
    t = torch.nn.Embedding(layer.num_embeddings, layer.embedding_dim,
                           padding_idx=layer.padding_idx)
    t = t.to(torch.float64 if layer.dtype == np.float64 else torch.float32)
    t.load_state_dict({k: torch.from_numpy(v) for k, v in layer.state_dict().items()})
    y = t(torch.from_numpy(np.asarray(idx, np.int64)))
    y.backward(torch.from_numpy(dy))
    return y.detach().numpy(), t.weight.grad.numpy()


def run_numpy(layer, idx, dy):
    return reference.embedding(layer.state_dict()["weight"], idx, dy, layer.padding_idx)


RUN = {"numpy": run_numpy, "torch": run_torch}


@pytest.mark.parametrize("ref", REFERENCES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("padding_idx", [None, 0, 3, -1])
@pytest.mark.parametrize("shape", [(7, 5), (13,), (2, 3, 4), ()])
def test_embedding_forward_backward_match_reference(ref, dtype, padding_idx, shape):
    rng = np.random.default_rng(len(shape) + 11 * ((padding_idx or 0) + 1))
    layer = pylstm.Embedding(11, 6, padding_idx, dtype=dtype, seed=2)
    # few distinct ids, so most repeat (the scatter-add must sum them), padding included
    idx = rng.integers(0, 5, shape)
    if idx.size:
        idx.flat[0] = layer.padding_idx if padding_idx is not None else 4
    dy = rng.standard_normal(shape + (6,)).astype(dtype)
    for _ in range(2):  # gradients accumulate over calls
        y, cache = layer.forward_train(idx)
        assert layer.backward(cache, dy) is None
    ty, tdw = RUN[ref](layer, idx, dy)
    atol, gtol = TOL[dtype]
    assert y.shape == shape + (6,) and y.dtype == dtype
    assert max_err(y, ty) < atol
    assert max_err(layer(idx), y) == 0
    assert max_err(layer.grads["weight"], 2 * tdw) < gtol
    if padding_idx is not None:
        assert not layer.grads["weight"][layer.padding_idx].any()


@pytest.mark.parametrize("ref", REFERENCES)
def test_embedding_init_is_standard_normal_with_a_zero_padding_row(ref):
    layer = pylstm.Embedding(400, 50, padding_idx=7, seed=0)
    w = layer.weight
    assert w.shape == (400, 50) and w.dtype == np.float32
    assert [n for n, _ in layer.named_parameters()] == ["weight"]
    assert not w[7].any()
    rest = np.delete(w, 7, axis=0).astype(np.float64)
    # 19950 draws of N(0, 1): mean within 4 sigma/sqrt(n), std within a few percent
    assert abs(rest.mean()) < 4 / np.sqrt(rest.size) and abs(rest.std() - 1) < 0.03
    assert np.array_equal(pylstm.Embedding(400, 50, 7, seed=0).weight, w)
    if ref == "torch":
        torch = torch_or_skip()
        t = torch.nn.Embedding(400, 50, padding_idx=7)
        assert list(t.state_dict()) == list(layer.state_dict())
        tw = t.weight.detach().numpy()
        assert not tw[7].any() and abs(np.delete(tw, 7, axis=0).std() - 1) < 0.03


@pytest.mark.parametrize("bad, exc, words", [
    (np.array([0, 11]), IndexError, "input: expected token ids in 0..10"),
    (np.array([[-1, 2]]), IndexError, "got -1"),
    (np.array([1.0, 2.0]), TypeError, "input: expected integer token ids, got dtype float64"),
    (np.array([True]), TypeError, "dtype bool"),
    ([[1, 2], [3]], TypeError, "input: expected an array of integer token ids"),
])
def test_embedding_refuses_bad_ids_naming_the_argument(bad, exc, words):
    layer = pylstm.Embedding(11, 3, seed=0)
    with pytest.raises(exc, match=words.replace("(", r"\(").replace(".", r"\.")):
        layer(bad)
    with pytest.raises(exc):
        layer.forward_train(bad)


def test_embedding_refuses_bad_arguments():
    with pytest.raises(ValueError, match="padding_idx"):
        pylstm.Embedding(5, 3, padding_idx=5)
    with pytest.raises(ValueError, match="padding_idx"):
        pylstm.Embedding(5, 3, padding_idx=-6)
    with pytest.raises(ValueError, match="embedding_dim"):
        pylstm.Embedding(5, 0)
    layer = pylstm.Embedding(5, 3, seed=0)
    y, cache = layer.forward_train([[1, 2]])
    with pytest.raises(ValueError, match=r"d_out: expected shape \(1, 2, 3\)"):
        layer.backward(cache, np.zeros((2, 3)))
    with pytest.raises(ValueError, match="cache"):
        pylstm.Embedding(5, 3).backward(cache, np.zeros((1, 2, 3)))
    assert not layer.grads["weight"].any()


def test_embedding_ids_of_any_integer_type_and_empty_input():
    layer = pylstm.Embedding(300, 4, seed=1)
    want = layer([3, 299])
    for dt in (np.uint8, np.int16, np.uint32, np.int64):
        idx = np.array([3, 255 if dt is np.uint8 else 299], dt)
        assert np.array_equal(layer(idx)[0], want[0])
    assert layer(np.zeros((0, 5), np.int64)).shape == (0, 5, 4)
    assert layer([]).shape == (0, 4)


def test_embedding_output_is_a_copy_and_state_dict_round_trips():
    layer = pylstm.Embedding(6, 2, padding_idx=1, dtype=np.float64, seed=3)
    y = layer([0, 0])
    y[...] = 99
    assert not (layer.weight == 99).any()
    other = pylstm.Embedding(6, 2, padding_idx=1, dtype=np.float64, seed=4)
    other.load_state_dict(layer.state_dict())
    assert np.array_equal(other([0, 5]), layer([0, 5]))
    copy = pickle.loads(pickle.dumps(layer))
    assert np.array_equal(copy([2, 3]), layer([2, 3]))
    assert repr(layer) == "Embedding(6, 2, padding_idx=1, dtype=float64)"


@pytest.mark.parametrize("ref", REFERENCES)
def test_embedding_trains_with_adam_as_torch_does(ref):
    """Three Adam steps on sum(y*dy) through Embedding -> Linear, pylstm's
    optimiser over both modules; the padding row stays zero."""
    rng = np.random.default_rng(5)
    emb = pylstm.Embedding(9, 4, padding_idx=0, dtype=np.float64, seed=0)
    head = pylstm.Linear(4, 2, dtype=np.float64, seed=1)
    idx = rng.integers(0, 9, (6, 3))
    idx[0] = 0
    dy = rng.standard_normal((6, 3, 2))
    start = [emb.state_dict(), head.state_dict()]
    opt = pylstm.Adam([emb, head], lr=0.1)
    for _ in range(3):
        opt.zero_grad()
        e, ce = emb.forward_train(idx)
        _, ch = head.forward_train(e)
        emb.backward(ce, head.backward(ch, dy))
        opt.step()
    assert not emb.weight[0].any()
    if ref == "numpy":
        # the rows no id touched are unchanged; the touched ones moved
        touched = np.isin(np.arange(9), idx) & (np.arange(9) != 0)
        moved = np.abs(emb.weight - start[0]["weight"]).max(axis=1) > 0
        assert np.array_equal(moved, touched)
        return
    torch = torch_or_skip()
    te = torch.nn.Embedding(9, 4, padding_idx=0).double()
    th = torch.nn.Linear(4, 2).double()
    te.load_state_dict({k: torch.from_numpy(v) for k, v in start[0].items()})
    th.load_state_dict({k: torch.from_numpy(v) for k, v in start[1].items()})
    topt = torch.optim.Adam(list(te.parameters()) + list(th.parameters()), lr=0.1)
    for _ in range(3):
        topt.zero_grad()
        (th(te(torch.from_numpy(idx))) * torch.from_numpy(dy)).sum().backward()
        topt.step()
    assert max_err(emb.weight, te.weight.detach().numpy()) < 1e-12
    assert max_err(head.weight, th.weight.detach().numpy()) < 1e-12
