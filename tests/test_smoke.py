"""End-to-end smoke runs of the command line in a copy of the project (so nothing is written into this
checkout): `report` must regenerate the committed summary tables and the README table byte for byte
from the committed result CSVs; the benchmark and the equivalence report in their --quick forms write
labelled rows into ./out of the copy, never into results/ (those two take 30 s or more each and are
marked slow; their fast siblings: test_bench_mlp_rows_in_process below, test_bench_cnn_quick_rows and
test_equivalence_quick_cnn_rows_all_pass in test_cnn_experiments.py)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parent.parent
LEFT_OUT = {".venv", ".git", "data", "out", "checkpoints", "logs", ".pytest_cache", ".hypothesis", "build"}


def snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def skip_in_copy(folder: str, names: list) -> set:
    """Top-level folders that are not the project's code or results (venv, data cache, outputs), and caches."""
    top = LEFT_OUT if Path(folder) == ROOT else set()
    return {n for n in names if n in top or n == "__pycache__" or n.endswith(".egg-info")}


@pytest.fixture(scope="module")
def project(tmp_path_factory, mnist_data):
    from experiments.data.mnist import default_cache_dir

    dst = tmp_path_factory.mktemp("project") / "copy"
    shutil.copytree(ROOT, dst, ignore=skip_in_copy)
    env = {**os.environ, "MNIST_DIR": str(default_cache_dir()), "PYTHONPATH": str(dst), "OPENBLAS_NUM_THREADS": "1",
           "OMP_NUM_THREADS": "1"}
    where = subprocess.run([sys.executable, "-c", "import experiments; print(experiments.__file__)"], cwd=dst, env=env,
                           capture_output=True, text=True, check=True).stdout.strip()
    assert Path(where).is_relative_to(dst), f"the copy imports the checkout's code: {where}"
    return dst, env


def cli(project, *args: str, timeout: int = 900) -> str:
    dst, env = project
    out = subprocess.run([sys.executable, "-m", "experiments", *args], cwd=dst, env=env, capture_output=True,
                         text=True, timeout=timeout)
    assert out.returncode == 0, (f"`python -m experiments {' '.join(args)}` failed:\n{out.stdout[-3000:]}\n"
                                 f"{out.stderr[-3000:]}")
    return out.stdout


def test_report_regenerates_the_committed_summary_and_readme_byte_for_byte(project):
    dst, _ = project
    (dst / "results" / "reproduction_summary.csv").unlink()  # rebuilt, not merely left alone
    (dst / "results" / "reproduction_summary.md").write_text("stale\n")
    doc = "docs/reproduction.md"
    readme = (dst / doc).read_text()
    start, end = "<!-- reproduction-table:start -->", "<!-- reproduction-table:end -->"
    head, rest = readme.split(start)
    (dst / doc).write_text(head + start + "\n| stale |\n" + end + rest.split(end)[1])
    before = snapshot(dst / "results")
    out = cli(project, "report")
    assert "seed-mlp" in out
    for f in ("reproduction_summary.csv", "reproduction_summary.md"):
        assert (dst / "results" / f).read_bytes() == (ROOT / "results" / f).read_bytes(), (
            f"{f} is out of date: run `python -m experiments report`")
    assert (dst / doc).read_bytes() == (ROOT / doc).read_bytes(), (
        f"the table in {doc} is out of date: run `python -m experiments report`")
    after = snapshot(dst / "results")
    changed = {f for f in before.keys() | after.keys() if before.get(f) != after.get(f)}
    # only the two stale files may differ from the copy's state before `report` (plots are redrawn)
    assert {f for f in changed if not f.endswith(".png")} <= {"reproduction_summary.csv",
                                                               "reproduction_summary.md"}, changed
    assert snapshot(dst / "results" / "runs") == snapshot(ROOT / "results" / "runs")
    for f in ("reproduction.csv", "comparison.csv", "cnn_mnist.csv", "equivalence.csv"):
        assert (dst / "results" / f).read_bytes() == (ROOT / "results" / f).read_bytes(), f


@pytest.mark.slow
def test_bench_quick_writes_labelled_rows_outside_results(project):
    dst, _ = project
    before = snapshot(dst / "results")
    cli(project, "bench", "--quick")
    bench = pd.read_csv(dst / "out" / "bench-quick.csv")
    timed, memory = bench[bench["unit"] != "MB"], bench[bench["unit"] == "MB"]
    assert bench["quick"].all() and len(timed) and (timed["median_s"] > 0).all()
    assert len(memory) and (memory["peak_mem_mb"] > 0).all()
    assert {"numpy-readable", "numpy-inplace", "numpy-compiled", "torch-eager"} <= set(bench["impl"])
    assert {"float64", "float32"} <= set(bench["dtype"])
    assert snapshot(dst / "results") == before


@pytest.mark.slow
def test_equivalence_quick_passes_every_row_outside_results(project):
    dst, _ = project
    before = snapshot(dst / "results")
    cli(project, "equivalence", "--quick")
    eq = pd.read_csv(dst / "out" / "equivalence.csv")
    assert len(eq) > 100 and eq["quick"].all()
    assert eq["passed"].astype(bool).all(), eq[~eq["passed"].astype(bool)].to_string()
    assert snapshot(dst / "results") == before


def test_bench_mlp_rows_in_process():
    from experiments.mnist import bench_mlp as mlp

    bench = pd.DataFrame(mlp.rows(repeats=1, steps=40, epoch=False))
    assert sorted(map(tuple, bench[["impl", "dtype"]].values)) == sorted(
        [(i, d) for i in ("numpy-readable", "numpy-inplace", "torch-eager") for d in ("float64", "float32")]
        + [("numpy-compiled", "float64")])
    assert (bench["median_s"] > 0).all() and (bench["threads"] == 1).all() and (bench["repeats"] == 1).all()
