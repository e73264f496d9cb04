"""Kind "faces": identification and verification on ORL with the NumPy CNN and the classic baselines.

One run is one method on one split (task "identify"), one fold over people ("verify"), or the NumPy CNN
and its torch twin trained in lockstep ("twin"). The seed chooses the random 5/5 split (task identify,
split "random"; with split "first5" the split is fixed) or the fold (task verify), and seeds the
network: initial weights from default_rng([seed, 0]), epoch e's sample order the e-th permutation drawn
from default_rng(seed) (train.order_for), or with images_per_person K > 0 person-balanced groups of K from
default_rng([seed, 1, e]) (sampling.py), augmentation and dropout from default_rng([seed, 2, e]) and
([seed, 3, e]). The head (cnn) is the output layer and loss: softmax, cosface, arcface or triplet.
Per-image predictions (identify) and per-pair scores (verify) go beside the row as CSV files, for the
rejection curve, the montage and the ROC curves.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING

import numpy as np

from experiments.engines.sequential import ImageData
from experiments.faces import baselines, images, metrics, models, sampling, splits
from experiments.kinds import Kind
from experiments.provenance import write_csv_atomic
from experiments.schema import ConfigError, at_least, is_int, one_of, positive
from experiments.train import order_for
from reference import optim, schedules
from reference.losses import Loss, am_softmax, arcface_loss, triplet_loss

if TYPE_CHECKING:  # the engines import torch, and pandas writes the tables: both imported where a run uses them,
    # so that building the CLI (which reads every kind) stays fast
    from experiments.faces.engine import NumpyFaces, Recipe, TorchTwinFaces

TABLE = "orl_faces"
TASKS = ("identify", "verify", "twin")
NETWORKS = ("cnn", "mlp")
METHODS = NETWORKS + baselines.METHODS
VERIFY_METHODS = ("cnn", "eigenfaces")
HEADS = ("softmax", "cosface", "arcface", "triplet")
PER_PERSON = 10  # ORL: 10 images of each person


def _intsat_least(n, empty_ok):
    return lambda v: (None if (v or empty_ok) and all(is_int(c) and c >= n for c in v)
                      else f"must be a list of integers >= {n}" + ("" if empty_ok else " (at least one)"))


# key -> (type, description, check(value) -> error text or None)
RUN_KEYS = {
    "dataset": (str, "dataset", one_of(("orl",))),
    "task": (str, "identify (5/5 Lawrence protocol), verify (unseen people), twin (NumPy vs torch)", one_of(TASKS)),
    "method": (str, "cnn, mlp (reference networks) or a scikit-learn baseline", one_of(METHODS)),
    "split": (str, "identify/twin: each person's first 5 images train (first5) or a seeded random 5 (random)",
              one_of(splits.SPLITS)),
    "k": (int, "identify: training images per person (the first k of the split's 5)", lambda v: None if 1 <= v <= 5
          else "must be in 1..5"),
    "folds": (int, "verify: folds over people (people permuted by default_rng(0))", at_least(2)),
    "downsample": (int, "block-averaging factor of the 112 x 92 images", at_least(1)),
    "channels": (list, "cnn: output channels of each conv block", _intsat_least(1, empty_ok=False)),
    "embed": (int, "cnn: width of a hidden dense layer before the output (0: none)", at_least(0)),
    "mlp_hidden": (list, "mlp: hidden layer widths", _intsat_least(1, empty_ok=False)),
    "dropout": (float, "dropout probability", lambda v: None if 0.0 <= v < 1.0 else "must be in [0, 1)"),
    "epochs": (int, "training epochs", at_least(1)),
    "batch_size": (int, "mini-batch size", at_least(1)),
    "lr": (float, "base learning rate", positive),
    "momentum": (float, "SGD momentum", lambda v: None if 0.0 <= v < 1.0 else "must be in [0, 1)"),
    "nesterov": (bool, "Nesterov momentum", lambda v: None),
    "weight_decay": (float, "L2 weight decay added to the gradient", at_least(0.0)),
    "schedule": (str, "learning rate per epoch: cosine (CosineAnnealingLR to 0 over the epochs) or constant",
                 one_of(("cosine", "constant"))),
    "max_shift": (int, "augmentation: random shift up to this many pixels each way", at_least(0)),
    "flip": (bool, "augmentation: random horizontal mirror", lambda v: None),
    "standardise": (str, "input levels: dataset (x minus the training pixels' mean, over their std) or image (each "
                    "image first to mean 0 and std 1 over its own pixels: blind to brightness and contrast)",
                    one_of(images.STANDARDISE)),
    "dtype": (str, "float dtype of the networks", one_of(("float32", "float64"))),
    "pca_components": (int, "eigenfaces/fisherfaces: PCA components", at_least(1)),
    "mirror_embedding": (bool, "cnn, mlp: a face's output is the sum of the network's outputs for it and its mirror "
                         "image (verify: its embedding; identify: its logits, before the softmax)", lambda v: None),
    "quick": (bool, "a labelled smoke run (few epochs, few people); never a result", lambda v: None),
    "head": (str, "cnn: output layer and loss: softmax (dense, cross-entropy), cosface (cosine layer, additive-"
             "margin softmax), arcface (cosine layer, additive angular margin) or triplet (the L2-normalised "
             "embedding, batch-hard triplet loss)", one_of(HEADS)),
    "cosface_scale": (float, "head cosface: scale s of the margin softmax", positive),
    "cosface_margin": (float, "head cosface: margin m of the margin softmax", at_least(0.0)),
    "arcface_scale": (float, "head arcface: scale s", positive),
    "arcface_margin": (float, "head arcface: angular margin m in radians, in [0, pi)",
                       lambda v: None if 0.0 <= v < math.pi else "must be in [0, pi)"),
    "arcface_easy_margin": (bool, "head arcface: no margin for cosines <= 0 (else ArcMarginProduct's threshold "
                            "cos(pi - m))", lambda v: None),
    "triplet_margin": (float, "head triplet: margin m on squared distances of unit embeddings (in [0, 4])",
                       at_least(0.0)),
    "images_per_person": (int, "person-balanced mini-batches of groups of this many images of one person "
                          "(experiments/faces/sampling.py); 0: a plain shuffle", at_least(0)),
    "path": (str, "cnn, mlp: the NumPy layers that train and evaluate: reference (reference/) or fast "
             "(experiments/engines/fast, proven against it in tests/test_fast_cnn.py)", one_of(("reference", "fast"))),
    # nested model selection (experiments/faces/selection.py) and open-set identification
    "protocol": (str, "test: train on the training part, score on the test part; validation: score on validation "
                 "data carved out of the training part (identify: one of each person's k training images; "
                 "verify: the test people of another fold), the test part untouched", one_of(splits.PROTOCOLS)),
    "inner_fold": (int, "protocol validation: which validation part (inner cross-validation): identify: each "
                   "person's (inner_fold + 1)-th last training image validates; verify: fold (fold + 1 + inner_fold) "
                   "mod folds's test people validate", at_least(0)),
    "selected_by": (str, "the selection a final run's settings come from (experiment:group:candidate); empty: none",
                    lambda v: None),
    "openset": (bool, "verify: also identify open-set probes against a gallery of the training people (each "
                "person's first 5 images enrol)", lambda v: None),
    "openset_train": (str, "verify, openset: the network (or PCA) learns from all the training people's images (all) "
                      "or only the enrolled ones (gallery: the known probes are then unseen images)",
                      one_of(("all", "gallery"))),
}
DEFAULTS = {
    "dataset": "orl", "task": "identify", "method": "cnn", "split": "random", "k": 5, "folds": 5, "downsample": 4,
    "channels": [16, 32, 64], "embed": 0, "mlp_hidden": [256], "dropout": 0.5, "epochs": 100, "batch_size": 20,
    "lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 5e-4, "schedule": "cosine", "max_shift": 3,
    "flip": True, "standardise": "dataset", "dtype": "float32", "pca_components": 50, "mirror_embedding": False,
    "quick": False,
    "head": "softmax", "cosface_scale": 30.0, "cosface_margin": 0.35,
    "arcface_scale": 30.0, "arcface_margin": 0.5, "arcface_easy_margin": False,  # ArcMarginProduct's defaults
    "triplet_margin": 0.2, "images_per_person": 0,  # FaceNet's margin on squared unit-embedding distances
    "path": "reference",
    "protocol": "test", "inner_fold": 0, "selected_by": "", "openset": False, "openset_train": "all",
}
# the settings of one head only (key -> its head)
HEAD_KEYS = {"cosface_scale": "cosface", "cosface_margin": "cosface", "arcface_scale": "arcface",
             "arcface_margin": "arcface", "arcface_easy_margin": "arcface", "triplet_margin": "triplet"}
# settings added after runs were recorded -> the value those runs had (left out of their identity)
FROZEN = {"head": "softmax", "images_per_person": 0, "path": "reference", "protocol": "test", "inner_fold": 0,
          "selected_by": "", "openset": False, "openset_train": "all", "standardise": "dataset"}
QUICK = {"epochs": 2, "quick": True}
QUICK_PEOPLE = 10


def check(where: str, out: dict) -> None:
    """The combinations of settings a run may have."""
    if out["task"] == "verify" and out["method"] not in VERIFY_METHODS:
        raise ConfigError(f"{where}: task verify compares embeddings of {list(VERIFY_METHODS)}, got method "
                          f"{out['method']!r}")
    if out["task"] == "twin" and out["method"] != "cnn":
        raise ConfigError(f"{where}: task twin trains the cnn against its torch twin, got method {out['method']!r}")
    if out["method"] == "fisherfaces" and out["k"] < 2:
        raise ConfigError(f"{where}: fisherfaces need at least 2 training images per person, got k = {out['k']}")
    if out["protocol"] == "validation" and (out["task"] == "twin" or (out["task"] == "identify" and out["k"] < 2)):
        raise ConfigError(f"{where}: protocol validation needs task identify with k >= 2 (one image validates) or "
                          f"task verify, got task {out['task']!r}, k = {out['k']}")
    check_inner_fold(where, out)
    if out["openset_train"] != "all" and not out["openset"]:
        raise ConfigError(f"{where}: openset_train {out['openset_train']!r} needs openset = true")
    if out["mirror_embedding"] and out["method"] not in NETWORKS:
        raise ConfigError(f"{where}: mirror_embedding sums a network's outputs for a face and its mirror image; "
                          f"method {out['method']!r} has no network (methods {', '.join(NETWORKS)})")
    if out["openset"] and out["task"] != "verify":
        raise ConfigError(f"{where}: openset identifies the unseen people of task verify, got task {out['task']!r}")
    check_head(where, out)


def check_inner_fold(where: str, out: dict) -> None:
    """An inner fold is a validation part: identify has k of them (one per training image of a person), verify
    folds - 1 (the other folds' people); a test run has none."""
    i = out["inner_fold"]
    if i and out["protocol"] != "validation":
        raise ConfigError(f"{where}: inner_fold {i} chooses a validation part, but protocol is {out['protocol']!r}")
    n = out["k"] if out["task"] == "identify" else out["folds"] - 1
    if out["protocol"] == "validation" and i >= n:
        raise ConfigError(f"{where}: inner_fold must be in 0..{n - 1} for task {out['task']!r} (k = {out['k']}, "
                          f"folds = {out['folds']}), got {i}")


def check_head(where: str, out: dict) -> None:
    """A head is the cnn's; the triplet head learns no classes (no identification) and needs person-balanced
    batches of at least 2 images a person (every anchor needs a positive)."""
    if out["head"] != "softmax" and out["method"] != "cnn":
        raise ConfigError(f"{where}: head {out['head']!r} is the cnn's output layer, got method {out['method']!r}")
    if out["head"] == "triplet" and out["task"] == "identify":
        raise ConfigError(f"{where}: head 'triplet' learns an embedding, not classes: task verify or twin, got task "
                          f"'identify'")
    if out["task"] == "twin":
        check_twin_loss(where, out)
    if out["head"] == "triplet" and out["images_per_person"] < 2:
        raise ConfigError(f"{where}: head 'triplet' needs images_per_person >= 2 (person-balanced batches, so that "
                          f"every anchor has a positive), got {out['images_per_person']}")


def check_twin_loss(where: str, out: dict) -> None:
    """A twin run trains the torch twin on the twin of the network's own loss: refuse a loss that has none."""
    from framework import LOSS_TWINS  # the names of framework.tables.TORCH_LOSSES, without importing torch

    loss = head_loss(out)
    name = "cross_entropy" if loss is None else loss.name
    if name not in LOSS_TWINS:
        raise ConfigError(f"{where}: task twin with head {out['head']!r}: its loss {name!r} has no torch twin "
                          f"(framework/tables.py TORCH_LOSSES: {', '.join(LOSS_TWINS)})")


def applies(key: str, cfg: dict) -> bool:
    """A head's own settings exist only in the runs with that head; the NumPy path only where a network trains."""
    if key == "path":
        return cfg["method"] in ("cnn", "mlp")
    return not (key in HEAD_KEYS and HEAD_KEYS[key] != cfg["head"])


def raw_faces(cfg: dict) -> tuple[np.ndarray, np.ndarray]:
    """The run's dataset as stored: uint8 images (N, H, W) and labels (the first 10 people if quick)."""
    from experiments.data import load

    ds = load(cfg["dataset"])
    keep = ds.labels < QUICK_PEOPLE if cfg["quick"] else np.ones(len(ds.labels), dtype=bool)
    return ds.images[keep], np.asarray(ds.labels[keep])


def load_faces(cfg: dict) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 1, H, W) float64 at the run's resolution (in [0, 1], or levelled per image), and labels (the
    first 10 people if quick)."""
    faces, labels = raw_faces(cfg)
    return images.network_input(faces, cfg), labels


def network(cfg: dict, input_shape: tuple, classes: int):
    if cfg["method"] == "cnn":
        return models.face_cnn(input_shape, classes, tuple(cfg["channels"]), cfg["embed"], cfg["dropout"],
                               head_loss(cfg))
    return models.pixel_mlp(input_shape, classes, tuple(cfg["mlp_hidden"]), cfg["dropout"])


def head_loss(cfg: dict) -> Loss | None:
    """The loss of the run's head (None: the softmax cross-entropy)."""
    head = cfg.get("head", "softmax")
    if head == "cosface":
        return am_softmax(cfg["cosface_scale"], cfg["cosface_margin"])
    if head == "arcface":
        return arcface_loss(cfg["arcface_scale"], cfg["arcface_margin"], cfg["arcface_easy_margin"])
    if head == "triplet":
        return triplet_loss(cfg["triplet_margin"])
    return None


