"""PyTorch twins of reference/conv.py, pooling.py and flatten.py, and the parameter converters.

Kernel layout: the reference uses PyTorch's own layout, K (c_out, c_in, k_h, k_w) and b (c_out,),
so `conv_to_torch` / `torch_to_conv` are checked copies (no transposition, no flip: both compute
cross-correlation).

Padding: the reference pads per side, (top, bottom, left, right). nn.Conv2d pads symmetrically, so
the twin gives Conv2d the symmetric part (min(top, bottom), min(left, right)) and adds the rest
with torch.nn.functional.pad, whose argument lists the *last* dimension first:
(left, right, top, bottom). Pooling pads symmetrically per axis, as nn.MaxPool2d/AvgPool2d do.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from framework.tables import torch_dtype
from reference import conv_shapes as cs


def conv_to_torch(K: np.ndarray, b: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """(K (c_out, c_in, k_h, k_w), b (c_out,)) -> Conv2d's (weight, bias): same layout, copied."""
    if K.ndim != 4 or b.shape != (K.shape[0],):
        raise ValueError(f"K must be (c_out, c_in, k_h, k_w) and b (c_out,), got {K.shape} and {b.shape}")
    return torch.from_numpy(np.array(K)), torch.from_numpy(np.array(b))


def torch_to_conv(weight: torch.Tensor, bias: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Conv2d's (weight, bias) -> (K, b) as NumPy arrays, copied."""
    weight, bias = weight.detach().cpu(), bias.detach().cpu()
    if weight.ndim != 4 or tuple(bias.shape) != (weight.shape[0],):
        raise ValueError(f"weight must be (c_out, c_in, k_h, k_w) and bias (c_out,), "
                         f"got {tuple(weight.shape)} and {tuple(bias.shape)}")
    return weight.numpy().copy(), bias.numpy().copy()


def torch_pad_order(pad: cs.Pad4) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) -> F.pad's (left, right, top, bottom) for the last two axes."""
    top, bottom, left, right = pad
    return (left, right, top, bottom)


def conv2d(x: torch.Tensor, K: torch.Tensor, b: torch.Tensor, stride=1, padding=0) -> torch.Tensor:
    """The reference's conv.forward in torch: F.pad with the per-side padding, then F.conv2d."""
    pad = cs.per_side(padding, "conv2d")
    return F.conv2d(F.pad(x, torch_pad_order(pad)) if any(pad) else x, K, b, stride=stride)


class Conv2dTwin(nn.Module):
    """nn.Conv2d with per-side padding: F.pad for the asymmetric remainder, then nn.Conv2d."""

    def __init__(self, c_in: int, c_out: int, kernel, stride=1, padding=0, dtype=torch.float64):
        super().__init__()
        pad = cs.per_side(padding, "Conv2dTwin")
        top, bottom, left, right = pad
        sym = (min(top, bottom), min(left, right))
        self.extra = (top - sym[0], bottom - sym[0], left - sym[1], right - sym[1])
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=sym, dtype=dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if any(self.extra):
            x = F.pad(x, torch_pad_order(self.extra))
        return self.conv(x)

    def load(self, K: np.ndarray, b: np.ndarray) -> Conv2dTwin:
        """Copy the reference's (K, b) into the Conv2d (shapes must match; the error names both)."""
        weight, bias = conv_to_torch(K, b)
        if tuple(weight.shape) != tuple(self.conv.weight.shape):
            raise ValueError(f"Conv2d weight is {tuple(self.conv.weight.shape)} but K is {K.shape}")
        with torch.no_grad():
            self.conv.weight.copy_(weight.to(self.conv.weight.dtype))
            self.conv.bias.copy_(bias.to(self.conv.bias.dtype))
        return self

    def params(self) -> dict:
        """{"K", "b"} in the reference's layout."""
        K, b = torch_to_conv(self.conv.weight, self.conv.bias)
        return {"K": K, "b": b}

    def grads(self) -> dict:
        """{"K", "b"} gradients after backward(), in the reference's layout."""
        K, b = torch_to_conv(self.conv.weight.grad, self.conv.bias.grad)
        return {"K": K, "b": b}


def conv2d_twin(K: np.ndarray, b: np.ndarray, stride=1, padding=0) -> Conv2dTwin:
    """A Conv2dTwin holding (K, b), in K's dtype."""
    c_out, c_in, k_h, k_w = K.shape
    return Conv2dTwin(c_in, c_out, (k_h, k_w), stride, padding, torch_dtype(K.dtype)).load(K, b)


def maxpool2d_twin(window=2, stride=None, padding=0) -> nn.MaxPool2d:
    """nn.MaxPool2d with the reference's arguments (stride None = window)."""
    return nn.MaxPool2d(window, stride=stride, padding=padding)


def avgpool2d_twin(window=2, stride=None, padding=0, count_include_pad: bool = True) -> nn.AvgPool2d:
    """nn.AvgPool2d with the reference's arguments (stride None = window)."""
    return nn.AvgPool2d(window, stride=stride, padding=padding, count_include_pad=count_include_pad)


def flatten_twin() -> nn.Flatten:
    """nn.Flatten(): (N, C, H, W) -> (N, C H W), row-major."""
    return nn.Flatten()
