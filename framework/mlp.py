"""The study's network from torch.nn: Linear layers, activations and losses (framework/tables.py).

MLP(arch, W) builds nn.Linear layers holding the same numbers as the reference's W[l]
(framework.convert), so both compute the same function; the learning rate is eta, as in the study.
`signals(x)` returns every s[l] and x[l] with gradients retained, so tests can compare the study's
delta[l] (= N * dE_in/ds[l]) with autograd.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from framework.convert import linear_to_dense, load_into_linear
from framework.tables import torch_activation, torch_dtype, torch_loss


class MLP(nn.Module):
    """Linear layers l = 1..L with the architecture's hidden and output activations."""

    def __init__(self, arch, W: list):
        super().__init__()
        self.arch = arch
        dtype = torch_dtype(W[1].dtype)
        self.linears = nn.ModuleList(
            nn.Linear(arch.d[l - 1], arch.d[l], dtype=dtype) for l in range(1, arch.L + 1)
        )
        self.thetas = nn.ModuleList(torch_activation(arch.theta(l).name) for l in range(1, arch.L + 1))
        self.load_weights(W)

    def load_weights(self, W: list) -> None:
        for l, lin in enumerate(self.linears, start=1):
            load_into_linear(lin, W[l])

    def weights(self) -> list:
        """The current weights in the study's layout: [None, W[1], ..., W[L]]."""
        return [None] + [linear_to_dense(lin.weight, lin.bias) for lin in self.linears]

    def signals(self, x: torch.Tensor) -> tuple[list, list]:
        """(s, outs): s[l] and theta(s[l]) for l = 1..L (index 0 holds the input), grads retained."""
        s, outs = [None], [x]
        for lin, theta in zip(self.linears, self.thetas):
            s_l = lin(outs[-1])
            s_l.retain_grad()
            s.append(s_l)
            outs.append(theta(s_l))
        return s, outs

    def last_signal(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(s[L], x[L]) without retaining intermediate gradients (the training path)."""
        out = x
        for lin, theta in zip(self.linears, self.thetas):
            s_l = lin(out)
            out = theta(s_l)
        return s_l, out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.last_signal(x)[1]


def loss(arch, s_L: torch.Tensor, x_L: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """E_in of the architecture's loss (framework.tables.TORCH_LOSSES): mean over N."""
    return torch_loss(arch.loss, s_L, x_L, y)


def train_on_batch(model: MLP, x: torch.Tensor, y: torch.Tensor, eta: float) -> float:
    """Forward, backward and one fixed-rate step W <- W - eta G on the batch (x, y); returns E_in before it."""
    s_L, x_L = model.last_signal(x)
    E = loss(model.arch, s_L, x_L, y)
    params = list(model.parameters())
    grads = torch.autograd.grad(E, params)
    with torch.no_grad():
        # p <- p - eta * grad, in one fused call; eta * grad is rounded as the reference rounds eta G
        torch._foreach_sub_(params, torch._foreach_mul(grads, eta))
    return float(E.detach())


def sgd_epoch(model: MLP, X: torch.Tensor, Y: torch.Tensor, eta: float, batch_size: int, order: np.ndarray) -> float:
    """One epoch of mini-batch SGD over X[order] (the same order the reference is given)."""
    order = torch.from_numpy(np.asarray(order, dtype=np.int64))
    losses = [train_on_batch(model, X[idx], Y[idx], eta) for idx in torch.split(order, batch_size)]
    return float(np.mean(losses))
