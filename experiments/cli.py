"""python -m experiments: the command line of the project.

    list                       experiments, their variants, and any broken configuration file
    run NAME [options]         train an experiment's grid (resumable; finished rows are kept)
    reproduce [NAME ...]       re-run experiments into out/reproduce/NAME and judge them against results/
                               (no name: the study's experiment end to end, the README's main job)
    report                     rebuild every committed table and plot from results/, no training
    tidy                       move rows no experiment declares from results/ tables into results/archive/
    equivalence                reference vs PyTorch and JAX, layer by layer -> results/equivalence.csv
    data [NAME]                fetch a dataset (mnist, orl, cbcl, lfw-subset) into the cache and verify its checksums
    bench                      speed benchmarks -> results/bench.csv
    faces identify IMAGE       who is this face: the trained NumPy CNN's top identities, or unknown

A full run of an experiment's declared configuration writes into results/; anything else (--quick,
--epochs, --impl, seeds it does not declare, --out) writes into --out (default ./out). A mistake on
the command line, in a configuration or with the data prints one line and exits with status 2
(--debug shows the traceback).
"""

from __future__ import annotations

import argparse
import sys


class UsageError(ValueError):
    """A bad flag or value on the command line."""


class Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(f"{self.prog}: {message}")


def int_at_least(low: int, what: str):
    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} must be an integer, got {text!r}") from None
        if v < low:
            raise argparse.ArgumentTypeError(f"{what} must be >= {low}, got {v}")
        return v
    return parse


def seed_arg(text: str) -> int:
    """A --seeds value: an integer 0..2**63-1 (the range every table stores)."""
    from experiments.config import seed_too_large

    v = int_at_least(0, "--seeds")(text)
    if seed_too_large([v]):
        raise argparse.ArgumentTypeError(seed_too_large([v]))
    return v


def nonempty(what: str):
    """An option's value that must not be empty (an empty --out would mean the current folder)."""
    def parse(text: str) -> str:
        if not text.strip():
            raise argparse.ArgumentTypeError(f"{what} must not be empty, got {text!r}")
        return text
    return parse


def cmd_list(args) -> int:
    from experiments.config import scan

    good, broken = scan()
    for name, e in good.items():
        n_runs = sum(len(e.seeds_of(v)) * len(e.configs_of(v)) for v in e.runs)
        print(f"{name:14s} kind {e.kind.name}, {len(e.runs)} configuration(s), {n_runs} runs -> results/{e.table}.csv: "
              f"{e.description}")
        print(f"{'':14s} variants: {', '.join(e.runs)}")
    for path, reason in broken.items():
        print(f"{path.name:14s} BROKEN: {reason}")
    return 0


def overrides(args, kind) -> dict:
    """The command line's settings for every run of the grid (validated by the kind like TOML values)."""
    o = {}
    if args.epochs is not None:
        o["epochs"] = args.epochs
    if args.impl is not None:
        if "impl" not in kind.run_keys:
            raise UsageError(f"--impl {args.impl}: experiment {args.name!r} has no implementation choice")
        problem = kind.run_keys["impl"][2](args.impl)
        if problem:  # e.g. both: only the cnn kind trains the two implementations side by side
            raise UsageError(f"--impl {args.impl}: experiment {args.name!r}: impl = {args.impl!r} {problem}")
        o["impl"] = args.impl
    return o


def plan_for(args):
    """(experiment, specs, outputs) for `run`, with the command line's overrides applied."""
    from experiments import outputs
    from experiments.config import get_experiment
    from experiments.runner import declared, plan

    exp = get_experiment(args.name)
    specs = plan(exp, seeds=args.seeds, variants=args.variants, overrides=overrides(args, exp.kind), quick=args.quick)
    if args.out is None and not args.quick and declared(exp, specs):
        return exp, specs, outputs.official()
    return exp, specs, outputs.ad_hoc(args.out)


