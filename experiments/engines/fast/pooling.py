"""Fast max and average pooling: reference/pooling.py's results over channel-major memory (layout.py).

Max pooling is one compiled pass each way (kernels.py): the forward keeps each window's maximum and its
row-major position (the first maximum on ties, padding never wins), the backward adds dy there.
Average pooling is the reference's loop over window entries, each a strided addition, run over
(C, H, W, N) memory. The reference's checks run once per geometry; its NaN scan does not (conv.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from experiments.engines.fast import kernels
from experiments.engines.fast.conv import cached
from experiments.engines.fast.layout import chwn, nchw
from reference import pooling
from reference import sequential as seq
from reference.checks import require_upstream
from reference.conv import offset_slab


def maxpool_forward(x, window, stride, padding, name: str = "maxpool"):
    window, stride, p, out_hw = cached(pooling.validate, x, window, stride, padding, name)
    xt = chwn(x)
    shape = (xt.shape[0],) + tuple(out_hw) + (xt.shape[3],)
    y, r = np.empty(shape, dtype=x.dtype), np.empty(shape, dtype=np.int32)
    kernels.maxpool_forward(xt, window[0], window[1], stride[0], stride[1], p[0], p[2], y, r)
    return nchw(y), (r, window, stride, x.shape, p, out_hw, x.dtype, name)


def maxpool_backward(dy, cache):
    r, window, stride, x_shape, p, out_hw, dtype, name = cache
    require_upstream(dy, tuple(x_shape[:2]) + tuple(out_hw), dtype, name)
    N, C, H, W = x_shape
    dx = np.empty((C, H, W, N), dtype=dtype)
    kernels.maxpool_backward(chwn(dy), r, window[0], window[1], stride[0], stride[1], p[0], p[2], dx)
    return nchw(dx), {}


def padded_with(xt: np.ndarray, p, value: float) -> np.ndarray:
    """(C, H', W', N) x' with `value` around xt (C, H, W, N)."""
    if not any(p):
        return xt
    top, bottom, left, right = p
    return np.pad(xt, ((0, 0), (top, bottom), (left, right), (0, 0)), constant_values=value)


def avgpool_forward(x, window, stride, padding, count_include_pad: bool, name: str = "avgpool"):
    window, stride, p, out_hw = cached(pooling.validate, x, window, stride, padding, name)
    xp = padded_with(chwn(x), p, 0.0)
    D = pooling.avg_divisor(x.shape[2:], window, stride, p, out_hw, count_include_pad, x.dtype)[None, :, :, None]
    total = np.zeros((xp.shape[0],) + tuple(out_hw) + (xp.shape[3],), dtype=x.dtype)
    for i, j in pooling.offsets(window):  # row-major, as the reference adds
        total += xp[(slice(None),) + offset_slab(i, j, stride, out_hw)]
    total /= D
    return nchw(total), (D, window, stride, xp.shape, x.shape, p, out_hw, name)


def avgpool_backward(dy, cache):
    D, window, stride, padded_shape, x_shape, p, out_hw, name = cache
    require_upstream(dy, tuple(x_shape[:2]) + tuple(out_hw), D.dtype, name)
    g = chwn(dy) / D
    dxp = np.zeros(padded_shape, dtype=D.dtype)
    for i, j in pooling.offsets(window):
        dxp[(slice(None),) + offset_slab(i, j, stride, out_hw)] += g
    top, bottom, left, right = p
    return nchw(dxp[:, top:padded_shape[1] - bottom, left:padded_shape[2] - right]), {}


@dataclass(frozen=True)
class MaxPool2d(seq.MaxPool2d):
    """reference.sequential.MaxPool2d with the compiled forward and backward."""

    def apply(self, x):
        return maxpool_forward(x, self.window, self.stride, self.padding, self.name)

    def apply_backward(self, dy, cache):
        return maxpool_backward(dy, cache)


@dataclass(frozen=True)
class AvgPool2d(seq.AvgPool2d):
    """reference.sequential.AvgPool2d over channel-major memory."""

    def apply(self, x):
        return avgpool_forward(x, self.window, self.stride, self.padding, self.count_include_pad, self.name)

    def apply_backward(self, dy, cache):
        return avgpool_backward(dy, cache)
