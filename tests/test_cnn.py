"""The sequential CNN (reference/sequential.py) against its PyTorch twin (framework/cnn.py).

Forward output, loss, every parameter gradient and the input gradient, three ways (twin autograd,
our backward, central differences), on real MNIST images and on a small CNN with every layer kind;
and a 200-step SGD trajectory on MNIST from identical weights and order, within 1e-8 in float64.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from experiments.equivalence.check import CD_ATOL, CD_RTOL, tolerances
from experiments.mnist import equivalence_cnn as eq
from experiments.mnist.trajectories import CNN_ATOL, cnn_trajectory, flat_params
from framework import cnn as tcnn
from framework.optim import torch_optimizer
from reference import flatten, optim
from reference import sequential as seq


@pytest.fixture(scope="module")
def mnist8():
    return eq.mnist_batch(8, np.float64)


def assert_all_close(ours: dict, theirs: dict, dtype, depth: int):
    rtol, atol = tolerances(dtype, depth)
    assert set(ours) == set(theirs)
    for q in theirs:
        assert ours[q].shape == theirs[q].shape, q
        np.testing.assert_allclose(ours[q], theirs[q], rtol=rtol, atol=atol, err_msg=q)


@pytest.mark.parametrize("hidden", [None, 32])
def test_lenet_matches_twin_on_mnist_float64(mnist8, hidden):
    x, labels = mnist8
    model = seq.lenet(hidden)
    params = eq.randomised(model, 0, np.float64)
    ours, theirs = eq.cnn_ours(model, params, x, labels), eq.cnn_torch(model, params, x, labels)
    # Raw MNIST: tied maxima make the input gradient implementation-defined (see
    # experiments/equivalence_cnn.py); the parameter gradients do not depend on the tie choice.
    del ours["input_grad"], theirs["input_grad"]
    expected = {"output", "loss"} | {f"grad {l.name}.{k}" for l in model.layers
                                     for k in l.init(np.random.default_rng(0), np.float64)[0]}
    assert set(theirs) == expected
    assert_all_close(ours, theirs, np.float64, len(model.layers))
    xj = x + 0.01 * np.random.default_rng(2).normal(size=x.shape)
    assert_all_close(eq.cnn_ours(model, params, xj, labels), eq.cnn_torch(model, params, xj, labels),
                     np.float64, len(model.layers))


def test_lenet_matches_twin_float32(mnist8):
    x, labels = mnist8
    x = (x + 0.01 * np.random.default_rng(2).normal(size=x.shape)).astype(np.float32)
    model = seq.lenet()
    params = eq.randomised(model, 0, np.float32)
    ours = eq.cnn_ours(model, params, x, labels)
    assert all(v.dtype == np.float32 for v in ours.values())
    assert_all_close(ours, eq.cnn_torch(model, params, x, labels), np.float32, len(model.layers))


def test_small_cnn_with_every_layer_kind_three_ways():
    model = eq.with_head(eq.small_cnn(), (3, 2, 7, 6))
    rng = np.random.default_rng(1)
    x, labels = rng.normal(size=(3, 2, 7, 6)), rng.integers(0, 10, 3)
    params = eq.randomised(model, 1, np.float64)
    ours = eq.cnn_ours(model, params, x, labels)
    assert_all_close(ours, eq.cnn_torch(model, params, x, labels), np.float64, len(model.layers))
    cd = eq.cnn_central(model, params, x, labels)
    for q in cd:
        np.testing.assert_allclose(ours[q], cd[q], rtol=CD_RTOL, atol=CD_ATOL, err_msg=q)


def test_loss_and_grads_is_cross_entropy_mean_and_matches_backward(mnist8):
    x, labels = mnist8
    model = seq.lenet()
    params = eq.randomised(model, 3, np.float64)
    state = [{} for _ in model.layers]
    E, grads, s_L, new_state = model.loss_and_grads(x, labels, params, state)
    Et, gt, st, _ = tcnn.loss_and_grads(tcnn.build_twin(model, params), model, x, labels)
    assert abs(E - Et) <= 1e-12 * abs(Et)
    assert new_state == state
    np.testing.assert_allclose(s_L, st, rtol=1e-10, atol=1e-12)
    for g, h in zip(grads, gt):
        for k in h:
            np.testing.assert_allclose(g[k], h[k], rtol=1e-10, atol=1e-12)


def test_relu_exactly_at_zero_has_derivative_zero_like_torch():
    # Zero images and zero biases: every first-layer signal is exactly 0, so ReLU'(0) decides.
    model = seq.lenet()
    params, _ = model.init(0)
    x = np.zeros((2, 1, 28, 28))
    ours = eq.cnn_ours(model, params, x, np.array([3, 7]))
    theirs = eq.cnn_torch(model, params, x, np.array([3, 7]))
    np.testing.assert_array_equal(ours["grad conv1.K"], 0.0)
    np.testing.assert_array_equal(theirs["grad conv1.K"], 0.0)
    assert_all_close(ours, theirs, np.float64, len(model.layers))


def test_trajectory_200_sgd_steps_on_mnist_stays_within_1e_8():
    X, y = eq.mnist_images(np.float64)
    diffs = cnn_trajectory(steps=200, batch_size=16, lr=0.05, data=(X[:3200], y[:3200]))
    assert diffs.shape == (201,)
    assert diffs[0] == 0.0
    print(f"per-step max parameter difference: max {diffs.max():.3e}, last {diffs[-1]:.3e}")
    assert diffs.max() <= CNN_ATOL, np.argmax(diffs > CNN_ATOL)


def test_trajectory_detects_a_wrong_update():
    # The trajectory check is not vacuous: a twin trained with a different learning rate drifts away.
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(64, 1, 28, 28)), rng.integers(0, 10, 64)
    model = seq.lenet()
    params, state = model.init(0)
    twin = tcnn.build_twin(model, params)
    _, grads, _, _ = model.loss_and_grads(X[:16], y[:16], params, state)
    optim.SGD().step(params, grads, optim.SGD().init(params), 0.05)
    tcnn.loss_and_grads(twin, model, X[:16], y[:16])
    torch_optimizer(optim.SGD(), twin, 0.05 * (1 + 1e-6)).step()
    assert np.max(np.abs(flat_params(params) - flat_params(tcnn.twin_params(twin, model)))) > CNN_ATOL * 1e-3


# ---------------------------------------------------------------------------------------------
# Model pieces
# ---------------------------------------------------------------------------------------------

def test_lenet_shapes_and_init():
    model = seq.lenet()
    p, state = model.init(0)
    assert state == [{}] * len(model.layers)
    assert [tuple(v.shape) for d in p for v in d.values()] == [(8, 1, 5, 5), (8,), (16, 8, 5, 5), (16,), (257, 10)]
    s_L, caches, new_state = model.forward(np.zeros((2, 1, 28, 28)), p, state, train=True)
    assert s_L.shape == (2, 10) and len(caches) == len(model.layers) and new_state == state
    q, _ = model.init(0)
    for a, b in zip(p, q):
        for k in a:
            np.testing.assert_array_equal(a[k], b[k])  # seeded: same seed, same weights
    assert not np.array_equal(model.init(1)[0][0]["K"], p[0]["K"])
    # a Generator is drawn from as is: the same draws as its seed
    np.testing.assert_array_equal(model.init(np.random.default_rng(0))[0][0]["K"], p[0]["K"])
    # He initialisation: std sqrt(2 / fan_in) (fan_in = 8 * 5 * 5 for conv2); biases 0
    big, big_state = seq.Conv2d(8, 400, 5).init(np.random.default_rng(0), np.float64)
    assert abs(big["K"].std() / np.sqrt(2 / 200) - 1) < 0.02 and big_state == {}
    assert not big["b"].any() and not p[-1]["W"][0].any()
    assert model.init(0, np.float32)[0][0]["K"].dtype == np.float32


@pytest.mark.parametrize("shape, width", [((1, 28, 28), 256), ((3, 32, 30), 16 * 5 * 4), ((2, 16, 17), 16)])
def test_lenet_flatten_width_follows_the_input_shape(shape, width):
    model = seq.lenet(hidden=7, input_shape=shape, classes=4)
    assert model.layers[0].c_in == shape[0]
    dense1 = next(l for l in model.layers if l.name == "dense1")
    assert dense1.d_in == width and model.layers[-1].d_out == 4
    p, s = model.init(0)
    assert model.forward(np.zeros((2,) + shape), p, s, train=False)[0].shape == (2, 4)
    with pytest.raises(ValueError, match=r"lenet: input \(C, H, W\) = \(1, 15, 28\) is too small"):
        seq.lenet(input_shape=(1, 15, 28))


def test_first_layer_skips_the_input_gradient_only_when_asked():
    model = seq.lenet()
    p, s = model.init(0)
    _, caches, _ = model.forward(np.random.default_rng(0).normal(size=(2, 1, 28, 28)), p, s, train=True)
    ds = np.random.default_rng(1).normal(size=(2, 10))
    dx_none, g_none = model.backward(ds, caches, need_input_grad=False)
    dx, g = model.backward(ds, caches)
    assert dx_none is None and dx.shape == (2, 1, 28, 28)
    for a, b in zip(g_none, g):
        for k in b:
            np.testing.assert_array_equal(a[k], b[k])


def test_sgd_update_and_predict():
    model = seq.lenet()
    p, s = model.init(0)
    g = [{k: np.full_like(v, 0.25) for k, v in d.items()} for d in p]
    before = p[0]["K"].copy()
    opt_state = optim.SGD().step(p, g, optim.SGD().init(p), 0.5)
    np.testing.assert_array_equal(p[0]["K"], before - 0.5 * 0.25)
    assert opt_state["step"] == 1
    x = np.random.default_rng(0).normal(size=(5, 1, 28, 28))
    np.testing.assert_array_equal(model.predict(x, p, s, batch_size=2),
                                  np.argmax(model.forward(x, p, s, train=False)[0], axis=1))


def test_every_layer_type_has_a_registered_twin():
    from framework.layers import TWINS, twin_of

    kinds = {v for v in vars(seq).values() if isinstance(v, type) and hasattr(v, "forward")
             and v not in (seq.Sequential, seq.Stateless, seq.BatchNorm)}
    assert kinds <= set(TWINS), kinds - set(TWINS)
    with pytest.raises(TypeError, match="no torch twin registered for layer"):
        twin_of(object())


def test_flatten_matches_nn_flatten_order():
    x = np.arange(2 * 3 * 4 * 5, dtype=np.float64).reshape(2, 3, 4, 5)
    y, cache = flatten.forward(x)
    np.testing.assert_array_equal(y, torch.nn.Flatten()(torch.from_numpy(x)).numpy())
    assert y[1, (2 * 4 + 3) * 5 + 4] == x[1, 2, 3, 4]
    dy = np.random.default_rng(0).normal(size=y.shape)
    np.testing.assert_array_equal(flatten.backward(dy, cache)[0], dy.reshape(x.shape))
    with pytest.raises(ValueError, match=r"flatten: upstream gradient has shape \(2, 59\), expected \(2, 60\)"):
        flatten.backward(dy[:, 1:], cache)
    with pytest.raises(ValueError, match="batch axis"):
        flatten.forward(np.zeros(3))


def test_model_errors_are_clear():
    model = seq.lenet()
    p, s = model.init(0)
    with pytest.raises(ValueError, match="model has 8 layers but 7 parameter dicts"):
        model.forward(np.zeros((1, 1, 28, 28)), p[:-1], s, train=True)
    with pytest.raises(ValueError, match="model has 8 layers but 7 state dicts"):
        model.forward(np.zeros((1, 1, 28, 28)), p, s[:-1], train=True)
    with pytest.raises(ValueError, match="cannot be trained"):
        seq.Activation("sign")
    with pytest.raises(ValueError,
                       match=r"labels must be a 1-D array of integers in 0..9, got shape \(2,\), range 0..10"):
        seq.one_hot(np.array([0, 10]), 10, np.float64)
    with pytest.raises(ValueError, match=r"dense1: input has shape \(1, 64\), expected \(N, 256\)"):
        model.forward(np.zeros((1, 1, 20, 20)), p, s, train=True)
    with pytest.raises(ValueError, match=r"conv1: input has 3 channels but the kernel expects 1"):
        model.forward(np.zeros((1, 3, 28, 28)), p, s, train=True)
