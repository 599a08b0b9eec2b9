"""Activations (module 02): forward values against NumPy references, stability at extreme inputs.

Each nonlinearity twice: as a Module (``ReLU()``) and as a function (``relu(x)``), which is
also ``tinytorch.functional.relu``.
"""

import math

import numpy as np
import pytest

from tinytorch.core.activations import (
    GELU,
    ReLU,
    Sigmoid,
    Softmax,
    Tanh,
    gelu,
    log_softmax,
    relu,
    sigmoid,
    softmax,
    tanh,
)
from tinytorch.core.tensor import Tensor

X = np.linspace(-6, 6, 25, dtype=np.float32).reshape(5, 5)
RNG = np.random.default_rng(0)


def randn(*shape):
    """float32 standard-normal test data."""
    return RNG.standard_normal(shape).astype(np.float32)


def test_relu_zeroes_negatives_and_keeps_positives():
    np.testing.assert_array_equal(ReLU()(Tensor(X)).data, np.maximum(X, 0))


def test_sigmoid_matches_reference_and_is_stable_for_huge_inputs():
    np.testing.assert_allclose(Sigmoid()(Tensor(X)).data, 1 / (1 + np.exp(-X.astype(np.float64))),
                               rtol=1e-5, atol=1e-7)
    extreme = Sigmoid()(Tensor(np.array([-1e4, -100.0, 0.0, 100.0, 1e4], dtype=np.float32))).data
    assert np.all(np.isfinite(extreme))
    np.testing.assert_allclose(extreme, [0.0, 0.0, 0.5, 1.0, 1.0], atol=1e-30)


def test_tanh_matches_numpy():
    np.testing.assert_allclose(Tanh()(Tensor(X)).data, np.tanh(X), rtol=1e-6)


def test_gelu_is_the_tanh_approximation():
    x = X.astype(np.float64)
    reference = 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
    np.testing.assert_allclose(GELU()(Tensor(X)).data, reference, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_softmax_matches_reference_along_dim(dim):
    shifted = np.exp(X - X.max(axis=dim, keepdims=True))
    np.testing.assert_allclose(Softmax(dim=dim)(Tensor(X)).data, shifted / shifted.sum(axis=dim, keepdims=True),
                               rtol=1e-5, atol=1e-7)


def test_softmax_is_stable_for_huge_logits():
    out = Softmax(dim=-1)(Tensor(np.array([[1e4, 0.0, -1e4]], dtype=np.float32))).data
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out, [[1.0, 0.0, 0.0]], atol=1e-7)


def test_activations_keep_float32_and_shape():
    for activation in (ReLU(), Sigmoid(), Tanh(), GELU(), Softmax(dim=-1)):
        out = activation(Tensor(X))
        assert out.dtype == np.float32 and out.shape == X.shape, type(activation).__name__


# ----------------------------------------------------------------------------- the function forms


def test_relu_sigmoid_tanh_gelu_functions_match_numpy():
    a = randn(5, 3)
    x = Tensor(a)
    np.testing.assert_allclose(relu(x).data, np.maximum(a, 0))
    np.testing.assert_allclose(sigmoid(x).data, 1 / (1 + np.exp(-a)), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(tanh(x).data, np.tanh(a), rtol=1e-6)
    reference = 0.5 * a * (1 + np.tanh(np.sqrt(2 / np.pi) * (a + 0.044715 * a ** 3)))
    np.testing.assert_allclose(gelu(x).data, reference, rtol=1e-5, atol=1e-7)


def test_sigmoid_function_is_stable_for_huge_inputs():
    out = sigmoid(Tensor([-1e4, -100.0, 0.0, 100.0, 1e4])).data
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out, [0, 0, 0.5, 1, 1], atol=1e-7)


def test_softmax_and_log_softmax_functions():
    a = randn(3, 5)
    e = np.exp(a - a.max(1, keepdims=True))
    sm = e / e.sum(1, keepdims=True)
    np.testing.assert_allclose(softmax(Tensor(a), dim=1).data, sm, rtol=1e-5)
    np.testing.assert_allclose(log_softmax(Tensor(a), dim=-1).data, np.log(sm), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(softmax(Tensor(a), dim=0).data.sum(0), np.ones(5), rtol=1e-5)
    assert np.isfinite(log_softmax(Tensor([[1e4, 0.0, -1e4]])).data).all()


def test_activation_modules_match_functions():
    x = Tensor(np.linspace(-3, 3, 12).reshape(3, 4))
    for module, function in ((ReLU(), relu), (Sigmoid(), sigmoid), (Tanh(), tanh), (GELU(), gelu)):
        np.testing.assert_array_equal(module(x).data, function(x).data)
    np.testing.assert_allclose(Softmax(dim=0)(x).data.sum(0), np.ones(4), rtol=1e-6)
    with pytest.raises(ValueError, match="approximate='tanh'"):
        GELU(approximate="none")
