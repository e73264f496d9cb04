"""The additive angular margin of ArcFace (Deng et al. 2019): the true class's angle theta_y grows by m.

On the cosines cos (N, d[L]) of a cosine layer (reference/cosine.py), one-hot y, scale s > 0, margin m >= 0:

    z_nj = s cos_nj                   j != y_n
    z_ny = s phi(cos_ny)              the true class
    phi(c) = cos(theta + m),  theta = arccos(clamp(c, -1 + eps, 1 - eps))      where c > t
    phi(c) = c - m sin(m)                                                      elsewhere (c <= t)

the threshold t and the fallback follow ArcMarginProduct (github.com/ronghuaiyang/arcface-pytorch,
models/metrics.py), the torch implementation chosen as the reference, itself the rule of insightface's original:
    t = cos(pi - m)   (theta + m would pass pi, where cos(theta + m) turns back up and stops penalising)
    easy_margin=False (the default): below t, phi = c - sin(pi - m) m = c - m sin(m), linear in c
    easy_margin=True: t = 0 and phi = c below it (no margin for cosines <= 0)
The comparisons are strict (c > t), so c exactly at t takes the fallback. ArcMarginProduct writes
cos(theta + m) as c cos m - sqrt(1 - c^2) sin m, whose derivative is infinite at c = +-1 (NaN in torch where
1 - c^2 rounds below 0); here theta = arccos of c clamped to [-1 + eps, 1 - eps] (eps = 1e-7, the usual clamp
before acos), which equals it for |c| <= 1 - eps and keeps the derivative finite.

Backward, with g = dE/dz:

    dE/dcos_nj = s g_nj                              j != y_n
    dE/dcos_ny = s g_ny phi'(cos_ny)
    phi'(c) = sin(theta + m) / sqrt(1 - c^2)   where t < c and -1 + eps < c < 1 - eps
            = 0                                where t < c and c outside (-1 + eps, 1 - eps) (the clamp is flat)
            = 1                                where c <= t (the fallback)

(d arccos(c)/dc = -1 / sqrt(1 - c^2). The clamp passes the gradient on the open interval only: torch 2.14's
clamp with scalar bounds gives 0 at c = +-(1 - eps) exactly, a subgradient of the flat side, and so do we.)
"""

from __future__ import annotations

import math

import numpy as np

EPS = 1e-7  # the clamp before arccos: |d arccos / dc| <= 1 / sqrt(2 eps - eps^2) ~ 2236


def check_margin(scale: float, margin: float) -> None:
    """ArcFace needs scale s > 0 and margin m in [0, pi) (m >= pi leaves no cosine above the threshold)."""
    if not scale > 0:
        raise ValueError(f"arcface: scale s must be > 0, got {scale}")
    if not 0 <= margin < math.pi:
        raise ValueError(f"arcface: margin m must be in [0, pi) radians, got {margin}")


def threshold(margin: float, easy_margin: bool) -> float:
    """t: above it the true class's logit is cos(theta + m); cos(pi - m), or 0 with the easy margin."""
    return 0.0 if easy_margin else math.cos(math.pi - margin)


def phi(c: np.ndarray, margin: float, easy_margin: bool, eps: float = EPS) -> tuple[np.ndarray, tuple]:
    """The true class's cosine with the margin, element-wise, and the cache for phi_prime."""
    t = c.dtype.type
    m = t(margin)
    clamped = np.clip(c, t(-1 + eps), t(1 - eps))
    theta = np.arccos(clamped)
    above = c > t(threshold(margin, easy_margin))
    below = c if easy_margin else c - t(math.sin(math.pi - margin) * margin)
    out = np.where(above, np.cos(theta + m), below)
    inside = (c > t(-1 + eps)) & (c < t(1 - eps))  # torch.clamp's gradient is 0 at its bounds
    return out, (clamped, theta + m, above, inside)


def phi_prime(cache: tuple) -> np.ndarray:
    """dphi/dc: sin(theta + m) / sqrt(1 - c^2) above the threshold strictly inside the clamp, 0 elsewhere above
    it, 1 below t."""
    clamped, angle, above, inside = cache
    slope = np.sin(angle) / np.sqrt(1 - clamped * clamped) * inside
    return np.where(above, slope, np.ones_like(clamped))


def forward(cos: np.ndarray, y: np.ndarray, scale: float, margin: float,
            easy_margin: bool = False) -> tuple[np.ndarray, tuple]:
    """z = s (cos with phi on the true class): (N, d[L]), and the cache for backward. y is one-hot."""
    check_margin(scale, margin)
    if cos.shape != y.shape:
        raise ValueError(f"arcface: cosines {cos.shape} and targets {y.shape} must have the same shape")
    true = y.astype(bool)
    if np.any(np.sum(true, axis=1) != 1):
        raise ValueError("arcface: targets y must be one-hot rows (one true class per sample)")
    p, cache = phi(cos[true], margin, easy_margin)
    z = cos.copy()
    z[true] = p
    return cos.dtype.type(scale) * z, (true, cache, scale)


def backward(dz: np.ndarray, cache: tuple) -> np.ndarray:
    """dE/dcos given dz = dE/dz: s dz, the true class's column times phi'(cos_y)."""
    true, phi_cache, scale = cache
    dcos = dz.dtype.type(scale) * dz
    dcos[true] *= phi_prime(phi_cache)
    return dcos
