"""The experiment runner and the training loop: determinism, resume after a kill, no lost rows, atomic
CSVs, identical starting points for the NumPy and PyTorch engines, and the command line.

Every run here is a quick spec (2,000 training / 1,000 test images, 2 epochs) of seed-mlp's
'hidden-sigmoid' variant, written into an Outputs folder under tmp_path (rows, curves, checkpoints,
final weights): the tests never write into the repository.

Why 'hidden-sigmoid' and not 'output-sigmoid': with tanh hidden units at eta 0.1 the batch-1 dynamics
amplify rounding differences exponentially. Over the quick run's 4,000 steps the readable reference
started from weights perturbed by 1e-15 ends 1e-7 away from itself, and the compiled NumPy path and
PyTorch both end ~6e-7 away from the readable path, so "NumPy and PyTorch within 1e-9" cannot hold
there for any correct pair of implementations. With sigmoid hidden units all three stay within ~6e-15.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import Stopped

from experiments import provenance, runner, train
from experiments.mnist import mlp
from experiments.outputs import Outputs
from experiments.runner import RunSpec

VARIANT = "hidden-sigmoid"
# timings and provenance (commit can read "-dirty" while someone edits the tree) are not metrics
TIMING_COLUMNS = {"train_seconds", "seconds_per_epoch", "date", "curve", "commit"}
ROOT = Path(__file__).resolve().parent.parent


def quick_spec(exp, impl="numpy", seed=0) -> RunSpec:
    (spec,) = runner.plan(exp, seeds=[seed], variants=[VARIANT], overrides={"impl": impl})
    return RunSpec(spec.experiment, spec.kind, spec.variant, spec.seed, mlp.quick(spec.config))


def final_weights(out: Outputs, spec) -> dict:
    path = out.checkpoints / "final" / f"{spec.run_id}.npz"
    assert path.exists(), f"final weights not in the output folder: {path}"
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def curve_csv(out: Outputs, spec) -> pd.DataFrame:
    return pd.read_csv(out.curves(spec.experiment) / f"{spec.variant}__{spec.run_id}.csv")


def metrics(row: dict) -> dict:
    return {k: v for k, v in row.items() if k not in TIMING_COLUMNS}


def leftovers(folder: Path) -> list:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.name.startswith(".") or p.suffix == ".tmp")


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory, seed_mlp):
    """One uninterrupted quick numpy run: (out, spec, row)."""
    out = Outputs(tmp_path_factory.mktemp("reference_run"))
    spec = quick_spec(seed_mlp)
    (row,) = runner.execute(spec, out)
    return out, spec, row


def test_quick_run_is_labelled_and_learns(reference_run):
    out, spec, row = reference_run
    assert spec.config["epochs"] == mlp.QUICK["epochs"] == 2
    assert row["quick"] is True and row["n_train"] == 2000 and row["n_test"] == 1000
    assert row["status"] == "ok" and row["epochs_done"] == 2 and row["engine"] == "numpy-compiled-batch1"
    assert row["run_id"] == spec.run_id and (row["experiment"], row["variant"], row["seed"]) == ("seed-mlp", VARIANT, 0)
    assert (row["epochs"], row["train_limit"], row["hidden"], row["layers"]) == (2, 2000, "sigmoid", "784-128-64-10")
    assert 0.5 < row["final_test_acc"] <= 1.0  # 2 epochs on 2,000 images: well above chance
    curve = curve_csv(out, spec)
    assert curve["epoch"].tolist() == [1, 2] and (curve["status"] == "ok").all()
    assert curve["test_acc"].iloc[-1] == row["final_test_acc"]
    assert (out.checkpoints / f"{spec.run_id}.npz").exists()
    assert leftovers(out.root) == []


# (a) determinism ------------------------------------------------------------------------------


def test_same_configuration_and_seed_give_identical_metrics(reference_run, tmp_path):
    ref_out, spec, row = reference_run
    out = Outputs(tmp_path)
    (again,) = runner.execute(spec, out)
    assert metrics(again) == metrics(row)
    pd.testing.assert_frame_equal(curve_csv(out, spec).drop(columns="seconds"),
                                  curve_csv(ref_out, spec).drop(columns="seconds"))
    W1, W2 = final_weights(ref_out, spec), final_weights(out, spec)
    assert W1.keys() == W2.keys() == {"W1", "W2", "W3"}
    for k in W1:
        np.testing.assert_array_equal(W1[k], W2[k])


def test_a_different_seed_gives_different_weights(reference_run):
    """The determinism test above can fail: the seed really changes the run."""
    cfg = reference_run[1].config
    a, b = mlp.initial_weights(cfg, 0), mlp.initial_weights(cfg, 1)
    assert not np.array_equal(a[1], b[1])
    assert not np.array_equal(mlp.order_for(0, 1, 100, True), mlp.order_for(1, 1, 100, True))
    assert not np.array_equal(mlp.order_for(0, 1, 100, True), mlp.order_for(0, 2, 100, True))
    np.testing.assert_array_equal(mlp.order_for(0, 1, 100, False), np.arange(100))


# (b) resume ------------------------------------------------------------------------------------


def test_a_killed_run_resumes_to_exactly_the_uninterrupted_result(reference_run, tmp_path, monkeypatch, stop_after):
    ref_out, spec, row = reference_run
    out = Outputs(tmp_path)
    stop_after(1)
    with pytest.raises(Stopped, match="stopped after epoch 1"):
        mlp.execute(spec, out)
    with np.load(out.checkpoints / f"{spec.run_id}.npz") as z:
        assert int(z["_epoch"]) == 1 and str(z["_run_id"]) == spec.run_id
    assert curve_csv(out, spec)["epoch"].tolist() == [1]
    assert not (out.checkpoints / "final").exists()

    epochs_trained = []
    real_order_for = mlp.order_for
    monkeypatch.setattr(mlp, "order_for", lambda seed, epoch, N, shuffle: epochs_trained.append(epoch)
                        or real_order_for(seed, epoch, N, shuffle))
    (resumed,) = runner.execute(spec, out)
    assert epochs_trained == [2], "the resumed run must continue at epoch 2, not start again"
    assert metrics(resumed) == metrics(row)
    pd.testing.assert_frame_equal(curve_csv(out, spec).drop(columns="seconds"),
                                  curve_csv(ref_out, spec).drop(columns="seconds"))
    W_ref, W_res = final_weights(ref_out, spec), final_weights(out, spec)
    for k in W_ref:
        np.testing.assert_array_equal(W_res[k], W_ref[k])
    assert leftovers(out.root) == []


def test_a_checkpoint_of_another_configuration_is_not_resumed(reference_run, tmp_path, monkeypatch, stop_after):
    """Another configuration is another run (its own run_id and file); even its checkpoint copied under
    this run's name is recognised as foreign and the run starts from scratch."""
    ref_out, spec, row = reference_run
    out = Outputs(tmp_path)
    other = RunSpec(spec.experiment, spec.kind, spec.variant, spec.seed, {**spec.config, "lr": 0.05})
    assert other.run_id != spec.run_id
    stop_after(1)
    with pytest.raises(Stopped):
        mlp.execute(other, out)
    shutil.copy(out.checkpoints / f"{other.run_id}.npz", out.checkpoints / f"{spec.run_id}.npz")
    epochs_trained = []
    real_order_for = mlp.order_for
    monkeypatch.setattr(mlp, "order_for", lambda seed, epoch, N, shuffle: epochs_trained.append(epoch)
                        or real_order_for(seed, epoch, N, shuffle))
    (resumed,) = runner.execute(spec, out)  # must start from scratch, not from lr 0.05's epoch 1
    assert epochs_trained == [1, 2]
    assert metrics(resumed) == metrics(row)


