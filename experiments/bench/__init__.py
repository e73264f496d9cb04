"""python -m experiments bench: speed benchmarks -> results/bench.csv, one thread each, side by side.

Rows come from experiments.mnist.bench_mlp (the study's MLP per SGD step and per epoch),
experiments.mnist.bench_cnn (convolution layers, LeNet epochs, peak memory), experiments.bench.layers (batch
normalisation, dropout, an Adam step), experiments.bench.fast_cnn (the fast CNN path's layers against torch
eager, with GFLOP/s and the share of the GEMM peak), the families' bench_fast modules (LeNet and face-CNN
epochs on the fast path) and experiments.faces.bench (the face CNN); every path is timed in
the same process with one timer (median over repeats) after pinning every library to one thread. Every row
records the numerics (provenance.numerics: CPU, NumPy's BLAS and the kernel OpenBLAS runs, threads): a
forced OPENBLAS_CORETYPE (some machines set Haswell for old OpenBLAS builds) halves NumPy's GEMM rate on an
AVX-512 CPU, where torch's oneDNN keeps its own, so the run says which kernel it measured (`forced_kernel`).
"""

from __future__ import annotations

import os

import pandas as pd

from experiments.bench.timer import SEED
from experiments.provenance import ROOT, archive_rows, command_line, folder_lock, numerics, stamp, write_csv_atomic
from experiments.tables import read_table

OUT = ROOT / "results" / "bench.csv"


def run_bench(quick: bool = False, repeats: int = 7) -> pd.DataFrame:
    from experiments.bench import fast_cnn, layers
    from experiments.kinds import registry
    from experiments.threads import pin

    pin(1)
    repeats = 2 if quick else repeats
    rows = layers.rows(quick=quick, repeats=repeats)
    rows += fast_cnn.rows(quick=quick, repeats=repeats)
    for kind in registry().values():
        rows += kind.bench_rows(quick, repeats)
    forced = os.environ.get("OPENBLAS_CORETYPE", "")
    prov = {"command": command_line(), "seed": SEED, **stamp(), "quick": quick, **numerics(),
            "forced_kernel": forced}
    if forced:
        print(f"bench: OPENBLAS_CORETYPE={forced} is set, so NumPy's OpenBLAS runs its {prov['blas_kernel']} "
              "kernel whatever the CPU supports (the rows record it); unset it for the CPU's own kernel")
    rows = [{**r, **prov} for r in rows]
    out = OUT if not quick else ROOT / "out" / "bench-quick.csv"
    # every run measures every benchmark, so the table is replaced whole (no stale rows of renamed ones); the rows
    # it replaces move to the table's archive, labelled, so no earlier measurement is lost
    df = pd.DataFrame(rows)
    with folder_lock(out.parent):
        if out.exists() and out.stat().st_size > 0:
            archive_rows(read_table(out, low_memory=False), out, f"superseded by the bench run at {prov['commit']}")
        write_csv_atomic(df, out)
    print(df[["benchmark", "impl", "dtype", "threads", "median_s", "repeats"]].to_string(index=False))
    print(f"-> {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
    return df
