"""`faces train-model`, `faces enrol` and the gallery path of `faces identify` (registered by identify.py).

    python -m experiments faces train-model            # the models below into checkpoints/faces/ (about 2 min)
    python -m experiments faces enrol GALLERY_DIR      # -> GALLERY_DIR/gallery.npz (or --out FILE)
    python -m experiments faces identify IMAGE --gallery GALLERY_DIR/gallery.npz [--far 0.01]
    python -m experiments faces evaluate               # their numbers -> results/faces_recogniser.csv

train-model trains, seeded, into --models (default checkpoints/faces/, git-ignored; never results/):
the face gate (gate.npz: experiments/faces/gate.py), the embedder with its calibration (embedder.npz:
experiments/faces/embedder.py) and the classifier of ORL's 40 people that `identify` without a
gallery uses (orl-faces' first5-cnn-levelled run, checkpoints/<run_id>.npz, with classifier.json naming it).
--quick trains tiny labelled versions in seconds (for tests), never a result.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from experiments.faces import modelfile, reading

CLASSIFIER_FILE = modelfile.CLASSIFIER_FILE
SUMMARY_FILE = "summary.json"


def models_dir(args) -> Path:
    return Path(args.models) if args.models else modelfile.DEFAULT_DIR


def need(path: Path, what: str) -> Path:
    if not path.is_file():
        raise modelfile.FaceModelError(f"--models {path.parent}: no {path.name} ({what}); train it with "
                                       f"`python -m experiments faces train-model`")
    return path


def load_gate(folder: Path):
    from experiments.faces.gate import FILE, Gate

    return Gate(need(folder / FILE, "the face gate"))


def load_embedder(folder: Path):
    from experiments.faces.embedder import FILE, Embedder

    return Embedder.load(need(folder / FILE, "the face embedder"))


def train_classifier(folder: Path, quick: bool, progress: bool) -> dict:
    """orl-faces' CLASSIFIER_VARIANT run (or its quick version) into folder/checkpoints; classifier.json names it."""
    from experiments.config import get_experiment
    from experiments.faces import kind
    from experiments.outputs import Outputs
    from experiments.runner import RunSpec

    cfg = get_experiment("orl-faces").runs[modelfile.CLASSIFIER_VARIANT]
    cfg = kind.quick(cfg) if quick else cfg
    spec = RunSpec("orl-faces", "faces", modelfile.CLASSIFIER_VARIANT, 0, cfg)
    row = kind.execute(spec, Outputs(folder), progress=progress)[0]
    info = {"run_id": spec.run_id, "seed": spec.seed, "config": cfg, "checkpoint": f"checkpoints/{spec.run_id}.npz",
            "test_accuracy": row["accuracy"], "quick": quick}
    (folder / CLASSIFIER_FILE).write_text(json.dumps(info, indent=1))
    return info


MODELS = ("gate", "embedder", "classifier")


def train_models(folder: Path, which, quick: bool, progress: bool) -> dict:
    """Train the models named in `which` into `folder`; {model: its numbers}."""
    from experiments.faces import embedder, gate

    out = {}
    if "gate" in which:
        print(f"face gate -> {folder / gate.FILE}", flush=True)
        g = gate.build(folder, *embedder.orl_faces_by_sight(), quick=quick, progress=progress)
        out["gate"] = {k: g[k] for k in ("run_id", "metrics", "counts", "train_seconds", "quick")}
    if "embedder" in which:
        print(f"face embedder -> {folder / embedder.FILE}", flush=True)
        e = embedder.build(folder, quick=quick, progress=progress)
        out["embedder"] = {k: e[k] for k in ("run_id", "calibration", "calibration_counts", "calibration_folds",
                                             "people", "train_seconds", "quick")}
    if "classifier" in which:
        print(f"classifier of ORL's 40 people -> {folder / CLASSIFIER_FILE}", flush=True)
        c = train_classifier(folder, quick, progress)
        out["classifier"] = {k: c[k] for k in ("run_id", "test_accuracy", "quick")}
    return out


def cmd_train_model(args) -> int:
    from experiments.threads import pin_run

    pin_run(1)  # one BLAS thread, as every run: the same bits on any machine with the same libraries
    folder = models_dir(args)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / SUMMARY_FILE
    summary = json.loads(path.read_text()) if path.is_file() else {}
    summary.update(train_models(folder, args.only or MODELS, args.quick, args.progress))
    path.write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary, indent=1))
    return 0