# (c) no lost rows ------------------------------------------------------------------------------


def fake_execute(calls: list, fail_on: str | None = None):
    def execute(spec, out, progress=False, provenance=None, threads=1):
        calls.append(spec.run_id)
        if spec.run_id == fail_on:
            raise KeyboardInterrupt("killed")
        return [{"experiment": spec.experiment, "variant": spec.variant, "seed": spec.seed,
                 "impl": spec.config["impl"], "epochs": spec.config["epochs"], "final_test_acc": 0.5 + spec.seed / 100,
                 "status": "ok", "train_seconds": 1.0, "run_id": spec.run_id, **(provenance or {})}]
    return execute


def quick_grid(exp) -> list:
    return [RunSpec(s.experiment, s.kind, s.variant, s.seed, mlp.quick(s.config))
            for s in runner.plan(exp, seeds=[0, 1], variants=[VARIANT, "base"])]


def test_finished_rows_are_kept_and_never_rerun(seed_mlp, tmp_path, monkeypatch):
    out = Outputs(tmp_path)
    path = out.table("reproduction")
    specs = quick_grid(seed_mlp)
    assert len(specs) == 4
    calls = []
    # a grid killed during its third run keeps the two rows that had finished
    monkeypatch.setattr(runner, "execute", fake_execute(calls, fail_on=specs[2].run_id))
    with pytest.raises(KeyboardInterrupt):
        runner.run_grid(specs, out, "reproduction", progress=False)
    assert calls == [s.run_id for s in specs[:3]]
    kept = pd.read_csv(path)
    assert sorted(kept["run_id"]) == sorted(s.run_id for s in specs[:2])

    # the next call runs only the two missing specs
    calls.clear()
    monkeypatch.setattr(runner, "execute", fake_execute(calls))
    rows, failures = runner.run_grid(specs, out, "reproduction", progress=False)
    assert calls == [s.run_id for s in specs[2:]] and len(rows) == 2 and failures == []
    full = pd.read_csv(path)
    assert sorted(full["run_id"]) == sorted(s.run_id for s in specs)

    # and a third call adds nothing, runs nothing, and leaves the file byte for byte as it was
    before = path.read_bytes()
    calls.clear()
    assert runner.run_grid(specs, out, "reproduction", progress=False) == ([], [])
    assert calls == [] and path.read_bytes() == before
    assert leftovers(tmp_path) == []


