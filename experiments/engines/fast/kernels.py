"""Compiled (numba) loops of the fast layers, over channel-major (C, H, W, N) arrays (layout.py).

Each loop does in one pass what the reference does in k_h k_w strided NumPy passes, and adds in the
reference's order where the reference adds (so float64 results are the same bits, not merely close):
    col2im          dE/dx[c, a, e] = sum over kernel entries (i, j), row-major, of the window entries
                    that came from pixel (a, e), for all output rows or a block of them (blocks from the
                    last to the first keep the order): added straight into the unpadded dE/dx
    maxpool_forward the maximum of each window and its row-major position (first maximum on ties)
    maxpool_backward (r == i k_w + j) dy added at every window entry (i, j), in the reference's order
    avgpool_forward / avgpool_backward  window sums (row-major) / dy / D spread over each window
The innermost loop runs over the N contiguous samples.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True)
def col2im(D, u0, stride_h, stride_w, top, left, out):
    """out (C, H, W, N) += the adjoint of im2col of D (C, k_h, k_w, u1 - u0, W_out, N), output rows u0..u1 - 1,
    padding cropped.

    Pixel row a receives output row u through kernel row i = a + top - u s_h: a later row u through an
    earlier i. Called once for all rows (u0 = 0), or for blocks of rows from the last to the first, on a
    zeroed `out`, every pixel receives its terms in the reference's order (i, then j, increasing): the
    reference's bits."""
    C, k_h, k_w, rows, W_out, N = D.shape
    H, W = out.shape[1], out.shape[2]
    a0 = max(0, u0 * stride_h - top)
    a1 = min(H, (u0 + rows - 1) * stride_h - top + k_h)
    for c in range(C):
        for a in range(a0, a1):
            for e in range(W):
                o = out[c, a, e]
                for i in range(k_h):
                    r = a + top - i
                    if r < 0 or r % stride_h != 0:
                        continue
                    u = r // stride_h - u0
                    if u < 0 or u >= rows:
                        continue
                    for j in range(k_w):
                        q = e + left - j
                        if q < 0 or q % stride_w != 0 or q // stride_w >= W_out:
                            continue
                        d = D[c, i, j, u, q // stride_w]
                        for n in range(N):
                            o[n] += d[n]
    return out


@numba.njit(cache=True)
def window_rows(u, stride, pad, k, size):
    """The range of window entries i whose input row u s - pad + i lies inside 0..size-1."""
    start = u * stride - pad
    return max(0, -start), min(k, size - start)


@numba.njit(cache=True)
def maxpool_forward(x, k_h, k_w, s_h, s_w, top, left, y, r):
    """y[c, u, v, n] = max of the window (padding never wins), r = its row-major position i k_w + j."""
    C, H, W, N = x.shape
    H_out, W_out = y.shape[1], y.shape[2]
    for c in range(C):
        for u in range(H_out):
            i0, i1 = window_rows(u, s_h, top, k_h, H)
            for v in range(W_out):
                j0, j1 = window_rows(v, s_w, left, k_w, W)
                best, pos = y[c, u, v], r[c, u, v]
                best[:] = -np.inf
                pos[:] = i0 * k_w + j0  # a real pixel even if no entry beats -inf (NaN input)
                for i in range(i0, i1):
                    for j in range(j0, j1):
                        xs = x[c, u * s_h - top + i, v * s_w - left + j]
                        p = i * k_w + j
                        for n in range(N):
                            if xs[n] > best[n]:  # strictly greater: the first maximum stays on ties
                                best[n] = xs[n]
                                pos[n] = p
    return y, r


@numba.njit(cache=True)
def maxpool_backward(dy, r, k_h, k_w, s_h, s_w, top, left, dx):
    """dx (C, H, W, N): every window adds (r == i k_w + j) dy at its entry (i, j), as the reference does.

    A pixel in windows u, u' (u < u') is their entry i = a - u s_h > i' = a - u' s_h: the reference adds
    in increasing (i, j), so the windows are visited from the last (u, v) back to the first, and every
    pixel receives the reference's terms in the reference's order (zeros included). The select over the N
    contiguous samples vectorises, where a scatter to each maximum would not.
    """
    C, H_out, W_out, N = dy.shape
    H, W = dx.shape[1], dx.shape[2]
    dx[:] = 0
    for c in range(C):
        for u in range(H_out - 1, -1, -1):
            i0, i1 = window_rows(u, s_h, top, k_h, H)
            for v in range(W_out - 1, -1, -1):
                j0, j1 = window_rows(v, s_w, left, k_w, W)
                g, pos = dy[c, u, v], r[c, u, v]
                for i in range(i0, i1):
                    for j in range(j0, j1):
                        xs = dx[c, u * s_h - top + i, v * s_w - left + j]
                        p = i * k_w + j
                        for n in range(N):
                            xs[n] += (pos[n] == p) * g[n]
    return dx


@numba.njit(cache=True)
def batchnorm_scale(xc, inv_std, gamma, beta, y):
    """xc (C, m) -> x^ = xc inv_std in place, y = x^ gamma + beta (the reference's roundings)."""
    C, m = xc.shape
    for c in range(C):
        s, g, b = inv_std[c], gamma[c], beta[c]
        xr, yr = xc[c], y[c]
        for i in range(m):
            h = xr[i] * s
            xr[i] = h
            yr[i] = h * g + b
    return y


@numba.njit(cache=True)
def batchnorm_dx(dy, xhat, a, b, k, dx):
    """dx (C, m) = (dy - (x^ a + b)) k per channel c (a = dE/dgamma / m, b = dE/dbeta / m, k = gamma inv_std)."""
    C, m = dy.shape
    for c in range(C):
        ac, bc, kc = a[c], b[c], k[c]
        dr, hr, xr = dy[c], xhat[c], dx[c]
        for i in range(m):
            xr[i] = (dr[i] - (hr[i] * ac + bc)) * kc
    return dx


@numba.vectorize(["float32(float32, float32)", "float64(float64, float64)"], cache=True)
def relu_backward(dy, s):
    """dE/ds = dy theta'(s), theta'(s) = 1 if s > 0 else 0 (the reference's product, signed zeros included);
    a ufunc, so one pass that keeps the memory layout of its operands."""
    return dy * (s > 0)