def sample_order(cfg: dict, seed: int, labels: np.ndarray):
    """epoch -> the order of the training images: person-balanced groups, or the cnn kind's permutations."""
    if cfg.get("images_per_person", 0):
        return sampling.order_function(labels, cfg["images_per_person"], seed)
    return lambda epoch: order_for(seed, epoch, len(labels))


def recipe(cfg: dict, seed: int) -> Recipe:
    from experiments.faces.engine import Recipe

    sched = schedules.CosineAnnealingLR(cfg["epochs"]) if cfg["schedule"] == "cosine" else schedules.Constant()
    opt = optim.SGD(momentum=cfg["momentum"], nesterov=cfg["nesterov"] and cfg["momentum"] > 0,
                    weight_decay=cfg["weight_decay"])
    return Recipe(opt, cfg["lr"], sched, cfg["batch_size"], cfg["max_shift"], cfg["flip"], seed)


def face_data(cfg: dict, x: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray) -> ImageData:
    """Standardised with the training pixels' mean and std; labels renumbered 0.. over the training people."""
    mean, std = images.standardiser(x[train])
    dtype = np.dtype(cfg["dtype"])
    people, y_train = np.unique(y[train], return_inverse=True)
    y_test = np.searchsorted(people, y[test])  # meaningful only for people who train (identify)
    return ImageData(((x[train] - mean) / std).astype(dtype), y_train, ((x[test] - mean) / std).astype(dtype), y_test)


