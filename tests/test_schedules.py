"""Learning-rate schedules of pylstm.optim against torch.optim.lr_scheduler (the
lr, and momentum / beta1 for OneCycleLR, after every step of a long run) and,
without torch, against the closed-form formulas torch documents."""
import math
import pickle

import numpy as np
import pytest

import pylstm
from pylstm.optim import (CosineAnnealingLR, ExponentialLR, OneCycleLR, ReduceLROnPlateau,
                          StepLR)
from conftest import torch_or_skip

# A plateau-ish metric: falls, stalls (with noise below the threshold), falls again.
METRICS = [1.0, 0.9, 0.8, 0.8, 0.80001, 0.79999, 0.8, 0.8, 0.7, 0.7, 0.7, 0.7, 0.7, 0.6,
           0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]

CASES = {
    "step": (StepLR, dict(step_size=7, gamma=0.5), 60),
    "step_default_gamma": (StepLR, dict(step_size=3), 20),
    "exponential": (ExponentialLR, dict(gamma=0.93), 80),
    "cosine": (CosineAnnealingLR, dict(T_max=25), 80),            # past T_max: rises again
    "cosine_eta_min": (CosineAnnealingLR, dict(T_max=13, eta_min=1e-4), 60),
    "onecycle": (OneCycleLR, dict(max_lr=0.1, total_steps=97), 97),
    "onecycle_three_phase_linear": (OneCycleLR, dict(max_lr=0.05, epochs=6, steps_per_epoch=11,
                                                     pct_start=0.25, three_phase=True,
                                                     anneal_strategy="linear"), 66),
    "onecycle_no_momentum": (OneCycleLR, dict(max_lr=0.02, total_steps=40,
                                              cycle_momentum=False), 40),
    "plateau": (ReduceLROnPlateau, dict(patience=2), len(METRICS)),
    "plateau_max_abs_cooldown": (ReduceLROnPlateau,
                                 dict(mode="max", factor=0.5, patience=1, threshold=0.01,
                                      threshold_mode="abs", cooldown=2, min_lr=1e-3),
                                 len(METRICS)),
}


def tiny():
    return pylstm.Linear(3, 2, dtype=np.float64, seed=0)


def momentum_of(opt):
    """beta1 (Adam) or momentum (SGD), for pylstm or torch optimisers."""
    if hasattr(opt, "param_groups"):
        g = opt.param_groups[0]
        return g["betas"][0] if "betas" in g else g["momentum"]
    return opt.betas[0] if hasattr(opt, "betas") else opt.momentum


def run(sched, opt, steps, case):
    """(lrs, momenta) after construction and after each of `steps` steps, driven
    as a training loop does: optimiser step, then schedule step."""
    lrs, moms = [sched.get_last_lr()[0]], [momentum_of(opt)]
    for k in range(steps):
        opt.step()
        if case.startswith("plateau"):
            metric = METRICS[k]
            sched.step(-metric if "max" in case else metric)
        else:
            sched.step()
        lrs.append(sched.get_last_lr()[0])
        moms.append(momentum_of(opt))
    return np.array(lrs), np.array(moms)


