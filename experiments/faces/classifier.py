"""The ORL classifier that `faces identify` answers with when no gallery is given: orl-faces' run of
modelfile.CLASSIFIER_VARIANT (a NumPy CNN trained on each of the 40 people's first 5 images), restored from
its checkpoint with its configuration and standardisation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from experiments.faces import modelfile
from experiments.faces.reading import FaceImageError

VARIANT = modelfile.CLASSIFIER_VARIANT


def default_checkpoint(run_id: str, models: Path | None) -> Path:
    """checkpoints/<run_id>.npz of a full run if there, else the one train-model wrote under `models`."""
    from experiments.outputs import official

    full = official().checkpoints / f"{run_id}.npz"
    return full if full.exists() else (models or modelfile.DEFAULT_DIR) / "checkpoints" / f"{run_id}.npz"


def read_checkpoint(path: Path, run_id: str):
    from experiments.train import CheckpointError, load_checkpoint

    try:
        return load_checkpoint(path, run_id)
    except CheckpointError as e:  # "PATH: not a readable checkpoint (why)"
        raise FaceImageError(f"--checkpoint {e}") from None


def classifier_config(models: Path | None) -> dict | None:
    """The configuration train-model recorded in `models`/classifier.json (its quick version, say), if any."""
    path = (models or modelfile.DEFAULT_DIR) / modelfile.CLASSIFIER_FILE
    try:
        return json.loads(path.read_text())["config"] if path.is_file() else None
    except (OSError, ValueError, KeyError) as e:
        raise FaceImageError(f"--models {path.parent}: unreadable {path.name} ({e})") from None


def load_model(checkpoint=None, config: dict | None = None, seed: int = 0, models: Path | None = None):
    """(engine, mean, std, config) of the run with `config` (default: orl-faces' VARIANT) restored from `checkpoint`
    (default: checkpoints/<run_id>.npz); the standardisation is the run's (its training images)."""
    from experiments.config import get_experiment
    from experiments.faces import images, kind
    from experiments.runner import RunSpec

    cfg = config or classifier_config(models) or get_experiment("orl-faces").runs[VARIANT]
    spec = RunSpec("orl-faces", "faces", VARIANT, seed, cfg)
    path = Path(checkpoint) if checkpoint else default_checkpoint(spec.run_id, models)
    if not path.exists():
        raise FaceImageError(f"--checkpoint {path}: no such file; train it with `python -m experiments faces "
                             f"train-model`")
    ck = read_checkpoint(path, spec.run_id)
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


def probabilities(faces: np.ndarray, engine, mean: float, std: float, cfg: dict) -> np.ndarray:
    """(N, people) class probabilities of uint8 faces (N, 112, 92) as the run's network sees them: block-averaged
    (levelled if the run levels), standardised with its training pixels, mirror-summed if the run sums."""
    from experiments.faces import images

    x = ((images.network_input(faces, cfg) - mean) / std).astype(cfg["dtype"])
    return engine.probabilities(x, cfg["mirror_embedding"])
