"""The face embedder behind `faces enrol` and `faces identify --gallery`, and its calibration (FAR -> threshold).

People (ORL, 40): the test people of verification fold 0 (8 people, splits.people_folds(40, 5, 0)[0])
are never trained on nor calibrated on: they are the held-out people `faces` is tested on. The other
32, in the order of that permutation, are cut into CALIBRATION_FOLDS groups of 8; calibration fold f
trains a network on the other 24 and scores its own 8 validation people. Fold 0's network (validation
people: the last 8) is the embedder that is kept; the other folds' networks only add validation
people to the calibration (32 people instead of 8: with 8, the tail of the impostor scores is a fact
about 28 pairs of people, and on the test people the FAR-1% threshold accepted 7.3% of impostor
comparisons). The threshold is thus calibrated for the recipe, on people none of the scoring
networks trained on.

Network and recipe: the setting orl-selection chose for verification fold 0 on validation people carved
out of that fold's 32 training people, never on its 8 test people (orl-faces' nested-verify-cosface-s16-m0_2:
28 x 23 input, conv blocks 16/32/64, a 128-unit embedding with batch norm and ReLU, dropout 0.2, a CosFace
head with s 16 and m 0.2, 100 epochs of Nesterov SGD, shifts and mirror images), trained as a classifier
of the training people, with each image levelled to mean 0 and std 1 first (standardise = "image"), so
that a darker, brighter or flatter photo of a face embeds as the face does. The embedding of a face is
the output before the head, for the face and its mirror image, summed, L2-normalised (the run's
mirror_embedding).

A person's template is the L2-normalised mean of the embeddings of their enrolled images; a probe's
score for a person is the cosine similarity of its embedding and the template. Calibration, on the
validation people only: each person's template is made from images 1-5, then from images 6-10; every
image of every other validation person of the same fold is scored against it (impostor scores); the
person's other 5 images give the genuine scores; the folds' scores are pooled. FAR f -> threshold t:
the smallest t such that at most a share f of the impostor scores are >= t. FAR here is per
comparison (one stranger's image against one enrolled person); with G people enrolled a stranger is
accepted at most about G x f of the time.
"""

from __future__ import annotations

import time

import numpy as np

from experiments.faces import images, modelfile, models, splits

FILE = "embedder.npz"
VALIDATION_PEOPLE = 8
CALIBRATION_FOLDS = 4
TEST_FOLD = 0
VARIANT = "nested-verify-cosface-s16-m0_2"  # the declared recipe it reuses (module docstring)
LEVELS = {"standardise": "image"}  # blind to a photo's brightness and contrast
QUICK = {"epochs": 10, "channels": [8, 16], "embed": 32}
QUICK_FOLDS = 2
FAR_REPORTED = (0.001, 0.01, 0.1)


def people(fold: int = 0) -> dict[str, np.ndarray]:
    """{"train": 24 people, "validation": 8, "test": 8} of calibration fold `fold` (labels 0..39; module
    docstring); fold 0's validation people are the last 8 of the 32."""
    perm = np.random.default_rng(0).permutation(40)
    test = splits.people_folds(40, 5, 0)[TEST_FOLD]
    rest = perm[~np.isin(perm, test)]
    end = len(rest) - fold * VALIDATION_PEOPLE
    val = rest[end - VALIDATION_PEOPLE:end]
    return {"train": np.sort(rest[~np.isin(rest, val)]), "validation": np.sort(val), "test": np.sort(test)}


def orl_faces_by_sight() -> tuple[np.ndarray, np.ndarray]:
    """(ORL's faces of the people a model may see, those of the test people no model sees), uint8."""
    from experiments.data import load

    orl = load("orl", progress=True)
    unseen = np.isin(orl.labels, people()["test"])
    return orl.images[~unseen], orl.images[unseen]


