"""`faces evaluate`: the trained recogniser's numbers, measured from its files, into a results table.

    python -m experiments faces evaluate [--models DIR]   # -> results/faces_recogniser.csv, faces_gate_roc.png

Rows (long form, one measure each; `far` blank where it does not apply):
- gate: accuracy at its threshold, ROC AUC, faces passed and non-faces stopped on held-out MIT CBCL (the 20%
  of each class the gate did not train on) and on scikit-image's lfw_subset (never trained on), and the
  share of the 80 ORL images of the 8 people no model sees that it passes; its ROC curves as a plot;
- embedder: the threshold calibrated on validation people for each FAR, and the validation TAR there;
- recogniser: the held-out test of experiments/faces/heldout.py (enrolled from PNG copies, probed with
  JPEG copies, gate on) at each FAR: enrolled probes named right, named wrong, answered unknown; strangers
  answered unknown; no face found;
- classifier: the test accuracy of the ORL 40-people classifier that `identify` without a gallery uses.

Each row records the run_id and seed of the model it measures (the recogniser's: the embedder's). A model
trained with --quick is never a result: its numbers go to out/faces_recogniser-quick.csv, labelled quick.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from experiments.provenance import ROOT, command_line, numerics, stamp

TABLE = "faces_recogniser"
FARS = (0.001, 0.01, 0.05, 0.1)
KEY = ["model", "run_id", "set", "measure", "far"]


def gate_probabilities(gate) -> dict:
    """{set: (P(face), labels)} of the gate on its held-out sets, rebuilt from its recorded settings."""
    from experiments.faces import embedder
    from experiments.faces import gate as gates

    data = gates.gate_data(gate.meta["settings"], *embedder.orl_faces_by_sight())
    return gates.probabilities(gate.model, gate.params, gate.state, data)


def row(model: str, run_id: str, seed: int, set_: str, measure: str, value, far=np.nan) -> dict:
    """One measure of one model (far nan where it does not apply: a blank cell reads back so)."""
    return {"model": model, "run_id": run_id, "seed": int(seed), "set": set_, "measure": measure, "far": far,
            "value": float(value)}


def gate_rows(gate, probs: dict) -> list[dict]:
    from experiments.faces.gate import scores

    rid, seed, rows = gate.meta["run_id"], gate.meta["settings"]["seed"], []
    for name, (p, y) in probs.items():
        s = scores(p, y) if name != "orl_unseen" else {"faces_passed": np.mean(p >= gate.threshold), "n": len(y)}
        rows += [row("gate", rid, seed, name, k, v) for k, v in s.items()]
    return rows


def embedder_rows(model, fars) -> list[dict]:
    seed, rows = model.meta["seed"], []
    for far in fars:
        t = model.threshold(far)
        rows += [row("embedder", model.id, seed, "validation_people", "threshold", t, far),
                 row("embedder", model.id, seed, "validation_people", "tar", np.mean(model.genuine >= t), far)]
    return rows + [row("embedder", model.id, seed, "validation_people", m, len(a))
                   for m, a in (("impostor_scores", model.impostor), ("genuine_scores", model.genuine))]


def recogniser_rows(model, gate, fars) -> list[dict]:
    from experiments.faces import heldout

    with tempfile.TemporaryDirectory() as tmp:
        measured = heldout.evaluate(model, gate, Path(tmp), fars=fars)
    rid = f"{model.id}+{gate.meta['run_id']}"
    return [row("recogniser", rid, model.meta["seed"], "heldout_orl_people", m, v, far)
            for far, r in measured.items() for m, v in r.items()]


def plot_roc(probs: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import roc_auc_score, roc_curve

    fig, ax = plt.subplots(figsize=(5, 4.5))
    for name in ("cbcl_heldout", "lfw_subset"):
        p, y = probs[name]
        fpr, tpr, _ = roc_curve(y, p)
        ax.plot(fpr, tpr, label=f"{name} (AUC {roc_auc_score(y, p):.4f}, n {len(y)})")
    ax.set(xlabel="non-faces passed (false positive rate)", ylabel="faces passed (true positive rate)",
           title="face / non-face gate, held-out data")
    ax.legend(loc="lower right")
    fig.tight_layout()
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)


def evaluate(gate, model, classifier: dict, fars=FARS, root: Path = ROOT) -> tuple[Path, list[dict]]:
    """Measure a trained gate, embedder and classifier (classifier.json's contents); (the table written under
    root/results, or root/out if any model is quick, its new rows)."""
    from experiments.provenance import append_rows_atomic

    quick = bool(gate.meta.get("quick") or model.meta.get("quick") or classifier.get("quick"))
    probs = gate_probabilities(gate)
    rows = gate_rows(gate, probs) + embedder_rows(model, fars) + recogniser_rows(model, gate, fars)
    rows.append(row("classifier", classifier["run_id"], classifier["seed"], "orl_test", "accuracy",
                    classifier["test_accuracy"]))
    prov = {"quick": quick, "command": command_line(), **stamp(), **numerics()}
    rows = [{**r, **prov} for r in rows]
    where = root / "out" if quick else root / "results"
    where.mkdir(parents=True, exist_ok=True)
    path = where / (f"{TABLE}-quick.csv" if quick else f"{TABLE}.csv")
    append_rows_atomic(rows, path, key=KEY)
    plot_roc(probs, where / ("faces_gate_roc-quick.png" if quick else "faces_gate_roc.png"))
    return path, rows


def summary(rows: list[dict]) -> list[str]:
    """A few lines for the terminal: the gate's held-out numbers and the recogniser at each FAR."""
    gate = {(r["set"], r["measure"]): r["value"] for r in rows if r["model"] == "gate"}
    lines = [f"gate on {s}: accuracy {gate[s, 'accuracy']:.1%}, AUC {gate[s, 'auc']:.4f}"
             for s in ("cbcl_heldout", "lfw_subset")]
    held = {(r["far"], r["measure"]): r["value"] for r in rows if r["model"] == "recogniser"}
    for far in sorted({f for f, _ in held}):
        g = {m: held[far, m] for m in ("identified", "misidentified", "strangers_unknown")}
        lines.append(f"recogniser at FAR {far}: enrolled named {g['identified']:.1%} (wrongly "
                     f"{g['misidentified']:.1%}), strangers unknown {g['strangers_unknown']:.1%}")
    return lines
