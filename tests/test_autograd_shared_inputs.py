"""Autograd regression: a tensor used both directly and through other ops (x + f(x), as in a
residual connection) gets the gradient of every path. The topological order once marked
nodes when pushed, so x could be processed before f(x) sent it its share."""

import numpy as np
import pytest

from gradcheck import gradcheck
from tinytorch.core.tensor import Tensor


@pytest.mark.parametrize("fn", [
    lambda x: x + x * x,                       # leaf used directly and through a Mul
    lambda x: x * x.tanh(),                    # both operands of one op, one through a node
    lambda x: (x * 2.0) + (x * 2.0).exp(),     # an intermediate used directly and through an op
    lambda x: ((x + x.sigmoid()) * x).sum() + x.mean(),   # deeper residual chains
], ids=["x+x*x", "x*tanh(x)", "h+exp(h)", "residual-chain"])
def test_every_path_contributes_to_the_gradient(fn):
    gradcheck(fn, np.random.default_rng(0).standard_normal((3, 2)))


def test_x_plus_x_squared_by_hand():
    x = Tensor(np.array([1.5, -0.7]), requires_grad=True, dtype=np.float64)
    (x + x * x).sum().backward()
    np.testing.assert_allclose(x.grad, [4.0, -0.4])
