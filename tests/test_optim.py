"""pylstm.SGD / Adam / clip_grad_norm against the NumPy reference of torch's
rules and, when installed, torch.optim and torch.nn.utils.clip_grad_norm_, step
by step on the same parameters and gradients."""
import numpy as np
import pytest

import pylstm
import reference
from conftest import REFERENCES, max_err, torch_or_skip


def two_modules():
    lstm = pylstm.LSTM(3, 4, num_layers=2, dtype=np.float64, seed=0)
    head = pylstm.Linear(4, 2, dtype=np.float64, seed=1)
    return [lstm, head]


class TorchRule:
    """torch.optim.<name> driven like the reference: step(grads) on copies."""

    def __init__(self, name, params, **kw):
        self.torch = torch_or_skip()
        self.tparams = [self.torch.nn.Parameter(self.torch.tensor(p)) for p in params]
        self.opt = getattr(self.torch.optim, name)(self.tparams, **kw)

    def clip(self, grads, max_norm):
        for t, g in zip(self.tparams, grads):
            t.grad = self.torch.tensor(g)
        total = float(self.torch.nn.utils.clip_grad_norm_(self.tparams, max_norm))
        for t, g in zip(self.tparams, grads):
            g[...] = t.grad.numpy()
        return total

    def step(self, grads):
        for t, g in zip(self.tparams, grads):
            t.grad = self.torch.tensor(g)
        self.opt.step()

    def values(self):
        return [t.detach().numpy() for t in self.tparams]


class NumpyRule:
    def __init__(self, name, params, **kw):
        self.params = [p.copy() for p in params]
        self.opt = getattr(reference, name)(self.params, **kw)

    def clip(self, grads, max_norm):
        return reference.clip_grad_norm(grads, max_norm)

    def step(self, grads):
        self.opt.step(grads)

    def values(self):
        return self.params


RULES = {"numpy": NumpyRule, "torch": TorchRule}


def run_both(ref, name, kw, steps=6, clip=None):
    """Same gradients (random, drawn per step) into pylstm and the reference;
    parameters compared after every step."""
    modules = two_modules()
    params = [p for m in modules for p in m.parameters()]
    opt = getattr(pylstm, name)(modules, **kw)
    theirs = RULES[ref](name, params, **kw)
    rng = np.random.default_rng(0)
    for step in range(steps):
        grads = [rng.standard_normal(p.shape) * (10 if step == 2 else 1) for p in params]
        opt.zero_grad()
        i = 0
        for m in modules:
            for pname, _ in m.named_parameters():
                m.grads[pname] += grads[i]
                i += 1
        if clip is not None:
            total = pylstm.clip_grad_norm(modules, clip)
            assert abs(total - theirs.clip(grads, clip)) < 1e-12
        opt.step()
        theirs.step(grads)
        for p, tp in zip(params, theirs.values()):
            assert max_err(p, tp) < 1e-12, step
    return modules


@pytest.mark.parametrize("ref", REFERENCES)
@pytest.mark.parametrize("kw", [dict(lr=0.1), dict(lr=0.05, momentum=0.9),
                                dict(lr=0.05, momentum=0.5, weight_decay=0.01),
                                dict(lr=0.1, weight_decay=0.1)])
def test_sgd_matches_reference(ref, kw):
    run_both(ref, "SGD", kw)


@pytest.mark.parametrize("ref", REFERENCES)
@pytest.mark.parametrize("kw", [dict(), dict(lr=1e-2), dict(lr=3e-3, betas=(0.8, 0.99), eps=1e-6),
                                dict(lr=1e-2, weight_decay=0.05)])
@pytest.mark.parametrize("clip", [None, 1.0])
def test_adam_matches_reference(ref, kw, clip):
    run_both(ref, "Adam", kw, clip=clip)


@pytest.mark.parametrize("ref", REFERENCES)
def test_clip_grad_norm_matches_reference_below_and_above_the_threshold(ref):
    rng = np.random.default_rng(2)
    for max_norm in (0.5, 1e3):
        modules = two_modules()
        for m in modules:
            for g in m.grads.values():
                g[...] = rng.standard_normal(g.shape)
        theirs = [g.copy() for m in modules for g in m.grads.values()]
        total = pylstm.clip_grad_norm(modules, max_norm)
        ref_total = RULES[ref]("SGD", theirs, lr=0.1).clip(theirs, max_norm)
        assert abs(total - ref_total) < 1e-12
        if max_norm == 0.5:
            assert total > 1.0  # clipping happened
        for t, g in zip(theirs, (g for m in modules for g in m.grads.values())):
            assert max_err(g, t) < 1e-12


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