def numpy_engine(cfg: dict, seed: int, data: ImageData) -> NumpyFaces:
    """The NumPy engine of a network run, its layers on the run's path (reference or fast)."""
    from experiments.engines.fast import on_path
    from experiments.faces.engine import NumpyFaces

    model = on_path(network(cfg, data.X_train.shape[1:], int(data.y_train.max()) + 1), cfg.get("path", "reference"))
    params, state = model.init(np.random.default_rng([seed, 0]), np.dtype(cfg["dtype"]))
    return NumpyFaces(model, params, state, data, recipe(cfg, seed))


def train_network(spec, out, cfg: dict, data: ImageData, progress: bool) -> tuple[NumpyFaces, dict]:
    """Train the run's network through the shared loop (resumable from its checkpoint)."""
    from experiments.train import train

    engine = numpy_engine(cfg, spec.seed, data)
    curve = out.curves(spec.experiment) / f"{spec.variant}__{spec.run_id}.csv"
    result = train(engine, run_id=spec.run_id, label=spec.label, epochs=cfg["epochs"], batch_size=cfg["batch_size"],
                   n_train=len(data.X_train), order_for=sample_order(cfg, spec.seed, data.y_train),
                   checkpoint=out.checkpoints / f"{spec.run_id}.npz", curve_path=curve, progress=progress)
    return engine, {**result, "curve": out.shown(curve)}


