"""`faces evaluate`: the trained recogniser's numbers, measured from its files, into a results table.

    python -m experiments faces evaluate [--models DIR]   # -> results/faces_recogniser.csv, faces_gate_roc.png

Rows (long form, one measure each; `far` blank where it does not apply):
- gate: accuracy at its threshold, ROC AUC, faces passed and non-faces stopped on held-out MIT CBCL (the 20%
  of each class the gate did not train on) and on scikit-image's lfw_subset (never trained on), and the
  share of the 80 ORL images of the 8 people no model sees that it passes; its ROC curves as a plot;
- embedder: the threshold calibrated on validation people for each FAR, and the validation TAR there; the kept
  network on its own 8 validation people with the probes in each photometric look (templates as taken): TAR
  and measured FAR at those thresholds (set validation_people_fold0_LOOK);
- recogniser: the held-out test of experiments/faces/heldout.py (enrolled from PNG copies, probed with
  JPEG copies, gate on) at each FAR: enrolled probes named right, named wrong, answered unknown; strangers
  answered unknown; no face found; then again with the probes in each photometric look (photometric.py:
  darker, brighter, low contrast, colour channels swapped), set heldout_orl_people_LOOK;
- classifier: the test accuracy of the ORL 40-people classifier that `identify` without a gallery uses, as
  its run recorded it (orl_test) and measured again from its checkpoint through identify's input path, as
  taken (orl_test_measured) and in each photometric look (orl_test_measured_LOOK).

Each row records the run_id and seed of the model it measures (the recogniser's: the embedder's). A model
trained with --quick is never a result: its numbers go to out/faces_recogniser-quick.csv, labelled quick.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from experiments.faces.photometric import LOOKS
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


def embedder_look_rows(model, fars, looks=LOOKS) -> list[dict]:
    """The kept network on its own 8 validation people (calibration fold 0): templates from the images as taken,
    probes in each photometric look; at each FAR's calibrated threshold, the share of genuine comparisons accepted
    (tar) and of impostor comparisons accepted (far_measured)."""
    from experiments.data import load
    from experiments.faces import embedder, photometric

    orl, seed = load("orl"), model.meta["seed"]
    val = np.flatnonzero(np.isin(orl.labels, np.asarray(model.meta["people"]["validation"]) - 1))
    taken, rows = model.embed(orl.images[val]), []
    for look in looks:
        probes = model.embed(np.stack([photometric.grey_of(look, orl.images[i]) for i in val]))
        impostor, genuine = embedder.calibration_scores(taken, orl.labels[val], probes)
        for far in fars:
            t, where = model.threshold(far), look_set("validation_people_fold0", look)
            rows += [row("embedder", model.id, seed, where, "tar", np.mean(genuine >= t), far),
                     row("embedder", model.id, seed, where, "far_measured", np.mean(impostor >= t), far)]
    return rows


def look_set(base: str, look: str) -> str:
    """The set name of a photometric look's probes: the base set itself for the photos as taken."""
    return base if look == "as_taken" else f"{base}_{look}"


def recogniser_rows(model, gate, fars, looks=LOOKS) -> list[dict]:
    from experiments.faces import heldout

    rid = f"{model.id}+{gate.meta['run_id']}"
    with tempfile.TemporaryDirectory() as tmp:
        measured = heldout.evaluate(model, gate, Path(tmp), fars=fars, looks=looks)
    return [row("recogniser", rid, model.meta["seed"], look_set("heldout_orl_people", look), m, v, far)
            for look, by_far in measured.items() for far, r in by_far.items() for m, v in r.items()]


def classifier_rows(classifier: dict, models: Path, looks=LOOKS) -> list[dict]:
    """The ORL classifier's accuracy on its run's test images (images 6-10 of the 40 people), as recorded by the
    run and then measured again from its checkpoint under each photometric look, through identify's input path."""
    from experiments.faces import classifier as orl_classifier
    from experiments.faces import kind, photometric

    rid, seed = classifier["run_id"], classifier["seed"]
    rows = [row("classifier", rid, seed, "orl_test", "accuracy", classifier["test_accuracy"])]
    engine, mean, std, cfg = orl_classifier.load_model(config=classifier["config"], seed=seed, models=models)
    faces, labels = kind.raw_faces(cfg)
    train, test = kind.identification_indices(cfg, labels, seed)
    people = np.unique(labels[train])  # the classifier's outputs, in order
    for look in looks:
        seen = np.stack([photometric.grey_of(look, faces[i]) for i in test])
        pred = people[np.argmax(orl_classifier.probabilities(seen, engine, mean, std, cfg), axis=1)]
        rows.append(row("classifier", rid, seed, look_set("orl_test_measured", look), "accuracy",
                        np.mean(pred == labels[test])))
    return rows


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


def evaluate(gate, model, classifier: dict, models: Path, fars=FARS, root: Path = ROOT) -> tuple[Path, list[dict]]:
    """Measure a trained gate, embedder and classifier (classifier.json's contents); (the table written under
    root/results, or root/out if any model is quick, its new rows)."""
    from experiments.provenance import append_rows_atomic

    quick = bool(gate.meta.get("quick") or model.meta.get("quick") or classifier.get("quick"))
    probs = gate_probabilities(gate)
    rows = (gate_rows(gate, probs) + embedder_rows(model, fars) + embedder_look_rows(model, fars)
            + recogniser_rows(model, gate, fars))
    rows += classifier_rows(classifier, models)
    prov = {"quick": quick, "command": command_line(), **stamp(), **numerics()}
    rows = [{**r, **prov} for r in rows]
    where = root / "out" if quick else root / "results"
    where.mkdir(parents=True, exist_ok=True)
    path = where / (f"{TABLE}-quick.csv" if quick else f"{TABLE}.csv")
    append_rows_atomic(rows, path, key=KEY)
    plot_roc(probs, where / ("faces_gate_roc-quick.png" if quick else "faces_gate_roc.png"))
    return path, rows


def summary(rows: list[dict]) -> list[str]:
    """A few lines for the terminal: the gate's held-out numbers, the recogniser at each FAR, and at FAR 0.01
    with the probes in each photometric look."""
    gate = {(r["set"], r["measure"]): r["value"] for r in rows if r["model"] == "gate"}
    lines = [f"gate on {s}: accuracy {gate[s, 'accuracy']:.1%}, AUC {gate[s, 'auc']:.4f}"
             for s in ("cbcl_heldout", "lfw_subset")]
    held = {(r["set"], r["far"], r["measure"]): r["value"] for r in rows if r["model"] == "recogniser"}
    base = "heldout_orl_people"
    for far in sorted({f for s, f, _ in held if s == base}):
        g = {m: held[base, far, m] for m in ("identified", "misidentified", "strangers_unknown")}
        lines.append(f"recogniser at FAR {far}: enrolled named {g['identified']:.1%} (wrongly "
                     f"{g['misidentified']:.1%}), strangers unknown {g['strangers_unknown']:.1%}")
    looks = [(look, look_set(base, look)) for look in LOOKS if look != "as_taken"]
    lines += [f"  probes {look} at FAR {far}: enrolled named {held[where, far, 'identified']:.1%}, strangers unknown "
              f"{held[where, far, 'strangers_unknown']:.1%}" for look, where in looks for far in (0.01,)
              if (where, far, "identified") in held]
    return lines
