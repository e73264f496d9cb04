"""torch.optim twins of the reference optimizers (reference/optim.py), and their state read back.

`torch_optimizer(opt, twin)` builds the torch.optim optimizer with the same hyper-parameters over
the twin's parameters; `set_lr` gives it a step's learning rate (the reference takes lr at every
step); `optimizer_state(torch_opt, twin, model)` reads torch's per-parameter state (step count,
momentum buffers, Adam's moments) in the reference's layout, to compare with the reference's
opt_state buffer by buffer.
"""

from __future__ import annotations

import torch
from torch import nn

from framework.cnn import read
from reference import optim, sequential as seq


def torch_optimizer(opt, twin: nn.Module, lr: float = 0.0) -> torch.optim.Optimizer:
    """torch.optim.SGD / Adam / AdamW with the hyper-parameters of the reference optimizer `opt`."""
    if isinstance(opt, optim.SGD):
        return torch.optim.SGD(twin.parameters(), lr=lr, momentum=opt.momentum, dampening=opt.dampening,
                               nesterov=opt.nesterov, weight_decay=opt.weight_decay)
    if isinstance(opt, optim.Adam):
        cls = torch.optim.AdamW if opt.decoupled else torch.optim.Adam
        return cls(twin.parameters(), lr=lr, betas=opt.betas, eps=opt.eps, weight_decay=opt.weight_decay)
    raise TypeError(f"no torch.optim twin for optimizer {opt!r}")


def set_lr(torch_opt: torch.optim.Optimizer, lr: float) -> None:
    for group in torch_opt.param_groups:
        group["lr"] = lr


def optimizer_state(torch_opt: torch.optim.Optimizer, twin: nn.Module, model: seq.Sequential) -> dict:
    """torch's optimizer state as the reference's opt_state: {"step", "slots"} (buffers as NumPy)."""
    names = sorted({k for s in torch_opt.state.values() for k, v in s.items()
                    if k != "step" and isinstance(v, torch.Tensor)})
    per_buffer = {n: read(twin, model, lambda p, n=n: torch_opt.state[p][n]) for n in names}
    slots = [{key: {n: per_buffer[n][i][key] for n in names} for key in layer_params}
             for i, layer_params in enumerate(read(twin, model, lambda p: p.detach()))]
    steps = {int(s["step"]) for s in torch_opt.state.values() if "step" in s}
    if len(steps) > 1:
        raise ValueError(f"torch optimizer holds different step counts per parameter: {sorted(steps)}")
    return {"step": steps.pop() if steps else None, "slots": slots}
