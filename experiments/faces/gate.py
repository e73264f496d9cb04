"""The face / non-face gate in front of identification: a small hand-written NumPy CNN on 19 x 19 images.

Input: any grey image, centre-cropped to a square, resized to 19 x 19 (MIT CBCL's size), scaled to
[0, 1] and standardised per image, x = (x - mean) / max(std, STD_FLOOR): lighting and contrast drop
out, and a blank image becomes all zeros.

Network (reference Sequential layers): 3x3 conv 1 -> 8, batch norm, ReLU, 2x2 max-pool (9 x 9), 3x3
conv 8 -> 16, batch norm, ReLU, 2x2 max-pool (4 x 4), flatten, dropout, dense 256 -> 2 (non-face,
face); softmax cross-entropy, Adam. P(face) >= THRESHOLD passes the gate.

Data (seeded, `declared()`): MIT CBCL's 2,429 faces and 4,548 non-faces, of which HOLDOUT of each class
is held out for testing (a permutation by default_rng([seed, 0])); ORL's faces of the people the
embedder trains and calibrates on (its test people stay unseen by every model); SYNTHETIC non-faces
(blank images, uniform / Gaussian / salt-and-pepper noise at several grain sizes, linear and radial
gradients, drawn by default_rng([seed, 1])). scikit-image's lfw_subset (100 LFW faces, 100 non-face
patches, 25 x 25) is never trained on: an independent test set.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from experiments.faces import modelfile, reading
from reference import sequential as seq

SIDE = 19
STD_FLOOR = 0.02
THRESHOLD = 0.5
HOLDOUT = 0.2
CROP_SCALE = (0.55, 1.0)
FILE = "gate.npz"
DECLARED = {"epochs": 8, "batch_size": 32, "lr": 2e-3, "channels": [8, 16], "dropout": 0.3, "synthetic": 1500,
            "orl_crops": 4, "seed": 0, "holdout": HOLDOUT}
QUICK = {**DECLARED, "epochs": 2, "channels": [4, 8], "synthetic": 600, "orl_crops": 1, "cbcl_subset": 1500}


def standardise(x: np.ndarray) -> np.ndarray:
    """float (N, H, W) in [0, 1] -> each image minus its mean, over max(its std, STD_FLOOR)."""
    mean = x.mean(axis=(1, 2), keepdims=True)
    std = np.maximum(x.std(axis=(1, 2), keepdims=True), STD_FLOOR)
    return (x - mean) / std


def prepare(images) -> np.ndarray:
    """Grey images (a list or array of (H, W), uint8 levels or floats in [0, 1]) -> float64 (N, 1, 19, 19)."""
    out = []
    for im in images:
        im = np.asarray(im)
        u8 = reading.to_uint8(im * 255.0) if im.dtype.kind == "f" else im.astype(np.uint8)
        out.append(reading.fit(u8, (SIDE, SIDE)))
    x = np.stack(out).astype(np.float64) / 255.0 if out else np.zeros((0, SIDE, SIDE))
    return standardise(x)[:, None]


def network(channels=(8, 16), dropout: float = 0.3) -> seq.Sequential:
    """The gate CNN (module docstring): two conv blocks, dropout, dense to (non-face, face)."""
    c, side, layers = 1, SIDE, []
    for i, c_out in enumerate(channels, start=1):
        layers += [seq.Conv2d(c, c_out, 3, padding=1, name=f"conv{i}"), seq.BatchNorm2d(c_out, name=f"bn{i}"),
                   seq.Activation("relu", name=f"relu{i}"), seq.MaxPool2d(2, name=f"pool{i}")]
        c, side = c_out, side // 2
    layers += [seq.Flatten(name="flatten"), seq.Dropout(dropout, name="dropout"),
               seq.Dense(c * side * side, 2, gain=1.0, name="out")]
    return seq.Sequential(tuple(layers))


# ---------------------------------------------------------------------------------------------
# Synthetic non-faces
# ---------------------------------------------------------------------------------------------


def blank(rng, h, w):
    return np.full((h, w), rng.uniform(0, 255)) + rng.normal(0, rng.choice([0.0, 1.0, 3.0]), (h, w))


def noise(rng, h, w):
    grain = int(rng.choice([1, 2, 4, 8]))
    small = (h // grain + 1, w // grain + 1)
    kind = rng.integers(3)
    if kind == 0:
        z = rng.uniform(0, 255, small)
    elif kind == 1:
        z = rng.normal(rng.uniform(60, 200), rng.uniform(10, 80), small)
    else:
        z = np.where(rng.random(small) < rng.uniform(0.05, 0.5), 255.0, rng.uniform(0, 120))
    return np.kron(z, np.ones((grain, grain)))[:h, :w]


def gradient(rng, h, w):
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    if rng.random() < 0.5:
        a = rng.uniform(0, 2 * np.pi)
        t = np.cos(a) * x + np.sin(a) * y
    else:
        t = np.hypot(x - rng.uniform(0, 1), y - rng.uniform(0, 1))
    t = (t - t.min()) / max(np.ptp(t), 1e-9)
    lo, hi = np.sort(rng.uniform(0, 255, 2))
    return lo + (hi - lo) * t


def face_crops(faces: np.ndarray, k: int, rng: np.random.Generator) -> list[np.ndarray]:
    """k random square crops of each uint8 face (H, W) (ORL: head and shoulders): sides CROP_SCALE of the
    shorter side, centres shifted up to a tenth of it, half of them mirrored, so that the gate sees faces
    framed tightly (like CBCL) and loosely (like LFW)."""
    out = []
    for face in faces:
        h, w = face.shape
        for _ in range(k):
            side = int(rng.uniform(*CROP_SCALE) * min(h, w))
            cy, cx = (np.array([h, w]) / 2 + rng.uniform(-0.1, 0.1, 2) * min(h, w)).astype(int)
            top, left = np.clip(cy - side // 2, 0, h - side), np.clip(cx - side // 2, 0, w - side)
            crop = face[top:top + side, left:left + side]
            out.append(crop[:, ::-1] if rng.random() < 0.5 else crop)
    return out


def synthetic_nonfaces(n: int, rng: np.random.Generator) -> list[np.ndarray]:
    """n uint8 images of random sizes (19..120 a side): a third each blank, noise and gradients."""
    makers = (blank, noise, gradient)
    out = []
    for i in range(n):
        h, w = (int(v) for v in rng.integers(SIDE, 121, 2))
        out.append(reading.to_uint8(makers[i % 3](rng, h, w)))
    return out


# ---------------------------------------------------------------------------------------------
# Data, training, evaluation
# ---------------------------------------------------------------------------------------------


@dataclass
class GateData:
    x_train: np.ndarray
    y_train: np.ndarray
    x_cbcl: np.ndarray      # held-out CBCL
    y_cbcl: np.ndarray
    x_lfw: np.ndarray       # scikit-image's lfw_subset, never trained on
    y_lfw: np.ndarray
    x_orl_unseen: np.ndarray  # ORL faces of the embedder's test people (all faces)
    counts: dict


def holdout_split(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) indices: `fraction` of each class held out, by a permutation from default_rng([seed, 0])."""
    rng = np.random.default_rng([seed, 0])
    train, test = [], []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)[rng.permutation(int(np.sum(labels == c)))]
        k = int(round(fraction * len(idx)))
        test.append(idx[:k])
        train.append(idx[k:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def gate_data(settings: dict, orl_seen: np.ndarray, orl_unseen: np.ndarray) -> GateData:
    """The gate's training and test sets (module docstring); `orl_seen` / `orl_unseen` are ORL uint8 faces."""
    from experiments.data import load

    cbcl = load("cbcl", progress=True)
    x, y = cbcl.images, cbcl.labels
    seed = settings["seed"]
    if "cbcl_subset" in settings:  # the quick smoke version: a seeded subset of CBCL
        keep = np.sort(np.random.default_rng([seed, 2]).permutation(len(y))[:settings["cbcl_subset"]])
        x, y = x[keep], y[keep]
    train, test = holdout_split(y, settings["holdout"], seed)
    synth = synthetic_nonfaces(settings["synthetic"], np.random.default_rng([seed, 1]))
    crops = face_crops(orl_seen, settings["orl_crops"], np.random.default_rng([seed, 4]))
    x_train = np.concatenate([prepare(x[train]), prepare(crops), prepare(synth)])
    y_train = np.concatenate([y[train], np.ones(len(crops), np.int64), np.zeros(len(synth), np.int64)])
    lfw = load("lfw-subset", progress=True)
    counts = {"cbcl_train_faces": int(np.sum(y[train] == 1)), "cbcl_train_nonfaces": int(np.sum(y[train] == 0)),
              "orl_train_faces": len(crops), "synthetic_nonfaces": len(synth),
              "cbcl_test_faces": int(np.sum(y[test] == 1)), "cbcl_test_nonfaces": int(np.sum(y[test] == 0))}
    return GateData(x_train, y_train, prepare(x[test]), y[test], prepare(lfw.images), lfw.labels,
                    prepare(orl_unseen), counts)


def train_gate(settings: dict, data: GateData, checkpoint, progress: bool = False):
    """(engine, run_id, training result) of the gate trained through the shared loop (resumable)."""
    from experiments.engines.sequential import ImageData, NumpySequential
    from experiments.train import order_for, train
    from reference import optim

    seed = settings["seed"]
    model = network(tuple(settings["channels"]), settings["dropout"])
    params, state = model.init(np.random.default_rng([seed, 3]), np.float64)
    engine = NumpySequential(model, params, state, ImageData(data.x_train, data.y_train, data.x_cbcl, data.y_cbcl),
                             optim.Adam(), lambda epoch: settings["lr"], settings["batch_size"], seed=seed)
    rid = modelfile.model_id("face-gate", seed, {**settings, "train_counts": data.counts})
    result = train(engine, run_id=rid, label="face gate", epochs=settings["epochs"],
                   batch_size=settings["batch_size"], n_train=len(data.x_train),
                   order_for=lambda e: order_for(seed, e, len(data.x_train)), checkpoint=checkpoint,
                   progress=progress)
    return engine, rid, result


def face_probability(model, params, state, x: np.ndarray) -> np.ndarray:
    """P(face) for prepared inputs (N, 1, 19, 19)."""
    from reference.losses import softmax

    return softmax(modelfile.forward(model, params, state, x))[:, 1]


def scores(p: np.ndarray, y: np.ndarray) -> dict:
    """Accuracy at THRESHOLD, ROC AUC, and the rates of faces passed and non-faces stopped."""
    from sklearn.metrics import roc_auc_score

    y = np.asarray(y)
    passed = p >= THRESHOLD
    return {"accuracy": float(np.mean(passed == (y == 1))), "auc": float(roc_auc_score(y, p)),
            "faces_passed": float(np.mean(passed[y == 1])), "nonfaces_stopped": float(np.mean(~passed[y == 0])),
            "n": len(y)}


def probabilities(model, params, state, data: GateData) -> dict:
    """{set: (P(face), labels)} on the held-out sets: CBCL's held-out part, lfw_subset, the unseen ORL faces."""
    def prob(x):
        return face_probability(model, params, state, x)

    return {"cbcl_heldout": (prob(data.x_cbcl), data.y_cbcl), "lfw_subset": (prob(data.x_lfw), data.y_lfw),
            "orl_unseen": (prob(data.x_orl_unseen), np.ones(len(data.x_orl_unseen), np.int64))}


def evaluate(engine, data: GateData) -> dict:
    """{cbcl_heldout: scores, lfw_subset: scores, orl_unseen_passed: share of unseen ORL faces passed}."""
    p = probabilities(engine.model, engine.params, engine.state, data)
    return {"cbcl_heldout": scores(*p["cbcl_heldout"]), "lfw_subset": scores(*p["lfw_subset"]),
            "orl_unseen_passed": float(np.mean(p["orl_unseen"][0] >= THRESHOLD))}


def build(folder, orl_seen: np.ndarray, orl_unseen: np.ndarray, quick: bool = False, progress: bool = False) -> dict:
    """Train the gate (declared settings, or the quick smoke ones), evaluate it, write folder/gate.npz; its numbers."""
    settings = QUICK if quick else DECLARED
    t0 = time.perf_counter()
    data = gate_data(settings, orl_seen, orl_unseen)
    engine, rid, result = train_gate(settings, data, folder / "runs" / f"gate-{'quick' if quick else 'declared'}.npz",
                                     progress)
    metrics = evaluate(engine, data)
    meta = {"kind": "gate", "run_id": rid, "settings": settings, "counts": data.counts, "metrics": metrics,
            "threshold": THRESHOLD, "layers": len(engine.model.layers), "quick": quick,
            "train_seconds": result["train_seconds"], "seconds": time.perf_counter() - t0}
    modelfile.save_model(folder / FILE, meta, engine.params, engine.state)
    return meta


class Gate:
    """A trained gate read from its file: `probability(grey images)` and `passes(grey image)`."""

    def __init__(self, path, option: str = "--models"):
        self.path = path
        self.meta, self.params, self.state, _ = modelfile.load_model(path, option, "gate")
        s = self.meta["settings"]
        self.model = network(tuple(s["channels"]), s["dropout"])
        self.threshold = float(self.meta["threshold"])

    def probability(self, images) -> np.ndarray:
        return face_probability(self.model, self.params, self.state, prepare(images))
