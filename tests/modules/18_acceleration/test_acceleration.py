"""Module 18 acceleration: every naive/fast pair computes the same numbers (outputs and
gradients), the fused primitives pass float64 gradient checks, and fusion fixes the
unfused cross-entropy's overflow."""

import numpy as np
import pytest
from gradcheck import gradcheck

from tinytorch.core.tensor import Tensor
from tinytorch.perf.acceleration import (
    gelu_fused,
    gelu_unfused,
    kernel_pairs,
    layer_norm_fused,
    matmul_blas,
    matmul_loops,
    softmax_cross_entropy_fused,
    softmax_cross_entropy_unfused,
)


def _as_tuple(result):
    return result if isinstance(result, tuple) else (result,)


@pytest.mark.parametrize("pair", kernel_pairs(), ids=lambda p: p.name)
def test_naive_and_fast_compute_the_same_numbers(pair):
    arguments = pair.inputs(np.random.default_rng(0))
    naive, fast = _as_tuple(pair.naive(*arguments)), _as_tuple(pair.fast(*arguments))
    assert len(naive) == len(fast) >= 1
    for a, b in zip(naive, fast):
        assert a.shape == b.shape and a.dtype == b.dtype
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=pair.atol)


def test_the_fused_pairs_also_return_input_gradients():
    names = {p.name.split(" ")[0]: len(_as_tuple(p.fast(*p.inputs(np.random.default_rng(0))))) for p in kernel_pairs()}
    assert names == {"matmul": 1, "conv2d": 1, "GELU": 2, "LayerNorm": 4, "softmax+cross-entropy": 2, "generation": 1}


@pytest.mark.parametrize("scale", [0, -1, 1.5, True])
def test_kernel_pairs_refuses_a_bad_scale(scale):
    with pytest.raises(ValueError, match=f"kernel_pairs: scale must be an int >= 1, got {scale!r}"):
        kernel_pairs(scale)


def test_matmul_loops_by_hand_and_shape_error():
    a, b = np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([[5.0], [6.0]])
    assert matmul_loops(a, b).tolist() == [[17.0], [39.0]] == matmul_blas(a, b).tolist()
    with pytest.raises(ValueError, match=r"cannot multiply shapes \(2, 2\) and \(3, 1\)"):
        matmul_loops(a, np.zeros((3, 1)))


def test_fused_gelu_gradient_checks():
    x = np.random.default_rng(0).standard_normal((3, 4)) * 2
    gradcheck(gelu_fused, x)
    gradcheck(gelu_unfused, x)


def test_fused_layer_norm_gradient_checks():
    rng = np.random.default_rng(1)
    x, w, b = rng.standard_normal((2, 3, 5)), rng.standard_normal(5), rng.standard_normal(5)
    gradcheck(layer_norm_fused, x, w, b)
    with pytest.raises(ValueError, match=r"weight \(4,\) and bias \(5,\) must both be \(5,\)"):
        layer_norm_fused(Tensor(x), Tensor(np.ones(4)), Tensor(np.ones(5)))


def test_fused_softmax_cross_entropy_gradient_checks_and_is_stable():
    rng = np.random.default_rng(2)
    targets = rng.integers(0, 4, 5)
    gradcheck(lambda z: softmax_cross_entropy_fused(z, targets), rng.standard_normal((5, 4)) * 3)
    huge = Tensor(np.array([[1000.0, 0.0, -1000.0]], np.float32))
    assert softmax_cross_entropy_fused(huge, np.array([2])).item() == pytest.approx(2000.0)
    with np.errstate(divide="ignore"):
        assert np.isinf(softmax_cross_entropy_unfused(huge, np.array([2])).item())


def test_softmax_cross_entropy_rejects_bad_targets():
    z = Tensor(np.zeros((2, 3), np.float32))
    with pytest.raises(IndexError, match=r"outside \[0, 3\)"):
        softmax_cross_entropy_fused(z, np.array([0, 3]))
    with pytest.raises(ValueError, match="integers"):
        softmax_cross_entropy_fused(z, np.array([0.0, 1.0]))


def test_batched_generation_equals_one_prompt_at_a_time_with_and_without_the_cache():
    from tinytorch.core.random import manual_seed
    from tinytorch.core.transformers import GPT, GPTConfig
    from tinytorch.perf.acceleration import generate_batched, generate_one_at_a_time
    manual_seed(3)
    model = GPT(GPTConfig(vocab_size=17, context_length=20, n_layer=2, n_head=2, n_embd=16, init_std=0.4))
    model.eval()
    prompts = np.random.default_rng(3).integers(0, 17, (5, 6))
    for use_cache in (True, False):
        batched = generate_batched(model, prompts, 14, use_cache=use_cache)
        assert batched.shape == (5, 20) and batched.dtype == np.int64
        assert np.array_equal(batched, generate_one_at_a_time(model, prompts, 14, use_cache=use_cache))
    assert len({tuple(row) for row in batched[:, 6:].tolist()}) > 1  # the rows really differ
    with pytest.raises(ValueError, match="prompts must be a"):
        generate_batched(model, np.zeros((2, 3)), 4)
