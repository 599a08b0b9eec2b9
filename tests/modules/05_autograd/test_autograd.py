"""Autograd engine (module 05): graph recording, accumulation, no_grad, errors, deep graphs."""

import numpy as np
import pytest

from tinytorch.core.activations import relu, sigmoid
from tinytorch.core.autograd import Function, enable_grad, is_grad_enabled, no_grad
from tinytorch.core.tensor import Tensor


class Square(Function):
    """x ** 2 as a user-defined Function (the documented extension point)."""

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        ctx.note = "free attribute"
        return a * a

    @staticmethod
    def backward(ctx, grad_output):
        (a,) = ctx.saved_tensors
        assert ctx.note == "free attribute"
        return 2 * a * grad_output


class ScaledBy(Function):
    """a * k with a non-tensor argument, gradient None for it."""

    @staticmethod
    def forward(ctx, a, k):
        ctx.k = k
        return a * k

    @staticmethod
    def backward(ctx, g):
        return g * ctx.k, None


def test_custom_function_forward_and_backward():
    x = Tensor([1.0, -2.0, 3.0], requires_grad=True)
    y = Square.apply(x)
    np.testing.assert_allclose(y.data, [1, 4, 9])
    y.sum().backward()
    np.testing.assert_allclose(x.grad, [2, -4, 6])


def test_non_tensor_arguments_get_none_gradient():
    x = Tensor([1.0, 2.0], requires_grad=True)
    ScaledBy.apply(x, 3.0).sum().backward()
    np.testing.assert_allclose(x.grad, [3, 3])


def test_grad_is_ndarray_of_leaf_shape_and_dtype():
    x = Tensor(np.ones((2, 3)), requires_grad=True)
    (x * 2).sum().backward()
    assert type(x.grad) is np.ndarray and x.grad.shape == (2, 3) and x.grad.dtype == np.float32


def test_gradients_accumulate_across_backward_calls():
    x = Tensor([1.0, 2.0], requires_grad=True)
    (x * 3).sum().backward()
    (x * 3).sum().backward()
    np.testing.assert_allclose(x.grad, [6, 6])


def test_shared_subgraph_and_reused_input():
    x = Tensor([2.0], requires_grad=True)
    y = x * x
    z = y * y + y  # x^4 + x^2
    z.backward()
    np.testing.assert_allclose(x.grad, [4 * 8 + 2 * 2])


def test_broadcast_gradient_is_unbroadcast_to_input_shape():
    a = Tensor(np.ones((3, 1)), requires_grad=True)
    b = Tensor(np.ones(4), requires_grad=True)
    (a * b).sum().backward()
    np.testing.assert_allclose(a.grad, np.full((3, 1), 4.0))
    np.testing.assert_allclose(b.grad, np.full(4, 3.0))


def test_leaf_grads_are_not_aliased():
    a, b = Tensor([1.0], requires_grad=True), Tensor([1.0], requires_grad=True)
    (a + b).sum().backward()
    a.grad *= 10  # an in-place clip of one grad must not change the other
    np.testing.assert_allclose(b.grad, [1.0])


def test_non_leaf_grads_are_not_retained():
    x = Tensor([1.0], requires_grad=True)
    y = x * 2
    (y * 3).sum().backward()
    assert y.grad is None and not y.is_leaf and x.is_leaf


def test_constants_do_not_record_a_graph():
    x, w = Tensor([1.0, 2.0]), Tensor([3.0, 4.0], requires_grad=True)
    y = x * 2
    assert not y.requires_grad and y._ctx is None
    assert (x * w).requires_grad


def test_no_grad_context_and_decorator():
    w = Tensor([1.0], requires_grad=True)
    with no_grad():
        assert not is_grad_enabled()
        y = w * 2
        with enable_grad():
            assert (w * 2).requires_grad
    assert is_grad_enabled() and not y.requires_grad and y._ctx is None

    @no_grad()
    def evaluate():
        return w * 2

    assert not evaluate().requires_grad and is_grad_enabled()


def test_no_grad_restores_mode_after_exception():
    with pytest.raises(ZeroDivisionError):
        with no_grad():
            1 / 0
    assert is_grad_enabled()


def test_backward_on_non_scalar_needs_gradient():
    x = Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="only for scalar outputs"):
        (x * 2).backward()
    (x * 2).backward(np.array([1.0, 10.0]))
    np.testing.assert_allclose(x.grad, [2.0, 20.0])


def test_backward_gradient_shape_must_match():
    x = Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="does not match"):
        (x * 2).backward(np.ones(3))


def test_backward_without_grad_raises():
    with pytest.raises(RuntimeError, match="does not require grad"):
        Tensor([1.0]).sum().backward()


def test_second_backward_through_released_graph_raises():
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="second time.*retain_graph=True"):
        y.backward()


def test_retain_graph_allows_second_backward():
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad, [4.0, 8.0])


def test_shared_released_subgraph_from_another_root_raises():
    x = Tensor([1.0], requires_grad=True)
    h = x * 2
    (h * 3).sum().backward()
    with pytest.raises(RuntimeError, match="second time"):
        (h * 4).sum().backward()


def test_deep_chain_of_10000_ops_has_no_recursion_limit():
    x = Tensor([1.0], requires_grad=True)
    y = x
    for _ in range(10_000):
        y = y + 1.0
    y.sum().backward()
    np.testing.assert_allclose(x.grad, [1.0])


def test_wide_diamond_graph_visits_each_node_once():
    x = Tensor([1.0], requires_grad=True)
    y = x
    for _ in range(200):
        y = y * 0.5 + y * 0.5  # value and gradient stay 1
    y.sum().backward()
    np.testing.assert_allclose(x.grad, [1.0], rtol=1e-6)


def test_float32_graph_stays_float32():
    x = Tensor(np.ones((4, 3)), requires_grad=True)
    w = Tensor(np.ones((3, 2)), requires_grad=True)
    y = sigmoid(relu(x @ w) * 0.5 + 1).mean()
    assert y.dtype == np.float32
    y.backward()
    assert x.grad.dtype == np.float32 and w.grad.dtype == np.float32


def test_no_grad_bare_decorator():
    w = Tensor([1.0], requires_grad=True)

    @no_grad
    def evaluate():
        return w * 2

    assert not evaluate().requires_grad and is_grad_enabled()


def test_backward_accepts_torch_style_gradient_keyword():
    x = Tensor([1.0, 2.0], requires_grad=True)
    (x * 3).backward(gradient=np.ones(2))
    np.testing.assert_allclose(x.grad, [3.0, 3.0])


def test_pow_zero_exponent_has_zero_gradient_even_at_zero():
    x = Tensor([0.0, 2.0], requires_grad=True)
    (x ** 0).sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.0])


def test_grad_mode_is_not_recorded_for_constants_under_no_grad():
    w = Tensor(np.ones((2, 2)), requires_grad=True)
    with no_grad():
        out = relu(w @ w).sum()
    assert out._ctx is None and not out.requires_grad
