"""The fast convolution layer: reference/conv.py's arithmetic without its copies and scans.

A float32 stride-1 layer with c_out a multiple of 8, depth c_in k_h k_w >= 64 and a padding of at most k - 1 a
side, on an AVX-512 CPU (LeNet's conv2, the face CNNs' conv2 and conv3), goes by direct.py instead: the same sums
without im2col, on register-blocked micro-kernels (0.54-0.96x torch eager's time there, against 1.0-1.25x for
the GEMMs below, side by side). Everything else (float64, which keeps the reference's bits; the shallow first
layers, where the GEMMs below are 0.3-0.5x torch's time; strided layers) goes as follows.

Forward and backward are the reference's: X_col = im2col(x') (c_in k_h k_w, H_out W_out N),
S = K_mat X_col + b, dE/dK = dS X_col^T, dE/db = row sums of dS, dE/dx = col2im(K_mat^T dS).
What changes:
- for a shallow GEMM (c_in k_h k_w < 64, first layers) or an X_col over 2 MiB, X_col is built and
  multiplied a block of output rows at a time (a block stays in the L2 cache for its GEMM; LeNet's whole
  first X_col at batch 64, 3.7 MB, does not); other layers build it whole;
- X_col (whole or a block) is built in a reused scratch buffer and never kept: the backward pass builds it
  again from x' for dE/dK (the cache holds x', which is x's own memory when x is channel-major and unpadded,
  as the reference's ReLU holds its input), and dE/dx's D uses the same buffer. A copy of X_col costs 2-5% of
  its GEMMs; fresh buffers at every call cost more (`scratch`) and a kept X_col is 9x the memory of x';
- dE/dK is computed as (X_col dS^T)^T, which OpenBLAS runs faster; it (and s when built in blocks)
  equals the reference's to rounding; dE/db and dE/dx are the reference's bits (dE/dx in float32 to
  rounding where D is blocked, below);
- the output is S's memory itself, returned as an NCHW view of (c_out, H_out, W_out, N) (layout.py),
  and dS is read from dy the same way: no transposing copy either side when the neighbours are fast layers;
- col2im is one compiled gather (kernels.py): each input pixel's gradient is summed once, in the
  reference's order, straight into the unpadded (c_in, H, W, N) array (no padded buffer, no crop); when
  D = K_mat^T dS is over LARGE it is computed a block of output rows at a time, last block first, and each
  block added into dE/dx while it is in the cache (kernels.col2im: the same order of additions, so
  float64 keeps the reference's bits; float32's blocked GEMM rounds D differently, within rounding). Measured
  on 16->32 3x3 at 56x46, batch 32: dE/dx 25-30 ms whole, 15-21 ms in blocks;
- the reference's checks of shapes, dtypes and geometry run once per geometry (cached); its scan of
  every input for NaN and inf does not (the training loop checks the parameters each epoch).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from experiments.engines.fast import direct, kernels
from experiments.engines.fast.layout import chwn, nchw
from reference import conv
from reference import sequential as seq
from reference.checks import require_upstream

_CHECKED: dict = {}


def cached(validate, *args):
    """validate(*args) (a reference validator returning the geometry), run once per (shapes, dtypes, settings).

    Arrays enter the key by shape and dtype; a call the key cannot describe (a non-array, an unhashable
    setting) is validated every time, so the reference's errors are raised as the reference raises them.
    """
    key = (validate,) + tuple((a.shape, a.dtype) if isinstance(a, np.ndarray) else a for a in args)
    try:
        geometry = _CHECKED.get(key)
    except TypeError:
        return validate(*args)
    if geometry is None:
        geometry = _CHECKED[key] = validate(*args)
    return geometry


def padded(x: np.ndarray, p) -> np.ndarray:
    """x' in (C, H', W', N) layout: x's own memory when it is stored so and needs no padding."""
    if not any(p):
        return chwn(x)
    N, C, H, W = x.shape
    top, bottom, left, right = p
    xp = np.zeros((C, H + top + bottom, W + left + right, N), dtype=x.dtype)
    xp[:, top:top + H, left:left + W, :] = x.transpose(1, 2, 3, 0)
    return xp


BLOCK_BYTES = 1 << 18  # an im2col block of this size stays in the L2 cache beside its GEMM (1 MiB per core here)
DEEP_BLOCK_BYTES = 1 << 21  # blocks of deep GEMMs (depth >= SHALLOW): longer GEMMs amortise OpenBLAS's packing
SHALLOW = 64  # GEMMs of depth c_in k_h k_w below this are bound by reading X_col, so X_col is built in blocks
LARGE = 3 << 20  # and so is an X_col (or dE/dx's D) of more bytes than this (it would go to memory and back)


def row_blocks(out_hw, N: int, depth: int, itemsize: int, shallow: int | None = None) -> list[tuple[int, int]]:
    """Ranges of output rows u: all rows at once for a deep GEMM on a moderate X_col, else blocks of X_col of
    at most BLOCK_BYTES (shallow GEMMs) or DEEP_BLOCK_BYTES.

    Measured (float32, minimum of interleaved repeats): blocks take LeNet's first layer (depth 25, batch 64)
    from 1.2 to 0.6 ms and the face CNN's first (depth 9) from 0.32 to 0.19 ms; at depths 144 to 288 on
    X_cols of 0.2 to 3.3 MB they gained nothing; on the 47 MB X_col of 16->32 3x3 at 56x46, batch 32, forward
    and backward went from 136 to 111 ms. LARGE was 16 MiB until the 11.9 MB X_col of 16->32 3x3 at 28x23, batch
    32, was measured: forward and backward 22-27 ms whole, 12.5-13 ms in blocks (LARGE 0.5, 1, 2 or 4 MiB alike;
    the other float32 rows over torch's time moved within the noise). 3 MiB since dE/dx's D is blocked by the
    same rule (shallow=0): the face CNN's conv2 at batch 32 (X_col and D 2.8 MB) took 1.53 ms whole against 1.80
    in one-row blocks (medians of 9 interleaved rounds, SkylakeX kernel); LeNet's conv2 (3.3 MB) stays in blocks.
    Blocks of deep GEMMs are DEEP_BLOCK_BYTES (2 MiB, 2-4 output rows here; SkylakeX, channel-major inputs, medians
    of 7 interleaved rounds, forward and backward): the 112x92 network's conv2 25.7 -> 23.9 ms, conv3 19.2 -> 18.3,
    LeNet's conv2 1.13 -> 1.05; the shallow first layers keep 256 KiB (LeNet's conv1 0.79 ms, 1.27 in 2 MiB blocks)."""
    shallow = SHALLOW if shallow is None else shallow
    row_bytes = max(1, depth * out_hw[1] * N * itemsize)  # an empty batch (N = 0) has empty rows
    whole = depth >= shallow and row_bytes * out_hw[0] <= LARGE
    block = BLOCK_BYTES if depth < SHALLOW else DEEP_BLOCK_BYTES
    step = out_hw[0] if whole else max(1, block // row_bytes)
    return [(u, min(u + step, out_hw[0])) for u in range(0, out_hw[0], step)]


_SCRATCH = threading.local()


def scratch(n: int, dtype) -> np.ndarray:
    """n elements of this thread's reused buffer for `dtype` (grown when too small), for a temporary that never
    leaves its call: an X_col block, a block of dE/dx's D. Allocated afresh at every call, such buffers made
    glibc trim the heap and the next call fault its pages in again: the face CNN's conv2 forward and backward
    at batch 32 took 3.4-3.9 ms a call with 1,356 page faults, 1.2-1.4 ms with none from here (float32, side
    by side in one process; at batch 20 D alone from here: 2.4 ms with 948 faults, 0.72 ms with none)."""
    bufs = _SCRATCH.__dict__.setdefault("bufs", {})
    dtype = np.dtype(dtype)
    buf = bufs.get(dtype)
    if buf is None or buf.size < n:
        buf = bufs[dtype] = np.empty(n, dtype=dtype)
    return buf[:n]


def scratch_bytes() -> int:
    """Bytes this thread's scratch buffers hold (allocated at an earlier call, live through the next)."""
    return sum(b.nbytes for b in _SCRATCH.__dict__.get("bufs", {}).values())


