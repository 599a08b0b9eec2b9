"""Parity with PyTorch in float32: forward atol 1e-6 / rtol 1e-3, gradients atol 1e-4 / rtol 1e-3.

Skipped when torch is not installed; tinytorch itself never imports torch.
"""

import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from tinytorch.core.activations import (  # noqa: E402
    GELU, ReLU, Sigmoid, Softmax, Tanh, gelu, log_softmax, relu, sigmoid, softmax, tanh)
from tinytorch.core.layers import Linear, Sequential  # noqa: E402
from tinytorch.core.losses import BinaryCrossEntropyLoss, CrossEntropyLoss, MSELoss  # noqa: E402
from tinytorch.core.tensor import Tensor  # noqa: E402

FWD = dict(atol=1e-6, rtol=1e-3)
GRAD = dict(atol=1e-4, rtol=1e-3)
RNG = np.random.default_rng(3)


def randn(*shape):
    """float32 standard-normal test data."""
    return RNG.standard_normal(shape).astype(np.float32)


def compare(tt_fn, torch_fn, *arrays):
    """Run both frameworks on copies of ``arrays``; compare outputs and input gradients."""
    tt_in = [Tensor(a, requires_grad=True) for a in arrays]
    th_in = [torch.tensor(a, requires_grad=True) for a in arrays]
    tt_out, th_out = tt_fn(*tt_in), torch_fn(*th_in)
    assert tt_out.dtype == np.float32 and tt_out.shape == tuple(th_out.shape)
    np.testing.assert_allclose(tt_out.data, th_out.detach().numpy(), **FWD)
    weights = randn(*tt_out.shape)
    (tt_out * Tensor(weights)).sum().backward()
    (th_out * torch.tensor(weights)).sum().backward()
    for t, th in zip(tt_in, th_in):
        np.testing.assert_allclose(t.grad, th.grad.numpy(), **GRAD)


def test_tinytorch_never_imports_torch():
    code = "import sys, tinytorch, tinytorch.core.losses; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("name,tt_fn,torch_fn", [
    ("add", lambda a, b: a + b, lambda a, b: a + b),
    ("sub", lambda a, b: a - b, lambda a, b: a - b),
    ("mul", lambda a, b: a * b, lambda a, b: a * b),
    ("div", lambda a, b: a / (b * b + 1), lambda a, b: a / (b * b + 1)),
    ("maximum", lambda a, b: a.maximum(b), lambda a, b: torch.maximum(a, b)),
])
def test_broadcast_binary_ops(name, tt_fn, torch_fn):
    compare(tt_fn, torch_fn, randn(3, 1, 4), randn(5, 1))


@pytest.mark.parametrize("name,tt_fn,torch_fn", [
    ("exp", lambda a: a.exp(), torch.exp),
    ("log", lambda a: (a * a + 0.5).log(), lambda a: torch.log(a * a + 0.5)),
    ("sqrt", lambda a: (a * a + 0.5).sqrt(), lambda a: torch.sqrt(a * a + 0.5)),
    ("abs", lambda a: a.abs(), torch.abs),
    ("pow", lambda a: a ** 3, lambda a: a ** 3),
    ("clip", lambda a: a.clip(-0.5, 0.7), lambda a: torch.clamp(a, -0.5, 0.7)),
    ("relu", relu, torch.relu),
    ("sigmoid", sigmoid, torch.sigmoid),
    ("tanh", tanh, torch.tanh),
    ("gelu", gelu, lambda a: torch.nn.functional.gelu(a, approximate="tanh")),
    ("softmax", lambda a: softmax(a, dim=1), lambda a: torch.softmax(a, dim=1)),
    ("log_softmax", lambda a: log_softmax(a, dim=-1), lambda a: torch.log_softmax(a, dim=-1)),
    ("sum", lambda a: a.sum(axis=1), lambda a: a.sum(dim=1)),
    ("mean", lambda a: a.mean(axis=(0, 2), keepdims=True), lambda a: a.mean(dim=(0, 2), keepdim=True)),
    ("max", lambda a: a.max(axis=-1), lambda a: a.amax(dim=-1)),
    ("reshape", lambda a: a.reshape(4, -1), lambda a: a.reshape(4, -1)),
    ("transpose", lambda a: a.transpose(0, 2), lambda a: a.transpose(0, 2)),
    ("permute", lambda a: a.permute(1, 2, 0), lambda a: a.permute(1, 2, 0)),
    ("getitem", lambda a: a[1:, np.array([0, 2, 2])], lambda a: a[1:, torch.tensor([0, 2, 2])]),
])
def test_unary_ops(name, tt_fn, torch_fn):
    compare(tt_fn, torch_fn, randn(2, 3, 4) * 2)


@pytest.mark.parametrize("shapes", [((3, 4), (4, 5)), ((4,), (4, 5)), ((3, 4), (4,)), ((2, 3, 4), (4, 5)), ((2, 3, 4), (2, 4, 5))])
def test_matmul(shapes):
    compare(lambda a, b: a @ b, lambda a, b: a @ b, randn(*shapes[0]), randn(*shapes[1]))


