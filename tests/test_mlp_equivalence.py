"""The study's network against PyTorch (and central finite differences), on generated cases.

Every comparison row comes from experiments.equivalence, the same functions that write
results/equivalence.csv, so the report and the tests hold the same tolerances (experiments.equivalence.check:
float64 rtol 1e-10, float32 torch.testing.assert_close's tolerances scaled by depth, finite
differences rtol 1e-6 / atol 1e-8).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from experiments.equivalence.cases import SMOOTH, activation_rows, loss_rows
from experiments.equivalence.mlp import network_case, network_rows
from framework.convert import dense_to_linear, linear_to_dense, load_into_linear
from reference.backprop import backward
from reference.forward import forward
from reference.gradient_descent import fixed_rate_update, loss_value
from reference.losses import cross_entropy, cross_entropy_grad, log_softmax, softmax

SETTINGS = settings(max_examples=30, deadline=None, derandomize=False)
ACTIVATIONS = ["identity", "sigmoid", "tanh", "relu"]
DTYPES = [np.float64, np.float32]


def assert_all_passed(rows: list) -> None:
    assert rows, "no comparison rows were produced"
    failed = [r for r in rows if not r["passed"]]
    assert not failed, "failing rows:\n" + "\n".join(
        f"  {r['component']} {r['case']} {r['dtype']} {r['quantity']}: max_abs_err={r['max_abs_err']:.3e} "
        f"max_rel_err={r['max_rel_err']:.3e} tolerance {r['tolerance']}" for r in failed
    )


# --------------------------------------------------------------------------------------------
# Activations and losses
# --------------------------------------------------------------------------------------------


@SETTINGS
@given(
    name=st.sampled_from(ACTIVATIONS + ["sign"]),
    dtype=st.sampled_from(DTYPES),
    shape=st.tuples(st.integers(1, 9), st.integers(1, 9)),
    seed=st.integers(0, 2**31 - 1),
)
def test_activation_and_derivative_match_autograd(name, dtype, shape, seed):
    central = name in SMOOTH and dtype == np.float64
    rows = activation_rows(name, dtype, shape, seed, central=central)
    expected = {"theta", "theta_prime*upstream"}
    if central:
        expected.add("theta_prime*upstream vs central difference")
    assert {r["quantity"] for r in rows} == expected
    assert_all_passed(rows)


@SETTINGS
@given(
    loss=st.sampled_from(["squared_error", "cross_entropy"]),
    dtype=st.sampled_from(DTYPES),
    N=st.integers(1, 8),
    C=st.integers(2, 11),
    seed=st.integers(0, 2**31 - 1),
    scale=st.sampled_from([1.0, 10.0]),
)
def test_losses_match_torch(loss, dtype, N, C, seed, scale):
    assert_all_passed(loss_rows(loss, dtype, N, C, seed, scale))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cross_entropy_is_stable_for_logits_of_1000(dtype, seed):
    rows = loss_rows("cross_entropy", dtype, N=7, C=10, seed=seed, scale=1000.0)
    for r in rows:
        assert np.isfinite(r["max_abs_err"]) and np.isfinite(r["max_rel_err"]), r
    assert_all_passed(rows)


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_exact_values_at_plus_minus_1000(dtype):
    s = np.array([[1000.0, -1000.0], [-1000.0, 1000.0], [1000.0, 1000.0]], dtype=dtype)
    y = np.array([[0.0, 1.0], [0.0, 1.0], [1.0, 0.0]], dtype=dtype)
    # the true values: -log softmax = 2000, 0 and log 2; a naive exp(1000) overflows to inf/nan
    np.testing.assert_allclose(cross_entropy(s, y), [2000.0, 0.0, np.log(2.0)], rtol=1e-7)
    np.testing.assert_allclose(softmax(s), [[1, 0], [0, 1], [0.5, 0.5]], rtol=0, atol=1e-7)
    np.testing.assert_allclose(cross_entropy_grad(s, y), [[1, -1], [0, 0], [-0.5, 0.5]], rtol=0, atol=1e-7)
    assert np.all(np.isfinite(log_softmax(s)))
    assert cross_entropy(s, y).dtype == dtype


# --------------------------------------------------------------------------------------------
# The whole network: x[L], s[l], x[l], delta[l], G[l] against autograd and finite differences
# --------------------------------------------------------------------------------------------


@st.composite
def network_cases(draw):
    d = draw(st.lists(st.integers(1, 9), min_size=3, max_size=5, unique=True))  # 2..4 layers, all widths differ
    loss = draw(st.sampled_from(["squared_error", "cross_entropy"]))
    hidden = draw(st.sampled_from(ACTIVATIONS))
    output = "identity" if loss == "cross_entropy" else draw(st.sampled_from(ACTIVATIONS))
    N = draw(st.sampled_from([1, 2, 5, 8]))
    dtype = draw(st.sampled_from(DTYPES))
    seed = draw(st.integers(0, 2**31 - 1))
    return dict(d=tuple(d), hidden=hidden, output=output, loss=loss, N=N, dtype=dtype, seed=seed)


@SETTINGS
@given(case=network_cases())
def test_network_matches_autograd_and_finite_differences(case):
    rows = network_rows(**case)
    L = len(case["d"]) - 1
    quantities = {r["quantity"] for r in rows}
    expected = {"E_in", "x[L]"} | {f"{q}[{l}]" for l in range(1, L + 1) for q in ("s", "delta", "G")}
    expected |= {f"x[{l}]" for l in range(1, L)}
    if case["dtype"] == np.float64:
        expected |= {f"G[{l}] vs finite differences" for l in range(1, L + 1)}
    assert quantities == expected
    assert_all_passed(rows)


@pytest.mark.parametrize("N", [1, 4])
@pytest.mark.parametrize("hidden,output,loss", [
    ("tanh", "tanh", "squared_error"), ("sigmoid", "sigmoid", "squared_error"),
    ("relu", "identity", "cross_entropy"), ("sigmoid", "relu", "squared_error"),
])
def test_network_fixed_cases_float64_and_float32(hidden, output, loss, N):
    for dtype in DTYPES:
        assert_all_passed(network_rows((7, 5, 3, 4), hidden, output, loss, N, dtype, seed=11))


def test_comparison_rows_can_fail():
    """The row machinery flags a wrong gradient: a network whose delta differs is caught."""
    from experiments.equivalence.check import compare

    a = np.random.default_rng(0).normal(size=(3, 4))
    assert compare("x", "c", "q", a, a.copy())["passed"]
    assert not compare("x", "c", "q", a * (1 + 1e-8), a)["passed"]
    assert not compare("x", "c", "q", a.T.copy().reshape(3, 4), a)["passed"]


# --------------------------------------------------------------------------------------------
# Rows are samples; batch size 1 is the study's algorithm
# --------------------------------------------------------------------------------------------


@SETTINGS
@given(case=network_cases())
def test_batch_rows_equal_batch_one(case):
    case = {**case, "N": 5}
    arch, W, x, y = network_case(**case)
    rtol = 1e-12 if case["dtype"] == np.float64 else 1e-5
    x_L, cache = forward(arch, W, x)
    delta, G = backward(arch, W, cache, y)
    G_mean = [np.zeros_like(W[l]) if l else None for l in range(arch.L + 1)]
    for n in range(x.shape[0]):
        x1_L, c1 = forward(arch, W, x[n : n + 1])
        d1, G1 = backward(arch, W, c1, y[n : n + 1])
        assert x1_L.shape == (1, arch.d[-1])
        np.testing.assert_allclose(x1_L[0], x_L[n], rtol=rtol, atol=rtol)
        for l in range(1, arch.L + 1):
            np.testing.assert_allclose(c1.s[l][0], cache.s[l][n], rtol=rtol, atol=rtol)
            np.testing.assert_allclose(c1.x[l][0], cache.x[l][n], rtol=rtol, atol=rtol)
            np.testing.assert_allclose(d1[l][0], delta[l][n], rtol=rtol, atol=rtol)
            # the study's G[l] for one sample is x[l-1] delta[l]^T, an outer product
            np.testing.assert_allclose(G1[l], np.outer(c1.x[l - 1][0], d1[l][0]), rtol=rtol, atol=rtol)
            G_mean[l] += G1[l] / x.shape[0]
    for l in range(1, arch.L + 1):
        np.testing.assert_allclose(G[l], G_mean[l], rtol=rtol * 10, atol=rtol * 10)


def test_bias_node_is_column_zero_and_output_has_none():
    arch, W, x, y = network_case((4, 6, 3), "tanh", "sigmoid", "squared_error", 2, np.float64, 0)
    x_L, cache = forward(arch, W, x)
    assert np.all(cache.x[0][:, 0] == 1) and np.all(cache.x[1][:, 0] == 1)
    np.testing.assert_array_equal(cache.x[0][:, 1:], x)
    assert cache.x[0].shape == (2, 5) and cache.x[1].shape == (2, 7) and cache.x[2].shape == (2, 3)
    assert cache.s[0] is None and cache.s[1].shape == (2, 6) and cache.s[2].shape == (2, 3)
    # s[1] = W[1]^T x[0] per sample: bias row 0 plus the weighted inputs
    np.testing.assert_allclose(cache.s[1], W[1][0] + x @ W[1][1:], rtol=1e-14)
    assert x_L is cache.x[2]


# --------------------------------------------------------------------------------------------
# Gradient descent step
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_fixed_rate_update_is_W_minus_eta_G(dtype):
    rng = np.random.default_rng(3)
    W = [None, rng.normal(size=(5, 3)).astype(dtype), rng.normal(size=(4, 2)).astype(dtype)]
    G = [None, rng.normal(size=(5, 3)).astype(dtype), rng.normal(size=(4, 2)).astype(dtype)]
    before = [None] + [w.copy() for w in W[1:]]
    new = fixed_rate_update(W, G, 0.37)
    assert new[0] is None and len(new) == 3
    for l in (1, 2):
        np.testing.assert_array_equal(new[l], W[l] - dtype(0.37) * G[l])
        assert new[l].dtype == dtype and new[l].shape == W[l].shape
        np.testing.assert_array_equal(W[l], before[l])  # W itself is not modified
        assert not np.shares_memory(new[l], W[l])
    # a step against the gradient lowers E_in for a small eta
    arch, W, x, y = network_case((3, 4, 2), "tanh", "sigmoid", "squared_error", 6, np.float64, 5)
    x_L, c = forward(arch, W, x)
    _, G = backward(arch, W, c, y)
    W2 = fixed_rate_update(W, G, 1e-3)
    x2, c2 = forward(arch, W2, x)
    assert loss_value(arch, c2.s[2], x2, y) < loss_value(arch, c.s[2], x_L, y)


# --------------------------------------------------------------------------------------------
# Converters W[l] <-> nn.Linear (weight, bias)
# --------------------------------------------------------------------------------------------


@SETTINGS
@given(d_in=st.integers(1, 9), d_out=st.integers(1, 9), dtype=st.sampled_from(DTYPES), seed=st.integers(0, 1000))
def test_converter_round_trip_is_exact(d_in, d_out, dtype, seed):
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(d_in + 1, d_out)).astype(dtype)
    weight, bias = dense_to_linear(W)
    assert tuple(weight.shape) == (d_out, d_in) and tuple(bias.shape) == (d_out,)
    assert weight.dtype == {np.float64: torch.float64, np.float32: torch.float32}[dtype]
    np.testing.assert_array_equal(weight.numpy(), W[1:].T)
    np.testing.assert_array_equal(bias.numpy(), W[0])
    back = linear_to_dense(weight, bias)
    assert back.dtype == dtype and back.shape == W.shape
    np.testing.assert_array_equal(back, W)
    # copies, not views: changing W afterwards does not change the tensors
    W[0, 0] += 1.0
    assert bias[0].item() != W[0, 0]


def test_load_into_linear_computes_the_same_signal():
    rng = np.random.default_rng(0)
    W = rng.normal(size=(6, 3))
    lin = torch.nn.Linear(5, 3, dtype=torch.float64)
    load_into_linear(lin, W)
    x = rng.normal(size=(4, 5))
    s_torch = lin(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(s_torch, np.concatenate([np.ones((4, 1)), x], axis=1) @ W, rtol=1e-13)
    np.testing.assert_array_equal(linear_to_dense(lin.weight, lin.bias), W)


def test_load_into_linear_shape_error_names_both_shapes():
    lin = torch.nn.Linear(5, 3, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"nn.Linear weight is \(3, 5\) but W gives \(3, 4\) \(W is \(5, 3\)\)"):
        load_into_linear(lin, np.zeros((5, 3)))
    with pytest.raises(ValueError, match=r"nn.Linear weight is \(3, 5\) but W gives \(5, 5\) \(W is \(6, 5\)\)"):
        load_into_linear(lin, np.zeros((6, 5)))  # transposed W: (d_out, d_in + 1)


def test_converter_rejects_malformed_arrays():
    with pytest.raises(ValueError, match=r"got shape \(1, 3\)"):
        dense_to_linear(np.zeros((1, 3)))
    with pytest.raises(ValueError, match=r"got shape \(6,\)"):
        dense_to_linear(np.zeros(6))
    with pytest.raises(ValueError, match=r"got \(3, 5\) and \(4,\)"):
        linear_to_dense(torch.zeros(3, 5), torch.zeros(4))


# --------------------------------------------------------------------------------------------
# Soft targets and label smoothing: our delta, autograd and central differences (float64)
# --------------------------------------------------------------------------------------------


def soft_targets(rng, N, C, kind):
    """Targets of three kinds: one-hot, rows of a probability vector, rows summing to anything."""
    if kind == "onehot":
        return np.eye(C)[rng.integers(0, C, N)]
    y = rng.uniform(0.0, 1.0, size=(N, C))
    return y / y.sum(axis=1, keepdims=True) if kind == "probabilities" else 2.5 * y - 0.3


def central_E(E, s, h=1e-6):
    g = np.zeros_like(s)
    for i in np.ndindex(s.shape):
        sp, sm = s.copy(), s.copy()
        sp[i] += h
        sm[i] -= h
        g[i] = (E(sp) - E(sm)) / (2 * h)
    return g


@pytest.mark.parametrize("kind", ["onehot", "probabilities", "rows_not_summing_to_1"])
@pytest.mark.parametrize("eps", [0.0, 0.1, 0.37, 1.0])
@pytest.mark.parametrize("N,C", [(1, 3), (5, 7)])
def test_cross_entropy_with_soft_targets_and_label_smoothing_three_ways(kind, eps, N, C):
    from framework.tables import torch_loss
    from reference.losses import get_loss

    rng = np.random.default_rng(N * 100 + C)
    s, y = rng.normal(0, 3, size=(N, C)), soft_targets(rng, N, C, kind)
    loss = get_loss("cross_entropy", label_smoothing=eps)
    def E(a):
        return float(np.mean(loss.e(a, a, y)))
    ours = loss.delta(s, s, y, None) / N
    st_ = torch.tensor(s, requires_grad=True)
    E_t = torch_loss(loss, st_, st_, torch.tensor(y))
    E_t.backward()
    assert abs(E(s) - E_t.item()) <= 1e-10 * abs(E_t.item()) + 1e-12
    np.testing.assert_allclose(ours, st_.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ours, central_E(E, s), rtol=1e-6, atol=1e-8)
    if kind == "onehot":  # torch's class-index form is the same loss
        labels = torch.from_numpy(y.argmax(axis=1))
        E_i = torch.nn.functional.cross_entropy(torch.tensor(s), labels, label_smoothing=eps)
        assert abs(E(s) - E_i.item()) <= 1e-10 * abs(E_i.item()) + 1e-12


def test_soft_target_gradient_uses_the_row_sum():
    s = np.array([[0.3, -1.2, 2.0]])
    y = np.array([[0.5, 0.5, 0.5]])  # sums to 1.5
    np.testing.assert_allclose(cross_entropy_grad(s, y), softmax(s) * 1.5 - y, rtol=1e-15)


@pytest.mark.parametrize("eps", [-0.1, 1.5])
def test_label_smoothing_outside_0_1_is_refused(eps):
    from reference.losses import get_loss
    with pytest.raises(ValueError, match=rf"label_smoothing must be between 0.0 and 1.0, got {eps}"):
        get_loss("cross_entropy", label_smoothing=eps)
    with pytest.raises(ValueError, match="label_smoothing applies to the cross_entropy loss only"):
        get_loss("squared_error", label_smoothing=0.1)
