"""Shapes of convolution and pooling layers (study 1.4): output size, padding, validation.

Output size (study 1.4), per axis, for input size n, kernel (window) size k, total padding p and
stride s:

    n_out = floor((n - k + p + s) / s)          (= floor((n + p - k) / s) + 1)

The study's p_h is the *total* number of rows added, half on top and half at the bottom. An odd
total cannot be split evenly; `padding_from_total` puts the extra row at the bottom (and the extra
column on the right), TensorFlow's "same" choice. Layers always receive padding *per side*,
normalised by `per_side` to a 4-tuple (top, bottom, left, right) from any of

    int p                       p on every side            (PyTorch's Conv2d(padding=p))
    (p_h, p_w)                  p_h top and bottom, p_w left and right   (PyTorch's (p_h, p_w))
    (top, bottom, left, right)  any per-side padding, asymmetric included

so that in the study's formula p = top + bottom (rows) and p = left + right (columns).
Note the order: `torch.nn.functional.pad` takes (left, right, top, bottom), the reverse
dimension order; framework/conv.py converts.

The validators reject exactly what PyTorch rejects (checked by experiment with torch 2.14.1, see
tests/test_conv.py and tests/test_pooling.py), naming the layer and the numbers:
    stride 0 or negative, negative padding, kernel size 0, a kernel larger than the padded input
    (output size < 1), a channel count different from the kernel's, an empty spatial axis
    (H = 0 or W = 0; for convolution unless the asymmetric part of its padding fills it), for
    pooling an empty channel axis (C = 0) and a padding larger than half the window (PyTorch's
    rule: pad <= k // 2 on each axis), and for convolution no output channels.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

Pad4 = tuple[int, int, int, int]


def pair(v, what: str, name: str) -> tuple[int, int]:
    """An int or a pair of ints -> (v_h, v_w); anything else raises ValueError naming `name`."""
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        return int(v), int(v)
    if isinstance(v, Sequence) and len(v) == 2 and all(
            isinstance(e, (int, np.integer)) and not isinstance(e, bool) for e in v):
        return int(v[0]), int(v[1])
    raise ValueError(f"{name}: {what} must be an int or a pair of ints (height, width), got {v!r}")


def per_side(padding, name: str = "layer") -> Pad4:
    """Normalise a padding spec to (top, bottom, left, right); see the module docstring.

    int p -> (p, p, p, p); (p_h, p_w) -> (p_h, p_h, p_w, p_w); a 4-tuple is taken as is.
    Negative entries raise ValueError (PyTorch: "negative padding is not supported").
    """
    if isinstance(padding, Sequence) and len(padding) == 4:
        if not all(isinstance(e, (int, np.integer)) and not isinstance(e, bool) for e in padding):
            raise ValueError(f"{name}: padding must hold ints, got {padding!r}")
        pad = tuple(int(e) for e in padding)
    else:
        try:
            p_h, p_w = pair(padding, "padding", name)
        except ValueError:
            raise ValueError(
                f"{name}: padding must be an int, (p_h, p_w) or (top, bottom, left, right), "
                f"got {padding!r}") from None
        pad = (p_h, p_h, p_w, p_w)
    if min(pad) < 0:
        raise ValueError(f"{name}: negative padding is not supported, got (top, bottom, left, right) = {pad}")
    return pad  # type: ignore[return-value]


def padding_from_total(p_h: int, p_w: int) -> Pad4:
    """The study's total padding (p_h rows, p_w columns) split per side: half top, half bottom.

    An odd total puts the extra row at the bottom and the extra column on the right:
    (p_h // 2, p_h - p_h // 2, p_w // 2, p_w - p_w // 2).
    """
    if p_h < 0 or p_w < 0:
        raise ValueError(f"total padding must be >= 0, got p_h = {p_h}, p_w = {p_w}")
    return (p_h // 2, p_h - p_h // 2, p_w // 2, p_w - p_w // 2)


def total_padding(pad: Pad4) -> tuple[int, int]:
    """(top, bottom, left, right) -> the study's totals (p_h, p_w) = (top + bottom, left + right)."""
    top, bottom, left, right = pad
    return top + bottom, left + right


def output_size(n: int, k: int, p: int, s: int) -> int:
    """n_out = floor((n - k + p + s) / s) for one axis; p is the total padding on that axis."""
    return (n - k + p + s) // s


def output_shape(hw: tuple[int, int], kernel: tuple[int, int], pad: Pad4,
                 stride: tuple[int, int]) -> tuple[int, int]:
    """(H_out, W_out) = the study's formula on each axis, with p_h, p_w the per-side sums."""
    p_h, p_w = total_padding(pad)
    return (output_size(hw[0], kernel[0], p_h, stride[0]),
            output_size(hw[1], kernel[1], p_w, stride[1]))


def check_stride(stride: tuple[int, int], name: str) -> None:
    """Stride must be positive on both axes (PyTorch: "non-positive stride is not supported")."""
    if min(stride) < 1:
        raise ValueError(f"{name}: stride must be >= 1 on both axes, got (s_h, s_w) = {stride}")


def check_kernel_size(kernel: tuple[int, int], name: str, what: str = "kernel") -> None:
    """Kernel / window size must be >= 1 on both axes."""
    if min(kernel) < 1:
        raise ValueError(f"{name}: {what} size must be >= 1 on both axes, got (k_h, k_w) = {kernel}")


def check_input(x: np.ndarray, name: str) -> None:
    """x must be a 4-D NCHW array."""
    if not isinstance(x, np.ndarray) or x.ndim != 4:
        shape = getattr(x, "shape", type(x).__name__)
        raise ValueError(f"{name}: input must be a 4-D array (N, C, H, W), got shape {shape}")


def check_not_empty(x: np.ndarray, name: str, channels: bool = True, pad: Pad4 = (0, 0, 0, 0)) -> None:
    """H and W (and C when `channels`) must be >= 1; an empty batch (N = 0) is allowed, as in PyTorch.

    PyTorch refuses an empty spatial axis for convolution ("Only zero batch or zero channel inputs
    are supported") and pooling, and an empty channel axis for pooling ("Expected 3D or 4D (batch
    mode) tensor with optional 0 dim batch size"); without the check NumPy would return -inf, NaN or
    bias-only maps. `pad`, a convolution's padding: torch pads its asymmetric part with F.pad before
    the convolution (framework/conv.py), and F.pad + conv2d accepts an axis that F.pad fills, so an
    axis is empty when H + |top - bottom| (W + |left - right|) is 0; conv2d's own symmetric padding
    does not count.
    """
    N, C, H, W = x.shape
    top, bottom, left, right = pad
    if H + abs(top - bottom) < 1 or W + abs(left - right) < 1 or (channels and C < 1):
        axes = "C, H and W" if channels else "H and W"
        raise ValueError(f"{name}: input (N, C, H, W) = {x.shape} is empty: {axes} must be >= 1 (only N may be 0)")


def check_fits(hw: tuple[int, int], kernel: tuple[int, int], pad: Pad4, name: str,
               what: str = "kernel") -> None:
    """The kernel must fit in the padded input: k_h <= H + p_h and k_w <= W + p_w.

    Equivalently the output has at least one row and one column; PyTorch raises "Kernel size
    can't be greater than actual input size" (convolution) / "Output size is too small" (pooling).
    """
    p_h, p_w = total_padding(pad)
    padded = (hw[0] + p_h, hw[1] + p_w)
    if kernel[0] > padded[0] or kernel[1] > padded[1]:
        raise ValueError(
            f"{name}: {what} size (k_h, k_w) = {kernel} is larger than the padded input "
            f"(H + p_h, W + p_w) = ({hw[0]} + {p_h}, {hw[1]} + {p_w}) = {padded}")


def check_channels(c_in: int, c_kernel: int, name: str) -> None:
    """The input's channel count must equal the kernel's (each kernel spans all input channels)."""
    if c_in != c_kernel:
        raise ValueError(
            f"{name}: input has {c_in} channels but the kernel expects {c_kernel} "
            f"(kernel shape (c_out, c_in, k_h, k_w) needs c_in = input channels)")


def check_pool_padding(window: tuple[int, int], pad: Pad4, name: str) -> None:
    """PyTorch's pooling rule: the padding on each side is at most half the window, pad <= k // 2."""
    top, bottom, left, right = pad
    limit = (window[0] // 2, window[1] // 2)
    if max(top, bottom) > limit[0] or max(left, right) > limit[1]:
        raise ValueError(
            f"{name}: padding must be at most half the window (pad <= k // 2 per axis): "
            f"window (k_h, k_w) = {window} allows at most {limit}, got (top, bottom, left, right) = {pad}")
