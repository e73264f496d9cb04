"""python -m experiments reproduce: the study's experiment end to end (the README's main job).

1. the seed-mlp grid: 784-128-64-10, 100 epochs, batch size 1, eta 0.1, every configuration x 3 seeds
   (resumable: finished rows are kept, an interrupted run continues from its last epoch);
2. the comparison: the configuration closest to 94.27% trained by NumPy and PyTorch from identical
   weights and order;
3. the report: summary table (also in README.md) and plots.
With --quick every step is shortened (2,000 training samples, 2 epochs), labelled, in results/quick/.
"""

from __future__ import annotations


def reproduce(workers: int = 2, quick: bool = False) -> int:
    from experiments.comparison import run_comparison
    from experiments.config import all_experiments
    from experiments.report import build_all
    from experiments.runner import plan, run_grid

    exp = all_experiments()["seed-mlp"]
    run_grid(plan(exp, ["numpy"], quick=quick), workers=workers, progress=True)
    run_comparison(seed=0, quick=quick, workers=workers)
    if not quick:
        build_all()
    return 0
