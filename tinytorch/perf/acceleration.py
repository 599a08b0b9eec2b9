"""Module 18, acceleration: the naive and the fast version of each hot operation, side by side.

Each pair computes the same numbers (the tests check it) and differs only in how:

* **matmul**: a per-element triple loop in Python vs one BLAS call (``a @ b``). The loop does
  the same multiply-adds; BLAS does them in compiled, cache-blocked, vectorized code.
* **convolution**: the seven-loop definition (``tinytorch.core.spatial.conv2d_naive``) vs
  im2col + one matmul (``tinytorch.core.spatial.conv2d``).
* **fusion**: GELU, LayerNorm and softmax + cross-entropy composed from Tensor primitives
  (every intermediate is a separate array and a separate graph node with its own backward)
  vs one ``Function`` each, whose hand-written backward needs few saved arrays. The fused
  cross-entropy is also stable for huge logits, where the unfused ``log(softmax(z))``
  underflows to ``log(0)``. The fused twins of a whole transformer's attention, LayerNorm
  and MLP, and ``accelerate(model)`` that swaps them in, are in ``tinytorch/perf/fusion.py``.
* **batching**: a GPT generating for several prompts one prompt at a time (a loop over the
  batch) vs all prompts together. Each decoding step of a small model costs mostly fixed
  overhead (Python, one call per layer, matrix-*vector* products); batched, one step serves
  every prompt with matrix-*matrix* products, so tokens per second grow almost with the batch.

:func:`kernel_pairs` lists every pair with an input generator, so the tests and the
benchmark (``milestones/tools/bench.py``) walk the same list. Fused ops return Tensors and
take part in autograd like any other op.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from tinytorch.core.activations import softmax, tanh
from tinytorch.core.autograd import Function
from tinytorch.core.random import manual_seed
from tinytorch.core.spatial import conv2d, conv2d_naive
from tinytorch.core.tensor import Tensor
from tinytorch.core.transformers import GPT, GPTConfig, layer_norm
from tinytorch.perf.fusion import FusedLayerNormFunction, accelerate, gelu_kernel, gelu_slope
from tinytorch.perf.memoization import generate

__all__ = ["matmul_loops", "matmul_blas", "conv2d_loops", "conv2d_im2col",
           "gelu_unfused", "gelu_fused", "layer_norm_unfused", "layer_norm_fused",
           "softmax_cross_entropy_unfused", "softmax_cross_entropy_fused",
           "generate_one_at_a_time", "generate_batched", "accelerate",
           "FusedGELU", "FusedSoftmaxCrossEntropy", "KernelPair", "kernel_pairs"]

_GELU_C = math.sqrt(2.0 / math.pi)
_GELU_A = 0.044715


# ----------------------------------------------------------------------------- matmul

def matmul_loops(a, b) -> np.ndarray:
    """SLOW reference: ``a @ b`` one multiply-add at a time, in plain Python loops.

    Examples:
        >>> import numpy as np
        >>> from tinytorch.perf.acceleration import matmul_loops
        >>> matmul_loops(np.array([[1.0, 2.0]]), np.array([[3.0], [4.0]]))
        array([[11.]])
    """
    a, b = np.asarray(a), np.asarray(b)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
        raise ValueError(f"matmul_loops: cannot multiply shapes {a.shape} and {b.shape}")
    rows, inner, cols = a.shape[0], a.shape[1], b.shape[1]
    a_list, b_list = a.tolist(), b.tolist()
    out = [[0.0] * cols for _ in range(rows)]
    for i in range(rows):
        a_row, out_row = a_list[i], out[i]
        for j in range(cols):
            total = 0.0
            for k in range(inner):
                total += a_row[k] * b_list[k][j]
            out_row[j] = total
    return np.array(out, dtype=np.result_type(a, b))


def matmul_blas(a, b) -> np.ndarray:
    """Fast: ``a @ b`` in one call to the BLAS library NumPy links against."""
    return np.asarray(a) @ np.asarray(b)


# ----------------------------------------------------------------------------- convolution

def conv2d_loops(x, weight, bias=None, stride=1, padding=0) -> np.ndarray:
    """SLOW reference: convolution by its definition, loops over batch, filters and pixels."""
    return conv2d_naive(np.asarray(x), np.asarray(weight), None if bias is None else np.asarray(bias),
                        stride, padding)


def conv2d_im2col(x, weight, bias=None, stride=1, padding=0) -> np.ndarray:
    """Fast: every kernel window copied into one matrix (im2col), then one matmul."""
    out = conv2d(Tensor(np.asarray(x)), Tensor(np.asarray(weight)),
                 None if bias is None else Tensor(np.asarray(bias)), stride, padding)
    return out.data


# ----------------------------------------------------------------------------- GELU

def gelu_unfused(x: Tensor) -> Tensor:
    """GELU (tanh form) from Tensor primitives: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).

    About eight graph nodes, each with its own intermediate array and backward.
    """
    inner = (x + x * x * x * _GELU_A) * _GELU_C
    return x * 0.5 * (tanh(inner) + 1.0)


class FusedGELU(Function):
    """GELU (tanh form, computed as h sigmoid(2u)) as one primitive: forward and its derivative
    written out, computed in place in two scratch arrays (the unfused chain allocates a new array
    at every step); the kernels are the fused MLP's (``tinytorch/perf/fusion.py``)."""

    @staticmethod
    def forward(ctx, x):
        out, s = gelu_kernel(x)
        ctx.save_for_backward(x, s)
        return out

    @staticmethod
    def backward(ctx, grad_output):
        x, s = ctx.saved_tensors
        grad = gelu_slope(x, s)
        grad *= grad_output
        return grad


