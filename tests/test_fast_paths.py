"""The two fast batch-1 trainers against the readable reference, step for step on real MNIST.

- reference.sgd_fast.sgd_epoch_batch1 (NumPy, in place, skips zero inputs in layer 1),
- experiments.mnist.compiled_mlp.FastBatch1Trainer (numba, its own copy of W in trainer.W),
- reference.gradient_descent.sgd_epoch with batch_size=1 (the readable study algorithm).

The three differ only in the order of the additions inside s[1] (and numba's loops), so from the same
W and sample order they agree to rounding: measured ~1e-15 over 1,000 steps for these stable
configurations; the tests hold them to 1e-12 at every 100th step.
"""

from __future__ import annotations

import numpy as np
import pytest

from experiments.mnist.compiled_mlp import FastBatch1Trainer
from experiments.mnist.mlp_engines import CompiledMLP, MLPData, NumpyMLP, TorchMLP, mlp_engine
from reference.gradient_descent import sgd_epoch
from reference.network import Architecture, copy_weights, init_weights
from reference.sgd_fast import sgd_epoch_batch1, sparse_rows

STEPS, EVERY, TOL = 1000, 100, 1e-12
D = (784, 128, 64, 10)


@pytest.fixture(scope="module")
def mnist_1000(mnist):
    X = mnist.train_x[:STEPS].reshape(STEPS, -1).astype(np.float64) / 255.0
    Y = np.eye(10)[mnist.train_y[:STEPS]]
    return X, Y


def max_diff(A: list, B: list) -> float:
    return max(float(np.abs(a - b).max()) for a, b in zip(A[1:], B[1:]))


@pytest.mark.parametrize("hidden,output,loss,lr", [
    ("tanh", "tanh", "squared_error", 0.01),
    ("sigmoid", "sigmoid", "squared_error", 0.1),
    ("sigmoid", "identity", "cross_entropy", 0.1),
    ("relu", "identity", "cross_entropy", 0.05),
])
def test_fast_paths_follow_the_readable_reference_step_for_step(mnist_1000, hidden, output, loss, lr):
    X, Y = mnist_1000
    arch = Architecture(D, hidden, output, loss)
    W0 = init_weights(arch, np.random.default_rng(0))
    order = np.random.default_rng(1).permutation(STEPS)
    W_readable = copy_weights(W0)
    W_inplace = copy_weights(W0)
    trainer = FastBatch1Trainer(arch, W0, X, Y)
    assert all(not np.shares_memory(trainer.W[l], W0[l]) for l in range(1, arch.L + 1))
    rows = sparse_rows(X)
    history = []
    for start in range(0, STEPS, EVERY):
        chunk = order[start : start + EVERY]
        W_readable, loss_r = sgd_epoch(arch, W_readable, X, Y, lr, 1, chunk)
        loss_i = sgd_epoch_batch1(arch, W_inplace, X, Y, lr, chunk, rows=rows)
        loss_c = trainer.epoch(lr, chunk)
        d_inplace, d_compiled = max_diff(W_readable, W_inplace), max_diff(W_readable, trainer.W)
        history.append((start + EVERY, d_inplace, d_compiled))
        assert d_inplace < TOL and d_compiled < TOL, f"max |W_readable - W_fast| by step: {history}"
        # the mean E_in of the chunk is the same number on all three paths
        np.testing.assert_allclose([loss_i, loss_c], loss_r, rtol=1e-10)
    # the agreement is not trivial: the weights moved far more than the tolerance
    assert max_diff(W_readable, W0) > 1e-2
    # and the in-place path really wrote into the W it was given; the compiled one left W0 alone
    assert max_diff(W_inplace, W0) > 1e-2
    assert max_diff(W0, init_weights(arch, np.random.default_rng(0))) == 0.0


