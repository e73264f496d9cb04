"""PyTorch twins of every reference module, and converters between the two parameter layouts."""
