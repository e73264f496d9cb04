"""The PyTorch twin of a reference Sequential model (reference/sequential.py), same weights.

`build_twin(model, params)` maps each reference layer to its torch module (Conv2dTwin, nn.MaxPool2d,
nn.AvgPool2d, nn.ReLU/Tanh/Sigmoid/Identity, nn.Flatten, nn.Linear) inside an nn.Sequential and
copies the parameters (dense W[l] through framework/convert.py, kernels through framework/conv.py).
`twin_params` / `twin_grads` read them back in the reference's layout, so that the two models can
be compared parameter by parameter. The loss is F.cross_entropy with mean reduction, the study's
E_in with the softmax cross-entropy.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from framework.conv import Conv2dTwin, avgpool2d_twin, flatten_twin, maxpool2d_twin
from framework.convert import linear_to_dense, load_into_linear
from reference import sequential as seq

ACTIVATION_MODULES = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "identity": nn.Identity}


def torch_dtype(dtype) -> torch.dtype:
    """numpy float32/float64 -> torch dtype."""
    dtype = np.dtype(dtype)
    if dtype == np.float64:
        return torch.float64
    if dtype == np.float32:
        return torch.float32
    raise TypeError(f"no torch twin for dtype {dtype}")


def twin_layer(layer, params: dict, dtype: torch.dtype) -> nn.Module:
    """The torch module computing what `layer` computes, holding a copy of `params`."""
    if isinstance(layer, seq.Conv2d):
        m = Conv2dTwin(layer.c_in, layer.c_out, layer.kernel, layer.stride, layer.padding, dtype)
        return m.load(params["K"], params["b"])
    if isinstance(layer, seq.MaxPool2d):
        return maxpool2d_twin(layer.window, layer.stride, layer.padding)
    if isinstance(layer, seq.AvgPool2d):
        return avgpool2d_twin(layer.window, layer.stride, layer.padding, layer.count_include_pad)
    if isinstance(layer, seq.Activation):
        if layer.activation not in ACTIVATION_MODULES:
            raise ValueError(f"{layer.name}: no torch twin for activation {layer.activation!r}")
        return ACTIVATION_MODULES[layer.activation]()
    if isinstance(layer, seq.Flatten):
        return flatten_twin()
    if isinstance(layer, seq.Dense):
        m = nn.Linear(layer.d_in, layer.d_out, dtype=dtype)
        load_into_linear(m, params["W"])
        return m
    raise TypeError(f"no torch twin for layer {layer!r}")


def build_twin(model: seq.Sequential, params: list[dict]) -> nn.Sequential:
    """nn.Sequential twin of `model` with a copy of `params`, in the parameters' dtype."""
    dtype = torch_dtype(next(a.dtype for p in params for a in p.values()))
    return nn.Sequential(*[twin_layer(l, p, dtype) for l, p in zip(model.layers, params)])


def _read(module: nn.Module, layer, grad: bool) -> dict:
    if isinstance(layer, seq.Conv2d):
        return module.grads() if grad else module.params()
    if isinstance(layer, seq.Dense):
        w, b = (module.weight.grad, module.bias.grad) if grad else (module.weight, module.bias)
        return {"W": linear_to_dense(w, b)}
    return {}


def twin_params(twin: nn.Sequential, model: seq.Sequential) -> list[dict]:
    """The twin's parameters in the reference's layout (list aligned with model.layers)."""
    return [_read(m, l, grad=False) for m, l in zip(twin, model.layers)]


def twin_grads(twin: nn.Sequential, model: seq.Sequential) -> list[dict]:
    """The twin's parameter gradients (after backward) in the reference's layout."""
    return [_read(m, l, grad=True) for m, l in zip(twin, model.layers)]


def loss_and_grads(twin: nn.Sequential, model: seq.Sequential, x: np.ndarray,
                   labels: np.ndarray) -> tuple[float, list[dict], np.ndarray]:
    """E_in = F.cross_entropy(twin(x), labels) (mean), its gradients (reference layout), and s[L]."""
    twin.zero_grad(set_to_none=True)
    s_L = twin(torch.from_numpy(np.ascontiguousarray(x)))
    E = F.cross_entropy(s_L, torch.from_numpy(np.asarray(labels, dtype=np.int64)))
    E.backward()
    return float(E.detach()), twin_grads(twin, model), s_L.detach().numpy()


def sgd_step(twin: nn.Module, lr: float) -> None:
    """p <- p - lr grad for every parameter (torch.optim.SGD without momentum computes the same)."""
    with torch.no_grad():
        for p in twin.parameters():
            p.sub_(lr * p.grad)
