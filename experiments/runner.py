"""Runs an experiment's grid (variant x seed x impl) in parallel worker processes, resumably.

Each finished run becomes one row of the experiment's results CSV, written atomically by this (the
only writing) process; runs whose rows are already there are skipped, and an interrupted run resumes
from its last checkpointed epoch. Per-epoch curves go to results/runs/<experiment>/.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import pandas as pd

from experiments.config import Experiment
from experiments.progress import progress_bar
from experiments.provenance import ROOT, append_rows_atomic, command_line, stamp

RESULTS = ROOT / "results"
QUICK_RESULTS = ROOT / "results" / "quick"  # git-ignored: shortened runs never mix with real ones
QUICK_N_TRAIN, QUICK_N_TEST, QUICK_EPOCHS = 2000, 1000, 2
KEY = ["experiment", "variant", "seed", "impl", "epochs"]


@dataclass(frozen=True)
class RunSpec:
    experiment: str
    variant: str
    seed: int
    impl: str
    cfg: dict
    quick: bool

    @property
    def run_id(self) -> str:
        return f"{self.experiment}{'-quick' if self.quick else ''}/{self.variant}/{self.impl}-seed{self.seed}"


def shown(path: Path) -> Path:
    """`path` relative to the project root when it lies inside it (as recorded in the CSVs), else as is."""
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path


def results_dir(quick: bool) -> Path:
    return QUICK_RESULTS if quick else RESULTS


def csv_path(experiment: str, quick: bool) -> Path:
    name = "reproduction.csv" if experiment == "seed-mlp" else f"{experiment}.csv"
    return results_dir(quick) / name


def plan(exp: Experiment, impls, seeds=None, variants=None, epochs=None, quick=False) -> list:
    """Every RunSpec of the grid, with epochs/quick overrides applied.  `seeds` (the command line's)
    replaces every variant's seeds; without it each variant runs its own (exp.seeds_of)."""
    names = list(exp.runs) if variants is None else list(variants)
    for v in names:
        if v not in exp.runs:
            raise ValueError(f"experiment {exp.name!r} has no variant {v!r}; it has {list(exp.runs)}")
    if epochs is not None and epochs < 1:
        raise ValueError(f"--epochs must be >= 1, got {epochs}")
    cfgs = {}
    for v in names:
        cfg = dict(exp.runs[v])
        if epochs is not None:
            cfg["epochs"] = epochs
        if quick:
            cfg["epochs"] = min(cfg["epochs"], QUICK_EPOCHS)
        cfgs[v] = cfg
    seeds_of = {v: tuple(exp.seeds_of(v) if seeds is None else seeds) for v in names}
    # seed-major: every configuration's first seed finishes before any second seed (a screening)
    ranks = range(max(len(s) for s in seeds_of.values()))
    return [RunSpec(exp.name, v, seeds_of[v][r], impl, cfgs[v], quick)
            for r in ranks for v in names if r < len(seeds_of[v]) for impl in impls]


def done_keys(path: Path) -> set:
    if not path.exists():
        return set()
    df = pd.read_csv(path)
    return set(map(tuple, df[KEY].astype(str).values))


def spec_key(s: RunSpec) -> tuple:
    return tuple(map(str, (s.experiment, s.variant, s.seed, s.impl, s.cfg["epochs"])))


def execute(spec: RunSpec, progress: bool, stop_after_epoch=None, provenance: dict | None = None) -> dict:
    """Run one spec (in a worker process) and return its results row."""
    from experiments.mlp_run import CHECKPOINT_DIR, train
    from experiments.mnist import load_mnist

    mnist = load_mnist()
    n_train, n_test = (QUICK_N_TRAIN, QUICK_N_TEST) if spec.quick else (None, None)
    curve = results_dir(spec.quick) / "runs" / spec.experiment / f"{spec.variant}__{spec.impl}__seed{spec.seed}.csv"
    weights_out = CHECKPOINT_DIR / "final" / f"{spec.run_id.replace('/', '__')}.npz"
    out = train(spec.cfg, spec.seed, spec.impl, mnist, spec.run_id, curve, n_train, n_test,
                progress=progress, stop_after_epoch=stop_after_epoch, weights_out=weights_out)
    if "stopped_at" in out:
        return out
    cfg = {k: (str(v) if isinstance(v, list) else v) for k, v in spec.cfg.items()}
    cfg["layers"] = "-".join(map(str, spec.cfg["layers"]))
    return {"experiment": spec.experiment, "variant": spec.variant, "seed": spec.seed, "impl": spec.impl,
            **cfg, **out, "quick": spec.quick, "n_train": n_train or 60000, "n_test": n_test or 10000,
            "curve": str(shown(curve)), **(provenance or {"command": command_line(), **stamp()})}


def _worker_init():
    # one BLAS thread per worker: workers run side by side on the cores
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"


def run_grid(specs: list, workers: int = 1, progress: bool = True, out_csv: Path | None = None) -> pd.DataFrame:
    """Run the specs not yet in `out_csv`, `workers` at a time; append each row as it finishes."""
    if not specs:
        return pd.DataFrame()
    out_csv = out_csv or csv_path(specs[0].experiment, specs[0].quick)
    done = done_keys(out_csv)
    todo = [s for s in specs if spec_key(s) not in done]
    print(f"{len(specs)} runs planned, {len(specs) - len(todo)} already in {shown(out_csv)}, {len(todo)} to run with {workers} worker(s)", flush=True)
    # provenance is taken once, at launch: the code that runs is the code of this moment
    prov = {"command": command_line(), **stamp()}
    rows = []
    if workers <= 1:
        for s in progress_bar(todo, desc="runs", enabled=progress, unit="run", leave=True):
            row = execute(s, progress, provenance=prov)
            rows.append(row)
            append_rows_atomic([row], out_csv, KEY)
            print(f"done {s.run_id}: final_test_acc={row['final_test_acc']:.4f} status={row['status']} ({row['train_seconds']:.0f} s)", flush=True)
        return pd.DataFrame(rows)
    _worker_init()
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"), initializer=_worker_init) as pool:
        futures = {pool.submit(execute, s, False, None, prov): s for s in todo}
        for fut in progress_bar(as_completed(futures), total=len(futures), desc="runs", enabled=progress, unit="run", leave=True):
            s = futures[fut]
            row = fut.result()
            rows.append(row)
            append_rows_atomic([row], out_csv, KEY)
            print(f"done {s.run_id}: final_test_acc={row['final_test_acc']:.4f} status={row['status']} ({row['train_seconds']:.0f} s)", flush=True)
    return pd.DataFrame(rows)
