"""Parity of attention with PyTorch in float32 (skipped when torch is not installed)."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from tinytorch.core.attention import MultiHeadAttention, scaled_dot_product_attention  # noqa: E402
from tinytorch.core.tensor import Tensor  # noqa: E402

FWD = dict(atol=1e-6, rtol=1e-3)
GRAD = dict(atol=1e-4, rtol=1e-3)
RNG = np.random.default_rng(5)


def randn(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("kwargs", [
    dict(),
    dict(is_causal=True),
    dict(attn_mask=RNG.random((5, 7)) > 0.3),
    dict(attn_mask=randn(5, 7)),
    dict(scale=0.3),
], ids=["plain", "causal", "bool mask", "float mask", "scale"])
def test_sdpa_matches_torch(kwargs):
    arrays = [randn(2, 3, 5, 4), randn(2, 3, 7, 4), randn(2, 3, 7, 6)]
    if kwargs.get("is_causal"):
        arrays[1], arrays[2] = randn(2, 3, 5, 4), randn(2, 3, 5, 6)
    tt = [Tensor(a, requires_grad=True) for a in arrays]
    th = [torch.tensor(a, requires_grad=True) for a in arrays]
    th_kwargs = {k: torch.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
    out_tt = scaled_dot_product_attention(*tt, **kwargs)
    out_th = torch.nn.functional.scaled_dot_product_attention(*th, **th_kwargs)
    np.testing.assert_allclose(out_tt.data, out_th.detach().numpy(), **FWD)
    w = randn(*out_tt.shape)
    (out_tt * Tensor(w)).sum().backward()
    (out_th * torch.tensor(w)).sum().backward()
    for a, b in zip(tt, th):
        np.testing.assert_allclose(a.grad, b.grad.numpy(), **GRAD)


def test_multi_head_attention_matches_torch_module():
    e, h = 16, 4
    ours = MultiHeadAttention(e, h)
    theirs = torch.nn.MultiheadAttention(e, h, batch_first=True)
    with torch.no_grad():
        theirs.in_proj_weight.copy_(torch.tensor(ours.in_proj.weight.data))
        theirs.in_proj_bias.copy_(torch.tensor(ours.in_proj.bias.data))
        theirs.out_proj.weight.copy_(torch.tensor(ours.out_proj.weight.data))
        theirs.out_proj.bias.copy_(torch.tensor(ours.out_proj.bias.data))
    x = randn(3, 6, e)
    mask = np.tril(np.ones((6, 6), bool))
    xt, xh = Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out_tt, w_tt = ours(xt, attn_mask=mask, need_weights=True)
    out_th, w_th = theirs(xh, xh, xh, attn_mask=torch.tensor(~mask), need_weights=True)  # torch: True = blocked
    np.testing.assert_allclose(out_tt.data, out_th.detach().numpy(), **FWD)
    np.testing.assert_allclose(w_tt.data, w_th.detach().numpy(), **FWD)
    out_tt.sum().backward()
    out_th.sum().backward()
    np.testing.assert_allclose(xt.grad, xh.grad.numpy(), **GRAD)
    np.testing.assert_allclose(ours.in_proj.weight.grad, theirs.in_proj_weight.grad.numpy(), **GRAD)
    np.testing.assert_allclose(ours.out_proj.weight.grad, theirs.out_proj.weight.grad.numpy(), **GRAD)


def test_cross_attention_matches_torch_module():
    e, h = 8, 2
    ours = MultiHeadAttention(e, h)
    theirs = torch.nn.MultiheadAttention(e, h, batch_first=True)
    with torch.no_grad():
        theirs.in_proj_weight.copy_(torch.tensor(ours.in_proj.weight.data))
        theirs.in_proj_bias.copy_(torch.tensor(ours.in_proj.bias.data))
        theirs.out_proj.weight.copy_(torch.tensor(ours.out_proj.weight.data))
        theirs.out_proj.bias.copy_(torch.tensor(ours.out_proj.bias.data))
    q, k, v = randn(2, 3, e), randn(2, 5, e), randn(2, 5, e)
    out_tt, _ = ours(Tensor(q), Tensor(k), Tensor(v))
    out_th, _ = theirs(torch.tensor(q), torch.tensor(k), torch.tensor(v))
    np.testing.assert_allclose(out_tt.data, out_th.detach().numpy(), **FWD)


def test_fully_masked_row_gives_zero_output_as_recent_torch():
    """A query that may attend no key: zero output (torch >= 2.5 too; older torch gave NaN)."""
    mask = np.ones((3, 4), bool)
    mask[1] = False
    q, k, v = randn(1, 3, 2), randn(1, 4, 2), randn(1, 4, 2)
    ours = scaled_dot_product_attention(Tensor(q), Tensor(k), Tensor(v), attn_mask=mask).data
    theirs = torch.nn.functional.scaled_dot_product_attention(
        torch.tensor(q), torch.tensor(k), torch.tensor(v), attn_mask=torch.tensor(mask)).numpy()
    np.testing.assert_array_equal(ours[0, 1], 0.0)
    np.testing.assert_allclose(ours, theirs, **FWD)
