"""Dropout (Srivastava et al. 2014), inverted, as PyTorch's nn.Dropout defines it.

In train mode each value is kept with probability 1 - p and the kept values are scaled by
1 / (1 - p), so that the expectation of y is x and eval mode is the identity:

    y = x * (mask / (1 - p)),   mask_i ~ Bernoulli(1 - p) independently     (train)
    y = x                                                                   (eval, or p = 0)
    y = x * 0                                                               (train, p = 1)

Backward: dE/dx = dy * (mask / (1 - p)) (train; dy in eval or for p = 0; zeros for p = 1).
The scale is computed as torch does it, mask / (1 - p) in the input's dtype and then one product,
so that a shared mask gives the same bits as F.dropout. The mask is drawn from a numpy Generator
(`draw_mask`), or given, so that a torch twin can be fed the very same mask.
"""

from __future__ import annotations

import numpy as np

from reference.checks import require_float, require_upstream


def check_p(p: float, name: str) -> None:
    """p must lie in [0, 1] (PyTorch: "dropout probability has to be between 0 and 1")."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{name}: dropout probability p must be between 0 and 1, got p = {p}")


def draw_mask(rng: np.random.Generator, shape: tuple, p: float) -> np.ndarray:
    """Boolean keep-mask: each entry True with probability 1 - p (u >= p for u uniform on [0, 1))."""
    return rng.random(shape, dtype=np.float32) >= np.float32(p)


def forward(x: np.ndarray, p: float, train: bool, mask: np.ndarray | None = None,
            name: str = "dropout") -> tuple[np.ndarray, tuple]:
    """y and the cache (the scale that multiplied x, or None for the identity); mask needed in train
    mode for 0 < p < 1, of x's shape."""
    check_p(p, name)
    require_float(x, f"{name}: input x")
    if not train or p == 0:
        return x, (None, x.shape, x.dtype, name)
    if p == 1:
        scale = np.zeros((), dtype=x.dtype)
    else:
        if mask is None or mask.shape != x.shape:
            raise ValueError(f"{name}: train mode with p = {p} needs a mask of the input's shape {x.shape}, got "
                             f"{None if mask is None else mask.shape}")
        scale = mask.astype(x.dtype) / x.dtype.type(1 - p)
    return x * scale, (scale, x.shape, x.dtype, name)


def backward(dy: np.ndarray, cache: tuple) -> tuple[np.ndarray, dict]:
    """dE/dx = dy * scale (dy itself for the identity). No parameters."""
    scale, shape, dtype, name = cache
    require_upstream(dy, shape, dtype, name)
    return (dy if scale is None else dy * scale), {}
