"""Moved to experiments/equivalence/check.py; these names stay importable until tests/test_cnn.py switches."""

from experiments.equivalence.check import central_difference, compare, tolerances  # noqa: F401
