"""The MNIST family: the study's MLP (kind "mlp") and the LeNet-style CNN (kind "cnn").

    kinds.py            the family's Kind objects (experiments/kinds.py's registry reads KINDS here)
    mlp.py, cnn.py      each kind: run schema, data preparation, execute(one run)
    mlp_engines.py      the MLP's engines: readable NumPy, compiled (compiled_mlp.py, numba), torch
    reproduction.py     the seed-mlp report (summary table, curves) and comparison.py (NumPy vs torch)
    bench_mlp.py        speed rows of the MLP; bench_cnn.py: the convolution layers and LeNet epochs
    equivalence_cnn.py  whole CNNs against their twins; trajectories.py: whole trainings in lockstep
"""
