"""Rows of the fast CNN path (experiments/engines/fast) for python -m experiments bench: fast vs torch eager.

Every row times three implementations in one process, one thread each, their repeats interleaved
(round robin, after one warm-up call each) and reports medians: the fast path, the readable reference
(reference/) and PyTorch eager (F.conv2d / nn.BatchNorm2d / F.max_pool2d + autograd, torch.optim).
- convolution forward plus backward (output; input, kernel and bias gradients), float32 and float64:
  LeNet's two layers at batch 64, the face CNN's three (orl-faces: 28 x 23 input, 3x3, padding 1) at
  batch 20 and 32, and the three full-resolution face shapes of issue 14 (112 x 92) at batch 32. Each
  conv row gives the GFLOP/s reached (3 products of 2 c_out c_in k_h k_w H_out W_out N flops each) and its
  share of the single-core GEMM peak measured in the same run: a 512 x 512 np.matmul of the row's dtype,
  timed as a fourth call in the same interleaved rounds, so that the load on the machine weighs on both;
- max pooling 2x2 and batch normalisation (train mode) forward plus backward on the conv outputs;
- one LeNet epoch (938 SGD steps at batch 64 on MNIST; quick: 50) and one face-CNN epoch (orl-faces'
  base run: 10 steps of 20, the same pre-augmented batches; Nesterov SGD with weight decay);
- the tracemalloc peak of one fast training step (LeNet batch 64, the face CNN batch 20).
The fast layers are given their inputs as they receive them inside the fast network: channel-major
memory (experiments/engines/fast/layout.py); torch its NCHW tensors.
"""

from __future__ import annotations

import time
import tracemalloc

import numpy as np

from experiments.bench import SEED
from experiments.threads import pin

IMPLS = ("fast", "numpy-reference", "torch")
# (label, N, c_in, c_out, H, W, kernel, padding)
CONV_SHAPES = (
    ("lenet conv1", 64, 1, 8, 28, 28, 5, 0),
    ("lenet conv2", 64, 8, 16, 12, 12, 5, 0),
    *((f"face conv{i}", n, ci, co, h, w, 3, 1) for n in (20, 32)
      for i, (ci, co, h, w) in enumerate(((1, 16, 28, 23), (16, 32, 14, 11), (32, 64, 7, 5)), start=1)),
    ("face full-res conv1", 32, 1, 16, 112, 92, 5, 2),
    ("face full-res conv2", 32, 16, 32, 56, 46, 3, 1),
    ("face full-res conv3", 32, 32, 64, 28, 23, 3, 1),
)
# (label, (N, C, H, W)): the inputs of the networks' pooling and batch-norm layers
MAP_SHAPES = (
    ("lenet pool1", (64, 8, 24, 24)),
    ("lenet pool2", (64, 16, 8, 8)),
    *((f"face block{i}", (n, c, h, w)) for n in (20, 32)
      for i, (c, h, w) in enumerate(((16, 28, 23), (32, 14, 11), (64, 7, 5)), start=1)),
    ("bench batchnorm", (64, 16, 28, 28)),
)


def interleaved(fns: dict, repeats: int, inner: int = 1) -> dict:
    """{name: median seconds per call}: one warm-up call each, then `repeats` rounds, each timing `inner`
    calls of every fn in turn, so that load on the machine slows all alike."""
    for f in fns.values():
        f()
    times = {k: [] for k in fns}
    for _ in range(repeats):
        for k, f in fns.items():
            t0 = time.perf_counter()
            for _ in range(inner):
                f()
            times[k].append((time.perf_counter() - t0) / inner)
    return {k: float(np.median(v)) for k, v in times.items()}


def gemm_call(dtype, n: int = 512):
    """(one n x n x n np.matmul, its flops): the single-core GEMM peak's probe."""
    rng = np.random.default_rng(SEED)
    a, b = (rng.normal(size=(n, n)).astype(dtype) for _ in range(2))
    c = np.empty((n, n), dtype=dtype)
    return (lambda: np.matmul(a, b, out=c)), 2 * n ** 3


def channel_major(a: np.ndarray) -> np.ndarray:
    """a (N, C, H, W) as the NCHW view of (C, H, W, N) memory, as fast layers pass maps to each other."""
    return np.ascontiguousarray(a.transpose(1, 2, 3, 0)).transpose(3, 0, 1, 2)


