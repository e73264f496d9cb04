"""Face CNN rows of python -m experiments bench (results/bench.csv): one training epoch of the orl-faces CNN
(10 steps of 20 augmented 28 x 23 faces: forward, backward, Nesterov SGD with weight decay), the NumPy
reference against the same network in PyTorch eager (nn.Conv2d, nn.BatchNorm2d, nn.Dropout, ...,
torch.optim.SGD), float32, one thread each, the same pre-augmented batches; and the peak memory of one
NumPy training step (tracemalloc: allocations during forward, backward and update). Times are medians
over `repeats` epochs after one warm-up epoch."""

from __future__ import annotations

import tracemalloc

import numpy as np

from experiments.bench.timer import SEED, median_time
from experiments.threads import pin


def setup(quick: bool):
    """(cfg, NumPy engine, its batches of epoch 1) of orl-faces' base run on split SEED."""
    from experiments.config import get_experiment
    from experiments.faces import kind
    from experiments.train import order_for

    cfg = get_experiment("orl-faces").runs["base"]
    if quick:
        cfg = kind.quick(cfg)
    x, y = kind.load_faces(cfg)
    train, test = kind.identification_indices(cfg, y, SEED)
    engine = kind.numpy_engine(cfg, SEED, kind.face_data(cfg, x, y, train, test))
    batches = list(engine.batches(order_for(SEED, 1, len(train)), 1))
    return cfg, engine, batches


def torch_model(engine):
    """The same network as plain torch modules (the twin's layers, with nn.Dropout drawing its own masks)."""
    from torch import nn

    from framework.cnn import build_twin
    from framework.layers import DropoutTwin

    twin = build_twin(engine.model, engine.params, engine.state)
    return nn.Sequential(*[nn.Dropout(m.p) if isinstance(m, DropoutTwin) else m for m in twin])


def rows(quick: bool = False, repeats: int = 5) -> list[dict]:
    import torch

    from framework.cnn import twin_loss

    threads = pin(1)
    cfg, engine, batches = setup(quick)
    lr = engine.lr_at(1)
    xs = [np.ascontiguousarray(x) for x, _, _ in batches]
    ys = [y for _, y, _ in batches]
    drop = np.random.default_rng([SEED, 3, 1])

    def numpy_epoch():
        for x, y in zip(xs, ys):
            engine.step(x, y, drop, lr)

    model = torch_model(engine).train()
    loss = twin_loss(engine.model)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=cfg["momentum"], nesterov=cfg["nesterov"],
                          weight_decay=cfg["weight_decay"])
    txs = [torch.from_numpy(x) for x in xs]
    tys = [torch.from_numpy(np.asarray(y, dtype=np.int64)) for y in ys]

    def torch_epoch():
        for x, y in zip(txs, tys):
            opt.zero_grad(set_to_none=True)
            loss(model(x), y).backward()
            opt.step()

    t_np = median_time(numpy_epoch, repeats, warmup=True)
    t_t = median_time(torch_epoch, repeats, warmup=True)
    name = (f"orl-faces cnn (3 conv blocks 16/32/64 + batch norm, dropout, dense to 40) one epoch: {len(xs)} steps "
            f"batch {cfg['batch_size']} on 28x23")
    note = f"nesterov sgd + weight decay; same pre-augmented batches; reference/torch = {t_np / t_t:.2f}x; {threads}"
    out = [{"benchmark": name, "impl": impl, "dtype": cfg["dtype"], "threads": 1, "median_s": t, "repeats": repeats,
            "unit": "seconds per epoch", "notes": note} for impl, t in (("numpy-reference", t_np), ("torch", t_t))]
    tracemalloc.start()
    engine.step(xs[0], ys[0], drop, lr)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    out.append({"benchmark": f"orl-faces cnn one training step batch {cfg['batch_size']} peak memory",
                "impl": "numpy-reference", "dtype": cfg["dtype"], "threads": 1, "median_s": float("nan"),
                "repeats": 1, "unit": "MB", "peak_mem_mb": peak / 2**20,
                "notes": "tracemalloc peak of allocations during forward+backward+update (parameters, optimizer "
                         "buffers and batch allocated before are not counted)"})
    return [{**r, "quick": quick} for r in out]
