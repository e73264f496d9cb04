"""Issue 8's reliability points, each as a test that failed on the code before the redesign.

1. An ad-hoc run (--epochs, --quick, other seeds, another implementation, --out) never writes into
   results/; a run's identity (run_id) is a hash of its whole resolved configuration; the report of an
   output folder never pools runs of different epochs.
2. Tables merge by run_id and never shrink; a rerun of a run_id replaces only its own rows; cnn-mnist
   through the shared runner, killed and resumed, ends exactly as an uninterrupted run.
3. A changed setting in a TOML is a new run, which the runner trains.
4. Two TOMLs with one name are both rejected; a broken TOML breaks neither `list` nor `run` of another.
6. `reproduce --quick --out DIR` trains into DIR, builds its report there, compares with the committed
   numbers per configuration, and trains nothing when run again.
(5, user errors, is tests/test_cli.py.)

Runs that really train use a small slice of the real MNIST (experiments.data.load patched), so each
takes about a second; the routing, tables, curves and checkpoints are the real ones.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import Stopped

import experiments.data
from experiments import cli, config, outputs, provenance, runner
from experiments.config import ConfigError
from experiments.mnist import cnn, mlp
from experiments.outputs import Outputs
from experiments.runner import RunSpec

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "results"
# timings and provenance are not metrics
NOT_METRICS = {"train_seconds", "seconds_per_epoch", "date", "curve", "commit", "command"}


def snapshot(folder: Path) -> dict:
    """Every file under `folder` with the SHA-256 of its bytes."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def git_status(path: Path) -> str:
    return subprocess.run(["git", "status", "--porcelain", "--", str(path)], cwd=ROOT, capture_output=True,
                          text=True, check=True).stdout


@pytest.fixture
def results_untouched():
    """Fails the test if anything under results/ changed while it ran."""
    before, status = snapshot(RESULTS), git_status(RESULTS)
    yield
    assert snapshot(RESULTS) == before, "a file under results/ changed"
    assert git_status(RESULTS) == status


@pytest.fixture
def small_mnist(monkeypatch, mnist):
    """experiments.data.load('mnist') returns the first 2,000 training and 500 test images of the real MNIST."""
    small = experiments.data.Dataset("mnist", np.concatenate([mnist.train_x[:2000], mnist.test_x[:500]]),
                                     np.concatenate([mnist.train_y[:2000], mnist.test_y[:500]]), classes=10,
                                     split=2000)
    real = experiments.data.load
    monkeypatch.setattr(experiments.data, "load", lambda name, **kw: small if name == "mnist" else real(name, **kw))
    return small


@pytest.fixture
def default_out(monkeypatch, tmp_path):
    """The default output folder (./out) moved into tmp_path."""
    folder = tmp_path / "default-out"
    monkeypatch.setattr(outputs, "DEFAULT_OUT", folder)
    return folder


def use_config_dir(monkeypatch, folder: Path) -> None:
    """Point every config lookup (and so the CLI) at `folder` instead of experiments/configs/."""
    monkeypatch.setattr(config, "CONFIG_DIR", folder)
    for fn in (config.scan, config.get_experiment, config.all_experiments):
        monkeypatch.setattr(fn, "__defaults__", (folder,))


def configs(tmp_path: Path, *names: str) -> Path:
    folder = tmp_path / "configs"
    folder.mkdir()
    for name in names:
        shutil.copy(config.CONFIG_DIR / f"{name}.toml", folder)
    return folder


def run(args: list, capsys) -> tuple[int, str, str]:
    rc = cli.main(args)
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


# 1 -----------------------------------------------------------------------------------------------


