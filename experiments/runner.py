"""The grid of runs: plan (experiment x variant x seed -> RunSpec) and run_grid (execute the missing ones).

A run's identity is its full resolved configuration: kind, seed and every setting (dataset, epochs,
engine included), hashed into `run_id`, which names its rows, curve and checkpoint; settings added to a
kind later are left out at the value every earlier run had (Kind.identity), so runs keep their run_id as
the schema grows. A changed setting is a new run; a finished run (its run_id in the table) is never
run again. The calling process is the
only writer of result rows; rows merge into the table by run_id, which never loses a row.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import traceback
from dataclasses import dataclass
from pathlib import Path

from experiments.config import ConfigError, Experiment, seed_too_large
from experiments.kinds import kind_of
from experiments.outputs import Outputs
from experiments.provenance import append_rows_atomic, command_line, numerics, stamp
from experiments.tables import read_table
from experiments.threads import pin_run

KEY = ["run_id", "impl"]  # a run may report one row per implementation trained from the same start


@dataclass(frozen=True)
class RunSpec:
    experiment: str
    kind: str
    variant: str
    seed: int
    config: dict
    crossed: str = ""  # the [cross] values of this run ("inner_fold=1"), where the experiment crosses some

    @property
    def run_id(self) -> str:
        return run_id(self.kind, self.seed, self.config)

    @property
    def label(self) -> str:
        return f"{self.experiment}/{self.variant}{'@' + self.crossed if self.crossed else ''}/seed{self.seed}"


def run_id(kind: str, seed: int, config: dict) -> str:
    """16 hex digits of the SHA-256 of the canonical JSON of (kind, seed, the config's identity)."""
    identity = kind_of(kind).identity(config)
    blob = json.dumps({"kind": kind, "seed": int(seed), "config": identity}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def config_id(kind: str, config: dict) -> str:
    """The configuration of a run without its seed: 16 hex digits of the SHA-256 of (kind, the config's
    identity); the key reports and reproductions group runs by."""
    blob = json.dumps({"kind": kind, "config": kind_of(kind).identity(config)}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def check_cli_seeds(seeds) -> None:
    """The command line's --seeds: non-negative, storable, distinct."""
    bad = [s for s in seeds if not (isinstance(s, int) and s >= 0)]
    if bad or not seeds:
        raise ConfigError(f"--seeds must be non-negative integers, got {list(seeds)}")
    if seed_too_large(seeds):
        raise ConfigError(f"--seeds: {seed_too_large(seeds)}")
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"--seeds must not repeat, got {list(seeds)}")


def plan(exp: Experiment, *, seeds=None, variants=None, overrides: dict | None = None,
         quick: bool = False) -> list[RunSpec]:
    """Every RunSpec of the grid. `seeds` (the command line's) replaces every variant's own seeds;
    `overrides` (e.g. epochs, impl) are validated by the kind like any TOML value; `quick` gives the
    kind's labelled smoke version of every run."""
    kind = exp.kind
    names = list(exp.runs) if variants is None else list(dict.fromkeys(variants))
    for v in names:
        if v not in exp.runs:
            raise ConfigError(f"--variants: experiment {exp.name!r} has no variant {v!r}; it has {', '.join(exp.runs)}")
    if seeds is not None:
        check_cli_seeds(seeds)
    configs = {v: tuple((at, kind.validate(f"{exp.name} [{v}] with {overrides}", {**c, **overrides}))
                        for at, c in exp.crossed_of(v)) if overrides else exp.crossed_of(v) for v in names}
    if quick:
        configs = {v: tuple((at, kind.quick(c)) for at, c in cs) for v, cs in configs.items()}
    seeds_of = {v: tuple(exp.seeds_of(v) if seeds is None else seeds) for v in names}
    # seed-major: every configuration's first seed finishes before any second seed (a screening)
    specs, seen = [], {}
    for r in range(max(len(s) for s in seeds_of.values())):
        for v in names:
            if r < len(seeds_of[v]):
                for at, c in configs[v]:
                    s = RunSpec(exp.name, kind.name, v, seeds_of[v][r], c, at)
                    if s.run_id in seen:
                        raise ConfigError(f"{exp.path}: variants {seen[s.run_id]!r} and {v!r} are the same run")
                    seen[s.run_id] = v
                    specs.append(s)
    return specs


def declared(exp: Experiment, specs: list[RunSpec]) -> bool:
    """True when every spec is a run the experiment itself declares (so it may write into results/)."""
    return all(exp.declares(s.variant, s.config, s.seed) for s in specs)


def done_ids(path) -> set:
    if not path.exists() or path.stat().st_size == 0:
        return set()
    df = read_table(path)  # the whole file: with usecols pandas lets a line of extra fields through
    return set(df["run_id"].astype(str)) if "run_id" in df else set()


def execute(spec: RunSpec, out: Outputs, progress: bool = False, provenance: dict | None = None,
            threads: int = 1) -> list[dict]:
    """Run one spec (in whatever process calls it) pinned to `threads` BLAS/OpenMP/torch threads, and return
    its rows, identity, provenance and numerics (CPU, BLAS, threads) added."""
    pin_run(threads)
    rows = kind_of(spec.kind).execute(spec, out, progress=progress)
    prov = {**(provenance or {"command": command_line(), **stamp()}), "threads": threads, **numerics()}
    flat = {k: ("-".join(map(str, v)) if isinstance(v, list) else v) for k, v in spec.config.items()}
    return [{"experiment": spec.experiment, "variant": spec.variant, "seed": spec.seed, **flat, **row,
             "run_id": spec.run_id, **prov} for row in rows]


def prefetch(specs: list[RunSpec]) -> None:
    """Fetch and verify every dataset the runs need, here, before any run starts: a data problem is then
    one clear error instead of one failed run per spec (workers elsewhere verify their own copies)."""
    from experiments.data import fetch

    for name in sorted({s.config["dataset"] for s in specs}):
        fetch(name, progress=False)


def set_aside_checkpoints(specs: list[RunSpec], out: Outputs) -> None:
    """Move the checkpoints of runs about to be trained again into checkpoints/superseded/ (a resumed
    checkpoint would otherwise end the new run at once)."""
    target = out.checkpoints / "superseded"
    for s in specs:
        for f in [*out.checkpoints.glob(f"{s.run_id}*.npz"), *(out.checkpoints / "final").glob(f"{s.run_id}*.npz")]:
            target.mkdir(parents=True, exist_ok=True)
            f.replace(target / f.name)


def set_aside_run_files(specs: list[RunSpec], out: Outputs, again: bool) -> list[Path]:
    """Move the per-run files (curves, predictions, probes, pairs) that runs about to start would overwrite into
    archive/runs/EXPERIMENT/ (a name taken there gets the date): they belong to a row already archived, e.g. a
    run chosen, archived and chosen again. A run that resumes from its checkpoint keeps its files (it rewrites
    them from the checkpoint's history), unless `again` starts it afresh. Returns the new paths."""
    moved = []
    for s in specs:
        if not again and any(out.checkpoints.glob(f"{s.run_id}*.npz")):  # cnn: one per impl, RUN_ID.IMPL.npz
            continue
        for f in sorted(out.curves(s.experiment).glob(f"*__{s.run_id}*")):
            target = out.root / "archive" / "runs" / s.experiment / f.name
            if target.exists():
                date = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%S")
                target = target.with_name(f"{target.stem}.archived-{date}{target.suffix}")
            target.parent.mkdir(parents=True, exist_ok=True)
            f.replace(target)
            moved.append(target)
    return moved


def run_grid(specs: list[RunSpec], out: Outputs, table: str, *, workers: int = 1, scheduler: str | None = None,
             progress: bool = True, threads: int = 1, again: bool = False) -> tuple[list, list]:
    """Run the specs whose run_id is not yet in out.table(table) (all of them `again`: their old rows move
    to the table's archive as they are replaced); append each run's rows as it finishes.

    Returns (rows, failures): a failed run is reported with its label, run_id and error; the others go on.
    """
    if workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {workers}")
    path = out.table(table)
    done = set() if again else done_ids(path)
    todo = [s for s in specs if s.run_id not in done]
    for f in set_aside_run_files(todo, out, again):
        print(f"{out.shown(f)}: set aside, a run about to start would overwrite it", flush=True)
    if again:
        set_aside_checkpoints(todo, out)
    print(f"{len(specs)} runs planned, {len(specs) - len(todo)} already in {out.shown(path)}, {len(todo)} to run",
          flush=True)
    # provenance is taken once, at launch: the code that runs is the code of this moment
    prov = {"command": command_line(), **stamp()}
    rows, failures = [], []

    def finished(spec, result, error):
        if error is not None:
            error = error.removeprefix(f"{spec.label}: ")  # the Dask path names the run already
            failures.append(f"{spec.label} (run {spec.run_id}): {error}")
            print(f"FAILED {spec.label} (run {spec.run_id}): {error}", flush=True)
            return
        rows.extend(result)
        append_rows_atomic(result, path, KEY)
        metric = ", ".join(f"{k}={r[k]:.4f}" for r in result for k in kind_of(spec.kind).metrics
                           if isinstance(r.get(k), float) and r[k] == r[k])  # the kind's metrics that are not NaN
        print(f"done {spec.label} (run {spec.run_id}): {metric}", flush=True)

    if not todo:
        return rows, failures
    prefetch(todo)
    if workers == 1 and scheduler is None:
        from experiments.progress import progress_bar

        for spec in progress_bar(todo, desc="runs", enabled=progress, unit="run", leave=True):
            try:
                result, error = execute(spec, out, progress, prov, threads), None
            except Exception as e:  # a failed run must not stop the grid; its error is reported
                result, error = None, f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=-3)}"
            finished(spec, result, error)
        return rows, failures
    from experiments.cluster import iterate

    for spec, result, error in iterate(_RunTask(out, prov, threads), todo, workers=workers, scheduler=scheduler,
                                       progress=progress, desc="runs"):
        finished(spec, result, error)
    return rows, failures


