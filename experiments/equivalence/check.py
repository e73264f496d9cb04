"""One check for every layer: forward, backward with a random upstream gradient, and central
differences, against a torch twin; the result is rows of results/equivalence.csv.

Columns: component, case, dtype, quantity, max_abs_err, max_rel_err, rtol, atol, tolerance, passed.
`passed` means |ours - theirs| <= atol + rtol |theirs| element-wise (torch.testing.assert_close's rule).
Tolerances: float64 rtol 1e-10 (atol 1e-12 for values near 0); float32 assert_close's defaults
(rtol 1.3e-6, atol 1e-5) scaled by `depth` (the number of layers the quantity passed through).
Central differences (float64 only): h = 1e-6; truncation and rounding cost ~1e-9, so they are held to
rtol 1e-6, atol 1e-8, or to the rounding bound 2 eps sum|terms of f| / 2h where that is larger.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

F64_RTOL, F64_ATOL = 1e-10, 1e-12
F32_RTOL, F32_ATOL = 1.3e-6, 1e-5
CD_H = 1e-6
CD_RTOL, CD_ATOL = 1e-6, 1e-8


def tolerances(dtype, depth: int = 1) -> tuple[float, float]:
    """(rtol, atol) for comparing results of `dtype` that went through `depth` layers."""
    if np.dtype(dtype) == np.float64:
        return F64_RTOL, F64_ATOL
    if np.dtype(dtype) == np.float32:
        return F32_RTOL * depth, F32_ATOL * depth
    raise TypeError(f"no tolerance for dtype {dtype}")


def to_numpy(a) -> np.ndarray:
    """NumPy view of a NumPy array or a (detached, CPU) torch tensor."""
    if hasattr(a, "detach"):
        a = a.detach().cpu().numpy()
    return np.asarray(a)


def compare(component: str, case: str, quantity: str, ours, theirs, dtype=None, depth: int = 1,
            rtol: float | None = None, atol: float | None = None) -> dict:
    """One row comparing `ours` with `theirs` (shapes must match exactly)."""
    ours, theirs = to_numpy(ours), to_numpy(theirs)
    dtype = np.dtype(dtype or ours.dtype)
    if ours.shape != theirs.shape:
        raise ValueError(f"{component}/{case}/{quantity}: shapes differ, ours {ours.shape}, theirs {theirs.shape}")
    r, a = tolerances(dtype, depth)
    rtol = r if rtol is None else rtol
    atol = a if atol is None else atol
    diff = np.abs(ours.astype(np.float64) - theirs.astype(np.float64))
    ref = np.abs(theirs.astype(np.float64))
    max_abs = float(diff.max()) if diff.size else 0.0
    max_rel = float((diff / np.maximum(ref, np.finfo(np.float64).tiny)).max()) if diff.size else 0.0
    passed = bool(np.all(diff <= atol + rtol * ref))
    return {
        "component": component, "case": case, "dtype": str(dtype), "quantity": quantity,
        "max_abs_err": max_abs, "max_rel_err": max_rel, "rtol": rtol, "atol": atol,
        "tolerance": f"|d| <= {atol:g} + {rtol:g}|ref|", "passed": passed,
    }


def central_difference(f, a: np.ndarray, h: float = CD_H) -> np.ndarray:
    """df/da by central differences, (f(a + h e_i) - f(a - h e_i)) / 2h, for scalar f; a is float64."""
    g = np.zeros_like(a, dtype=np.float64)
    flat = a.reshape(-1)
    gflat = g.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + h
        fp = f()
        flat[i] = old - h
        fm = f()
        flat[i] = old
        gflat[i] = (fp - fm) / (2 * h)
    return g


def central_rows(component: str, case: str, ours: dict, cd: dict, f_scale: float = 0.0,
                 suffix: str = "vs central difference") -> list[dict]:
    """Rows for central differences; atol is at least the estimate's rounding bound 2 eps sum|terms| / 2h."""
    atol = max(CD_ATOL, 2 * np.finfo(np.float64).eps * f_scale / (2 * CD_H))
    rows = [compare(component, case, f"{q} {suffix}", ours[q], cd[q], dtype=np.float64, rtol=CD_RTOL, atol=atol)
            for q in cd]
    if atol > CD_ATOL:
        for r in rows:
            r["tolerance"] += f" (atol = 2 eps sum|terms of f| / 2h, sum = {f_scale:.3g})"
    return rows


Forward = Callable[[dict], tuple[np.ndarray, Callable[[np.ndarray], dict]]]
Twin = Callable[[dict], torch.Tensor]


def require_random(dy: np.ndarray) -> None:
    """An upstream gradient of equal entries (ones) hides transposed or permuted gradients: refuse it."""
    if dy.size > 1 and np.all(dy == dy.flat[0]):
        raise ValueError(f"the upstream gradient must be random, got all entries equal to {dy.flat[0]}")


def run_ours(fn: Forward, arrays: dict, dy: np.ndarray, names: dict) -> dict:
    """{quantity: array}: fn's output and, given dy, the gradient of every array named in `names`."""
    y, back = fn(arrays)
    grads = back(dy)
    return {names["output"]: y, **{q: grads[k] for k, q in names.items() if k != "output"}}


def run_twin(twin: Twin, arrays: dict, dy: np.ndarray, names: dict) -> dict:
    """The same quantities from the torch twin and autograd (fed copies of the same arrays and dy)."""
    t = {k: torch.tensor(a, requires_grad=k in names) for k, a in arrays.items()}
    y = twin(t)
    y.backward(torch.tensor(dy))
    return {names["output"]: to_numpy(y), **{q: to_numpy(t[k].grad) for k, q in names.items() if k != "output"}}


def run_central(fn: Forward, arrays: dict, dy: np.ndarray, names: dict, keys) -> tuple[dict, float]:
    """Central differences of f = sum(dy * fn(arrays)) for the arrays in `keys`, and sum|dy * y| (f's scale)."""
    arrays = {k: a.copy() for k, a in arrays.items()}
    def f():
        return float(np.sum(dy * fn(arrays)[0]))
    scale = float(np.sum(np.abs(dy * fn(arrays)[0])))
    return {names[k]: central_difference(f, arrays[k]) for k in keys}, scale


def check(component: str, case: str, fn: Forward, twin: Twin, arrays: dict, dy: np.ndarray, names: dict, *,
          depth: int = 1, tols: dict | None = None, central=()) -> list[dict]:
    """Rows comparing fn with its torch twin on `arrays`, and (float64) with central differences.

    fn(arrays) -> (y, back) with back(dy) -> {array name: dE/d array}; twin(tensors) -> y in torch.
    names maps "output" and every differentiated array to its quantity name. dy is the upstream
    gradient dE/dy (random; a constant one is refused). tols: {quantity: (rtol, atol, note)} to
    override the dtype's tolerances. central: the arrays to differentiate numerically.
    """
    require_random(dy)
    dtype = next(iter(arrays.values())).dtype
    ours, theirs = run_ours(fn, arrays, dy, names), run_twin(twin, arrays, dy, names)
    rows = []
    for q in theirs:
        rtol, atol, note = (tols or {}).get(q, (None, None, ""))
        rows.append(compare(component, case, q, ours[q], theirs[q], dtype, depth, rtol, atol))
        rows[-1]["tolerance"] += note
    if central and dtype == np.float64:
        cd, scale = run_central(fn, arrays, dy, names, central)
        rows += central_rows(component, case, ours, cd, scale)
    return rows
