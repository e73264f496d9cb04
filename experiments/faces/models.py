"""The face networks as reference Sequential models (reference/sequential.py), built from a run's settings.

face_cnn: blocks of [3x3 convolution (padding 1), batch norm, ReLU, 2x2 max pooling], one per entry
of `channels`, then flatten, dropout, optionally a hidden dense layer with batch norm, ReLU and dropout
(the embedding used for verification), and a dense output layer with one unit per person. With a margin
softmax head (CosFace's am_softmax or ArcFace's additive angular margin, reference/losses.py), the output is a
cosine layer (reference/cosine.py) trained by that loss; with a pairwise head (the batch-hard triplet loss), the
output is the L2-normalised embedding itself (an L2Normalize layer, no per-person units). Either way the
embedding layer has no ReLU.
pixel_mlp: flatten, then dense + ReLU layers of the widths in `hidden`, dropout, dense output.
"""

from __future__ import annotations

from reference import conv_shapes as cs
from reference import sequential as seq
from reference.losses import Loss


def face_cnn(input_shape: tuple[int, int, int], classes: int, channels: tuple[int, ...], hidden: int = 0,
             dropout: float = 0.5, head: Loss | None = None) -> seq.Sequential:
    """The face CNN for inputs (C, H, W); each pooling halves H and W (floor). head: None for dense + softmax
    cross-entropy; a margin softmax Loss (am_softmax, arcface) for a cosine output layer trained by it; a pairwise
    Loss (triplet) for the L2-normalised embedding as the output."""
    c, h, w = input_shape
    layers = []
    for i, c_out in enumerate(channels, start=1):
        h, w = cs.output_shape((h, w), (2, 2), (0, 0, 0, 0), (2, 2))
        if min(h, w) < 1:
            raise ValueError(f"face_cnn: input {tuple(input_shape)} is too small for {len(channels)} poolings")
        layers += [seq.Conv2d(c, c_out, 3, padding=1, name=f"conv{i}"), seq.BatchNorm2d(c_out, name=f"bn{i}"),
                   seq.Activation("relu", name=f"relu{i}"), seq.MaxPool2d(2, name=f"pool{i}")]
        c = c_out
    width = c * h * w
    layers += [seq.Flatten(name="flatten"), seq.Dropout(dropout, name="dropout1")]
    if hidden:
        # a cosine head compares directions over the whole space, so its embedding is not cut to the positive orthant
        relu = () if head else (seq.Activation("relu", name="relu_embed"),)
        layers += [seq.Dense(width, hidden, name="embed"), seq.BatchNorm1d(hidden, name="bn_embed"), *relu,
                   seq.Dropout(dropout, name="dropout2")]
        width = hidden
    if head is not None and head.pairwise:
        return seq.Sequential(tuple(layers) + (seq.L2Normalize(name="out"),), head)
    if head is not None:
        return seq.Sequential(tuple(layers) + (seq.CosineDense(width, classes, name="out"),), head)
    layers += [seq.Dense(width, classes, gain=1.0, name="out")]
    return seq.Sequential(tuple(layers))


def pixel_mlp(input_shape: tuple[int, int, int], classes: int, hidden: tuple[int, ...],
              dropout: float = 0.5) -> seq.Sequential:
    """An MLP on the flattened pixels: dense + ReLU per hidden width, dropout, dense output."""
    d = 1
    for n in input_shape:
        d *= n
    layers = [seq.Flatten(name="flatten")]
    for i, n in enumerate(hidden, start=1):
        layers += [seq.Dense(d, n, name=f"dense{i}"), seq.Activation("relu", name=f"relu{i}")]
        d = n
    layers += [seq.Dropout(dropout, name="dropout"), seq.Dense(d, classes, gain=1.0, name="out")]
    return seq.Sequential(tuple(layers))


def embedding_model(model: seq.Sequential) -> seq.Sequential:
    """The model without its output layer: what it computes is the embedding compared for verification."""
    return seq.Sequential(model.layers[:-1])
