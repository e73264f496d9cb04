"""Optimizers (reference/optim.py) and learning-rate schedules (reference/schedules.py) against
torch.optim and torch.optim.lr_scheduler: state after every step, 500-step trajectories of a CNN with
batch normalisation and dropout, the formulas by hand, and error parity."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from experiments.equivalence import layers as el
from framework import cnn as tcnn
from framework.optim import optimizer_state, torch_optimizer, torch_scheduler
from reference import optim, schedules
from reference import sequential as seq


def torch_rates(schedule, lr0: float, steps: int) -> np.ndarray:
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr0)
    sched = torch_scheduler(schedule, opt)
    rates = []
    for _ in range(steps):
        rates.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return np.array(rates)


@pytest.mark.parametrize("schedule", [schedules.Constant(), schedules.StepLR(7, 0.7), schedules.StepLR(1, 0.5),
                                      schedules.ExponentialLR(0.995), schedules.CosineAnnealingLR(100, 1e-3),
                                      schedules.CosineAnnealingLR(37)], ids=repr)
def test_schedules_match_torch_over_1200_steps(schedule):
    # torch multiplies the previous rate at every step; the closed forms agree to rounding, which
    # accumulates to ~2e-13 relative for the cosine over 12 periods: rtol 1e-12, atol 1e-12 lr0.
    lr0, steps = 0.1, 1200
    ours = np.array([schedule(lr0, t) for t in range(steps)])
    np.testing.assert_allclose(ours, torch_rates(schedule, lr0, steps), rtol=1e-12, atol=1e-12 * lr0)
    assert ours[0] == lr0


def test_schedule_formulas_and_errors():
    assert schedules.StepLR(3, 0.5)(2.0, 7) == 2.0 * 0.25
    assert schedules.CosineAnnealingLR(10, 0.1)(1.0, 10) == pytest.approx(0.1)
    assert schedules.CosineAnnealingLR(10, 0.1)(1.0, 20) == pytest.approx(1.0)  # the cosine goes on past T_max
    with pytest.raises(ValueError, match="StepLR: step_size must be an integer >= 1, got step_size = 0"):
        schedules.StepLR(0)
    with pytest.raises(ValueError, match="CosineAnnealingLR: T_max must be > 0, got T_max = 0"):
        schedules.CosineAnnealingLR(0)


STATE_CASES = [
    el.TrajectoryCase("sgd_plain", optim.SGD(), schedules.Constant(), 0.02),
    el.TrajectoryCase("sgd_momentum", optim.SGD(momentum=0.9), schedules.Constant(), 0.01),
    el.TrajectoryCase("sgd_dampening_wd", optim.SGD(momentum=0.5, dampening=0.3, weight_decay=0.01),
                      schedules.StepLR(5, 0.5), 0.02),
    el.TrajectoryCase("sgd_nesterov", optim.SGD(momentum=0.8, nesterov=True), schedules.ExponentialLR(0.9), 0.02),
    el.TrajectoryCase("adam", optim.Adam(), schedules.Constant(), 1e-3),
    el.TrajectoryCase("adam_small_betas_wd", optim.Adam(betas=(0.3, 0.5), eps=1e-6, weight_decay=0.1),
                      schedules.Constant(), 1e-3),
    el.TrajectoryCase("adamw", optim.AdamW(), schedules.CosineAnnealingLR(10), 1e-3),
]


@pytest.mark.parametrize("case", STATE_CASES, ids=lambda c: c.name)
def test_optimizer_state_equals_torchs_after_every_step(case):
    res = el.trajectory(case, steps=25)
    ours, theirs = res["opt_state"]
    assert ours.shape == theirs.shape and ours.shape[0] == 25
    if case.opt == optim.SGD():
        assert ours.shape[1] == 0  # plain SGD keeps no buffers, like torch
    else:
        assert ours.shape[1] > 0 and np.abs(ours).max() > 0
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-12)
    np.testing.assert_allclose(*res["params"], rtol=0, atol=1e-12)


@pytest.mark.parametrize("case", el.TRAJECTORIES, ids=lambda c: c.name)
def test_500_step_trajectory_with_batchnorm_and_dropout_ends_within_1e_9_of_torch(case):
    rows = el.trajectory_rows(case, steps=500)
    assert {r["quantity"] for r in rows} == {"trajectory", "trajectory running statistics",
                                            "trajectory optimizer state", "eval output after training"}
    for r in rows:
        assert r["passed"], r
    traj = next(r for r in rows if r["quantity"] == "trajectory")
    assert traj["atol"] == 1e-9 and traj["rtol"] == 0.0
    print({r["quantity"]: r["max_abs_err"] for r in rows})


def test_trajectory_tells_coupled_from_decoupled_weight_decay():
    # Not vacuous: Adam's coupled decay against torch's AdamW (and back) parts after one step.
    model = el.small_bn_cnn()
    X, labels = el.teacher_data(16)
    for ours_opt, their_opt in ((optim.Adam(weight_decay=0.1), optim.AdamW(weight_decay=0.1)),
                                (optim.AdamW(weight_decay=0.1), optim.Adam(weight_decay=0.1))):
        params, state = model.init(0)
        twin = tcnn.build_twin(model, params, state)
        r, caches = model.forward_backward(X, labels, params, state, rng=np.random.default_rng(0))
        ours_opt.step(params, r.grads, ours_opt.init(params), 0.01)
        tcnn.share_randomness(twin, model, caches)
        tcnn.loss_and_grads(twin, model, X, labels)
        torch_optimizer(their_opt, twin, 0.01).step()
        assert np.max(np.abs(el.flat(params) - el.flat(tcnn.twin_params(twin, model)))) > 1e-6


def one_param(w, g):
    return [{"w": np.array(w, dtype=np.float64)}], [{"w": np.array(g, dtype=np.float64)}]


def test_sgd_without_momentum_is_the_studys_fixed_rate_step_bit_for_bit():
    rng = np.random.default_rng(0)
    w, g = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    params, grads = one_param(w, g)
    state = optim.SGD().step(params, grads, optim.SGD().init(params), 0.1)
    np.testing.assert_array_equal(params[0]["w"], w - 0.1 * g)
    assert state == {"step": 1, "slots": [{"w": {}}]}


def test_sgd_momentum_and_adam_formulas_by_hand():
    params, grads = one_param([1.0, -2.0], [0.5, 0.25])
    sgd = optim.SGD(momentum=0.9, dampening=0.5, weight_decay=0.1)
    s = sgd.step(params, grads, sgd.init(params), 0.1)
    d1 = np.array([0.5, 0.25]) + 0.1 * np.array([1.0, -2.0])  # decay first; buffer = d at step 1
    np.testing.assert_allclose(s["slots"][0]["w"]["momentum_buffer"], d1, rtol=1e-15)
    w1 = np.array([1.0, -2.0]) - 0.1 * d1
    np.testing.assert_allclose(params[0]["w"], w1, rtol=1e-15)
    sgd.step(params, grads, s, 0.1)
    d2 = np.array([0.5, 0.25]) + 0.1 * w1
    b2 = 0.9 * d1 + 0.5 * d2  # (1 - dampening) from step 2 on
    np.testing.assert_allclose(params[0]["w"], w1 - 0.1 * b2, rtol=1e-15)

    params, grads = one_param([1.0, -2.0], [0.5, -0.25])
    adam = optim.Adam(eps=1e-8)
    s = adam.step(params, grads, adam.init(params), 0.01)
    # step 1: m = (1 - b1) g, v = (1 - b2) g^2; bias-corrected m / sqrt(v) = g / |g|; eps outside the root
    np.testing.assert_allclose(params[0]["w"], [1.0 - 0.01 * 0.5 / (0.5 + 1e-8), -2.0 + 0.01 * 0.25 / (0.25 + 1e-8)],
                               rtol=1e-14)
    assert s["step"] == 1
    np.testing.assert_allclose(s["slots"][0]["w"]["exp_avg_sq"], 0.001 * np.array([0.25, 0.0625]), rtol=1e-14)


@pytest.mark.parametrize("make_ours, make_torch, match", [
    (lambda: optim.SGD(momentum=-0.1), lambda p: torch.optim.SGD(p, lr=0.1, momentum=-0.1),
     "SGD: momentum must be >= 0, got momentum = -0.1"),
    (lambda: optim.SGD(weight_decay=-1.0), lambda p: torch.optim.SGD(p, lr=0.1, weight_decay=-1.0),
     "SGD: weight_decay must be >= 0, got weight_decay = -1.0"),
    (lambda: optim.SGD(nesterov=True), lambda p: torch.optim.SGD(p, lr=0.1, nesterov=True),
     "SGD: nesterov momentum requires a momentum > 0 and zero dampening, got momentum = 0.0, dampening = 0.0"),
    (lambda: optim.SGD(momentum=0.9, dampening=0.1, nesterov=True),
     lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, dampening=0.1, nesterov=True),
     "SGD: nesterov momentum requires a momentum > 0 and zero dampening, got momentum = 0.9, dampening = 0.1"),
    (lambda: optim.Adam(eps=-1e-8), lambda p: torch.optim.Adam(p, eps=-1e-8),
     "Adam: eps must be >= 0, got eps = -1e-08"),
    (lambda: optim.Adam(betas=(1.0, 0.999)), lambda p: torch.optim.Adam(p, betas=(1.0, 0.999)),
     r"Adam: betas must lie in \[0, 1\), got betas\[0\] = 1.0"),
    (lambda: optim.AdamW(betas=(0.9, -0.1)), lambda p: torch.optim.AdamW(p, betas=(0.9, -0.1)),
     r"AdamW: betas must lie in \[0, 1\), got betas\[1\] = -0.1"),
    (lambda: optim.AdamW(weight_decay=-0.01), lambda p: torch.optim.AdamW(p, weight_decay=-0.01),
     "AdamW: weight_decay must be >= 0, got weight_decay = -0.01"),
])
def test_hyper_parameters_torch_refuses_are_refused(make_ours, make_torch, match):
    with pytest.raises(ValueError):
        make_torch([torch.nn.Parameter(torch.zeros(2))])
    with pytest.raises(ValueError, match=match):
        make_ours()


@pytest.mark.parametrize("opt", [optim.SGD(), optim.Adam(), optim.AdamW()], ids=lambda o: o.name)
def test_negative_learning_rate_is_refused_like_torch(opt):
    with pytest.raises(ValueError, match="Invalid learning rate"):
        torch_optimizer(opt, torch.nn.Linear(2, 2), -0.1)
    params, grads = one_param([1.0], [1.0])
    with pytest.raises(ValueError, match=f"{opt.name}: learning rate must be >= 0, got lr = -0.1"):
        opt.step(params, grads, opt.init(params), -0.1)
    assert params[0]["w"][0] == 1.0  # nothing was changed


def test_misaligned_grads_are_refused():
    params, grads = one_param([1.0], [1.0])
    with pytest.raises(ValueError, match=r"SGD: layer 0 has parameters \['w'\] but gradients \['v'\]"):
        optim.SGD().step(params, [{"v": grads[0]["w"]}], optim.SGD().init(params), 0.1)
    with pytest.raises(ValueError, match="1 parameter dicts, 2 gradient dicts and 1 state dicts"):
        optim.Adam().step(params, grads * 2, optim.Adam().init(params), 0.1)


def test_optimizer_state_of_torch_in_the_reference_layout():
    model = seq.Sequential((seq.Dense(3, 2, name="d"),))
    params, state = model.init(0)
    twin = tcnn.build_twin(model, params, state)
    opt = torch_optimizer(optim.Adam(), twin, 0.1)
    tcnn.loss_and_grads(twin, model, np.ones((4, 3)) * np.arange(3), np.array([0, 1, 1, 0]))
    opt.step()
    st = optimizer_state(opt, twin, model)
    assert st["step"] == 1 and set(st["slots"][0]["W"]) == {"exp_avg", "exp_avg_sq"}
    assert st["slots"][0]["W"]["exp_avg"].shape == (4, 2)  # bias row 0 and weight^T, like W