def test_the_issues_ad_hoc_run_leaves_results_untouched(results_untouched, small_mnist, default_out, seed_mlp, capsys):
    """`run seed-mlp --variants output-sigmoid --seeds 0 --epochs 3` once overwrote the committed 100-epoch
    curve and row; now it trains into the default output folder under its own run_id."""
    rc, out, _ = run(["run", "seed-mlp", "--variants", "output-sigmoid", "--seeds", "0", "--epochs", "3"], capsys)
    assert rc == 0 and "(not the committed results)" in out and "1 runs planned, 0 already in" in out
    table = pd.read_csv(Outputs(default_out).table("reproduction"))
    (spec,) = runner.plan(seed_mlp, seeds=[0], variants=["output-sigmoid"], overrides={"epochs": 3})
    assert table["run_id"].tolist() == [spec.run_id] and table["epochs"].tolist() == [3]
    assert table["epochs_done"].tolist() == [3] and table["status"].tolist() == ["ok"]
    committed = pd.read_csv(RESULTS / "reproduction.csv")
    assert spec.run_id not in set(committed["run_id"])
    assert (default_out / "runs" / "seed-mlp" / f"output-sigmoid__{spec.run_id}.csv").exists()
    assert (default_out / "checkpoints" / "final" / f"{spec.run_id}.npz").exists()
    # the report of the output folder is built there, from its own rows only
    summary = pd.read_csv(default_out / "reproduction_summary.csv")
    assert summary.loc[summary["configuration"] == "output-sigmoid", "seeds"].tolist() == [1]


@pytest.mark.parametrize("args,official", [
    (["--epochs", "3"], False),
    (["--quick"], False),
    (["--seeds", "11"], False),                   # a seed the variant does not declare
    (["--impl", "torch"], False),                 # seed-mlp declares NumPy runs
    (["--seeds", "0", "--out", "{tmp}/mine"], False),  # --out always means an output folder
    (["--seeds", "0"], True),                     # a subset of the declared grid: the committed results
    (["--epochs", "100", "--impl", "numpy"], True),  # overrides equal to the declared values
])
def test_only_the_declared_configuration_writes_into_results(args, official, default_out, tmp_path):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    exp, specs, out = cli.plan_for(cli.parser().parse_args(["run", "seed-mlp", "--variants", "output-sigmoid", *args]))
    assert out.official is official
    if official:
        assert out.root == RESULTS
        assert all(exp.declares(s.variant, s.config, s.seed) for s in specs)
    else:
        assert out.root == (tmp_path / "mine" if "--out" in args else default_out)
        assert not out.root.is_relative_to(RESULTS)


def test_a_runs_identity_is_its_whole_configuration(seed_mlp):
    (base,) = runner.plan(seed_mlp, seeds=[0], variants=["output-sigmoid"])
    (three,) = runner.plan(seed_mlp, seeds=[0], variants=["output-sigmoid"], overrides={"epochs": 3})
    (seed1,) = runner.plan(seed_mlp, seeds=[1], variants=["output-sigmoid"])
    (torch,) = runner.plan(seed_mlp, seeds=[0], variants=["output-sigmoid"], overrides={"impl": "torch"})
    ids = {base.run_id, three.run_id, seed1.run_id, torch.run_id,
           RunSpec(base.experiment, base.kind, base.variant, 0, mlp.quick(base.config)).run_id,
           RunSpec(base.experiment, base.kind, base.variant, 0, {**base.config, "lr": 0.05}).run_id,
           RunSpec(base.experiment, base.kind, base.variant, 0, {**base.config, "dataset": "other"}).run_id}
    assert len(ids) == 7
    # the name of the experiment or variant is not part of it: the same run is shared, not repeated
    assert RunSpec("comparison", "mlp", "base", 0, dict(base.config)).run_id == base.run_id


def test_every_committed_row_is_a_declared_run_with_its_run_id():
    """The committed tables hold only declared runs (no ad-hoc row), each under the run_id of its
    configuration and with its curve named by it; the study's grid is complete, so `run seed-mlp` and
    `run comparison` find everything already done."""
    exps = config.all_experiments()
    committed = pd.read_csv(RESULTS / "reproduction.csv")
    planned = {s.run_id: s for name in ("seed-mlp", "comparison") for s in runner.plan(exps[name])}
    assert set(committed["run_id"]) == set(planned) and committed["run_id"].is_unique
    for _, row in committed.iterrows():
        spec = planned[row["run_id"]]
        assert row["seed"] == spec.seed
        for k, v in spec.config.items():  # every setting of the row is the declared one
            assert str(row[k]) == ("-".join(map(str, v)) if isinstance(v, list) else str(v)), (row["run_id"], k)
        assert row["curve"] == f"results/runs/{row['experiment']}/{row['variant']}__{row['run_id']}.csv"
        assert (ROOT / row["curve"]).exists()
    cnn_rows = pd.read_csv(RESULTS / "cnn_mnist.csv")
    assert set(cnn_rows["run_id"]) <= {s.run_id for s in runner.plan(exps["cnn-mnist"])}
    assert len(cnn_rows) >= 6  # the six committed rows, never fewer


