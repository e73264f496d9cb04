"""`python -m experiments faces identify IMAGE`: who is this face? The top identities of the NumPy CNN, or
"unknown" when its confidence is below a rejection threshold.

The model is the CNN of orl-faces' first5-cnn run (trained on each person's first 5 images), read from
its checkpoint (checkpoints/<run_id>.npz, written by `python -m experiments run orl-faces --variants
first5-cnn`). Any image Pillow reads (PGM, PNG, JPEG, ...) is converted to grey, resized to ORL's 92 x 112
and given the run's block averaging and standardisation.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from experiments.data import DataError
from experiments.faces import images, kind

VARIANT = "first5-cnn"
THRESHOLD = 0.5


class FaceImageError(DataError):
    """An image or checkpoint that cannot be used; the message names the file."""


def read_face(path, size=(92, 112)) -> np.ndarray:
    """uint8 (1, H, W): the image at `path` in grey levels, resized (bilinear) to size = (width, height)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("L").resize(size, Image.BILINEAR), dtype=np.uint8)[None]
    except FileNotFoundError:
        raise FaceImageError(f"IMAGE {path}: no such file") from None
    except (UnidentifiedImageError, OSError) as e:
        raise FaceImageError(f"IMAGE {path}: not an image Pillow can read ({e})") from None


def load_model(checkpoint=None, config: dict | None = None, seed: int = 0):
    """(engine, mean, std) of the run with `config` (default: orl-faces' first5-cnn) restored from `checkpoint`
    (default: checkpoints/<run_id>.npz); the standardisation is the run's (its training images)."""
    from experiments.config import get_experiment
    from experiments.outputs import official
    from experiments.runner import RunSpec
    from experiments.train import load_checkpoint

    cfg = config if config is not None else get_experiment("orl-faces").runs[VARIANT]
    spec = RunSpec("orl-faces", "faces", VARIANT, seed, cfg)
    path = Path(checkpoint) if checkpoint else official().checkpoints / f"{spec.run_id}.npz"
    if not path.exists():
        raise FaceImageError(f"--checkpoint {path}: no such file; train it with `python -m experiments run orl-faces "
                             f"--variants {VARIANT}`")
    ck = load_checkpoint(path, spec.run_id)
    if ck is None or ck["epoch"] != cfg["epochs"]:
        raise FaceImageError(f"--checkpoint {path}: not a finished run {spec.run_id} ({VARIANT}, {cfg['epochs']} "
                             f"epochs)" + ("" if ck is None else f"; it holds epoch {ck['epoch']}"))
    x, y = kind.load_faces(cfg)
    train, test = kind.identification_indices(cfg, y, seed)
    data = kind.face_data(cfg, x, y, train, test)
    engine = kind.numpy_engine(cfg, seed, data)
    engine.restore(ck["snapshot"])
    mean, std = images.standardiser(x[train])
    return engine, mean, std, cfg


def identify(image: np.ndarray, engine, mean: float, std: float, cfg: dict, top: int = 5) -> list[tuple[int, float]]:
    """[(person number 1..40, probability)] of the `top` most likely people for a uint8 (1, 112, 92) face."""
    x = (images.downsample(image, cfg["downsample"]) - mean) / std
    p = engine.probabilities(x.astype(cfg["dtype"]))[0]
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
    if not 0.0 <= args.threshold <= 1.0:
        raise FaceImageError(f"--threshold {args.threshold}: must be a probability in [0, 1]")
    face = read_face(args.image)
    engine, mean, std, cfg = load_model(args.checkpoint)
    print(answer(identify(face, engine, mean, std, cfg, args.top), args.threshold))
    return 0


def register(sub) -> None:
    """Add `faces identify` to the CLI's subparsers."""
    faces = sub.add_parser("faces", help="face recognition with the trained NumPy CNN").add_subparsers(
        dest="faces_command", required=True)
    p = faces.add_parser("identify", help="top-5 identities of a face image, or unknown")
    p.add_argument("image", help="a face image (PGM, PNG, JPEG, ...; any size)")
    p.add_argument("--checkpoint", help="the first5-cnn run's checkpoint (default: checkpoints/<run_id>.npz)")
    p.add_argument("--top", type=int, default=5, help="how many identities to list (default 5)")
    p.add_argument("--threshold", type=float, default=THRESHOLD,
                   help=f"answer unknown below this confidence (default {THRESHOLD})")
    p.set_defaults(fn=cmd_identify)

