"""Equivalence rows for the margin softmax (CosFace) head: L2 normalisation, the cosine layer and the
additive-margin softmax loss (reference/cosine.py, losses.py, through the Sequential layers of
reference/sequential.py), against their twins (framework/layers.py TWINS, framework/tables.py TORCH_LOSSES).

    l2normalize  output, input_grad                       (a zero row, below eps, in the twin-only case)
    cosinedense  output, input_grad, grad W               (W in the reference layout (d_in, d_out))
    am_softmax   e_n, upstream*de_n/d_input; E_in, dE_in/d_input   for (s, m) = (30, 0.35), (16, 0.2), (1, 0)

each with a random upstream gradient, and in float64 against central differences (check.py's tolerances:
float64 rtol 1e-10, float32 assert_close's; central differences rtol 1e-6).
"""

from __future__ import annotations

import numpy as np
import torch

from experiments.equivalence.check import check, compare
from framework.layers import twin_of
from framework.tables import torch_e, torch_loss
from reference import sequential as seq
from reference.losses import am_softmax

DTYPES = (np.float64, np.float32)
NORMALIZE_CASES = (((6, 5), False), ((3, 9), False), ((4, 5), True))  # (shape, a zero row)
COSINE_CASES = ((6, 5, 4), (3, 8, 11))  # (N, d_in, d_out)
MARGINS = ((30.0, 0.35), (16.0, 0.2), (1.0, 0.0))


def layer_rows(layer, arrays: dict, dtype, seed: int, central: bool) -> list[dict]:
    """A Sequential layer against its registry twin: output, input_grad (and grad W when arrays has W)."""
    has_W = "W" in arrays
    y, _, _ = layer.forward(arrays["x"], {"W": arrays["W"]} if has_W else {}, {}, train=True)
    dy = np.random.default_rng(seed).normal(size=y.shape).astype(dtype)
    module = twin_of(layer).build(layer, {"W": arrays["W"]} if has_W else {}, {},
                                  torch.float64 if dtype == np.float64 else torch.float32)

    def fn(a):
        out, cache, _ = layer.forward(a["x"], {"W": a["W"]} if has_W else {}, {}, train=True)

        def back(d):
            dx, grads = layer.backward(d, cache)
            return {"x": dx, **grads}
        return out, back

    def twin(t):  # the module's weight (torch layout, d_out x d_in) is the differentiated W transposed
        return torch.func.functional_call(module, {"weight": t["W"].T} if has_W else {}, (t["x"],))
    names = {"output": "output", "x": "input_grad", **({"W": "grad W"} if has_W else {})}
    shape = "x".join(str(n) for n in arrays["x"].shape) + (f"_to{arrays['W'].shape[1]}" if has_W else "")
    return check(type(layer).__name__.lower(), shape, fn, twin, arrays, dy, names,
                 central=tuple(arrays) if central else ())


def normalize_rows(shape, zero_row: bool, dtype, seed: int = 0) -> list[dict]:
    x = np.random.default_rng(seed).normal(0.5, 2.0, size=shape).astype(dtype)
    if zero_row:
        x[1] = 0.0  # norm 0 < eps: y = x / eps, dE/dx = dy / eps
    rows = layer_rows(seq.L2Normalize(), {"x": x}, dtype, seed + 1, central=not zero_row)
    for r in rows:
        r["case"] += "_zero_row" if zero_row else ""
    return rows


def cosine_rows(N: int, d_in: int, d_out: int, dtype, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    arrays = {"x": rng.normal(0.5, 2.0, size=(N, d_in)).astype(dtype),
              "W": rng.normal(0.0, 0.7, size=(d_in, d_out)).astype(dtype)}
    return layer_rows(seq.CosineDense(d_in, d_out), arrays, dtype, seed + 1, central=True)


def margin_rows(scale: float, margin: float, dtype, N: int = 6, C: int = 7, seed: int = 0) -> list[dict]:
    """e_n with a random upstream gradient (and central differences), E_in and its gradient, on cosines in [-1, 1]."""
    rng = np.random.default_rng(seed)
    cos = rng.uniform(-1.0, 1.0, size=(N, C)).astype(dtype)
    y = np.eye(C, dtype=dtype)[rng.integers(0, C, N)]
    up = rng.normal(size=N).astype(dtype)
    L = am_softmax(scale, margin)
    yt = torch.tensor(y)

    def fn(a):
        return L.e(a["s"], a["s"], y), lambda dy: {"s": dy[:, None] * L.delta(a["s"], a["s"], y, None)}

    def twin(t):
        return torch_e(L, t["s"], t["s"], yt)
    case, comp = f"N{N}_C{C}_s{scale:g}_m{margin:g}", "loss:am_softmax"
    rows = check(comp, case, fn, twin, {"s": cos}, up, {"output": "e_n", "s": "upstream*de_n/d_input"},
                 central=("s",))
    ct = torch.tensor(cos, requires_grad=True)
    E_t = torch_loss(L, ct, ct, yt)
    E_t.backward()
    return rows + [compare(comp, case, "E_in", np.array(np.mean(L.e(cos, cos, y))), E_t, dtype),
                   compare(comp, case, "dE_in/d_input", L.delta(cos, cos, y, None) / N, ct.grad, dtype)]


def rows(quick: bool = False) -> list[dict]:
    """Every row of the family (quick: the first case of each)."""
    take = (lambda c: c[:1]) if quick else (lambda c: c)
    out = []
    for dtype in DTYPES:
        out += [r for shape, zero in take(NORMALIZE_CASES) for r in normalize_rows(shape, zero, dtype)]
        out += [r for N, d_in, d_out in take(COSINE_CASES) for r in cosine_rows(N, d_in, d_out, dtype)]
        out += [r for s, m in take(MARGINS) for r in margin_rows(s, m, dtype)]
    return out