def identification_indices(cfg: dict, y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) of the run's protocol: under "validation", (train, validation) out of the k training images."""
    train, test = splits.identification(y, cfg["split"], seed)
    train = splits.first_k(train, y, cfg["k"])
    if cfg.get("protocol") == "validation":
        return splits.identification_validation(train, y, cfg.get("inner_fold", 0))
    return train, test


def verification_indices(cfg: dict, y: np.ndarray, fold: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) people's images of the fold; under "validation", (train, validation) out of its training people."""
    if cfg.get("protocol") == "validation":
        return splits.verification_validation(y, fold, cfg["folds"], inner=cfg.get("inner_fold", 0))
    return splits.verification(y, fold, cfg["folds"])


def identify(spec, out, cfg: dict, progress: bool) -> list[dict]:
    import pandas as pd

    x, y = load_faces(cfg)
    train, test = identification_indices(cfg, y, spec.seed)
    t0 = time.perf_counter()
    if cfg["method"] in NETWORKS:
        engine, result = train_network(spec, out, cfg, face_data(cfg, x, y, train, test), progress)
        prob = engine.probabilities(engine.data.X_test, cfg["mirror_embedding"])
        pred, conf = np.argmax(prob, axis=1), np.max(prob, axis=1)
    else:
        pred, conf, _ = baselines.fit_predict(cfg["method"], x[train], y[train], x[test], cfg["pca_components"])
        result = {"engine": "scikit-learn", "status": "ok"}
    seconds = time.perf_counter() - t0
    correct = pred == y[test]
    path = out.curves(spec.experiment) / f"{spec.variant}__{spec.run_id}__predictions.csv"
    write_csv_atomic(pd.DataFrame({"image": test, "label": y[test], "predicted": pred, "confidence": conf}), path)
    return [{**result, "impl": "numpy" if cfg["method"] in NETWORKS else "scikit-learn",
             "accuracy": float(np.mean(correct)), "error": float(np.mean(~correct)), "n_train": len(train),
             "n_test": len(test), "seconds": seconds, "predictions": out.shown(path)}]


