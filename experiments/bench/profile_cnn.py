"""Profiles of one LeNet epoch and one face-CNN epoch (float32, one thread), for the fast path's issue note.

python -m experiments.bench.profile_cnn [reference|fast] [lenet|faces] [steps]: cProfile's top entries by own time.
"""

from __future__ import annotations

import cProfile
import pstats
import sys

import numpy as np

from experiments.threads import pin


def lenet_epoch(path: str, steps: int):
    """A function running `steps` LeNet SGD steps at batch 64 on MNIST through the NumPy engine of `path`."""
    from experiments.bench.cnn import BATCH, _mnist
    from experiments.engines.sequential import SEQUENTIAL_ENGINES, ImageData
    from experiments.kinds.cnn import order_for
    from reference import optim
    from reference import sequential as seq

    X, y = _mnist("float32", steps * BATCH)
    model = seq.lenet()
    p0, s0 = model.init(0, np.float32)
    engine = SEQUENTIAL_ENGINES["numpy"](model, p0, s0, ImageData(X, y, X[:0], y[:0]), optim.SGD(),
                                         lambda e: 0.05, BATCH)
    if path == "fast":
        from experiments.engines.fast import fast
        engine.model = fast(model)
    order = order_for(0, 1, len(y))
    return lambda: engine.epoch(order, 1)


def faces_epoch(path: str, steps: int):
    """A function running one face-CNN epoch (the orl-faces base run, 10 steps of 20) `steps // 10` times."""
    from experiments.faces import bench

    _, engine, batches = bench.setup(False)
    if path == "fast":
        from experiments.engines.fast import fast
        engine.model = fast(engine.model)
    drop = np.random.default_rng(0)

    def run():
        for _ in range(max(1, steps // len(batches))):
            for x, y, _ in batches:
                engine.step(x, y, drop, 0.05)
    return run


def main(argv: list[str]) -> None:
    path, which = (argv + ["reference", "lenet"])[:2]
    steps = int(argv[2]) if len(argv) > 2 else 200
    pin(1)
    fn = (lenet_epoch if which == "lenet" else faces_epoch)(path, steps)
    fn()  # warm-up (numba compiles, caches)
    prof = cProfile.Profile()
    prof.enable()
    fn()
    prof.disable()
    pstats.Stats(prof).sort_stats("tottime").print_stats(18)


if __name__ == "__main__":
    main(sys.argv[1:])
