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
