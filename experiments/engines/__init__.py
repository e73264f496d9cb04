"""Engines: one interface over every implementation that trains (experiments/train.py drives them).

    epoch(order, epoch) -> mean loss      train over the samples `order` (epoch counts from 1)
    accuracy() -> float                   test accuracy now
    snapshot() -> {name: array}           every parameter (and state), for checkpoints and comparisons
    restore(snapshot)                     set them back
    name                                  which implementation ran, recorded in every row

Adapters: the readable NumPy MLP, the compiled MLP (numba, batch size 1), the torch MLP
(experiments/mnist/mlp_engines.py); the NumPy Sequential model and its torch twin
(experiments/engines/sequential.py). Each fast path is proven against the readable one in tests/.
"""