def test_a_failing_run_is_reported_and_the_others_go_on(seed_mlp, tmp_path, monkeypatch, capsys):
    out = Outputs(tmp_path)
    specs = quick_grid(seed_mlp)
    good = fake_execute([])

    def execute(spec, out, progress=False, provenance=None, threads=1):
        if spec is specs[1]:
            raise FloatingPointError("boom")
        return good(spec, out, progress, provenance)

    monkeypatch.setattr(runner, "execute", execute)
    rows, failures = runner.run_grid(specs, out, "reproduction", progress=False)
    assert len(rows) == 3 and len(failures) == 1
    assert failures[0].startswith(f"{specs[1].label} (run {specs[1].run_id}): FloatingPointError: boom")
    assert f"FAILED {specs[1].label}" in capsys.readouterr().out
    kept = sorted(pd.read_csv(out.table("reproduction"))["run_id"])
    assert kept == sorted(s.run_id for s in specs if s is not specs[1])


def test_run_grid_with_a_real_run_then_skips_it(reference_run, tmp_path, monkeypatch):
    _, spec, row = reference_run
    out = Outputs(tmp_path)
    rows, failures = runner.run_grid([spec], out, "reproduction", progress=False)
    assert failures == [] and len(rows) == 1 and metrics(rows[0]) == metrics(row)
    saved = pd.read_csv(out.table("reproduction"))
    assert len(saved) == 1 and saved["final_test_acc"].iloc[0] == row["final_test_acc"]
    assert saved["run_id"].iloc[0] == spec.run_id
    assert {"commit", "numpy_version", "torch_version", "python_version", "date", "command"} <= set(saved.columns)
    monkeypatch.setattr(runner, "execute", lambda *a, **k: pytest.fail("a finished run was run again"))
    assert runner.run_grid([spec], out, "reproduction", progress=False) == ([], [])
    pd.testing.assert_frame_equal(pd.read_csv(out.table("reproduction")), saved)


# (d) atomic writes -----------------------------------------------------------------------------