def test_tanh_at_learning_rate_0_1_is_chaotic_so_it_is_not_used_for_step_for_step_checks(mnist_1000):
    """At lr 0.1 the tanh/tanh squared-error network amplifies any rounding difference exponentially.

    The readable reference against *itself*, started from weights that differ by 1e-15 in one entry,
    is already apart by more than 1e-6 after 100 steps; at lr 0.01 the same perturbation stays at
    rounding level. So diverging trajectories at lr 0.1 say nothing about an implementation.
    """
    X, Y = mnist_1000
    arch = Architecture(D, "tanh", "tanh", "squared_error")
    W0 = init_weights(arch, np.random.default_rng(0))
    W0_perturbed = copy_weights(W0)
    W0_perturbed[3][0, 0] += 1e-15
    order = np.random.default_rng(1).permutation(STEPS)[:100]
    gaps = {}
    for lr in (0.01, 0.1):
        A, _ = sgd_epoch(arch, W0, X, Y, lr, 1, order)
        B, _ = sgd_epoch(arch, W0_perturbed, X, Y, lr, 1, order)
        gaps[lr] = max_diff(A, B)
    assert gaps[0.01] < 1e-13, gaps
    assert gaps[0.1] > 1e-6, gaps


def test_compiled_trainer_rejects_what_it_cannot_run(mnist_1000):
    X, Y = mnist_1000
    arch = Architecture(D, "sigmoid", "sigmoid", "squared_error")
    W32 = init_weights(arch, np.random.default_rng(0), dtype=np.float32)
    with pytest.raises(TypeError, match="float64 only, got float32"):
        FastBatch1Trainer(arch, W32, X[:5].astype(np.float32), Y[:5].astype(np.float32))
    trainer = FastBatch1Trainer(arch, init_weights(arch, np.random.default_rng(0)), X[:5], Y[:5])
    with pytest.raises(ValueError, match="eta must be > 0, got 0"):
        trainer.epoch(0.0, np.arange(5))


def test_numpy_engine_choice_and_the_compiled_engine_through_the_engine_interface(mnist_1000):
    """mlp_engine picks the compiled kernel exactly where it applies (batch size 1, float64); through
    the Engine interface (epoch, snapshot, restore) it follows the readable engine, and restoring a
    snapshot sets the live weights the kernel trains."""
    assert mlp_engine("numpy", 1, "float64") is CompiledMLP
    assert mlp_engine("numpy", 1, "float32") is NumpyMLP and mlp_engine("numpy", 32, "float64") is NumpyMLP
    assert mlp_engine("torch", 1, "float64") is TorchMLP
    with pytest.raises(ValueError, match="impl must be 'numpy' or 'torch', got 'jax'"):
        mlp_engine("jax", 1, "float64")
    X, Y = mnist_1000
    labels = Y.argmax(1)
    data = MLPData(X_train=X, Y_train=Y, X_test=X[:200], labels_train=labels, labels_test=labels[:200])
    arch = Architecture(D, "sigmoid", "sigmoid", "squared_error")
    W0 = init_weights(arch, np.random.default_rng(0))
    readable, compiled = NumpyMLP(arch, W0, data, 0.1, 1), CompiledMLP(arch, W0, data, 0.1, 1)
    with pytest.raises(ValueError, match="batch size 1 only, got 4"):
        CompiledMLP(arch, W0, data, 0.1, 4)
    order = np.random.default_rng(1).permutation(STEPS)
    start = compiled.snapshot()
    for e in (1, 2):
        assert compiled.epoch(order, e) == pytest.approx(readable.epoch(order, e), rel=1e-10)
        assert max_diff(snapshot_list(compiled), snapshot_list(readable)) < TOL
    assert compiled.accuracy() == readable.accuracy()
    compiled.restore(start)
    assert max_diff(snapshot_list(compiled), W0) == 0.0
    assert max_diff(compiled.fast.W, W0) == 0.0  # the kernel's own weights were set back


def snapshot_list(engine) -> list:
    snap = engine.snapshot()
    return [None] + [snap[f"W{l}"] for l in range(1, len(snap) + 1)]


@pytest.mark.parametrize("units", [1, 5, 8, 13, 64, 128])
def test_back_signals_eight_at_a_time_are_each_summed_in_order(units):
    """The compiled back-signals, eight sums at a time, equal sums taken one at a time in order j = 0, 1, ...
    bit for bit (the tail of units % 8 included)."""
    from experiments.mnist.compiled_mlp import _back_signals

    rng = np.random.default_rng(units)
    w, dl = rng.normal(size=(units + 1, 10)), rng.normal(size=10)
    out = np.full(units, np.nan)
    _back_signals(w, dl, units, out)
    want = np.empty(units)
    for i in range(units):
        acc = 0.0
        for j in range(10):
            acc += float(w[i + 1, j]) * float(dl[j])
        want[i] = acc
    assert out.tobytes() == want.tobytes()
