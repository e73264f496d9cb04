"""Row names of a layer case (experiments/equivalence/cases.py): component, case and quantity.

A new layer gets derived names, nothing to write:

    component   the layer class's name in lower case                    (LeakyReLU -> "leakyrelu")
    case        the input shape joined by "x", then "_train" / "_eval" when the case line sets a mode,
                then "_<field><value>" for every setting of the layer's dataclass that differs from
                its default (the layer's `name` aside), then "_<data>" unless the data is "normal",
                then "_<note>"                                          (e.g. "6x7_negative_slope0.1_kinks")
    quantities  "output", "input_grad", "grad <param>", "state <state key>", and in float64
                "<quantity> vs central difference"

LEGACY keeps the names of the rows committed before the one table existed (results/equivalence.csv
never loses a row): the layer types below name their rows as their old modules did.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import NamedTuple

from reference import conv_shapes as cs
from reference import sequential as seq


def shape_name(shape) -> str:
    return "x".join(str(n) for n in shape)


def value_name(v) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, tuple):
        return "x".join(value_name(e) for e in v)
    return str(v)


def settings_name(layer) -> str:
    """"_<field><value>" for every dataclass field of the layer (but its name) not at its default."""
    out = ""
    for f in dataclasses.fields(layer):
        v = getattr(layer, f.name)
        if f.name != "name" and (f.default is dataclasses.MISSING or v != f.default):
            out += f"_{f.name}{value_name(v)}"
    return out


def mode_name(train: bool | None) -> str:
    return "" if train is None else ("_train" if train else "_eval")


def derived_case_name(case) -> str:
    return (shape_name(case.x_shape) + mode_name(case.train) + settings_name(case.layer)
            + ("" if case.data == "normal" else f"_{case.data}") + (f"_{case.note}" if case.note else ""))


# ---------------------------------------------------------------------------------------------
# The formats of rows committed before the one table
# ---------------------------------------------------------------------------------------------

def pad_name(pad: cs.Pad4) -> str:
    """"2x0" for 2 rows top and bottom, 0 columns left and right; "t0b1l1r0" when asymmetric."""
    t, b, l, r = pad
    return f"{t}x{l}" if (t == b and l == r) else f"t{t}b{b}l{l}r{r}"


def conv_settings(l) -> tuple:
    """A Conv2d layer's (kernel, stride) pairs and (top, bottom, left, right) padding."""
    return cs.pair(l.kernel, "kernel", l.name), cs.pair(l.stride, "stride", l.name), cs.per_side(l.padding, l.name)


def pool_settings(l) -> tuple:
    """A pooling layer's kind ("max" or "avg"), window, stride (None: the window) and padding pairs, and
    count_include_pad."""
    def pair(v):
        return None if v is None else cs.pair(v, "pooling setting", l.name)
    kind = "max" if isinstance(l, seq.MaxPool2d) else "avg"
    return kind, pair(l.window), pair(l.stride), pair(l.padding), getattr(l, "count_include_pad", True)


def conv_case(case) -> str:
    """kKHxKW_sSHxSW_pPADS_cCINtoCOUT_nN_HxW[_note]."""
    (N, C, H, W), (k, s, pad) = case.x_shape, conv_settings(case.layer)
    return (f"k{k[0]}x{k[1]}_s{s[0]}x{s[1]}_p{pad_name(pad)}_c{C}to{case.layer.c_out}_n{N}_{H}x{W}"
            + (f"_{case.note}" if case.note else ""))


def pool_case(case) -> str:
    """kKHxKW_sSHxSW_pPHxPW_cC_nN_HxW_<data>[_exclude_pad]."""
    (N, C, H, W), (kind, k, s, p, include) = case.x_shape, pool_settings(case.layer)
    s = s or k
    return (f"k{k[0]}x{k[1]}_s{s[0]}x{s[1]}_p{p[0]}x{p[1]}_c{C}_n{N}_{H}x{W}_{case.data}"
            + ("" if kind == "max" or include else "_exclude_pad"))


def batchnorm_case(case) -> str:
    l = case.layer
    return (shape_name(case.x_shape) + mode_name(case.train) + ("" if l.affine else "_noaffine")
            + ("" if l.track_running_stats else "_untracked")
            + ("" if l.momentum == 0.1 else f"_momentum{l.momentum}") + ("" if l.eps == 1e-5 else f"_eps{l.eps:g}"))


class Naming(NamedTuple):
    component: str
    case: Callable
    quantities: dict = {}


CONV_QUANTITIES = {"grad K": "kernel_grad", "grad b": "bias_grad"}
ACTIVATION_QUANTITIES = {"output": "theta", "input_grad": "theta_prime*upstream"}

LEGACY: dict[type, Naming] = {
    seq.Conv2d: Naming("conv", conv_case, CONV_QUANTITIES),
    seq.MaxPool2d: Naming("maxpool", pool_case),
    seq.AvgPool2d: Naming("avgpool", pool_case),
    seq.Activation: Naming("activation", lambda c: f"{c.layer.activation}_{shape_name(c.x_shape)}",
                           ACTIVATION_QUANTITIES),
    seq.Flatten: Naming("flatten", lambda c: "c{1}_n{0}_{2}x{3}".format(*c.x_shape)),
    seq.BatchNorm1d: Naming("batchnorm1d", batchnorm_case),
    seq.BatchNorm2d: Naming("batchnorm2d", batchnorm_case),
    seq.Dropout: Naming("dropout", lambda c: f"p{c.layer.p}_{shape_name(c.x_shape)}{mode_name(c.train)}"),
    seq.CosineDense: Naming("cosinedense", lambda c: f"{shape_name(c.x_shape)}_to{c.layer.d_out}"),
}


def component(case) -> str:
    naming = LEGACY.get(type(case.layer))
    return naming.component if naming else type(case.layer).__name__.lower()


def case_name(case) -> str:
    naming = LEGACY.get(type(case.layer))
    return naming.case(case) if naming else derived_case_name(case)


def quantity_names(case) -> dict:
    """{derived quantity name: the row's name} where the two differ."""
    naming = LEGACY.get(type(case.layer))
    return dict(naming.quantities) if naming else {}