def cmd_run(args) -> int:
    from experiments.reports import report_for
    from experiments.runner import run_grid

    exp, specs, out = plan_for(args)
    print(f"{args.name}: writing to {out.shown(out.root)}" + ("" if out.official else " (not the committed results)"),
          flush=True)
    _, failures = run_grid(specs, out, exp.table, workers=args.workers, scheduler=args.scheduler, progress=True,
                           threads=args.threads, again=args.again)
    fn = report_for(exp)
    if fn is not None and out.table(exp.table).exists():
        fn(exp, out, specs)
    if failures:
        print(f"{len(failures)} run(s) failed:\n  " + "\n  ".join(failures), file=sys.stderr)
        return 1
    return 0


def cmd_reproduce(args) -> int:
    from experiments.reproduce import reproduce

    return reproduce(args.names, out_dir=args.out, workers=args.workers, scheduler=args.scheduler, quick=args.quick,
                     sample=args.sample, variants=args.variants, threads=args.threads)


def cmd_report(args) -> int:
    from experiments import outputs
    from experiments.config import scan
    from experiments.reports import build

    good, broken = scan()
    built = build(outputs.official(), good)
    print(f"rebuilt: {', '.join(built) or 'nothing'}")
    for reason in broken.values():
        print(f"error: not rebuilt, broken configuration: {reason}", file=sys.stderr)
    return 2 if broken else 0


def cmd_tidy(args) -> int:
    from experiments import outputs
    from experiments.config import all_experiments
    from experiments.runner import archive_undeclared

    for table, n in archive_undeclared(outputs.official(), all_experiments(), args.why).items():
        print(f"results/{table}.csv: {n} row(s) no experiment declares moved to results/archive/{table}.csv")
    return 0


def cmd_equivalence(args) -> int:
    from experiments import outputs
    from experiments.equivalence import write

    out = outputs.ad_hoc(args.out) if (args.quick or args.out) else outputs.official()
    return 0 if write(out, quick=args.quick) else 1


def cmd_data(args) -> int:
    from experiments.data import fetch

    fetch(args.dataset, cache_dir=args.cache_dir, source_dir=args.source_dir, progress=True)
    return 0


def cmd_bench(args) -> int:
    if args.cluster:
        from experiments.bench import cluster

        cluster.run(quick=args.quick)
        return 0
    from experiments.bench import run_bench

    run_bench(quick=args.quick, repeats=args.repeats)
    return 0


def add_grid_options(p, workers_default: int):
    p.add_argument("--workers", type=int_at_least(1, "--workers"), default=workers_default,
                   help=f"runs in parallel on a local Dask cluster (default {workers_default})")
    p.add_argument("--scheduler", type=nonempty("--scheduler"),
                   help="address of an existing Dask scheduler (tcp://host:8786) to run on instead")
    p.add_argument("--threads", type=int_at_least(1, "--threads"), default=1,
                   help="BLAS/OpenMP/torch threads of each run (default 1; the row records it)")
    p.add_argument("--quick", action="store_true", help="labelled smoke version (small subset, <= 2 epochs)")
    p.add_argument("--out", type=nonempty("--out"),
                   help="output folder for anything but the committed results (default ./out)")


