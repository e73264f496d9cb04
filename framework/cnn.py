"""The PyTorch twin of a reference Sequential model (reference/sequential.py), same weights.

`build_twin(model, params, state)` maps each reference layer to its torch module through the
registry framework/layers.py (TWINS) inside an nn.Sequential, copying parameters and state (dense
W[l] through framework/convert.py, kernels through framework/conv.py). `twin_params`,
`twin_grads` and `twin_state` read them back in the reference's layout, so that the two models can
be compared parameter by parameter. The loss is F.cross_entropy with mean reduction, the study's
E_in with the softmax cross-entropy. Training steps use torch.optim (framework/optim.py).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from framework.layers import twin_of
from reference import sequential as seq


def torch_dtype(dtype) -> torch.dtype:
    """numpy float32/float64 -> torch dtype."""
    dtype = np.dtype(dtype)
    if dtype == np.float64:
        return torch.float64
    if dtype == np.float32:
        return torch.float32
    raise TypeError(f"no torch twin for dtype {dtype}")


def build_twin(model: seq.Sequential, params: list[dict], state: list[dict] | None = None) -> nn.Sequential:
    """nn.Sequential twin of `model` with a copy of `params` (and `state`), in the parameters' dtype.

    The twin starts in train mode, as torch modules do; call .eval() for eval mode.
    """
    dtype = torch_dtype(next(a.dtype for p in params for a in p.values()))
    state = [{} for _ in model.layers] if state is None else state
    return nn.Sequential(*[twin_of(l).build(l, p, s, dtype) for l, p, s in zip(model.layers, params, state)])


def read(twin: nn.Sequential, model: seq.Sequential, pick) -> list[dict]:
    """pick(parameter) for every torch parameter, in the reference's layout (list aligned with model.layers)."""
    return [twin_of(l).read(m, pick) for m, l in zip(twin, model.layers)]


def twin_params(twin: nn.Sequential, model: seq.Sequential) -> list[dict]:
    """The twin's parameters in the reference's layout."""
    return read(twin, model, lambda p: p)


def twin_grads(twin: nn.Sequential, model: seq.Sequential) -> list[dict]:
    """The twin's parameter gradients (after backward) in the reference's layout."""
    return read(twin, model, lambda p: p.grad)


def twin_state(twin: nn.Sequential, model: seq.Sequential) -> list[dict]:
    """The twin's buffers (running statistics) as the reference's state."""
    return [twin_of(l).read_state(m) for m, l in zip(twin, model.layers)]


def share_randomness(twin: nn.Sequential, model: seq.Sequential, caches: list) -> None:
    """Give the twin's layers the randomness (dropout masks) of the reference forward pass that made caches."""
    for m, l, c in zip(twin, model.layers, caches):
        twin_of(l).share(m, c)


def loss_and_grads(twin: nn.Sequential, model: seq.Sequential, x: np.ndarray,
                   labels: np.ndarray) -> seq.LossAndGrads:
    """E_in = F.cross_entropy(twin(x), labels) (mean), its gradients, s[L] and the state, in the
    reference's layout; the twin's own mode (train() / eval()) applies."""
    twin.zero_grad(set_to_none=True)
    s_L = twin(torch.from_numpy(np.ascontiguousarray(x)))
    E = F.cross_entropy(s_L, torch.from_numpy(np.asarray(labels, dtype=np.int64)))
    E.backward()
    return seq.LossAndGrads(float(E.detach()), twin_grads(twin, model), s_L.detach().numpy(), twin_state(twin, model))