def cnn_embedder(engine: NumpyFaces, cfg: dict, x: np.ndarray, train: np.ndarray):
    """indices -> the trained CNN's embeddings of those faces (standardised as in training; with
    mirror_embedding, the sum of the face's and its mirror image's embeddings)."""
    mean, std = images.standardiser(x[train])
    embedder = models.embedding_model(engine.model)

    def embed(idx: np.ndarray) -> np.ndarray:
        faces = ((x[idx] - mean) / std).astype(cfg["dtype"])
        e = engine.logits(faces, embedder)
        return e + engine.logits(np.ascontiguousarray(faces[..., ::-1]), embedder) if cfg["mirror_embedding"] else e
    return embed


def embedding_function(spec, out, cfg: dict, x, y, train, test, progress: bool):
    """(indices -> embeddings, result columns) of the run's method, fitted on the training people."""
    if cfg["method"] == "cnn":
        data = face_data(cfg, x, y, train, test)
        data = ImageData(data.X_train, data.y_train, data.X_test[:0], data.y_test[:0])  # no identities to test
        engine, result = train_network(spec, out, cfg, data, progress)
        return cnn_embedder(engine, cfg, x, train), result
    _, _, pipe = baselines.fit_predict(cfg["method"], x[train], y[train], x[train[:1]], cfg["pca_components"])
    return (lambda idx: baselines.features(pipe, x[idx].reshape(len(idx), -1))), {"engine": "scikit-learn",
                                                                                  "status": "ok"}


