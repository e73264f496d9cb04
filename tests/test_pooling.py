"""Max and average pooling (reference/pooling.py) against nn.MaxPool2d / nn.AvgPool2d, three ways.

PyTorch's definitions, checked by experiment with the installed torch: max pooling pads with -inf
and sends the gradient of a tie to the first maximum in row-major order; average pooling divides by
k_h k_w including padding by default (count_include_pad=True), or by the number of real pixels;
padding may be at most half the window (pad <= k // 2).
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import example, given, settings
from hypothesis import strategies as st

from experiments.equivalence import cases as eq
from experiments.equivalence.check import CD_ATOL, CD_RTOL, tolerances
from reference import pooling


@st.composite
def pool_cases(draw, kind=None, data=None):
    window = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    stride = draw(st.one_of(st.none(), st.tuples(st.integers(1, 3), st.integers(1, 3))))
    padding = (draw(st.integers(0, window[0] // 2)), draw(st.integers(0, window[1] // 2)))
    H = draw(st.integers(max(1, window[0] - 2 * padding[0]), window[0] + 5))
    W = draw(st.integers(max(1, window[1] - 2 * padding[1]), window[1] + 5))
    return eq.PoolCase(kind=kind or draw(st.sampled_from(["max", "avg"])), N=draw(st.sampled_from([1, 2])),
                       C=draw(st.sampled_from([1, 3])), H=H, W=W, window=window, stride=stride, padding=padding,
                       count_include_pad=draw(st.booleans()),
                       data=data or draw(st.sampled_from(["normal", "ties", "negative"])))


def check(case, dtype=np.float64, seed=0):
    x, dy = eq.pool_data(case, dtype, seed)
    ours, theirs = eq.pool_ours(case, x, dy), eq.pool_torch(case, x, dy)
    rtol, atol = tolerances(dtype)
    for q in ("output", "input_grad"):
        assert ours[q].shape == theirs[q].shape and ours[q].dtype == dtype
        np.testing.assert_allclose(ours[q], theirs[q], rtol=rtol, atol=atol, err_msg=f"{case.name} {q}")
    return x, dy, ours


@settings(max_examples=40, deadline=None)
@given(case=pool_cases(), seed=st.integers(0, 2**16))
@example(case=eq.PoolCase("max", 2, 3, 7, 9, (3, 2), (2, 1), (1, 1)), seed=0)
@example(case=eq.PoolCase("avg", 1, 1, 5, 5, (4, 3), (1, 2), (2, 1), count_include_pad=False), seed=0)
def test_pooling_matches_torch_float64(case, seed):
    check(case, np.float64, seed)


@pytest.mark.parametrize("case", eq.POOL_CASES, ids=lambda c: f"{c.kind}_{c.name}")
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
def test_named_pooling_cases_match_torch(case, dtype):
    check(case, dtype, 5)


@settings(max_examples=20, deadline=None)
@given(case=pool_cases(data="normal"), seed=st.integers(0, 2**16))
def test_pooling_backward_matches_central_differences(case, seed):
    x, dy = eq.pool_data(case, np.float64, seed)
    ours, cd = eq.pool_ours(case, x, dy), eq.pool_central(case, x, dy)
    np.testing.assert_allclose(ours["input_grad"], cd["input_grad"], rtol=CD_RTOL, atol=CD_ATOL)


# ---------------------------------------------------------------------------------------------
# Conventions on purpose
# ---------------------------------------------------------------------------------------------

def test_max_ties_send_the_gradient_to_the_first_maximum_in_row_major_order():
    x = np.array([[[[1.0, 3.0, 3.0],
                    [3.0, 2.0, 3.0],
                    [0.0, 0.0, 0.0]]]])
    y, cache = pooling.maxpool_forward(x, 2, stride=1)
    np.testing.assert_array_equal(y, [[[[3, 3], [3, 3]]]])
    dy = np.array([[[[1.0, 10.0], [100.0, 1000.0]]]])
    dx = pooling.maxpool_backward(dy, cache)[0]
    # windows: (0,0) -> first 3 at (0,1); (0,1) -> (0,1); (1,0) -> (1,0); (1,1) -> (1,2)
    np.testing.assert_array_equal(dx, [[[[0, 11, 0], [100, 0, 1000], [0, 0, 0]]]])
    xt = torch.from_numpy(x).requires_grad_(True)
    F.max_pool2d(xt, 2, stride=1).backward(torch.from_numpy(dy))
    np.testing.assert_array_equal(dx, xt.grad.numpy())


@settings(max_examples=25, deadline=None)
@given(case=pool_cases(kind="max", data="ties"), seed=st.integers(0, 2**16))
def test_max_ties_with_integer_inputs_match_torch_exactly(case, seed):
    x, dy = eq.pool_data(case, np.float64, seed)
    ours, theirs = eq.pool_ours(case, x, dy), eq.pool_torch(case, x, dy)
    np.testing.assert_array_equal(ours["output"], theirs["output"])
    # Same positions chosen: the gradient sums differ at most in the order of addition.
    np.testing.assert_allclose(ours["input_grad"], theirs["input_grad"], rtol=1e-15, atol=1e-15)


def test_max_padding_acts_as_minus_infinity_on_all_negative_inputs():
    x = -np.arange(1.0, 10.0).reshape(1, 1, 3, 3)  # all negative: zero padding would win
    y, cache = pooling.maxpool_forward(x, 2, stride=2, padding=1)
    np.testing.assert_array_equal(y, [[[[-1, -2], [-4, -5]]]])
    np.testing.assert_array_equal(y, F.max_pool2d(torch.from_numpy(x), 2, 2, 1).numpy())
    dx = pooling.maxpool_backward(np.ones_like(y) * [[[[1, 2], [3, 4]]]], cache)[0]
    np.testing.assert_array_equal(dx, [[[[1, 2, 0], [3, 4, 0], [0, 0, 0]]]])


def test_avg_count_include_pad_true_and_false():
    x = np.ones((1, 1, 3, 3))
    y_true = pooling.avgpool_forward(x, 2, 2, 1)[0]
    y_false = pooling.avgpool_forward(x, 2, 2, 1, count_include_pad=False)[0]
    np.testing.assert_array_equal(y_true, [[[[0.25, 0.5], [0.5, 1.0]]]])  # padding counts as zeros
    np.testing.assert_array_equal(y_false, np.ones((1, 1, 2, 2)))  # only real pixels are counted
    np.testing.assert_array_equal(y_true, F.avg_pool2d(torch.from_numpy(x), 2, 2, 1).numpy())
    np.testing.assert_array_equal(y_false, F.avg_pool2d(torch.from_numpy(x), 2, 2, 1, count_include_pad=False).numpy())


def test_overlapping_windows_add_their_gradients():
    x = np.array([[[[0.0, 5.0, 0.0, 0.0]]]])
    y, cache = pooling.maxpool_forward(x, (1, 3), stride=1)
    np.testing.assert_array_equal(y, [[[[5, 5]]]])
    np.testing.assert_array_equal(pooling.maxpool_backward(np.array([[[[2.0, 3.0]]]]), cache)[0],
                                  [[[[0, 5, 0, 0]]]])


def test_window_as_large_as_the_padded_input():
    x = np.random.default_rng(0).normal(size=(2, 3, 3, 4))
    for case in [eq.PoolCase("max", 2, 3, 3, 4, (5, 6), None, (1, 1)),
                 eq.PoolCase("avg", 2, 3, 3, 4, (5, 6), None, (1, 1), count_include_pad=False)]:
        x, dy, ours = check(case)
        assert ours["output"].shape == (2, 3, 1, 1)


def test_default_stride_is_the_window():
    x = np.random.default_rng(0).normal(size=(1, 2, 6, 9))
    assert pooling.maxpool_forward(x, (2, 3))[0].shape == (1, 2, 3, 3)


# ---------------------------------------------------------------------------------------------
# Error parity
# ---------------------------------------------------------------------------------------------

X = np.zeros((1, 3, 5, 5))

POOL_REJECTED = [
    # (id, window, stride, padding, regex)
    ("padding_over_half_window", 2, None, 2,
     r"padding must be at most half the window .* \(k_h, k_w\) = \(2, 2\) allows at most \(1, 1\), "
     r"got \(top, bottom, left, right\) = \(2, 2, 2, 2\)"),
    ("padding_over_half_window_width", (3, 3), None, (1, 2), r"allows at most \(1, 1\), got .* \(1, 1, 2, 2\)"),
    ("stride_0", 2, 0, 0, r"stride must be >= 1 on both axes, got \(s_h, s_w\) = \(0, 0\)"),
    ("stride_0_height", 2, (0, 1), 0, r"stride must be >= 1 .* \(0, 1\)"),
    ("negative_padding", 2, None, -1, r"negative padding is not supported, got .* \(-1, -1, -1, -1\)"),
    ("window_larger_than_input", 6, None, 0,
     r"window size \(k_h, k_w\) = \(6, 6\) is larger than the padded input .* = \(5, 5\)"),
    ("window_larger_than_padded_input", (4, 8), 1, (0, 1),
     r"\(4, 8\) is larger than the padded input \(H \+ p_h, W \+ p_w\) = \(5 \+ 0, 5 \+ 2\) = \(5, 7\)"),
    ("window_0", (0, 2), 1, 0, r"window size must be >= 1 on both axes, got \(k_h, k_w\) = \(0, 2\)"),
]


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("window,stride,padding,message", [c[1:] for c in POOL_REJECTED],
                         ids=[c[0] for c in POOL_REJECTED])
def test_pooling_rejects_what_torch_rejects(kind, window, stride, padding, message):
    f_t = F.max_pool2d if kind == "max" else F.avg_pool2d
    with pytest.raises(RuntimeError):
        f_t(torch.from_numpy(X), window, stride=stride, padding=padding)
    f = pooling.maxpool_forward if kind == "max" else pooling.avgpool_forward
    with pytest.raises(ValueError, match=f"{kind}pool: .*" + message):
        f(X, window, stride, padding)


def test_pooling_bad_inputs():
    with pytest.raises(ValueError, match=r"maxpool: input must be a 4-D array"):
        pooling.maxpool_forward(X[0], 2)
    with pytest.raises(TypeError, match="float32 or float64"):
        pooling.avgpool_forward(X.astype(np.int32), 2)
    with pytest.raises(ValueError, match=r"padding must be an int or a pair of ints"):
        pooling.maxpool_forward(X, 2, padding=(0, 1, 0, 1))  # pooling pads symmetrically, as PyTorch
    bad = X.copy()
    bad[0, 0, 0, 0] = -np.inf
    with pytest.raises(ValueError, match="NaN or inf"):
        pooling.maxpool_forward(bad, 2)
    y, cache = pooling.maxpool_forward(X, 2)
    with pytest.raises(ValueError, match=r"maxpool: upstream gradient has shape \(1, 3, 2\), expected \(1, 3, 2, 2\)"):
        pooling.maxpool_backward(y[..., 0], cache)
    y, cache = pooling.avgpool_forward(X, 2)
    with pytest.raises(ValueError, match=r"avgpool: upstream gradient has shape"):
        pooling.avgpool_backward(y[..., 0], cache)


# ---------------------------------------------------------------------------------------------
# Edge cases, each against what torch.nn.functional does
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("shape", [(1, 2, 0, 4), (1, 2, 4, 0), (1, 0, 4, 4)], ids=["H0", "W0", "C0"])
@pytest.mark.parametrize("padding", [0, 1])
def test_pooling_refuses_empty_channels_or_spatial_axes_as_torch_does(kind, shape, padding):
    x = np.zeros(shape)
    f_t = F.max_pool2d if kind == "max" else F.avg_pool2d
    with pytest.raises(RuntimeError, match="Expected 3D or 4D"):
        f_t(torch.from_numpy(x), 2, padding=padding)
    f = pooling.maxpool_forward if kind == "max" else pooling.avgpool_forward
    message = f"p1: input (N, C, H, W) = {shape} is empty: C, H and W must be >= 1 (only N may be 0)"
    with pytest.raises(ValueError, match=re.escape(message)):
        f(x, 2, None, padding, name="p1")


@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pooling_accepts_an_empty_batch_as_torch_does(kind):
    x = np.zeros((0, 3, 5, 4))
    f_t = F.max_pool2d if kind == "max" else F.avg_pool2d
    fwd, bwd = ((pooling.maxpool_forward, pooling.maxpool_backward) if kind == "max" else
                (pooling.avgpool_forward, pooling.avgpool_backward))
    y, cache = fwd(x, 2, 1, 1)
    assert y.shape == tuple(f_t(torch.from_numpy(x), 2, 1, 1).shape) == (0, 3, 6, 5)
    assert bwd(y, cache)[0].shape == x.shape


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("x_dtype,dy_dtype", [(np.float64, np.float32), (np.float64, np.int64),
                                              (np.float32, np.float64)])
def test_pooling_backward_refuses_an_upstream_gradient_of_another_dtype(kind, x_dtype, dy_dtype):
    fwd, bwd = ((pooling.maxpool_forward, pooling.maxpool_backward) if kind == "max" else
                (pooling.avgpool_forward, pooling.avgpool_backward))
    y, cache = fwd(X.astype(x_dtype), 2)
    with pytest.raises(TypeError, match=rf"{kind}pool: upstream gradient is {np.dtype(dy_dtype)}, "
                                        rf"expected {np.dtype(x_dtype)}"):
        bwd(np.ones(y.shape, dtype=dy_dtype), cache)
    assert bwd(np.ones(y.shape, dtype=x_dtype), cache)[0].dtype == x_dtype
