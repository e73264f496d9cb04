"""Experiment kinds: the `kind` of a TOML experiment decides its run schema and how one run executes.

Each kind module has RUN_KEYS (key -> (type, description, check)), DEFAULTS, TABLE (its results
table), validate(where, run) -> complete run, and execute(spec, out, *, progress) -> list of rows.
"""

from __future__ import annotations

import importlib

KINDS = {
    "mlp": "experiments.kinds.mlp",
    "cnn": "experiments.kinds.cnn",
    "faces": "experiments.faces.kind",
}


def kind_module(kind: str):
    """The module implementing `kind`; ValueError naming the known kinds otherwise."""
    if kind not in KINDS:
        raise ValueError(f"unknown experiment kind {kind!r}; known: {', '.join(KINDS)}")
    return importlib.import_module(KINDS[kind])