def test_append_rows_atomic_replaces_rows_by_key_and_leaves_no_temp_files(tmp_path):
    path = tmp_path / "t.csv"
    provenance.append_rows_atomic([{"k": 1, "v": "a"}, {"k": 2, "v": "b"}], path, ["k"])
    provenance.append_rows_atomic([{"k": 2, "v": "B"}, {"k": 3, "v": "c"}], path, ["k"])
    df = pd.read_csv(path)
    assert df.to_dict("records") == [{"k": 1, "v": "a"}, {"k": 2, "v": "B"}, {"k": 3, "v": "c"}]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["archive", "t.csv"]  # the replaced row is archived
    assert [p.name for p in (tmp_path / "archive").iterdir()] == ["t.csv"]


def test_two_processes_appending_at_once_keep_every_row(tmp_path):
    """Runner processes sharing an output folder lock the folder around each read-modify-write; without
    the lock rows are lost here within a few dozen appends."""
    path = tmp_path / "shared.csv"
    code = ("import sys; from experiments.provenance import append_rows_atomic\n"
            "for i in range(60): append_rows_atomic([{'writer': sys.argv[1], 'i': i, 'pad': 'x' * 2000}], sys.argv[2],"
            " ['writer', 'i'])")
    procs = [subprocess.Popen([sys.executable, "-c", code, w, str(path)], cwd=ROOT) for w in ("a", "b")]
    assert [p.wait(timeout=300) for p in procs] == [0, 0]
    df = pd.read_csv(path)
    assert len(df) == 120, f"{120 - len(df)} of 120 rows lost"
    assert sorted(map(tuple, df[["writer", "i"]].values.tolist())) == sorted((w, i) for w in "ab" for i in range(60))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shared.csv"]


def test_a_failure_while_writing_leaves_the_previous_csv_intact(tmp_path, monkeypatch):
    path = tmp_path / "t.csv"
    provenance.append_rows_atomic([{"k": 1, "v": "a"}], path, ["k"])
    before = path.read_bytes()
    real_to_csv = pd.DataFrame.to_csv

    def half_then_fail(self, target, *args, **kwargs):
        real_to_csv(self.iloc[:1], target, *args, **kwargs)  # part of the file reaches the disk
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_csv", half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        provenance.append_rows_atomic([{"k": 2, "v": "b"}, {"k": 3, "v": "c"}], path, ["k"])
    assert path.read_bytes() == before
    monkeypatch.undo()
    # the file is still readable and the next write succeeds
    provenance.append_rows_atomic([{"k": 2, "v": "b"}], path, ["k"])
    assert pd.read_csv(path)["k"].tolist() == [1, 2]


def test_write_csv_atomic_goes_through_a_rename(tmp_path, monkeypatch):
    """The final name only ever appears through os.replace of a finished temporary file."""
    path = tmp_path / "t.csv"
    seen = []
    real_replace = os.replace

    def spy(src, dst):
        seen.append((Path(src).name, Path(dst).name, Path(src).read_text()))
        return real_replace(src, dst)

    monkeypatch.setattr(provenance.os, "replace", spy)
    provenance.write_csv_atomic(pd.DataFrame({"a": [1, 2]}), path)
    assert len(seen) == 1 and seen[0][1] == "t.csv" and seen[0][0] != "t.csv" and seen[0][2] == "a\n1\n2\n"


def test_checkpoints_go_through_a_rename(tmp_path, monkeypatch):
    seen = []
    real_replace = os.replace
    monkeypatch.setattr(train.os, "replace", lambda src, dst: seen.append((Path(src).name, Path(dst).name))
                        or real_replace(src, dst))
    path = tmp_path / "ck" / "r.npz"
    train.save_checkpoint(path, {"W1": np.ones((2, 3))}, 4, [{"epoch": 1}], "r", 1.5)
    assert len(seen) == 1 and seen[0][1] == "r.npz" and seen[0][0] != "r.npz"
    ck = train.load_checkpoint(path, "r")
    assert ck["epoch"] == 4 and ck["curve"] == [{"epoch": 1}] and ck["seconds"] == 1.5
    np.testing.assert_array_equal(ck["snapshot"]["W1"], np.ones((2, 3)))
    assert train.load_checkpoint(path, "another-run") is None
    assert sorted(p.name for p in path.parent.iterdir()) == ["r.npz"]


# (e) the command line --------------------------------------------------------------------------


