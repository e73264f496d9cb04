"""Batch normalisation (reference/batchnorm.py, the BatchNorm1d/2d layers of reference/sequential.py)
against nn.BatchNorm1d/2d: three ways (our backward, autograd, central differences) with random
upstream gradients, in train and eval mode; running statistics over 50 steps; error parity."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from experiments.equivalence import cases
from experiments.equivalence import layer_check as lc
from experiments.equivalence import layers as el
from framework.layers import twin_of
from reference import batchnorm as bn
from reference import sequential as seq

BN_CASES = [c for c in cases.LAYER_CASES if isinstance(c.layer, seq.BatchNorm)]


def test_cases_cover_the_grid():
    grid = {(type(c.layer), c.x_shape[0], c.x_shape[1], c.layer.affine, c.train) for c in BN_CASES}
    for cls in (seq.BatchNorm1d, seq.BatchNorm2d):
        for N in (2, 7):
            for C in (1, 5):
                for affine in (True, False):
                    for train in (True, False):
                        assert (cls, N, C, affine, train) in grid


@pytest.mark.parametrize("dtype", lc.DTYPES, ids=["float64", "float32"])
@pytest.mark.parametrize("case", BN_CASES, ids=lambda c: f"{c.component}_{c.name}")
def test_three_ways(case, dtype):
    rows = lc.case_rows(case, dtype)
    quantities = {r["quantity"] for r in rows}
    assert {"output", "input_grad"} <= quantities
    assert ({"grad gamma", "grad beta"} <= quantities) == case.layer.affine
    if case.layer.track_running_stats:
        assert {"state running_mean", "state running_var", "state num_batches_tracked"} <= quantities
    if dtype == np.float64 and case.central:
        assert "input_grad vs central difference" in quantities
        assert all(r["rtol"] <= 1e-10 for r in rows if "central" not in r["quantity"])
    failed = [r for r in rows if not r["passed"]]
    assert not failed, failed


def test_float32_error_at_lenet_scale_is_torchs_order():
    # Against the float64 result, our float32 sums (gamma and beta gradients over m = 50,176 values,
    # summed pairwise) and outputs stay within 3x torch's own float32 error.
    case = next(c for c in BN_CASES if c.x_shape == (64, 16, 28, 28))
    x, params, state, dy, seed = lc.case_data(case, np.float64)
    truth, _ = lc.layer_ours(case, x, params, state, dy, seed)
    f32 = [x.astype(np.float32), {k: v.astype(np.float32) for k, v in params.items()},
           {k: np.asarray(v).astype(np.float32 if k != "num_batches_tracked" else np.int64) for k, v in state.items()},
           dy.astype(np.float32)]
    ours, cache = lc.layer_ours(case, *f32, seed)
    theirs = lc.layer_torch(case, *f32, cache)
    for q in ("output", "input_grad", "grad gamma", "grad beta", "state running_mean", "state running_var"):
        err_ours, err_torch = (float(np.max(np.abs(r[q] - truth[q]))) for r in (ours, theirs))
        assert err_ours <= 3 * err_torch + 1e-7, (q, err_ours, err_torch)


@settings(max_examples=20, deadline=None)
@given(N=st.integers(1, 5), C=st.integers(1, 4), spatial=st.sampled_from([(), (3,), (2, 3), (1, 4)]),
       affine=st.booleans(), tracked=st.booleans(), train=st.booleans(),
       momentum=st.sampled_from([0.1, 0.7, None]), eps=st.sampled_from([1e-5, 0.3]))
def test_generated_cases_three_ways(N, C, spatial, affine, tracked, train, momentum, eps):
    cls = seq.BatchNorm2d if len(spatial) == 2 else seq.BatchNorm1d
    assume(N * int(np.prod(spatial)) >= 2 or (tracked and not train))  # else refused, tested above
    layer = cls(C, eps=eps, momentum=momentum, affine=affine, track_running_stats=tracked, name=cls.__name__.lower())
    rows = lc.case_rows(lc.Case(layer, (N, C) + spatial, train=train), np.float64)
    failed = [r for r in rows if not r["passed"]]
    assert not failed, failed


def test_train_mode_backward_is_the_batch_statistics_gradient():
    # The eval-mode shortcut dy * gamma / sqrt(var + eps) is wrong in train mode; the test above
    # would catch it, and here is by how much on one case: the two differ by O(1).
    case = next(c for c in BN_CASES if c.train and c.x_shape[0] == 7 and c.layer.affine)
    x, params, state, dy, _ = lc.case_data(case, np.float64)
    y, cache, _ = case.layer.forward(x, params, state, train=True)
    dx, _ = case.layer.backward(dy, cache)
    inv_std = cache[1]
    shortcut = (bn.rows3(dy) * bn.col(params["gamma"] * inv_std)).reshape(dy.shape)
    assert np.max(np.abs(dx - shortcut)) > 0.1
    # and it sums to zero per channel: shifting x by a constant per channel changes nothing
    np.testing.assert_allclose(bn.channel_sum(dx), 0.0, atol=1e-12)


def test_biased_variance_normalises_and_unbiased_variance_updates():
    layer = seq.BatchNorm1d(3, momentum=0.25)
    x = np.array([[1.0, 2.0, -1.0], [3.0, 2.5, 0.0], [8.0, 0.5, 4.0]])
    params, state = layer.init(None, np.float64)
    y, _, new = layer.forward(x, params, state, train=True)
    var_biased, var_unbiased = x.var(axis=0), x.var(axis=0, ddof=1)
    np.testing.assert_allclose(y, (x - x.mean(0)) / np.sqrt(var_biased + 1e-5), rtol=1e-14)
    np.testing.assert_allclose(new["running_mean"], 0.25 * x.mean(0), rtol=1e-14)
    np.testing.assert_allclose(new["running_var"], 0.75 + 0.25 * var_unbiased, rtol=1e-14)
    assert new["num_batches_tracked"] == 1 and state["num_batches_tracked"] == 0  # state not changed in place
    y_eval, _, same = layer.forward(x, params, new, train=False)
    assert same is new
    np.testing.assert_allclose(y_eval, (x - new["running_mean"]) / np.sqrt(new["running_var"] + 1e-5), rtol=1e-14)


@pytest.mark.parametrize("dtype", lc.DTYPES, ids=["float64", "float32"])
@pytest.mark.parametrize("layer, shape", el.RUNNING_CASES, ids=lambda v: getattr(v, "name", str(v)))
def test_running_statistics_after_50_steps_equal_torch(layer, shape, dtype):
    ours, theirs = el.running_stats_after(layer, shape, steps=50, dtype=dtype)
    assert ours["state num_batches_tracked"][0] == theirs["state num_batches_tracked"][0] == 53  # 3 + 50
    for q in theirs:
        row = el.compare("bn", "50", q, ours[q], theirs[q], dtype=dtype)
        assert row["passed"], row


@pytest.mark.parametrize("momentum", [0.1, None])
def test_float32_stays_float32(momentum):
    layer = seq.BatchNorm2d(3, momentum=momentum)
    params, state = layer.init(None, np.float32)
    x = np.random.default_rng(0).normal(size=(4, 3, 2, 2)).astype(np.float32)
    y, cache, new = layer.forward(x, params, state, train=True)
    dx, g = layer.backward(np.ones_like(y) * 0.5, cache)
    arrays = (y, dx, g["gamma"], g["beta"], new["running_mean"], new["running_var"])
    assert {a.dtype for a in arrays} == {np.dtype(np.float32)}


def _both_raise(layer, x, train, match_ours, match_torch):
    params, state = layer.init(None, np.float64)
    m = twin_of(layer).build(layer, params, state, torch.float64)
    m.train(train)
    with pytest.raises(ValueError, match=match_ours):
        layer.forward(x, params, state, train=train)
    with pytest.raises((ValueError, RuntimeError), match=match_torch):
        m(torch.from_numpy(x))


@pytest.mark.parametrize("layer, shape", [(seq.BatchNorm1d(3), (1, 3)), (seq.BatchNorm2d(3), (1, 3, 1, 1)),
                                          (seq.BatchNorm1d(3), (1, 3, 1))])
def test_one_value_per_channel_in_train_mode_is_refused_like_torch(layer, shape):
    x = np.random.default_rng(0).normal(size=shape)
    ours = ("batchnorm: expected more than 1 value per channel when training, got input of shape "
            + str(shape).replace("(", r"\(").replace(")", r"\)"))
    _both_raise(layer, x, True, ours, "Expected more than 1 value per channel when training")
    # eval mode with running statistics accepts it, as torch does
    params, state = layer.init(None, np.float64)
    assert layer.forward(x, params, state, train=False)[0].shape == shape
    # without running statistics eval mode uses the batch's, so it is refused too
    untracked = (seq.BatchNorm1d if len(shape) < 4 else seq.BatchNorm2d)(3, track_running_stats=False)
    _both_raise(untracked, x, False, "more than 1 value per channel", "Expected more than 1 value per channel")


def test_channel_mismatch_and_wrong_dimensions_are_refused_like_torch():
    x = np.random.default_rng(0).normal(size=(4, 5, 2, 2))
    _both_raise(seq.BatchNorm2d(3, name="bn1"), x, True,
                r"bn1: input has 5 channels \(shape \(4, 5, 2, 2\)\) but the layer has num_features = 3",
                "running_mean should contain 5 elements not 3")
    _both_raise(seq.BatchNorm1d(5, name="bn2"), x, True,
                r"bn2: expected 2D or 3D input, got 4D input of shape \(4, 5, 2, 2\)",
                r"expected 2D or 3D input \(got 4D input\)")
    _both_raise(seq.BatchNorm2d(5, name="bn3"), x[:, :, 0], True, r"bn3: expected 4D input, got 3D input",
                r"expected 4D input \(got 3D input\)")


@pytest.mark.parametrize("eps", [0.0, -1e-5])
def test_eps_not_positive_is_refused_in_train_mode_like_torch(eps):
    x = np.random.default_rng(0).normal(size=(4, 3))
    _both_raise(seq.BatchNorm1d(3, eps=eps), x, True,
                f"batchnorm: eps must be positive during training, got eps = {eps}",
                "eps must be positive during training")


def test_upstream_gradient_of_wrong_shape_or_dtype_is_refused():
    layer = seq.BatchNorm1d(3, name="bn")
    params, state = layer.init(None, np.float64)
    _, cache, _ = layer.forward(np.random.default_rng(0).normal(size=(4, 3)), params, state, train=True)
    with pytest.raises(ValueError, match=r"bn: upstream gradient has shape \(4, 2\), expected \(4, 3\)"):
        layer.backward(np.zeros((4, 2)), cache)
    with pytest.raises(TypeError, match="bn: upstream gradient is float32, expected float64"):
        layer.backward(np.zeros((4, 3), dtype=np.float32), cache)


@pytest.mark.parametrize("dtype", lc.DTYPES, ids=["float64", "float32"])
@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
def test_whole_cnn_with_batchnorm_and_dropout_three_ways(train, dtype):
    rows = el.model_rows(dtype, train)
    quantities = {r["quantity"] for r in rows}
    assert {"output", "loss", "grad bn1.gamma", "grad bn2.beta", "grad conv1.K", "bn1 state running_var"} <= quantities
    assert ("grad bn1.gamma vs central difference" in quantities) == (dtype == np.float64)
    failed = [r for r in rows if not r["passed"]]
    assert not failed, failed


def test_in_a_sequential_model_state_is_threaded_and_params_untouched():
    model = el.small_bn_cnn()
    params, state = model.init(0)
    x = np.random.default_rng(0).normal(size=(6, 1, 10, 10))
    _, _, s1 = model.forward(x, params, state, train=True, rng=np.random.default_rng(1))
    assert s1[2]["num_batches_tracked"] == 1 and state[2]["num_batches_tracked"] == 0
    assert not np.array_equal(s1[2]["running_mean"], state[2]["running_mean"])
    _, _, s2 = model.forward(x, params, s1, train=False)
    assert all(a is b for a, b in zip(s2, s1))  # eval mode leaves the running statistics alone
    assert set(params[2]) == {"gamma", "beta"}
    assert set(state[2]) == {"running_mean", "running_var", "num_batches_tracked"}


@pytest.mark.parametrize("eps", [-1e-3, -1.0])
def test_negative_eps_is_refused_in_eval_mode_like_torch(eps):
    x = np.random.default_rng(0).normal(size=(4, 3))
    _both_raise(seq.BatchNorm1d(3, eps=eps), x, False, f"batchnorm: eps must be non-negative, got eps = {eps}",
                "eps must be non-negative")


def test_eps_zero_is_accepted_in_eval_mode_like_torch():
    layer = seq.BatchNorm1d(3, eps=0.0)
    x, params, state, _, _ = lc.case_data(lc.Case(layer, (4, 3), train=False), np.float64)
    m = twin_of(layer).build(layer, params, state, torch.float64).eval()
    np.testing.assert_allclose(layer.forward(x, params, state, train=False)[0], m(torch.from_numpy(x)).detach(),
                               rtol=1e-12)


@pytest.mark.parametrize("momentum", [0.1, None])
@pytest.mark.parametrize("layer, shape", [(seq.BatchNorm1d(3), (0, 3)), (seq.BatchNorm1d(3), (2, 3, 0)),
                                          (seq.BatchNorm2d(3), (0, 3, 4, 5)), (seq.BatchNorm2d(3), (2, 3, 0, 5))])
def test_an_empty_batch_in_train_mode_is_counted_and_changes_nothing_like_torch(layer, shape, momentum):
    # torch: an empty output, gamma and beta gradients 0, running statistics unchanged, and the batch
    # counted (num_batches_tracked + 1), which changes the next cumulative-average (momentum None) update
    layer = type(layer)(3, momentum=momentum)
    rng = np.random.default_rng(2)
    params, state = lc.randomised_layer(layer, np.float64, rng)
    m = twin_of(layer).build(layer, params, state, torch.float64)
    x = rng.normal(size=shape)
    y, cache, new_state = layer.forward(x, params, state, train=True)
    xt = torch.from_numpy(x).requires_grad_(True)
    yt = m(xt)
    dy = rng.normal(size=shape)
    dx, grads = layer.backward(dy, cache)
    yt.backward(torch.from_numpy(dy))
    assert y.shape == tuple(yt.shape) == dx.shape == tuple(xt.grad.shape) == shape
    np.testing.assert_array_equal(grads["gamma"], m.weight.grad.numpy())
    np.testing.assert_array_equal(grads["beta"], m.bias.grad.numpy())
    assert new_state["num_batches_tracked"] == state["num_batches_tracked"] + 1
    for k, v in twin_of(layer).read_state(m).items():
        np.testing.assert_array_equal(new_state[k], v)
    full = rng.normal(1.0, 2.0, size=(5,) + shape[1:2] + tuple(max(n, 1) for n in shape[2:]))
    _, _, after = layer.forward(full, params, new_state, train=True)
    m(torch.from_numpy(full))
    for k, v in twin_of(layer).read_state(m).items():
        np.testing.assert_allclose(after[k], v, rtol=1e-12)
