"""Regression: a tensor used both directly and through a longer path gets both gradients.

``x - x.mean()`` (layer norm's centring) and ``x + f(x)`` (a residual connection) reach ``x``
twice. The topological order must place ``x`` after every node that uses it, whichever
operand comes first; an earlier version marked ``x`` visited when it was first *pushed* and
processed it before the longer path had delivered its gradient, silently dropping it.
"""

import numpy as np
import pytest
from gradcheck import gradcheck

from tinytorch.core.activations import sigmoid, tanh
from tinytorch.core.tensor import Tensor


@pytest.mark.parametrize("name,fn", [
    ("x - mean(x)", lambda x: x - x.mean(dim=-1, keepdim=True)),
    ("x + sum(x)", lambda x: x + x.sum(dim=-1, keepdim=True)),
    ("sum(x) + x", lambda x: x.sum(dim=-1, keepdim=True) + x),
    ("residual x + tanh(x * 2)", lambda x: x + tanh(x * 2.0)),
    ("two residuals", lambda x: (lambda h: h + (h * h).exp())(x + sigmoid(x))),
])
def test_gradient_through_a_shared_input_and_a_longer_path(name, fn):
    gradcheck(fn, np.random.default_rng(0).standard_normal((2, 3)))


def test_centring_gradient_has_the_mean_term():
    x = Tensor(np.array([[1.0, 2.0, 3.0]]), requires_grad=True)
    ((x - x.mean(dim=-1, keepdim=True)) * Tensor(np.array([[1.0, 0.0, 0.0]]))).sum().backward()
    np.testing.assert_allclose(x.grad, [[2 / 3, -1 / 3, -1 / 3]], rtol=1e-6)


@pytest.mark.parametrize("fn", [
    lambda x: x + x * x,                       # leaf used directly and through a Mul
    lambda x: x * tanh(x),                    # both operands of one op, one through a node
    lambda x: (x * 2.0) + (x * 2.0).exp(),     # an intermediate used directly and through an op
    lambda x: ((x + sigmoid(x)) * x).sum() + x.mean(),   # deeper residual chains
], ids=["x+x*x", "x*tanh(x)", "h+exp(h)", "residual-chain"])
def test_every_path_contributes_to_the_gradient(fn):
    gradcheck(fn, np.random.default_rng(0).standard_normal((3, 2)))


def test_x_plus_x_squared_by_hand():
    x = Tensor(np.array([1.5, -0.7]), requires_grad=True, dtype=np.float64)
    (x + x * x).sum().backward()
    np.testing.assert_allclose(x.grad, [4.0, -0.4])
