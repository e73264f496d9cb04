"""Comparison rows for results/equivalence.csv: one row per component, case, dtype and quantity.

Columns: component, case, dtype, quantity, max_abs_err, max_rel_err, rtol, atol, tolerance, passed.
`passed` means |ours - theirs| <= atol + rtol |theirs| element-wise (torch.testing.assert_close's rule).
Tolerances: float64 rtol 1e-10 (atol 1e-12 for values near 0); float32 assert_close's defaults
(rtol 1.3e-6, atol 1e-5) scaled by `depth` (the number of layers the quantity passed through).
"""

from __future__ import annotations

import numpy as np

F64_RTOL, F64_ATOL = 1e-10, 1e-12
F32_RTOL, F32_ATOL = 1.3e-6, 1e-5


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
        raise ValueError(f"{component}/{case}/{quantity}: shapes differ, ours {ours.shape} vs theirs {theirs.shape}")
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


def central_difference(f, a: np.ndarray, h: float = 1e-6) -> np.ndarray:
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
