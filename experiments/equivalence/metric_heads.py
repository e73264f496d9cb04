"""Equivalence rows for the metric-learning losses: ArcFace's additive angular margin (reference/arcface.py) and
the batch-hard triplet loss (reference/triplet.py), through their Loss objects (reference/losses.py), against
their twins (framework/tables.py TORCH_LOSSES, the same names).

    loss:arcface  e_n, upstream*de_n/d_input; E_in, dE_in/d_input     on cosines in [-1, 1]
    loss:triplet  e_n, upstream*de_n/d_input; E_in, dE_in/d_input     on L2-normalised embeddings

The upstream gradient of e_n is random. For the triplet loss e_n reads every row of the batch, so
"upstream*de_n/d_input" is the whole vector-Jacobian product sum_n up_n de_n/ds (reference/triplet.py's
backward given up), not a row-by-row product. Central differences (float64) on the cases away from kinks;
the edge cases sit on kinks on purpose and are checked against autograd only:

    arcface "edges": true-class cosines exactly 1 and -1, inside the clamp's flat part (1 - 1e-8), exactly at
        the threshold t = cos(pi - m) (takes the fallback, as torch.where(cos > t)), just above and below it
        (theta + m just short of and past pi), exactly 0 (the easy margin's threshold), and other classes' at +-1.
    triplet "ties": two positives and three negatives of an anchor at equal distances (the first index wins, as
        numpy's and torch's argmax/argmin), an anchor without a positive, and anchors whose hinge is 0.
    triplet "one_class": no negatives in the batch: every e_n is 0, and so is the gradient.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from experiments.equivalence.check import check, compare
from framework.tables import torch_e, torch_loss
from reference import arcface
from reference.losses import Loss, arcface_loss, triplet_loss

DTYPES = (np.float64, np.float32)
ARC_CASES = ((30.0, 0.5, False), (64.0, 0.5, True), (16.0, 0.3, False))  # (s, m, easy margin)
ARC_EDGE_CASES = ((30.0, 0.5, False), (30.0, 0.5, True), (16.0, 2.5, False))
TRIPLET_CASES = (("balanced", 0.2), ("balanced", 1.0), ("ties", 0.2), ("one_class", 0.2))


def loss_rows(comp: str, case: str, L: Loss, s: np.ndarray, y: np.ndarray, central: bool, seed: int) -> list[dict]:
    """e_n with a random upstream gradient (central differences if asked), and E_in with its gradient."""
    dtype = s.dtype
    up = np.random.default_rng(seed).normal(size=len(s)).astype(dtype)
    yt = torch.tensor(y)

    def vjp(a, dy):  # sum_n dy_n de_n/ds: row by row, or through every row for a pairwise loss
        return pairwise_vjp(L, a, y, dy) if L.pairwise else dy[:, None] * L.delta(a, a, y, None)

    def fn(a):
        return L.e(a["s"], a["s"], y), lambda dy: {"s": vjp(a["s"], dy)}

    def twin(t):
        return torch_e(L, t["s"], t["s"], yt)
    rows = check(comp, case, fn, twin, {"s": s}, up, {"output": "e_n", "s": "upstream*de_n/d_input"},
                 central=("s",) if central else ())
    st = torch.tensor(s, requires_grad=True)
    E_t = torch_loss(L, st, st, yt)
    E_t.backward()
    return rows + [compare(comp, case, "E_in", np.array(np.mean(L.e(s, s, y))), E_t, dtype),
                   compare(comp, case, "dE_in/d_input", L.delta(s, s, y, None) / len(s), st.grad, dtype)]


def pairwise_vjp(L: Loss, s: np.ndarray, labels: np.ndarray, up: np.ndarray) -> np.ndarray:
    """sum_n up_n de_n/ds of the triplet loss: its backward given the upstream gradient up."""
    from reference import triplet

    return triplet.backward(up, triplet.forward(s, labels, L.margin)[1])


def arc_cosines(rng, N: int, C: int, dtype) -> tuple[np.ndarray, np.ndarray]:
    """Uniform cosines in [-1, 1] and one-hot targets."""
    return rng.uniform(-1.0, 1.0, size=(N, C)).astype(dtype), np.eye(C, dtype=dtype)[rng.integers(0, C, N)]


def arc_edges(margin: float, dtype) -> tuple[np.ndarray, np.ndarray]:
    """Cosines whose true-class entries sit on ArcFace's kinks and bounds (module docstring), target column n % C."""
    t = math.cos(math.pi - margin)
    true = [1.0, -1.0, 1 - 1e-8, t, t + 1e-3, t - 1e-3, 0.0, 1 - arcface.EPS, -1 + arcface.EPS]
    N, C = len(true), 5
    cos = np.random.default_rng(7).uniform(-0.9, 0.9, size=(N, C))
    labels = np.arange(N) % C
    cos[np.arange(N), labels] = np.array(true, dtype=dtype)  # t rounded to dtype: exactly the threshold compared
    cos[0, 1], cos[1, 2] = -1.0, 1.0  # other classes at the bounds: no margin, slope 1
    return cos.astype(dtype), np.eye(C, dtype=dtype)[labels]


