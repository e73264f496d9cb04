"""`python -m experiments faces identify IMAGE`: who is this face?

First the face gate (experiments/faces/gate.py) answers "no face found" for images that are not faces.
With --gallery FILE (made by `faces enrol`), the best matching enrolled person by cosine similarity of
the embedder's embeddings, or "unknown" below the threshold calibrated for --far (commands.py).
Without a gallery: the top identities among ORL's 40 people of the NumPy CNN of orl-faces'
first5-cnn-levelled run (trained on each person's first 5 images; classifier.py), or "unknown" when its
confidence is below --threshold.
Its checkpoint: --checkpoint, else checkpoints/<run_id>.npz of a full run, else the one
`python -m experiments faces train-model` writes under --models. Any image Pillow reads is converted
to grey correctly (reading.py), fitted to ORL's 92 x 112 and given the run's block averaging and
standardisation.
"""

from __future__ import annotations

import numpy as np

from experiments.faces import commands, modelfile
from experiments.faces.classifier import VARIANT, load_model, probabilities
from experiments.faces.reading import FaceImageError, fit, read_face

__all__ = ["VARIANT", "FaceImageError", "answer", "identify", "load_model", "read_face", "register"]

THRESHOLD = 0.5


def identify(image: np.ndarray, engine, mean: float, std: float, cfg: dict, top: int = 5) -> list[tuple[int, float]]:
    """[(person number 1..40, probability)] of the `top` most likely people for a uint8 (1, 112, 92) face."""
    p = probabilities(image, engine, mean, std, cfg)[0]
    best = np.argsort(-p, kind="stable")[:top]
    return [(int(k) + 1, float(p[k])) for k in best]


def answer(ranked: list[tuple[int, float]], threshold: float) -> str:
    """The printed answer: the ranked list, then the decision (the best person, or unknown below threshold)."""
    lines = [f"  s{person:<3d} {100 * prob:6.2f}%" for person, prob in ranked]
    person, prob = ranked[0]
    verdict = (f"unknown (best s{person} at {100 * prob:.1f}% < threshold {100 * threshold:.0f}%)"
               if prob < threshold else f"s{person} ({100 * prob:.1f}%)")
    return "\n".join(["top identities (ORL folder sN):", *lines, f"answer: {verdict}"])


def cmd_identify(args) -> int:
    from experiments.faces.reading import read_grey

    if not 0.0 <= args.threshold <= 1.0:
        raise FaceImageError(f"--threshold {args.threshold}: must be a probability in [0, 1]")
    grey = read_grey(args.image)
    verdict = commands.gate_answer(grey, args)
    if verdict is not None:
        print(verdict)
    elif args.gallery:
        print(commands.identify_in_gallery(grey, args))
    else:
        engine, mean, std, cfg = load_model(args.checkpoint, models=commands.models_dir(args))
        face = fit(grey)[None]
        print(answer(identify(face, engine, mean, std, cfg, args.top), args.threshold))
    return 0


def positive_int(text: str) -> int:
    import argparse

    if not text.lstrip("-").isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"--top must be an integer >= 1, got {text!r}")
    return int(text)


def register(sub) -> None:
    """Add `faces identify`, `faces enrol` and `faces train-model` to the CLI's subparsers."""
    faces = sub.add_parser("faces", help="face recognition with the trained NumPy CNN").add_subparsers(
        dest="faces_command", required=True)
    p = faces.add_parser("identify", help="who is this face: a gallery's person or ORL's, unknown, or no face")
    p.add_argument("image", help="a face image (any format Pillow reads: PGM, PNG, JPEG, ...; any size)")
    p.add_argument("--gallery", help="a gallery file made by `faces enrol` (default: ORL's 40 people)")
    p.add_argument("--far", type=commands.far_value, default=0.01,
                   help="with --gallery: false accept rate the threshold is calibrated for (default 0.01)")
    p.add_argument("--models", help=f"folder of the trained models (default {modelfile.DEFAULT_DIR})")
    p.add_argument("--no-gate", action="store_true", help="skip the face / non-face gate")
    p.add_argument("--checkpoint", help="without --gallery: the classifier run's checkpoint (default: "
                   "checkpoints/<run_id>.npz, else the one train-model wrote)")
    p.add_argument("--top", type=positive_int, default=5, help="how many identities to list (default 5)")
    p.add_argument("--threshold", type=float, default=THRESHOLD,
                   help=f"without --gallery: answer unknown below this confidence (default {THRESHOLD})")
    p.set_defaults(fn=cmd_identify)
    commands.register(faces)

