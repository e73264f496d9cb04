"""Bad input is rejected with an error that names the layer (or array) and the expected and actual values.

Truncated or corrupt IDX files and checksum mismatches are covered in tests/test_data_mnist.py
(test_truncated_file_names_file_and_byte_counts, test_bad_magic, test_truncated_gzip_stream_names_the_file,
test_verify_file_mismatch_names_file_expected_and_actual, ...).
"""

from __future__ import annotations

import numpy as np
import pytest

from experiments.equivalence.mlp import network_case
from experiments.mnist.compiled_mlp import FastBatch1Trainer
from experiments.mnist.mlp import targets
from framework.mlp import torch_activation
from reference.activations import get_activation
from reference.backprop import backward
from reference.forward import forward
from reference.gradient_descent import mini_batches, sgd_epoch
from reference.network import Architecture, check_weights, init_weights
from reference.sgd_fast import sgd_epoch_batch1

KNOWN_ACTIVATIONS = r"unknown activation 'softplus'; known activations: identity, relu, sigmoid, sign, tanh"


@pytest.fixture
def net():
    """d = (5, 4, 3): tanh hidden, sigmoid output, squared error; 6 samples, float64."""
    return network_case((5, 4, 3), "tanh", "sigmoid", "squared_error", 6, np.float64, 0)


# --------------------------------------------------------------------------------------------
# Inputs and targets
# --------------------------------------------------------------------------------------------


def test_wrong_input_width(net):
    arch, W, x, _ = net
    with pytest.raises(ValueError, match=r"input x \(layer 0, d\[0\] = 5\) has shape \(6, 7\), expected \(N, 5\)"):
        forward(arch, W, np.zeros((6, 7)))
    with pytest.raises(ValueError, match=r"has shape \(6, 4\), expected \(N, 5\)"):
        sgd_epoch(arch, W, x[:, :4].copy(), net[3], 0.1, 1, np.arange(6))


@pytest.mark.parametrize("labels,lo,hi", [([0, 3, 10], 0, 10), ([-1, 2, 9], -1, 9), ([12], 12, 12)])
def test_labels_out_of_range(labels, lo, hi):
    with pytest.raises(ValueError, match=rf"labels must lie in 0\.\.9, got range {lo}\.\.{hi}"):
        targets(np.array(labels), "onehot", np.float64)


def test_labels_in_range_are_coded():
    np.testing.assert_array_equal(targets(np.array([2, 0]), "pm1", np.float32)[0], [-1, -1, 1] + [-1] * 7)
    assert targets(np.array([9]), "onehot", np.float32).dtype == np.float32


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_inputs(net, bad):
    arch, W, x, y = net
    x = x.copy()
    x[2, 3] = bad
    pattern = rf"input x contains NaN or inf: 1 non-finite value\(s\), first at index \(2, 3\) = {bad}"
    with pytest.raises(ValueError, match=pattern):
        forward(arch, W, x)
    with pytest.raises(ValueError, match=pattern):
        sgd_epoch(arch, W, x, y, 0.1, 2, np.arange(6))
    with pytest.raises(ValueError, match=pattern):
        sgd_epoch_batch1(arch, [None] + [w.copy() for w in W[1:]], x, y, 0.1, np.arange(6))


def test_nan_in_targets(net):
    arch, W, x, y = net
    y = y.copy()
    y[4, 1] = np.nan
    y[5, 0] = np.inf
    _, cache = forward(arch, W, x)
    pattern = r"targets y contains NaN or inf: 2 non-finite value\(s\), first at index \(4, 1\) = nan"
    with pytest.raises(ValueError, match=pattern):
        backward(arch, W, cache, y)
    with pytest.raises(ValueError, match=pattern):
        sgd_epoch(arch, W, x, y, 0.1, 1, np.arange(6))


def test_wrong_target_shape(net):
    arch, W, x, y = net
    _, cache = forward(arch, W, x)
    with pytest.raises(ValueError, match=r"targets y \(N = 6, d\[L\] = 3\) has shape \(6, 10\), expected \(6, 3\)"):
        backward(arch, W, cache, np.zeros((6, 10)))
    with pytest.raises(ValueError, match=r"targets y \(N = 6, d\[L\] = 3\) has shape \(5, 3\), expected \(6, 3\)"):
        sgd_epoch(arch, W, x, y[:5], 0.1, 1, np.arange(6))


# --------------------------------------------------------------------------------------------
# Weights
# --------------------------------------------------------------------------------------------


