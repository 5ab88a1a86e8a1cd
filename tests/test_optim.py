"""pylstm.SGD / Adam / clip_grad_norm against torch.optim and
torch.nn.utils.clip_grad_norm_, step by step on the same parameters and gradients."""
import numpy as np
import pytest

import pylstm
from conftest import max_err, torch_or_skip


def two_modules():
    lstm = pylstm.LSTM(3, 4, num_layers=2, dtype=np.float64, seed=0)
    head = pylstm.Linear(4, 2, dtype=np.float64, seed=1)
    return [lstm, head]


def run_both(make_ours, make_torch, steps=6, clip=None):
    """Same gradients (random, drawn per step) into pylstm and torch; parameters compared."""
    torch = torch_or_skip()
    modules = two_modules()
    params = [p for m in modules for p in m.parameters()]
    tparams = [torch.nn.Parameter(torch.tensor(p.copy())) for p in params]
    opt, topt = make_ours(modules), make_torch(tparams)
    rng = np.random.default_rng(0)
    for step in range(steps):
        grads = [rng.standard_normal(p.shape) * (10 if step == 2 else 1) for p in params]
        opt.zero_grad()
        topt.zero_grad()
        i = 0
        for m in modules:
            for name, _ in m.named_parameters():
                m.grads[name] += grads[i]
                tparams[i].grad = torch.tensor(grads[i])
                i += 1
        if clip is not None:
            total = pylstm.clip_grad_norm(modules, clip)
            ttotal = torch.nn.utils.clip_grad_norm_(tparams, clip)
            assert abs(total - float(ttotal)) < 1e-12
        opt.step()
        topt.step()
        for p, tp in zip(params, tparams):
            assert max_err(p, tp.detach().numpy()) < 1e-12, step
    return modules


@pytest.mark.parametrize("kw", [dict(lr=0.1), dict(lr=0.05, momentum=0.9),
                                dict(lr=0.05, momentum=0.5, weight_decay=0.01),
                                dict(lr=0.1, weight_decay=0.1)])
def test_sgd_matches_torch(kw):
    torch = torch_or_skip()
    run_both(lambda m: pylstm.SGD(m, **kw), lambda p: torch.optim.SGD(p, **kw))


@pytest.mark.parametrize("kw", [dict(), dict(lr=1e-2), dict(lr=3e-3, betas=(0.8, 0.99), eps=1e-6),
                                dict(lr=1e-2, weight_decay=0.05)])
@pytest.mark.parametrize("clip", [None, 1.0])
def test_adam_matches_torch(kw, clip):
    torch = torch_or_skip()
    run_both(lambda m: pylstm.Adam(m, **kw), lambda p: torch.optim.Adam(p, **kw), clip=clip)


def test_clip_grad_norm_matches_torch_below_and_above_the_threshold():
    torch = torch_or_skip()
    rng = np.random.default_rng(2)
    for max_norm in (0.5, 1e3):
        modules = two_modules()
        for m in modules:
            for g in m.grads.values():
                g[...] = rng.standard_normal(g.shape)
        tg = [torch.nn.Parameter(torch.zeros(g.shape, dtype=torch.float64))
              for m in modules for g in m.grads.values()]
        for t, g in zip(tg, (g for m in modules for g in m.grads.values())):
            t.grad = torch.tensor(g.copy())
        total = pylstm.clip_grad_norm(modules, max_norm)
        ttotal = torch.nn.utils.clip_grad_norm_(tg, max_norm)
        assert abs(total - float(ttotal)) < 1e-12
        for t, g in zip(tg, (g for m in modules for g in m.grads.values())):
            assert max_err(g, t.grad.numpy()) < 1e-12


def test_optimisers_update_in_place_and_zero_grad_clears():
    lstm = pylstm.LSTM(2, 3, seed=0)
    before = [p for p in lstm.parameters()]
    copies = [p.copy() for p in before]
    opt = pylstm.Adam(lstm, lr=0.1)   # a single module works too
    for g in lstm.grads.values():
        g[...] = 1
    opt.step()
    assert all(a is b for a, b in zip(lstm.parameters(), before))
    assert all(not np.array_equal(p, c) for p, c in zip(before, copies))
    assert all(p.dtype == np.float32 for p in lstm.parameters())
    opt.zero_grad()
    assert all(not g.any() for g in lstm.grads.values())


def test_optimisers_reject_bad_arguments():
    lstm = pylstm.LSTM(2, 3, seed=0)
    with pytest.raises(ValueError, match="lr"):
        pylstm.SGD(lstm, lr=-1)
    with pytest.raises(ValueError, match="betas"):
        pylstm.Adam(lstm, betas=(0.9, 1.0))
    with pytest.raises(TypeError, match="modules"):
        pylstm.Adam([lstm, np.zeros(3)])