def cmd_evaluate(args) -> int:
    from experiments.faces import evaluation
    from experiments.provenance import ROOT
    from experiments.threads import pin_run

    pin_run(1)
    folder = models_dir(args)
    classifier = json.loads(need(folder / CLASSIFIER_FILE, "the ORL classifier").read_text())
    path, rows = evaluation.evaluate(load_gate(folder), load_embedder(folder), classifier, folder)
    print("\n".join(evaluation.summary(rows)))
    print(f"-> {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path} ({len(rows)} rows)")
    return 0


def cmd_enrol(args) -> int:
    from experiments.faces.gallery import GALLERY_FILE, enrol

    folder = models_dir(args)
    model = load_embedder(folder)
    gate = None if args.no_gate else load_gate(folder)
    out = Path(args.out) if args.out else Path(args.gallery_dir) / GALLERY_FILE
    g = enrol(args.gallery_dir, model, gate, say=lambda line: print(line, file=sys.stderr))
    try:
        g.save(out)
    except OSError as e:
        raise modelfile.FaceModelError(f"--out {out}: cannot write the gallery ({e.strerror or e})") from None
    print(f"enrolled {len(g.people)} people, {len(g.names)} images, with embedder {model.id} -> {out}")
    return 0


def far_value(text: str) -> float:
    import argparse

    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--far must be a number in (0, 1), got {text!r}") from None
    if not 0.0 < v < 1.0:
        raise argparse.ArgumentTypeError(f"--far must be in (0, 1), got {v}")
    return v


def identify_in_gallery(grey, args) -> str:
    """The printed answer for a face (uint8 grey, any size) against the gallery of --gallery."""
    from experiments.faces.gallery import Gallery

    model = load_embedder(models_dir(args))
    gallery = Gallery.load(args.gallery)
    gallery.check_model(model, args.gallery)
    ranked = gallery.ranked(model.embed(reading.fit(grey)[None])[0])
    t = model.threshold(args.far)
    lines = [f"top matches among {len(gallery.people)} enrolled people (cosine similarity):"]
    lines += [f"  {name:<20s} {s:+.3f}" for name, s in ranked[:args.top]]
    lines.append(f"threshold {t:.3f} for FAR {args.far:g} (one stranger's image against one enrolled person, "
                 f"calibrated on {model.meta['calibration_counts']['validation_people']} validation people)")
    name, s = ranked[0]
    lines.append(f"answer: {name} (similarity {s:.3f})" if s >= t else
                 f"answer: unknown (best {name} at {s:.3f} < threshold {t:.3f})")
    return "\n".join(lines)


def gate_answer(grey, args) -> str | None:
    """'answer: no face found (...)' when the gate stops the image, else None (or always None with --no-gate)."""
    if args.no_gate:
        return None
    gate = load_gate(models_dir(args))
    p = float(gate.probability([grey])[0])
    return None if p >= gate.threshold else f"answer: no face found (face gate {p:.2f} < {gate.threshold})"


def register(faces) -> None:
    """Add train-model and enrol to the `faces` subparsers."""
    t = faces.add_parser("train-model", help="train the gate, embedder and classifier that enrol/identify use")
    t.add_argument("--models", help=f"folder to write them to (default {modelfile.DEFAULT_DIR})")
    t.add_argument("--quick", action="store_true", help="tiny labelled versions in seconds (tests), not results")
    t.add_argument("--progress", action="store_true", help="progress bars")
    t.add_argument("--only", nargs="+", choices=MODELS, help="train only these (default: all three)")
    t.set_defaults(fn=cmd_train_model)
    e = faces.add_parser("enrol", help="embed a folder of PERSON/IMAGE files into a gallery file")
    e.add_argument("gallery_dir", help="folder of person folders of face images (any format Pillow reads)")
    e.add_argument("--out", help="gallery file to write (default GALLERY_DIR/gallery.npz)")
    e.add_argument("--models", help=f"folder of the trained models (default {modelfile.DEFAULT_DIR})")
    e.add_argument("--no-gate", action="store_true", help="enrol images the face gate would skip")
    e.set_defaults(fn=cmd_enrol)
    v = faces.add_parser("evaluate", help="measure the trained models -> results/faces_recogniser.csv and a ROC plot")
    v.add_argument("--models", help=f"folder of the trained models (default {modelfile.DEFAULT_DIR})")
    v.set_defaults(fn=cmd_evaluate)
