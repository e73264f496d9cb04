"""Input checks shared by every module: each error names the thing and the numbers involved."""

from __future__ import annotations

import numpy as np


def require_finite(a: np.ndarray, what: str) -> None:
    """Raise ValueError if `a` holds NaN or +-inf, naming `what` and the first bad index."""
    if not np.all(np.isfinite(a)):
        bad = np.argwhere(~np.isfinite(a))[0]
        raise ValueError(
            f"{what} contains NaN or inf: {np.count_nonzero(~np.isfinite(a))} non-finite value(s), "
            f"first at index {tuple(int(i) for i in bad)} = {a[tuple(bad)]}"
        )


def require_float(a: np.ndarray, what: str) -> None:
    """Raise TypeError unless `a` is a float32 or float64 array."""
    if not isinstance(a, np.ndarray) or a.dtype not in (np.float32, np.float64):
        kind = a.dtype if isinstance(a, np.ndarray) else type(a).__name__
        raise TypeError(f"{what} must be a float32 or float64 NumPy array, got {kind}")


def require_shape(a: np.ndarray, expected: tuple, what: str) -> None:
    """Raise ValueError unless a.shape matches `expected` (None matches any size on that axis)."""
    ok = a.ndim == len(expected) and all(e is None or e == n for e, n in zip(expected, a.shape))
    if not ok:
        want = "(" + ", ".join("N" if e is None else str(e) for e in expected) + ")"
        raise ValueError(f"{what} has shape {a.shape}, expected {want}")


def require_upstream(dy, shape: tuple, dtype, name: str) -> None:
    """The upstream gradient dE/dy of a layer must be an array of its output's shape and dtype.

    Refused rather than cast: a gradient of another dtype or shape is a caller's bug, and silently
    casting (or broadcasting) it would hide the bug in numbers that look plausible.
    """
    if not isinstance(dy, np.ndarray):
        raise TypeError(f"{name}: upstream gradient must be a NumPy array, got {type(dy).__name__}")
    if dy.shape != tuple(shape):
        raise ValueError(f"{name}: upstream gradient has shape {dy.shape}, expected {tuple(shape)}")
    if dy.dtype != np.dtype(dtype):
        raise TypeError(f"{name}: upstream gradient is {dy.dtype}, expected {np.dtype(dtype)} "
                        f"(the layer output's dtype)")
