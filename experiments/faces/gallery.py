"""A gallery of enrolled people: `faces enrol GALLERY_DIR` writes it, `faces identify --gallery` reads it.

GALLERY_DIR holds one folder per person (its name is the person's name) of image files, any format
Pillow reads (experiments/faces/reading.py). Each readable image that passes the face gate is
embedded by the embedder (experiments/faces/embedder.py); an image that is unreadable, too small or
not a face is skipped with a line saying why; a person left with no image, or a folder with no
person, is an error. The gallery file (.npz, no pickles) holds the embeddings, each image's person
and file, the embedder's run_id and weights hash (a gallery is only ever used with the model that
made it) and the embedder's calibration (impostor scores: FAR -> threshold).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from experiments.faces import embedder as emb
from experiments.faces import modelfile, reading

GALLERY_FILE = "gallery.npz"


@dataclass
class Gallery:
    embeddings: np.ndarray   # (N, d) unit vectors
    names: np.ndarray        # (N,) person of each image
    files: np.ndarray        # (N,) file of each image, relative to the gallery folder
    model_id: str
    weights_sha256: str
    impostor: np.ndarray     # the embedder's calibration scores

    @property
    def people(self) -> list[str]:
        return sorted(set(self.names.tolist()))

    def ranked(self, probe: np.ndarray) -> list[tuple[str, float]]:
        """[(person, cosine similarity of the probe's embedding and the person's template)], best first."""
        who, t = emb.templates(self.embeddings, self.names)
        s = t @ probe
        order = np.argsort(-s, kind="stable")
        return [(str(who[k]), float(s[k])) for k in order]

    def save(self, path) -> Path:
        meta = json.dumps({"kind": "gallery", "model_id": self.model_id, "weights_sha256": self.weights_sha256})
        return modelfile.save_npz(path, {"meta": np.array(meta), "embeddings": self.embeddings,
                                         "names": self.names.astype(str), "files": self.files.astype(str),
                                         "impostor_scores": self.impostor})

    @classmethod
    def load(cls, path, option: str = "--gallery") -> Gallery:
        z = modelfile.read_npz(path, option, "gallery")
        try:
            meta = json.loads(str(z["meta"]))
            if meta.get("kind") != "gallery":
                raise ValueError(f"a {meta.get('kind')!r} file")
            return cls(z["embeddings"], z["names"], z["files"], meta["model_id"], meta["weights_sha256"],
                       z["impostor_scores"])
        except (KeyError, ValueError, TypeError) as e:
            raise modelfile.FaceModelError(f"{option} {path}: not a gallery made by `faces enrol` ({e})") from None

    def check_model(self, embedder: emb.Embedder, path) -> None:
        """A gallery made by another model than `embedder` is refused (its embeddings are not comparable)."""
        if self.weights_sha256 != embedder.weights_sha256:
            raise modelfile.FaceModelError(
                f"--gallery {path}: made by embedder {self.model_id} (weights {self.weights_sha256[:12]}), but the "
                f"model is {embedder.id} (weights {embedder.weights_sha256[:12]}) from {embedder.path}; enrol again "
                f"with this model")


def person_images(folder: Path) -> tuple[dict[str, list[Path]], list[Path]]:
    """({person: [image files]}, loose files at the top) of a gallery folder; hidden entries and the gallery file
    of an earlier enrolment are ignored."""
    if not folder.is_dir():
        raise reading.FaceImageError(f"GALLERY_DIR {folder}: " + ("not a folder" if folder.exists() else
                                                                   "no such folder"))
    visible = [p for p in sorted(folder.iterdir()) if not p.name.startswith(".")]
    people = {p.name: [f for f in sorted(p.iterdir()) if f.is_file() and not f.name.startswith(".")]
              for p in visible if p.is_dir()}
    if not people:
        raise reading.FaceImageError(f"GALLERY_DIR {folder}: no person folders in it (expected PERSON/IMAGE files)")
    return people, [p for p in visible if p.is_file() and p.name != GALLERY_FILE]  # a gallery made before


def read_person(name: str, files: list[Path], folder: Path, gate, say) -> list[tuple[np.ndarray, str]]:
    """[(uint8 face (112, 92), file relative to folder)] of one person; unusable images skipped with a line."""
    found = []
    for f in files:
        try:
            grey = reading.read_grey(f, "image")
        except reading.FaceImageError as e:
            say(f"skipped {f}: {e}")
            continue
        if gate is not None and (p := float(gate.probability([grey])[0])) < gate.threshold:
            say(f"skipped {f}: no face found (face gate {p:.2f} < {gate.threshold})")
            continue
        found.append((reading.fit(grey), str(f.relative_to(folder))))
    if not found:
        raise reading.FaceImageError(f"GALLERY_DIR {folder}: person {name!r} has no usable face image "
                                     f"({len(files)} file(s) tried)")
    return found


def enrol(folder, embedder: emb.Embedder, gate=None, say=print) -> Gallery:
    """The gallery of a PERSON/IMAGE folder (module docstring)."""
    folder = Path(folder)
    people, loose = person_images(folder)
    for f in loose:
        say(f"skipped {f}: not in a person folder")
    faces, names, files = [], [], []
    for name, paths in people.items():
        for face, rel in read_person(name, paths, folder, gate, say):
            faces.append(face)
            names.append(name)
            files.append(rel)
    e = embedder.embed(np.stack(faces))
    return Gallery(e, np.array(names), np.array(files), embedder.id, embedder.weights_sha256, embedder.impostor)
