"""The reference cross-correlation (reference/conv.py, conv_shapes.py) against PyTorch, three ways.

Three-way: our analytic backward, torch autograd through the twin (framework/conv.py), and central
differences; always with a random upstream gradient and random, non-symmetric kernels and biases.
float64 to rtol 1e-10 (experiments.equivalence.check.tolerances), float32 to torch.testing.assert_close's
tolerances.
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
from framework.conv import Conv2dTwin, conv2d, conv2d_twin, conv_to_torch, torch_pad_order, torch_to_conv
from reference import conv, dense, pooling
from reference import conv_shapes as cs

QUANTITIES = ("output", "input_grad", "kernel_grad", "bias_grad")


def assert_close(ours, theirs, dtype, depth=1, what=""):
    rtol, atol = tolerances(dtype, depth)
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=atol, err_msg=what)


@st.composite
def conv_cases(draw):
    """Geometries with independent values per axis; kernels may equal the padded input."""
    k = (draw(st.integers(1, 5)), draw(st.integers(1, 5)))
    s = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    pad = tuple(draw(st.integers(0, 2)) for _ in range(4))
    H = draw(st.integers(max(1, k[0] - pad[0] - pad[1]), k[0] + 5))
    W = draw(st.integers(max(1, k[1] - pad[2] - pad[3]), k[1] + 5))
    return eq.ConvCase(N=draw(st.sampled_from([1, 2, 3])), c_in=draw(st.sampled_from([1, 3, 4])),
                       c_out=draw(st.sampled_from([1, 2, 4])), H=H, W=W, kernel=k, stride=s, padding=pad)


# ---------------------------------------------------------------------------------------------
# Three-way equivalence
# ---------------------------------------------------------------------------------------------

@settings(max_examples=40, deadline=None)
@given(case=conv_cases(), seed=st.integers(0, 2**16))
@example(case=eq.ConvCase(2, 3, 4, 9, 11, (3, 5), (2, 1), (2, 2, 0, 0)), seed=0)
@example(case=eq.ConvCase(1, 1, 1, 4, 5, (6, 7), (1, 1), (1, 1, 1, 1)), seed=1)  # kernel = padded input
@example(case=eq.ConvCase(1, 3, 2, 1, 1, (1, 1), (3, 3), (2, 0, 0, 1)), seed=2)  # pixels never read
def test_conv_matches_torch_float64(case, seed):
    data = eq.conv_data(case, np.float64, seed)
    ours, theirs = eq.conv_ours(case, *data), eq.conv_torch(case, *data)
    for q in QUANTITIES:
        assert ours[q].shape == theirs[q].shape, q
        assert_close(ours[q], theirs[q], np.float64, what=f"{case.name} {q}")


@settings(max_examples=15, deadline=None)
@given(case=conv_cases(), seed=st.integers(0, 2**16))
@example(case=eq.ConvCase(2, 3, 2, 5, 7, (3, 5), (2, 1), (2, 2, 0, 0)), seed=0)
def test_conv_backward_matches_central_differences(case, seed):
    data = eq.conv_data(case, np.float64, seed)
    ours, cd = eq.conv_ours(case, *data), eq.conv_central(case, *data)
    for q in cd:
        np.testing.assert_allclose(ours[q], cd[q], rtol=CD_RTOL, atol=CD_ATOL, err_msg=f"{case.name} {q}")


@pytest.mark.parametrize("case", eq.CONV_CASES, ids=lambda c: c.name)
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
def test_named_cases_match_torch(case, dtype):
    data = eq.conv_data(case, dtype, 3)
    ours, theirs = eq.conv_ours(case, *data), eq.conv_torch(case, *data)
    tols = eq.conv_tolerances(case, dtype)  # float32: assert_close's x sqrt(terms per sum)
    for q in QUANTITIES:
        assert ours[q].dtype == dtype, q
        np.testing.assert_allclose(ours[q], theirs[q], *tols[q], err_msg=f"{case.name} {q}")


@pytest.mark.parametrize("case", eq.CONV_CASES, ids=lambda c: c.name)
def test_float32_is_at_least_as_accurate_as_torch(case):
    """Against the float64 result, our float32 error is at most twice PyTorch's float32 error."""
    data32 = eq.conv_data(case, np.float32, 4)
    exact = eq.conv_ours(case, *[a.astype(np.float64) for a in data32])
    ours, theirs = eq.conv_ours(case, *data32), eq.conv_torch(case, *data32)
    for q in QUANTITIES:
        err_ours = np.abs(ours[q] - exact[q]).max()
        err_torch = np.abs(theirs[q] - exact[q]).max()
        bound = 2 * err_torch + 4 * np.finfo(np.float32).eps * np.abs(exact[q]).max()
        assert err_ours <= bound, (q, err_ours, err_torch)


