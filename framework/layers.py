"""The registry of PyTorch twins: each reference layer type (reference/sequential.py) -> its twin.

TWINS[type(layer)] is a Twin of three functions:

    build(layer, params, state, dtype) -> nn.Module   the torch module computing what `layer`
                                                      computes, holding a copy of params and state
    read(module, pick) -> dict                        the module's tensors in the reference's layout,
                                                      with the reference's keys; pick(parameter)
                                                      chooses what is read for each torch parameter:
                                                      the parameter, its .grad, or an optimizer buffer
    read_state(module) -> dict                        the module's buffers as the reference's state
    share(module, cache)                              hand the module the randomness the reference
                                                      layer drew in the forward pass that made
                                                      `cache` (dropout's mask), before the twin's
                                                      own forward pass

so that a new layer type needs one entry here and nothing else in framework/.

Dropout's twin is DropoutTwin: the operations of torch's own dropout (ATen's _dropout_impl:
noise = mask; noise /= 1 - p; y = x * noise; identity in eval mode or for p = 0; x * 0 for p = 1)
with the mask given instead of drawn by torch's bernoulli_, since torch cannot be handed a mask.
tests/test_dropout.py checks that it reproduces F.dropout bit for bit given F.dropout's own mask.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from framework.conv import Conv2dTwin, avgpool2d_twin, flatten_twin, maxpool2d_twin, torch_to_conv
from framework.convert import linear_to_dense, load_into_linear
from reference import dropout
from reference import sequential as seq

ACTIVATION_MODULES = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "identity": nn.Identity}


def no_tensors(module: nn.Module, pick=None) -> dict:
    return {}


def no_randomness(module: nn.Module, cache) -> None:
    return None


class Twin(NamedTuple):
    build: Callable
    read: Callable = no_tensors
    read_state: Callable = no_tensors
    share: Callable = no_randomness


def build_conv(layer: seq.Conv2d, params: dict, state: dict, dtype: torch.dtype) -> nn.Module:
    m = Conv2dTwin(layer.c_in, layer.c_out, layer.kernel, layer.stride, layer.padding, dtype)
    return m.load(params["K"], params["b"])


def read_conv(m: Conv2dTwin, pick) -> dict:
    K, b = torch_to_conv(pick(m.conv.weight), pick(m.conv.bias))
    return {"K": K, "b": b}


def build_dense(layer: seq.Dense, params: dict, state: dict, dtype: torch.dtype) -> nn.Module:
    m = nn.Linear(layer.d_in, layer.d_out, dtype=dtype)
    load_into_linear(m, params["W"])
    return m


def read_dense(m: nn.Linear, pick) -> dict:
    return {"W": linear_to_dense(pick(m.weight), pick(m.bias))}


def build_activation(layer: seq.Activation, params, state, dtype) -> nn.Module:
    if layer.activation not in ACTIVATION_MODULES:
        raise ValueError(f"{layer.name}: no torch twin for activation {layer.activation!r}")
    return ACTIVATION_MODULES[layer.activation]()


BATCHNORM_MODULES = {seq.BatchNorm1d: nn.BatchNorm1d, seq.BatchNorm2d: nn.BatchNorm2d}


def build_batchnorm(layer: seq.BatchNorm, params: dict, state: dict, dtype: torch.dtype) -> nn.Module:
    m = BATCHNORM_MODULES[type(layer)](layer.num_features, eps=layer.eps, momentum=layer.momentum,
                                       affine=layer.affine, track_running_stats=layer.track_running_stats,
                                       dtype=dtype)
    with torch.no_grad():
        if layer.affine:
            m.weight.copy_(torch.from_numpy(np.asarray(params["gamma"])))
            m.bias.copy_(torch.from_numpy(np.asarray(params["beta"])))
        if layer.track_running_stats:
            m.running_mean.copy_(torch.from_numpy(np.asarray(state["running_mean"])))
            m.running_var.copy_(torch.from_numpy(np.asarray(state["running_var"])))
            m.num_batches_tracked.fill_(int(state["num_batches_tracked"]))
    return m


def read_batchnorm(m: nn.Module, pick) -> dict:
    if not m.affine:
        return {}
    return {"gamma": pick(m.weight).detach().cpu().numpy().copy(), "beta": pick(m.bias).detach().cpu().numpy().copy()}


def read_batchnorm_state(m: nn.Module) -> dict:
    if not m.track_running_stats:
        return {}
    return {"running_mean": m.running_mean.detach().cpu().numpy().copy(),
            "running_var": m.running_var.detach().cpu().numpy().copy(),
            "num_batches_tracked": np.int64(m.num_batches_tracked)}


class DropoutTwin(nn.Module):
    """torch's dropout computation with a given keep-mask (module docstring); set .mask before forward."""

    def __init__(self, p: float):
        super().__init__()
        dropout.check_p(p, "DropoutTwin")
        self.p = p
        self.mask: np.ndarray | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        if self.p == 1:
            return x * torch.zeros((), dtype=x.dtype)
        if self.mask is None or tuple(self.mask.shape) != tuple(x.shape):
            raise ValueError(f"DropoutTwin: needs a mask of the input's shape {tuple(x.shape)}, got "
                             f"{None if self.mask is None else self.mask.shape}")
        noise = torch.from_numpy(self.mask).to(x.dtype)
        noise.div_(1 - self.p)
        return x * noise


