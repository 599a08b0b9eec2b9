"""Broken tinytorch variants that a strict build must catch, each naming the criterion that fails.

Each mutant keeps the forward pass right and breaks one thing a reader could get wrong:
a gradient (which a small model can survive, so only the judge's backprop criterion can
catch it), an optimizer step, the training loop, the data order. Each builds only the chapter
that must catch it, strict, and asserts the build fails naming that chapter and criterion.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from milestones.tools.bookbuild import break_file, build, copy_book


@dataclass(frozen=True)
class Mutant:
    """One deliberate bug: where, what it replaces, and which chapter and criterion must catch it."""

    name: str
    file: str
    old: str
    new: str
    chapter: str
    criterion: str


MUTANTS = (
    Mutant("02 ReLU backward passes the gradient through unchanged", "core/activations.py",
           "return g * (out > 0)", "return g", "03", "digits_backprop_error"),
    Mutant("02 Sigmoid backward forgets the (1 - s) factor", "core/activations.py",
           "return g * out * (1.0 - out)", "return g * out", "01", "backprop_error"),
    Mutant("02 Tanh backward uses 1 - t instead of 1 - t^2", "core/activations.py",
           "return g * (1.0 - out * out)", "return g * (1.0 - out)", "03", "xor_backprop_error"),
    Mutant("03 Linear bias gradient averages over the batch instead of summing", "core/layers.py",
           "gb = _column_sums(g2) if need_b else None", "gb = _column_sums(g2) / len(g2) if need_b else None",
           "01", "backprop_error"),
    Mutant("03 Linear weight gradient is half what it should be", "core/layers.py",
           "gw = g2.T @ x.reshape(-1, x.shape[-1]) if need_w else None",
           "gw = 0.5 * (g2.T @ x.reshape(-1, x.shape[-1])) if need_w else None", "02", "backprop_error"),
    Mutant("04 cross-entropy gradient is not divided by the batch size", "core/losses.py",
           "grad *= scale[:, None] if np.ndim(scale) else scale",
           "grad *= scale[:, None] if np.ndim(scale) else scale * len(targets)", "03", "digits_backprop_error"),
    Mutant("04 binary cross-entropy gradient has the wrong sign", "core/losses.py",
           "gp = g * (p - y) /", "gp = g * (y - p) /", "01", "backprop_error"),
    Mutant("06 SGD steps up the gradient", "core/optimizers.py",
           "p.data -= self.lr * g", "p.data += self.lr * g", "01", "train_accuracy"),
    Mutant("06 Adam steps up the gradient", "core/optimizers.py",
           "p.data -= update", "p.data += update", "03", "tinydigits_test_accuracy"),
    Mutant("07 the Trainer never steps the optimizer", "core/training.py",
           "        self.optimizer.step()\n", "", "03", "tinydigits_test_accuracy"),
    Mutant("08 the DataLoader shuffles the inputs but not the labels", "core/dataloader.py",
           "return tuple(Tensor(a[indices]) for a in self.arrays)",
           "return (Tensor(self.arrays[0][indices]),) + tuple(Tensor(a[np.sort(indices)]) for a in self.arrays[1:])",
           "01", "train_accuracy"),
    Mutant("09 Conv2d weight gradient comes from the first image of the batch only", "core/spatial.py",
           "np.matmul(shifted, g_t[:, None]).sum(axis=0)",
           "np.matmul(shifted, g_t[:, None])[0]", "04", "cnn_backprop_error"),
    Mutant("09 MaxPool2d backward sends the gradient to every pixel of the window", "core/spatial.py",
           "np.multiply(grad_output, first == k, out=grad_x[index])", "grad_x[index] = grad_output", "04",
           "cnn_backprop_error"),
)


@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda m: m.name)
def test_strict_build_catches_the_mutant_naming_its_criterion(tmp_path, mutant):
    book = copy_book(tmp_path, chapters=(mutant.chapter,))
    break_file(book / "tinytorch" / mutant.file, mutant.old, mutant.new)
    result = build(book, strict=True)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    failed = re.findall(r"criterion '(\w+)' missed", output.split("STRICT build failed:")[-1])
    assert failed == [mutant.criterion], output[-3000:]


def test_the_mutant_set_covers_modules_02_to_09():
    modules = {int(m.name[:2]) for m in MUTANTS}
    assert len(MUTANTS) >= 8 and modules >= {2, 3, 4, 6, 7, 8, 9}
