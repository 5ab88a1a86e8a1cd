"""What a user can get wrong: clear exceptions naming the argument, no crash,
and no change to the model after a failed call."""
import numpy as np
import pytest

import pylstm


@pytest.mark.parametrize("kw,exc,match", [
    (dict(input_size=0, hidden_size=3), ValueError, "input_size"),
    (dict(input_size=3, hidden_size=0), ValueError, "hidden_size"),
    (dict(input_size=3, hidden_size=-2), ValueError, "hidden_size"),
    (dict(input_size=3.5, hidden_size=2), TypeError, "input_size"),
    (dict(input_size=3, hidden_size=4, num_layers=0), ValueError, "num_layers"),
    (dict(input_size=3, hidden_size=4, proj_size=4), ValueError, "proj_size"),
    (dict(input_size=3, hidden_size=4, proj_size=-1), ValueError, "proj_size"),
    (dict(input_size=3, hidden_size=4, num_layers=2, dropout=1.5), ValueError, "dropout"),
    (dict(input_size=3, hidden_size=4, num_layers=2, dropout=-0.1), ValueError, "dropout"),
    (dict(input_size=3, hidden_size=4, num_layers=2, dropout="x"), ValueError, "dropout"),
    (dict(input_size=3, hidden_size=4, dtype=np.int32), TypeError, "dtype"),
    (dict(input_size=3, hidden_size=4, dtype="complex128"), TypeError, "dtype"),
])
def test_constructor_rejects_bad_arguments(kw, exc, match):
    with pytest.raises(exc, match=match):
        pylstm.LSTM(**kw)


def test_dropout_with_one_layer_warns():
    with pytest.warns(UserWarning, match="num_layers greater than 1"):
        pylstm.LSTM(3, 4, dropout=0.5)


def test_cell_constructor_rejects_bad_sizes():
    with pytest.raises(ValueError, match="hidden_size"):
        pylstm.LSTMCell(3, 0)
    with pytest.raises(TypeError, match="input_size"):
        pylstm.LSTMCell("3", 4)


def snapshot(model):
    return ({k: v.copy() for k, v in model.state_dict().items()},
            {k: v.copy() for k, v in model.grads.items()})


def assert_unchanged(model, snap):
    for k, v in model.state_dict().items():
        assert np.array_equal(v, snap[0][k])
    for k, v in model.grads.items():
        assert np.array_equal(v, snap[1][k])


@pytest.fixture
def model():
    return pylstm.LSTM(3, 4, num_layers=2, bidirectional=True, seed=0)


@pytest.mark.parametrize("x,exc,match", [
    (np.zeros((5, 2, 4)), ValueError, "x: expected last dimension input_size=3"),
    (np.zeros((5, 2, 3, 1)), ValueError, "x: expected 2-D"),
    (np.zeros(3), ValueError, "x: expected 2-D"),
    (np.zeros((0, 2, 3)), ValueError, "x: expected a non-empty"),
    (np.zeros((5, 0, 3)), ValueError, "x: expected a non-empty"),
    (np.array([["a", "b", "c"]]), TypeError, "x: expected a real numeric"),
    (np.zeros((2, 3), dtype=complex), TypeError, "x: expected a real numeric"),
    (np.array([[None, 1, 2]], dtype=object), TypeError, "x: expected a real numeric"),
    ([[1, 2, 3], [1, 2]], TypeError, "x: expected a numeric array"),
])
def test_bad_input_arrays_raise_naming_x(model, x, exc, match):
    snap = snapshot(model)
    with pytest.raises(exc, match=match):
        model(x)
    with pytest.raises(exc, match=match):
        model.forward_train(x)
    assert_unchanged(model, snap)


@pytest.mark.parametrize("hx,match", [
    ((np.zeros((4, 2, 4)), np.zeros((4, 3, 4))), "c_0: expected shape"),
    ((np.zeros((2, 2, 4)), np.zeros((4, 2, 4))), "h_0: expected shape"),
    ((np.zeros((4, 4)), np.zeros((4, 4))), "h_0: expected shape"),
    (np.zeros((4, 2, 4)), "hx: expected a tuple"),
])
def test_mismatched_hx_raises(model, hx, match):
    with pytest.raises((ValueError, TypeError), match=match):
        model(np.zeros((5, 2, 3)), hx)


@pytest.mark.parametrize("lengths,exc,match", [
    ([5, 0], ValueError, "lengths: expected every length in 1..5"),
    ([6, 1], ValueError, "lengths: expected every length in 1..5"),
    ([-1, 3], ValueError, "lengths"),
    ([5], ValueError, "lengths: expected shape"),
    ([5, 2.5], TypeError, "lengths: expected integers"),
])
def test_bad_lengths_raise(model, lengths, exc, match):
    with pytest.raises(exc, match=match):
        model(np.zeros((5, 2, 3)), lengths=lengths)


