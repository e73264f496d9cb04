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

Implementation: "im2col" through numpy.lib.stride_tricks.as_strided. x' is stored once as
(c_in, H', W', N) (padding and transposition in one copy; N last makes the copies below run over
long contiguous stretches); its windows form a view of shape (c_in, k_h, k_w, H_out, W_out, N)
without copying; one reshape copies them into the matrix X_col of shape
(c_in k_h k_w, H_out W_out N), and the correlation becomes one matrix product with K reshaped to
(c_out, c_in k_h k_w). X_col is cached for dE/dK. dE/dx is the adjoint,
"col2im": the kernel matrix transposed times the maps of ds, added back window by window (a Python loop over
the k_h k_w kernel offsets, each one strided NumPy addition over all pixels). No Python loop runs
over pixels.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from reference import conv_shapes as cs
from reference.checks import require_finite, require_float, require_upstream


def pad(x: np.ndarray, p: cs.Pad4) -> np.ndarray:
    """x' = x with zeros added: p = (top, bottom, left, right) rows/columns on the H/W axes of NCHW."""
    top, bottom, left, right = p
    if not any(p):
        return x
    return np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))


def padded_chwn(x: np.ndarray, p: cs.Pad4) -> np.ndarray:
    """x' in the (C, H + p_h, W + p_w, N) layout: padding and the move of N last in one copy."""
    N, C, H, W = x.shape
    top, bottom, left, right = p
    xp = np.zeros((C, H + top + bottom, W + left + right, N), dtype=x.dtype)
    xp[:, top:top + H, left:left + W, :] = x.transpose(1, 2, 3, 0)
    return xp


def offset_slab(i: int, j: int, stride: tuple[int, int], out_hw: tuple[int, int]) -> tuple[slice, slice]:
    """Rows and columns of x' under kernel entry (i, j) across all windows: i, i + s_h, ..., i + (H_out - 1) s_h.

    With x' in NCHW, xp[:, :, rows, cols] is (N, C, H_out, W_out) and holds x'[n, c, u s_h + i, v s_w + j]
    at (u, v) (pooling.py uses it so).
    """
    return (slice(i, i + (out_hw[0] - 1) * stride[0] + 1, stride[0]),
            slice(j, j + (out_hw[1] - 1) * stride[1] + 1, stride[1]))


def windows(xp: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int],
            out_hw: tuple[int, int]) -> np.ndarray:
    """Read-only view (C, k_h, k_w, H_out, W_out, N) of x' in (C, H', W', N) layout:
    [c, i, j, u, v, n] = x'[n, c, u s_h + i, v s_w + j]. No copy (numpy's as_strided)."""
    C, _, _, N = xp.shape
    sC, sH, sW, sN = xp.strides
    return as_strided(xp, shape=(C, kernel[0], kernel[1], out_hw[0], out_hw[1], N),
                      strides=(sC, sH, sW, sH * stride[0], sW * stride[1], sN), writeable=False)


def im2col(xp: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int],
           out_hw: tuple[int, int]) -> np.ndarray:
    """X_col (c_in k_h k_w, H_out W_out N): one row per kernel entry (c, i, j), one column per
    output position (u, v, n); column (u, v, n) is the window of x' under the kernel at (u, v).

    With x' in (C, H', W', N) layout every copied run is a stretch of W_out N contiguous numbers
    (stride 1), so the copy runs at memory speed; N last also keeps col2im's additions long.
    """
    C, N = xp.shape[0], xp.shape[3]
    return windows(xp, kernel, stride, out_hw).reshape(C * kernel[0] * kernel[1], out_hw[0] * out_hw[1] * N)


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
    if K.shape[0] < 1:
        raise ValueError(f"{name}: kernel K (c_out, c_in, k_h, k_w) = {K.shape} has no output channels "
                         f"(c_out must be >= 1)")
    cs.check_channels(x.shape[1], K.shape[1], name)
    # c_in = 0 is refused too: PyTorch returns an (N, 0, H, W) map there, whatever c_out is.
    cs.check_not_empty(x, name, pad=p)
    cs.check_fits(x.shape[2:], kernel, p, name)
    require_finite(x, f"{name}: input x")
    require_finite(K, f"{name}: kernel K")
    require_finite(b, f"{name}: bias b")
    return stride, p, cs.output_shape(x.shape[2:], kernel, p, stride)


