"""Rejection and verification measures (scikit-learn's ROC machinery).

Rejection: the test images are ordered by confidence; rejecting the least confident fraction r leaves
the others, whose error is the error at r (Lawrence et al. 1997, figure of error against rejection).

Verification: every unordered pair of test images gets the cosine similarity of their embeddings;
pairs of one person are positives. ROC AUC, the equal error rate (where the false-accept rate equals
the false-reject rate, interpolated linearly on the ROC curve) and the true-accept rate at a 1% false-accept
rate (the highest TPR whose FPR is at most 1%).
"""

from __future__ import annotations

import numpy as np


def rejection_curve(confidence: np.ndarray, correct: np.ndarray, fractions: np.ndarray) -> np.ndarray:
    """Error among the kept images when the least confident `fractions` of them are rejected (ties keep
    their order of appearance). A fraction that rejects everything gives NaN."""
    confidence, correct = np.asarray(confidence, dtype=float), np.asarray(correct, dtype=bool)
    order = np.argsort(confidence, kind="stable")
    n = len(order)
    out = []
    for f in fractions:
        kept = order[int(round(f * n)):]
        out.append(float(np.mean(~correct[kept])) if len(kept) else float("nan"))
    return np.array(out)


def pair_scores(embeddings: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(i, j, cosine similarity, same person) of every pair i < j."""
    from sklearn.metrics.pairwise import cosine_similarity  # here: the CLI starts without scikit-learn

    sim = cosine_similarity(embeddings.reshape(len(embeddings), -1))
    i, j = np.triu_indices(len(embeddings), k=1)
    labels = np.asarray(labels)
    return i, j, sim[i, j], labels[i] == labels[j]


def verification(scores: np.ndarray, same: np.ndarray) -> dict:
    """{auc, eer, tar_at_far1}, plus the numbers of positive and negative pairs."""
    from sklearn.metrics import roc_auc_score, roc_curve

    fpr, tpr, _ = roc_curve(same, scores)
    fnr = 1.0 - tpr
    k = int(np.flatnonzero(fnr <= fpr)[0])  # first threshold where false rejects fall to the false accepts
    if k == 0 or fnr[k] == fpr[k]:
        eer = float(fpr[k])
    else:  # the two rates cross between points k - 1 and k of the curve
        d0, d1 = fnr[k - 1] - fpr[k - 1], fnr[k] - fpr[k]
        t = d0 / (d0 - d1)
        eer = float(fpr[k - 1] + t * (fpr[k] - fpr[k - 1]))
    return {"auc": float(roc_auc_score(same, scores)), "eer": eer,
            "tar_at_far1": float(tpr[fpr <= 0.01].max()), "pairs_same": int(np.sum(same)),
            "pairs_different": int(np.sum(~np.asarray(same)))}
