"""Batch normalisation, dropout and Adam rows of python -m experiments bench (results/bench.csv).

One thread each, float32, the reference against torch on the same arrays:
- BatchNorm2d(16), train mode, forward plus backward (input, gamma and beta gradients) on
  (64, 16, 28, 28): reference/sequential.py's layer against nn.BatchNorm2d + autograd;
- Dropout(0.5), train mode, forward plus backward on the same shape, each drawing its own mask
  (numpy's Generator, torch's bernoulli_): against F.dropout + autograd;
- one Adam step over the parameters of lenet(hidden=128) (reference/optim.py against torch.optim.Adam,
  single-tensor implementation, the default on the CPU), gradients given.
Times are medians over `repeats` of `inner` calls each, after one warm-up call; the reference's and
torch's repeats alternate, so that other load on the machine slows both alike. Rows: benchmark, impl,
dtype, threads, median_s, repeats, unit, notes (with reference/torch); `ratios(rows)` lists
name, seconds_ref, seconds_torch, ratio.
"""

from __future__ import annotations

import numpy as np

from experiments.bench.timer import SEED, median_time
from experiments.threads import pin

SHAPE = (64, 16, 28, 28)


def batchnorm_pair():
    import torch

    from reference import sequential as seq

    rng = np.random.default_rng(SEED)
    x = rng.normal(0.5, 2.0, size=SHAPE).astype(np.float32)
    dy = rng.normal(size=SHAPE).astype(np.float32)
    layer = seq.BatchNorm2d(SHAPE[1])
    params, state = layer.init(rng, np.float32)

    def reference():
        y, cache, _ = layer.forward(x, params, state, train=True)
        return layer.backward(dy, cache)

    m = torch.nn.BatchNorm2d(SHAPE[1])
    xt, dyt = torch.from_numpy(x).requires_grad_(True), torch.from_numpy(dy)

    def pytorch():
        xt.grad = m.weight.grad = m.bias.grad = None
        m(xt).backward(dyt)

    return f"batchnorm2d({SHAPE[1]}) train forward+backward on {SHAPE}", reference, pytorch


def dropout_pair():
    import torch
    import torch.nn.functional as F

    from reference import sequential as seq

    rng = np.random.default_rng(SEED)
    x = rng.normal(size=SHAPE).astype(np.float32)
    dy = rng.normal(size=SHAPE).astype(np.float32)
    layer = seq.Dropout(0.5)

    def reference():
        y, cache, _ = layer.forward(x, {}, {}, train=True, rng=rng)
        return layer.backward(dy, cache)

    xt, dyt = torch.from_numpy(x).requires_grad_(True), torch.from_numpy(dy)
    torch.manual_seed(SEED)

    def pytorch():
        xt.grad = None
        F.dropout(xt, 0.5, training=True).backward(dyt)

    return f"dropout(0.5) train forward+backward on {SHAPE}, mask drawn", reference, pytorch


def adam_pair():
    import torch

    from framework.cnn import build_twin
    from framework.optim import torch_optimizer
    from reference import optim
    from reference import sequential as seq

    model = seq.lenet(hidden=128)
    params, state = model.init(SEED, np.float32)
    rng = np.random.default_rng(SEED)
    grads = [{k: rng.normal(size=v.shape).astype(np.float32) for k, v in p.items()} for p in params]
    twin = build_twin(model, params, state)
    for p in twin.parameters():
        p.grad = torch.randn_like(p)
    adam = optim.Adam()
    opt_state = adam.init(params)
    t_opt = torch_optimizer(adam, twin, 1e-3)
    n = sum(v.size for p in params for v in p.values())

    def reference():
        nonlocal opt_state
        opt_state = adam.step(params, grads, opt_state, 1e-3)

    return f"adam step over lenet(hidden=128)'s {n} parameters", reference, t_opt.step


def repeated(fn, n: int):
    """A function calling fn n times."""
    def calls():
        for _ in range(n):
            fn()
    return calls


def rows(quick: bool = False, repeats: int = 7) -> list[dict]:
    """Two rows (numpy-reference, torch) per benchmark."""
    threads = pin(1)
    inner = 2 if quick else 10
    out = []
    for pair in (batchnorm_pair, dropout_pair, adam_pair):
        name, reference, pytorch = pair()
        ref_calls, torch_calls = repeated(reference, inner), repeated(pytorch, inner)
        ref_calls(), torch_calls()  # warm-up
        # alternate the two, one repeat each, so that a busy machine slows both alike
        rounds = [(median_time(ref_calls, 1, per=inner), median_time(torch_calls, 1, per=inner))
                  for _ in range(repeats)]
        t_ref, t_torch = (float(np.median(t)) for t in zip(*rounds))
        note = (f"reference/torch = {t_ref / t_torch:.2f}x (median of medians; per round "
                f"{min(a / b for a, b in rounds):.2f}x to {max(a / b for a, b in rounds):.2f}x); "
                f"{inner} calls per repeat, repeats alternate; {threads}")
        for impl, t in (("numpy-reference", t_ref), ("torch", t_torch)):
            out.append({"benchmark": name, "impl": impl, "dtype": "float32", "threads": 1, "median_s": t,
                        "repeats": repeats, "unit": "seconds per call", "notes": note})
    return out


def ratios(rows: list[dict]) -> list[dict]:
    """name, seconds_ref, seconds_torch, ratio (reference / torch) per benchmark."""
    by = {}
    for r in rows:
        by.setdefault(r["benchmark"], {})[r["impl"]] = r["median_s"]
    return [{"name": k, "seconds_ref": v["numpy-reference"], "seconds_torch": v["torch"],
             "ratio": v["numpy-reference"] / v["torch"]} for k, v in by.items()]