def clear_scratch() -> None:
    """Drop this thread's scratch buffers (the next call allocates what it needs)."""
    _SCRATCH.__dict__.pop("bufs", None)


def blocks(xp: np.ndarray, kernel, stride, out_hw):
    """(u0, u1, X_col block) over the output rows: X_col's columns of rows u0..u1 - 1, copied from x' into the
    scratch buffer (valid until the next block or the next call). Where X_col is one block that the reference's
    reshape gets as a view of x' (degenerate geometries, e.g. one sample and one output column), it is that view:
    NumPy multiplies such strided operands in its own loop, not in BLAS, and so must the fast path, for the
    reference's bits."""
    win = conv.windows(xp, kernel, stride, out_hw)  # (c_in, k_h, k_w, H_out, W_out, N), no copy
    depth = xp.shape[0] * kernel[0] * kernel[1]
    for u0, u1 in row_blocks(out_hw, xp.shape[3], depth, xp.itemsize):
        part = win[:, :, :, u0:u1]
        if u1 - u0 == out_hw[0]:
            view = part.reshape(depth, -1)
            if np.may_share_memory(view, xp):  # a reshape is a view or a fresh copy: the bounds tell
                yield u0, u1, view
                continue
        X_blk = scratch(part.size, xp.dtype)
        np.copyto(X_blk.reshape(part.shape), part)
        yield u0, u1, X_blk.reshape(depth, -1)


