"""Who trains and who tests: Lawrence et al.'s 5/5 identification splits, k images per person, folds over people.

Indices refer to the ORL array (person-major, labels 0..39). Every split is a pure function of its
arguments, so each method of a comparison sees exactly the same images.
"""

from __future__ import annotations

import numpy as np

SPLITS = ("random", "first5")


def per_person(labels: np.ndarray) -> list[np.ndarray]:
    """The indices of each person's images, in array order, person 0 first."""
    labels = np.asarray(labels)
    return [np.flatnonzero(labels == p) for p in range(int(labels.max()) + 1)]


def identification(labels: np.ndarray, split: str, seed: int, n_train: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) indices: n_train images of each person train, the others test.

    split "first5": each person's first n_train images train (Lawrence's fixed split); "random": each
    person's images are permuted by default_rng(seed) (people in order), the first n_train of the
    permutation train. The training indices keep that order, so train[:k] per person is a k-image subset.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    rng = np.random.default_rng(seed)
    train, test = [], []
    for idx in per_person(labels):
        if n_train >= len(idx):
            raise ValueError(f"n_train {n_train} leaves no test image for a person with {len(idx)} images")
        order = idx if split == "first5" else idx[rng.permutation(len(idx))]
        train.append(order[:n_train])
        test.append(order[n_train:])
    return np.concatenate(train), np.concatenate(test)


def first_k(train: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """The first k training images of each person (in the order `train` lists them)."""
    labels = np.asarray(labels)
    out = [train[labels[train] == p][:k] for p in np.unique(labels[train])]
    short = [len(o) for o in out if len(o) < k]
    if short:
        raise ValueError(f"k = {k} images per person asked, but a person has only {min(short)} training images")
    return np.concatenate(out)


def people_folds(n_people: int, folds: int, seed: int = 0) -> list[np.ndarray]:
    """Test people of each fold: the people permuted by default_rng(seed), cut into `folds` equal parts."""
    if folds < 2 or n_people % folds:
        raise ValueError(f"{n_people} people cannot be cut into {folds} equal folds")
    perm = np.random.default_rng(seed).permutation(n_people)
    return list(perm.reshape(folds, -1))


def verification(labels: np.ndarray, fold: int, folds: int = 5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) image indices of a fold over people: the test people's images never train."""
    labels = np.asarray(labels)
    n_people = int(labels.max()) + 1
    if not 0 <= fold < folds:
        raise ValueError(f"fold must be in 0..{folds - 1}, got {fold}")
    test_people = people_folds(n_people, folds, seed)[fold]
    is_test = np.isin(labels, test_people)
    return np.flatnonzero(~is_test), np.flatnonzero(is_test)


# Validation carved out of the training part (nested model selection): the test part is never touched.
PROTOCOLS = ("test", "validation")


def identification_validation(train: np.ndarray, labels: np.ndarray, inner: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(train, validation) out of a split's training indices: each person's (inner + 1)-th last training image
    (in the order `train` lists them: the split's permutation for "random") validates, the others train.

    With the 5/5 splits: 4 images per person train, 1 validates (40 validation images per split); inner
    0..4 are the 5 inner folds, inner 0 (the last image) the first.
    """
    labels = np.asarray(labels)
    fit, val = [], []
    for p in np.unique(labels[train]):
        mine = train[labels[train] == p]
        if len(mine) < 2:
            raise ValueError(f"person {p} has {len(mine)} training image(s); validation needs at least 2")
        if not 0 <= inner < len(mine):
            raise ValueError(f"inner fold {inner} asked, but person {p} has {len(mine)} training images")
        at = len(mine) - 1 - inner
        fit.append(np.delete(mine, at))
        val.append(mine[at:at + 1])
    return np.concatenate(fit), np.concatenate(val)


def validation_people(n_people: int, fold: int, folds: int = 5, seed: int = 0, inner: int = 0) -> np.ndarray:
    """The validation people of a verification fold: the test people of fold (fold + 1 + inner) mod folds.

    They are among the fold's training people (folds are disjoint), as many as its test people; inner
    0..folds-2 are the inner folds (each training person validates in exactly one), and with inner 0 each
    person validates exactly one outer fold.
    """
    if not 0 <= inner < folds - 1:
        raise ValueError(f"inner fold must be in 0..{folds - 2} with {folds} folds, got {inner}")
    return people_folds(n_people, folds, seed)[(fold + 1 + inner) % folds]


def verification_validation(labels: np.ndarray, fold: int, folds: int = 5, seed: int = 0,
                            inner: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(train, validation) image indices inside a verification fold's training people: the validation
    people's images (validation_people) never train; the fold's test people are in neither part."""
    labels = np.asarray(labels)
    train, _ = verification(labels, fold, folds, seed)
    is_val = np.isin(labels[train], validation_people(int(labels.max()) + 1, fold, folds, seed, inner))
    return train[~is_val], train[is_val]


def gallery_probes(indices: np.ndarray, labels: np.ndarray, n_gallery: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """(gallery, probes) of enrolled people for open-set identification: each person's first n_gallery
    images (in array order) enrol, the others probe."""
    labels = np.asarray(labels)
    gallery, probes = [], []
    for p in np.unique(labels[indices]):
        mine = np.sort(indices[labels[indices] == p])
        if len(mine) <= n_gallery:
            raise ValueError(f"person {p} has {len(mine)} image(s); enrolling {n_gallery} leaves no probe")
        gallery.append(mine[:n_gallery])
        probes.append(mine[n_gallery:])
    return np.concatenate(gallery), np.concatenate(probes)
