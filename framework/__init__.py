"""PyTorch twins of every reference module, and converters between the two parameter layouts."""

# The reference losses that have a torch twin (framework/tables.py TORCH_LOSSES, checked equal by
# tests/test_user_errors.py): named here, without torch, so that validating a configuration (every `list`,
# every command) does not import torch.
LOSS_TWINS = ("squared_error", "cross_entropy", "am_softmax", "arcface", "triplet")