def open_set(spec, out, embed, y: np.ndarray, train: np.ndarray, test: np.ndarray) -> dict:
    """The open-set probes of the run: its training people enrol their first 5 images; their other images
    (known) and the test people's images (unknown) probe. Each probe's best gallery match goes to a file."""
    import pandas as pd

    gallery, known = splits.gallery_probes(train, y)
    probes = np.concatenate([known, test])
    best, match = metrics.best_matches(embed(gallery), y[gallery], embed(probes))
    path = out.curves(spec.experiment) / f"{spec.variant}__{spec.run_id}__probes.csv"
    write_csv_atomic(pd.DataFrame({"image": probes, "label": y[probes], "known": np.isin(probes, known),
                                   "best_score": best, "best_label": match}), path)
    return {"gallery_size": len(gallery), "probes_known": len(known), "probes_unknown": len(test),
            "probes": out.shown(path)}


def verify(spec, out, cfg: dict, progress: bool) -> list[dict]:
    import pandas as pd

    x, y = load_faces(cfg)
    folds = cfg["folds"]
    if spec.seed >= folds:
        raise ConfigError(f"{spec.label}: task verify takes the fold as its seed, 0..{folds - 1}, got {spec.seed}")
    train, test = verification_indices(cfg, y, spec.seed)
    # openset_train "gallery": only the enrolled images train, so the known probes are faces never seen
    fit = splits.gallery_probes(train, y)[0] if cfg.get("openset_train", "all") == "gallery" else train
    t0 = time.perf_counter()
    embed, result = embedding_function(spec, out, cfg, x, y, fit, test, progress)
    embedded = embed(test)
    seconds = time.perf_counter() - t0
    i, j, score, same = metrics.pair_scores(embedded, y[test])
    path = out.curves(spec.experiment) / f"{spec.variant}__{spec.run_id}__pairs.csv"
    write_csv_atomic(pd.DataFrame({"i": test[i], "j": test[j], "score": score, "same": same}), path)
    extra = open_set(spec, out, embed, y, train, test) if cfg.get("openset") else {}
    return [{**result, "impl": "numpy" if cfg["method"] == "cnn" else "scikit-learn",
             **metrics.verification(score, same), "fold": spec.seed, "n_train": len(fit), "n_test": len(test),
             "seconds": seconds, "pairs": out.shown(path), **extra}]


