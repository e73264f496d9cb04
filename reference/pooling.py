"""Max and average pooling (study 1.4), forward and backward, over NCHW; each channel separately.

A window of k_h x k_w slides over each channel with stride (s_h, s_w) (default: the window, as in
PyTorch) over the padded input x'; the output size is the study's formula (conv_shapes.py) with
p_h = 2 pad_h, p_w = 2 pad_w, and the number of channels is unchanged:

    x  (N, C, H, W)  ->  y  (N, C, H_out, W_out)

Max pooling:      y[n, c, u, v] = max_{i < k_h, j < k_w} x'[n, c, u s_h + i, v s_w + j]
    where the padding of x' acts as -inf (it is never the maximum). Backward: the whole upstream
    gradient of y[n, c, u, v] goes to the position of the maximum; when several entries tie, to the
    first in row-major order inside the window (PyTorch's CPU kernel). Overlapping windows
    (stride < window) add their gradients.

Average pooling:  y[n, c, u, v] = (1 / D[u, v]) sum_{i, j} x'[n, c, u s_h + i, v s_w + j]
    with padding 0 and divisor D = k_h k_w when count_include_pad is True (PyTorch's default), or
    D[u, v] = the number of real (non-padding) input pixels in the window when it is False.
    Backward: each input pixel receives ds[u, v] / D[u, v] from every window containing it.

Padding is per side as in PyTorch's pooling modules: an int or (pad_h, pad_w), added on both sides
of its axis, at most half the window (pad <= k // 2; PyTorch's rule, enforced with the numbers in
the error). Inputs must be finite (NaN would make "the maximum" ill-defined), with C, H, W >= 1 as
PyTorch requires. The upstream gradient of backward must have the output's shape and dtype.

Implementation: a Python loop over the k_h k_w window entries (i, j), each step one vectorised
operation on the strided slab x'[:, :, i::s_h, j::s_w] of shape (N, C, H_out, W_out) (the same
slabs as conv.py's col2im): a running maximum with its position, or a running sum; backward adds
each slab's share back into x', which also sums the contributions of overlapping windows.
No Python loop runs over pixels.
"""

from __future__ import annotations

import numpy as np

from reference import conv_shapes as cs
from reference.checks import require_finite, require_float, require_upstream
from reference.conv import offset_slab


def validate(x: np.ndarray, window, stride, padding, name: str):
    """Return (window pair, stride pair, padding 4-tuple, (H_out, W_out)) or raise naming the numbers."""
    cs.check_input(x, name)
    require_float(x, f"{name}: input x")
    window = cs.pair(window, "window (kernel_size)", name)
    stride = window if stride is None else cs.pair(stride, "stride", name)
    cs.check_kernel_size(window, name, "window")
    cs.check_stride(stride, name)
    p_h, p_w = cs.pair(padding, "padding", name)
    p = cs.per_side((p_h, p_w), name)
    cs.check_pool_padding(window, p, name)
    cs.check_not_empty(x, name)
    cs.check_fits(x.shape[2:], window, p, name, "window")
    require_finite(x, f"{name}: input x")
    return window, stride, p, cs.output_shape(x.shape[2:], window, p, stride)


def pad_with(x: np.ndarray, p: cs.Pad4, value: float) -> np.ndarray:
    """x' = x padded on the H and W axes with `value`; p = (top, bottom, left, right)."""
    if not any(p):
        return x
    top, bottom, left, right = p
    return np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)), constant_values=value)


def offsets(window: tuple[int, int]):
    """Window entries (i, j) in row-major order."""
    return ((i, j) for i in range(window[0]) for j in range(window[1]))


def crop(dxp: np.ndarray, p: cs.Pad4) -> np.ndarray:
    """dE/dx from dE/dx': drop the padding rows and columns."""
    top, bottom, left, right = p
    return dxp[:, :, top:dxp.shape[2] - bottom, left:dxp.shape[3] - right]


