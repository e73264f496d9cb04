"""The experiment runner: determinism, resume after a kill, no lost rows, atomic CSVs, identical
starting points for the NumPy and PyTorch engines, and the command line.

Every run here is a quick spec (2,000 training / 1,000 test images, 2 epochs) of seed-mlp's
'hidden-sigmoid' variant, and every output location (results, quick results, checkpoints, final
weights) is redirected into tmp_path: the tests never write into the repository.

Why 'hidden-sigmoid' and not 'output-sigmoid': with tanh hidden units at eta 0.1 the batch-1 dynamics
amplify rounding differences exponentially. Over the quick run's 4,000 steps the readable reference
started from weights perturbed by 1e-15 ends 1e-7 away from itself, and the compiled NumPy path and
PyTorch both end ~6e-7 away from the readable path, so "NumPy and PyTorch within 1e-9" cannot hold
there for any correct pair of implementations. With sigmoid hidden units all three stay within ~6e-15.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from experiments import mlp_run, provenance, runner

VARIANT = "hidden-sigmoid"
# timings and provenance (commit can read "-dirty" while someone edits the tree) are not metrics
TIMING_COLUMNS = {"train_seconds", "seconds_per_epoch", "date", "curve", "commit"}
ROOT = Path(__file__).resolve().parent.parent


def redirect(mp: pytest.MonkeyPatch, folder: Path) -> Path:
    """Point every output location of the runner into `folder`."""
    mp.setattr(runner, "RESULTS", folder / "results")
    mp.setattr(runner, "QUICK_RESULTS", folder / "results" / "quick")
    mp.setattr(mlp_run, "CHECKPOINT_DIR", folder / "checkpoints")
    return folder


def quick_spec(exp, impl="numpy"):
    (spec,) = runner.plan(exp, [impl], seeds=[0], variants=[VARIANT], quick=True)
    return spec


def final_weights(folder: Path, spec) -> dict:
    path = folder / "checkpoints" / "final" / f"{spec.run_id.replace('/', '__')}.npz"
    assert path.exists(), f"final weights not under the redirected CHECKPOINT_DIR: {path}"
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def curve_csv(folder: Path, spec) -> pd.DataFrame:
    return pd.read_csv(folder / "results" / "quick" / "runs" / spec.experiment / f"{spec.variant}__{spec.impl}__seed{spec.seed}.csv")


def metrics(row: dict) -> dict:
    return {k: v for k, v in row.items() if k not in TIMING_COLUMNS}


def leftovers(folder: Path) -> list:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.name.startswith(".") or p.suffix == ".tmp")


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory, seed_mlp):
    """One uninterrupted quick numpy run: (folder, spec, row)."""
    folder = tmp_path_factory.mktemp("reference_run")
    spec = quick_spec(seed_mlp)
    with pytest.MonkeyPatch.context() as mp:
        redirect(mp, folder)
        row = runner.execute(spec, False)
    return folder, spec, row


def test_quick_run_is_labelled_and_learns(reference_run):
    folder, spec, row = reference_run
    assert spec.quick and spec.cfg["epochs"] == runner.QUICK_EPOCHS == 2
    assert row["quick"] is True and row["n_train"] == runner.QUICK_N_TRAIN and row["n_test"] == runner.QUICK_N_TEST
    assert row["status"] == "ok" and row["epochs_done"] == 2 and row["engine"] == "numpy-compiled-batch1"
    assert 0.5 < row["final_test_acc"] <= 1.0  # 2 epochs on 2,000 images: well above chance
    curve = curve_csv(folder, spec)
    assert curve["epoch"].tolist() == [1, 2] and (curve["status"] == "ok").all()
    assert curve["test_acc"].iloc[-1] == row["final_test_acc"]
    assert (folder / "checkpoints" / f"{spec.run_id.replace('/', '__')}.npz").exists()
    assert leftovers(folder) == []


# (a) -----------------------------------------------------------------------------------------


def test_same_configuration_and_seed_give_identical_metrics(reference_run, tmp_path, monkeypatch):
    folder, spec, row = reference_run
    redirect(monkeypatch, tmp_path)
    again = runner.execute(spec, False)
    assert metrics(again) == metrics(row)
    pd.testing.assert_frame_equal(curve_csv(tmp_path, spec).drop(columns="seconds"), curve_csv(folder, spec).drop(columns="seconds"))
    W1, W2 = final_weights(folder, spec), final_weights(tmp_path, spec)
    assert W1.keys() == W2.keys() == {"W1", "W2", "W3"}
    for k in W1:
        np.testing.assert_array_equal(W1[k], W2[k])


def test_a_different_seed_gives_different_weights(reference_run, seed_mlp):
    """The determinism test above can fail: the seed really changes the run."""
    a = mlp_run.initial_weights(reference_run[1].cfg, 0)
    b = mlp_run.initial_weights(reference_run[1].cfg, 1)
    assert not np.array_equal(a[1], b[1])
    assert not np.array_equal(mlp_run.order_for(0, 1, 100, True), mlp_run.order_for(1, 1, 100, True))
    assert not np.array_equal(mlp_run.order_for(0, 1, 100, True), mlp_run.order_for(0, 2, 100, True))


# (b) -----------------------------------------------------------------------------------------


def test_a_killed_run_resumes_to_exactly_the_uninterrupted_result(reference_run, tmp_path, monkeypatch):
    folder, spec, row = reference_run
    redirect(monkeypatch, tmp_path)
    assert runner.execute(spec, False, stop_after_epoch=1) == {"stopped_at": 1}
    ckpt = tmp_path / "checkpoints" / f"{spec.run_id.replace('/', '__')}.npz"
    with np.load(ckpt) as z:
        assert int(z["epoch"]) == 1
    assert curve_csv(tmp_path, spec)["epoch"].tolist() == [1]
    assert not (tmp_path / "checkpoints" / "final").exists()

    epochs_trained = []
    real_order_for = mlp_run.order_for
    monkeypatch.setattr(mlp_run, "order_for", lambda seed, epoch, N, shuffle: epochs_trained.append(epoch) or real_order_for(seed, epoch, N, shuffle))
    resumed = runner.execute(spec, False)
    assert epochs_trained == [2], "the resumed run must continue at epoch 2, not start again"
    assert metrics(resumed) == metrics(row)
    pd.testing.assert_frame_equal(curve_csv(tmp_path, spec).drop(columns="seconds"), curve_csv(folder, spec).drop(columns="seconds"))
    W_ref, W_res = final_weights(folder, spec), final_weights(tmp_path, spec)
    for k in W_ref:
        np.testing.assert_array_equal(W_res[k], W_ref[k])
    assert leftovers(tmp_path) == []


def test_a_checkpoint_of_another_configuration_is_not_resumed(reference_run, tmp_path, monkeypatch):
    folder, spec, row = reference_run
    redirect(monkeypatch, tmp_path)
    other = runner.RunSpec(spec.experiment, spec.variant, spec.seed, spec.impl, {**spec.cfg, "lr": 0.05}, True)
    assert other.run_id == spec.run_id  # same checkpoint file name
    assert runner.execute(other, False, stop_after_epoch=1) == {"stopped_at": 1}
    resumed = runner.execute(spec, False)  # must start from scratch, not from lr 0.05's epoch 1
    assert metrics(resumed) == metrics(row)


# (c) -----------------------------------------------------------------------------------------


def fake_execute(calls: list, fail_on: str | None = None):
    def execute(spec, progress, stop_after_epoch=None, provenance=None):
        calls.append(spec.run_id)
        if spec.run_id == fail_on:
            raise KeyboardInterrupt("killed")
        return {"experiment": spec.experiment, "variant": spec.variant, "seed": spec.seed, "impl": spec.impl,
                "epochs": spec.cfg["epochs"], "final_test_acc": 0.5 + spec.seed / 100, "status": "ok",
                "train_seconds": 1.0, **(provenance or {})}
    return execute


def test_finished_rows_are_kept_and_never_rerun(seed_mlp, tmp_path, monkeypatch):
    redirect(monkeypatch, tmp_path)
    out = tmp_path / "grid.csv"
    specs = runner.plan(seed_mlp, ["numpy", "torch"], seeds=[0, 1], variants=[VARIANT], quick=True)
    calls = []
    # a grid killed during its third run keeps the two rows that had finished
    monkeypatch.setattr(runner, "execute", fake_execute(calls, fail_on=specs[2].run_id))
    with pytest.raises(KeyboardInterrupt):
        runner.run_grid(specs, progress=False, out_csv=out)
    assert calls == [s.run_id for s in specs[:3]]
    kept = pd.read_csv(out)
    assert len(kept) == 2 and set(map(tuple, kept[runner.KEY].astype(str).values)) == {runner.spec_key(s) for s in specs[:2]}

    # the next call runs only the two missing specs
    calls.clear()
    monkeypatch.setattr(runner, "execute", fake_execute(calls))
    new = runner.run_grid(specs, progress=False, out_csv=out)
    assert calls == [s.run_id for s in specs[2:]] and len(new) == 2
    full = pd.read_csv(out)
    assert len(full) == 4 and sorted(map(tuple, full[runner.KEY].astype(str).values)) == sorted(runner.spec_key(s) for s in specs)

    # and a third call adds nothing, runs nothing, and leaves the file byte for byte as it was
    before = out.read_bytes()
    calls.clear()
    assert runner.run_grid(specs, progress=False, out_csv=out).empty
    assert calls == [] and out.read_bytes() == before
    assert leftovers(tmp_path) == []


def test_run_grid_with_a_real_run_then_skips_it(reference_run, seed_mlp, tmp_path, monkeypatch):
    folder, spec, row = reference_run
    redirect(monkeypatch, tmp_path)
    out = tmp_path / "quick.csv"
    first = runner.run_grid([spec], progress=False, out_csv=out)
    assert len(first) == 1 and metrics(first.iloc[0].to_dict()) == metrics(row)
    saved = pd.read_csv(out)
    assert len(saved) == 1 and saved["final_test_acc"].iloc[0] == row["final_test_acc"]
    assert {"commit", "numpy_version", "torch_version", "date", "command"} <= set(saved.columns)
    monkeypatch.setattr(runner, "execute", lambda *a, **k: pytest.fail("a finished run was run again"))
    assert runner.run_grid([spec], progress=False, out_csv=out).empty
    pd.testing.assert_frame_equal(pd.read_csv(out), saved)


# (d) -----------------------------------------------------------------------------------------


def test_append_rows_atomic_replaces_rows_by_key_and_leaves_no_temp_files(tmp_path):
    path = tmp_path / "t.csv"
    provenance.append_rows_atomic([{"k": 1, "v": "a"}, {"k": 2, "v": "b"}], path, ["k"])
    provenance.append_rows_atomic([{"k": 2, "v": "B"}, {"k": 3, "v": "c"}], path, ["k"])
    df = pd.read_csv(path)
    assert df.to_dict("records") == [{"k": 1, "v": "a"}, {"k": 2, "v": "B"}, {"k": 3, "v": "c"}]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv"]


def test_two_processes_appending_at_once_keep_every_row(tmp_path):
    """Runner processes sharing results/ (e.g. a grid and a comparison run) lock the folder around
    each read-modify-write; without the lock rows are lost here within a few dozen appends."""
    path = tmp_path / "shared.csv"
    code = ("import sys; from experiments.provenance import append_rows_atomic\n"
            "for i in range(60): append_rows_atomic([{'writer': sys.argv[1], 'i': i, 'pad': 'x' * 2000}], sys.argv[2], ['writer', 'i'])")
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


# (e) and the command line ----------------------------------------------------------------------


def test_cli_list():
    out = subprocess.run([sys.executable, "-m", "experiments", "list"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "seed-mlp" in out.stdout


def test_cli_run_both_engines_start_identically_and_end_together(reference_run, seed_mlp, tmp_path, monkeypatch, capsys):
    """`run seed-mlp --quick --impl both`: the NumPy and PyTorch engines get the same initial weights and
    sample order, so their final weights agree to 1e-9; the numpy run repeats the reference run exactly."""
    from experiments.__main__ import main

    folder, spec, row = reference_run
    redirect(monkeypatch, tmp_path)
    starts = {}
    for impl, engine in list(mlp_run.ENGINES.items()):
        def init(self, cfg, W, data, _engine=engine, _impl=impl):
            starts[_impl] = ([None] + [w.copy() for w in W[1:]], data.X_train.copy())
            _engine.__init__(self, cfg, W, data)
        monkeypatch.setitem(mlp_run.ENGINES, impl, type(f"Spy{engine.__name__}", (engine,), {"__init__": init}))
    orders = []
    real_order_for = mlp_run.order_for
    monkeypatch.setattr(mlp_run, "order_for", lambda *a: orders.append(real_order_for(*a)) or orders[-1])

    rc = main(["run", "seed-mlp", "--quick", "--variants", VARIANT, "--seeds", "0", "--impl", "both"])
    assert rc == 0
    assert "2 runs planned" in capsys.readouterr().out
    csv = pd.read_csv(runner.QUICK_RESULTS / "reproduction.csv")
    assert sorted(csv["impl"]) == ["numpy", "torch"] and (csv["status"] == "ok").all() and csv["quick"].all()

    assert starts.keys() == {"numpy", "torch"}
    for l in (1, 2, 3):
        np.testing.assert_array_equal(starts["numpy"][0][l], starts["torch"][0][l])
    np.testing.assert_array_equal(starts["numpy"][1], starts["torch"][1])
    assert len(orders) == 4  # 2 epochs x 2 engines, epoch by epoch the same order
    np.testing.assert_array_equal(orders[0], orders[2])
    np.testing.assert_array_equal(orders[1], orders[3])
    assert not np.array_equal(orders[0], orders[1])  # reshuffled every epoch

    Wn = final_weights(tmp_path, quick_spec(seed_mlp, "numpy"))
    Wt = final_weights(tmp_path, quick_spec(seed_mlp, "torch"))
    W_ref = final_weights(folder, spec)
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
    arch = mlp_run.architecture(cfg)
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
        engine = mlp_run.ENGINES[impl](cfg, W0, data)
        reported = engine.epoch(order)
        assert reported == pytest.approx(np.mean(losses), rel=1e-12), impl
        for l in (1, 2):
            np.testing.assert_allclose(engine.weights()[l], model.weights()[l], rtol=0, atol=1e-13, err_msg=impl)
    assert mlp_run.rate(cfg) == pytest.approx(c * cfg["lr"])