def layer_calls(ref_layer, torch_fn, x, params, dy, dtype) -> dict:
    """{impl: one train-mode forward+backward}: the reference layer, its fast twin, torch_fn(x tensor)."""
    import torch

    from experiments.engines.fast import fast
    from reference import sequential as seq

    fast_layer = fast(seq.Sequential((ref_layer,))).layers[0]
    _, state = ref_layer.init(np.random.default_rng(SEED), dtype)
    xf, dyf = channel_major(x), channel_major(dy)

    def run(layer, x, dy):
        y, cache, _ = layer.forward(x, params, state, train=True)
        return layer.backward(dy, cache)

    xt, dyt = torch.from_numpy(x).requires_grad_(True), torch.from_numpy(dy)
    leaves = [xt] + [p for p in getattr(torch_fn, "leaves", [])]

    def pytorch():
        for t in leaves:
            t.grad = None
        torch_fn(xt).backward(dyt)

    return {"fast": lambda: run(fast_layer, xf, dyf), "numpy-reference": lambda: run(ref_layer, x, dy),
            "torch": pytorch}


def with_leaves(fn, leaves: list):
    fn.leaves = leaves
    return fn


def conv_calls(shape, dtype) -> tuple[dict, float]:
    """({impl: call}, flops per call) of one convolution shape."""
    import torch
    import torch.nn.functional as F

    from reference import conv_shapes as cs
    from reference import sequential as seq

    _, N, c_in, c_out, H, W, k, p = shape
    rng = np.random.default_rng(SEED)
    layer = seq.Conv2d(c_in, c_out, k, padding=p)
    params = {"K": rng.normal(size=(c_out, c_in, k, k)).astype(dtype), "b": rng.normal(size=c_out).astype(dtype)}
    H_out, W_out = cs.output_shape((H, W), (k, k), cs.per_side(p), (1, 1))
    x = rng.normal(size=(N, c_in, H, W)).astype(dtype)
    dy = rng.normal(size=(N, c_out, H_out, W_out)).astype(dtype)
    Kt, bt = (torch.from_numpy(params[n]).requires_grad_(True) for n in ("K", "b"))
    fn = with_leaves(lambda xt: F.conv2d(xt, Kt, bt, padding=p), [Kt, bt])
    return layer_calls(layer, fn, x, params, dy, dtype), 3 * 2 * c_out * c_in * k * k * H_out * W_out * N