def gelu_fused(x: Tensor) -> Tensor:
    """GELU (tanh form) as one fused primitive.

    Examples:
        >>> import numpy as np
        >>> from tinytorch.core.tensor import Tensor
        >>> from tinytorch.perf.acceleration import gelu_fused, gelu_unfused
        >>> x = Tensor(np.array([-1.0, 0.0, 2.0]))
        >>> bool(np.allclose(gelu_fused(x).data, gelu_unfused(x).data, atol=1e-6))
        True
    """
    return FusedGELU.apply(x)


# ----------------------------------------------------------------------------- LayerNorm

def layer_norm_unfused(x: Tensor, weight: Tensor, bias: Tensor, eps: float = 1e-5) -> Tensor:
    """LayerNorm over the last dimension composed from primitives: module 13's ``layer_norm``."""
    return layer_norm(x, (x.shape[-1],), weight, bias, eps)


def layer_norm_fused(x: Tensor, weight: Tensor, bias: Tensor, eps: float = 1e-5) -> Tensor:
    """LayerNorm over the last dimension as one fused primitive (``FusedLayerNormFunction``).

    Examples:
        >>> import numpy as np
        >>> from tinytorch.core.tensor import Tensor
        >>> from tinytorch.perf.acceleration import layer_norm_fused
        >>> x = Tensor(np.array([[1.0, 2.0, 3.0]]))
        >>> w, b = Tensor(np.ones(3)), Tensor(np.zeros(3))
        >>> np.round(layer_norm_fused(x, w, b).data, 4)
        array([[-1.2247,  0.    ,  1.2247]], dtype=float32)
    """
    if weight.shape != (x.shape[-1],) or bias.shape != (x.shape[-1],):
        raise ValueError(f"layer_norm_fused: weight {weight.shape} and bias {bias.shape} must both be "
                         f"({x.shape[-1]},) for input {x.shape}")
    return FusedLayerNormFunction.apply(x, weight, bias, eps=eps)


# ----------------------------------------------------------------------------- softmax + cross-entropy

def _targets(targets, logits_shape) -> np.ndarray:
    y = np.asarray(targets.data if isinstance(targets, Tensor) else targets)
    if y.ndim != 1 or y.shape[0] != logits_shape[0] or y.dtype.kind not in "iu":
        raise ValueError(f"softmax_cross_entropy: targets must be ({logits_shape[0]},) integers, "
                         f"got shape {y.shape} dtype {y.dtype}")
    if y.size and (y.min() < 0 or y.max() >= logits_shape[1]):
        raise IndexError(f"softmax_cross_entropy: a target is outside [0, {logits_shape[1]})")
    return y


