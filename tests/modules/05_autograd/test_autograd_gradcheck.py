"""Float64 central-difference gradient checks for every differentiable primitive."""

import numpy as np
import pytest
from gradcheck import gradcheck
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, mutually_broadcastable_shapes

from tinytorch.core.activations import gelu, log_softmax, relu, sigmoid, softmax, tanh
from tinytorch.core.layers import linear
from tinytorch.core.losses import binary_cross_entropy, cross_entropy
from tinytorch.core.tensor import Tensor, cat, stack, where

RNG = np.random.default_rng(1)


def randn(*shape):
    """float64 standard-normal test data."""
    return RNG.standard_normal(shape)


def positive(*shape):
    """float64 data in [0.5, 2], away from log/sqrt/div singularities."""
    return RNG.uniform(0.5, 2.0, shape)


def away_from_zero(*shape):
    """float64 data with |x| in [0.2, 2], away from kinks of relu/abs/clip."""
    return RNG.uniform(0.2, 2.0, shape) * RNG.choice([-1.0, 1.0], shape)


# ----------------------------------------------------------------------------- arithmetic, broadcasting

BROADCAST_PAIRS = [((3, 4), (3, 4)), ((3, 1), (1, 4)), ((4,), (2, 3, 4)), ((2, 3, 4), (3, 1)), ((), (2, 3))]


@pytest.mark.parametrize("shapes", BROADCAST_PAIRS)
@pytest.mark.parametrize("op", [lambda a, b: a + b, lambda a, b: a - b, lambda a, b: a * b, lambda a, b: a / b], ids=["add", "sub", "mul", "div"])
def test_binary_ops_with_broadcasting(op, shapes):
    gradcheck(op, randn(*shapes[0]), positive(*shapes[1]))
    gradcheck(lambda a, b: op(b, a), randn(*shapes[0]), positive(*shapes[1]))


@settings(max_examples=25, deadline=None)
@given(mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=3))
def test_hypothesis_broadcast_mul_div(shapes):
    a_shape, b_shape = shapes.input_shapes
    gradcheck(lambda a, b: a * b / (b * b + 1.0) - a, randn(*a_shape), randn(*b_shape))


def test_scalar_operands():
    gradcheck(lambda a: 2 * a - 1 + 3 / a - a / 4 + (1 - a) * 0.5, positive(3, 2))


def test_neg_and_pow():
    gradcheck(lambda a: -a, randn(3))
    gradcheck(lambda a: a ** 3 + a ** 0.5, positive(2, 3))
    gradcheck(lambda a, b: a ** b, positive(2, 3), randn(3))
    gradcheck(lambda a: 2.0 ** a, randn(4))


# ----------------------------------------------------------------------------- matmul and linear

MATMUL_SHAPES = [((3, 4), (4, 5)), ((4,), (4, 5)), ((3, 4), (4,)), ((4,), (4,)), ((2, 3, 4), (4, 5)), ((2, 3, 4), (2, 4, 5)), ((1, 3, 4), (2, 4, 2)), ((4,), (2, 4, 3)), ((2, 3, 4), (4,))]


@pytest.mark.parametrize("shapes", MATMUL_SHAPES)
def test_matmul_1d_2d_batched(shapes):
    gradcheck(lambda a, b: a @ b, randn(*shapes[0]), randn(*shapes[1]))


@pytest.mark.parametrize("x_shape", [(5, 3), (2, 4, 3), (3,)])
def test_fused_linear(x_shape):
    gradcheck(lambda x, w, b: linear(x, w, b), randn(*x_shape), randn(4, 3), randn(4))
    gradcheck(lambda x, w: linear(x, w), randn(*x_shape), randn(4, 3))


# ----------------------------------------------------------------------------- elementwise


def test_exp_log_sqrt_abs():
    gradcheck(lambda a: a.exp(), randn(3, 2))
    gradcheck(lambda a: a.log(), positive(3, 2))
    gradcheck(lambda a: a.sqrt(), positive(3, 2))
    gradcheck(lambda a: a.abs(), away_from_zero(3, 2))


def test_clip_and_maximum():
    x = np.array([-2.0, -0.7, 0.3, 0.9, 1.8])
    gradcheck(lambda a: a.clip(-1.0, 1.0), x)
    gradcheck(lambda a: a.clip(min=0.0), x)
    gradcheck(lambda a, b: a.maximum(b), randn(3, 4), randn(4) + 0.01)


def test_where():
    cond = RNG.random((3, 4)) > 0.5
    gradcheck(lambda c, a, b: where(c, a, b), cond, randn(3, 4), randn(4))


