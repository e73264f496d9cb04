"""The MNIST family's kinds, for the registry (experiments/kinds.py)."""

from experiments.mnist.cnn import KIND as CNN
from experiments.mnist.mlp import KIND as MLP

KINDS = (MLP, CNN)