def test_cache_from_another_model_is_refused(model):
    other = pylstm.LSTM(3, 4, num_layers=2, bidirectional=True, seed=1)
    x = np.zeros((5, 2, 3))
    y, _, cache = other.forward_train(x)
    snap = snapshot(model)
    with pytest.raises(ValueError, match="cache"):
        model.backward(cache, np.ones_like(y))
    with pytest.raises(ValueError, match="cache"):
        model.backward("not a cache", np.ones_like(y))
    assert_unchanged(model, snap)


def test_bad_backward_gradients_leave_model_unchanged(model):
    x = np.random.default_rng(0).standard_normal((5, 2, 3))
    y, (hn, cn), cache = model.forward_train(x)
    model.backward(cache, np.ones_like(y))
    snap = snapshot(model)
    with pytest.raises(ValueError, match="d_output: expected shape"):
        model.backward(cache, np.ones((5, 2, 7)))
    with pytest.raises(ValueError, match="d_h_n: expected shape"):
        model.backward(cache, np.ones_like(y), np.ones((1, 2, 4)))
    with pytest.raises(TypeError, match="d_c_n"):
        model.backward(cache, np.ones_like(y), None, np.full(cn.shape, "a"))
    assert_unchanged(model, snap)


def test_bad_state_dict_changes_nothing(model):
    snap = snapshot(model)
    sd = model.state_dict()
    sd["weight_hh_l1_reverse"] = np.zeros((3, 3))
    with pytest.raises(ValueError, match="weight_hh_l1_reverse"):
        model.load_state_dict(sd)
    with pytest.raises(KeyError, match="missing"):
        model.load_state_dict({"weight_ih_l0": sd["weight_ih_l0"]})
    assert_unchanged(model, snap)


def test_integer_fortran_and_strided_inputs_are_accepted(model):
    x = np.arange(30).reshape(5, 2, 3) % 4
    ref, (h_ref, _) = model(x.astype(np.float32))
    for variant in (x, np.asfortranarray(x), np.repeat(x, 2, axis=2)[..., ::2], x.tolist()):
        y, (h, _) = model(variant)
        assert np.array_equal(y, ref) and np.array_equal(h, h_ref)


def test_nan_and_inf_propagate_without_crash():
    model = pylstm.LSTM(3, 4, seed=0)
    x = np.zeros((5, 2, 3), np.float32)
    x[2, 0, 1] = np.nan
    x[3, 1, 0] = np.inf
    y, (h, c), cache = model.forward_train(x)
    assert np.isnan(y[2:, 0]).all() and np.isnan(h[0, 0]).all()
    # Steps before the NaN, and the other sequence, are untouched by it.
    assert np.isfinite(y[:2]).all() and np.isfinite(y[:3, 1]).all()
    dx, _ = model.backward(cache, np.ones_like(y))
    assert np.isnan(dx[:, 0]).any()
    big = model(np.full((3, 1, 3), 1e30))[0]
    assert np.isfinite(big).all()  # saturated gates, no overflow


def test_cell_bad_input():
    cell = pylstm.LSTMCell(3, 4, seed=0)
    with pytest.raises(ValueError, match="input: expected shape"):
        cell(np.zeros((2, 5)))
    with pytest.raises(ValueError, match="input: expected 1-D"):
        cell(np.zeros((2, 3, 1)))
    with pytest.raises(ValueError, match="h: expected shape"):
        cell(np.zeros((2, 3)), (np.zeros((3, 4)), np.zeros((2, 4))))
    with pytest.raises(TypeError, match="input: expected a real numeric"):
        cell(np.array(["a", "b", "c"]))
    _, _, cache = pylstm.LSTMCell(3, 4).forward_train(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="cache"):
        cell.backward(cache, np.zeros((2, 4)))


def test_core_binding_refuses_mis_sized_buffers():
    """The Cython layer checks every buffer, so even internal misuse cannot
    make the core read or write out of bounds."""
    from pylstm import _core
    w = (np.zeros((8, 3), np.float32), np.zeros((8, 2), np.float32), None, None, None)
    x = np.zeros((4, 1, 3), np.float32)
    y = np.zeros((4, 1, 2), np.float32)
    work = np.zeros(_core.model_sizes(False, 3, 2, 0, 1, False, 4, 1)[0], np.uint8)
    with pytest.raises(ValueError, match="expected 12 elements"):
        _core.model_forward(False, 3, 2, 0, 1, False, [w], 4, 1, x[:, :, :2].copy(), None,
                            None, None, y, None, None, work)
    # work is handed over whole and the core checks it (fitting its thread
    # count to it): too small even for one thread is refused by the core
    with pytest.raises(RuntimeError, match="LSTM forward: .*work"):
        _core.model_forward(False, 3, 2, 0, 1, False, [w], 4, 1, x, None, None, None, y, None,
                            None, work[:16])
    with pytest.raises(TypeError, match="expected dtype"):
        _core.model_forward(False, 3, 2, 0, 1, False, [w], 4, 1, x.astype(np.float64), None,
                            None, None, y, None, None, work)
