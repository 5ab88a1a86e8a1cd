"""pylstm.losses against the NumPy reference and, when installed, torch.nn.MSELoss /
CrossEntropyLoss: values and gradients."""
import numpy as np
import pytest

import reference
from conftest import REFERENCES, max_err, torch_or_skip
from pylstm.losses import cross_entropy, mse


def torch_loss_and_grad(fn, a, *args):
    torch = torch_or_skip()
    at = torch.tensor(a, requires_grad=True)
    loss = fn(at, *args)
    loss.backward()
    return loss.item(), at.grad.numpy()


@pytest.mark.parametrize("ref", REFERENCES)
@pytest.mark.parametrize("shape", [(7,), (5, 3), (4, 3, 2), (1,)])
def test_mse_matches_reference(ref, shape):
    rng = np.random.default_rng(len(shape))
    pred, target = rng.standard_normal(shape), rng.standard_normal(shape)
    loss, d = mse(pred, target)
    if ref == "torch":
        torch = torch_or_skip()
        ref_loss, dref = torch_loss_and_grad(torch.nn.MSELoss(), pred, torch.tensor(target))
    else:
        ref_loss, dref = reference.mse(pred, target)
    assert abs(loss - ref_loss) < 1e-12 and max_err(d, dref) < 1e-12
    loss32, d32 = mse(pred.astype(np.float32), target)
    assert d32.dtype == np.float32 and abs(loss32 - ref_loss) < 1e-5


@pytest.mark.parametrize("ref", REFERENCES)
def test_mse_mask_averages_over_counted_elements(ref):
    rng = np.random.default_rng(0)
    pred, target = rng.standard_normal((6, 4, 2)), rng.standard_normal((6, 4, 2))
    mask = rng.random((6, 4, 1)) < 0.6
    loss, d = mse(pred, target, mask=mask)
    full = np.broadcast_to(mask, pred.shape)
    if ref == "torch":
        torch = torch_or_skip()
        ref_loss, dref = torch_loss_and_grad(
            lambda p: torch.nn.functional.mse_loss(p[torch.tensor(full)],
                                                   torch.tensor(target[full])), pred)
    else:
        ref_loss, dref = reference.mse(pred, target, mask)
    assert abs(loss - ref_loss) < 1e-12 and max_err(d, dref) < 1e-12
    loss0, d0 = mse(pred, target, mask=np.zeros((6, 4, 1), bool))
    assert loss0 == 0.0 and not d0.any()
    with pytest.raises(ValueError, match="mask"):
        mse(pred, target, mask=np.ones((5,), bool))
    with pytest.raises(ValueError, match="target"):
        mse(pred, target[:3])


@pytest.mark.parametrize("ref", REFERENCES)
@pytest.mark.parametrize("lead", [(6,), (5, 3), (1,)])
@pytest.mark.parametrize("ignore", [None, 2])
def test_cross_entropy_matches_reference(ref, lead, ignore):
    """Classes on the last axis here, on axis 1 in torch: (T, B, C) -> (T, C, B)."""
    rng = np.random.default_rng(len(lead))
    C = 4
    logits = 3 * rng.standard_normal(lead + (C,))
    labels = rng.integers(0, C, lead)
    labels.flat[0] = 1                       # at least one position counts
    loss, d = cross_entropy(logits, labels, ignore_index=ignore)
    if ref == "torch":
        torch = torch_or_skip()
        kw = {} if ignore is None else {"ignore_index": ignore}
        perm = (0, logits.ndim - 1) + tuple(range(1, logits.ndim - 1))
        ref_loss, dref = torch_loss_and_grad(
            lambda z: torch.nn.CrossEntropyLoss(**kw)(z.permute(*perm), torch.tensor(labels)),
            logits)
    else:
        ref_loss, dref = reference.cross_entropy(logits, labels, ignore)
    assert abs(loss - ref_loss) < 1e-12 and max_err(d, dref) < 1e-12


def test_cross_entropy_mask_equals_ignore_index_and_is_stable():
    rng = np.random.default_rng(1)
    logits = rng.standard_normal((7, 3, 5))
    labels = rng.integers(0, 5, (7, 3))
    mask = rng.random((7, 3)) < 0.5
    mask[0, 0] = True
    a = cross_entropy(logits, labels, mask=mask)
    b = cross_entropy(logits, np.where(mask, labels, -100), ignore_index=-100)
    assert abs(a[0] - b[0]) < 1e-15 and max_err(a[1], b[1]) == 0
    # huge logits: the max is subtracted before exp, so nothing overflows
    big = np.array([[1000.0, 0.0, -1000.0], [0.0, 800.0, 0.0]])
    loss, d = cross_entropy(big, np.array([0, 2]))
    assert np.isfinite(loss) and np.all(np.isfinite(d))
    assert abs(loss - 400.0) < 1e-9
    assert cross_entropy(big, np.array([0, 2]), mask=np.zeros(2, bool))[0] == 0.0


def test_cross_entropy_rejects_bad_labels():
    logits = np.zeros((3, 4))
    with pytest.raises(ValueError, match="0..3"):
        cross_entropy(logits, np.array([0, 4, 1]))
    with pytest.raises(ValueError, match="labels"):
        cross_entropy(logits, np.array([0, 1]))
    with pytest.raises(TypeError, match="labels"):
        cross_entropy(logits, np.array([0.5, 1, 1]))
    # an out-of-range label is fine where it does not count
    assert np.isfinite(cross_entropy(logits, np.array([0, -100, 1]), ignore_index=-100)[0])
