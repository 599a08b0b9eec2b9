"""Activations (module 02): forward values against NumPy references, stability at extreme inputs."""

import math

import numpy as np
import pytest

from tinytorch.core.activations import GELU, ReLU, Sigmoid, Softmax, Tanh
from tinytorch.core.tensor import Tensor

X = np.linspace(-6, 6, 25, dtype=np.float32).reshape(5, 5)


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