def out_rows(a: np.ndarray, u0: int, u1: int) -> np.ndarray:
    """The (c, (u1 - u0) W_out N) view of output rows u0..u1 - 1 of a (c, H_out, W_out, N) array."""
    return a[:, u0:u1].reshape(a.shape[0], -1)


def forward(x, K, b, stride, padding, name: str = "conv"):
    """(s as an NCHW view of channel-major memory, cache). S = K_mat X_col + b, X_col built and multiplied
    a block of output rows at a time when the GEMM is shallow or X_col large; the cache keeps x', not X_col."""
    stride, p, out_hw = cached(conv.validate, x, K, b, stride, padding, name)
    if direct.applies(x.shape, K.shape, stride, p, x.dtype):
        S, xf = direct.forward(chwn(x), K, b, p, out_hw)
        return nchw(S), (xf, K, x.shape, stride, p, out_hw, name)
    c_out, N = K.shape[0], x.shape[0]
    xp = padded(x, p)
    K_mat = K.reshape(c_out, -1)
    S = np.empty((c_out, out_hw[0], out_hw[1], N), dtype=x.dtype)
    for u0, u1, X_blk in blocks(xp, K.shape[2:], stride, out_hw):
        np.matmul(K_mat, X_blk, out=out_rows(S, u0, u1))
    S += b[:, None, None, None]
    return nchw(S), (xp, K, x.shape, stride, p, out_hw, name)


def kernel_gradient(xp, dS4, kernel, stride, out_hw) -> np.ndarray:
    """dE/dK^T (c_in k_h k_w, c_out) = X_col dS^T, X_col built again from x' (whole or block by block).

    X_col dS^T rather than the reference's dS X_col^T: OpenBLAS runs this orientation 1.2x to 4x faster
    (measured, 16 to 64 output channels); the additions come in another order, so dE/dK is the
    reference's to rounding, not to the bit."""
    dKT = None
    for u0, u1, X_blk in blocks(xp, kernel, stride, out_hw):
        part = X_blk @ out_rows(dS4, u0, u1).T
        dKT = part if dKT is None else np.add(dKT, part, out=dKT)
    return dKT


def backward(ds, cache, need_dx: bool = True):
    """(dE/dx as an NCHW view of channel-major memory or None, {"K", "b"})."""
    xp, K, x_shape, stride, p, out_hw, name = cache
    N, c_in, H, W = x_shape
    c_out, k_h, k_w = K.shape[0], K.shape[2], K.shape[3]
    require_upstream(ds, (N, c_out) + tuple(out_hw), K.dtype, name)
    dS4 = chwn(ds)
    dS = dS4.reshape(c_out, -1)
    dsf = direct.padded_gradient(dS4, p, (k_h, k_w), scratch) if isinstance(xp, direct.Flat) else None
    if dsf is not None:  # the forward was direct: x' is flat
        dK = direct.kernel_gradient(xp, dsf, K.shape, p, out_hw, N)
    else:
        dK = kernel_gradient(xp, dS4, (k_h, k_w), stride, out_hw).T.reshape(K.shape)
    grads = {"K": dK, "b": dS.sum(axis=1)}
    if need_dx and dsf is not None and direct.applies_to_input_gradient(K.shape):
        return nchw(direct.input_gradient(dsf, K, (c_in, H, W, N))), grads
    if not need_dx:
        return None, grads
    return nchw(input_gradient(K, dS4, stride, p, out_hw, (c_in, H, W, N))), grads


def input_gradient(K, dS4, stride, p, out_hw, shape) -> np.ndarray:
    """dE/dx (c_in, H, W, N) = col2im(K_mat^T dS), D = K_mat^T dS computed a block of output rows at a time
    (last block first; one block when D is small), so that each block is added into dE/dx while it is in the cache."""
    c_out, c_in, k_h, k_w = K.shape
    depth, N = c_in * k_h * k_w, shape[3]
    KT = K.reshape(c_out, -1).T
    spans = row_blocks(out_hw, N, depth, K.itemsize, shallow=0)
    dx = np.zeros(shape, dtype=K.dtype)
    buf = scratch(depth * (spans[0][1] - spans[0][0]) * out_hw[1] * N, K.dtype)
    for u0, u1 in reversed(spans):
        D = buf[:depth * (u1 - u0) * out_hw[1] * N].reshape(depth, -1)
        np.matmul(KT, out_rows(dS4, u0, u1), out=D)
        kernels.col2im(D.reshape(c_in, k_h, k_w, u1 - u0, out_hw[1], N), u0, stride[0], stride[1], p[0], p[2], dx)
    return dx


@dataclass(frozen=True)
class Conv2d(seq.Conv2d):
    """reference.sequential.Conv2d (same fields, same init draws) with the fast forward and backward."""

    def forward(self, x, params, state, *, train: bool, rng=None):
        y, cache = forward(x, params["K"], params["b"], self.stride, self.padding, self.name)
        return y, cache, state

    def backward(self, dy, cache, need_dx: bool = True):
        return backward(dy, cache, need_dx)
