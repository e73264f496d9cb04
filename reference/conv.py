"""2-D cross-correlation, the study's "convolution" (study 1.4), forward and backward, over NCHW.

Shapes (PyTorch's layout, chosen so that the converters in framework/conv.py are plain copies):
    x  (N, c_in, H, W)             input images
    K  (c_out, c_in, k_h, k_w)      one kernel per output channel, spanning all input channels
    b  (c_out,)                     one scalar bias per output channel
    s  (N, c_out, H_out, W_out)     output maps (the layer's signal), with
        H_out = floor((H - k_h + p_h + s_h) / s_h),  W_out = floor((W - k_w + p_w + s_w) / s_w)
    (reference/conv_shapes.py; p_h = top + bottom, p_w = left + right).

Forward, with x' the zero-padded input (x'[n, c, top + i, left + j] = x[n, c, i, j]):

    s[n, o, u, v] = b[o] + sum_c sum_{i < k_h} sum_{j < k_w} K[o, c, i, j] x'[n, c, u s_h + i, v s_w + j]

i.e. the kernel slides over the image (stride s_h, s_w), and at each position the products of the
overlapping numbers are summed over the window and over the input channels (the study's
"multi-channel input gives one map per kernel").

Backward, given ds = dE/ds (any upstream gradient of a scalar E):

    dE/db[o]          = sum_{n,u,v} ds[n, o, u, v]
    dE/dK[o, c, i, j] = sum_{n,u,v} ds[n, o, u, v] x'[n, c, u s_h + i, v s_w + j]
    dE/dx'[n, c, a, e] = sum_o sum_{i,j} ds[n, o, u, v] K[o, c, i, j]  over a = u s_h + i, e = v s_w + j

The last sum is a full cross-correlation of ds, dilated by the stride (s_h - 1 zeros between rows)
and padded by k - 1 on every side, with the kernel rotated by 180 degrees and its two channel axes
swapped; dE/dx is dE/dx' without the padding rows and columns. Pixels of x' that no window covers
(possible when (H + p_h - k_h) is not a multiple of s_h) get gradient 0.

Implementation: "im2col" through numpy.lib.stride_tricks.as_strided. The windows of x' form a
view of shape (N, c_in, H_out, W_out, k_h, k_w) without copying; one reshape copies them into the
matrix X_col of shape (N H_out W_out, c_in k_h k_w), and the correlation becomes one matrix
product with K reshaped to (c_out, c_in k_h k_w). X_col is cached for dE/dK. No Python loop runs
over pixels.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from reference.checks import require_finite, require_float
from reference import conv_shapes as cs


def pad(x: np.ndarray, p: cs.Pad4) -> np.ndarray:
    """x' = x with zeros added: p = (top, bottom, left, right) rows/columns on the H/W axes of NCHW."""
    top, bottom, left, right = p
    if not any(p):
        return x
    return np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))


def windows(xp: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int],
            out_hw: tuple[int, int]) -> np.ndarray:
    """Read-only view (N, C, H_out, W_out, k_h, k_w) with [n, c, u, v, i, j] = xp[n, c, u s_h + i, v s_w + j]."""
    N, C = xp.shape[:2]
    sN, sC, sH, sW = xp.strides
    return as_strided(xp, shape=(N, C, out_hw[0], out_hw[1], kernel[0], kernel[1]),
                      strides=(sN, sC, sH * stride[0], sW * stride[1], sH, sW), writeable=False)


def im2col(xp: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int],
           out_hw: tuple[int, int]) -> np.ndarray:
    """X_col (N H_out W_out, C k_h k_w): one row per output position (n, u, v), columns (c, i, j)."""
    N, C = xp.shape[:2]
    w = windows(xp, kernel, stride, out_hw).transpose(0, 2, 3, 1, 4, 5)
    return w.reshape(N * out_hw[0] * out_hw[1], C * kernel[0] * kernel[1])


def validate(x: np.ndarray, K: np.ndarray, b: np.ndarray, stride, padding, name: str):
    """Check x, K, b and the geometry; return (stride pair, padding 4-tuple, (H_out, W_out))."""
    cs.check_input(x, name)
    require_float(x, f"{name}: input x")
    require_float(K, f"{name}: kernel K")
    require_float(b, f"{name}: bias b")
    if K.ndim != 4:
        raise ValueError(f"{name}: kernel K must be 4-D (c_out, c_in, k_h, k_w), got shape {K.shape}")
    if b.shape != (K.shape[0],):
        raise ValueError(f"{name}: bias b must have shape (c_out,) = ({K.shape[0]},), got {b.shape}")
    if not (x.dtype == K.dtype == b.dtype):
        raise TypeError(f"{name}: x, K and b must share one dtype, got {x.dtype}, {K.dtype}, {b.dtype}")
    stride = cs.pair(stride, "stride", name)
    cs.check_stride(stride, name)
    p = cs.per_side(padding, name)
    kernel = (K.shape[2], K.shape[3])
    cs.check_kernel_size(kernel, name)
    cs.check_channels(x.shape[1], K.shape[1], name)
    cs.check_fits(x.shape[2:], kernel, p, name)
    require_finite(x, f"{name}: input x")
    return stride, p, cs.output_shape(x.shape[2:], kernel, p, stride)


