"""Provenance recorded with every result: commit, versions, date, command, and the numerics a run ran
on (CPU, BLAS library, version, kernel and threads, torch threads), gathered here for every kind."""

from __future__ import annotations

import datetime
import fcntl
import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pandas is imported where a table is written: the CLI starts without it
    import pandas as pd

ROOT = Path(__file__).resolve().parent.parent


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()


def commit() -> str:
    """The current commit, with '-dirty' if tracked files under the code folders differ from it."""
    try:
        head = git("rev-parse", "--short=12", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no", "--", "reference", "framework", "experiments")
        return head + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def versions() -> dict:
    """The versions a result depends on: NumPy, torch, scikit-learn (the face baselines) and Python."""
    from importlib.metadata import PackageNotFoundError, version

    def of(package):
        try:
            return version(package)
        except PackageNotFoundError:
            return "not installed"
    try:
        import torch
        tv = torch.__version__  # with its build tag (+cu130), as every committed row records it
    except ImportError:
        tv = "not installed"
    return {"numpy_version": np.__version__, "torch_version": tv, "sklearn_version": of("scikit-learn"),
            "python_version": sys.version.split()[0]}


def of_runs(runs: pd.DataFrame, source: str) -> dict:
    """Where a summary row comes from: the seeds, commits and versions of its runs (each run's own row in
    `source` records its command and date)."""
    def distinct(col):
        return " ".join(sorted(map(str, runs[col].unique())))
    return {"seed_list": " ".join(map(str, sorted(runs["seed"].astype(int)))), "run_commits": distinct("commit"),
            "numpy_version": distinct("numpy_version"), "torch_version": distinct("torch_version"),
            "command": f"python -m experiments report (from {source})"}


def cpu_model() -> str:
    """The CPU's model name (Linux /proc/cpuinfo; else platform's)."""
    import platform

    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def numerics() -> dict:
    """What the numbers of a run depend on beyond the code: the CPU, NumPy's BLAS (library, version, the
    kernel it chose for this CPU, its threads), torch's threads (when torch ran), and the fast CNN path's
    convolution on this CPU (`fast_conv`: "direct" where direct.py's AVX-512 kernels take float32 stride-1
    layers, else "im2col"; it matters to runs with path = "fast" only). Read in the process that ran the run,
    after it."""
    from threadpoolctl import threadpool_info

    from experiments.engines.fast import direct

    blas = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    mine = [i for i in blas if str(i.get("filepath", "")).startswith(os.path.dirname(np.__file__) + ".libs")]
    b = (mine or blas or [{}])[0]  # NumPy's own BLAS (scipy's or torch's may be loaded too)
    torch = sys.modules.get("torch")
    return {"cpu": cpu_model(), "blas": f"{b.get('internal_api', 'unknown')} {b.get('version', '')}".strip(),
            "blas_kernel": b.get("architecture") or "unknown", "blas_threads": b.get("num_threads", -1),
            "torch_threads": torch.get_num_threads() if torch is not None else 0,
            "fast_conv": "direct" if direct.AVAILABLE else "im2col"}


def stamp() -> dict:
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"commit": commit(), **versions(), "date": now}


COMMAND: list[str] = []  # the command line given to experiments.cli.main, when it was called in process


def command_line() -> str:
    """The command being run, as recorded in every row."""
    if COMMAND:
        return COMMAND[-1]
    if sys.argv and sys.argv[0].endswith("__main__.py"):
        return "python -m experiments " + " ".join(sys.argv[1:])
    return " ".join(sys.argv)


def write_csv_atomic(df: pd.DataFrame, path: Path) -> None:
    """Write to a temporary file beside `path`, then rename over it: readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    df.to_csv(tmp, index=False)
    os.replace(tmp, path)


@contextmanager
def folder_lock(folder: Path):
    """An exclusive lock on `folder` (flock on the directory itself: no lock file is left behind),
    so that runner processes sharing a results folder never interleave a read-modify-write."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def archive_path(path: Path) -> Path:
    """Where the rows superseded in the table at `path` go: archive/NAME beside it, one labelled place."""
    path = Path(path)
    return path.parent / "archive" / path.name


def archive_rows(rows: pd.DataFrame, path: Path, reason: str) -> None:
    """Append `rows` (taken out of the table at `path`) to its archive, each labelled with `reason` and the date."""
    import pandas as pd

    if rows.empty:
        return
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    rows = rows.assign(archived_reason=reason, archived_date=now)
    target = archive_path(path)
    if target.exists() and target.stat().st_size > 0:
        rows = pd.concat([pd.read_csv(target, low_memory=False), rows], ignore_index=True)
    write_csv_atomic(rows, target)


def append_rows_atomic(rows: list, path: Path, key: list | None = None) -> pd.DataFrame:
    """Add rows to the CSV at `path`, atomically, under the folder's lock: two processes appending at once
    both keep their rows. An earlier row with the same `key` columns (a run trained again) moves to the
    table's archive (archive_path), labelled as superseded: no row is ever lost."""
    import pandas as pd

    path = Path(path)
    with folder_lock(path.parent):
        new = pd.DataFrame(rows)
        if path.exists() and path.stat().st_size > 0:
            from experiments.tables import read_table

            old = read_table(path, low_memory=False)
            if key:
                keys = set(map(tuple, new[key].astype(str).values))
                again = np.array([tuple(r) in keys for r in old[key].astype(str).values], dtype=bool)
                archive_rows(old[again], path, f"superseded by a new row of the same {'/'.join(key)} "
                                               f"(commit {new['commit'].iloc[0] if 'commit' in new else 'unknown'})")
                old = old[~again]
            if len(old):  # concatenating an empty table would turn the new integer columns to float
                new = pd.concat([old, new], ignore_index=True)
        write_csv_atomic(new, path)
    return new