def softmax_cross_entropy_unfused(logits: Tensor, targets) -> Tensor:
    """Mean cross-entropy as softmax, then log, then pick the target column (three graph nodes and more).

    Unstable: when a logit is far below the largest, its softmax underflows to 0 and log(0) = -inf.
    """
    y = _targets(targets, logits.shape)
    probabilities = softmax(logits, dim=-1)
    picked = probabilities[np.arange(len(y)), y]
    return -(picked.log().mean())


class FusedSoftmaxCrossEntropy(Function):
    """Mean cross-entropy from logits in one primitive: log-sum-exp (max-shifted) minus the target logit.

    Backward is (softmax - one_hot(target)) / N: no log, no division by a probability.
    """

    @staticmethod
    def forward(ctx, logits, targets):
        shifted = logits - logits.max(axis=-1, keepdims=True)
        exp = np.exp(shifted)
        total = exp.sum(axis=-1, keepdims=True)
        rows = np.arange(len(targets))
        loss = (np.log(total[:, 0]) - shifted[rows, targets]).mean()
        ctx.save_for_backward(exp / total, targets)
        return np.asarray(loss, dtype=logits.dtype)

    @staticmethod
    def backward(ctx, grad_output):
        softmax, targets = ctx.saved_tensors
        grad = softmax.copy()
        grad[np.arange(len(targets)), targets] -= 1.0
        return grad * (grad_output / len(targets)), None


def softmax_cross_entropy_fused(logits: Tensor, targets) -> Tensor:
    """Mean cross-entropy from logits as one fused, stable primitive.

    Examples:
        >>> import numpy as np
        >>> from tinytorch.core.tensor import Tensor
        >>> from tinytorch.perf.acceleration import softmax_cross_entropy_fused
        >>> z = Tensor(np.array([[1000.0, 0.0]]))
        >>> softmax_cross_entropy_fused(z, np.array([1])).item()    # the unfused version gives inf
        1000.0
    """
    return FusedSoftmaxCrossEntropy.apply(logits, _targets(targets, logits.shape))


# ----------------------------------------------------------------------------- batched generation

def _prompts(prompts) -> np.ndarray:
    array = np.asarray(getattr(prompts, "data", prompts))
    if array.ndim != 2 or array.dtype.kind not in "iu":
        raise ValueError(f"generate: prompts must be a (batch, length) integer array, got shape {array.shape} "
                         f"dtype {array.dtype}")
    return array


def _greedy(model, prompts, max_new_tokens, use_cache):
    """Greedy tokens: module 17's cached generation, or module 13's rereading ``GPT.generate``."""
    if use_cache:
        return generate(model, prompts, max_new_tokens, temperature=0).data
    return model.generate(prompts, max_new_tokens, temperature=0).data


def generate_one_at_a_time(model, prompts, max_new_tokens: int, use_cache: bool = True) -> np.ndarray:
    """SLOW reference: greedy generation for each prompt on its own, a Python loop over the batch.

    Examples:
        >>> import numpy as np
        >>> from tinytorch.core.random import manual_seed
        >>> from tinytorch.core.transformers import GPT, GPTConfig
        >>> from tinytorch.perf.acceleration import generate_one_at_a_time
        >>> _ = manual_seed(0)
        >>> gpt = GPT(GPTConfig(vocab_size=7, context_length=8, n_layer=1, n_head=2, n_embd=8))
        >>> generate_one_at_a_time(gpt, np.zeros((3, 2), dtype=np.int64), 4).shape
        (3, 6)
    """
    return np.concatenate([_greedy(model, row[None], max_new_tokens, use_cache) for row in _prompts(prompts)])


def generate_batched(model, prompts, max_new_tokens: int, use_cache: bool = True) -> np.ndarray:
    """Fast: greedy generation for every prompt at once (one forward pass per step serves the whole batch).

    Examples:
        >>> import numpy as np
        >>> from tinytorch.core.random import manual_seed
        >>> from tinytorch.core.transformers import GPT, GPTConfig
        >>> from tinytorch.perf.acceleration import generate_batched, generate_one_at_a_time
        >>> _ = manual_seed(0)
        >>> gpt = GPT(GPTConfig(vocab_size=7, context_length=8, n_layer=1, n_head=2, n_embd=8))
        >>> prompts = np.array([[1, 2], [3, 4], [5, 6]])
        >>> bool((generate_batched(gpt, prompts, 4) == generate_one_at_a_time(gpt, prompts, 4)).all())
        True
    """
    return _greedy(model, _prompts(prompts), max_new_tokens, use_cache)


