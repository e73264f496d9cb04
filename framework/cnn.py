"""The PyTorch twin of a reference Sequential model (reference/sequential.py), same weights.

`build_twin(model, params, state)` maps each reference layer to its torch module through the
registry framework/layers.py (TWINS) inside an nn.Sequential, copying parameters and state (dense
W[l] through framework/convert.py, kernels through framework/conv.py). `twin_params`,
`twin_grads` and `twin_state` read them back in the reference's layout, so that the two models can
be compared parameter by parameter. The loss is the twin of the model's own loss (`twin_loss`: the
softmax cross-entropy unless the model names another, through framework/tables.py's TORCH_LOSSES),
mean over the batch. Training steps use torch.optim (framework/optim.py).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from framework.layers import twin_of
from framework.tables import TORCH_LOSSES, torch_loss
from reference import sequential as seq
from reference.losses import get_loss


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


def twin_loss(model: seq.Sequential):
    """E_in(s[L], labels) of the model's own loss computed by torch (mean over the batch); ValueError
    when that loss has no torch twin, so that no twin ever trains on another loss."""
    loss = model.loss if model.loss is not None else get_loss("cross_entropy")
    if loss.name not in TORCH_LOSSES:
        raise ValueError(f"the model's loss {loss.name!r} has no torch twin (framework/tables.py TORCH_LOSSES: "
                         f"{', '.join(TORCH_LOSSES)})")
    return lambda s_L, labels: torch_loss(loss, s_L, s_L, labels)


def loss_and_grads(twin: nn.Sequential, model: seq.Sequential, x: np.ndarray,
                   labels: np.ndarray) -> seq.LossAndGrads:
    """E_in of the model's loss on twin(x) (mean), its gradients, s[L] and the state, in the
    reference's layout; the twin's own mode (train() / eval()) applies."""
    twin.zero_grad(set_to_none=True)
    s_L = twin(torch.from_numpy(np.ascontiguousarray(x)))
    E = twin_loss(model)(s_L, torch.from_numpy(np.asarray(labels, dtype=np.int64)))
    E.backward()
    return seq.LossAndGrads(float(E.detach()), twin_grads(twin, model), s_L.detach().numpy(), twin_state(twin, model))
