"""Person-balanced sample orders: mini-batches made of groups of several images of one person (Hermans et al.
2017's P x K batches), so that every anchor of a batch-hard triplet loss finds positives in its batch.

One epoch's order: each person's images are shuffled and cut into groups of K (a person's last group is
smaller when K does not divide their count), the groups are shuffled, and the order is the groups one after
another. It is a permutation of all the training images, so an epoch still sees each image once. When every
person's count is a multiple of K and the batch size a multiple of K (ORL's 10 or 5 images a person, K = 5,
batches of 20), every mini-batch is batch_size / K whole groups: P = 4 people x K = 5 images.
"""

from __future__ import annotations

import numpy as np


def person_balanced_order(labels: np.ndarray, per_person: int, rng: np.random.Generator) -> np.ndarray:
    """An epoch's order of the indices of `labels`, in shuffled groups of `per_person` images of one person."""
    labels = np.asarray(labels)
    if per_person < 1:
        raise ValueError(f"person_balanced_order: per_person must be >= 1, got {per_person}")
    groups = []
    for person in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == person))
        groups += [idx[i:i + per_person] for i in range(0, len(idx), per_person)]
    return np.concatenate([groups[g] for g in rng.permutation(len(groups))]) if groups else np.zeros(0, np.int64)


def order_function(labels: np.ndarray, per_person: int, seed: int):
    """epoch -> order: person-balanced from default_rng([seed, 1, epoch]) (each epoch its own generator, so a
    resumed run continues as an uninterrupted one)."""
    return lambda epoch: person_balanced_order(labels, per_person, np.random.default_rng([seed, 1, epoch]))
