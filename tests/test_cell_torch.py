"""pylstm.LSTMCell against torch.nn.LSTMCell."""
import numpy as np
import pytest

import pylstm
from conftest import TOL, max_err, torch_or_skip


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", range(16))
def test_cell_matches_torch(dtype, case):
    torch = torch_or_skip()
    rng = np.random.default_rng(case)
    I, H, B = (int(rng.choice([1, 2, 5, 13, 31])) for _ in range(3))
    bias, unbatched, with_hx = bool(case % 2), case % 4 == 1, case % 3 != 0
    cell = pylstm.LSTMCell(I, H, bias=bias, dtype=dtype, seed=case)
    t = torch.nn.LSTMCell(I, H, bias=bias)
    t = t.double() if dtype == np.float64 else t.float()
    t.load_state_dict({k: torch.from_numpy(v) for k, v in cell.state_dict().items()})
    shape = (I,) if unbatched else (B, I)
    hshape = (H,) if unbatched else (B, H)
    x = rng.standard_normal(shape).astype(dtype)
    h = rng.standard_normal(hshape).astype(dtype)
    c = rng.standard_normal(hshape).astype(dtype)
    hx = (h, c) if with_hx else None
    h1, c1, cache = cell.forward_train(x, hx)
    h1i, c1i = cell(x, hx)
    assert np.array_equal(h1, h1i) and np.array_equal(c1, c1i)
    xt = torch.tensor(x, requires_grad=True)
    ht = torch.tensor(h if with_hx else np.zeros(hshape, dtype), requires_grad=True)
    ct = torch.tensor(c if with_hx else np.zeros(hshape, dtype), requires_grad=True)
    th, tc = t(xt, (ht, ct))
    dh = rng.standard_normal(hshape).astype(dtype)
    dc = rng.standard_normal(hshape).astype(dtype)
    ((th * torch.tensor(dh)).sum() + (tc * torch.tensor(dc)).sum()).backward()
    dx, (dhp, dcp) = cell.backward(cache, dh, dc)
    vtol, gtol = TOL[dtype]
    assert max_err(h1, th.detach().numpy()) < vtol
    assert max_err(c1, tc.detach().numpy()) < vtol
    assert max_err(dx, xt.grad.numpy()) < gtol
    assert max_err(dhp, ht.grad.numpy()) < gtol
    assert max_err(dcp, ct.grad.numpy()) < gtol
    for k, p in t.named_parameters():
        assert max_err(cell.grads[k], p.grad.numpy()) < gtol, k
