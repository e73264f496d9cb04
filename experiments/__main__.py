"""python -m experiments: the command line of the project.

    list                       experiments, one line each
    run NAME [options]         train an experiment's grid (resumable; finished rows are kept)
    reproduce                  the study's experiment end to end (the README's main job)
    report                     rebuild every table and plot from the CSVs, no training
    equivalence                reference vs PyTorch, layer by layer -> results/equivalence.csv
    data                       fetch MNIST into the cache and verify its checksums
    bench                      speed benchmarks -> results/bench.csv
"""

from __future__ import annotations

import argparse
import sys


def cmd_list(args) -> int:
    from experiments.config import all_experiments
    for name, e in all_experiments().items():
        n_runs = sum(len(e.seeds_of(v)) for v in e.runs)
        print(f"{name:14s} {len(e.runs)} configuration(s), {n_runs} runs: {e.description}")
    print(f"{'cnn-mnist':14s} the LeNet-style CNN on MNIST, NumPy reference and PyTorch twin from identical weights")
    print(f"{'comparison':14s} the best-matching seed-mlp configuration trained by NumPy and PyTorch from identical weights and order")
    return 0


def cmd_run(args) -> int:
    if args.name == "cnn-mnist":
        from experiments.cnn_mnist import run
        kw = {"seeds": tuple(args.seeds) if args.seeds else (0,), "impl": args.impl, "quick": args.quick, "progress": True}
        if args.epochs:
            kw["epochs"] = args.epochs
        run(**kw)
        return 0
    if args.name == "comparison":
        args.impl = args.impl or "both"
        from experiments.comparison import run_comparison
        if args.partial:
            from experiments.comparison import partial_comparison
            partial_comparison(args.variants[0] if args.variants else "output-sigmoid", (args.seeds or [0])[0])
            return 0
        impls = ("numpy", "torch") if args.impl == "both" else (args.impl,)
        run_comparison(seed=(args.seeds or [0])[0], epochs=args.epochs, quick=args.quick,
                       variant=args.variants[0] if args.variants else None, workers=args.workers, impls=impls)
        return 0
    from experiments.config import all_experiments
    from experiments.runner import plan, run_grid
    exps = all_experiments()
    if args.name not in exps:
        print(f"unknown experiment {args.name!r}; known: {', '.join(list(exps) + ['cnn-mnist', 'comparison'])}", file=sys.stderr)
        return 2
    impls = ["numpy", "torch"] if args.impl == "both" else [args.impl or "numpy"]
    specs = plan(exps[args.name], impls, seeds=args.seeds, variants=args.variants, epochs=args.epochs, quick=args.quick)
    run_grid(specs, workers=args.workers, progress=True)
    return 0


def cmd_reproduce(args) -> int:
    from experiments.reproduce import reproduce
    return reproduce(workers=args.workers, quick=args.quick)


def cmd_report(args) -> int:
    from experiments.report import build_all
    build_all()
    return 0


def cmd_equivalence(args) -> int:
    from experiments.equivalence import write_equivalence
    return 0 if write_equivalence(quick=args.quick) else 1


def cmd_data(args) -> int:
    from experiments.mnist import fetch_and_verify
    fetch_and_verify(cache_dir=args.cache_dir, source_dir=args.source_dir, progress=True)
    return 0


def cmd_bench(args) -> int:
    from experiments.bench import run_bench
    run_bench(quick=args.quick, repeats=args.repeats)
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m experiments", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the experiments").set_defaults(fn=cmd_list)
    r = sub.add_parser("run", help="train an experiment's grid (resumable)")
    r.add_argument("name", help="experiment name (see `list`)")
    r.add_argument("--impl", choices=["numpy", "torch", "both"], default=None, help="which implementation trains (default numpy; both for comparison)")
    r.add_argument("--seeds", type=int, nargs="+", help="seeds to run (default: the config's)")
    r.add_argument("--variants", nargs="+", help="only these variants of the grid")
    r.add_argument("--epochs", type=int, help="override the number of epochs (rows record it)")
    r.add_argument("--workers", type=int, default=1, help="runs in parallel (default 1)")
    r.add_argument("--quick", action="store_true", help="short version (2,000 train / 1,000 test samples, <= 2 epochs) into results/quick/, labelled quick")
    r.add_argument("--partial", action="store_true", help="comparison only: tabulate an unfinished PyTorch run at its last epoch (labelled partial)")
    r.set_defaults(fn=cmd_run)
    rp = sub.add_parser("reproduce", help="the study's experiment end to end: grid, comparison, report")
    rp.add_argument("--workers", type=int, default=2, help="runs in parallel (default 2)")
    rp.add_argument("--quick", action="store_true", help="short version, labelled quick, into results/quick/")
    rp.set_defaults(fn=cmd_reproduce)
    sub.add_parser("report", help="rebuild tables and plots from the CSVs (no training)").set_defaults(fn=cmd_report)
    e = sub.add_parser("equivalence", help="reference vs PyTorch, layer by layer -> results/equivalence.csv")
    e.add_argument("--quick", action="store_true", help="skip the full-epoch trajectories (labelled)")
    e.set_defaults(fn=cmd_equivalence)
    d = sub.add_parser("data", help="fetch MNIST and verify its SHA-256 checksums")
    d.add_argument("--cache-dir", help="cache folder (default ./data/MNIST/raw or $MNIST_DIR)")
    d.add_argument("--source-dir", help="a folder holding the four IDX files (raw or .gz), tried first")
    d.set_defaults(fn=cmd_data)
    b = sub.add_parser("bench", help="speed benchmarks -> results/bench.csv")
    b.add_argument("--quick", action="store_true", help="few repeats, small sizes (labelled)")
    b.add_argument("--repeats", type=int, default=7)
    b.set_defaults(fn=cmd_bench)
    return p


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