def test_the_report_of_an_output_folder_never_pools_different_epochs(results_untouched, small_mnist, tmp_path, capsys):
    args = ["run", "seed-mlp", "--variants", "output-sigmoid", "--seeds", "0", "--out", str(tmp_path)]
    assert run([*args, "--epochs", "1"], capsys)[0] == 0
    assert run([*args, "--epochs", "2"], capsys)[0] == 0
    table = pd.read_csv(Outputs(tmp_path).table("reproduction"))
    assert sorted(table["epochs"]) == [1, 2] and table["run_id"].nunique() == 2
    assert len(list((tmp_path / "runs" / "seed-mlp").glob("output-sigmoid__*.csv"))) == 2
    summary = pd.read_csv(tmp_path / "reproduction_summary.csv").set_index("configuration")
    for epochs in (1, 2):
        row = summary.loc[f"output-sigmoid (epochs={epochs})"]  # only the setting that differs is named
        assert (row["seeds"], row["epochs"]) == (1, epochs)
        assert row["mean_test_acc"] == table.loc[table["epochs"] == epochs, "final_test_acc"].item()


# 2 -----------------------------------------------------------------------------------------------


def test_the_issues_cnn_run_adds_rows_and_keeps_the_six(results_untouched, small_mnist, tmp_path, capsys):
    """`run cnn-mnist --seeds 3 --epochs 1` once replaced the 6 committed rows by 1; now it is an ad-hoc
    run, and even in a folder holding those 6 rows it adds its own 2 (NumPy and torch) beside them."""
    out = Outputs(tmp_path)
    shutil.copy(RESULTS / "cnn_mnist.csv", out.table("cnn_mnist"))
    old = pd.read_csv(out.table("cnn_mnist"))
    rc, stdout, _ = run(["run", "cnn-mnist", "--seeds", "3", "--epochs", "1", "--out", str(tmp_path)], capsys)
    assert rc == 0 and "1 runs planned, 0 already in" in stdout
    new = pd.read_csv(out.table("cnn_mnist"))
    assert len(new) == 8
    pd.testing.assert_frame_equal(new.iloc[:6][old.columns].reset_index(drop=True), old)
    added = new.iloc[6:]
    assert sorted(added["impl"]) == ["numpy", "torch"] and (added["seed"] == 3).all() and (added["epochs"] == 1).all()
    assert added["run_id"].nunique() == 1 and added["run_id"].iloc[0] not in set(old["run_id"])


def test_a_rerun_of_a_run_id_replaces_only_its_own_rows(tmp_path):
    path = tmp_path / "t.csv"
    rows = [{"run_id": r, "impl": i, "acc": 0.5} for r in ("a", "b") for i in ("numpy", "torch")]
    provenance.append_rows_atomic(rows, path, runner.KEY)
    provenance.append_rows_atomic([{"run_id": "c", "impl": "numpy", "acc": 0.7}], path, runner.KEY)
    assert len(pd.read_csv(path)) == 5  # a new run_id is appended, the others stay
    provenance.append_rows_atomic([{"run_id": "a", "impl": "torch", "acc": 0.9}], path, runner.KEY)
    df = pd.read_csv(path)
    assert len(df) == 5
    assert df.set_index(["run_id", "impl"])["acc"].to_dict() == {
        ("a", "numpy"): 0.5, ("b", "numpy"): 0.5, ("b", "torch"): 0.5, ("c", "numpy"): 0.7, ("a", "torch"): 0.9}
    archived = pd.read_csv(provenance.archive_path(path))  # the replaced row is kept, labelled
    assert archived[["run_id", "impl", "acc"]].values.tolist() == [["a", "torch", 0.5]]
    assert archived["archived_reason"].str.startswith("superseded by a new row of the same run_id/impl").all()