def test_random_upstream_gradient_is_not_ones():
    # A transposed input gradient would pass with ds = ones on square cases; our cases use random ds.
    case = eq.CONV_CASES[0]
    ds = eq.conv_data(case, np.float64)[3]
    assert np.unique(ds).size == ds.size


def test_first_layer_can_skip_the_input_gradient():
    case = eq.CONV_CASES[0]
    x, K, b, ds = eq.conv_data(case, np.float64)
    _, cache = conv.forward(x, K, b, case.stride, case.padding)
    dx, g = conv.backward(ds, cache, need_dx=False)
    assert dx is None
    full = conv.backward(ds, cache)[1]
    np.testing.assert_array_equal(g["K"], full["K"])


# ---------------------------------------------------------------------------------------------
# Output size and padding
# ---------------------------------------------------------------------------------------------

@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 12), k=st.integers(1, 6), p=st.integers(0, 3), s=st.integers(1, 4))
def test_output_size_formula_matches_torch(n, k, p, s):
    if k > n + 2 * p:
        return
    t = F.conv2d(torch.zeros(1, 1, n, 1), torch.zeros(1, 1, k, 1), stride=(s, 1), padding=(p, 0))
    assert cs.output_size(n, k, 2 * p, s) == t.shape[2] == (n + 2 * p - k) // s + 1


def test_padding_spec_normalisation():
    assert cs.per_side(2) == (2, 2, 2, 2)
    assert cs.per_side((2, 0)) == (2, 2, 0, 0)
    assert cs.per_side((0, 1, 2, 3)) == (0, 1, 2, 3)
    assert cs.padding_from_total(3, 2) == (1, 2, 1, 1)  # odd total: the extra row at the bottom
    assert cs.total_padding((1, 2, 1, 1)) == (3, 2)
    assert torch_pad_order((1, 2, 3, 4)) == (3, 4, 1, 2)  # F.pad: (left, right, top, bottom)
    with pytest.raises(ValueError, match=r"padding must be an int, \(p_h, p_w\) or"):
        cs.per_side((1, 2, 3))


def test_per_side_padding_agrees_with_torch_pad():
    x = np.random.default_rng(0).normal(size=(2, 3, 4, 5))
    for p in [(0, 1, 2, 0), (3, 0, 0, 1), (1, 1, 1, 1)]:
        np.testing.assert_array_equal(conv.pad(x, p), F.pad(torch.from_numpy(x), torch_pad_order(p)).numpy())


def test_twin_splits_padding_into_symmetric_part_and_f_pad():
    m = Conv2dTwin(1, 1, 3, padding=(1, 3, 2, 2))
    assert m.conv.padding == (1, 2) and m.extra == (0, 2, 0, 0)


# ---------------------------------------------------------------------------------------------
# Identities
# ---------------------------------------------------------------------------------------------

def test_1x1_convolution_is_a_dense_layer_per_pixel():
    rng = np.random.default_rng(0)
    N, c_in, c_out, H, W = 2, 3, 4, 5, 6
    x, K, b = rng.normal(size=(N, c_in, H, W)), rng.normal(size=(c_out, c_in, 1, 1)), rng.normal(size=c_out)
    ds = rng.normal(size=(N, c_out, H, W))
    s, cache = conv.forward(x, K, b)
    dx, g = conv.backward(ds, cache)
    Wd = np.vstack([b[None, :], K[:, :, 0, 0].T])  # the study's W: row 0 the bias, (c_in + 1, c_out)
    pixels = x.transpose(0, 2, 3, 1).reshape(-1, c_in)  # one row per pixel
    sd, dcache = dense.forward(pixels, Wd)
    np.testing.assert_allclose(s, sd.reshape(N, H, W, c_out).transpose(0, 3, 1, 2), rtol=1e-12)
    dxd, gd = dense.backward(ds.transpose(0, 2, 3, 1).reshape(-1, c_out), dcache)
    np.testing.assert_allclose(dx, dxd.reshape(N, H, W, c_in).transpose(0, 3, 1, 2), rtol=1e-12)
    np.testing.assert_allclose(np.vstack([g["b"][None, :], g["K"][:, :, 0, 0].T]), gd["W"], rtol=1e-12)


