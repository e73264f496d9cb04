"""The project's conventions (DESIGN.md), tested on purpose:

- derivatives at kinks follow PyTorch: ReLU'(0) = 0 and sign'(s) = 0 everywhere;
- float32 in gives float32 out through forward, backward and training (no silent upcast to float64);
- rows are samples: x is (N, d[0]), outputs (N, d[L]), and the samples do not interact.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from experiments.equivalence.mlp import network_case
from framework.mlp import MLP, torch_activation
from framework.mlp import loss as torch_loss
from reference.activations import ACTIVATIONS, get_activation, relu_prime, sign_prime
from reference.backprop import backward
from reference.forward import forward, predict
from reference.gradient_descent import fixed_rate_update, loss_value, sgd_epoch
from reference.losses import cross_entropy, cross_entropy_grad, squared_error, squared_error_grad
from reference.network import Architecture, init_weights
from reference.sgd_fast import sgd_epoch_batch1

DTYPES = [np.float64, np.float32]
TORCH_DTYPE = {np.float64: torch.float64, np.float32: torch.float32}


# --------------------------------------------------------------------------------------------
# Derivatives at kinks
# --------------------------------------------------------------------------------------------


def autograd_derivative(name: str, s: np.ndarray) -> np.ndarray:
    """d theta / d s element-wise from PyTorch autograd (the framework twin's module)."""
    t = torch.tensor(s, requires_grad=True)
    torch_activation(name)(t).sum().backward()
    return t.grad.numpy()


@pytest.mark.parametrize("dtype", DTYPES)
def test_relu_derivative_at_zero_is_zero_in_reference_and_torch(dtype):
    s = np.array([-1.0, -0.0, 0.0, 1e-300 if dtype == np.float64 else 1e-40, 2.0], dtype=dtype)
    expected = np.array([0, 0, 0, 1, 1], dtype=dtype)
    np.testing.assert_array_equal(relu_prime(s), expected)
    np.testing.assert_array_equal(ACTIVATIONS["relu"].theta_prime(s), expected)
    np.testing.assert_array_equal(autograd_derivative("relu", s), expected)
    # torch.relu itself (not only nn.ReLU)
    t = torch.tensor(np.zeros(3, dtype=dtype), requires_grad=True)
    torch.relu(t).sum().backward()
    np.testing.assert_array_equal(t.grad.numpy(), 0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_sign_derivative_is_zero_everywhere_in_reference_and_torch(dtype):
    s = np.array([-5.0, -1e-30, -0.0, 0.0, 1e-30, 3.0], dtype=dtype)
    np.testing.assert_array_equal(sign_prime(s), np.zeros_like(s))
    np.testing.assert_array_equal(autograd_derivative("sign", s), np.zeros_like(s))
    t = torch.tensor(s, requires_grad=True)
    torch.sign(t).sum().backward()
    np.testing.assert_array_equal(t.grad.numpy(), np.zeros_like(s))
    np.testing.assert_array_equal(get_activation("sign").theta(s), np.sign(s))
    assert not get_activation("sign").trainable


def test_relu_kink_inside_a_network_matches_autograd():
    """A hidden unit sitting exactly at s = 0 passes no gradient, in both implementations."""
    arch = Architecture((2, 3, 2), "relu", "identity", "squared_error")
    W = [None, np.array([[0.0, 0.5, -0.2], [1.0, 0.3, 0.7], [-1.0, 0.4, 0.1]]),
         np.array([[0.1, -0.1], [0.6, 0.2], [-0.3, 0.8], [0.5, 0.5]])]
    x = np.array([[0.25, 0.25]])  # s[1]_1 = 0 + 0.25 - 0.25 = 0 exactly
    y = np.array([[1.0, -1.0]])
    _, cache = forward(arch, W, x)
    assert cache.s[1][0, 0] == 0.0
    delta, G = backward(arch, W, cache, y)
    assert delta[1][0, 0] == 0.0 and np.all(G[1][:, 0] == 0.0)
    model = MLP(arch, W)
    s_t, outs = model.signals(torch.from_numpy(x))
    torch_loss(arch, s_t[-1], outs[-1], torch.from_numpy(y)).backward()
    np.testing.assert_array_equal(model.linears[0].weight.grad.numpy()[0], 0.0)
    np.testing.assert_allclose(delta[1], s_t[1].grad.numpy(), rtol=1e-14)


def test_sigmoid_has_no_overflow_at_large_signals():
    s = np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        t = get_activation("sigmoid").theta(s)
        tp = get_activation("sigmoid").theta_prime(s)
    np.testing.assert_allclose(t, torch.sigmoid(torch.from_numpy(s)).numpy(), rtol=1e-15, atol=0)
    assert t[0] == 0.0 and t[-1] == 1.0 and tp[0] == 0.0 and tp[2] == 0.25


# --------------------------------------------------------------------------------------------
# float32 stays float32
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
@pytest.mark.parametrize("dtype", DTYPES)
def test_activations_keep_dtype(name, dtype):
    s = np.linspace(-3, 3, 12, dtype=dtype).reshape(3, 4)
    act = get_activation(name)
    assert act.theta(s).dtype == dtype
    assert act.theta_prime(s).dtype == dtype


@pytest.mark.parametrize("dtype", DTYPES)
def test_losses_keep_dtype(dtype):
    rng = np.random.default_rng(0)
    z = rng.normal(size=(4, 3)).astype(dtype)
    y = np.eye(3, dtype=dtype)[[0, 2, 1, 1]]
    for f in (squared_error, squared_error_grad, cross_entropy, cross_entropy_grad):
        assert f(z, y).dtype == dtype, f.__name__


@pytest.mark.parametrize("hidden,output,loss", [
    ("tanh", "tanh", "squared_error"), ("sigmoid", "sigmoid", "squared_error"),
    ("relu", "identity", "cross_entropy"), ("identity", "relu", "squared_error"),
])
@pytest.mark.parametrize("dtype", DTYPES)
def test_forward_backward_and_training_keep_dtype(hidden, output, loss, dtype):
    arch, W, x, y = network_case((6, 5, 4, 3), hidden, output, loss, 4, dtype, 1)
    assert all(w.dtype == dtype for w in W[1:])
    x_L, cache = forward(arch, W, x)
    assert x_L.dtype == dtype
    assert all(a.dtype == dtype for a in cache.s[1:] + cache.x)
    delta, G = backward(arch, W, cache, y)
    assert all(a.dtype == dtype for a in delta[1:] + G[1:])
    assert isinstance(loss_value(arch, cache.s[-1], x_L, y), float)
    for eta in (0.1, np.float64(0.1), np.float32(0.1)):
        assert all(w.dtype == dtype for w in fixed_rate_update(W, G, eta)[1:]), type(eta)
        W2, _ = sgd_epoch(arch, W, x, y, eta, 2, np.arange(4))
        assert all(w.dtype == dtype for w in W2[1:]), type(eta)
    W3 = [None] + [w.copy() for w in W[1:]]
    sgd_epoch_batch1(arch, W3, x, y, 0.1, np.arange(4))
    assert all(w.dtype == dtype for w in W3[1:])
    assert predict(arch, W, x).dtype.kind == "i"


@pytest.mark.parametrize("dtype", DTYPES)
def test_float32_eta_rounding_matches_a_python_float(dtype):
    """W - eta G with eta given as float, np.float64 or np.float32 is computed in W's dtype."""
    rng = np.random.default_rng(2)
    W = [None, rng.normal(size=(4, 3)).astype(dtype)]
    G = [None, rng.normal(size=(4, 3)).astype(dtype)]
    ref = fixed_rate_update(W, G, 0.1)[1]
    np.testing.assert_array_equal(fixed_rate_update(W, G, np.float64(0.1))[1], ref)
    if dtype == np.float32:
        np.testing.assert_array_equal(ref, W[1] - np.float32(0.1) * G[1])


@pytest.mark.parametrize("dtype", DTYPES)
def test_torch_twin_keeps_dtype(dtype):
    arch, W, x, y = network_case((6, 5, 3), "tanh", "sigmoid", "squared_error", 4, dtype, 1)
    model = MLP(arch, W)
    assert all(p.dtype == TORCH_DTYPE[dtype] for p in model.parameters())
    assert model(torch.from_numpy(x)).dtype == TORCH_DTYPE[dtype]
    assert all(w.dtype == dtype for w in model.weights()[1:])
    for l in (1, 2):
        np.testing.assert_array_equal(model.weights()[l], W[l])


def test_init_weights_dtype_and_shapes():
    arch = Architecture((7, 4, 2))
    for dtype in DTYPES:
        W = init_weights(arch, np.random.default_rng(0), dtype=dtype)
        assert W[0] is None
        assert [w.shape for w in W[1:]] == [(8, 4), (5, 2)]
        assert all(w.dtype == dtype for w in W[1:])


# --------------------------------------------------------------------------------------------
# Rows are samples
# --------------------------------------------------------------------------------------------


def test_rows_are_samples_and_do_not_interact():
    arch, W, x, y = network_case((5, 7, 3), "tanh", "sigmoid", "squared_error", 6, np.float64, 4)
    x_L, cache = forward(arch, W, x)
    assert x_L.shape == (6, 3) and cache.s[1].shape == (6, 7)
    perm = np.array([3, 0, 5, 1, 4, 2])
    x_p, cache_p = forward(arch, W, x[perm])
    np.testing.assert_allclose(x_p, x_L[perm], rtol=1e-14)
    delta, G = backward(arch, W, cache, y)
    delta_p, G_p = backward(arch, W, cache_p, y[perm])
    for l in (1, 2):
        np.testing.assert_allclose(delta_p[l], delta[l][perm], rtol=1e-13)
        np.testing.assert_allclose(G_p[l], G[l], rtol=1e-12, atol=1e-15)  # G averages over the rows
    # changing one sample changes only its own row of the output
    x2 = x.copy()
    x2[2] += 1.0
    x2_L, _ = forward(arch, W, x2)
    changed = np.any(x2_L != x_L, axis=1)
    assert changed.tolist() == [False, False, True, False, False, False]


def test_columns_as_samples_are_rejected():
    arch, W, x, _ = network_case((5, 7, 3), "tanh", "sigmoid", "squared_error", 4, np.float64, 4)
    with pytest.raises(ValueError, match=r"has shape \(5, 4\), expected \(N, 5\)"):
        forward(arch, W, np.ascontiguousarray(x.T))
    with pytest.raises(ValueError, match=r"has shape \(5,\), expected \(N, 5\)"):
        forward(arch, W, x[0])  # a single sample is a (1, d[0]) row, not a 1-D vector


def test_torch_twin_takes_the_same_rows():
    arch, W, x, _ = network_case((5, 7, 3), "relu", "tanh", "squared_error", 4, np.float64, 9)
    out = MLP(arch, W)(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(out, forward(arch, W, x)[0], rtol=1e-12)


def test_one_table_per_concept_with_the_same_keys_on_both_sides():
    from framework.tables import TORCH_ACTIVATIONS, TORCH_DTYPES, TORCH_LOSSES, numpy_dtype, torch_dtype
    from reference.losses import LOSSES

    assert set(TORCH_ACTIVATIONS) == set(ACTIVATIONS)
    assert set(TORCH_LOSSES) == set(LOSSES)
    assert all(LOSSES[name].name == name for name in LOSSES)
    assert all(ACTIVATIONS[name].name == name for name in ACTIVATIONS)
    for n, t in TORCH_DTYPES.items():
        assert torch_dtype(n) == t and numpy_dtype(t) == n and torch_dtype(t) == t
    with pytest.raises(TypeError, match="no torch twin for dtype int64"):
        torch_dtype(np.int64)