def lockstep(cfg: dict, seed: int) -> tuple[NumpyFaces, TorchTwinFaces, list[dict], float]:
    """The NumPy CNN and its torch twin from identical weights, trained in lockstep on identical batches
    (augmented images and dropout masks shared): (the two engines, per-epoch curve, the largest parameter
    difference after any step)."""
    from experiments.faces.engine import TorchTwinFaces, lockstep_epoch

    x, y = load_faces(cfg)
    train, test = identification_indices(cfg, y, seed)
    ne = numpy_engine(cfg, seed, face_data(cfg, x, y, train, test))
    te = TorchTwinFaces(ne)
    curve, worst = [], 0.0
    order = sample_order(cfg, seed, ne.data.y_train)
    for epoch in range(1, cfg["epochs"] + 1):
        ln, lt, w = lockstep_epoch(ne, te, order(epoch), epoch)
        worst = max(worst, w)
        curve.append({"epoch": epoch, "numpy_loss": ln, "torch_loss": lt, "numpy_test_acc": ne.accuracy(),
                      "torch_test_acc": te.accuracy(), "max_weight_diff": w})
    return ne, te, curve, worst


def twin(spec, out, cfg: dict, progress: bool) -> list[dict]:
    """Rows of the lockstep run: accuracies, losses and the weight differences."""
    import pandas as pd

    from experiments.faces.engine import differences

    t0 = time.perf_counter()
    ne, te, curve, worst = lockstep(cfg, spec.seed)
    path = out.curves(spec.experiment) / f"{spec.variant}__{spec.run_id}.csv"
    write_csv_atomic(pd.DataFrame(curve), path)
    n_train, n_test = len(ne.data.X_train), len(ne.data.X_test)
    final_params, final_stats = differences(ne, te)
    common = {"steps": cfg["epochs"] * -(-n_train // cfg["batch_size"]), "max_weight_diff": worst,
              "final_weight_diff": final_params, "final_state_diff": final_stats,
              "seconds": time.perf_counter() - t0, "curve": out.shown(path), "n_train": n_train, "n_test": n_test}
    last = curve[-1]
    return [{"impl": "numpy", "accuracy": last["numpy_test_acc"], "final_train_loss": last["numpy_loss"], **common},
            {"impl": "torch", "accuracy": last["torch_test_acc"], "final_train_loss": last["torch_loss"], **common}]


def execute(spec, out, *, progress: bool = False) -> list[dict]:
    """One run of kind faces; its rows (one; two for the twin, numpy and torch)."""
    cfg = spec.config
    return {"identify": identify, "verify": verify, "twin": twin}[cfg["task"]](spec, out, cfg, progress)


KIND = Kind(name="faces", table=TABLE, run_keys=RUN_KEYS, defaults=DEFAULTS, execute=execute, check=check,
            quick_settings=QUICK, frozen=FROZEN, applies=applies, reports={"faces": "experiments.faces.report:report",
                                                                 "selection": "experiments.faces.selection:report",
                                                                 "openset": "experiments.faces.openset:report"},
            metrics=("accuracy", "eer", "auc", "final_train_loss"),
            bench=("experiments.faces.bench:rows", "experiments.faces.bench_fast:rows"),
            equivalence=("experiments.faces.equivalence:rows", "experiments.faces.jax_twin:rows"),
            cli=("experiments.faces.identify:register",))
KINDS = (KIND,)
validate, quick = KIND.validate, KIND.quick
