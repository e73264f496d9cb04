"""Moved to experiments/equivalence/ (cnn.py, check.py, trajectories.py); these names stay importable until
tests/test_cnn.py switches."""

from experiments.equivalence.check import CD_ATOL, CD_RTOL  # noqa: F401
from experiments.equivalence.cnn import (  # noqa: F401
    cnn_central,
    cnn_ours,
    cnn_torch,
    mnist_batch,
    randomised,
    rows,
    small_cnn,
    with_head,
)
from experiments.equivalence.trajectories import CNN_ATOL as TRAJ_ATOL  # noqa: F401
from experiments.equivalence.trajectories import cnn_trajectory as trajectory  # noqa: F401