def recipe(quick: bool, levels: dict | None = None) -> dict:
    """The run's settings: orl-faces' VARIANT with `levels` (default LEVELS), or its quick smoke version."""
    from experiments.config import get_experiment

    cfg = {**get_experiment("orl-faces").runs[VARIANT], **(LEVELS if levels is None else levels)}
    return {**cfg, **QUICK, "quick": True} if quick else cfg


def network(cfg: dict, input_shape: tuple, classes: int):
    """The run's network, with its head, as the faces kind builds it."""
    from experiments.faces import kind

    return kind.network(cfg, input_shape, classes)


def normalise(e: np.ndarray) -> np.ndarray:
    return e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)


class Embedder:
    """A trained embedder: `embed(uint8 faces (N, 112, 92)) -> (N, d)` unit vectors; its calibration."""

    def __init__(self, meta: dict, params: list, state: list, arrays: dict, path=None):
        self.meta, self.params, self.state, self.path = meta, params, state, path
        cfg = meta["config"]
        full = network(cfg, tuple(meta["input_shape"]), int(meta["classes"]))
        self.model = models.embedding_model(full)
        self.impostor = np.sort(np.asarray(arrays["impostor_scores"], dtype=np.float64))
        self.genuine = np.sort(np.asarray(arrays["genuine_scores"], dtype=np.float64))

    @classmethod
    def load(cls, path, option: str = "--models") -> Embedder:
        return cls(*modelfile.load_model(path, option, "embedder"), path=path)

    @property
    def id(self) -> str:
        return self.meta["run_id"]

    @property
    def weights_sha256(self) -> str:
        return self.meta["weights_sha256"]

    def embed(self, faces: np.ndarray) -> np.ndarray:
        cfg = self.meta["config"]
        x = ((images.network_input(faces, cfg) - self.meta["mean"]) / self.meta["std"]).astype(cfg["dtype"])
        e = modelfile.forward(self.model, self.params, self.state, x).astype(np.float64)
        if cfg["mirror_embedding"]:
            e = e + modelfile.forward(self.model, self.params, self.state, np.ascontiguousarray(x[..., ::-1]))
        return normalise(e)

    def threshold(self, far: float) -> float:
        return threshold_for(self.impostor, far)


def threshold_for(impostor: np.ndarray, far: float) -> float:
    """The smallest t with at most a share `far` of the impostor scores >= t (module docstring)."""
    s = np.sort(np.asarray(impostor, dtype=np.float64))[::-1]
    k = int(np.floor(far * len(s) + 1e-9))  # scores allowed at or above t
    return float(np.nextafter(s[k], np.inf)) if k < len(s) else float(s[-1])


