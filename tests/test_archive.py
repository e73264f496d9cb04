"""Rows are never lost: superseded rows move to the table's archive, labelled, and `--again` re-trains."""

from __future__ import annotations

import pandas as pd

from experiments import runner
from experiments.outputs import Outputs
from experiments.provenance import archive_path


def test_rows_no_experiment_declares_move_to_the_archive_and_nothing_is_lost(seed_mlp, tmp_path):
    out = Outputs(tmp_path)
    declared = [s.run_id for s in runner.plan(seed_mlp)][:3]
    rows = pd.DataFrame({"run_id": declared + ["0ld1d3nt1ty00000"], "impl": "numpy", "final_test_acc": 0.9})
    rows.to_csv(out.table("reproduction"), index=False)
    assert runner.archive_undeclared(out, {"seed-mlp": seed_mlp}) == {"reproduction": 1}
    kept, archived = pd.read_csv(out.table("reproduction")), pd.read_csv(archive_path(out.table("reproduction")))
    assert kept["run_id"].tolist() == declared and archived["run_id"].tolist() == ["0ld1d3nt1ty00000"]
    assert archived["archived_reason"].str.startswith("not a declared run").all()
    assert runner.archive_undeclared(out, {"seed-mlp": seed_mlp}) == {"reproduction": 0}  # idempotent
    pd.concat([kept.iloc[:1].assign(run_id="n0l0ng3rch0s3n0"), kept]).to_csv(out.table("reproduction"), index=False)
    assert runner.archive_undeclared(out, {"seed-mlp": seed_mlp}, why="no longer chosen") == {"reproduction": 1}
    archived = pd.read_csv(archive_path(out.table("reproduction")))
    assert archived["archived_reason"].tolist()[-1] == "no longer chosen" and len(archived) == 2


def test_again_trains_a_finished_run_anew_and_archives_its_old_row(seed_mlp, tmp_path):
    spec = runner.plan(seed_mlp, quick=True, seeds=[0], variants=["base"])[0]
    spec = runner.RunSpec(spec.experiment, spec.kind, spec.variant, spec.seed, {**spec.config, "epochs": 1})
    out = Outputs(tmp_path)
    first, failures = runner.run_grid([spec], out, "reproduction", progress=False)
    assert failures == [] and runner.run_grid([spec], out, "reproduction", progress=False) == ([], [])
    again, failures = runner.run_grid([spec], out, "reproduction", progress=False, again=True)
    assert failures == [] and len(again) == 1 and again[0]["epochs_done"] == 1  # trained, not resumed at the end
    assert again[0]["final_test_acc"] == first[0]["final_test_acc"]  # the same run gives the same result
    assert len(pd.read_csv(out.table("reproduction"))) == 1
    assert len(pd.read_csv(archive_path(out.table("reproduction")))) == 1
    assert list((out.checkpoints / "superseded").glob(f"{spec.run_id}*.npz"))
    archived_curves = list((tmp_path / "archive" / "runs" / spec.experiment).glob(f"*__{spec.run_id}.csv"))
    assert len(archived_curves) == 1  # the first run's curve, set aside before the new run wrote its own
    assert len(list(out.curves(spec.experiment).glob(f"*__{spec.run_id}.csv"))) == 1


def test_a_run_chosen_archived_and_chosen_again_keeps_its_first_files(seed_mlp, tmp_path):
    """A run whose row was archived (tidy) and which is declared again trains anew; the per-run files of the
    archived row move to archive/runs/ first (twice: the second copy gets the date), instead of being overwritten."""
    spec = runner.plan(seed_mlp, quick=True, seeds=[0], variants=["base"])[0]
    spec = runner.RunSpec(spec.experiment, spec.kind, spec.variant, spec.seed, {**spec.config, "epochs": 1})
    out = Outputs(tmp_path)
    curve = out.curves(spec.experiment) / f"{spec.variant}__{spec.run_id}.csv"
    for n in range(2):
        runner.run_grid([spec], out, "reproduction", progress=False)
        for f in out.checkpoints.rglob(f"{spec.run_id}*.npz"):
            f.unlink()  # checkpoints are not committed: a fresh clone has none
        curve.write_text(f"epoch,train_loss\n1,{n}\n")  # mark this run's file, to find it in the archive
        # seed-mlp declares its 100-epoch runs, not this 1-epoch one: tidy moves its row to the archive
        assert runner.archive_undeclared(out, {"seed-mlp": seed_mlp}, why="no longer chosen") == {"reproduction": 1}
    runner.run_grid([spec], out, "reproduction", progress=False)
    kept = {p.name: p.read_text().splitlines()[-1]
            for p in (tmp_path / "archive" / "runs" / spec.experiment).glob(f"*__{spec.run_id}*.csv")}
    assert len(kept) == 2 and kept.pop(curve.name) == "1,0"  # the first copy under its own name
    assert list(kept.values()) == ["1,1"] and ".archived-" in next(iter(kept))
    assert curve.read_text().splitlines()[-1] != "1,1"
