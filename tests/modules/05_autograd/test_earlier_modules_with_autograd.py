"""Modules 01-04 once autograd (module 05) is in: the gradients of their ops, layers and losses.

Their forward values are tested with their own modules (tests/modules/01_tensor ..
04_losses), which must pass before module 05 is written; what needs ``backward()`` is here.
"""

import numpy as np
import pytest

import tinytorch
from tinytorch.core.layers import Dropout, Linear
from tinytorch.core.losses import BinaryCrossEntropyLoss, CrossEntropyLoss, MSELoss
from tinytorch.core.random import manual_seed
from tinytorch.core.tensor import Tensor, cat, stack, where

RNG = np.random.default_rng(2)


def randn(*shape):
    """float32 standard-normal test data."""
    return RNG.standard_normal(shape).astype(np.float32)


def test_package_reexports_main_names():
    for name in ["Tensor", "manual_seed", "no_grad", "Function", "ReLU", "Sigmoid", "Tanh", "GELU", "Softmax",
                 "Module", "Linear", "Dropout", "Sequential", "Flatten", "MSELoss", "CrossEntropyLoss",
                 "BinaryCrossEntropyLoss"]:
        assert hasattr(tinytorch, name), name


# ----------------------------------------------------------------------------- module 01: Tensor


def test_explicit_float64_gradients_stay_float64():
    x = Tensor(np.ones((2, 3)), dtype=np.float64, requires_grad=True)
    ((x * 2 + 1) / 3 - x ** 2).exp().sum().backward()
    assert x.grad.dtype == np.float64


def test_repr_names_the_function_that_made_a_tensor():
    x = Tensor([[1.0, 2.0]], requires_grad=True)
    assert "grad_fn=<Mul>" in repr(x * 2)


def test_cast_keeps_grad_flowing():
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = x.double()
    assert y.dtype == np.float64
    (y * y).sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_allclose(x.grad, [2.0, 4.0])


def test_where_cat_stack_and_masked_fill_route_gradients():
    a = Tensor(randn(2, 3), requires_grad=True)
    mask = np.array([[True, False, False], [False, False, True]])
    filled = a.masked_fill(mask, -5.0)
    (filled.sum() + cat([a, a], dim=0).sum() + stack([a, a], dim=2).sum() + where(mask, a, 0.0).sum()).backward()
    np.testing.assert_array_equal(a.grad, np.where(mask, 0.0, 1.0) + 2.0 + 2.0 + mask)


# ----------------------------------------------------------------------------- module 03: layers


def test_linear_backward_fills_parameter_grads():
    layer = Linear(3, 2)
    layer(Tensor(np.ones((4, 3)))).sum().backward()
    np.testing.assert_allclose(layer.weight.grad, np.full((2, 3), 4.0))
    np.testing.assert_allclose(layer.bias.grad, np.full(2, 4.0))
    layer.zero_grad()
    assert layer.weight.grad is None and layer.bias.grad is None


def test_dropout_gradient_is_masked_like_its_output():
    x = Tensor(np.ones((4, 6)), requires_grad=True)
    manual_seed(3)
    a = Dropout(0.5)(x)
    a.sum().backward()
    np.testing.assert_array_equal(x.grad, a.data)


# ----------------------------------------------------------------------------- module 04: losses


def test_mse_gradient():
    p, y = randn(4, 3), randn(4, 3)
    pred = Tensor(p, requires_grad=True)
    MSELoss()(pred, Tensor(y)).backward()
    np.testing.assert_allclose(pred.grad, 2 * (p - y) / p.size, rtol=1e-5)


def test_cross_entropy_gradient():
    z, t = randn(6, 4), np.array([0, 3, 1, 1, 2, 0])
    logits = Tensor(z, requires_grad=True)
    CrossEntropyLoss()(logits, Tensor(t)).backward()
    e = np.exp(z - z.max(1, keepdims=True))
    expected = e / e.sum(1, keepdims=True)
    expected[np.arange(6), t] -= 1
    np.testing.assert_allclose(logits.grad, expected / 6, rtol=1e-5, atol=1e-7)


def test_cross_entropy_gradient_is_finite_for_huge_logits():
    z = Tensor(np.array([[1e4, 0.0, -1e4], [0.0, 1e4, 1e4]], dtype=np.float32), requires_grad=True)
    loss = CrossEntropyLoss()(z, np.array([0, 2]))
    loss.backward()
    assert np.isfinite(loss.item()) and np.isfinite(z.grad).all()


def test_bce_gradient():
    p, y = RNG.uniform(0.05, 0.95, (5, 2)).astype(np.float32), (RNG.random((5, 2)) > 0.5).astype(np.float32)
    prob = Tensor(p, requires_grad=True)
    BinaryCrossEntropyLoss()(prob, y).backward()
    np.testing.assert_allclose(prob.grad, (p - y) / (p * (1 - p)) / p.size, rtol=1e-4)


def test_bce_gradient_is_finite_where_the_log_is_clamped():
    prob = Tensor(np.array([0.0, 1.0, 0.0, 1.0], dtype=np.float32), requires_grad=True)
    loss = BinaryCrossEntropyLoss()(prob, Tensor(np.array([1.0, 0.0, 0.0, 1.0])))
    loss.backward()
    assert loss.item() == pytest.approx(50.0)
    assert np.isfinite(prob.grad).all()
