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
the error). Inputs must be finite (NaN would make "the maximum" ill-defined).

Implementation: windows are as_strided views (reference/conv.py); the backward scatter-adds into
the padded input with numpy.bincount over flat indices, which is a vectorised histogram and sums
overlapping windows correctly. No Python loop runs over pixels.
"""

from __future__ import annotations

import numpy as np

from reference import conv_shapes as cs
from reference.checks import require_finite, require_float
from reference.conv import windows


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
    cs.check_fits(x.shape[2:], window, p, name, "window")
    require_finite(x, f"{name}: input x")
    return window, stride, p, cs.output_shape(x.shape[2:], window, p, stride)


def pad_with(x: np.ndarray, p: cs.Pad4, value: float) -> np.ndarray:
    """x' = x padded on the H and W axes with `value`; p = (top, bottom, left, right)."""
    if not any(p):
        return x
    top, bottom, left, right = p
    return np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)), constant_values=value)


def window_index(padded_hw: tuple[int, int], window, stride, out_hw) -> np.ndarray:
    """(H_out, W_out, k_h, k_w) flat indices a W' + e into one padded channel of size padded_hw."""
    u = np.arange(out_hw[0])[:, None, None, None] * stride[0] + np.arange(window[0])[None, None, :, None]
    v = np.arange(out_hw[1])[None, :, None, None] * stride[1] + np.arange(window[1])[None, None, None, :]
    return u * padded_hw[1] + v


def scatter_add(values: np.ndarray, index: np.ndarray, padded_shape, p: cs.Pad4, dtype) -> np.ndarray:
    """Sum values (N, C, ...) into flat positions index (N, C, ...) of each padded channel; crop padding.

    Returns dE/dx (N, C, H, W). Sums are accumulated in float64 (bincount), then cast to dtype.
    """
    N, C, Hp, Wp = padded_shape
    offsets = (np.arange(N * C) * (Hp * Wp)).reshape(N, C, *([1] * (index.ndim - 2)))
    flat = np.bincount((index + offsets).ravel(), weights=values.ravel(), minlength=N * C * Hp * Wp)
    top, bottom, left, right = p
    return flat.reshape(N, C, Hp, Wp)[:, :, top:Hp - bottom, left:Wp - right].astype(dtype)


def maxpool_forward(x: np.ndarray, window=2, stride=None, padding=0,
                    name: str = "maxpool") -> tuple[np.ndarray, tuple]:
    """y = max over each window; padding acts as -inf. (N, C, H, W) -> (N, C, H_out, W_out), cache."""
    window, stride, p, out_hw = validate(x, window, stride, padding, name)
    xp = pad_with(x, p, -np.inf)
    N, C = x.shape[:2]
    w = windows(xp, window, stride, out_hw).reshape(N, C, out_hw[0], out_hw[1], -1)
    # argmax returns the first maximum of the row-major flattened window: PyTorch's tie rule.
    arg = np.argmax(w, axis=-1)
    y = np.take_along_axis(w, arg[..., None], axis=-1)[..., 0]
    flat_window = window_index(xp.shape[2:], window, stride, out_hw).reshape(out_hw[0], out_hw[1], -1)
    # Flat index (in the padded channel) of each chosen maximum, (N, C, H_out, W_out).
    idx = np.take_along_axis(np.broadcast_to(flat_window, w.shape), arg[..., None], axis=-1)[..., 0]
    return y, (idx, xp.shape, p, x.dtype, out_hw, name)


def maxpool_backward(dy: np.ndarray, cache: tuple) -> tuple[np.ndarray, dict]:
    """dE/dx: dy[n, c, u, v] added at the position of the window's (first) maximum. No parameters."""
    idx, padded_shape, p, dtype, out_hw, name = cache
    expected = tuple(padded_shape[:2]) + tuple(out_hw)
    if dy.shape != expected:
        raise ValueError(f"{name}: upstream gradient has shape {dy.shape}, expected {expected}")
    return scatter_add(dy, idx, padded_shape, p, dtype), {}


def avg_divisor(hw: tuple[int, int], window, stride, p: cs.Pad4, out_hw,
                count_include_pad: bool) -> np.ndarray:
    """D (H_out, W_out): k_h k_w, or the number of real input pixels in each window."""
    if count_include_pad:
        return np.full(out_hw, float(window[0] * window[1]))
    ones = pad_with(np.ones((1, 1) + tuple(hw)), p, 0.0)
    return windows(ones, window, stride, out_hw).sum(axis=(-2, -1))[0, 0]


def avgpool_forward(x: np.ndarray, window=2, stride=None, padding=0, count_include_pad: bool = True,
                    name: str = "avgpool") -> tuple[np.ndarray, tuple]:
    """y = window sum / D; padding is 0. (N, C, H, W) -> (N, C, H_out, W_out), cache."""
    window, stride, p, out_hw = validate(x, window, stride, padding, name)
    xp = pad_with(x, p, 0.0)
    D = avg_divisor(x.shape[2:], window, stride, p, out_hw, count_include_pad).astype(x.dtype)
    y = windows(xp, window, stride, out_hw).sum(axis=(-2, -1)) / D
    return y, (D, window, stride, xp.shape, p, x.dtype, out_hw, name)


def avgpool_backward(dy: np.ndarray, cache: tuple) -> tuple[np.ndarray, dict]:
    """dE/dx[n, c, a, e] = sum over windows (u, v) containing (a, e) of dy[n, c, u, v] / D[u, v]."""
    D, window, stride, padded_shape, p, dtype, out_hw, name = cache
    expected = tuple(padded_shape[:2]) + tuple(out_hw)
    if dy.shape != expected:
        raise ValueError(f"{name}: upstream gradient has shape {dy.shape}, expected {expected}")
    g = (dy / D)[..., None, None]  # (N, C, H_out, W_out, 1, 1)
    index = window_index(padded_shape[2:], window, stride, out_hw)  # (H_out, W_out, k_h, k_w)
    values = np.broadcast_to(g, dy.shape + tuple(window))
    return scatter_add(values, np.broadcast_to(index, values.shape), padded_shape, p, dtype), {}
