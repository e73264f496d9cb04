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
- (in the families: experiments/mnist/bench_fast.py and experiments/faces/bench_fast.py) one LeNet
  epoch, one face-CNN epoch and the tracemalloc peak of one fast training step.
The fast layers are given their inputs as they receive them inside the fast network: channel-major
memory (experiments/engines/fast/layout.py); torch its NCHW tensors.
"""

from __future__ import annotations

import time
import tracemalloc

import numpy as np

from experiments.bench.timer import SEED
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


def minor_faults() -> int:
    """The process's minor page faults so far (first touches of fresh memory), -1 where the OS does not say."""
    try:
        import resource
    except ImportError:  # not a Unix
        return -1
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def interleaved(fns: dict, repeats: int, inner: int = 1, faults: dict | None = None) -> dict:
    """{name: median seconds per call}: one warm-up call each, then `repeats` rounds, each timing `inner`
    calls of every fn in turn, so that load on the machine slows all alike. If `faults` is a dict, it receives
    {name: minor page faults per timed call}: memory the allocator handed back to the OS and took again, whose
    first touch costs (measured: the fast face conv2 at batch 20 took 3.1 ms with 996 faults a call as the first
    layer run in a process, 0.80 ms with none after larger layers had run)."""
    for f in fns.values():
        f()
    times, touched = {k: [] for k in fns}, {k: 0 for k in fns}
    for _ in range(repeats):
        for k, f in fns.items():
            f0, t0 = minor_faults(), time.perf_counter()
            for _ in range(inner):
                f()
            times[k].append((time.perf_counter() - t0) / inner)
            touched[k] += minor_faults() - f0
    if faults is not None:
        counted = minor_faults() >= 0
        faults.update({k: touched[k] / (repeats * inner) if counted else float("nan") for k in fns})
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


def row(name: str, dtype, t: dict, repeats: int, unit: str, note: str, extra: dict | None = None,
        faults: dict | None = None) -> list[dict]:
    """One row per implementation, each noting fast/torch and fast/reference (and its minor page faults per call,
    where `faults` has them: interleaved's)."""
    ratios = f"fast/torch = {t['fast'] / t['torch']:.2f}x, fast/reference = {t['fast'] / t['numpy-reference']:.2f}x"
    touched = {impl: {"page_faults_per_call": faults[impl]} for impl in IMPLS} if faults else {}
    return [{"benchmark": name, "impl": impl, "dtype": np.dtype(dtype).name, "threads": 1, "median_s": t[impl],
             "repeats": repeats, "unit": unit, "notes": f"{ratios}; {note}", **(extra or {}).get(impl, {}),
             **touched.get(impl, {})} for impl in IMPLS]


def conv_rows(quick: bool, repeats: int) -> list[dict]:
    threads = pin(1)
    out = []
    for dtype in (np.float32, np.float64):
        gemm, gemm_flops = gemm_call(dtype)
        for shape in CONV_SHAPES[:3] if quick else CONV_SHAPES:
            calls, flops = conv_calls(shape, dtype)
            inner = max(1, min(20, int(2e8 / flops)))
            faults = {}
            t = interleaved({**calls, "gemm": gemm}, repeats, 1 if quick else inner, faults)
            peak = gemm_flops / t.pop("gemm") / 1e9
            label, N, c_in, c_out, H, W, k, p = shape
            gf = {impl: flops / t[impl] / 1e9 for impl in IMPLS}
            extra = {impl: {"gflops": gf[impl], "gemm_peak_gflops": peak, "peak_share": gf[impl] / peak}
                     for impl in IMPLS}
            note = (f"fast {gf['fast']:.1f} GFLOP/s = {gf['fast'] / peak:.0%} of the GEMM peak {peak:.1f} "
                    f"(torch {gf['torch']:.1f}, reference {gf['numpy-reference']:.1f}); {threads}")
            out += row(f"{label}: conv {c_in}->{c_out} {k}x{k} padding {p} on {H}x{W} batch {N} forward+backward",
                       dtype, t, repeats, "seconds per call", note, extra, faults)
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
                faults = {}
                t = interleaved(calls(shape, dtype), repeats, 2 if quick else 10, faults)
                out += row(f"{label}: {what} train forward+backward on {shape}", dtype, t, repeats,
                           "seconds per call", threads, faults=faults)
    return out


def peak_of(step) -> float:
    """MB: tracemalloc's peak during step() (after one warm-up call), plus the fast convolution's scratch buffers
    that the warm-up allocated and the step reuses (they live through it, though allocated before tracing)."""
    from experiments.engines.fast import conv

    conv.clear_scratch()
    step()
    held = conv.scratch_bytes()
    tracemalloc.start()
    step()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return (peak + held) / 2**20


def rows(quick: bool = False, repeats: int = 5) -> list[dict]:
    """Rows for results/bench.csv: the fast path's conv, pooling and batch-norm layers against torch and the
    reference (the epochs and peak memory are the families' rows: experiments/mnist/bench_fast.py,
    experiments/faces/bench_fast.py)."""
    out = conv_rows(quick, repeats) + map_rows(quick, repeats)
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


def main(argv: list[str]) -> None:
    """python -m experiments.bench.fast_cnn [conv|maps|all] [quick]: the rows, summarised (nothing written)."""
    which = argv[0] if argv else "all"
    quick = "quick" in argv
    pin(1)
    fns = {"conv": conv_rows, "maps": map_rows}
    print("\n".join(summary(fns[which](quick, 5) if which in fns else rows(quick))))


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