def test_linear_with_copied_weights():
    tt_layer, th_layer = Linear(6, 4), torch.nn.Linear(6, 4)
    with torch.no_grad():
        th_layer.weight.copy_(torch.tensor(tt_layer.weight.data))
        th_layer.bias.copy_(torch.tensor(tt_layer.bias.data))
    x = randn(5, 6)
    tt_x, th_x = Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    tt_out, th_out = tt_layer(tt_x), th_layer(th_x)
    np.testing.assert_allclose(tt_out.data, th_out.detach().numpy(), **FWD)
    tanh(tt_out).sum().backward()
    th_out.tanh().sum().backward()
    np.testing.assert_allclose(tt_x.grad, th_x.grad.numpy(), **GRAD)
    np.testing.assert_allclose(tt_layer.weight.grad, th_layer.weight.grad.numpy(), **GRAD)
    np.testing.assert_allclose(tt_layer.bias.grad, th_layer.bias.grad.numpy(), **GRAD)


def test_linear_init_distribution_matches_torch_default():
    bound = 1 / np.sqrt(100)
    ours = Linear(100, 200).weight.data
    theirs = torch.nn.Linear(100, 200).weight.detach().numpy()
    assert np.abs(ours).max() <= bound and np.abs(theirs).max() <= bound
    assert abs(ours.std() - theirs.std()) < 0.1 * bound


def test_activation_modules():
    for ours, theirs in ((ReLU(), torch.nn.ReLU()), (Sigmoid(), torch.nn.Sigmoid()), (Tanh(), torch.nn.Tanh()),
                         (GELU(), torch.nn.GELU(approximate="tanh")), (Softmax(dim=-1), torch.nn.Softmax(dim=-1))):
        compare(ours, theirs, randn(4, 5) * 3)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy(reduction):
    z, t = randn(8, 5) * 3, RNG.integers(0, 5, 8)
    compare(lambda a: CrossEntropyLoss(reduction)(a, t),
            lambda a: torch.nn.CrossEntropyLoss(reduction=reduction)(a, torch.tensor(t)), z)


def test_cross_entropy_huge_logits():
    z = np.array([[1e4, 0.0, -1e4], [0.0, 1e4, 1e4], [5.0, 5.0, 5.0]], dtype=np.float32)
    t = np.array([0, 2, 1])
    compare(lambda a: CrossEntropyLoss()(a, t), lambda a: torch.nn.CrossEntropyLoss()(a, torch.tensor(t)), z)


def test_cross_entropy_raises_for_float_targets_like_torch():
    z = randn(2, 3)
    with pytest.raises(TypeError):
        CrossEntropyLoss()(Tensor(z), Tensor(np.array([0.0, 1.0])))
    with pytest.raises(IndexError):
        CrossEntropyLoss()(Tensor(z), np.array([0, 3]))
    with pytest.raises(IndexError):
        torch.nn.CrossEntropyLoss()(torch.tensor(z), torch.tensor([0, 3]))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_bce_and_mse(reduction):
    p, y = RNG.uniform(0.05, 0.95, (4, 3)).astype(np.float32), RNG.random((4, 3)).astype(np.float32)
    compare(lambda a: BinaryCrossEntropyLoss(reduction)(a, Tensor(y)),
            lambda a: torch.nn.BCELoss(reduction=reduction)(a, torch.tensor(y)), p)
    compare(lambda a: MSELoss(reduction)(a, Tensor(y)),
            lambda a: torch.nn.MSELoss(reduction=reduction)(a, torch.tensor(y)), randn(4, 3))


def test_bce_clamp_matches_torch_at_zero_and_one():
    p, y = np.array([0.0, 1.0, 0.0, 1.0, 0.5], dtype=np.float32), np.array([1.0, 0.0, 0.0, 1.0, 1.0], dtype=np.float32)
    ours = BinaryCrossEntropyLoss()(Tensor(p), Tensor(y)).item()
    theirs = torch.nn.BCELoss()(torch.tensor(p), torch.tensor(y)).item()
    assert ours == pytest.approx(theirs, rel=1e-5)


def test_mlp_training_step_gradients():
    tt_model = Sequential(Linear(8, 16), ReLU(), Linear(16, 3))
    th_model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
    with torch.no_grad():
        for (_, ours), theirs in zip(tt_model.named_parameters(), th_model.parameters()):
            theirs.copy_(torch.tensor(ours.data))
    x, t = randn(10, 8), RNG.integers(0, 3, 10)
    tt_loss = CrossEntropyLoss()(tt_model(Tensor(x)), t)
    th_loss = torch.nn.CrossEntropyLoss()(th_model(torch.tensor(x)), torch.tensor(t))
    np.testing.assert_allclose(tt_loss.item(), th_loss.item(), **FWD)
    tt_loss.backward()
    th_loss.backward()
    for ours, theirs in zip(tt_model.parameters(), th_model.parameters()):
        np.testing.assert_allclose(ours.grad, theirs.grad.numpy(), **GRAD)
