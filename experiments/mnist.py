"""Temporary re-export: MNIST lives in :mod:`experiments.data.mnist`; this shim goes once every import uses that."""

from experiments.data.mnist import *  # noqa: F403
from experiments.data.mnist import __all__, default_cache_dir, fetch_and_verify, load_mnist  # noqa: F401
