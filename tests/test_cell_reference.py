"""pylstm.LSTMCell against the NumPy reference and, when installed, torch.nn.LSTMCell."""
import numpy as np
import pytest

import pylstm
import reference
from conftest import REFERENCES, TOL, max_err, torch_or_skip


def run_torch(cell, x, h, c, dh, dc):
    """torch.nn.LSTMCell: (h', c') and the gradients of sum(h'*dh) + sum(c'*dc)."""
    torch = torch_or_skip()
    t = torch.nn.LSTMCell(cell.input_size, cell.hidden_size, bias=cell.bias)
    t = t.double() if cell.dtype == np.float64 else t.float()
    t.load_state_dict({k: torch.from_numpy(v) for k, v in cell.state_dict().items()})
    xt = torch.tensor(x, requires_grad=True)
    ht = torch.tensor(h, requires_grad=True)
    ct = torch.tensor(c, requires_grad=True)
    th, tc = t(xt, (ht, ct))
    ((th * torch.tensor(dh)).sum() + (tc * torch.tensor(dc)).sum()).backward()
    return (th.detach().numpy(), tc.detach().numpy(), xt.grad.numpy(), ht.grad.numpy(),
            ct.grad.numpy(), {k: p.grad.numpy() for k, p in t.named_parameters()})


def run_numpy(cell, x, h, c, dh, dc):
    (h1, c1), (dx, (dhp, dcp), grads) = reference.lstm_cell(cell.state_dict(), x, (h, c), dh, dc)
    return h1, c1, dx, dhp, dcp, grads


RUN = {"numpy": run_numpy, "torch": run_torch}


@pytest.mark.parametrize("ref", REFERENCES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", range(16))
def test_cell_matches_reference(ref, dtype, case):
    rng = np.random.default_rng(case)
    I, H, B = (int(rng.choice([1, 2, 5, 13, 31])) for _ in range(3))
    bias, unbatched, with_hx = bool(case % 2), case % 4 == 1, case % 3 != 0
    cell = pylstm.LSTMCell(I, H, bias=bias, dtype=dtype, seed=case)
    shape = (I,) if unbatched else (B, I)
    hshape = (H,) if unbatched else (B, H)
    x = rng.standard_normal(shape).astype(dtype)
    h = rng.standard_normal(hshape).astype(dtype)
    c = rng.standard_normal(hshape).astype(dtype)
    hx = (h, c) if with_hx else None
    h1, c1, cache = cell.forward_train(x, hx)
    h1i, c1i = cell(x, hx)
    assert np.array_equal(h1, h1i) and np.array_equal(c1, c1i)
    dh = rng.standard_normal(hshape).astype(dtype)
    dc = rng.standard_normal(hshape).astype(dtype)
    dx, (dhp, dcp) = cell.backward(cache, dh, dc)
    if not with_hx:
        h, c = np.zeros(hshape, dtype), np.zeros(hshape, dtype)
    th, tc, tdx, tdh, tdc, tgrads = RUN[ref](cell, x, h, c, dh, dc)
    vtol, gtol = TOL[dtype]
    assert max_err(h1, th) < vtol
    assert max_err(c1, tc) < vtol
    assert max_err(dx, tdx) < gtol
    assert max_err(dhp, tdh) < gtol
    assert max_err(dcp, tdc) < gtol
    assert set(tgrads) == set(cell.grads)
    for k, g in tgrads.items():
        assert max_err(cell.grads[k], g) < gtol, k