@pytest.fixture(scope="module")
def tiny_cnn():
    """cnn-mnist seed 0 on 256 training and 100 test images for 2 epochs, as the runner plans it."""
    exp = config.get_experiment("cnn-mnist")
    (spec,) = runner.plan(exp, seeds=[0], overrides={"epochs": 2, "train_limit": 256, "test_limit": 100})
    return spec


def cnn_results(out: Outputs, spec) -> tuple[list, dict]:
    rows = pd.read_csv(out.table("cnn_mnist")).to_dict("records")
    metrics = [{k: v for k, v in r.items() if k not in NOT_METRICS} for r in rows]
    finals = {}
    for impl in ("numpy", "torch"):
        with np.load(out.checkpoints / "final" / f"{spec.run_id}.{impl}.npz") as z:
            finals.update({f"{impl}/{k}": z[k] for k in z.files})
    return metrics, finals


def test_cnn_mnist_killed_and_resumed_through_the_runner_equals_an_uninterrupted_run(tiny_cnn, tmp_path,
                                                                                      monkeypatch, stop_after):
    spec = tiny_cnn
    straight = Outputs(tmp_path / "straight")
    assert runner.run_grid([spec], straight, "cnn_mnist", progress=False)[1] == []

    epochs = []
    real_order_for = cnn.order_for
    monkeypatch.setattr(cnn, "order_for", lambda seed, e, n: epochs.append(e) or real_order_for(seed, e, n))
    killed = Outputs(tmp_path / "killed")
    stop_after(1)
    with pytest.raises(Stopped):  # killed after the NumPy model's first epoch
        cnn.execute(spec, killed)
    assert epochs == [1]
    stop_after(1)
    with pytest.raises(Stopped):  # resumed, and killed again after the torch twin's first epoch
        cnn.execute(spec, killed)
    assert epochs == [1, 2, 1]
    assert not killed.table("cnn_mnist").exists()
    rows, failures = runner.run_grid([spec], killed, "cnn_mnist", progress=False)
    assert failures == [] and len(rows) == 2
    assert epochs == [1, 2, 1, 2], "each engine must continue from its checkpoint, not start again"

    m_straight, w_straight = cnn_results(straight, spec)
    m_killed, w_killed = cnn_results(killed, spec)
    assert m_killed == m_straight
    assert w_killed.keys() == w_straight.keys() and any("param." in k for k in w_killed)
    for k in w_straight:
        np.testing.assert_array_equal(w_killed[k], w_straight[k], err_msg=k)
    for impl in ("numpy", "torch"):
        name = f"base__{spec.run_id}.{impl}.csv"
        a = pd.read_csv(straight.curves("cnn-mnist") / name).drop(columns="seconds")
        b = pd.read_csv(killed.curves("cnn-mnist") / name).drop(columns="seconds")
        pd.testing.assert_frame_equal(a, b)
        assert a["epoch"].tolist() == [1, 2]


# 3 -----------------------------------------------------------------------------------------------


def test_a_changed_setting_in_the_toml_is_a_new_run(small_mnist, tmp_path, monkeypatch, capsys):
    folder = configs(tmp_path, "seed-mlp")
    use_config_dir(monkeypatch, folder)
    args = ["run", "seed-mlp", "--variants", "hidden-sigmoid", "--seeds", "0", "--epochs", "1",
            "--out", str(tmp_path / "out")]
    assert "1 runs planned, 0 already in" in run(args, capsys)[1]
    rc, again, _ = run(args, capsys)
    assert rc == 0 and "1 runs planned, 1 already in" in again and "0 to run" in again
    toml = folder / "seed-mlp.toml"
    text = toml.read_text()
    assert text.count("\nlr = 0.1\n") == 1
    toml.write_text(text.replace("\nlr = 0.1\n", "\nlr = 0.05\n"))
    rc, out, _ = run(args, capsys)
    assert rc == 0 and "1 runs planned, 0 already in" in out and "1 to run" in out
    table = pd.read_csv(tmp_path / "out" / "reproduction.csv")
    assert sorted(table["lr"]) == [0.05, 0.1] and table["run_id"].nunique() == 2
    assert table.loc[table["lr"] == 0.05, "final_test_acc"].item() != table.loc[table["lr"] == 0.1,
                                                                                "final_test_acc"].item()