def test_whole_image_kernel_is_a_dense_layer_on_the_flattened_input():
    rng = np.random.default_rng(1)
    N, C, c_out, H, W = 3, 2, 5, 4, 6
    x, K, b = rng.normal(size=(N, C, H, W)), rng.normal(size=(c_out, C, H, W)), rng.normal(size=c_out)
    ds = rng.normal(size=(N, c_out, 1, 1))
    s, cache = conv.forward(x, K, b)
    assert s.shape == (N, c_out, 1, 1)
    dx, g = conv.backward(ds, cache)
    Wd = np.vstack([b[None, :], K.reshape(c_out, -1).T])
    sd, dcache = dense.forward(x.reshape(N, -1), Wd)
    np.testing.assert_allclose(s[:, :, 0, 0], sd, rtol=1e-12)
    dxd, gd = dense.backward(ds[:, :, 0, 0], dcache)
    np.testing.assert_allclose(dx, dxd.reshape(x.shape), rtol=1e-12)
    np.testing.assert_allclose(g["K"], gd["W"][1:].T.reshape(K.shape), rtol=1e-12)
    np.testing.assert_allclose(g["b"], gd["W"][0], rtol=1e-12)


@pytest.mark.parametrize("window,stride,padding", [((2, 2), None, (0, 0)), ((3, 2), (2, 1), (1, 1)),
                                                   ((2, 4), (1, 3), (1, 2))])
def test_average_pooling_is_a_convolution_with_a_constant_kernel(window, stride, padding):
    rng = np.random.default_rng(2)
    C = 3
    x = rng.normal(size=(2, C, 7, 8))
    K = np.eye(C)[:, :, None, None] * np.full(window, 1.0 / (window[0] * window[1]))  # channel c -> c only
    y, pcache = pooling.avgpool_forward(x, window, stride, padding)  # count_include_pad=True
    s, ccache = conv.forward(x, K, np.zeros(C), stride or window, padding)
    np.testing.assert_allclose(y, s, rtol=1e-12, atol=1e-15)
    dy = rng.normal(size=y.shape)
    np.testing.assert_allclose(pooling.avgpool_backward(dy, pcache)[0], conv.backward(dy, ccache)[0],
                               rtol=1e-12, atol=1e-15)


# ---------------------------------------------------------------------------------------------
# Error parity: what PyTorch rejects, the reference rejects with the numbers in the message
# ---------------------------------------------------------------------------------------------

X = np.zeros((1, 3, 5, 5))


def k(c_out=4, c_in=3, k_h=3, k_w=3):
    return np.zeros((c_out, c_in, k_h, k_w))


CONV_REJECTED = [
    # (id, kernel, stride, padding, regex the reference's message must match)
    ("kernel_larger_than_input", k(k_h=6, k_w=6), 1, 0,
     r"conv: kernel size \(k_h, k_w\) = \(6, 6\) is larger than the padded input .* = \(5, 5\)"),
    ("kernel_larger_than_padded_input", k(k_h=8, k_w=3), 1, 1,
     r"\(8, 3\) is larger than the padded input \(H \+ p_h, W \+ p_w\) = \(5 \+ 2, 5 \+ 2\) = \(7, 7\)"),
    ("stride_0", k(), 0, 0, r"stride must be >= 1 on both axes, got \(s_h, s_w\) = \(0, 0\)"),
    ("stride_0_on_width", k(), (1, 0), 0, r"stride must be >= 1 .* \(1, 0\)"),
    ("negative_stride", k(), (-1, 1), 0, r"stride must be >= 1 .* \(-1, 1\)"),
    ("negative_padding", k(), 1, -1, r"negative padding is not supported, got .* \(-1, -1, -1, -1\)"),
    ("negative_padding_width", k(), 1, (0, -2), r"negative padding .* \(0, 0, -2, -2\)"),
    ("channel_mismatch", k(c_in=2), 1, 0, r"input has 3 channels but the kernel expects 2"),
    ("kernel_size_0", k(k_h=0), 1, 0, r"kernel size must be >= 1 on both axes, got \(k_h, k_w\) = \(0, 3\)"),
]


