"""BatchNorm1d/2d against torch.nn.BatchNorm1d/2d (float32, same data, several steps).

Skipped when torch is not installed; tinytorch itself never imports torch. Training steps
compare outputs, gradients and the running statistics after every step; then eval mode.
"""

import numpy as np
import pytest

from tinytorch.core.normalization import BatchNorm1d, BatchNorm2d
from tinytorch.core.tensor import Tensor

torch = pytest.importorskip("torch")

FWD = dict(rtol=1e-4, atol=1e-5)
GRAD = dict(rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("ours_cls, torch_cls, shape", [
    (BatchNorm1d, torch.nn.BatchNorm1d, (16, 5)),
    (BatchNorm1d, torch.nn.BatchNorm1d, (8, 5, 7)),
    (BatchNorm2d, torch.nn.BatchNorm2d, (8, 5, 6, 6)),
])
@pytest.mark.parametrize("momentum", [0.1, None])
def test_batchnorm_matches_torch_over_training_steps_and_eval(ours_cls, torch_cls, shape, momentum):
    rng = np.random.default_rng(0)
    ours, ref = ours_cls(5, momentum=momentum), torch_cls(5, momentum=momentum)
    weight, bias = rng.normal(size=5).astype(np.float32), rng.normal(size=5).astype(np.float32)
    ours.weight.data[...], ours.bias.data[...] = weight, bias
    with torch.no_grad():
        ref.weight.copy_(torch.from_numpy(weight))
        ref.bias.copy_(torch.from_numpy(bias))
    for step in range(3):
        x = rng.normal(step, 1 + step, shape).astype(np.float32)
        tx, rx = Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        out, rout = ours(tx), ref(rx)
        np.testing.assert_allclose(out.data, rout.detach().numpy(), **FWD)
        g = rng.normal(size=shape).astype(np.float32)
        ours.zero_grad()
        ref.zero_grad()
        out.backward(g)
        rout.backward(torch.from_numpy(g))
        np.testing.assert_allclose(tx.grad, rx.grad.numpy(), **GRAD)
        np.testing.assert_allclose(ours.weight.grad, ref.weight.grad.numpy(), **GRAD)
        np.testing.assert_allclose(ours.bias.grad, ref.bias.grad.numpy(), **GRAD)
        np.testing.assert_allclose(ours.running_mean.data, ref.running_mean.numpy(), **FWD)
        np.testing.assert_allclose(ours.running_var.data, ref.running_var.numpy(), **FWD)
    ours.eval()
    ref.eval()
    x = rng.normal(size=shape).astype(np.float32)
    tx, rx = Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, rout = ours(tx), ref(rx)
    np.testing.assert_allclose(out.data, rout.detach().numpy(), **FWD)
    out.backward(np.ones(shape, np.float32))
    rout.backward(torch.ones(shape))
    np.testing.assert_allclose(tx.grad, rx.grad.numpy(), **GRAD)
