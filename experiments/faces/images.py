"""Face images as the networks see them: block-averaged, scaled, levelled per image if asked, standardised;
seeded shifts and flips.

Augmentation runs in NumPy from a given Generator, so the NumPy CNN and its PyTorch twin can be fed
the very same augmented batches.
"""

from __future__ import annotations

import numpy as np


def downsample(images: np.ndarray, factor: int) -> np.ndarray:
    """uint8 (N, H, W) -> float64 (N, 1, H // f, W // f) in [0, 1], each pixel the mean of an f x f block.

    Rows and columns that do not fill a block are dropped (112 x 92 -> 56 x 46 for f = 2, 28 x 23 for f = 4).
    """
    if factor < 1:
        raise ValueError(f"downsample factor must be >= 1, got {factor}")
    n, h, w = images.shape
    x = np.asarray(images, dtype=np.float64)[:, :h - h % factor, :w - w % factor] / 255.0
    x = x.reshape(n, h // factor, factor, w // factor, factor).mean(axis=(2, 4))
    return x[:, None]


STANDARDISE = ("dataset", "image")


def level(x: np.ndarray) -> np.ndarray:
    """Each image of x (N, C, H, W) mapped to mean 0 and standard deviation 1 over its own pixels:
    x' = (x - mean(x_i)) / std(x_i). A change of brightness or contrast (a x + b, a > 0) leaves x' as it
    was; a constant image (std 0) becomes 0."""
    mean = x.mean(axis=(1, 2, 3), keepdims=True)
    std = x.std(axis=(1, 2, 3), keepdims=True)
    return (x - mean) / np.where(std > 0, std, 1.0)


def network_input(faces: np.ndarray, cfg: dict) -> np.ndarray:
    """uint8 faces (N, H, W) -> float64 (N, 1, h, w) as a run's network sees them before standardising with
    the training pixels' mean and std: downsampled, then levelled per image if cfg's standardise is "image"."""
    x = downsample(faces, cfg["downsample"])
    return level(x) if cfg.get("standardise", "dataset") == "image" else x


def standardiser(train: np.ndarray) -> tuple[float, float]:
    """(mean, std) of all training pixels: one scalar pair, so that the test images get the same map."""
    return float(train.mean()), float(train.std())


def shift_flip(x: np.ndarray, rng: np.random.Generator, max_shift: int, flip: bool) -> np.ndarray:
    """A random translation by -max_shift..max_shift pixels on each axis (edges repeated) and, if `flip`,
    a horizontal mirror with probability 1/2, drawn per image from `rng` (shifts first, then flips)."""
    n, c, h, w = x.shape
    s = max_shift
    dy = rng.integers(0, 2 * s + 1, n)
    dx = rng.integers(0, 2 * s + 1, n)
    mirror = rng.random(n) < 0.5 if flip else np.zeros(n, dtype=bool)
    padded = np.pad(x, ((0, 0), (0, 0), (s, s), (s, s)), mode="edge") if s else x
    out = np.empty_like(x)
    for i in range(n):
        crop = padded[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w]
        out[i] = crop[:, :, ::-1] if mirror[i] else crop
    return out