# 4 -----------------------------------------------------------------------------------------------


def test_two_files_with_one_name_are_both_rejected(tmp_path, monkeypatch, capsys):
    folder = configs(tmp_path, "seed-mlp", "cnn-mnist")
    shutil.copy(folder / "seed-mlp.toml", folder / "zz-copy.toml")
    good, broken = config.scan(folder)
    assert set(good) == {"cnn-mnist"}
    assert set(broken) == {folder / "seed-mlp.toml", folder / "zz-copy.toml"}
    assert "name 'seed-mlp' is also used by" in broken[folder / "seed-mlp.toml"]
    assert "zz-copy.toml" in broken[folder / "seed-mlp.toml"]
    assert "name 'seed-mlp' is already used by" in broken[folder / "zz-copy.toml"]
    with pytest.raises(ConfigError, match="name 'seed-mlp' is (also|already) used by"):
        config.get_experiment("seed-mlp", folder)
    assert config.get_experiment("cnn-mnist", folder).name == "cnn-mnist"
    use_config_dir(monkeypatch, folder)
    rc, _, err = run(["run", "seed-mlp", "--quick"], capsys)
    assert rc == 2 and err.count("\n") == 1 and "seed-mlp" in err and "used by" in err


def test_a_broken_file_breaks_neither_list_nor_another_run(tmp_path, monkeypatch, capsys):
    folder = configs(tmp_path, "seed-mlp")
    (folder / "broken.toml").write_text("name = 'broken'\n[base\n")
    (folder / "typo.toml").write_text((folder / "seed-mlp.toml").read_text().replace('name = "seed-mlp"',
                                                                                     'name = "typo"')
                                      .replace("\nlr = 0.1\n", "\nlearning_rate = 0.1\n"))
    use_config_dir(monkeypatch, folder)
    rc, out, _ = run(["list"], capsys)
    assert rc == 0
    lines = out.splitlines()
    assert any(line.startswith("seed-mlp ") for line in lines)
    assert any(line.startswith("broken.toml") and "BROKEN:" in line and "not valid TOML" in line for line in lines)
    assert any(line.startswith("typo.toml") and "BROKEN:" in line and "unknown key 'learning_rate'" in line
               for line in lines)
    # run of the good experiment works (the runs themselves are not the point here: faked)
    calls = []
    monkeypatch.setattr(runner, "execute", lambda spec, out, progress=False, provenance=None, threads=1:
                        calls.append(spec) or [{"run_id": spec.run_id, "impl": "numpy", "final_test_acc": 0.5}])
    monkeypatch.setattr("experiments.reports.report_for", lambda exp: None)
    rc, out, err = run(["run", "seed-mlp", "--quick", "--variants", "base", "--seeds", "0", "--out",
                        str(tmp_path / "out")], capsys)
    assert rc == 0 and len(calls) == 1, err
    for name, why in (("broken", "not valid TOML"), ("typo", "unknown key 'learning_rate'")):
        rc, _, err = run(["run", name], capsys)
        assert rc == 2 and err.count("\n") == 1 and f"{name}.toml" in err and why in err


# 6 -----------------------------------------------------------------------------------------------