def test_cli_list():
    out = subprocess.run([sys.executable, "-m", "experiments", "list"], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert "seed-mlp" in out.stdout and "cnn-mnist" in out.stdout and "comparison" in out.stdout
    assert "variants: base, hidden-sigmoid, output-sigmoid," in out.stdout


def test_cli_run_both_engines_start_identically_and_end_together(reference_run, seed_mlp, tmp_path, monkeypatch,
                                                                 capsys):
    """`run seed-mlp --quick` with --impl numpy and --impl torch: the two engines get the same initial
    weights and sample order, so their final weights agree to 1e-9; the numpy run repeats the reference
    run exactly."""
    from experiments.cli import main

    ref_out, spec, row = reference_run
    starts = {}
    real_engine = mlp.engine

    def engine(cfg, W0, data):
        starts[cfg["impl"]] = ([None] + [w.copy() for w in W0[1:]], data.X_train.copy())
        return real_engine(cfg, W0, data)

    monkeypatch.setattr(mlp, "engine", engine)
    orders = []
    real_order_for = mlp.order_for
    monkeypatch.setattr(mlp, "order_for", lambda *a: orders.append(real_order_for(*a)) or orders[-1])

    args = ["run", "seed-mlp", "--quick", "--variants", VARIANT, "--seeds", "0", "--out", str(tmp_path)]
    for impl in ("numpy", "torch"):
        assert main([*args, "--impl", impl]) == 0
        assert "1 runs planned, 0 already in" in capsys.readouterr().out
    out = Outputs(tmp_path)
    csv = pd.read_csv(out.table("reproduction"))
    assert sorted(csv["impl"]) == ["numpy", "torch"] and (csv["status"] == "ok").all() and csv["quick"].all()
    assert sorted(csv["engine"]) == ["numpy-compiled-batch1", "torch-eager"]

    assert starts.keys() == {"numpy", "torch"}
    for l in (1, 2, 3):
        np.testing.assert_array_equal(starts["numpy"][0][l], starts["torch"][0][l])
    np.testing.assert_array_equal(starts["numpy"][1], starts["torch"][1])
    assert len(orders) == 4  # 2 epochs x 2 engines, epoch by epoch the same order
    np.testing.assert_array_equal(orders[0], orders[2])
    np.testing.assert_array_equal(orders[1], orders[3])
    assert not np.array_equal(orders[0], orders[1])  # reshuffled every epoch

    numpy_spec, torch_spec = quick_spec(seed_mlp, "numpy"), quick_spec(seed_mlp, "torch")
    assert numpy_spec.run_id == spec.run_id != torch_spec.run_id
    Wn, Wt, W_ref = final_weights(out, numpy_spec), final_weights(out, torch_spec), final_weights(ref_out, spec)
    for k in Wn:
        np.testing.assert_array_equal(Wn[k], W_ref[k])
        assert np.abs(Wn[k] - starts["numpy"][0][int(k[1:])]).max() > 1e-3  # training changed the weights
        diff = np.abs(Wn[k] - Wt[k]).max()
        assert diff < 1e-9, f"{k}: max |W_numpy - W_torch| = {diff:.3e}"
    accs = dict(zip(csv["impl"], csv["final_test_acc"]))
    assert accs["numpy"] == accs["torch"] == row["final_test_acc"]
    assert leftovers(tmp_path) == []


# loss scaling -----------------------------------------------------------------------------------


@pytest.mark.parametrize("c", [0.5, 0.1])
def test_loss_scale_trains_exactly_on_the_scaled_error(small_mlp_run, c):
    """An epoch with loss_scale c makes the updates of plain SGD at rate eta on c E_in, computed
    here independently by autograd on the scaled loss, and reports c E_in as its training loss."""
    import torch

    from framework.mlp import MLP, loss

    cfg, data, W0, order = small_mlp_run(40, [784, 12, 10], seed=5, loss_scale=c)
    arch = mlp.architecture(cfg)
    model = MLP(arch, W0)
    X, Y = torch.from_numpy(data.X_train), torch.from_numpy(data.Y_train)
    losses = []
    for n in order:
        s_L, x_L = model.last_signal(X[n:n + 1])
        E = c * loss(arch, s_L, x_L, Y[n:n + 1])
        model.zero_grad(set_to_none=True)
        E.backward()
        with torch.no_grad():
            for p in model.parameters():
                p -= cfg["lr"] * p.grad
        losses.append(float(E.detach()))
    for impl in ("numpy", "torch"):
        engine = mlp.engine({**cfg, "impl": impl}, W0, data)
        reported = engine.epoch(order, 1)
        assert reported == pytest.approx(np.mean(losses), rel=1e-12), impl
        for l in (1, 2):
            np.testing.assert_allclose(engine.snapshot()[f"W{l}"], model.weights()[l], rtol=0, atol=1e-13,
                                       err_msg=impl)
    assert mlp.rate(cfg) == pytest.approx(c * cfg["lr"])


def test_run_grid_on_two_dask_workers_gives_the_rows_of_one_process(reference_run, seed_mlp, tmp_path):
    """The grid on a local Dask cluster (separate worker processes, as `reproduce` runs by default): the
    same rows as in one process, every row appended by the client, and no run trained twice."""
    _, spec, row = reference_run
    specs = [spec, quick_spec(seed_mlp, seed=1)]
    out = Outputs(tmp_path)
    rows, failures = runner.run_grid(specs, out, "reproduction", workers=2, progress=False)
    assert failures == [] and sorted(r["run_id"] for r in rows) == sorted(s.run_id for s in specs)
    by_id = {r["run_id"]: r for r in rows}
    assert metrics(by_id[spec.run_id]) == metrics(row)
    assert by_id[specs[1].run_id]["final_test_acc"] != row["final_test_acc"]
    saved = pd.read_csv(out.table("reproduction"))
    assert sorted(saved["run_id"]) == sorted(s.run_id for s in specs)
    assert runner.run_grid(specs, out, "reproduction", workers=2, progress=False) == ([], [])
    assert leftovers(tmp_path) == []


def test_a_diverged_run_stops_and_stays_stopped_on_resume(tmp_path, toy_engine):
    kw = dict(run_id="toy", label="toy", epochs=5, batch_size=2, n_train=4, order_for=lambda e: np.arange(4),
              checkpoint=tmp_path / "toy.npz", curve_path=tmp_path / "toy.csv")
    engine = toy_engine(bad=2, accuracy=0.25)
    result = train.train(engine, **kw)
    assert engine.trained == [1, 2]  # no epoch after the non-finite loss
    assert result["status"] == "diverged" and result["epochs_done"] == 2 and np.isnan(result["final_test_acc"])
    assert result["best_test_acc"] == 0.25 and result["engine"] == "toy"
    assert pd.read_csv(tmp_path / "toy.csv")["status"].tolist() == ["ok", "diverged"]
    again = toy_engine(bad=99, accuracy=0.25)
    assert train.train(again, **kw)["status"] == "diverged" and again.trained == []  # resumed: nothing to do


@pytest.mark.parametrize("threads", [None, 2])
def test_a_serial_run_is_pinned_to_its_threads_whatever_the_environment_says(seed_mlp, tmp_path, threads):
    """`run` pins BLAS, OpenMP and torch to one thread (or --threads N) before any work, even when the
    caller's environment asks for more, and the row records the count in effect and the numerics."""
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "3", "OMP_NUM_THREADS": "3", "MKL_NUM_THREADS": "3"}
    cmd = [sys.executable, "-m", "experiments", "run", "comparison", "--quick", "--variants", "torch", "--epochs", "1",
           "--out", str(tmp_path)] + ([] if threads is None else ["--threads", str(threads)])
    done = subprocess.run(cmd, cwd=Path(__file__).resolve().parent.parent, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    row = pd.read_csv(tmp_path / "reproduction.csv").iloc[0]
    n = threads or 1
    assert (row["threads"], row["blas_threads"], row["torch_threads"]) == (n, n, n)
    assert row["cpu"] and row["blas"].split()[0] in {"openblas", "mkl", "blis"} and row["blas_kernel"]
    from experiments.engines.fast import direct

    assert row["fast_conv"] == ("direct" if direct.AVAILABLE else "im2col")
