"""Module 09 spatial against PyTorch (float32, same weights, same inputs).

Skipped when torch is not installed; tinytorch itself never imports torch.
Tolerances: forward atol 1e-6 / rtol 1e-3, gradients atol 1e-4 / rtol 1e-3. Convolution
forward uses atol 1e-5: each output is a sum of up to C*kh*kw = 54 float32 products of
O(1) values accumulated in a different order (BLAS vs oneDNN), so rounding differences
of a few ulps of the sum (~1e-6 each) reach about 1e-5 on outputs that land near zero,
where rtol gives no slack.
"""

import numpy as np
import pytest

from tinytorch.core.spatial import AvgPool2d, Conv2d, MaxPool2d
from tinytorch.core.tensor import Tensor

torch = pytest.importorskip("torch")

FWD = dict(rtol=1e-3, atol=1e-6)
CONV_FWD = dict(rtol=1e-3, atol=1e-5)
GRAD = dict(rtol=1e-3, atol=1e-4)


def _pair_inputs(x):
    return Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)


@pytest.mark.parametrize("c_in, c_out, kernel, stride, padding, bias, hw", [
    (1, 6, 3, 1, 1, True, (8, 8)),
    (6, 16, 3, 1, 1, True, (4, 4)),
    (3, 4, (3, 2), (2, 1), (1, 2), True, (9, 7)),
    (2, 5, 5, 2, 0, False, (11, 12)),
    (2, 3, (1, 3), 3, (0, 1), True, (7, 10)),
    (8, 16, 3, 1, 1, True, (14, 14)),          # full-size layers: the second conv at 28x28,
    (3, 6, 5, 1, 0, True, (32, 32)),           # LeNet-5 on CIFAR's 32x32x3,
    (6, 16, 5, 1, 0, False, (14, 14)),         # and its second conv
    (4, 3, 3, (1, 2), 1, True, (9, 10)),       # row unfolding with a horizontal stride
])
def test_conv2d_matches_torch(c_in, c_out, kernel, stride, padding, bias, hw):
    rng = np.random.default_rng(0)
    ours = Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=bias)
    ref = torch.nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=bias)
    with torch.no_grad():
        ref.weight.copy_(torch.from_numpy(ours.weight.data))
        if bias:
            ref.bias.copy_(torch.from_numpy(ours.bias.data))
    x, tx = _pair_inputs(rng.standard_normal((4, c_in, *hw)).astype(np.float32))
    out, tout = ours(x), ref(tx)
    np.testing.assert_allclose(out.data, tout.detach().numpy(), **CONV_FWD)
    assert out.dtype == np.float32

    g = rng.standard_normal(out.shape).astype(np.float32)
    out.backward(g)
    tout.backward(torch.from_numpy(g))
    np.testing.assert_allclose(x.grad, tx.grad.numpy(), **GRAD)
    np.testing.assert_allclose(ours.weight.grad, ref.weight.grad.numpy(), **GRAD)
    if bias:
        np.testing.assert_allclose(ours.bias.grad, ref.bias.grad.numpy(), **GRAD)


@pytest.mark.parametrize("ours_cls, torch_cls", [
    (MaxPool2d, torch.nn.MaxPool2d),
    (AvgPool2d, torch.nn.AvgPool2d),
])
@pytest.mark.parametrize("kernel, stride, padding", [
    (2, None, 0), (3, 2, 1), ((3, 2), (1, 2), (1, 1)), (2, 3, 1),
])
def test_pooling_matches_torch(ours_cls, torch_cls, kernel, stride, padding):
    rng = np.random.default_rng(1)
    x, tx = _pair_inputs(rng.standard_normal((3, 4, 9, 8)).astype(np.float32))
    out = ours_cls(kernel, stride, padding)(x)
    tout = torch_cls(kernel, stride, padding)(tx)
    np.testing.assert_allclose(out.data, tout.detach().numpy(), **FWD)
    g = rng.standard_normal(out.shape).astype(np.float32)
    out.backward(g)
    tout.backward(torch.from_numpy(g))
    np.testing.assert_allclose(x.grad, tx.grad.numpy(), **GRAD)


@pytest.mark.parametrize("kernel, stride", [(2, None), (3, 1), ((2, 3), (1, 2))])
def test_max_pool_ties_route_the_gradient_as_torch(kernel, stride):
    """After a ReLU many windows are all zeros: both send the gradient to the same pixel."""
    rng = np.random.default_rng(2)
    x, tx = _pair_inputs(np.maximum(rng.standard_normal((2, 3, 8, 9)), 0).astype(np.float32))
    out, tout = MaxPool2d(kernel, stride)(x), torch.nn.MaxPool2d(kernel, stride)(tx)
    g = rng.standard_normal(out.shape).astype(np.float32)
    out.backward(g)
    tout.backward(torch.from_numpy(g))
    np.testing.assert_allclose(x.grad, tx.grad.numpy(), **GRAD)