def pool_calls(shape, dtype) -> dict:
    import torch.nn.functional as F

    from reference import sequential as seq

    rng = np.random.default_rng(SEED)
    N, C, H, W = shape
    x = rng.normal(size=shape).astype(dtype)
    dy = rng.normal(size=(N, C, H // 2, W // 2)).astype(dtype)
    return layer_calls(seq.MaxPool2d(2), lambda xt: F.max_pool2d(xt, 2), x, {}, dy, dtype)


def batchnorm_calls(shape, dtype) -> dict:
    import torch

    from reference import sequential as seq

    rng = np.random.default_rng(SEED)
    x = rng.normal(0.5, 2.0, size=shape).astype(dtype)
    dy = rng.normal(size=shape).astype(dtype)
    layer = seq.BatchNorm2d(shape[1])
    params, _ = layer.init(rng, dtype)
    m = torch.nn.BatchNorm2d(shape[1]).to(torch.float64 if dtype == np.float64 else torch.float32)
    return layer_calls(layer, with_leaves(m, [m.weight, m.bias]), x, params, dy, dtype)


def row(name: str, dtype, t: dict, repeats: int, unit: str, note: str, extra: dict | None = None) -> list[dict]:
    """One row per implementation, each noting fast/torch and fast/reference."""
    ratios = f"fast/torch = {t['fast'] / t['torch']:.2f}x, fast/reference = {t['fast'] / t['numpy-reference']:.2f}x"
    return [{"benchmark": name, "impl": impl, "dtype": np.dtype(dtype).name, "threads": 1, "median_s": t[impl],
             "repeats": repeats, "unit": unit, "notes": f"{ratios}; {note}", **(extra or {}).get(impl, {})}
            for impl in IMPLS]


def conv_rows(quick: bool, repeats: int) -> list[dict]:
    threads = pin(1)
    out = []
    for dtype in (np.float32, np.float64):
        gemm, gemm_flops = gemm_call(dtype)
        for shape in CONV_SHAPES[:3] if quick else CONV_SHAPES:
            calls, flops = conv_calls(shape, dtype)
            inner = max(1, min(20, int(2e8 / flops)))
            t = interleaved({**calls, "gemm": gemm}, repeats, 1 if quick else inner)
            peak = gemm_flops / t.pop("gemm") / 1e9
            label, N, c_in, c_out, H, W, k, p = shape
            gf = {impl: flops / t[impl] / 1e9 for impl in IMPLS}
            extra = {impl: {"gflops": gf[impl], "gemm_peak_gflops": peak, "peak_share": gf[impl] / peak}
                     for impl in IMPLS}
            note = (f"fast {gf['fast']:.1f} GFLOP/s = {gf['fast'] / peak:.0%} of the GEMM peak {peak:.1f} "
                    f"(torch {gf['torch']:.1f}, reference {gf['numpy-reference']:.1f}); {threads}")
            out += row(f"{label}: conv {c_in}->{c_out} {k}x{k} padding {p} on {H}x{W} batch {N} forward+backward",
                       dtype, t, repeats, "seconds per call", note, extra)
    return out


def map_rows(quick: bool, repeats: int) -> list[dict]:
    threads = pin(1)
    out = []
    for dtype in (np.float32, np.float64):
        for label, shape in MAP_SHAPES[:2] if quick else MAP_SHAPES:
            if label.startswith("bench"):
                layers = ((f"batchnorm2d({shape[1]})", batchnorm_calls),)
            else:
                layers = (("maxpool 2x2", pool_calls), (f"batchnorm2d({shape[1]})", batchnorm_calls))
            for what, calls in layers:
                t = interleaved(calls(shape, dtype), repeats, 2 if quick else 10)
                out += row(f"{label}: {what} train forward+backward on {shape}", dtype, t, repeats,
                           "seconds per call", threads)
    return out


def lenet_epoch_calls(dtype, steps: int) -> dict:
    """{impl: one LeNet training run of `steps` SGD steps at batch 64}."""
    from experiments.bench.cnn import BATCH, _mnist
    from experiments.engines.fast import fast
    from experiments.engines.sequential import SEQUENTIAL_ENGINES, ImageData
    from experiments.kinds.cnn import order_for
    from reference import optim
    from reference import sequential as seq

    X, y = _mnist(np.dtype(dtype).name, steps * BATCH)
    model = seq.lenet()
    p0, s0 = model.init(SEED, dtype)
    data, order = ImageData(X, y, X[:0], y[:0]), order_for(SEED, 1, len(y))
    engines = {impl: SEQUENTIAL_ENGINES["torch" if impl == "torch" else "numpy"](
        model, p0, s0, data, optim.SGD(), lambda epoch: 0.05, BATCH) for impl in IMPLS}
    engines["fast"].model = fast(model)
    return {impl: (lambda e=e: e.epoch(order, 1)) for impl, e in engines.items()}


def face_epoch_calls(quick: bool) -> tuple[dict, int, int, str]:
    """({impl: one face-CNN epoch}, steps, batch size, dtype) on orl-faces' base run's pre-augmented batches."""
    import torch
    import torch.nn.functional as F

    from experiments.engines.fast import fast
    from experiments.faces import bench as faces

    cfg, engine, batches = faces.setup(quick)
    _, fast_engine, _ = faces.setup(quick)
    fast_engine.model = fast(fast_engine.model)
    lr, drop = engine.lr_at(1), np.random.default_rng([SEED, 3, 1])
    xs = [np.ascontiguousarray(x) for x, _, _ in batches]
    ys = [y for _, y, _ in batches]
    model = faces.torch_model(engine).train()
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=cfg["momentum"], nesterov=cfg["nesterov"],
                          weight_decay=cfg["weight_decay"])
    txs, tys = [torch.from_numpy(x) for x in xs], [torch.from_numpy(np.asarray(y, dtype=np.int64)) for y in ys]

    def numpy_epoch(e):
        for x, y in zip(xs, ys):
            e.step(x, y, drop, lr)

    def torch_epoch():
        for x, y in zip(txs, tys):
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(model(x), y).backward()
            opt.step()

    calls = {"fast": lambda: numpy_epoch(fast_engine), "numpy-reference": lambda: numpy_epoch(engine),
             "torch": torch_epoch}
    return calls, len(xs), cfg["batch_size"], cfg["dtype"]


def epoch_rows(quick: bool, repeats: int) -> list[dict]:
    threads = pin(1)
    steps = 50 if quick else 938
    out = []
    for dtype in (np.float32, np.float64):
        t = interleaved(lenet_epoch_calls(dtype, steps), 1 if quick else max(1, repeats // 2))
        label = "one epoch (938 steps)" if steps == 938 else f"{steps} steps"
        out += row(f"lenet() cnn sgd batch 64 {label}", dtype, t, 1 if quick else max(1, repeats // 2),
                   "seconds per run", f"MNIST, lr 0.05; {threads}")
    calls, steps, batch, dtype = face_epoch_calls(quick)
    t = interleaved(calls, repeats)
    out += row(f"orl-faces cnn one epoch: {steps} steps batch {batch} on 28x23", dtype, t, repeats,
               "seconds per epoch", f"nesterov sgd + weight decay; same pre-augmented batches; {threads}")
    return out


def peak_of(step) -> float:
    """MB: tracemalloc's peak during step() (after one warm-up call)."""
    step()
    tracemalloc.start()
    step()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


def memory_rows() -> list[dict]:
    from experiments.bench.cnn import BATCH, _mnist
    from experiments.engines.fast import fast
    from experiments.faces import bench as faces
    from reference import optim
    from reference import sequential as seq

    X, y = _mnist("float32", BATCH)
    model = fast(seq.lenet())
    params, state = model.init(SEED, np.float32)
    sgd = optim.SGD()
    opt_state = sgd.init(params)

    def lenet_step():
        sgd.step(params, model.loss_and_grads(X, y, params, state).grads, opt_state, 0.05)

    cfg, engine, batches = faces.setup(False)
    engine.model = fast(engine.model)
    x, yb, _ = batches[0]
    drop = np.random.default_rng(SEED)
    note = ("tracemalloc peak of allocations during forward+backward+update (parameters, optimizer buffers and "
            "batch allocated before are not counted)")
    return [{"benchmark": name, "impl": "fast", "dtype": "float32", "threads": 1, "median_s": float("nan"),
             "repeats": 1, "unit": "MB", "peak_mem_mb": peak_of(step), "notes": note}
            for name, step in ((f"lenet() cnn one training step batch {BATCH} peak memory", lenet_step),
                               (f"orl-faces cnn one training step batch {cfg['batch_size']} peak memory",
                                lambda: engine.step(x, yb, drop, 0.05)))]


def rows(quick: bool = False, repeats: int = 5) -> list[dict]:
    """Rows for results/bench.csv: conv, pooling, batch-norm, epochs and peak memory of the fast path."""
    out = conv_rows(quick, repeats) + map_rows(quick, repeats) + epoch_rows(quick, repeats) + memory_rows()
    return [{**r, "quick": quick} for r in out]


def summary(rows_: list[dict]) -> list[str]:
    """One line per benchmark: fast, torch and reference seconds, and the ratios."""
    by = {}
    for r in rows_:
        by.setdefault((r["benchmark"], r["dtype"]), {})[r["impl"]] = r
    lines = []
    for (name, dtype), r in by.items():
        if "torch" not in r:
            lines.append(f"{name} [{dtype}]: {r['fast']['peak_mem_mb']:.2f} MB")
            continue
        f, t, ref = (r[i]["median_s"] for i in IMPLS)
        share = f" {r['fast']['peak_share']:.0%} of peak" if "peak_share" in r["fast"] else ""
        lines.append(f"{name} [{dtype}]: fast {f * 1e3:.3f} ms, torch {t * 1e3:.3f} ms, reference "
                     f"{ref * 1e3:.3f} ms: fast/torch {f / t:.2f}x, fast/reference {f / ref:.2f}x{share}")
    return lines


if __name__ == "__main__":
    import sys

    which = sys.argv[1] if len(sys.argv) > 1 else "all"
    quick = "quick" in sys.argv
    pin(1)
    fns = {"conv": conv_rows, "maps": map_rows, "epochs": epoch_rows}
    got = memory_rows() if which == "memory" else (
        fns[which](quick, 5) if which in fns else rows(quick))
    print("\n".join(summary(got)))