def arcface_rows(scale: float, margin: float, easy: bool, dtype, edges: bool = False, seed: int = 0) -> list[dict]:
    cos, y = arc_edges(margin, dtype) if edges else arc_cosines(np.random.default_rng(seed), 6, 7, dtype)
    case = f"N{len(cos)}_C{cos.shape[1]}_s{scale:g}_m{margin:g}" + ("_easy" if easy else "") + (
        "_edges" if edges else "")
    return loss_rows("loss:arcface", case, arcface_loss(scale, margin, easy), cos, y, not edges, seed + 1)


def unit_rows(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def triplet_batch(kind: str, dtype, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """L2-normalised embeddings (N, d) and labels: 4 people x 3 images ("balanced"), "ties", "one_class"."""
    rng = np.random.default_rng(seed)
    if kind == "one_class":
        return unit_rows(rng.normal(size=(5, 4))).astype(dtype), np.zeros(5, dtype=np.int64)
    labels = np.repeat(np.arange(4), 3)
    f = unit_rows(rng.normal(size=(12, 6)) + 0.8 * rng.normal(size=(4, 6))[labels])
    if kind == "ties":
        f[2] = f[1]  # anchor 0's two positives at one distance: p(0) = 1, the first
        f[4] = f[5] = f[7] = unit_rows(f[:1] + 0.3 * rng.normal(size=(1, 6)))  # its nearest negatives: q(0) = 4
        f[9:] = unit_rows(-f[:1])  # person 3, one point opposite anchor 0: hinges 0 (D_ap = 0 + m < D_an)
        labels = np.append(labels, 9)  # a person with one image: no positive, e_n = 0
        f = np.vstack([f, unit_rows(rng.normal(size=(1, 6)))])
    return f.astype(dtype), labels


def triplet_rows(kind: str, margin: float, dtype, seed: int = 0) -> list[dict]:
    f, labels = triplet_batch(kind, dtype, seed)
    case = f"{kind}_N{len(f)}_d{f.shape[1]}_m{margin:g}"
    return loss_rows("loss:triplet", case, triplet_loss(margin), f, labels, kind == "balanced", seed + 1)


def rows(quick: bool = False) -> list[dict]:
    """Every row of the family (quick: the first case of each)."""
    take = (lambda c: c[:1]) if quick else (lambda c: c)
    out = []
    for dtype in DTYPES:
        out += [r for s, m, easy in take(ARC_CASES) for r in arcface_rows(s, m, easy, dtype)]
        out += [r for s, m, easy in take(ARC_EDGE_CASES) for r in arcface_rows(s, m, easy, dtype, edges=True)]
        out += [r for kind, m in take(TRIPLET_CASES) for r in triplet_rows(kind, m, dtype)]
    return out