def parser() -> argparse.ArgumentParser:
    p = Parser(prog="python -m experiments", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = p.add_subparsers(dest="command", required=True, parser_class=Parser)
    sub.add_parser("list", help="list the experiments").set_defaults(fn=cmd_list)
    r = sub.add_parser("run", help="train an experiment's grid (resumable)")
    r.add_argument("name", help="experiment name (see `list`)")
    r.add_argument("--impl", choices=["numpy", "torch", "both"],
                   help="which implementation trains: numpy or torch; both (the two from one start) for cnn "
                        "experiments only; none for faces")
    r.add_argument("--seeds", type=seed_arg, nargs="+", help="seeds to run (default: the config's)")
    r.add_argument("--variants", nargs="+", help="only these variants of the grid")
    r.add_argument("--epochs", type=int_at_least(1, "--epochs"), help="override the number of epochs (ad-hoc run)")
    r.add_argument("--again", action="store_true",
                   help="train runs already in the table again; their old rows move to archive/TABLE.csv, labelled")
    add_grid_options(r, 1)
    r.set_defaults(fn=cmd_run)
    rp = sub.add_parser("reproduce", help="re-run experiments into out/reproduce/NAME and judge them against "
                        "results/ (default: the study's seed-mlp and comparison)")
    rp.add_argument("names", nargs="*", metavar="NAME", help="experiments to reproduce (see `list`)")
    rp.add_argument("--sample", type=int_at_least(1, "--sample"),
                    help="the first N declared seeds of each variant (default all; 3 for grids of over 100 runs)")
    rp.add_argument("--variants", nargs="+", help="only these variants")
    add_grid_options(rp, 2)
    rp.set_defaults(fn=cmd_reproduce)
    sub.add_parser("report", help="rebuild the committed tables and plots from results/ (no training)").set_defaults(
        fn=cmd_report)
    t = sub.add_parser("tidy", help="move rows of results/ tables that no experiment declares into results/archive/")
    t.add_argument("--why", help="the reason recorded with each moved row (default: a superseded identity or a "
                   "changed configuration)")
    t.set_defaults(fn=cmd_tidy)
    e = sub.add_parser("equivalence", help="reference vs PyTorch and JAX, layer by layer -> results/equivalence.csv")
    e.add_argument("--quick", action="store_true", help="fewer cases, short trajectories (labelled; into --out)")
    e.add_argument("--out", type=nonempty("--out"),
                   help="output folder instead of results/ (default ./out for --quick)")
    e.set_defaults(fn=cmd_equivalence)
    d = sub.add_parser("data", help="fetch a dataset and verify its SHA-256 checksums")
    d.add_argument("dataset", nargs="?", default="mnist", choices=["mnist", "orl", "cbcl", "lfw-subset"],
                   help="which (default mnist)")
    d.add_argument("--cache-dir", type=nonempty("--cache-dir"),
                   help="cache folder (default ./data/...; or $MNIST_DIR / $ORL_DIR)")
    d.add_argument("--source-dir", type=nonempty("--source-dir"),
                   help="a folder holding the original files, tried first")
    d.set_defaults(fn=cmd_data)
    b = sub.add_parser("bench", help="speed benchmarks -> results/bench.csv")
    b.add_argument("--quick", action="store_true", help="few repeats, small sizes (labelled)")
    b.add_argument("--repeats", type=int_at_least(1, "--repeats"), default=7)
    b.add_argument("--cluster", action="store_true",
                   help="the Dask grid benchmark instead (1 vs 2 workers, overhead) -> results/bench_cluster.csv")
    b.set_defaults(fn=cmd_bench)
    from experiments.kinds import registry

    for kind in registry().values():
        kind.register_cli(sub)
    return p


def user_errors() -> tuple:
    """The exception types a user can cause: one line and exit status 2."""
    from experiments.config import ConfigError
    from experiments.outputs import OutputError
    from experiments.tables import TableError

    types = [UsageError, ConfigError, OutputError, TableError]
    try:
        from experiments.data import DataError
        types.append(DataError)
    except ImportError:
        pass
    try:
        from experiments.cluster import ClusterError
        types.append(ClusterError)
    except ImportError:
        pass
    return tuple(types)


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    argv = [a for a in argv if a != "--debug"]  # accepted anywhere on the line
    from experiments import provenance

    provenance.COMMAND.append(" ".join(["python -m experiments", *argv]))
    try:
        args = parser().parse_args(argv)
        return args.fn(args)
    except user_errors() as e:
        if debug:
            raise
        lines = f"error: {e}".splitlines()
        more = f" ({len(lines) - 1} more line(s) with --debug)" if len(lines) > 1 else ""
        print(lines[0] + more, file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:
        print("interrupted: finished runs are kept; run the same command again to resume", file=sys.stderr)
        return 130
    finally:
        provenance.COMMAND.pop()
