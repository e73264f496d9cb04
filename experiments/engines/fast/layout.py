"""The channel-major layout the fast layers pass between them: logical NCHW arrays stored as (C, H, W, N).

Every fast layer takes and returns arrays of the reference's logical shape (N, C, H, W), so it can
stand in for its reference layer anywhere. Inside, the convolution's matrix product yields its
output as (c_out, H_out W_out N) rows, i.e. memory in (C, H, W, N) order; the fast layers return
that memory as the NCHW view a.transpose(3, 0, 1, 2) instead of copying it into NCHW. The next
fast layer reads it back with `chwn`, free of charge, and element-wise NumPy keeps the layout
(order "K"), so a conv / batch-norm / ReLU / pool stack runs without a transposing copy; Flatten's
reshape copies once into NCHW order, where the dense layers need it.

Why N last: channel c's values form one contiguous row of H W N numbers (batch norm's per-channel
sums run along it), and im2col's copies and col2im's additions run over contiguous stretches of
W N numbers (reference/conv.py chose this layout for im2col already).
"""

from __future__ import annotations

import numpy as np


def chwn(x: np.ndarray) -> np.ndarray:
    """The (C, H, W, N) C-contiguous array holding logical NCHW x: a view when x is stored so, else a copy."""
    t = x.transpose(1, 2, 3, 0)
    return t if t.flags.c_contiguous else np.ascontiguousarray(t)


def nchw(a: np.ndarray) -> np.ndarray:
    """The logical NCHW view of a (C, H, W, N) array (no copy)."""
    return a.transpose(3, 0, 1, 2)


def rows(x: np.ndarray) -> np.ndarray:
    """(C, H W N) rows of logical NCHW x (one per channel), a view when x is stored channel-major."""
    t = chwn(x)
    return t.reshape(t.shape[0], -1)