@pytest.mark.parametrize("kernel,stride,padding,message", [c[1:] for c in CONV_REJECTED],
                         ids=[c[0] for c in CONV_REJECTED])
def test_conv_rejects_what_torch_rejects(kernel, stride, padding, message):
    with pytest.raises(RuntimeError):
        F.conv2d(torch.from_numpy(X), torch.from_numpy(kernel), stride=stride, padding=padding)
    with pytest.raises(ValueError, match=message):
        conv.forward(X, kernel, np.zeros(kernel.shape[0]), stride, padding)


def test_kernel_exactly_as_large_as_the_padded_input_is_accepted_by_both():
    K = np.random.default_rng(0).normal(size=(2, 3, 7, 6))
    s = conv.forward(X + 1.0, K, np.zeros(2), 1, (1, 1, 0, 1))[0]
    assert s.shape == (1, 2, 1, 1)
    t = F.conv2d(F.pad(torch.from_numpy(X + 1.0), (0, 1, 1, 1)), torch.from_numpy(K))
    np.testing.assert_allclose(s, t.numpy(), rtol=1e-10)


def test_bad_inputs_are_rejected_with_clear_messages():
    K, b = k(), np.zeros(4)
    with pytest.raises(ValueError, match=r"input must be a 4-D array \(N, C, H, W\), got shape \(3, 5, 5\)"):
        conv.forward(X[0], K, b)
    with pytest.raises(TypeError, match="must be a float32 or float64"):
        conv.forward(X.astype(np.int64), K, b)
    with pytest.raises(TypeError, match="share one dtype"):
        conv.forward(X.astype(np.float32), K, b)
    with pytest.raises(ValueError, match=r"bias b must have shape \(c_out,\) = \(4,\), got \(3,\)"):
        conv.forward(X, K, np.zeros(3))
    with pytest.raises(ValueError, match=r"kernel K must be 4-D"):
        conv.forward(X, K[0], b)
    bad = X.copy()
    bad[0, 1, 2, 3] = np.nan
    with pytest.raises(ValueError, match=r"NaN or inf.*\(0, 1, 2, 3\)"):
        conv.forward(bad, K, b)
    s, cache = conv.forward(X, K, b)
    with pytest.raises(ValueError, match=r"conv: upstream gradient has shape \(1, 4, 3\), expected \(1, 4, 3, 3\)"):
        conv.backward(s[..., 0], cache)


# ---------------------------------------------------------------------------------------------
# Converters
# ---------------------------------------------------------------------------------------------

def test_kernel_layout_is_pytorchs_and_converters_round_trip():
    rng = np.random.default_rng(0)
    K, b = rng.normal(size=(4, 3, 2, 5)), rng.normal(size=4)
    w, bt = conv_to_torch(K, b)
    assert tuple(w.shape) == (4, 3, 2, 5)
    K2, b2 = torch_to_conv(w, bt)
    np.testing.assert_array_equal(K2, K)
    np.testing.assert_array_equal(b2, b)
    K2[0, 0, 0, 0] += 1  # copies, not views
    assert K[0, 0, 0, 0] != K2[0, 0, 0, 0]
    m = conv2d_twin(K, b)
    np.testing.assert_array_equal(m.params()["K"], K)
    with pytest.raises(ValueError, match=r"Conv2d weight is \(4, 3, 2, 5\) but K is \(4, 3, 5, 2\)"):
        m.load(K.transpose(0, 1, 3, 2), b)