@pytest.mark.parametrize("optimizer", ["Adam", "SGD"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_schedules_match_torch_step_by_step(case, optimizer):
    torch = torch_or_skip()
    import torch.optim.lr_scheduler as tsched
    cls, kw, steps = CASES[case]
    okw = dict(lr=0.03) if optimizer == "Adam" else dict(lr=0.03, momentum=0.9)
    ours_opt = getattr(pylstm, optimizer)(tiny(), **okw)
    ours = cls(ours_opt, **kw)
    param = torch.nn.Parameter(torch.zeros(3, dtype=torch.float64))
    theirs_opt = getattr(torch.optim, optimizer)([param], **okw)
    theirs = getattr(tsched, cls.__name__)(theirs_opt, **kw)
    lr_a, m_a = run(ours, ours_opt, steps, case)
    lr_b, m_b = run(theirs, theirs_opt, steps, case)
    assert ours.last_epoch == theirs.last_epoch
    assert len(set(lr_b)) > 2                   # the case really schedules something
    # Same formulas evaluated in the same order on Python floats: equal to the bit.
    assert np.array_equal(lr_a, lr_b), np.max(np.abs(lr_a - lr_b))
    assert np.array_equal(m_a, m_b), np.max(np.abs(m_a - m_b))
    assert ours_opt.lr == theirs_opt.param_groups[0]["lr"]


def test_torch_warns_nothing_about_call_order_in_the_same_loop():
    """The loop shape used above is torch's recommended one (no UserWarning)."""
    torch = torch_or_skip()
    import warnings
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=0.1)
    sched = torch.optim.lr_scheduler.StepLR(opt, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(3):
            opt.step()
            sched.step()


# ---- closed forms (no torch needed) ----------------------------------------

def lrs_of(cls, steps, lr=0.2, opt_cls=pylstm.SGD, **kw):
    opt = opt_cls(tiny(), lr=lr)
    sched = cls(opt, **kw)
    return run(sched, opt, steps, "")


def test_step_and_exponential_follow_their_closed_forms():
    t = np.arange(51)
    lr, _ = lrs_of(StepLR, 50, step_size=6, gamma=0.3)
    np.testing.assert_allclose(lr, 0.2 * 0.3 ** (t // 6), rtol=1e-13, atol=0)
    lr, _ = lrs_of(ExponentialLR, 50, gamma=0.9)
    np.testing.assert_allclose(lr, 0.2 * 0.9 ** t, rtol=1e-13, atol=0)


@pytest.mark.parametrize("T_max,eta_min", [(1, 0.0), (10, 0.0), (17, 0.01)])
def test_cosine_follows_the_sgdr_formula_over_several_periods(T_max, eta_min):
    t = np.arange(3 * T_max + 1)
    lr, _ = lrs_of(CosineAnnealingLR, 3 * T_max, T_max=T_max, eta_min=eta_min)
    want = eta_min + (0.2 - eta_min) * (1 + np.cos(np.pi * t / T_max)) / 2
    np.testing.assert_allclose(lr, want, rtol=0, atol=1e-14)


@pytest.mark.parametrize("opt_cls", [pylstm.SGD, pylstm.Adam])
@pytest.mark.parametrize("three_phase", [False, True])
def test_onecycle_follows_its_phases(three_phase, opt_cls):
    total, pct, max_lr = 50, 0.3, 0.1
    lr, mom = lrs_of(OneCycleLR, total, opt_cls=opt_cls, max_lr=max_lr, total_steps=total,
                     pct_start=pct, three_phase=three_phase)
    lo, end = max_lr / 25, max_lr / 25 / 1e4

    def cos(a, b, p):
        return b + (a - b) * (1 + math.cos(math.pi * p)) / 2

    up = pct * total - 1
    want_lr, want_m = [], []
    for t in range(total + 1):
        if t <= up:
            p = t / up
            want_lr.append(cos(lo, max_lr, p))
            want_m.append(cos(0.95, 0.85, p))
        elif three_phase and t <= 2 * up:
            p = (t - up) / up
            want_lr.append(cos(max_lr, lo, p))
            want_m.append(cos(0.85, 0.95, p))
        elif three_phase:
            p = (t - 2 * up) / (total - 1 - 2 * up)
            want_lr.append(cos(lo, end, p))
            want_m.append(0.95)
        else:
            p = (t - up) / (total - 1 - up)
            want_lr.append(cos(max_lr, end, p))
            want_m.append(cos(0.85, 0.95, p))
    np.testing.assert_allclose(lr, want_lr, rtol=1e-12, atol=0)
    np.testing.assert_allclose(mom, want_m, rtol=1e-12, atol=0)
    assert lr[0] == pytest.approx(lo) and max(lr) == pytest.approx(max_lr)
    assert lr[total - 1] == pytest.approx(end)      # the cycle ends at step total - 1


def test_onecycle_past_total_steps_raises_and_leaves_the_lr():
    opt = pylstm.Adam(tiny())
    sched = OneCycleLR(opt, max_lr=0.1, total_steps=3)
    for _ in range(3):
        sched.step()
    lr, epoch = opt.lr, sched.last_epoch
    with pytest.raises(ValueError, match="Tried to step 4 times.*total steps is 3"):
        sched.step()
    assert (opt.lr, sched.last_epoch) == (lr, epoch)


def test_plateau_reduces_after_patience_and_respects_cooldown_and_min_lr():
    opt = pylstm.SGD(tiny(), lr=1.0)
    sched = ReduceLROnPlateau(opt, factor=0.5, patience=1, cooldown=1, min_lr=0.3)
    seen = []
    for metric in [5, 4, 4, 4, 4, 4, 4, 3, 3, 3, 3]:
        sched.step(metric)
        seen.append(opt.lr)
    # epochs 3,4: 2 bad > patience 1 -> 0.5 at epoch 4; epoch 5 cooldown; 6,7 bad -> 0.3
    # (0.25 floored to min_lr); 8 improves; 9 cooldown... 9,10 bad -> stays at min_lr.
    assert seen == [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.3, 0.3, 0.3, 0.3, 0.3]
    assert sched.get_last_lr() == [0.3] and sched.last_epoch == 11


def test_plateau_threshold_modes():
    def reductions(**kw):
        opt = pylstm.SGD(tiny(), lr=1.0)
        sched = ReduceLROnPlateau(opt, patience=0, **kw)
        for metric in [1.0, 0.95, 0.9]:                  # steps of 0.05
            sched.step(metric)
        return opt.lr
    assert reductions(threshold=0.01, threshold_mode="abs") == 1.0      # 0.05 > 0.01
    assert reductions(threshold=0.1, threshold_mode="abs") == pytest.approx(0.01)
    assert reductions(threshold=0.04, threshold_mode="rel") == 1.0      # 0.95 < 1 * 0.96
    # 0.95 is not below 1 * 0.94 (reduce); 0.9 is (the best moves, no reduction)
    assert reductions(threshold=0.06, threshold_mode="rel") == pytest.approx(0.1)
    assert reductions(threshold=0.11, threshold_mode="rel") == pytest.approx(0.01)


# ---- state, resuming, reprs, bad arguments --------------------------------------

@pytest.mark.parametrize("case", ["step", "cosine", "onecycle", "plateau"])
def test_state_dict_resumes_the_same_sequence(case):
    cls, kw, steps = CASES[case]
    opt = pylstm.Adam(tiny(), lr=0.03)
    full, _ = run(cls(opt, **kw), opt, steps, case)
    opt = pylstm.Adam(tiny(), lr=0.03)
    sched = cls(opt, **kw)
    first, _ = run(sched, opt, 11, case)
    state = pickle.loads(pickle.dumps(sched.state_dict()))
    assert "optimizer" not in state
    opt2 = pylstm.Adam(tiny(), lr=opt.lr, betas=opt.betas)
    sched2 = cls(opt2, **kw)
    sched2.load_state_dict(state)
    opt2.lr = sched2.get_last_lr()[0]
    rest = []
    for k in range(11, steps):
        if case == "plateau":
            sched2.step(METRICS[k])
        else:
            sched2.step()
        rest.append(opt2.lr)
    assert np.array_equal(full, np.concatenate([first, rest]))


def test_last_epoch_resumes_from_the_optimisers_initial_lr():
    opt = pylstm.SGD(tiny(), lr=0.2)
    StepLR(opt, step_size=3, gamma=0.5)
    assert opt.initial_lr == 0.2
    with pytest.raises(ValueError, match="last_epoch"):
        StepLR(pylstm.SGD(tiny(), lr=0.2), step_size=3, last_epoch=4)
    resumed = CosineAnnealingLR(opt, T_max=10, last_epoch=4)
    assert resumed.last_epoch == 5 and resumed.base_lrs == [0.2]


def test_reprs_read_like_the_constructor_calls():
    lin = tiny()
    assert repr(pylstm.Adam(lin)) == "Adam(lr=0.001, betas=(0.9, 0.999), eps=1e-08, " \
                                     "weight_decay=0.0)"
    sgd = pylstm.SGD(lin, lr=0.1, momentum=0.9)
    assert repr(sgd) == "SGD(lr=0.1, momentum=0.9, weight_decay=0.0)"
    assert repr(StepLR(sgd, 10, gamma=0.5)) == "StepLR(step_size=10, gamma=0.5, last_epoch=0)"
    assert repr(ExponentialLR(sgd, 0.9)) == "ExponentialLR(gamma=0.9, last_epoch=0)"
    assert repr(CosineAnnealingLR(sgd, 5)) == \
        "CosineAnnealingLR(T_max=5, eta_min=0.0, last_epoch=0)"
    assert repr(OneCycleLR(sgd, 0.1, total_steps=9)).startswith(
        "OneCycleLR(max_lr=0.1, total_steps=9, pct_start=0.3, anneal_strategy='cos', "
        "cycle_momentum=True, base_momentum=0.85, max_momentum=0.95, div_factor=25.0, ")
    assert repr(ReduceLROnPlateau(sgd)) == (
        "ReduceLROnPlateau(mode='min', factor=0.1, patience=10, threshold=0.0001, "
        "threshold_mode='rel', cooldown=0, min_lr=0.0, eps=1e-08)")


@pytest.mark.parametrize("make,match", [
    (lambda o: StepLR(o, 0), "step_size"),
    (lambda o: StepLR(o, 2.5), "step_size"),
    (lambda o: ExponentialLR(o, -1), "gamma"),
    (lambda o: CosineAnnealingLR(o, 0), "T_max"),
    (lambda o: OneCycleLR(o, 0.1), "total_steps"),
    (lambda o: OneCycleLR(o, 0.1, total_steps=5, pct_start=1.5), "pct_start"),
    (lambda o: OneCycleLR(o, 0.1, total_steps=5, anneal_strategy="cosine"), "anneal_strategy"),
    (lambda o: ReduceLROnPlateau(o, factor=1.0), "factor"),
    (lambda o: ReduceLROnPlateau(o, mode="minimum"), "mode"),
    (lambda o: ReduceLROnPlateau(o, threshold_mode="relative"), "threshold_mode"),
    (lambda o: ReduceLROnPlateau(o, min_lr=[0.1, 0.2]), "min_lr"),
    (lambda o: StepLR(object(), 3), "optimizer"),
])
def test_schedules_reject_bad_arguments_naming_them(make, match):
    opt = pylstm.SGD(tiny(), lr=0.1)
    with pytest.raises((ValueError, TypeError), match=match):
        make(opt)
    assert opt.lr == 0.1 and opt.initial_lr is None        # nothing attached