def maxpool_forward(x: np.ndarray, window=2, stride=None, padding=0,
                    name: str = "maxpool") -> tuple[np.ndarray, tuple]:
    """y = max over each window; padding acts as -inf. (N, C, H, W) -> (N, C, H_out, W_out), cache.

    The cache holds r (N, C, H_out, W_out), the row-major position i k_w + j of each window's maximum.
    """
    window, stride, p, out_hw = validate(x, window, stride, padding, name)
    xp = pad_with(x, p, -np.inf)
    y = None
    for i, j in offsets(window):
        v = xp[(slice(None), slice(None)) + offset_slab(i, j, stride, out_hw)]
        if y is None:
            y, r = v.copy(), np.zeros(v.shape, dtype=np.int32)
            continue
        # Strictly greater: on ties the earlier entry (row-major) stays the maximum, as in PyTorch.
        better = v > y
        np.maximum(y, v, out=y)
        r += better * (i * window[1] + j - r)  # r = position where better, unchanged elsewhere
    return y, (r, window, stride, xp.shape, p, out_hw, x.dtype, name)


def maxpool_backward(dy: np.ndarray, cache: tuple) -> tuple[np.ndarray, dict]:
    """dE/dx: dy[n, c, u, v] added at the position of the window's (first) maximum. No parameters."""
    r, window, stride, padded_shape, p, out_hw, dtype, name = cache
    require_upstream(dy, tuple(padded_shape[:2]) + tuple(out_hw), dtype, name)
    dxp = np.zeros(padded_shape, dtype=dy.dtype)
    for i, j in offsets(window):
        # Overlapping windows (stride < window) add into the same input pixel.
        dxp[(slice(None), slice(None)) + offset_slab(i, j, stride, out_hw)] += (r == i * window[1] + j) * dy
    return crop(dxp, p), {}


def avg_divisor(hw: tuple[int, int], window, stride, p: cs.Pad4, out_hw,
                count_include_pad: bool, dtype) -> np.ndarray:
    """D (H_out, W_out): k_h k_w, or the number of real input pixels in each window."""
    if count_include_pad:
        return np.full(out_hw, window[0] * window[1], dtype=dtype)
    ones = pad_with(np.ones((1, 1) + tuple(hw), dtype=dtype), p, 0.0)
    return sum(ones[(0, 0) + offset_slab(i, j, stride, out_hw)] for i, j in offsets(window))


def avgpool_forward(x: np.ndarray, window=2, stride=None, padding=0, count_include_pad: bool = True,
                    name: str = "avgpool") -> tuple[np.ndarray, tuple]:
    """y = window sum / D; padding is 0. (N, C, H, W) -> (N, C, H_out, W_out), cache."""
    window, stride, p, out_hw = validate(x, window, stride, padding, name)
    xp = pad_with(x, p, 0.0)
    D = avg_divisor(x.shape[2:], window, stride, p, out_hw, count_include_pad, x.dtype)
    total = np.zeros((x.shape[0], x.shape[1]) + tuple(out_hw), dtype=x.dtype)
    for i, j in offsets(window):  # row-major summation order
        total += xp[(slice(None), slice(None)) + offset_slab(i, j, stride, out_hw)]
    return total / D, (D, window, stride, xp.shape, p, out_hw, name)


def avgpool_backward(dy: np.ndarray, cache: tuple) -> tuple[np.ndarray, dict]:
    """dE/dx[n, c, a, e] = sum over windows (u, v) containing (a, e) of dy[n, c, u, v] / D[u, v]."""
    D, window, stride, padded_shape, p, out_hw, name = cache
    require_upstream(dy, tuple(padded_shape[:2]) + tuple(out_hw), D.dtype, name)
    g = dy / D
    dxp = np.zeros(padded_shape, dtype=dy.dtype)
    for i, j in offsets(window):
        dxp[(slice(None), slice(None)) + offset_slab(i, j, stride, out_hw)] += g
    return crop(dxp, p), {}
