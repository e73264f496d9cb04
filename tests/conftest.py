"""Shared fixtures: the real MNIST (loaded once per session) and the seed-mlp experiment."""

from __future__ import annotations

import os

# One BLAS/OpenMP thread unless the caller chose otherwise. Set before NumPy is first imported (this
# file is loaded first): on a small shared machine OpenBLAS's worker threads oversubscribe the cores.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import pytest  # noqa: E402

# Three tiers, by file (one table): unit (reference and framework against torch, no dataset: the fast tier,
# `./scripts/test --fast`), equivalence (whole networks, trajectories, the harness), integration (the rest:
# CLI, data, runner, Dask, reports, faces). Every test gets exactly one tier marker.
TIERS = {
    "unit": ("test_perceptron", "test_conv", "test_conv_study_examples", "test_pooling", "test_batchnorm",
             "test_dropout", "test_optim", "test_conventions", "test_reproduce_rule"),
    "equivalence": ("test_mlp_equivalence", "test_cnn", "test_trajectory", "test_equivalence_harness",
                    "test_fast_paths", "test_cosface", "test_fast_cnn", "test_metric_heads"),
}


def tier_of(module: str) -> str:
    return next((t for t, files in TIERS.items() if module in files), "integration")


def pytest_collection_modifyitems(config, items):
    for item in items:
        item.add_marker(getattr(pytest.mark, tier_of(item.path.stem)))


@pytest.fixture(scope="session")
def mnist_data():
    """The real MNIST as experiments.data.mnist.load_mnist returns it (verified against its SHA-256)."""
    from experiments.data.mnist import load_mnist

    return load_mnist()


@pytest.fixture(scope="session")
def mnist():
    """The real MNIST as the experiments see it: experiments.data.load('mnist') (train_x, train_y, ...)."""
    from experiments.data import load

    return load("mnist")


@pytest.fixture(scope="session")
def seed_mlp():
    """The committed seed-mlp experiment (experiments/configs/seed-mlp.toml), validated."""
    from experiments.config import get_experiment

    return get_experiment("seed-mlp")


@pytest.fixture
def small_mlp_run(seed_mlp):
    """A factory for a tiny MLP setting: (cfg, data, W0, order) of seed-mlp's hidden-sigmoid variant with
    `layers` and overrides (validated as a TOML value would be), on N random [0,1] images with one-hot
    targets, and epoch 1's sample order."""
    import numpy as np

    from experiments.mnist import mlp
    from experiments.mnist.mlp_engines import MLPData

    def make(N: int, layers: list, seed: int = 3, impl: str = "numpy", **overrides):
        cfg = mlp.validate("test", {**seed_mlp.runs["hidden-sigmoid"], "layers": layers, "impl": impl, **overrides})
        rng = np.random.default_rng(seed)
        data = MLPData(X_train=rng.random((N, 784)), Y_train=np.eye(10)[rng.integers(0, 10, N)],
                       X_test=rng.random((5, 784)), labels_train=rng.integers(0, 10, N),
                       labels_test=rng.integers(0, 10, 5))
        return cfg, data, mlp.initial_weights(cfg, 0), mlp.order_for(0, 1, N, True)

    return make


class Stopped(Exception):
    """A run killed on purpose by the stop_after fixture (as a power cut would, after a checkpoint)."""


@pytest.fixture
def stop_after(monkeypatch):
    """stop_after(e): the next training to write the checkpoint of epoch e is killed right after it (once)."""
    from experiments import train

    def arm(epoch: int):
        real, fired = train.save_checkpoint, []

        def save(path, snapshot, e, curve, run_id, seconds):
            real(path, snapshot, e, curve, run_id, seconds)
            if e == epoch and not fired:
                fired.append(e)
                raise Stopped(f"stopped after epoch {e}")
        monkeypatch.setattr(train, "save_checkpoint", save)
    return arm


class Killed(Exception):
    """A toy run killed on purpose at the start of an epoch."""


class ToyEngine:
    """The Engine interface at its smallest, for the training loop's tests: adds 1 to its weight each epoch and
    records the epochs it trained; killed at the start of epoch `kill_at`; its loss is non-finite from epoch
    `bad` on (as a diverging network's is)."""

    name = "toy"
    Killed = Killed

    def __init__(self, kill_at: int = 0, bad: int | None = None, accuracy: float = 0.5):
        import numpy as np

        self.w, self.trained, self.kill_at, self.bad, self.acc = np.zeros(3), [], kill_at, bad, accuracy

    def epoch(self, order, epoch):
        if epoch == self.kill_at:
            raise Killed(f"killed in epoch {epoch}")
        self.trained.append(epoch)
        self.w = self.w + 1.0
        return float("inf") if self.bad is not None and epoch >= self.bad else 1.0 / epoch

    def accuracy(self):
        return self.acc

    def snapshot(self):
        return {"w": self.w.copy()}

    def restore(self, snap):
        self.w = snap["w"].copy()


@pytest.fixture
def toy_engine():
    """The ToyEngine class (its exception as toy_engine.Killed)."""
    return ToyEngine