def forward(x: np.ndarray, K: np.ndarray, b: np.ndarray, stride=1, padding=0,
            name: str = "conv") -> tuple[np.ndarray, tuple]:
    """s = b + x' (*) K over every window: (N, c_in, H, W) -> (N, c_out, H_out, W_out), and the cache.

    stride: int or (s_h, s_w). padding: per side, int, (p_h, p_w) or (top, bottom, left, right);
    use conv_shapes.padding_from_total for the study's total p.
    As matrices: S = K_mat X_col + b with K_mat = K reshaped to (c_out, c_in k_h k_w).
    """
    stride, p, out_hw = validate(x, K, b, stride, padding, name)
    N, c_out = x.shape[0], K.shape[0]
    kernel = (K.shape[2], K.shape[3])
    X_col = im2col(padded_chwn(x, p), kernel, stride, out_hw)
    S = K.reshape(c_out, -1) @ X_col + b[:, None]  # (c_out, H_out W_out N)
    s = np.ascontiguousarray(S.reshape(c_out, out_hw[0], out_hw[1], N).transpose(3, 0, 1, 2))
    return s, (X_col, K, x.shape, stride, p, out_hw, name)


def col2im(D_col: np.ndarray, x_shape, kernel, stride, p: cs.Pad4, out_hw) -> np.ndarray:
    """The adjoint of im2col: add every window's entries back where they came from, crop the padding.

    D_col (c_in k_h k_w, H_out W_out N) -> (N, c_in, H, W). Each kernel offset (i, j) adds its
    (c_in, H_out, W_out, N) slab into x' (kept as (c_in, H', W', N)) with one strided slice (rows
    i, i + s_h, ...), so the Python loop runs over the k_h k_w kernel offsets while NumPy handles
    every pixel.
    """
    N, c_in, H, W = x_shape
    k_h, k_w = kernel
    H_out, W_out = out_hw
    top, bottom, left, right = p
    D = D_col.reshape(c_in, k_h, k_w, H_out, W_out, N)
    dxp = np.zeros((c_in, H + top + bottom, W + left + right, N), dtype=D_col.dtype)
    for i in range(k_h):
        for j in range(k_w):
            rows, cols = offset_slab(i, j, stride, out_hw)
            dxp[:, rows, cols, :] += D[:, i, j]
    return dxp[:, top:top + H, left:left + W, :].transpose(3, 0, 1, 2)


def backward(ds: np.ndarray, cache: tuple, need_dx: bool = True) -> tuple[np.ndarray | None, dict]:
    """Given ds = dE/ds (N, c_out, H_out, W_out), in the layer's dtype: (dE/dx, {"K": dE/dK, "b": dE/db}).

    With dS (c_out, H_out W_out N) the maps of ds in X_col's column order:
        dE/dK = dS X_col^T,   dE/db = row sums of dS,   dE/dx = col2im(K_mat^T dS)
    (the last is the full correlation with the rotated kernel). need_dx=False skips dE/dx (None),
    e.g. for a first layer, whose input needs no gradient.
    """
    X_col, K, x_shape, stride, p, out_hw, name = cache
    N, c_out = x_shape[0], K.shape[0]
    require_upstream(ds, (N, c_out) + tuple(out_hw), K.dtype, name)
    dS = np.ascontiguousarray(ds.transpose(1, 2, 3, 0)).reshape(c_out, -1)
    K_mat = K.reshape(c_out, -1)
    dK = (dS @ X_col.T).reshape(K.shape)
    db = dS.sum(axis=1)
    dx = col2im(K_mat.T @ dS, x_shape, K.shape[2:], stride, p, out_hw) if need_dx else None
    return dx, {"K": dK, "b": db}


def pixel_use_counts(hw: tuple[int, int], kernel, stride=1, padding=0) -> np.ndarray:
    """How many output positions use each input pixel (the study's Figure 9): (H, W) integers.

    The adjoint of the window extraction applied to ones: col2im of an all-ones X_col. Without
    padding the corner pixels are used once and the centre ones up to k_h k_w times; padding
    evens this out.
    """
    kernel = cs.pair(kernel, "kernel", "pixel_use_counts")
    stride = cs.pair(stride, "stride", "pixel_use_counts")
    cs.check_kernel_size(kernel, "pixel_use_counts")
    cs.check_stride(stride, "pixel_use_counts")
    p = cs.per_side(padding, "pixel_use_counts")
    cs.check_fits(hw, kernel, p, "pixel_use_counts")
    out_hw = cs.output_shape(hw, kernel, p, stride)
    ones = np.ones((kernel[0] * kernel[1], out_hw[0] * out_hw[1]), dtype=np.int64)
    return col2im(ones, (1, 1) + tuple(hw), kernel, stride, p, out_hw)[0, 0]
