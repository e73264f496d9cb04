"""Where a run writes: an Outputs object passed to every writer, never a module constant.

A full run of an experiment's own declared configuration writes into results/ (official); anything
else (shortened, other seeds, other settings, `--out DIR`, the README's main job) writes into an
output folder (default ./out, git-ignored), so that no ad-hoc command can touch a committed table.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from experiments.provenance import ROOT

RESULTS = ROOT / "results"
DEFAULT_OUT = ROOT / "out"


class OutputError(ValueError):
    """An output folder that cannot be used; the message names the option and the path."""


@dataclass(frozen=True)
class Outputs:
    root: Path
    official: bool = False

    def table(self, name: str) -> Path:
        return self.root / f"{name}.csv"

    def curves(self, experiment: str) -> Path:
        return self.root / "runs" / experiment

    @property
    def checkpoints(self) -> Path:
        # official checkpoints stay out of results/ (git-ignored, large)
        return ROOT / "checkpoints" if self.official else self.root / "checkpoints"

    def shown(self, path: Path) -> str:
        """`path` as recorded in tables: relative to the project root when inside it."""
        path = Path(path)
        return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def official() -> Outputs:
    return Outputs(RESULTS, official=True)


def ad_hoc(path: str | os.PathLike | None = None, option: str = "--out") -> Outputs:
    """An output folder for ad-hoc runs; refuses results/ itself and folders that cannot be written."""
    if path is not None and not str(path).strip():
        raise OutputError(f"{option} {str(path)!r}: an empty folder name would mean the current folder; name one")
    root = Path(path).resolve() if path is not None else DEFAULT_OUT
    if root == RESULTS or root.is_relative_to(RESULTS):
        raise OutputError(f"{option} {path}: results/ is written only by full runs of an experiment's declared "
                          f"configuration; choose another folder")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"{option} {path}: cannot create the folder ({e.strerror})") from None
    if not os.access(root, os.W_OK):
        raise OutputError(f"{option} {path}: folder is not writable")
    return Outputs(root, official=False)

