"""Activation functions theta and their derivatives theta' (study 1.3.2).

Each activation is a pair of pure functions of the signal s (any shape):
    theta(s)        the layer's output before the bias node is prepended,
    theta_prime(s)  d theta / d s, element-wise.
Derivatives at kinks follow PyTorch's autograd: ReLU'(0) = 0 and sign'(s) = 0 everywhere;
because sign' is zero the network cannot be trained through sign, and backpropagation refuses to
try (see backprop.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


def identity(s: np.ndarray) -> np.ndarray:
    """theta(s) = s."""
    return s


def identity_prime(s: np.ndarray) -> np.ndarray:
    """theta'(s) = 1."""
    return np.ones_like(s)


def sign(s: np.ndarray) -> np.ndarray:
    """theta(s) = sign(s) in {-1, 0, +1} (the perceptron's hard threshold)."""
    return np.sign(s)


def sign_prime(s: np.ndarray) -> np.ndarray:
    """theta'(s) = 0 (PyTorch's derivative of sign, defined everywhere)."""
    return np.zeros_like(s)


def sigmoid(s: np.ndarray) -> np.ndarray:
    """theta(s) = 1 / (1 + e^-s), computed without overflow for large |s|."""
    z = np.exp(-np.abs(s))
    return np.where(s >= 0, 1.0 / (1.0 + z), z / (1.0 + z)).astype(s.dtype, copy=False)


def sigmoid_prime(s: np.ndarray) -> np.ndarray:
    """theta'(s) = theta(s) (1 - theta(s))."""
    t = sigmoid(s)
    return t * (1.0 - t)


def tanh(s: np.ndarray) -> np.ndarray:
    """theta(s) = tanh(s) = (e^s - e^-s) / (e^s + e^-s)."""
    return np.tanh(s)


def tanh_prime(s: np.ndarray) -> np.ndarray:
    """theta'(s) = 1 - tanh(s)^2."""
    t = np.tanh(s)
    return 1.0 - t * t


def relu(s: np.ndarray) -> np.ndarray:
    """theta(s) = max(0, s)."""
    return np.maximum(s, 0)


def relu_prime(s: np.ndarray) -> np.ndarray:
    """theta'(s) = 1 if s > 0 else 0 (so ReLU'(0) = 0, as in PyTorch)."""
    return (s > 0).astype(s.dtype)


@dataclass(frozen=True)
class Activation:
    """A named pair (theta, theta'); `trainable` is False when theta' carries no information."""

    name: str
    theta: Callable[[np.ndarray], np.ndarray]
    theta_prime: Callable[[np.ndarray], np.ndarray]
    trainable: bool = True


ACTIVATIONS: dict[str, Activation] = {
    "identity": Activation("identity", identity, identity_prime),
    "sign": Activation("sign", sign, sign_prime, trainable=False),
    "sigmoid": Activation("sigmoid", sigmoid, sigmoid_prime),
    "tanh": Activation("tanh", tanh, tanh_prime),
    "relu": Activation("relu", relu, relu_prime),
}


def get_activation(name: str) -> Activation:
    """Look up an activation by name; unknown names raise ValueError listing the known ones."""
    try:
        return ACTIVATIONS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown activation {name!r}; known activations: {', '.join(sorted(ACTIVATIONS))}"
        ) from None