# ---------------------------------------------------------------------------------------------
# Edge cases, each against what torch.nn.functional does
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(1, 2, 0, 4), (1, 2, 4, 0)], ids=["H0", "W0"])
@pytest.mark.parametrize("padding", [0, 1])
def test_conv_refuses_an_empty_spatial_axis_as_torch_does(shape, padding):
    rng = np.random.default_rng(0)
    x, K, b = np.zeros(shape), rng.normal(size=(3, 2, 1, 1)), rng.normal(size=3)
    with pytest.raises(RuntimeError):
        F.conv2d(torch.from_numpy(x), torch.from_numpy(K), torch.from_numpy(b), padding=padding)
    message = f"conv1: input (N, C, H, W) = {shape} is empty: C, H and W must be >= 1"
    with pytest.raises(ValueError, match=re.escape(message)):
        conv.forward(x, K, b, padding=padding, name="conv1")


def test_conv_refuses_no_output_channels_as_torch_does():
    x, K, b = np.ones((1, 2, 4, 4)), np.zeros((0, 2, 1, 1)), np.zeros(0)
    with pytest.raises(RuntimeError, match="expected weight to be at least 1 at dimension 0"):
        F.conv2d(torch.from_numpy(x), torch.from_numpy(K), torch.from_numpy(b))
    with pytest.raises(ValueError, match=r"conv2: kernel K .* = \(0, 2, 1, 1\) has no output channels"):
        conv.forward(x, K, b, name="conv2")


def test_conv_refuses_zero_input_channels():
    # torch returns an (N, 0, H, W) map here whatever c_out is; the reference refuses instead
    x, K, b = np.ones((1, 0, 4, 4)), np.ones((3, 0, 1, 1)), np.ones(3)
    assert tuple(F.conv2d(torch.from_numpy(x), torch.from_numpy(K), torch.from_numpy(b)).shape) == (1, 0, 4, 4)
    with pytest.raises(ValueError, match=r"conv: input \(N, C, H, W\) = \(1, 0, 4, 4\) is empty"):
        conv.forward(x, K, b)


def test_conv_accepts_an_empty_batch_as_torch_does():
    rng = np.random.default_rng(1)
    x, K, b = np.zeros((0, 2, 5, 6)), rng.normal(size=(3, 2, 2, 3)), rng.normal(size=3)
    s, cache = conv.forward(x, K, b, stride=(2, 1), padding=1)
    t = F.conv2d(torch.from_numpy(x), torch.from_numpy(K), torch.from_numpy(b), stride=(2, 1), padding=1)
    assert s.shape == tuple(t.shape) == (0, 3, 3, 6)
    dx, g = conv.backward(np.zeros(s.shape), cache)
    assert dx.shape == x.shape
    np.testing.assert_array_equal(g["K"], 0.0)
    np.testing.assert_array_equal(g["b"], 0.0)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_conv_refuses_non_finite_kernels_and_biases(bad):
    rng = np.random.default_rng(2)
    x, K, b = rng.normal(size=(1, 2, 4, 4)), rng.normal(size=(3, 2, 2, 2)), rng.normal(size=3)
    Kb, bb = K.copy(), b.copy()
    Kb[1, 0, 1, 0] = bad
    bb[2] = bad
    with pytest.raises(ValueError, match=r"conv: kernel K contains NaN or inf: 1 non-finite value\(s\), "
                                         r"first at index \(1, 0, 1, 0\)"):
        conv.forward(x, Kb, b)
    with pytest.raises(ValueError, match=r"conv: bias b contains NaN or inf: 1 non-finite value\(s\), "
                                         r"first at index \(2,\)"):
        conv.forward(x, K, bb)


@pytest.mark.parametrize("dtype", [np.float32, np.int64])
def test_conv_backward_refuses_an_upstream_gradient_of_another_dtype(dtype):
    rng = np.random.default_rng(3)
    s, cache = conv.forward(rng.normal(size=(2, 2, 4, 4)), rng.normal(size=(3, 2, 2, 2)), rng.normal(size=3))
    with pytest.raises(TypeError, match=rf"conv: upstream gradient is {np.dtype(dtype)}, expected float64"):
        conv.backward(np.ones(s.shape, dtype=dtype), cache)


