"""The registry of PyTorch twins: each reference layer type (reference/sequential.py) -> its twin.

TWINS[type(layer)] is a Twin of three functions:

    build(layer, params, state, dtype) -> nn.Module   the torch module computing what `layer`
                                                      computes, holding a copy of params and state
    read(module, pick) -> dict                        the module's tensors in the reference's layout,
                                                      with the reference's keys; pick(parameter)
                                                      chooses what is read for each torch parameter:
                                                      the parameter, its .grad, or an optimizer buffer
    read_state(module) -> dict                        the module's buffers as the reference's state

so that a new layer type needs one entry here and nothing else in framework/.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import torch
from torch import nn

from framework.conv import Conv2dTwin, avgpool2d_twin, flatten_twin, maxpool2d_twin, torch_to_conv
from framework.convert import linear_to_dense, load_into_linear
from reference import sequential as seq

ACTIVATION_MODULES = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "identity": nn.Identity}


def no_tensors(module: nn.Module, pick=None) -> dict:
    return {}


class Twin(NamedTuple):
    build: Callable
    read: Callable = no_tensors
    read_state: Callable = no_tensors


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


TWINS: dict[type, Twin] = {
    seq.Conv2d: Twin(build_conv, read_conv),
    seq.Dense: Twin(build_dense, read_dense),
    seq.MaxPool2d: Twin(lambda l, p, s, d: maxpool2d_twin(l.window, l.stride, l.padding)),
    seq.AvgPool2d: Twin(lambda l, p, s, d: avgpool2d_twin(l.window, l.stride, l.padding, l.count_include_pad)),
    seq.Activation: Twin(build_activation),
    seq.Flatten: Twin(lambda l, p, s, d: flatten_twin()),
}


def twin_of(layer) -> Twin:
    """The registry entry of a reference layer (TypeError naming the layer if there is none)."""
    try:
        return TWINS[type(layer)]
    except KeyError:
        raise TypeError(f"no torch twin registered for layer {layer!r}") from None