def reproduce_twice(tmp_path, monkeypatch, capsys, restrict: bool):
    """`reproduce --quick --workers 1 --out DIR` twice; the second must train nothing."""
    if restrict:  # seed-mlp reduced to 3 configurations, seed 0 (the comparison kept whole)
        real_plan = runner.plan

        def plan(exp, *, seeds=None, variants=None, overrides=None, quick=False):
            if exp.name == "seed-mlp":
                seeds, variants = [0], ["base", "hidden-sigmoid", "output-sigmoid"]
            return real_plan(exp, seeds=seeds, variants=variants, overrides=overrides, quick=quick)

        monkeypatch.setattr(runner, "plan", plan)
    out = tmp_path / "reproduce"
    rc, first, err = run(["reproduce", "--quick", "--workers", "1", "--out", str(out)], capsys)
    assert rc == 0, err
    monkeypatch.setattr(runner, "execute", lambda *a, **k: pytest.fail(f"a finished run was trained again: {a[0]}"))
    rc, second, err = run(["reproduce", "--quick", "--workers", "1", "--out", str(out)], capsys)
    assert rc == 0, err
    assert " 0 to run" in second and "1 to run" not in second
    return out, first


def check_reproduction(out: Path, seed_mlp, variants: list, seeds_of) -> None:
    table = pd.read_csv(out / "reproduction.csv")
    numpy_rows = table[(table["experiment"] == "seed-mlp")]
    assert sorted(numpy_rows["variant"].unique()) == sorted(variants)
    assert len(numpy_rows) == sum(len(seeds_of(v)) for v in variants)
    assert table["quick"].all() and (table["epochs"] == 2).all() and (table["n_train"] == 2000).all()
    assert (table["status"].isin(["ok", "diverged"])).all()
    assert sorted(table.loc[table["variant"].isin(["base", "torch"]) & (table["experiment"] == "comparison"),
                            "impl"]) == ["torch"]  # the comparison's NumPy run is seed-mlp's output-sigmoid
    assert table.loc[table["variant"] == "output-sigmoid", "final_test_acc"].min() > 0.5
    for f in ("reproduction_summary.csv", "reproduction_summary.md", "reproduction_curves.png", "comparison.csv",
              "against_committed.csv"):
        assert (out / f).exists(), f
    comp = pd.read_csv(out / "comparison.csv")
    assert sorted(comp["impl"]) == ["numpy", "torch"] and comp["quick"].all()
    assert (comp["max_weight_diff_numpy_vs_torch"] >= 0).all()
    against = pd.read_csv(out / "against_committed.csv")
    configs = against[(against["row_type"] == "configuration") & (against["experiment"] == "seed-mlp")]
    assert sorted(configs["variant"]) == sorted(variants) and against["quick"].all()  # one row per configuration
    committed = pd.read_csv(RESULTS / "reproduction.csv")
    committed = committed[committed["run_id"].isin({s.run_id for s in runner.plan(seed_mlp)})]  # declared runs only
    for _, c in configs.iterrows():
        old = committed.loc[(committed["variant"] == c["variant"]) & (committed["experiment"] == "seed-mlp")
                            & committed["seed"].isin(seeds_of(c["variant"])), "final_test_acc"]
        assert c["committed_runs"] == len(old) and c["committed_mean"] == pytest.approx(old.mean())
        assert c["difference"] == pytest.approx(c["new_mean"] - c["committed_mean"])


def test_reproduce_quick_trains_into_its_folder_reports_there_and_resumes(results_untouched, seed_mlp, tmp_path,
                                                                          monkeypatch, capsys):
    out, first = reproduce_twice(tmp_path, monkeypatch, capsys, restrict=True)
    variants = ["base", "hidden-sigmoid", "output-sigmoid"]
    check_reproduction(out, seed_mlp, variants, lambda v: [0])
    assert "against committed" in first


@pytest.mark.slow
def test_reproduce_quick_of_the_whole_grid(results_untouched, seed_mlp, tmp_path, monkeypatch, capsys):
    out, _ = reproduce_twice(tmp_path, monkeypatch, capsys, restrict=False)
    check_reproduction(out, seed_mlp, list(seed_mlp.runs), seed_mlp.seeds_of)


# the client killed and restarted (issue 11) -----------------------------------------------------