@dataclass(frozen=True)
class _RunTask:
    """A picklable callable for the workers: one spec -> its rows."""

    out: Outputs
    provenance: dict
    threads: int = 1

    def __call__(self, spec: RunSpec) -> list[dict]:
        return execute(spec, self.out, progress=False, provenance=self.provenance, threads=self.threads)


UNDECLARED = ("not a declared run of any experiment: its identity was superseded (a setting joined the run keys) "
              "or its configuration changed")


def archive_undeclared(out: Outputs, experiments: dict, why: str | None = None) -> dict:
    """Move the rows of each official table whose run_id no experiment declares (a configuration that
    changed, or a run recorded under an identity since superseded) into the table's archive, labelled;
    the table then holds exactly the declared runs its reports read. Returns table -> rows moved."""

    from experiments.provenance import archive_rows, folder_lock, write_csv_atomic

    declared_ids: dict[str, set] = {}
    for exp in experiments.values():
        declared_ids.setdefault(exp.table, set()).update(s.run_id for s in plan(exp))
    moved = {}
    for table, ids in declared_ids.items():
        path = out.table(table)
        if not path.exists():
            continue
        with folder_lock(path.parent):
            df = read_table(path, low_memory=False)
            stale = ~df["run_id"].astype(str).isin(ids)
            if stale.any():
                archive_rows(df[stale], path, why or UNDECLARED)
                write_csv_atomic(df[~stale], path)
            moved[table] = int(stale.sum())
    return moved