def test_activations():
    gradcheck(relu, away_from_zero(4, 3))
    gradcheck(sigmoid, randn(4, 3) * 3)
    gradcheck(tanh, randn(4, 3) * 2)
    gradcheck(gelu, randn(4, 3) * 2)


@pytest.mark.parametrize("axis", [-1, 0, 1])
def test_softmax_and_log_softmax(axis):
    gradcheck(lambda a: softmax(a, dim=axis), randn(3, 4))
    gradcheck(lambda a: log_softmax(a, dim=axis), randn(3, 4))


# ----------------------------------------------------------------------------- reductions


@pytest.mark.parametrize("axis,keepdims", [(None, False), (0, False), (1, True), (-1, False), ((0, 2), False), ((0, 2), True)])
def test_sum_mean(axis, keepdims):
    gradcheck(lambda a: a.sum(axis=axis, keepdims=keepdims), randn(2, 3, 4))
    gradcheck(lambda a: a.mean(axis=axis, keepdims=keepdims), randn(2, 3, 4))


@pytest.mark.parametrize("axis,keepdims", [(None, False), (0, False), (1, True), (-1, False), ((0, 2), True)])
def test_max_min_without_ties(axis, keepdims):
    x = RNG.permutation(24).reshape(2, 3, 4) * 0.1  # distinct values: no ties
    gradcheck(lambda a: a.max(axis=axis, keepdims=keepdims), x)
    gradcheck(lambda a: a.min(axis=axis, keepdims=keepdims), x)


def test_max_ties_share_gradient():
    x = Tensor([1.0, 3.0, 3.0], requires_grad=True)
    x.max().backward()
    np.testing.assert_allclose(x.grad, [0.0, 0.5, 0.5])


def test_var():
    gradcheck(lambda a: a.var(axis=-1), randn(3, 4))
    gradcheck(lambda a: a.var(unbiased=True), randn(3, 4))


# ----------------------------------------------------------------------------- shape ops and indexing


def test_reshape_transpose_permute_T_flatten():
    gradcheck(lambda a: a.reshape(4, 6) * Tensor(np.arange(24.0).reshape(4, 6), dtype=np.float64), randn(2, 3, 4))
    gradcheck(lambda a: a.transpose(0, 2), randn(2, 3, 4))
    gradcheck(lambda a: a.permute(1, 2, 0), randn(2, 3, 4))
    gradcheck(lambda a: a.T, randn(2, 3))
    gradcheck(lambda a: a.flatten(1).unsqueeze(0), randn(2, 3, 4))


@pytest.mark.parametrize("index", [1, (slice(1, 3), slice(None, None, 2)), (Ellipsis, 0), np.array([0, 2, 2, 1]), (np.array([0, 1, 1]), np.array([2, 0, 2]))], ids=["int", "slices", "ellipsis", "fancy-repeat", "fancy-pairs"])
def test_getitem(index):
    gradcheck(lambda a: a[index], randn(3, 4))


def test_getitem_bool_mask():
    mask = RNG.random((3, 4)) > 0.4
    gradcheck(lambda a: a[mask], randn(3, 4))


def test_concatenate_and_stack():
    gradcheck(lambda a, b: cat([a, b], dim=1), randn(2, 3), randn(2, 5))
    gradcheck(lambda a, b: stack([a, b], dim=1), randn(2, 3), randn(2, 3))


# ----------------------------------------------------------------------------- fused losses


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy(reduction):
    targets = np.array([0, 2, 1, 2, 4])
    gradcheck(lambda z, t: cross_entropy(z, t, reduction=reduction), randn(5, 5) * 3, targets)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_binary_cross_entropy(reduction):
    p, y = RNG.uniform(0.1, 0.9, (4, 3)), RNG.uniform(0.0, 1.0, (4, 3))
    gradcheck(lambda a, b: binary_cross_entropy(a, b, reduction=reduction), p, y)


def test_mse_composite():
    gradcheck(lambda a, b: ((a - b) * (a - b)).mean(), randn(4, 2), randn(4, 2))


@settings(max_examples=25, deadline=None)
@given(array_shapes(min_dims=1, max_dims=3, max_side=4), st.integers(-1, 0))
def test_hypothesis_softmax_chain(shape, axis):
    gradcheck(lambda a: tanh((softmax(a, dim=axis) * a).sum(axis=axis)), randn(*shape))


def test_gradcheck_detects_a_wrong_gradient():
    from tinytorch.core.autograd import Function

    class BadSquare(Function):
        @staticmethod
        def forward(ctx, a):
            ctx.save_for_backward(a)
            return a * a

        @staticmethod
        def backward(ctx, g):
            (a,) = ctx.saved_tensors
            return g * a  # missing factor 2

    with pytest.raises(AssertionError, match="analytic"):
        gradcheck(lambda a: BadSquare.apply(a), randn(3))