# ----------------------------------------------------------------------------- the pairs

def _forward_backward(fn):
    """Run ``fn`` on fresh leaf Tensors and backpropagate a fixed output gradient: (output, input grads...)."""

    def run(*arrays, **kwargs):
        leaves = [Tensor(a, requires_grad=True) if np.asarray(a).dtype.kind == "f" else a for a in arrays]
        out = fn(*leaves, **kwargs)
        upstream = np.cos(np.arange(out.data.size)).reshape(out.shape).astype(out.dtype)  # fixed, uneven
        out.backward(upstream)
        return (out.data,) + tuple(leaf.grad for leaf in leaves if isinstance(leaf, Tensor))
    return run


@dataclass(frozen=True)
class KernelPair:
    """A naive and a fast implementation of one operation, with inputs to run them on.

    Attributes:
        name: what the pair computes.
        naive, fast: callables taking ``*inputs(rng)``, returning an array or a tuple of arrays
            (forward output, then input gradients for the fused ops).
        inputs: ``rng -> tuple`` of arguments.
        atol: the tolerance within which both must agree (float32 arithmetic in different order).
    """

    name: str
    naive: Callable
    fast: Callable
    inputs: Callable
    atol: float = 1e-5


def kernel_pairs(scale: int = 1) -> list[KernelPair]:
    """Every naive/fast pair of this module, with inputs sized for a benchmark (``scale`` multiplies them).

    Examples:
        >>> from tinytorch.perf.acceleration import kernel_pairs
        >>> [pair.name for pair in kernel_pairs()][:2]
        ['matmul 64x64 @ 64x64', 'conv2d 32x1x8x8, 6 filters 3x3']
    """
    if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
        raise ValueError(f"kernel_pairs: scale must be an int >= 1, got {scale!r}")
    n = 64 * scale
    batch = 32 * scale

    def uniform(shape):
        return lambda rng: rng.standard_normal(shape).astype(np.float32)

    def logits_and_targets(rng):
        return (rng.standard_normal((batch, 10)).astype(np.float32) * 3, rng.integers(0, 10, batch))

    def conv_inputs(rng):
        return (rng.random((batch, 1, 8, 8), dtype=np.float32),
                rng.standard_normal((6, 1, 3, 3)).astype(np.float32), np.zeros(6, np.float32))

    def generation_inputs(rng):
        manual_seed(int(rng.integers(2**31)))
        model = accelerate(GPT(GPTConfig(vocab_size=64, context_length=64, n_layer=2, n_head=4, n_embd=64,
                                         init_std=0.2)))
        model.eval()
        return model, rng.integers(0, 64, (8 * scale, 8)), 24

    def norm_inputs(rng):
        return (rng.standard_normal((batch, 16, 64)).astype(np.float32),
                rng.standard_normal(64).astype(np.float32), rng.standard_normal(64).astype(np.float32))

    return [
        KernelPair(f"matmul {n}x{n} @ {n}x{n}", matmul_loops, matmul_blas,
                   lambda rng: (uniform((n, n))(rng), uniform((n, n))(rng)), atol=1e-4),
        KernelPair(f"conv2d {batch}x1x8x8, 6 filters 3x3", lambda x, w, b: conv2d_loops(x, w, b, padding=1),
                   lambda x, w, b: conv2d_im2col(x, w, b, padding=1), conv_inputs),
        KernelPair(f"GELU fwd+bwd {batch}x16x64", _forward_backward(gelu_unfused), _forward_backward(gelu_fused),
                   lambda rng: (uniform((batch, 16, 64))(rng),)),
        KernelPair(f"LayerNorm fwd+bwd {batch}x16x64", _forward_backward(layer_norm_unfused),
                   _forward_backward(layer_norm_fused), norm_inputs, atol=1e-4),
        KernelPair(f"softmax+cross-entropy fwd+bwd {batch}x10", _forward_backward(softmax_cross_entropy_unfused),
                   _forward_backward(softmax_cross_entropy_fused), logits_and_targets),
        KernelPair(f"generation {8 * scale} prompts x 24 tokens (cached)", generate_one_at_a_time,
                   generate_batched, generation_inputs, atol=0),
    ]
