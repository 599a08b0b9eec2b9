"""Parity of LayerNorm, the transformer block and a whole GPT with PyTorch in float32 (skipped without torch)."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from milestones.tools.torch_gpt import copy_weights, from_config, torch_name  # noqa: E402

import tinytorch  # noqa: E402
from tinytorch.core.losses import CrossEntropyLoss  # noqa: E402
from tinytorch.core.tensor import Tensor  # noqa: E402
from tinytorch.core.transformers import GPT, GPTConfig, LayerNorm  # noqa: E402

FWD = dict(atol=1e-5, rtol=1e-3)
GRAD = dict(atol=1e-4, rtol=1e-3)
RNG = np.random.default_rng(7)


def test_layer_norm_matches_torch():
    x = (RNG.standard_normal((4, 3, 8)) * 5 + 2).astype(np.float32)
    ours, theirs = LayerNorm(8), torch.nn.LayerNorm(8)
    ours.weight.data[...] = RNG.standard_normal(8)
    ours.bias.data[...] = RNG.standard_normal(8)
    with torch.no_grad():
        theirs.weight.copy_(torch.tensor(ours.weight.data))
        theirs.bias.copy_(torch.tensor(ours.bias.data))
    xt, xh = Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out_t, out_h = ours(xt), theirs(xh)
    np.testing.assert_allclose(out_t.data, out_h.detach().numpy(), **FWD)
    w = RNG.standard_normal(out_t.shape).astype(np.float32)
    (out_t * Tensor(w)).sum().backward()
    (out_h * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(xt.grad, xh.grad.numpy(), **GRAD)
    np.testing.assert_allclose(ours.weight.grad, theirs.weight.grad.numpy(), **GRAD)
    np.testing.assert_allclose(ours.bias.grad, theirs.bias.grad.numpy(), **GRAD)


def test_gpt_logits_loss_and_every_gradient_match_torch():
    tinytorch.manual_seed(0)
    config = GPTConfig(vocab_size=13, context_length=10, n_layer=2, n_head=2, n_embd=16, init_std=0.1)
    ours = GPT(config)
    theirs = from_config(config)
    copy_weights(ours, theirs)
    ids = RNG.integers(0, 13, (3, 10))
    targets = RNG.integers(0, 13, 30)
    logits_t = ours(ids)
    logits_h = theirs(torch.from_numpy(ids))
    np.testing.assert_allclose(logits_t.data, logits_h.detach().numpy(), **FWD)
    loss_t = CrossEntropyLoss()(logits_t.reshape(-1, 13), targets)
    loss_h = torch.nn.functional.cross_entropy(logits_h.reshape(-1, 13), torch.from_numpy(targets))
    np.testing.assert_allclose(loss_t.item(), loss_h.item(), rtol=1e-5)
    loss_t.backward()
    loss_h.backward()
    grads = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad, grads[torch_name(name)].grad.numpy(), err_msg=name, **GRAD)
