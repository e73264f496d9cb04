"""One place that pins NumPy's BLAS, OpenMP and torch to a number of threads.

Every run is pinned (runner.execute: one thread unless the user asks for more with --threads), and so is
every benchmark: parallelism comes from running several runs at once, and the thread count changes the
order of float32 GEMM reductions, so results depend on it. The row records the count in effect.
"""

from __future__ import annotations

import ctypes
import glob
import os
import sys

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def pin_environment(n: int = 1) -> None:
    """Set the BLAS/OpenMP variables (they act only before NumPy's first import; keeps a caller's choice)."""
    for var in THREAD_VARIABLES:
        os.environ.setdefault(var, str(n))


def set_blas_threads(n: int = 1) -> int | None:
    """Limit NumPy's OpenBLAS to n threads now, through its C API; the count in effect, or None where
    NumPy's BLAS is not the OpenBLAS shipped in numpy.libs (then only the environment variables act)."""
    import numpy as np

    for path in glob.glob(os.path.join(os.path.dirname(np.__file__) + ".libs", "libscipy_openblas*.so*")):
        try:
            lib = ctypes.CDLL(path)
            lib.scipy_openblas_set_num_threads64_(ctypes.c_int(n))
            return int(lib.scipy_openblas_get_num_threads64_())
        except (OSError, AttributeError):
            continue
    return None


def pin(n: int = 1) -> str:
    """Pin NumPy's BLAS and torch to n threads; a note of the counts in effect, for benchmark rows."""
    pin_environment(n)
    blas = set_blas_threads(n)
    note = f"NumPy OpenBLAS threads {blas if blas is not None else 'unknown'}"
    try:
        import torch

        torch.set_num_threads(n)
        note += f", torch threads {torch.get_num_threads()}"
    except ImportError:
        pass
    return note


def pin_run(n: int = 1) -> None:
    """Pin this process to n threads for one run, overriding the caller's environment: the variables
    (read by libraries loaded later, torch's OpenMP among them), every BLAS/OpenMP library loaded now
    (threadpoolctl), and torch if it is loaded."""
    for var in THREAD_VARIABLES:
        os.environ[var] = str(n)
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=n)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(n)
