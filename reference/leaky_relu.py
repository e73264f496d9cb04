"""The leaky rectifier (Maas et al. 2013), as torch.nn.functional.leaky_relu, element-wise:

    y = s           where s > 0
    y = a s         where s <= 0         (a = negative_slope; torch's default 0.01)

Backward, given dy = dE/dy:

    dE/ds = dy      where s > 0
    dE/ds = a dy    where s <= 0         (at the kink s = 0 the slope is a: torch's leaky_relu_backward
                                          takes s > 0 ? dy : a dy)
"""

from __future__ import annotations

import numpy as np

from reference.checks import require_float, require_upstream


def forward(s: np.ndarray, negative_slope: float = 0.01, name: str = "leakyrelu") -> tuple[np.ndarray, tuple]:
    """y = s where s > 0, negative_slope s elsewhere; the cache for backward."""
    require_float(s, f"{name}: input")
    positive = s > 0
    return np.where(positive, s, s * s.dtype.type(negative_slope)), (positive, negative_slope, s.shape, s.dtype, name)


def backward(dy: np.ndarray, cache: tuple) -> np.ndarray:
    """dE/ds = dy where s > 0, negative_slope dy elsewhere (s = 0 included)."""
    positive, negative_slope, shape, dtype, name = cache
    require_upstream(dy, shape, dtype, name)
    return np.where(positive, dy, dy * dtype.type(negative_slope))
