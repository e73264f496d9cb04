"""torch.optim twins of the reference optimizers and schedules (reference/optim.py, schedules.py).

`torch_optimizer(opt, twin)` builds the torch.optim optimizer with the same hyper-parameters over
the twin's parameters (`set_lr` gives it a step's learning rate), and `torch_scheduler(schedule,
torch_opt)` the torch.optim.lr_scheduler of a reference schedule (registries keyed by the reference
type, as framework/layers.py's TWINS).
`optimizer_state(torch_opt, twin, model)` reads torch's per-parameter state (step count, momentum
buffers, Adam's moments) in the reference's layout, to compare with the reference's opt_state
buffer by buffer.
"""

from __future__ import annotations

import torch
from torch import nn

from framework.cnn import read
from reference import optim, schedules
from reference import sequential as seq

OPTIMIZERS = {
    optim.SGD: lambda o, ps, lr: torch.optim.SGD(ps, lr=lr, momentum=o.momentum, dampening=o.dampening,
                                                 nesterov=o.nesterov, weight_decay=o.weight_decay),
    optim.Adam: lambda o, ps, lr: (torch.optim.AdamW if o.decoupled else torch.optim.Adam)(
        ps, lr=lr, betas=o.betas, eps=o.eps, weight_decay=o.weight_decay),
}

_lrs = torch.optim.lr_scheduler
SCHEDULERS = {
    schedules.Constant: lambda s, o: _lrs.ConstantLR(o, factor=1.0, total_iters=0),
    schedules.StepLR: lambda s, o: _lrs.StepLR(o, s.step_size, s.gamma),
    schedules.ExponentialLR: lambda s, o: _lrs.ExponentialLR(o, s.gamma),
    schedules.CosineAnnealingLR: lambda s, o: _lrs.CosineAnnealingLR(o, s.T_max, s.eta_min),
}


def torch_optimizer(opt, twin: nn.Module, lr: float = 0.0) -> torch.optim.Optimizer:
    """torch.optim.SGD / Adam / AdamW with the hyper-parameters of the reference optimizer `opt`."""
    if type(opt) not in OPTIMIZERS:
        raise TypeError(f"no torch.optim twin for optimizer {opt!r}")
    return OPTIMIZERS[type(opt)](opt, twin.parameters(), lr)


def set_lr(torch_opt: torch.optim.Optimizer, lr: float) -> None:
    """Give every parameter group the learning rate of the next step (the reference takes lr per step)."""
    for group in torch_opt.param_groups:
        group["lr"] = lr


def torch_scheduler(schedule, torch_opt: torch.optim.Optimizer):
    """The torch.optim.lr_scheduler computing what `schedule` computes, over torch_opt's base rate."""
    if type(schedule) not in SCHEDULERS:
        raise TypeError(f"no torch scheduler for schedule {schedule!r}")
    return SCHEDULERS[type(schedule)](schedule, torch_opt)


def optimizer_state(torch_opt: torch.optim.Optimizer, twin: nn.Module, model: seq.Sequential) -> dict:
    """torch's optimizer state as the reference's opt_state: {"step", "slots"} (buffers as NumPy).

    "step" is None where torch keeps no count (SGD).
    """
    names = sorted({k for s in torch_opt.state.values() for k, v in s.items()
                    if k != "step" and isinstance(v, torch.Tensor)})
    per_buffer = {n: read(twin, model, lambda p, n=n: torch_opt.state[p][n]) for n in names}
    slots = [{key: {n: per_buffer[n][i][key] for n in names} for key in layer_params}
             for i, layer_params in enumerate(read(twin, model, lambda p: p.detach()))]
    steps = {int(s["step"]) for s in torch_opt.state.values() if "step" in s}
    if len(steps) > 1:
        raise ValueError(f"torch optimizer holds different step counts per parameter: {sorted(steps)}")
    return {"step": steps.pop() if steps else None, "slots": slots}