@pytest.mark.parametrize("workers", [1, 2])
def test_a_client_killed_mid_grid_keeps_its_rows_and_the_rerun_does_only_the_rest(workers, seed_mlp, tmp_path,
                                                                                   monkeypatch):
    # the real MNIST (quick runs use its first 2,000 / 1,000 images): Dask's worker processes load it themselves
    specs = runner.plan(seed_mlp, seeds=[0], variants=["base", "hidden-sigmoid", "output-sigmoid"], quick=True)
    straight = Outputs(tmp_path / "straight")
    assert runner.run_grid(specs, straight, "reproduction", workers=1, progress=False)[1] == []

    out = Outputs(tmp_path / "killed")
    real_append, written = runner.append_rows_atomic, []

    def append_then_die(rows, path, key):
        if written:
            raise KeyboardInterrupt  # the client is killed while the second row comes in
        written.append(rows[0]["run_id"])
        return real_append(rows, path, key)

    monkeypatch.setattr(runner, "append_rows_atomic", append_then_die)
    with pytest.raises(KeyboardInterrupt):
        runner.run_grid(specs, out, "reproduction", workers=workers, progress=False)
    assert pd.read_csv(out.table("reproduction"))["run_id"].tolist() == written

    monkeypatch.setattr(runner, "append_rows_atomic", real_append)
    ran = []
    real_execute = runner.execute
    monkeypatch.setattr(runner, "execute", lambda spec, *a, **k: ran.append(spec.run_id) or real_execute(spec, *a, **k))
    rows, failures = runner.run_grid(specs, out, "reproduction", workers=1, progress=False)
    assert failures == [] and sorted(ran) == sorted(s.run_id for s in specs if s.run_id not in written)

    def metrics(o):
        df = pd.read_csv(o.table("reproduction")).set_index("run_id").sort_index()
        return df[["final_test_acc", "best_test_acc", "final_train_loss", "epochs_done"]]

    assert len(pd.read_csv(out.table("reproduction"))) == len(specs)  # every run exactly once
    pd.testing.assert_frame_equal(metrics(out), metrics(straight))


@pytest.mark.parametrize("args", [["cnn-mnist"], ["orl-faces", "--sample", "1", "--variants", "base", "verify-cnn",
                                                  "identify-eigenfaces"]])
def test_reproduce_quick_of_an_experiment_writes_only_into_its_folder(results_untouched, args, tmp_path, capsys):
    """`reproduce NAME --quick`: the labelled smoke runs train into out/NAME, the table against the committed
    rows is written there (runs paired with their full declared runs), and results/ is untouched."""
    name = args[0]
    rc, stdout, err = run(["reproduce", *args, "--quick", "--workers", "1", "--out", str(tmp_path)], capsys)
    assert rc == 0, err
    table = pd.read_csv(tmp_path / name / "against_committed.csv", low_memory=False)
    runs, configs = table[table["row_type"] == "run"], table[table["row_type"] == "configuration"]
    assert len(runs) and len(configs) and table["quick"].all() and (table["experiment"] == name).all()
    assert set(configs["verdict"]) <= {"agrees", "DISAGREES"} and "their verdicts do not count" in stdout
    assert set(runs["committed_run_id"]) <= set(pd.read_csv(RESULTS / f"{config.get_experiment(name).table}.csv",
                                                            usecols=["run_id"], low_memory=False)["run_id"])


def test_replacing_every_row_keeps_integer_columns_integer(tmp_path):
    """A re-run that replaces every row of a table (all archived) writes its own columns as they are: a seed of
    0 stays 0, not 0.0 (concatenating the emptied old table used to turn new integer columns to float)."""
    path = tmp_path / "t.csv"
    provenance.append_rows_atomic([{"run_id": "a", "impl": "numpy", "acc": 0.5}], path, runner.KEY)
    provenance.append_rows_atomic([{"run_id": "a", "impl": "numpy", "acc": 0.6, "seed": 0}], path, runner.KEY)
    assert path.read_text().splitlines() == ["run_id,impl,acc,seed", "a,numpy,0.6,0"]
    assert len(pd.read_csv(provenance.archive_path(path))) == 1
