"""Losses (module 04): values against NumPy references, stability, and input errors.

Their gradients need module 05: tests/modules/05_autograd/test_earlier_modules_with_autograd.py.
"""

import numpy as np
import pytest

from tinytorch.core.losses import BinaryCrossEntropyLoss, CrossEntropyLoss, MSELoss
from tinytorch.core.tensor import Tensor

RNG = np.random.default_rng(2)


def reference_cross_entropy(logits, targets):
    """Plain NumPy CE in float64."""
    z = logits.astype(np.float64)
    z = z - z.max(1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(1, keepdims=True))
    return -logp[np.arange(len(targets)), targets].mean()


def test_mse_value():
    p, y = RNG.standard_normal((4, 3)).astype(np.float32), RNG.standard_normal((4, 3)).astype(np.float32)
    pred = Tensor(p, requires_grad=True)
    loss = MSELoss()(pred, Tensor(y))
    np.testing.assert_allclose(loss.item(), ((p - y) ** 2).mean(), rtol=1e-6)
    assert MSELoss(reduction="sum")(pred, y).item() == pytest.approx(((p - y) ** 2).sum(), rel=1e-5)
    assert MSELoss(reduction="none")(pred, y).shape == (4, 3)


def test_mse_refuses_silent_broadcasting():
    with pytest.raises(ValueError, match=r"MSELoss: prediction shape \(4, 1\) and target shape \(4,\) differ"):
        MSELoss()(Tensor(np.zeros((4, 1))), Tensor(np.zeros(4)))


def test_cross_entropy_value():
    z, t = RNG.standard_normal((6, 4)).astype(np.float32), np.array([0, 3, 1, 1, 2, 0])
    logits = Tensor(z, requires_grad=True)
    loss = CrossEntropyLoss()(logits, Tensor(t))
    assert loss.dtype == np.float32
    np.testing.assert_allclose(loss.item(), reference_cross_entropy(z, t), rtol=1e-5)


def test_cross_entropy_accepts_arrays_lists_and_reductions():
    z = Tensor(RNG.standard_normal((3, 2)))
    a = CrossEntropyLoss()(z, np.array([0, 1, 1])).item()
    assert CrossEntropyLoss()(z, [0, 1, 1]).item() == pytest.approx(a)
    assert CrossEntropyLoss(reduction="sum")(z, [0, 1, 1]).item() == pytest.approx(3 * a, rel=1e-5)
    assert CrossEntropyLoss(reduction="none")(z, [0, 1, 1]).shape == (3,)
    assert CrossEntropyLoss()(z, np.array([0, 1, 1], dtype=np.uint8)).item() == pytest.approx(a)


def test_cross_entropy_is_stable_for_huge_logits():
    z = Tensor(np.array([[1e4, 0.0, -1e4], [0.0, 1e4, 1e4]], dtype=np.float32), requires_grad=True)
    loss = CrossEntropyLoss()(z, np.array([0, 2]))
    assert np.isfinite(loss.item())
    assert loss.item() == pytest.approx(np.log(2) / 2, rel=1e-5)


def test_cross_entropy_float_targets_raise_type_error():
    with pytest.raises(TypeError, match="integer class indices.*int64.*float32"):
        CrossEntropyLoss()(Tensor(np.zeros((2, 3))), Tensor(np.array([0.0, 1.0])))


def test_cross_entropy_empty_batch_raises():
    with pytest.raises(ValueError, match="empty batch"):
        CrossEntropyLoss()(Tensor(np.zeros((0, 3))), np.zeros(0, dtype=np.int64))


@pytest.mark.parametrize("bad", [3, -1, 7])
def test_cross_entropy_out_of_range_target_raises(bad):
    with pytest.raises(IndexError, match=rf"target {bad} is out of range for C = 3"):
        CrossEntropyLoss()(Tensor(np.zeros((2, 3))), np.array([0, bad]))


def test_cross_entropy_mismatched_n_raises():
    with pytest.raises(ValueError, match=r"logits shape \(4, 3\) and targets shape \(3,\) disagree"):
        CrossEntropyLoss()(Tensor(np.zeros((4, 3))), np.array([0, 1, 2]))


def test_cross_entropy_needs_2d_logits():
    with pytest.raises(ValueError, match=r"logits must have shape \(N, C\)"):
        CrossEntropyLoss()(Tensor(np.zeros(3)), np.array([0]))


def test_bce_value():
    p, y = RNG.uniform(0.05, 0.95, (5, 2)).astype(np.float32), (RNG.random((5, 2)) > 0.5).astype(np.float32)
    prob = Tensor(p, requires_grad=True)
    loss = BinaryCrossEntropyLoss()(prob, y)
    ref = -(y * np.log(p) + (1 - y) * np.log(1 - p)).mean()
    np.testing.assert_allclose(loss.item(), ref, rtol=1e-5)


def test_bce_clamps_log_at_minus_100():
    prob = Tensor(np.array([0.0, 1.0, 0.0, 1.0], dtype=np.float32), requires_grad=True)
    loss = BinaryCrossEntropyLoss()(prob, Tensor(np.array([1.0, 0.0, 0.0, 1.0])))
    assert loss.item() == pytest.approx(50.0)


def test_bce_rejects_non_probabilities_and_shape_mismatch():
    with pytest.raises(ValueError, match="probabilities in \\[0, 1\\]"):
        BinaryCrossEntropyLoss()(Tensor([1.5, 0.5]), Tensor([1.0, 0.0]))
    with pytest.raises(ValueError, match="prediction shape"):
        BinaryCrossEntropyLoss()(Tensor(np.full((2, 1), 0.5)), Tensor([1.0, 0.0]))


def test_unknown_reduction_raises():
    with pytest.raises(ValueError, match="reduction must be one of"):
        CrossEntropyLoss(reduction="avg")


@pytest.mark.parametrize("loss, prediction, target", [
    (MSELoss(), np.zeros((0, 1), np.float32), np.zeros((0, 1), np.float32)),
    (BinaryCrossEntropyLoss(), np.zeros((0, 1), np.float32), np.zeros((0, 1), np.float32)),
    (CrossEntropyLoss(), np.zeros((0, 3), np.float32), np.zeros(0, np.int64)),
])
def test_an_empty_batch_is_the_same_clear_error_for_every_loss(loss, prediction, target):
    with pytest.raises(ValueError, match="empty batch"):
        loss(Tensor(prediction), target if target.dtype.kind == "i" else Tensor(target))


def test_bce_refuses_targets_outside_zero_one():
    with pytest.raises(ValueError, match=r"BinaryCrossEntropyLoss: targets must lie in \[0, 1\], got values in \[0, 2\]"):
        BinaryCrossEntropyLoss()(Tensor([0.5, 0.5]), Tensor([0.0, 2.0]))
