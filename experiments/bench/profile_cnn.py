"""cProfile of one LeNet or face-CNN training run on either NumPy path (float32, one thread): the profile
behind the fast path (experiments/engines/fast), before (reference) and after (fast).

python -m experiments.bench.profile_cnn [reference|fast] [lenet|faces] [steps]: the top entries by own time.
The families give the runs (experiments/mnist/bench_fast.py, experiments/faces/bench_fast.py: profile_target).
"""

from __future__ import annotations

import cProfile
import pstats
import sys

from experiments.kinds import resolve
from experiments.threads import pin

TARGETS = {"lenet": "experiments.mnist.bench_fast:profile_target",
           "faces": "experiments.faces.bench_fast:profile_target"}


def main(argv: list[str]) -> None:
    path, which = (argv + ["reference", "lenet"])[:2]
    steps = int(argv[2]) if len(argv) > 2 else 200
    pin(1)
    fn = resolve(TARGETS[which])(path, steps)
    fn()  # warm-up (numba compiles or loads its cache)
    prof = cProfile.Profile()
    prof.enable()
    fn()
    prof.disable()
    pstats.Stats(prof).sort_stats("tottime").print_stats(18)


if __name__ == "__main__":
    main(sys.argv[1:])
