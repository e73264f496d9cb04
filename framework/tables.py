"""The torch side of the reference's tables, keyed by the same names: dtypes, activations, losses.

    TORCH_DTYPES       numpy float64/float32 <-> torch.float64/float32   (torch_dtype, numpy_dtype)
    TORCH_ACTIVATIONS  reference.activations.ACTIVATIONS name -> torch module factory
    TORCH_LOSSES       reference.losses.LOSSES name -> e_n(s[L], x[L], y, loss) in torch (torch_e, torch_loss)

tests/test_conventions.py checks that the keys equal the reference's.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from reference.arcface import EPS as ARC_EPS
from reference.losses import Loss, get_loss

TORCH_DTYPES: dict[np.dtype, torch.dtype] = {
    np.dtype(np.float64): torch.float64,
    np.dtype(np.float32): torch.float32,
}


def torch_dtype(dtype) -> torch.dtype:
    """numpy float32/float64 (or a torch dtype, returned as is) -> torch dtype; others raise TypeError."""
    if isinstance(dtype, torch.dtype) and dtype in TORCH_DTYPES.values():
        return dtype
    try:
        return TORCH_DTYPES[np.dtype(dtype)]
    except (KeyError, TypeError):
        shown = np.dtype(dtype) if isinstance(dtype, type) and issubclass(dtype, np.generic) else dtype
        raise TypeError(f"no torch twin for dtype {shown}; known: float64, float32") from None


def numpy_dtype(dtype: torch.dtype) -> np.dtype:
    """torch.float32/float64 -> the numpy dtype."""
    for n, t in TORCH_DTYPES.items():
        if t == dtype:
            return n
    raise TypeError(f"no numpy twin for torch dtype {dtype}; known: float64, float32")


class Sign(nn.Module):
    """theta(s) = sign(s); autograd's derivative is 0 everywhere."""

    def forward(self, s):
        return torch.sign(s)


TORCH_ACTIVATIONS = {
    "identity": nn.Identity,
    "sign": Sign,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
}


def torch_activation(name: str) -> nn.Module:
    """The torch module of the reference activation `name`; unknown names raise ValueError."""
    if name not in TORCH_ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; known activations: {', '.join(sorted(TORCH_ACTIVATIONS))}")
    return TORCH_ACTIVATIONS[name]()


def _squared_error(s_L, x_L, y, loss: Loss, reduction: str) -> torch.Tensor:
    e = ((x_L - y) ** 2).sum(dim=1)
    return e if reduction == "none" else e.mean()


def _cross_entropy(s_L, x_L, y, loss: Loss, reduction: str) -> torch.Tensor:
    # y is (N, d[L]) (class probabilities) or (N,) class indices; both as torch defines them
    return F.cross_entropy(s_L, y, reduction=reduction, label_smoothing=loss.label_smoothing)


def _am_softmax(s_L, x_L, y, loss: Loss, reduction: str) -> torch.Tensor:
    # s_L holds cosines; y is one-hot (N, d[L]) or class indices (N,)
    onehot = y if y.dim() == 2 else F.one_hot(y, s_L.shape[1]).to(s_L.dtype)
    return F.cross_entropy(loss.scale * (s_L - loss.margin * onehot), y, reduction=reduction)


def _arcface(s_L, x_L, y, loss: Loss, reduction: str) -> torch.Tensor:
    # ArcMarginProduct (ronghuaiyang/arcface-pytorch) on given cosines, cos(theta + m) through a clamped acos
    # (reference/arcface.py): the clamp keeps acos' finite, so torch.where's unused branch adds 0, not NaN
    labels = y.argmax(dim=1) if y.dim() == 2 else y
    onehot = F.one_hot(labels, s_L.shape[1]).to(torch.bool)
    m = loss.margin
    theta = torch.acos(torch.clamp(s_L, -1 + ARC_EPS, 1 - ARC_EPS))
    if loss.easy_margin:
        phi = torch.where(s_L > 0, torch.cos(theta + m), s_L)
    else:
        phi = torch.where(s_L > math.cos(math.pi - m), torch.cos(theta + m), s_L - math.sin(math.pi - m) * m)
    return F.cross_entropy(loss.scale * torch.where(onehot, phi, s_L), labels, reduction=reduction)


def _triplet(s_L, x_L, y, loss: Loss, reduction: str) -> torch.Tensor:
    # batch-hard mining (Hermans et al. 2017) by torch's argmax/argmin (first index on ties), y the labels (N,)
    D = ((s_L[:, None, :] - s_L[None, :, :]) ** 2).sum(dim=2)
    same = y[:, None] == y[None, :]
    positive = same & ~torch.eye(len(y), dtype=torch.bool)
    p = torch.where(positive, D, -math.inf).argmax(dim=1, keepdim=True)
    q = torch.where(~same, D, math.inf).argmin(dim=1, keepdim=True)
    valid = positive.any(dim=1) & (~same).any(dim=1)
    e = F.relu(D.gather(1, p) - D.gather(1, q) + loss.margin).squeeze(1) * valid
    return e if reduction == "none" else e.mean()


TORCH_LOSSES = {
    "squared_error": _squared_error,
    "cross_entropy": _cross_entropy,
    "am_softmax": _am_softmax,
    "arcface": _arcface,
    "triplet": _triplet,
}


def torch_e(loss: Loss | str, s_L: torch.Tensor, x_L: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """e_n of the reference loss `loss` (a Loss or its name) computed by torch: (N,)."""
    loss = get_loss(loss) if isinstance(loss, str) else loss
    return TORCH_LOSSES[loss.name](s_L, x_L, y, loss, "none")


def torch_loss(loss: Loss | str, s_L: torch.Tensor, x_L: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """E_in = (1/N) sum_n e_n, by torch's own reduction='mean'."""
    loss = get_loss(loss) if isinstance(loss, str) else loss
    return TORCH_LOSSES[loss.name](s_L, x_L, y, loss, "mean")
