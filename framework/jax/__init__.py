"""JAX twins of every reference piece, in float64: a second framework, independent of PyTorch.

    tables.py      activations and losses (optax's cross-entropy, label smoothing), keyed as reference's
    layers.py      the registry JAX_TWINS: each reference layer type -> its twin (jax.numpy, jax.lax)
    sequential.py  the twin of a reference Sequential model, its loss and gradients by jax.value_and_grad
    mlp.py         the study's network with W[l] in JAX's (kernel, bias) layout
    optim.py       the reference optimizers and schedules mapped onto optax (the mappings and reasons beside them)

Nothing here imports torch, and framework/'s torch twins never import jax. Importing this package turns on
JAX's 64-bit mode (jax_enable_x64): without it JAX silently computes float64 inputs in float32.
"""

from __future__ import annotations

import jax

jax.config.update("jax_enable_x64", True)