def share_dropout_mask(m: DropoutTwin, cache) -> None:
    scale = cache[0]
    m.mask = None if scale is None else np.asarray(scale != 0)


class L2NormalizeTwin(nn.Module):
    """F.normalize over dim 1."""

    def __init__(self, eps: float):
        super().__init__()
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(x, dim=1, eps=self.eps)


class CosineLinear(nn.Module):
    """cos = F.linear(F.normalize(x), F.normalize(weight)), weight (d_out, d_in) as nn.Linear's, no bias."""

    def __init__(self, W: np.ndarray, dtype: torch.dtype):
        super().__init__()
        self.weight = nn.Parameter(torch.tensor(np.asarray(W).T.copy(), dtype=dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(F.normalize(x, dim=1), F.normalize(self.weight, dim=1))


def read_cosine(m: CosineLinear, pick) -> dict:
    return {"W": pick(m.weight).detach().cpu().numpy().T.copy()}


TWINS: dict[type, Twin] = {
    seq.Conv2d: Twin(build_conv, read_conv),
    seq.Dense: Twin(build_dense, read_dense),
    seq.MaxPool2d: Twin(lambda l, p, s, d: maxpool2d_twin(l.window, l.stride, l.padding)),
    seq.AvgPool2d: Twin(lambda l, p, s, d: avgpool2d_twin(l.window, l.stride, l.padding, l.count_include_pad)),
    seq.Activation: Twin(build_activation),
    seq.Flatten: Twin(lambda l, p, s, d: flatten_twin()),
    seq.LeakyReLU: Twin(lambda l, p, s, d: nn.LeakyReLU(l.negative_slope)),
    seq.BatchNorm1d: Twin(build_batchnorm, read_batchnorm, read_batchnorm_state),
    seq.BatchNorm2d: Twin(build_batchnorm, read_batchnorm, read_batchnorm_state),
    seq.Dropout: Twin(lambda l, p, s, d: DropoutTwin(l.p), share=share_dropout_mask),
    seq.L2Normalize: Twin(lambda l, p, s, d: L2NormalizeTwin(l.eps)),
    seq.CosineDense: Twin(lambda l, p, s, d: CosineLinear(p["W"], d), read_cosine),
}


def twin_of(layer) -> Twin:
    """The registry entry of a reference layer (TypeError naming the layer if there is none)."""
    try:
        return TWINS[type(layer)]
    except KeyError:
        raise TypeError(f"no torch twin registered for layer {layer!r}") from None
