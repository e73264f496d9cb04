"""Data sets by name: ``fetch(name)`` puts a verified copy in the cache, ``load(name)`` returns a :class:`Dataset`.

=========  =========================================  ======================  =================================
name       arrays                                     cache folder            variables (cache, source folder)
=========  =========================================  ======================  =================================
``mnist``  60,000 + 10,000 images 28 x 28, 10 classes  ``./data/MNIST/raw``    ``MNIST_DIR``, ``MNIST_SOURCE``
``orl``    400 faces 112 x 92, 40 people, no split     ``./data/ORL``          ``ORL_DIR``, ``ORL_SOURCE``
``cbcl``   6,977 images 19 x 19, face (1) / non-face   ``./data/CBCL``         ``CBCL_DIR``, ``CBCL_SOURCE``
``lfw-     200 images 25 x 25 float64, face / non-face ``./data/LFW_SUBSET``   ``LFW_SUBSET_DIR``, ``..._SOURCE``
subset``
=========  =========================================  ======================  =================================

``cache_dir`` (CLI ``--cache-dir``) overrides the variable, which overrides the default under the
project folder; ``source_dir`` (CLI ``--source-dir``) names a folder holding the original files,
tried before any download.  Every file is checked against its SHA-256 on every load
(:mod:`experiments.data.cache`).  Errors a user can cause are :class:`DataError` (a ``ValueError``)
with one line naming the file, folder or variable and the numbers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from experiments.data.cache import CacheDirError, ChecksumError, DataError, FetchError

__all__ = ["NAMES", "CacheDirError", "ChecksumError", "DataError", "Dataset", "FetchError", "fetch", "load"]

#: Data set names, the default first.
NAMES = ("mnist", "orl", "cbcl", "lfw-subset")


@dataclass(frozen=True)
class Dataset:
    """Images (N, H, W) uint8 and labels (N,) int64 in 0..classes-1, with the data set's fixed split if it has one.

    ``split`` is the number of leading samples that form the training set (MNIST: 60,000), or None
    when the data set has no fixed split (ORL: splits are chosen by the experiment).
    ``input_shape`` is one sample as a network sees it, NCHW without N: (1, H, W).
    """

    name: str
    images: np.ndarray
    labels: np.ndarray
    classes: int
    split: int | None = None

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (1, *self.images.shape[1:])

    def _split(self) -> int:
        if self.split is None:
            raise DataError(f"data set {self.name!r} has no fixed train/test split; use images and labels")
        return self.split

    @property
    def train_x(self) -> np.ndarray:
        return self.images[: self._split()]

    @property
    def train_y(self) -> np.ndarray:
        return self.labels[: self._split()]

    @property
    def test_x(self) -> np.ndarray:
        return self.images[self._split() :]

    @property
    def test_y(self) -> np.ndarray:
        return self.labels[self._split() :]


def _module(name: str):
    if name == "mnist":
        from experiments.data import mnist

        return mnist
    if name == "orl":
        from experiments.data import orl

        return orl
    if name in ("cbcl", "lfw-subset"):
        from experiments.data import cbcl, lfw_subset

        return cbcl if name == "cbcl" else lfw_subset
    raise DataError(f"unknown data set {name!r}; known: {', '.join(NAMES)}")


def fetch(
    name: str = "mnist",
    *,
    cache_dir: str | os.PathLike | None = None,
    source_dir: str | os.PathLike | None = None,
    progress: bool = True,
) -> Path:
    """Put a verified copy of data set ``name`` into its cache folder (fetching what is missing or corrupt).

    Returns the cache folder.
    """
    return _module(name).fetch_and_verify(cache_dir=cache_dir, source_dir=source_dir, progress=progress)


def load(
    name: str,
    *,
    cache_dir: str | os.PathLike | None = None,
    source_dir: str | os.PathLike | None = None,
    progress: bool = False,
) -> Dataset:
    """Data set ``name`` as a :class:`Dataset`, fetched into the cache first if needed; verified on every call."""
    module = _module(name)
    if name == "mnist":
        m = module.load_mnist(cache_dir, source_dir, progress=progress)
        images = np.concatenate([m.train_images, m.test_images])
        labels = np.concatenate([m.train_labels, m.test_labels]).astype(np.int64)
        return Dataset("mnist", images, labels, classes=10, split=len(m.train_images))
    if name == "orl":
        images, labels = module.load_orl(cache_dir, source_dir, progress=progress)
        return Dataset("orl", images, labels, classes=module.PEOPLE)
    loader = module.load_cbcl if name == "cbcl" else module.load_lfw_subset
    images, labels = loader(cache_dir, source_dir, progress=progress)
    return Dataset(name, images, labels, classes=2)  # lfw-subset's images are float64 in [0, 1]
