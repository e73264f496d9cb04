"""Shared fixtures: the real MNIST (loaded once per session) and the seed-mlp experiment."""

from __future__ import annotations

import os

# One BLAS/OpenMP thread unless the caller chose otherwise. Set before NumPy is first imported (this
# file is loaded first). On a small machine shared with long experiment runs, OpenBLAS's worker
# threads oversubscribe the cores: a 200-step batch-32 trajectory took 9 s with 2 threads and
# 1.5 s with 1. Results do not depend on it beyond rounding.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def mnist_data():
    """The real MNIST (experiments.mnist.load_mnist: verified against its SHA-256), once per session."""
    from experiments.mnist import load_mnist

    return load_mnist()


@pytest.fixture(scope="session")
def seed_mlp():
    """The committed seed-mlp experiment (experiments/configs/seed-mlp.toml), validated."""
    from experiments.config import all_experiments

    return all_experiments()["seed-mlp"]


@pytest.fixture
def small_mlp_run(seed_mlp):
    """A factory for a tiny runner setting: (cfg, data, W0, order) of seed-mlp's hidden-sigmoid variant
    with `layers` and overrides, on N random [0,1] images with one-hot targets, epoch 1's order."""
    import numpy as np

    from experiments import mlp_run, runner

    def make(N: int, layers: list, seed: int = 3, impl: str = "numpy", **overrides):
        (spec,) = runner.plan(seed_mlp, [impl], seeds=[0], variants=["hidden-sigmoid"])
        cfg = dict(spec.cfg, layers=layers, **overrides)
        rng = np.random.default_rng(seed)
        data = mlp_run.Data(X_train=rng.random((N, 784)), Y_train=np.eye(10)[rng.integers(0, 10, N)],
                            X_test=rng.random((5, 784)), labels_train=rng.integers(0, 10, N), labels_test=rng.integers(0, 10, 5))
        return cfg, data, mlp_run.initial_weights(cfg, 0), mlp_run.order_for(0, 1, N, True)

    return make
