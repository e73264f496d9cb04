"""The direct convolution: stride 1, no im2col, on simd.py's register-blocked micro-kernels.

With stride 1 and x' (x padded) stored channel-major (C, H', W', N), every kernel tap (c, i, j) is one shift of
a flat array: output row u, lane l (the W_out N numbers of a row: pixel l // N, sample l % N) reads x' row u + i
at lane l + j N. So, with dS' = dS padded by k - 1 - p (the full correlation's padding; dS at row and lane
offsets t' = k_h - 1 - p_t, l' = (k_w - 1 - p_l) N inside it):

    S[c_out, u, l]        = b + sum over (c, i, j) of K[c_out, c, i, j] x'[c, u + i, l + j N]
    dE/dx[c, a, l]        = sum over (c_out, i, j) of K[c_out, c, k_h-1-i, k_w-1-j] dS'[c_out, a + i, l + j N]
    dE/dK[c_out, c, i, j] = sum over (u, l) of dS'[c_out, t' + u, l' + l] x'[c, u + i, l + j N]

two matrix products whose right-hand rows are shifted stretches of one flat array (simd.broadcast), and one
summed along the rows of two of them (simd.dot). These are the reference's sums (reference/conv.py, by
definition of the cross-correlation and its adjoints) added in another order: float64 within 1e-12 of the
reference, float32 within rounding (tests/test_fast_cnn.py).

Flat buffers: x' and dS' live in one 1-D array each, channel after channel, with zeros after the last, so that
every read of a whole vector block, past a row's last lane or shifted past the last row, stays inside it.
Measured (float32, forward and backward over torch eager, side by side, one thread): docs/speed.md.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numba
import numpy as np

from experiments.engines.fast import simd

DTYPES = (np.dtype(np.float32),)  # float64 keeps the im2col path and the reference's bits (docs/speed.md)
ROWS = 8  # R: output channels per broadcast block (c_out and, for dE/dx, c_in must be multiples of it)
VECTORS = 3  # V: vectors of lanes per broadcast block: R V = 24 accumulators, of the 32 vector registers
DOT_ROWS = 4  # Ra of the dE/dK blocks; Rb is the largest of 6..1 dividing c_in k_h k_w (Ra Rb <= 24)
CHUNK_BYTES = 1 << 14  # dE/dK sums groups of rows of about this many bytes per channel (they stay in the cache)
AVAILABLE = simd.wide_registers()  # sized for 32 registers of 64 bytes: compiled for AVX2, 1.3-1.8x torch's time
MIN_DEPTH = 64  # shallower products (first layers: c_in k_h k_w = 9 or 25) stay on im2col, which is faster there


def applies(x_shape, K_shape, stride, p, dtype) -> bool:
    """Whether the direct convolution computes this layer's forward and dE/dK: stride 1, a padding of at most
    k - 1 on each side (so that dE/dx's full correlation pads dS by k - 1 - p >= 0), c_out a multiple of ROWS, a
    product at least MIN_DEPTH deep, a dtype of DTYPES, on a CPU with AVX-512 (AVAILABLE)."""
    c_out, c_in, k_h, k_w = K_shape
    return (AVAILABLE and tuple(stride) == (1, 1) and max(p[:2]) <= k_h - 1 and max(p[2:]) <= k_w - 1
            and c_out % ROWS == 0 and c_in * k_h * k_w >= MIN_DEPTH and np.dtype(dtype) in DTYPES)


def applies_to_input_gradient(K_shape) -> bool:
    """Whether dE/dx is direct too (its output channels, c_in, come in blocks of ROWS)."""
    return K_shape[1] % ROWS == 0


@dataclass(frozen=True)
class Flat:
    """A (C, H', W', N) array stored flat: buf[c chan + r pitch + l] is row r, lane l of channel c."""

    buf: np.ndarray
    chan: int
    pitch: int


def flat_geometry(shape, p, k_w: int, dtype) -> tuple[int, int, int]:
    """(chan, pitch, size) of the Flat holding a (C, H, W, N) array padded by p = (top, bottom, left, right):
    chan = H' W' N, pitch = W' N, and k_w N + V W zeros after the last channel (every read starts at or after
    its row's first lane and ends less than V W lanes past a row's last, or (k_w - 1) N + V W past it where a
    kernel tap shifts it: such lanes are either discarded or multiplied by zero)."""
    C, H, W, N = shape
    top, bottom, left, right = p
    chan, pitch = (H + top + bottom) * (W + left + right) * N, (W + left + right) * N
    return chan, pitch, C * chan + k_w * N + VECTORS * simd.lanes(dtype)


def flat(a: np.ndarray, p, k_w: int, out: np.ndarray | None = None) -> Flat:
    """a (C, H, W, N), padded by p = (top, bottom, left, right) with zeros, as a Flat with room for the shifts
    of a k_w-wide kernel: written into `out` (a scratch buffer of at least flat_geometry's size) when given, else
    into a new array."""
    C, H, W, N = a.shape
    top, bottom, left, right = p
    chan, pitch, size = flat_geometry(a.shape, p, k_w, a.dtype)
    Hp, Wp = H + top + bottom, W + left + right
    buf = np.empty(size, dtype=a.dtype) if out is None else out[:size]
    body = buf[:C * chan].reshape(C, Hp, Wp, N)
    buf[C * chan:] = 0
    body[:, :top] = 0
    body[:, Hp - bottom:] = 0
    body[:, top:Hp - bottom, :left] = 0
    body[:, top:Hp - bottom, Wp - right:] = 0
    body[:, top:Hp - bottom, left:Wp - right] = a
    return Flat(buf, chan, pitch)


@functools.lru_cache(maxsize=64)
def tap_offsets(C: int, k_h: int, k_w: int, chan: int, pitch: int, N: int) -> np.ndarray:
    """offs[(c, i, j)] = c chan + i pitch + j N, row-major over (c, i, j) (int64, read-only)."""
    c, i, j = np.meshgrid(np.arange(C), np.arange(k_h), np.arange(k_w), indexing="ij")
    offs = (c * chan + i * pitch + j * N).astype(np.int64).ravel()
    offs.flags.writeable = False
    return offs


def blocked(K_mat: np.ndarray, R: int) -> np.ndarray:
    """K_mat (rows, depth) as (rows / R, depth, R): a block's R weights of one tap side by side."""
    rows, depth = K_mat.shape
    return np.ascontiguousarray(K_mat.reshape(rows // R, R, depth).transpose(0, 2, 1))


@functools.cache
def _products(dtype):
    """The compiled row loop of broadcast products for this dtype."""
    R, V, W = ROWS, VECTORS, simd.lanes(dtype)
    L = V * W
    kernel, narrow = simd.broadcast(np.dtype(dtype), R, V), simd.broadcast(np.dtype(dtype), R, 1)

    @numba.njit(boundscheck=False)
    def run(src, pitch, Kb, b, offs, out, rows, row_len):
        """out (C, rows, row_len) flat: out[c, u, l] = b[c] + sum_t Kb[c // R, t, c % R] src[u pitch + offs[t] + l].
        A row goes in blocks of L = V W lanes, then of W lanes (narrow, so that a short row computes little past its
        end); a last partial block of W lanes goes through a small buffer."""
        size = src.itemsize
        C, nk = b.shape[0], offs.shape[0]
        part = np.empty(R * W, dtype=src.dtype)
        wide = row_len // L
        narrow_end = wide * L + (row_len - wide * L) // W * W
        o_stride = rows * row_len
        s0, o0, k0, b0, f0, t0 = (src.ctypes.data, out.ctypes.data, Kb.ctypes.data, b.ctypes.data,
                                  offs.ctypes.data, part.ctypes.data)
        for u in range(rows):
            su = s0 + u * pitch * size
            for cb in range(C // R):
                w, bb = k0 + cb * nk * R * size, b0 + cb * R * size
                at = cb * R * o_stride + u * row_len
                for lane in range(0, wide * L, L):
                    kernel(su + lane * size, w, bb, f0, nk, o0 + (at + lane) * size, o_stride)
                for lane in range(wide * L, narrow_end, W):
                    narrow(su + lane * size, w, bb, f0, nk, o0 + (at + lane) * size, o_stride)
                if narrow_end < row_len:
                    narrow(su + narrow_end * size, w, bb, f0, nk, t0, W)
                    for r in range(R):
                        for lane in range(row_len - narrow_end):
                            out[at + r * o_stride + narrow_end + lane] = part[r * W + lane]

    return run


@functools.cache
def _dots(dtype, Rb: int):
    """The compiled loop of dot products (dE/dK) for this dtype and Rb."""
    Ra, W = DOT_ROWS, simd.lanes(dtype)
    kernel = simd.dot(np.dtype(dtype), Ra, Rb)

    @numba.njit(boundscheck=False)
    def run(a, a_start, a_chan, a_pitch, x, offs, x_pitch, rows, row_len, out):
        """out (C, nk) += sum over u < rows, l < row_len of a[a_start + c a_chan + u a_pitch + l]
        x[offs[t] + u x_pitch + l], summed a group of rows at a time (CHUNK_BYTES of each channel's)."""
        size = a.itemsize
        C, nk = out.shape
        nvec, rest = row_len // W, row_len % W
        group = max(1, CHUNK_BYTES // max(1, row_len * size))
        a0, x0, f0, o0 = a.ctypes.data, x.ctypes.data, offs.ctypes.data, out.ctypes.data
        for u in range(0, rows, group):
            g = min(group, rows - u)
            xu = x0 + u * x_pitch * size
            for cb in range(C // Ra):
                aa = a0 + (a_start + cb * Ra * a_chan + u * a_pitch) * size
                for kb in range(nk // Rb):
                    kernel(aa, a_chan, a_pitch, xu, f0 + kb * Rb * 8, x_pitch, g, nvec, rest,
                           o0 + (cb * Ra * nk + kb * Rb) * size, nk)

    return run


def dot_cols(depth: int) -> int:
    """Rb: the largest of 6, 5, ..., 1 that divides the depth c_in k_h k_w."""
    return next(r for r in (6, 5, 4, 3, 2, 1) if depth % r == 0)


def forward(x4: np.ndarray, K: np.ndarray, b: np.ndarray, p, out_hw) -> tuple[np.ndarray, Flat]:
    """(S (c_out, H_out, W_out, N), x' as a Flat) for x4 (c_in, H, W, N)."""
    c_in, N = x4.shape[0], x4.shape[3]
    c_out, _, k_h, k_w = K.shape
    xf = flat(x4, p, k_w)
    S = np.empty((c_out, *out_hw, N), dtype=x4.dtype)
    offs = tap_offsets(c_in, k_h, k_w, xf.chan, xf.pitch, N)
    _products(x4.dtype)(xf.buf, xf.pitch, blocked(K.reshape(c_out, -1), ROWS), np.ascontiguousarray(b), offs,
                        S.reshape(-1), out_hw[0], out_hw[1] * N)
    return S, xf


def gradient_padding(p, kernel) -> tuple:
    """The full correlation's padding of dS: (k_h - 1 - p_t, k_h - 1 - p_b, k_w - 1 - p_l, k_w - 1 - p_r)."""
    (top, bottom, left, right), (k_h, k_w) = p, kernel
    return k_h - 1 - top, k_h - 1 - bottom, k_w - 1 - left, k_w - 1 - right


def padded_gradient(dS4: np.ndarray, p, kernel, scratch) -> Flat:
    """dS' = dS padded for the full correlation (its size is x's plus k - 1), in scratch(n, dtype)."""
    q = gradient_padding(p, kernel)
    return flat(dS4, q, kernel[1], scratch(flat_geometry(dS4.shape, q, kernel[1], dS4.dtype)[2], dS4.dtype))


def kernel_gradient(xf: Flat, dsf: Flat, K_shape, p, out_hw, N: int) -> np.ndarray:
    """dE/dK (c_out, c_in, k_h, k_w) from x' and dS' (Flat; dS's rows read inside dS''s padding)."""
    c_out, c_in, k_h, k_w = K_shape
    top, _, left, _ = gradient_padding(p, (k_h, k_w))
    depth = c_in * k_h * k_w
    dK = np.zeros((c_out, depth), dtype=xf.buf.dtype)
    offs = tap_offsets(c_in, k_h, k_w, xf.chan, xf.pitch, N)
    dots = _dots(xf.buf.dtype, dot_cols(depth))
    dots(dsf.buf, top * dsf.pitch + left * N, dsf.chan, dsf.pitch, xf.buf, offs, xf.pitch, out_hw[0], out_hw[1] * N, dK)
    return dK.reshape(K_shape)


def input_gradient(dsf: Flat, K: np.ndarray, shape) -> np.ndarray:
    """dE/dx (c_in, H, W, N): the full correlation of dS' with the kernel turned by 180 degrees, c_in and c_out
    swapped."""
    c_out, c_in, k_h, k_w = K.shape
    _, H, W, N = shape
    turned = K[:, :, ::-1, ::-1].transpose(1, 0, 2, 3).reshape(c_in, -1)
    dx = np.empty(shape, dtype=K.dtype)
    offs = tap_offsets(c_out, k_h, k_w, dsf.chan, dsf.pitch, N)
    _products(K.dtype)(dsf.buf, dsf.pitch, blocked(turned, ROWS), np.zeros(c_in, dtype=K.dtype), offs,
                       dx.reshape(-1), H, W * N)
    return dx