def forward(x: np.ndarray, K: np.ndarray, b: np.ndarray, stride=1, padding=0,
            name: str = "conv") -> tuple[np.ndarray, tuple]:
    """s = b + x' (*) K over every window: (N, c_in, H, W) -> (N, c_out, H_out, W_out), and the cache.

    stride: int or (s_h, s_w). padding: per side, int, (p_h, p_w) or (top, bottom, left, right);
    use conv_shapes.padding_from_total for the study's total p.
    """
    stride, p, out_hw = validate(x, K, b, stride, padding, name)
    N, c_out = x.shape[0], K.shape[0]
    kernel = (K.shape[2], K.shape[3])
    X_col = im2col(pad(x, p), kernel, stride, out_hw)
    s = X_col @ K.reshape(c_out, -1).T + b  # (N H_out W_out, c_out)
    s = np.ascontiguousarray(s.reshape(N, out_hw[0], out_hw[1], c_out).transpose(0, 3, 1, 2))
    return s, (X_col, K, x.shape, stride, p, out_hw, name)


def input_gradient(ds: np.ndarray, K: np.ndarray, x_shape, stride, p: cs.Pad4) -> np.ndarray:
    """dE/dx: full correlation of the stride-dilated ds with the rotated, channel-swapped kernel.

    ds (N, c_out, H_out, W_out), K (c_out, c_in, k_h, k_w) -> (N, c_in, H, W).
    """
    N, c_out, H_out, W_out = ds.shape
    _, c_in, k_h, k_w = K.shape
    H, W = x_shape[2:]
    top, bottom, left, right = p
    # Rows/columns of x' covered by some window: 0 .. (H_out - 1) s_h + k_h - 1.
    H_c, W_c = (H_out - 1) * stride[0] + k_h, (W_out - 1) * stride[1] + k_w
    # Dilate by the stride and pad by k - 1 on every side, in one allocation.
    d = np.zeros((N, c_out, H_c + k_h - 1, W_c + k_w - 1), dtype=ds.dtype)
    d[:, :, k_h - 1:k_h - 1 + (H_out - 1) * stride[0] + 1:stride[0],
      k_w - 1:k_w - 1 + (W_out - 1) * stride[1] + 1:stride[1]] = ds
    K_rot = K[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)  # (c_in, c_out, k_h, k_w)
    D_col = im2col(d, (k_h, k_w), (1, 1), (H_c, W_c))  # (N H_c W_c, c_out k_h k_w)
    dxc = (D_col @ K_rot.reshape(c_in, -1).T).reshape(N, H_c, W_c, c_in).transpose(0, 3, 1, 2)
    # dE/dx' is dxc on the covered region and 0 beyond; dE/dx crops the padding.
    dx = np.zeros((N, c_in, H, W), dtype=ds.dtype)
    n_h, n_w = max(0, min(top + H, H_c) - top), max(0, min(left + W, W_c) - left)
    dx[:, :, :n_h, :n_w] = dxc[:, :, top:top + n_h, left:left + n_w]
    return dx


def backward(ds: np.ndarray, cache: tuple) -> tuple[np.ndarray, dict]:
    """Given ds = dE/ds (N, c_out, H_out, W_out): (dE/dx, {"K": dE/dK, "b": dE/db})."""
    X_col, K, x_shape, stride, p, out_hw, name = cache
    N, c_out = x_shape[0], K.shape[0]
    expected = (N, c_out) + tuple(out_hw)
    if ds.shape != expected:
        raise ValueError(f"{name}: upstream gradient has shape {ds.shape}, expected {expected}")
    ds = ds.astype(K.dtype, copy=False)
    ds_mat = ds.transpose(0, 2, 3, 1).reshape(-1, c_out)  # rows (n, u, v), like X_col
    dK = (ds_mat.T @ X_col).reshape(K.shape)
    db = ds.sum(axis=(0, 2, 3))
    return input_gradient(ds, K, x_shape, stride, p), {"K": dK, "b": db}

