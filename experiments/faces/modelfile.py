"""Trained models as single .npz files: weights, settings (JSON), a hash of the weights, read back safely.

A model file holds `meta` (a JSON string: what the model is, its settings, its id) and the
parameters and layer state of a reference Sequential model (`param.<layer>.<name>`,
`state.<layer>.<name>`, the layout of the engines' snapshots), plus any named arrays. No pickles:
np.load(allow_pickle=False). A file that is missing, not an .npz, truncated or of another kind is a
FaceModelError (one line, exit status 2) naming the option and the file.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from pathlib import Path

import numpy as np

from experiments.data import DataError
from experiments.engines.sequential import flatten_nested, unflatten_nested

#: where `faces train-model` writes and `faces enrol` / `faces identify` read by default (git-ignored)
DEFAULT_DIR = Path(__file__).resolve().parents[2] / "checkpoints" / "faces"


#: orl-faces' variant whose classifier `faces identify` uses without a gallery
CLASSIFIER_VARIANT = "first5-cnn-levelled"
#: the file in the models folder that names the classifier's run (written by `faces train-model`)
CLASSIFIER_FILE = "classifier.json"


def model_id(what: str, seed: int, settings: dict) -> str:
    """16 hex digits of the SHA-256 of the canonical JSON of (what, seed, settings): a model's identity, so a
    changed setting never resumes an old checkpoint."""
    blob = json.dumps({"model": what, "seed": int(seed), "settings": settings}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


class FaceModelError(DataError):
    """A model or gallery file that cannot be used; the message names the option and the file."""


def weights_sha256(params: list[dict], state: list[dict]) -> str:
    """SHA-256 over every parameter and state array (names, dtypes, shapes and bytes, in name order)."""
    digest = hashlib.sha256()
    flat = {**flatten_nested("param.", params), **flatten_nested("state.", state)}
    for name in sorted(flat):
        a = np.ascontiguousarray(flat[name])
        digest.update(f"{name}:{a.dtype.str}:{a.shape};".encode())
        digest.update(a.tobytes())
    return digest.hexdigest()


def save_npz(path: Path, arrays: dict) -> Path:
    """np.savez to `path` atomically (a temporary file in the same folder, then os.replace)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)
    return path


def save_model(path: Path, meta: dict, params: list[dict], state: list[dict], arrays: dict | None = None) -> str:
    """Write a model file; returns its weights' SHA-256 (also stored in meta["weights_sha256"])."""
    sha = weights_sha256(params, state)
    blob = json.dumps({**meta, "weights_sha256": sha}, sort_keys=True)
    save_npz(path, {"meta": np.array(blob), **flatten_nested("param.", params), **flatten_nested("state.", state),
                    **{f"array.{k}": np.asarray(v) for k, v in (arrays or {}).items()}})
    return sha


def read_npz(path, option: str, what: str) -> dict:
    """Every array of the .npz at `path`, read eagerly; FaceModelError naming `option` and the file otherwise."""
    path = Path(path)
    if not path.is_file():
        raise FaceModelError(f"{option} {path}: no such file")
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, KeyError) as e:
        raise FaceModelError(f"{option} {path}: not a readable {what} file ({type(e).__name__}: {e})") from None


def load_model(path, option: str, kind: str) -> tuple[dict, list[dict], list[dict], dict]:
    """(meta, params, state, arrays) of a model file of `kind` ("embedder", "gate"); the weights' hash checked."""
    z = read_npz(path, option, f"{kind} model")
    try:
        meta = json.loads(str(z["meta"]))
        n = int(meta["layers"])
    except (KeyError, ValueError, TypeError) as e:
        raise FaceModelError(f"{option} {path}: not a {kind} model file (no valid meta: {e})") from None
    if meta.get("kind") != kind:
        raise FaceModelError(f"{option} {path}: a {meta.get('kind')!r} model, expected a {kind} model")
    params, state = unflatten_nested("param.", z, n), unflatten_nested("state.", z, n)
    if weights_sha256(params, state) != meta.get("weights_sha256"):
        raise FaceModelError(f"{option} {path}: its weights do not match the hash recorded with them (damaged file)")
    arrays = {k[len("array."):]: v for k, v in z.items() if k.startswith("array.")}
    return meta, params, state, arrays


def forward(model, params: list[dict], state: list[dict], x: np.ndarray, batch: int = 256) -> np.ndarray:
    """Eval-mode output of the first len(model.layers) layers, in batches."""
    n = len(model.layers)
    out = [model.forward(x[i:i + batch], params[:n], state[:n], train=False)[0] for i in range(0, len(x), batch)]
    return np.concatenate(out) if out else np.zeros((0,))
