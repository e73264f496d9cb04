"""Face-CNN rows of the fast CNN path for python -m experiments bench: one epoch, fast vs torch eager vs reference.

One training epoch of orl-faces' base run (10 steps of 20 augmented 28 x 23 faces, Nesterov SGD with weight
decay, float32), the three implementations on the same pre-augmented batches, interleaved
(experiments/bench/fast_cnn.py); and the tracemalloc peak of one fast training step.
"""

from __future__ import annotations

import numpy as np

from experiments.bench.fast_cnn import interleaved, peak_of, row
from experiments.bench.timer import SEED
from experiments.threads import pin


def face_epoch_calls(quick: bool) -> tuple[dict, int, int, str]:
    """({impl: one face-CNN epoch}, steps, batch size, dtype) on orl-faces' base run's pre-augmented batches."""
    import torch

    from experiments.engines.fast import fast
    from experiments.faces import bench as faces
    from framework.cnn import twin_loss

    cfg, engine, batches = faces.setup(quick)
    _, fast_engine, _ = faces.setup(quick)
    fast_engine.model = fast(fast_engine.model)
    lr, drop = engine.lr_at(1), np.random.default_rng([SEED, 3, 1])
    xs = [np.ascontiguousarray(x) for x, _, _ in batches]
    ys = [y for _, y, _ in batches]
    model, loss = faces.torch_model(engine).train(), twin_loss(engine.model)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=cfg["momentum"], nesterov=cfg["nesterov"],
                          weight_decay=cfg["weight_decay"])
    txs, tys = [torch.from_numpy(x) for x in xs], [torch.from_numpy(np.asarray(y, dtype=np.int64)) for y in ys]

    def numpy_epoch(e):
        for x, y in zip(xs, ys):
            e.step(x, y, drop, lr)

    def torch_epoch():
        for x, y in zip(txs, tys):
            opt.zero_grad(set_to_none=True)
            loss(model(x), y).backward()
            opt.step()

    calls = {"fast": lambda: numpy_epoch(fast_engine), "numpy-reference": lambda: numpy_epoch(engine),
             "torch": torch_epoch}
    return calls, len(xs), cfg["batch_size"], cfg["dtype"]


def memory_row() -> dict:
    from experiments.engines.fast import fast
    from experiments.faces import bench as faces

    cfg, engine, batches = faces.setup(False)
    engine.model = fast(engine.model)
    x, y, _ = batches[0]
    drop = np.random.default_rng(SEED)
    return {"benchmark": f"orl-faces cnn one training step batch {cfg['batch_size']} peak memory", "impl": "fast",
            "dtype": cfg["dtype"], "threads": 1, "median_s": float("nan"), "repeats": 1, "unit": "MB",
            "peak_mem_mb": peak_of(lambda: engine.step(x, y, drop, 0.05)),
            "notes": "tracemalloc peak of allocations during forward+backward+update (parameters, optimizer "
                     "buffers and batch allocated before are not counted)"}


def rows(quick: bool = False, repeats: int = 5) -> list[dict]:
    """The face-CNN epoch row (three implementations) and the fast step's peak memory."""
    threads = pin(1)
    calls, steps, batch, dtype = face_epoch_calls(quick)
    faults = {}
    t = interleaved(calls, repeats, faults=faults)
    out = row(f"orl-faces cnn one epoch: {steps} steps batch {batch} on 28x23", dtype, t, repeats,
              "seconds per epoch", f"nesterov sgd + weight decay; same pre-augmented batches; {threads}",
              faults=faults)
    return [{**r, "quick": quick} for r in out + [memory_row()]]


def profile_target(path: str, steps: int):
    """A function running orl-faces' base epoch (10 steps of 20) steps // 10 times on the NumPy path `path`."""
    calls = face_epoch_calls(False)[0]
    epoch = calls["fast" if path == "fast" else "numpy-reference"]

    def run():
        for _ in range(max(1, steps // 10)):
            epoch()
    return run
