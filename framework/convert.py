"""Converters between the study's W[l] and torch.nn.Linear's (weight, bias).

The study's W[l] is (d[l-1] + 1, d[l]) with row 0 the bias weights, so that s = W^T [1; x].
nn.Linear computes s = weight x + bias with weight of shape (d[l], d[l-1]). Hence
    weight = W[1:]^T,   bias = W[0],   and back:   W = [bias; weight^T].
"""

from __future__ import annotations

import numpy as np
import torch


def dense_to_linear(W: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """W (d_in + 1, d_out) -> (weight (d_out, d_in), bias (d_out,)), same dtype, copied."""
    if W.ndim != 2 or W.shape[0] < 2:
        raise ValueError(f"W must be (d_in + 1, d_out) with d_in >= 1, got shape {W.shape}")
    return torch.from_numpy(np.ascontiguousarray(W[1:].T)).clone(), torch.from_numpy(W[0].copy())


def linear_to_dense(weight: torch.Tensor, bias: torch.Tensor) -> np.ndarray:
    """(weight (d_out, d_in), bias (d_out,)) -> W (d_in + 1, d_out) as a NumPy array."""
    weight = weight.detach().cpu()
    bias = bias.detach().cpu()
    if weight.ndim != 2 or bias.shape != (weight.shape[0],):
        raise ValueError(f"weight must be (d_out, d_in) and bias (d_out,), "
                         f"got {tuple(weight.shape)} and {tuple(bias.shape)}")
    return np.concatenate([bias.numpy()[None, :], weight.numpy().T], axis=0)


def load_into_linear(linear: torch.nn.Linear, W: np.ndarray) -> None:
    """Copy W into an existing nn.Linear (shapes must match; error names both)."""
    weight, bias = dense_to_linear(W)
    if tuple(linear.weight.shape) != tuple(weight.shape):
        raise ValueError(f"nn.Linear weight is {tuple(linear.weight.shape)} but W gives {tuple(weight.shape)} "
                         f"(W is {W.shape})")
    with torch.no_grad():
        linear.weight.copy_(weight.to(linear.weight.dtype))
        linear.bias.copy_(bias.to(linear.bias.dtype))
