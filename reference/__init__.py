"""Hand-written NumPy implementations of the study's neural networks.

NumPy only: nothing in this package imports torch. Notation follows Abu-Mostafa et al.,
*Learning From Data*: layers l = 0..L, weight matrices W[l] of shape (d[l-1] + 1, d[l]) whose
row 0 holds the bias weights, signals s[l], outputs x[l] carrying the bias node x_0 = 1,
sensitivities delta[l], gradients G[l].

Conventions (tested in tests/test_conventions.py):
- rows are samples: vectors are (N, d), images NCHW; batch size 1 is the study's algorithm;
- float64 by default, float32 supported;
- derivatives at kinks follow PyTorch: ReLU'(0) = 0, sign'(x) = 0 (so sign cannot be trained).
"""
