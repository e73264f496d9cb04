"""The classic ORL baselines with scikit-learn: raw-pixel 1-NN, eigenfaces (PCA) + 1-NN, fisherfaces
(PCA + LDA) + 1-NN. Each is a pipeline fitted on flattened pixels.

Confidence of a 1-NN decision (for rejection): 1 - d1 / d2, with d1 the distance to the nearest
training image and d2 the distance to the nearest image of any other person (0: a tie, 1: an exact match).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # scikit-learn is imported where it is used: the CLI starts without it
    from sklearn.pipeline import Pipeline

METHODS = ("pixels", "eigenfaces", "fisherfaces")


def pipeline(method: str, n_train: int, n_classes: int, pca_components: int) -> Pipeline:
    """The unfitted pipeline of `method`.

    eigenfaces: PCA to min(pca_components, n_train) components. fisherfaces (Belhumeur et al. 1997): PCA to
    m = min(pca_components, (n_train - n_classes) // 2) components, then LDA to min(n_classes - 1, m).
    Belhumeur's m = n_train - n_classes leaves the within-class scatter (of rank n_train - n_classes) barely
    invertible, and LDA then fits noise; half of it keeps two degrees of freedom per dimension. Undefined
    with one image per person (ValueError).
    """
    from sklearn.decomposition import PCA
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline

    nn1 = KNeighborsClassifier(n_neighbors=1)
    if method == "pixels":
        return make_pipeline(nn1)
    if method == "eigenfaces":
        return make_pipeline(PCA(min(pca_components, n_train), random_state=0), nn1)
    if method == "fisherfaces":
        if n_train - n_classes < 2:
            raise ValueError(f"fisherfaces need more than one image per person: {n_train} images of {n_classes} people")
        m = min(pca_components, (n_train - n_classes) // 2)
        return make_pipeline(PCA(m, random_state=0), LinearDiscriminantAnalysis(n_components=min(n_classes - 1, m)),
                             nn1)
    raise ValueError(f"method must be one of {METHODS}, got {method!r}")


def features(pipe: Pipeline, x: np.ndarray) -> np.ndarray:
    """x through every fitted step but the final classifier (the space the 1-NN compares in)."""
    return pipe[:-1].transform(x) if len(pipe) > 1 else x


def confidence_1nn(train_f: np.ndarray, train_y: np.ndarray, test_f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(predicted label, confidence 1 - d1 / d2) of 1-NN for every test row."""
    from sklearn.metrics import pairwise_distances

    d = pairwise_distances(test_f, train_f)
    nearest = d.argmin(axis=1)
    pred = train_y[nearest]
    d1 = d[np.arange(len(d)), nearest]
    d2 = np.where(train_y[None, :] == pred[:, None], np.inf, d).min(axis=1)
    return pred, 1.0 - d1 / np.maximum(d2, np.finfo(float).tiny)


def fit_predict(method: str, x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray,
                pca_components: int = 50) -> tuple[np.ndarray, np.ndarray, Pipeline]:
    """Fit `method` on flattened training images; (predictions, confidences, fitted pipeline) on the test images."""
    xt, xs = x_train.reshape(len(x_train), -1), x_test.reshape(len(x_test), -1)
    pipe = pipeline(method, len(xt), len(np.unique(y_train)), pca_components).fit(xt, y_train)
    pred, conf = confidence_1nn(features(pipe, xt), np.asarray(y_train), features(pipe, xs))
    return pred, conf, pipe
