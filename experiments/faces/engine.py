"""Training the face networks through the shared loop (experiments/train.py): a NumPy engine and its torch twin.

NumpyFaces is the shared NumPy Sequential engine (experiments/engines/sequential.py) with the face
recipe's mini-batches: epoch e's batches follow the order given by the loop; each batch is augmented
(images.shift_flip) from default_rng([seed, 2, e]) and its dropout masks are drawn from
default_rng([seed, 3, e]). Generators are per epoch, so a run resumed at an epoch boundary continues
exactly as an uninterrupted one. TorchTwinFaces is fed the very batches and dropout masks of a
NumpyFaces engine, for the lockstep comparison.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from experiments.engines.fast import is_fast, reference
from experiments.engines.sequential import ImageData, NumpySequential, flatten_nested, max_param_diff
from experiments.faces.images import shift_flip
from framework import cnn as twin_cnn
from framework.optim import torch_optimizer, torch_scheduler
from reference import sequential as seq
from reference.losses import softmax


@dataclass(frozen=True)
class Recipe:
    """How a run trains: optimizer, base rate and schedule (per epoch), batch size, augmentation, seed."""

    optimizer: object                      # reference.optim.SGD / Adam
    lr: float
    schedule: object                       # reference.schedules
    batch_size: int
    max_shift: int
    flip: bool
    seed: int

    def lr_at(self, epoch: int) -> float:
        """The learning rate of epoch `epoch` (from 1): the schedule after epoch - 1 scheduler steps."""
        return self.schedule(self.lr, epoch - 1)


class NumpyFaces(NumpySequential):
    """The reference Sequential model trained by a reference optimizer on augmented face batches."""

    name = "numpy"

    def __init__(self, model: seq.Sequential, params: list, state: list, data: ImageData, recipe: Recipe):
        super().__init__(model, params, state, data, recipe.optimizer, recipe.lr_at, recipe.batch_size,
                         seed=recipe.seed)
        self.name = "numpy-fast" if is_fast(model) else "numpy"  # rows record which NumPy path trained
        self.recipe, self._epoch, self.last_caches = recipe, None, None

    def generators(self, epoch: int) -> tuple[np.random.Generator, np.random.Generator]:
        """(augmentation, dropout) generators of `epoch`, created at its first batch and kept through it."""
        if self._epoch != epoch:
            s = self.recipe.seed
            self._gens = (np.random.default_rng([s, 2, epoch]), np.random.default_rng([s, 3, epoch]))
            self._epoch = epoch
        return self._gens

    def batches(self, order: np.ndarray, epoch: int):
        """(augmented images, labels, dropout generator) of each mini-batch of `order`."""
        aug, drop = self.generators(epoch)
        r, d = self.recipe, self.data
        for i in range(0, len(order), r.batch_size):
            idx = order[i:i + r.batch_size]
            yield shift_flip(d.X_train[idx], aug, r.max_shift, r.flip), d.y_train[idx], drop

    def step(self, x, labels, rng, lr: float) -> float:
        # the caches hold the dropout masks drawn, which the torch twin is given
        r, self.last_caches = self.model.forward_backward(x, labels, self.params, self.state, train=True, rng=rng)
        self.state = r.state
        self.opt_state = self.optimizer.step(self.params, r.grads, self.opt_state, lr)
        return r.loss

    def epoch(self, order, epoch):
        lr = self.lr_at(epoch)
        return float(np.mean([self.step(x, y, rng, lr) for x, y, rng in self.batches(order, epoch)]))

    def logits(self, x: np.ndarray, model: seq.Sequential | None = None) -> np.ndarray:
        """Eval-mode output of `model` (default: the whole network; its first layers give an embedding)."""
        model = model or self.model
        n = len(model.layers)
        return model.forward(x, self.params[:n], self.state[:n], train=False)[0]

    def probabilities(self, x: np.ndarray, mirror: bool = False) -> np.ndarray:
        """softmax of the logits; with `mirror`, of the sum of the logits of each face and of its mirror image."""
        z = self.logits(x)
        return softmax(z + self.logits(np.ascontiguousarray(x[..., ::-1])) if mirror else z)

    def accuracy(self):
        if not len(self.data.X_test) or learns_no_classes(self.model):
            return float("nan")  # verification runs test on people the network never saw
        return super().accuracy()


class TorchTwinFaces:
    """The torch twin (framework/) of a NumpyFaces engine, trained by torch.optim and torch's scheduler.

    It follows the NumPy engine: each batch is the NumPy engine's batch, and the dropout masks are those
    the NumPy forward pass drew for it, so the NumPy engine steps first (lockstep_epoch).
    """

    name = "torch"

    def __init__(self, numpy_engine: NumpyFaces):
        ne = numpy_engine
        self.numpy, self.model = ne, reference(ne.model)  # the twins are of the reference layers
        self.twin = twin_cnn.build_twin(self.model, ne.params, ne.state)
        self.loss = twin_cnn.twin_loss(self.model)
        self.opt = torch_optimizer(ne.recipe.optimizer, self.twin, ne.recipe.lr)
        self.scheduler = torch_scheduler(ne.recipe.schedule, self.opt)

    def step(self, x, labels) -> float:
        """One torch.optim step on (x, labels) with the dropout masks of the NumPy engine's last step."""
        self.twin.train()
        twin_cnn.share_randomness(self.twin, self.model, self.numpy.last_caches)
        self.opt.zero_grad(set_to_none=True)
        out = self.twin(torch.from_numpy(np.ascontiguousarray(x)))
        E = self.loss(out, torch.from_numpy(np.asarray(labels, dtype=np.int64)))
        E.backward()
        self.opt.step()
        return float(E.detach())

    def end_epoch(self) -> None:
        self.scheduler.step()

    def accuracy(self):
        if not len(self.numpy.data.X_test) or learns_no_classes(self.model):
            return float("nan")
        self.twin.eval()
        with torch.no_grad():
            out = self.twin(torch.from_numpy(np.ascontiguousarray(self.numpy.data.X_test))).numpy()
        return float(np.mean(np.argmax(out, axis=1) == self.numpy.data.y_test))


def learns_no_classes(model: seq.Sequential) -> bool:
    """A pairwise head (the triplet loss) outputs an embedding, not one score per person: no accuracy."""
    return model.loss is not None and model.loss.pairwise


def differences(ne: NumpyFaces, te: TorchTwinFaces) -> tuple[float, float]:
    """(max |parameter difference|, max |running statistic difference|) between the two engines."""
    params = max_param_diff(flatten_nested("param.", ne.params), flatten_nested("param.", twin_cnn.twin_params(
        te.twin, te.model)))
    # max_param_diff reads the "param." entries; the running statistics are laid out under that prefix too
    stats = [flatten_nested("param.", [{k: v for k, v in s.items() if k != "num_batches_tracked"} for s in state])
             for state in (ne.state, twin_cnn.twin_state(te.twin, te.model))]
    return params, max_param_diff(*stats)


def lockstep_epoch(ne: NumpyFaces, te: TorchTwinFaces, order: np.ndarray, epoch: int) -> tuple[float, float, float]:
    """One epoch of both engines on identical batches: (NumPy mean loss, torch mean loss, max parameter
    difference after any step of the epoch)."""
    lr = ne.lr_at(epoch)
    ln, lt, worst = [], [], 0.0
    for x, y, rng in ne.batches(order, epoch):
        ln.append(ne.step(x, y, rng, lr))
        lt.append(te.step(x, y))
        worst = max(worst, differences(ne, te)[0])
    te.end_epoch()
    return float(np.mean(ln)), float(np.mean(lt)), worst