def test_weight_matrix_of_the_wrong_shape(net):
    arch, W, x, _ = net
    W_bad = [None, W[1], np.zeros((4, 3))]  # missing the bias row
    with pytest.raises(ValueError, match=r"W\[2\] has shape \(4, 3\), expected \(5, 3\) = "
                                         r"\(d\[1\] \+ 1, d\[2\]\) for d = \(5, 4, 3\)"):
        forward(arch, W_bad, x)
    W_t = [None, np.ascontiguousarray(W[1].T), W[2]]  # transposed
    with pytest.raises(ValueError, match=r"W\[1\] has shape \(4, 6\), expected \(6, 4\)"):
        forward(arch, W_t, x)


def test_wrong_number_of_weight_matrices(net):
    arch, W, x, _ = net
    with pytest.raises(ValueError, match=r"expected 2 weight matrices W\[1\.\.2\] "
                                         r"\(list of 3 with W\[0\] = None\), got a list of 2"):
        forward(arch, W[:2], x)
    with pytest.raises(ValueError, match=r"expected 2 weight matrices .* got a list of 4"):
        check_weights(arch, W + [np.zeros((4, 2))])


def test_non_finite_or_mixed_dtype_weights(net):
    arch, W, x, _ = net
    W_nan = [None, W[1].copy(), W[2]]
    W_nan[1][3, 2] = np.nan
    with pytest.raises(ValueError, match=r"W\[1\] contains NaN or inf: 1 non-finite value\(s\), "
                                         r"first at index \(3, 2\) = nan"):
        forward(arch, W_nan, x)
    with pytest.raises(TypeError, match=r"all W\[l\] must share one dtype, got \['float32', 'float64'\]"):
        forward(arch, [None, W[1], W[2].astype(np.float32)], x)


# --------------------------------------------------------------------------------------------
# Names: activations and losses
# --------------------------------------------------------------------------------------------


def test_unknown_activation_name():
    with pytest.raises(ValueError, match=KNOWN_ACTIVATIONS):
        get_activation("softplus")
    with pytest.raises(ValueError, match=r"unknown activation 'Tanh'"):
        Architecture((3, 2, 1), hidden="Tanh")
    with pytest.raises(ValueError, match=r"unknown activation 'softmax'"):
        Architecture((3, 2, 1), output="softmax")
    with pytest.raises(ValueError, match=r"unknown activation None"):
        get_activation(None)
    with pytest.raises(ValueError, match=KNOWN_ACTIVATIONS):
        torch_activation("softplus")  # the twin rejects the same names


def test_unknown_loss():
    with pytest.raises(ValueError, match=r"unknown loss 'mse'; known losses: squared_error, cross_entropy"):
        Architecture((3, 2, 1), loss="mse")


def test_cross_entropy_needs_identity_output():
    with pytest.raises(ValueError, match=r"output activation must be 'identity', got 'sigmoid'"):
        Architecture((3, 2, 4), "tanh", "sigmoid", "cross_entropy")
    Architecture((3, 2, 4), "tanh", "identity", "cross_entropy")  # the allowed combination


def test_bad_layer_widths():
    with pytest.raises(ValueError, match=r"got \(3, 0, 2\)"):
        Architecture((3, 0, 2))
    with pytest.raises(ValueError, match=r"got \(3,\)"):
        Architecture((3,))


# --------------------------------------------------------------------------------------------
# Training through sign
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("hidden,output,where", [("sign", "tanh", "hidden"), ("tanh", "sign", "output")])
def test_training_through_sign_is_refused(hidden, output, where):
    arch, W, x, y = network_case((5, 4, 3), hidden, output, "squared_error", 6, np.float64, 0)
    pattern = rf"cannot train through the {where} activation 'sign': its derivative is 0 everywhere"
    _, cache = forward(arch, W, x)  # the forward pass itself is fine
    with pytest.raises(ValueError, match=pattern):
        backward(arch, W, cache, y)
    with pytest.raises(ValueError, match=pattern):
        sgd_epoch(arch, W, x, y, 0.1, 1, np.arange(6))
    with pytest.raises(ValueError, match=pattern):
        sgd_epoch_batch1(arch, [None] + [w.copy() for w in W[1:]], x, y, 0.1, np.arange(6))
    with pytest.raises(ValueError, match=pattern):
        FastBatch1Trainer(arch, W, x, y)


def test_a_single_layer_network_ignores_the_unused_hidden_activation():
    """With L = 1 there is no hidden layer, so hidden='sign' is never used and training works."""
    arch, W, x, y = network_case((5, 3), "sign", "tanh", "squared_error", 6, np.float64, 0)
    _, cache = forward(arch, W, x)
    _, G = backward(arch, W, cache, y)
    assert np.any(G[1] != 0)