def test_dense_layer_checks_dtypes_weights_and_upstream_gradient():
    rng = np.random.default_rng(4)
    x, W = rng.normal(size=(3, 4)), rng.normal(size=(5, 2))
    s, cache = dense.forward(x, W, name="fc")
    with pytest.raises(ValueError, match=r"fc: upstream gradient has shape \(3, 3\), expected \(3, 2\)"):
        dense.backward(np.ones((3, 3)), cache)
    with pytest.raises(TypeError, match=r"fc: upstream gradient is float32, expected float64"):
        dense.backward(np.ones((3, 2), dtype=np.float32), cache)
    with pytest.raises(TypeError, match=r"fc: input x is float32 but the weights W are float64"):
        dense.forward(x.astype(np.float32), W, name="fc")
    W[2, 1] = np.inf
    with pytest.raises(ValueError, match=r"fc: weights W contains NaN or inf: 1 non-finite value\(s\), "
                                         r"first at index \(2, 1\)"):
        dense.forward(x, W, name="fc")


def test_flatten_backward_refuses_an_upstream_gradient_of_another_dtype_or_shape():
    from reference import flatten
    y, cache = flatten.forward(np.zeros((2, 3, 4, 5), dtype=np.float32), name="flat")
    with pytest.raises(TypeError, match=r"flat: upstream gradient is float64, expected float32"):
        flatten.backward(np.zeros((2, 60)), cache)
    with pytest.raises(ValueError, match=r"flat: upstream gradient has shape \(2, 59\), expected \(2, 60\)"):
        flatten.backward(np.zeros((2, 59), dtype=np.float32), cache)
    assert flatten.backward(np.zeros((2, 60), dtype=np.float32), cache)[0].dtype == np.float32


@pytest.mark.parametrize("shape, padding", [((2, 3, 0, 4), (0, 2, 0, 0)), ((2, 3, 0, 4), (1, 3, 1, 0)),
                                            ((1, 3, 5, 0), (0, 0, 2, 0))], ids=["H0_bottom2", "H0_t1b3", "W0_left2"])
def test_conv_accepts_an_empty_axis_that_asymmetric_padding_fills_as_torch_does(shape, padding):
    # torch's twin pads the asymmetric part with F.pad, then convolves: F.pad + conv2d accepts the input.
    rng = np.random.default_rng(5)
    x, K, b = rng.normal(size=shape), rng.normal(size=(4, 3, 2, 1)), rng.normal(size=4)
    s, cache = conv.forward(x, K, b, (1, 1), padding)
    ds = rng.normal(size=s.shape)
    dx, g = conv.backward(ds, cache)
    ts = {k: torch.from_numpy(a).requires_grad_(True) for k, a in (("x", x), ("K", K), ("b", b))}
    twin = Conv2dTwin(3, 4, (2, 1), 1, padding).load(K, b)
    for y in (conv2d(ts["x"], ts["K"], ts["b"], 1, padding), twin(ts["x"])):
        np.testing.assert_allclose(s, y.detach().numpy(), rtol=1e-12, atol=1e-12)
    conv2d(ts["x"], ts["K"], ts["b"], 1, padding).backward(torch.from_numpy(ds))
    assert dx.shape == shape
    np.testing.assert_allclose(g["K"], ts["K"].grad.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(g["b"], ts["b"].grad.numpy(), rtol=1e-12, atol=1e-12)
    assert s.shape[2] * s.shape[3] > 0 and np.any(g["b"] != 0)  # a real output of the bias alone


def test_conv_refuses_an_empty_axis_under_symmetric_padding_as_nn_conv2d_does():
    x, K, b = np.zeros((2, 3, 0, 4)), np.ones((4, 3, 1, 1)), np.ones(4)
    with pytest.raises(RuntimeError, match="Only zero batch or zero channel inputs are supported"):
        Conv2dTwin(3, 4, 1, 1, (1, 1, 0, 0)).load(K, b)(torch.from_numpy(x))
    with pytest.raises(ValueError, match=re.escape("conv: input (N, C, H, W) = (2, 3, 0, 4) is empty")):
        conv.forward(x, K, b, 1, (1, 1, 0, 0))