def templates(embeddings: np.ndarray, owners: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(people in sorted order, their templates: the normalised mean embedding of each person's images)."""
    who = np.unique(owners)
    return who, normalise(np.stack([embeddings[owners == p].mean(axis=0) for p in who]))


def calibration_scores(embeddings: np.ndarray, labels: np.ndarray, probes: np.ndarray | None = None
                       ) -> tuple[np.ndarray, np.ndarray]:
    """(impostor, genuine) cosine scores of the validation people (module docstring: two enrolment halves); the
    probes' embeddings are `probes` if given (the same images in another light), else the enrolled images' own."""
    probes = embeddings if probes is None else probes
    impostor, genuine = [], []
    for half in (slice(0, 5), slice(5, 10)):
        for p in np.unique(labels):
            mine = np.flatnonzero(labels == p)
            enrolled = np.zeros(len(labels), bool)
            enrolled[mine[half]] = True
            t = normalise(embeddings[enrolled].mean(axis=0, keepdims=True))[0]
            s = probes @ t
            impostor.append(s[labels != p])
            genuine.append(s[(labels == p) & ~enrolled])
    return np.concatenate(impostor), np.concatenate(genuine)


def train_fold(folder, cfg: dict, fold: int, orl, progress: bool, seed: int = 0):
    """(engine, run_id, mean, std, training result) of calibration fold `fold`'s network (resumable)."""
    from experiments.engines.sequential import ImageData
    from experiments.faces import kind
    from experiments.train import order_for, train

    who = people(fold)
    x = images.network_input(orl.images, cfg)
    tr = np.flatnonzero(np.isin(orl.labels, who["train"]))
    mean, std = images.standardiser(x[tr])
    y_train = np.searchsorted(who["train"], orl.labels[tr])
    data = ImageData(((x[tr] - mean) / std).astype(cfg["dtype"]), y_train, x[:0].astype(cfg["dtype"]), y_train[:0])
    engine = kind.numpy_engine(cfg, seed, data)
    rid = modelfile.model_id("face-embedder", seed, {**cfg, **{f"{k}_people": v.tolist() for k, v in who.items()}})
    result = train(engine, run_id=rid, label=f"face embedder, calibration fold {fold}", epochs=cfg["epochs"],
                   batch_size=cfg["batch_size"], n_train=len(tr), order_for=lambda e: order_for(seed, e, len(tr)),
                   checkpoint=folder / "runs" / f"embedder-{rid}.npz", progress=progress)
    return engine, rid, mean, std, result


def fold_embedder(engine, rid: str, mean: float, std: float, cfg: dict, fold: int, quick: bool) -> Embedder:
    who = people(fold)
    meta = {"kind": "embedder", "run_id": rid, "config": cfg, "mean": mean, "std": std,
            "input_shape": list(engine.data.X_train.shape[1:]), "classes": len(who["train"]),
            "layers": len(engine.model.layers), "people": {k: (v + 1).tolist() for k, v in who.items()},
            "quick": quick}
    return Embedder(meta, engine.params, engine.state, {"impostor_scores": [0.0], "genuine_scores": [0.0]})


def summary(impostor: np.ndarray, genuine: np.ndarray) -> dict:
    """{far=f: {threshold, tar}} at the FARs reported."""
    out = {}
    for f in FAR_REPORTED:
        t = threshold_for(impostor, f)
        out[f"far={f}"] = {"threshold": t, "tar": float(np.mean(genuine >= t))}
    return out


def build(folder, quick: bool = False, progress: bool = False, seed: int = 0, cfg: dict | None = None) -> dict:
    """Train the calibration folds' networks, calibrate on their validation people, write folder/embedder.npz
    (fold 0's network with the pooled calibration)."""
    from experiments.data import load

    t0 = time.perf_counter()
    cfg, orl = cfg or recipe(quick), load("orl")
    impostor, genuine, per_fold, kept = [], [], [], None
    for fold in range(QUICK_FOLDS if quick else CALIBRATION_FOLDS):
        engine, rid, mean, std, result = train_fold(folder, cfg, fold, orl, progress, seed)
        model = fold_embedder(engine, rid, mean, std, cfg, fold, quick)
        val = np.flatnonzero(np.isin(orl.labels, people(fold)["validation"]))
        imp, gen = calibration_scores(model.embed(orl.images[val]), orl.labels[val])
        impostor.append(imp)
        genuine.append(gen)
        per_fold.append({"run_id": rid, "train_seconds": result["train_seconds"], **summary(imp, gen)})
        kept = kept or (engine, model.meta)
    impostor, genuine = np.concatenate(impostor), np.concatenate(genuine)
    engine, meta = kept
    meta = {**meta, "seed": seed, "calibration": summary(impostor, genuine), "calibration_folds": per_fold,
            "calibration_counts": {"impostor": len(impostor), "genuine": len(genuine),
                                   "validation_people": VALIDATION_PEOPLE * len(per_fold)},
            "train_seconds": sum(f["train_seconds"] for f in per_fold), "seconds": time.perf_counter() - t0}
    modelfile.save_model(folder / FILE, meta, engine.params, engine.state,
                         {"impostor_scores": impostor, "genuine_scores": genuine})
    return meta