# --------------------------------------------------------------------------------------------
# Learning rate, batch size, dtypes
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("eta", [0.0, -0.1, float("nan")])
def test_non_positive_learning_rate(net, eta):
    arch, W, x, y = net
    pattern = rf"learning rate eta must be > 0, got {eta}"
    with pytest.raises(ValueError, match=pattern):
        sgd_epoch(arch, W, x, y, eta, 1, np.arange(6))
    with pytest.raises(ValueError, match=pattern):
        sgd_epoch_batch1(arch, [None] + [w.copy() for w in W[1:]], x, y, eta, np.arange(6))
    arch_e = Architecture((5, 4, 3), "tanh", "sigmoid", "squared_error")
    trainer = FastBatch1Trainer(arch_e, W, x, y)
    with pytest.raises(ValueError, match=pattern):
        trainer.epoch(eta, np.arange(6))


@pytest.mark.parametrize("batch_size", [0, -3])
def test_batch_size_below_one(net, batch_size):
    arch, W, x, y = net
    with pytest.raises(ValueError, match=rf"batch_size must be >= 1, got {batch_size}"):
        sgd_epoch(arch, W, x, y, 0.1, batch_size, np.arange(6))
    with pytest.raises(ValueError, match=rf"batch_size must be >= 1, got {batch_size}"):
        list(mini_batches(np.arange(6), batch_size))


def test_float_dtype_mismatch_between_x_and_W(net):
    arch, W, x, y = net
    with pytest.raises(TypeError, match=r"input x is float32 but the weights are float64"):
        forward(arch, W, x.astype(np.float32))
    W32 = [None] + [w.astype(np.float32) for w in W[1:]]
    with pytest.raises(TypeError, match=r"input x is float64 but the weights are float32"):
        sgd_epoch(arch, W32, x, y.astype(np.float32), 0.1, 1, np.arange(6))


def test_target_dtype_mismatch_would_upcast(net):
    arch, W, x, y = net
    W32 = [None] + [w.astype(np.float32) for w in W[1:]]
    x32 = x.astype(np.float32)
    _, cache = forward(arch, W32, x32)
    with pytest.raises(TypeError, match=r"targets y are float64 but the network computes in float32"):
        backward(arch, W32, cache, y)
    with pytest.raises(TypeError, match=r"targets y are float64 but the network computes in float32"):
        sgd_epoch(arch, W32, x32, y, 0.1, 1, np.arange(6))
    with pytest.raises(TypeError, match=r"targets y are int64 but the network computes in float64"):
        sgd_epoch(arch, W, x, y.astype(np.int64), 0.1, 1, np.arange(6))


@pytest.mark.parametrize("dtype", [np.int64, np.uint8, np.float16, bool])
def test_non_float_input_arrays(net, dtype):
    arch, W, x, _ = net
    with pytest.raises(TypeError, match=rf"input x must be a float32 or float64 NumPy array, got {np.dtype(dtype)}"):
        forward(arch, W, (x * 10).astype(dtype))


def test_non_array_input_and_integer_weights(net):
    arch, W, x, _ = net
    with pytest.raises(TypeError, match=r"input x must be a float32 or float64 NumPy array, got list"):
        forward(arch, W, x.tolist())
    with pytest.raises(TypeError, match=r"W\[2\] must be a float32 or float64 NumPy array, got int64"):
        forward(arch, [None, W[1], W[2].astype(np.int64)], x)


def test_unknown_init_scheme_and_gain():
    arch = Architecture((3, 2))
    with pytest.raises(ValueError, match=r"unknown init scheme 'xavier'; known: lecun_normal, uniform, normal"):
        init_weights(arch, np.random.default_rng(0), "xavier")
    with pytest.raises(ValueError, match=r"init gain must be > 0, got -1.0"):
        init_weights(arch, np.random.default_rng(0), gain=-1.0)


def test_backward_refuses_an_empty_batch(net):
    # E_in = (1/N) sum_n e_n has no value at N = 0 (torch's mean is NaN too), so backward refuses
    # rather than return NaN (or zero) gradients; a trainer never forms an empty batch.
    arch, W, x, y = net
    _, cache = forward(arch, W, x[:0])
    with pytest.raises(ValueError, match=r"backward: empty batch \(N = 0\)"):
        backward(arch, W, cache, y[:0])
    with pytest.raises(ValueError, match=r"backward: empty batch \(N = 0\)"):
        backward(arch, W, cache, y[:0], check=False)
