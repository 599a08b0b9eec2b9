"""Module 13: transformers, attention and MLPs stacked into a GPT that reads and writes text.

Everything here is composed from the earlier modules and differentiated by module 05's
autograd; there is no backward to write:

* ``LayerNorm``: normalise each vector to zero mean and unit variance, then scale and shift
  (learned), from Tensor ops (mean, subtraction, power).
* ``MLP``: the position-wise feed-forward network, ``Linear -> GELU -> Linear`` with module
  02's GELU (or ReLU, as the 2017 paper).
* ``TransformerBlock``: pre-LN residual block (GPT-2): ``x + attn(ln1(x))`` then
  ``x + mlp(ln2(x))``. The residual stream carries each token's vector through the stack;
  each block adds what attention (mixing positions) and the MLP (per position) computed.
* ``GPT``: token embedding + position embedding, a stack of causal blocks, a final
  LayerNorm and a linear head giving next-token logits. ``generate`` samples text from it,
  one token at a time, rereading the whole context at every step.
* ``sampling_probs`` / ``sample_next``: the distribution ``generate`` draws from
  (temperature, top-k and top-p applied to a row of logits) and the draw itself.

``GPT.forward`` also takes ``past_key_values``, one cache per layer of the keys and values
of earlier positions (GPT-2's ``past`` -> ``present``): module 17 (memoization) builds the
cache and the cached generation on top of this module. Module 18 (acceleration) swaps in
fused twins of the attention, LayerNorm and MLP, tested equal to these.

The layout and initialisation follow nanoGPT (Karpathy, ``model.py``), with a ``GPTConfig``
dataclass holding the sizes.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, fields

import numpy as np

from tinytorch.core.activations import GELU, ReLU
from tinytorch.core.attention import MultiHeadAttention
from tinytorch.core.autograd import no_grad
from tinytorch.core.embeddings import Embedding, LearnedPositionalEmbedding, PositionalEncoding
from tinytorch.core.layers import Dropout, Linear, Module, ModuleList, Parameter
from tinytorch.core.random import rng
from tinytorch.core.tensor import Tensor

__all__ = ["LayerNorm", "layer_norm", "MLP", "TransformerBlock", "GPTConfig", "GPT", "sampling_probs",
           "sample_next", "check_generation"]


# tito: given
def _positive_int(caller: str, name: str, value) -> int:
    """A positive int (bools refused), with one clear error naming the call and the argument."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{caller}: {name} must be a positive int, got {value!r}")
    return int(value)


# tito: given
def _number(caller: str, name: str, value, low: float, high: float = math.inf, low_open: bool = False,
            high_open: bool = True) -> float:
    """A real number inside an interval (NaN, infinities and bools refused), with one clear error."""
    ok = not isinstance(value, bool) and isinstance(value, numbers.Real) and math.isfinite(value)
    if ok:
        ok = (value > low if low_open else value >= low) and (value < high if high_open else value <= high)
    if not ok:
        interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        raise ValueError(f"{caller}: {name} must be a finite number in {interval}, got {value!r}")
    return float(value)


# ----------------------------------------------------------------------------- layer norm


# tito: given
def check_normalized(caller: str, x, normalized_shape) -> None:
    """One clear error for an input whose trailing dims are not ``normalized_shape``."""
    k = len(normalized_shape)
    if not isinstance(x, Tensor) or x.ndim < k or tuple(x.shape[x.ndim - k:]) != tuple(normalized_shape):
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"{caller}: input shape {shape} does not end with normalized_shape {tuple(normalized_shape)}")


def layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    """``(x - mean) / sqrt(var + eps) * weight + bias`` over the trailing ``normalized_shape`` dims.

    As ``torch.nn.functional.layer_norm``: biased variance, composed from Tensor ops (the
    gradient flows through the mean and the variance too, by autograd).

    Example:
        >>> from tinytorch.core.tensor import Tensor
        >>> from tinytorch.core.transformers import layer_norm
        >>> y = layer_norm(Tensor([[1.0, 2.0, 3.0]]), (3,))
        >>> [round(v, 4) for v in y.data[0].tolist()]
        [-1.2247, 0.0, 1.2247]
    """
    check_normalized("layer_norm", x, normalized_shape)
    dims = tuple(range(-len(normalized_shape), 0))
    centered = x - x.mean(dim=dims, keepdim=True)
    variance = (centered * centered).mean(dim=dims, keepdim=True)
    out = centered * (variance + eps) ** -0.5
    if weight is not None:
        out = out * weight
    return out if bias is None else out + bias


class LayerNorm(Module):
    """Layer normalisation (Ba et al. 2016): ``y = (x - E[x]) / sqrt(Var[x] + eps) * gamma + beta``.

    Statistics over the last ``len(normalized_shape)`` dims of each sample, biased variance,
    as ``torch.nn.LayerNorm``. ``gamma`` (``weight``) starts at 1, ``beta`` (``bias``) at 0.

    Args:
        normalized_shape: int or tuple, the trailing shape to normalise over.
        eps: added to the variance for stability (default 1e-5).
        elementwise_affine: learn ``weight`` and ``bias`` (default True).
        bias: learn ``bias`` too (default True).

    Shape:
        - Input: ``(*, *normalized_shape)``; Output: same shape.

    Example:
        >>> import numpy as np
        >>> from tinytorch.core.tensor import Tensor
        >>> from tinytorch.core.transformers import LayerNorm
        >>> ln = LayerNorm(4)
        >>> y = ln(Tensor(np.arange(8, dtype=np.float32).reshape(2, 4)))
        >>> np.allclose(y.data.mean(axis=-1), 0, atol=1e-6), np.allclose(y.data.std(axis=-1), 1, atol=1e-3)
        (True, True)
    """

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True, bias: bool = True):
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, numbers.Integral) else normalized_shape
        try:
            shape = tuple(shape)
        except TypeError:
            raise ValueError(f"LayerNorm: normalized_shape must be an int or a tuple of ints, "
                             f"got {normalized_shape!r}") from None
        if not shape:
            raise ValueError("LayerNorm: normalized_shape must name at least one dim, got ()")
        self.normalized_shape = tuple(_positive_int("LayerNorm", "normalized_shape", n) for n in shape)
        self.eps = _number("LayerNorm", "eps", eps, 0.0, low_open=True)
        self.weight = Parameter(np.ones(self.normalized_shape, dtype=np.float32)) if elementwise_affine else None
        self.bias = Parameter(np.zeros(self.normalized_shape, dtype=np.float32)) if elementwise_affine and bias else None

    def forward(self, x):
        check_normalized("LayerNorm", x, self.normalized_shape)
        return layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        shape = self.normalized_shape[0] if len(self.normalized_shape) == 1 else self.normalized_shape
        return f"{shape}, eps={self.eps}, elementwise_affine={self.weight is not None}"


# ----------------------------------------------------------------------------- blocks

_ACTIVATIONS = {"gelu": GELU, "relu": ReLU}


class MLP(Module):
    """Position-wise feed-forward network: ``Linear(E, H) -> activation -> Linear(H, E) -> Dropout``.

    Applied to every position independently (the same weights everywhere); H = 4E. The
    activation is module 02's GELU in GPT-2 and its ReLU in Vaswani et al.'s 2017 Transformer
    (``FFN(x) = max(0, x W1 + b1) W2 + b2``).

    Args:
        embed_dim: model width E.
        hidden_dim: inner width H (default 4 * E).
        dropout: dropout on the output while training.
        bias: learn biases (default True).
        activation: ``"gelu"`` (default, GPT-2) or ``"relu"`` (the 2017 paper; cheaper).

    Shape:
        - Input: ``(*, E)``; Output: ``(*, E)``.

    Example:
        >>> import numpy as np
        >>> from tinytorch.core.tensor import Tensor
        >>> from tinytorch.core.transformers import MLP
        >>> MLP(8)(Tensor(np.zeros((2, 3, 8), dtype=np.float32))).shape
        (2, 3, 8)
    """

    def __init__(self, embed_dim: int, hidden_dim: int | None = None, dropout: float = 0.0, bias: bool = True,
                 activation: str = "gelu"):
        super().__init__()
        if not isinstance(bias, (bool, np.bool_)):
            raise TypeError(f"MLP: bias must be True or False, got {bias!r}")
        if activation not in _ACTIVATIONS:
            raise ValueError(f"MLP: activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}")
        embed_dim = _positive_int("MLP", "embed_dim", embed_dim)
        hidden_dim = _positive_int("MLP", "hidden_dim", 4 * embed_dim if hidden_dim is None else hidden_dim)
        self.fc = Linear(embed_dim, hidden_dim, bias=bias)
        self.activation = activation
        self.act = _ACTIVATIONS[activation]()
        self.proj = Linear(hidden_dim, embed_dim, bias=bias)
        self.drop = Dropout(_number("MLP", "dropout", dropout, 0.0, 1.0))

    def forward(self, x):
        return self.drop(self.proj(self.act(self.fc(x))))


class TransformerBlock(Module):
    """Pre-LN transformer block (GPT-2): ``x = x + attn(ln1(x)); x = x + mlp(ln2(x))``.

    Normalising *before* each sub-layer and adding its output to an untouched residual
    stream keeps gradients well-scaled through deep stacks, with no learning-rate warm-up
    needed (Xiong et al. 2020).

    Args:
        embed_dim: model width E.
        num_heads: attention heads (E divisible by it).
        mlp_ratio: MLP inner width as a multiple of E (default 4).
        dropout: dropout on attention weights and on both residual branches while training.
        bias: learn biases in Linear and LayerNorm layers (default True).
        activation: the MLP's nonlinearity, ``"gelu"`` (default) or ``"relu"``.

    Shape:
        - Input: ``(N, T, E)``; Output: ``(N, T, E)``.

    Example:
        >>> import numpy as np
        >>> from tinytorch.core.tensor import Tensor
        >>> from tinytorch.core.transformers import TransformerBlock
        >>> block = TransformerBlock(16, num_heads=2)
        >>> block(Tensor(np.zeros((2, 5, 16), dtype=np.float32)), is_causal=True).shape
        (2, 5, 16)
    """

    def __init__(self, embed_dim: int, num_heads: int, mlp_ratio: float = 4.0, dropout: float = 0.0,
                 bias: bool = True, activation: str = "gelu"):
        super().__init__()
        mlp_ratio = _number("TransformerBlock", "mlp_ratio", mlp_ratio, 0.0, low_open=True)
        self.ln1 = LayerNorm(embed_dim, bias=bias)
        self.attn = MultiHeadAttention(embed_dim, num_heads, dropout=dropout, bias=bias)
        self.drop = Dropout(dropout)
        self.ln2 = LayerNorm(embed_dim, bias=bias)
        self.mlp = MLP(embed_dim, max(1, int(mlp_ratio * embed_dim)), dropout=dropout, bias=bias,
                       activation=activation)

    def forward(self, x, attn_mask=None, is_causal=False, layer_cache=None):
        """One block; ``attn_mask``, ``is_causal`` and ``layer_cache`` go to the attention."""
        attended, _ = self.attn(self.ln1(x), attn_mask=attn_mask, is_causal=is_causal, layer_cache=layer_cache)
        x = x + self.drop(attended)
        return x + self.mlp(self.ln2(x))

    def attention_weights(self, x, is_causal=False):
        """Per-head attention weights ``(N, heads, T, T)`` of this block for input ``x`` (for plots)."""
        _, weights = self.attn(self.ln1(x), is_causal=is_causal, need_weights=True, average_attn_weights=False)
        return weights


# ----------------------------------------------------------------------------- GPT


@dataclass
class GPTConfig:
    """Sizes of a GPT (as nanoGPT's ``GPTConfig``), each checked when the config is made.

    Attributes:
        vocab_size: number of token ids.
        context_length: longest sequence the model reads (positions 0..context_length-1);
            nanoGPT calls it ``block_size``.
        n_layer: transformer blocks.
        n_head: attention heads per block (``n_embd`` divisible by it).
        n_embd: model width E.
        dropout: dropout probability while training, in [0, 1).
        bias: biases in Linear and LayerNorm layers.
        positional: ``"learned"`` (GPT-2) or ``"sinusoidal"`` (Vaswani et al.).
        mlp_ratio: MLP inner width as a multiple of ``n_embd`` (4 in GPT-2).
        activation: the MLP's nonlinearity, ``"gelu"`` (GPT-2) or ``"relu"`` (the 2017 paper).
        init_std: standard deviation of the initial weights. nanoGPT's 0.02 suits wide
            models (n_embd in the hundreds); a tiny model escapes its first loss plateau
            much sooner with a larger one, about 0.5 / sqrt(n_embd).

    Example:
        >>> from tinytorch.core.transformers import GPTConfig
        >>> GPTConfig(n_embd=10, n_head=4)
        Traceback (most recent call last):
        ...
        ValueError: GPTConfig: n_embd (10) must be divisible by n_head (4)
    """

    vocab_size: int = 64
    context_length: int = 64
    n_layer: int = 2
    n_head: int = 4
    n_embd: int = 64
    dropout: float = 0.0
    bias: bool = True
    positional: str = "learned"
    mlp_ratio: float = 4.0
    activation: str = "gelu"
    init_std: float = 0.02

    # tito: given
    def __post_init__(self):
        for name in ("vocab_size", "context_length", "n_layer", "n_head", "n_embd"):
            _positive_int("GPTConfig", name, getattr(self, name))
        if self.n_embd % self.n_head:
            raise ValueError(f"GPTConfig: n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head})")
        _number("GPTConfig", "dropout", self.dropout, 0.0, 1.0)
        _number("GPTConfig", "mlp_ratio", self.mlp_ratio, 0.0, low_open=True)
        _number("GPTConfig", "init_std", self.init_std, 0.0)
        for name, allowed in (("positional", ("learned", "sinusoidal")), ("activation", tuple(_ACTIVATIONS))):
            if getattr(self, name) not in allowed:
                raise ValueError(f"GPTConfig: {name} must be one of {allowed}, got {getattr(self, name)!r}")
        if not isinstance(self.bias, bool):
            raise ValueError(f"GPTConfig: bias must be True or False, got {self.bias!r}")


class GPT(Module):
    """A decoder-only transformer language model: ids (N, T) -> next-token logits (N, T, vocab).

    ``tok_emb`` + position embedding -> dropout -> ``n_layer`` causal ``TransformerBlock``\\ s
    -> ``ln_f`` -> ``head``. Position t's logits predict token t + 1 and depend only on tokens
    0..t (causal attention), so one forward pass trains every position at once.

    Weights are initialised as nanoGPT: N(0, init_std^2) for Linear and embedding weights
    (init_std = 0.02 by default), zero biases, and the residual projections scaled by
    1/sqrt(2 * n_layer).

    Args:
        config: a ``GPTConfig``; or, instead, its fields as keywords
            (``GPT(vocab_size=64, n_embd=128, n_layer=2, n_head=4, context_length=256)``).

    Shape:
        - Input: ``(N, T)`` integer token ids, T <= context_length.
        - Output: ``(N, T, vocab_size)`` logits.

    Example:
        >>> import numpy as np
        >>> from tinytorch.core.transformers import GPT, GPTConfig
        >>> model = GPT(GPTConfig(vocab_size=10, context_length=8, n_layer=1, n_head=2, n_embd=16))
        >>> model(np.zeros((2, 5), dtype=np.int64)).shape
        (2, 5, 10)
        >>> import numpy as np
        >>> model.generate(np.zeros((2, 3), dtype=np.int64), max_new_tokens=4, temperature=0).shape
        (2, 7)
    """

    def __init__(self, config: GPTConfig | None = None, **sizes):
        super().__init__()
        if config is None:
            unknown = sorted(set(sizes) - {f.name for f in fields(GPTConfig)})
            if unknown:
                raise TypeError(f"GPT: unknown size {unknown[0]!r}; the sizes are GPTConfig's fields: "
                                f"{[f.name for f in fields(GPTConfig)]}")
            config = GPTConfig(**sizes)
        elif sizes:
            raise TypeError(f"GPT: pass a GPTConfig or keyword sizes, not both (got {sorted(sizes)})")
        elif not isinstance(config, GPTConfig):
            raise TypeError(f"GPT: config must be a GPTConfig, got {type(config).__name__}")
        self.config = c = config
        self.tok_emb = Embedding(c.vocab_size, c.n_embd)
        self.pos_emb = (LearnedPositionalEmbedding(c.context_length, c.n_embd) if c.positional == "learned"
                        else PositionalEncoding(c.n_embd, max_len=c.context_length))
        self.drop = Dropout(c.dropout)
        self.blocks = ModuleList([TransformerBlock(c.n_embd, c.n_head, mlp_ratio=c.mlp_ratio, dropout=c.dropout,
                                                   bias=c.bias, activation=c.activation) for _ in range(c.n_layer)])
        self.ln_f = LayerNorm(c.n_embd, bias=c.bias)
        self.head = Linear(c.n_embd, c.vocab_size, bias=False)
        self.reset_parameters()

    def reset_parameters(self):
        """nanoGPT's initialisation (std ``config.init_std``), drawn from the framework generator."""
        std = self.config.init_std
        for name, p in self.named_parameters():
            if name.endswith("bias"):
                p.data[...] = 0.0
            elif name.endswith(("attn.out_proj.weight", "mlp.proj.weight")):
                p.data[...] = std / math.sqrt(2 * self.config.n_layer) * rng().standard_normal(p.shape)
            elif p.data.ndim == 2:
                p.data[...] = std * rng().standard_normal(p.shape)

    # tito: given
    def _check_ids(self, ids, start):
        array = np.asarray(getattr(ids, "data", ids))
        if array.ndim != 2 or array.shape[1] == 0:
            raise ValueError(f"GPT: expected token ids of shape (batch, seq_len), seq_len >= 1, got {array.shape}")
        if start + array.shape[1] > self.config.context_length:
            raise ValueError(
                f"GPT: {start} cached + {array.shape[1]} new positions exceed context_length="
                f"{self.config.context_length}; crop the input to the last {self.config.context_length} tokens")
        return array

    # tito: given
    def _layer_caches(self, past_key_values):
        """One cache per block (or None each), and the number of positions they already hold."""
        if past_key_values is None:
            return [None] * len(self.blocks), 0
        if not hasattr(past_key_values, "__len__") or not hasattr(past_key_values, "__getitem__"):
            raise TypeError(f"GPT: past_key_values must be a sequence of one layer cache per block (module 17's "
                            f"KVCache is one), got {type(past_key_values).__name__}")
        if len(past_key_values) != len(self.blocks):
            raise ValueError(f"GPT: past_key_values holds {len(past_key_values)} layer caches for "
                             f"{len(self.blocks)} blocks")
        return list(past_key_values), int(past_key_values[0].get_seq_length())

    def forward(self, ids, past_key_values=None):
        """Next-token logits for every position.

        Args:
            ids: ``(N, T)`` integer token ids (array, list or integer Tensor).
            past_key_values: optional sequence of one cache per block (module 17's
                ``KVCache`` is one), for decoding under ``no_grad``: each holds the keys and
                values of ``past_key_values[0].get_seq_length()`` earlier positions. ``ids``
                are the tokens that follow, so their positions start there; block i hands
                its cache to its attention, which stores the new keys and values in it.

        Returns:
            ``(N, T, vocab_size)`` logits Tensor.
        """
        caches, start = self._layer_caches(past_key_values)
        ids = self._check_ids(ids, start)
        x = self.drop(self.pos_emb(self.tok_emb(ids), start=start))
        for block, layer_cache in zip(self.blocks, caches):
            x = block(x, is_causal=True, layer_cache=layer_cache)
        return self.head(self.ln_f(x))

    def attention_weights(self, ids) -> list[np.ndarray]:
        """Every block's per-head attention weights for ``ids`` (for plots): a list of (N, heads, T, T) arrays.

        Row i of a head's matrix is how position i spreads its attention over positions 0..i.
        Computed without recording a graph.

        Example:
            >>> import numpy as np
            >>> from tinytorch.core.transformers import GPT, GPTConfig
            >>> model = GPT(GPTConfig(vocab_size=5, context_length=4, n_layer=2, n_head=2, n_embd=8))
            >>> [w.shape for w in model.attention_weights(np.array([[1, 2, 3]]))]
            [(1, 2, 3, 3), (1, 2, 3, 3)]
        """
        ids = self._check_ids(ids, 0)
        weights = []
        with no_grad():
            x = self.drop(self.pos_emb(self.tok_emb(ids)))
            for block in self.blocks:
                weights.append(block.attention_weights(x, is_causal=True).data)
                x = block(x, is_causal=True)
        return weights

    def generate(self, ids, max_new_tokens: int, temperature: float = 1.0, top_k: int | None = None,
                 top_p: float | None = None):
        """Continue each sequence by ``max_new_tokens`` tokens, sampled one at a time.

        At each step the model rereads the last ``context_length`` tokens (longer inputs are
        cropped), and the next token is drawn by ``sample_next`` from its last position's
        logits: divided by ``temperature``, cut to the ``top_k`` largest, then to the ``top_p``
        nucleus, drawn with the framework generator (``tinytorch.manual_seed`` makes it
        reproducible). ``temperature=0`` picks the most likely token (greedy). Runs under
        ``no_grad``; call ``model.eval()`` first to switch dropout off. Module 17
        (memoization) generates the same tokens with a KV cache, without rereading.

        Args:
            ids: ``(N, T)`` prompt token ids, N >= 1 sequences of the same length T >= 1.
            max_new_tokens: how many tokens to add (an int >= 0).
            temperature: > 0 sharpens (< 1) or flattens (> 1) the distribution; 0 = greedy.
            top_k: sample among the k most likely tokens only (None = all).
            top_p: nucleus sampling (Holtzman et al. 2019): sample among the fewest most
                likely tokens whose probabilities add up to at least ``top_p``, in (0, 1]
                (None = all).

        Returns:
            ``(N, T + max_new_tokens)`` int64 Tensor: the prompts followed by the new tokens.
        """
        out = check_generation("GPT.generate", self, ids, max_new_tokens, temperature, top_k, top_p)
        context = self.config.context_length
        with no_grad():
            for _ in range(max_new_tokens):
                logits = self(out[:, -context:]).data[:, -1]
                out = np.concatenate([out, sample_next(logits, temperature, top_k, top_p)], axis=1)
        return Tensor(out)

    def num_parameters(self) -> int:
        """Number of trainable scalars."""
        return sum(p.data.size for p in self.parameters())


# ----------------------------------------------------------------------------- sampling


# tito: given
def _check_sampling(caller: str, temperature, top_k, top_p) -> None:
    """One clear error for a temperature, top_k or top_p that sampling cannot use."""
    _number(caller, "temperature", temperature, 0.0)
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, numbers.Integral) or top_k < 1):
        raise ValueError(f"{caller}: top_k must be an int >= 1 or None, got {top_k!r}")
    if top_p is not None:
        _number(caller, "top_p", top_p, 0.0, 1.0, low_open=True, high_open=False)


# tito: given
def check_generation(caller: str, model, ids, max_new_tokens, temperature, top_k, top_p) -> np.ndarray:
    """The prompt as an (N, T) int64 array, after one clear error for any argument generation cannot use.

    Shared by ``GPT.generate`` and module 17's cached generation, so both refuse the same input.

    Example:
        >>> from tinytorch.core.transformers import GPT, GPTConfig, check_generation
        >>> model = GPT(GPTConfig(vocab_size=5, context_length=4, n_layer=1, n_head=1, n_embd=4))
        >>> check_generation("generate", model, [[1, 2]], -1, 1.0, None, None)
        Traceback (most recent call last):
        ...
        ValueError: generate: max_new_tokens must be an int >= 0, got -1
    """
    if not isinstance(getattr(model, "config", None), GPTConfig):
        raise TypeError(f"{caller}: model must be a GPT (module 13), got {type(model).__name__}")
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, numbers.Integral) or max_new_tokens < 0:
        raise ValueError(f"{caller}: max_new_tokens must be an int >= 0, got {max_new_tokens!r}")
    _check_sampling(caller, temperature, top_k, top_p)
    prompt = np.asarray(getattr(ids, "data", ids))
    if prompt.ndim != 2 or prompt.dtype.kind not in "iu" or 0 in prompt.shape:
        raise ValueError(f"{caller}: expected a non-empty (batch, seq_len) integer prompt, got "
                         f"shape {prompt.shape} dtype {prompt.dtype}")
    vocab = model.config.vocab_size
    if prompt.min() < 0 or prompt.max() >= vocab:
        bad = prompt.min() if prompt.min() < 0 else prompt.max()
        raise ValueError(f"{caller}: prompt token id {bad} is out of range for vocab_size={vocab}")
    return prompt.astype(np.int64)


# tito: given
def _checked_logits(caller: str, logits) -> np.ndarray:
    """Logits as an (N, V) array of numbers; one clear error for another shape, NaN, +inf or a row of -inf only."""
    array = np.asarray(getattr(logits, "data", logits))
    if array.dtype.kind not in "fiu":
        raise TypeError(f"{caller}: logits must be an (N, V) array of numbers, got {type(logits).__name__} of "
                        f"dtype {array.dtype}")
    if array.ndim != 2 or 0 in array.shape:
        raise ValueError(f"{caller}: expected logits of shape (N, V), got {array.shape}")
    if not np.isfinite(array).all() and (np.isnan(array).any() or np.isposinf(array).any()
                                         or np.isneginf(array).all(axis=-1).any()):
        raise ValueError(f"{caller}: the logits contain NaN, +inf or a row of -inf only (did the model's "
                         "training diverge?)")
    return array


def sampling_probs(logits, temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None):
    """The distribution ``GPT.generate`` draws the next token from, for each row of ``logits`` (N, V).

    In order: divide by ``temperature`` (0 = greedy: all mass on the argmax); keep the
    ``top_k`` largest logits; softmax; keep the **nucleus** (Holtzman et al., *The Curious
    Case of Neural Text Degeneration*, 2019): the fewest most likely tokens whose
    probabilities add up to at least ``top_p`` (the most likely token always stays; equal
    probabilities are ranked by token id); renormalise. Everything dropped gets exactly 0.

    Args:
        logits: (N, V) raw scores (array or Tensor), no NaN.
        temperature: >= 0.
        top_k: keep the k most likely tokens (None = all).
        top_p: nucleus mass in (0, 1] (None = all).

    Returns:
        (N, V) float64 probabilities, each row summing to 1.

    Example:
        >>> import numpy as np
        >>> from tinytorch.core.transformers import sampling_probs
        >>> probs = sampling_probs(np.log([[0.5, 0.3, 0.15, 0.05]]), top_p=0.75)
        >>> [round(p, 3) for p in probs[0].tolist()]
        [0.625, 0.375, 0.0, 0.0]
        >>> import numpy as np
        >>> from tinytorch.core.transformers import sampling_probs
        >>> sampling_probs(np.log([[0.5, 0.3, 0.15, 0.05]]), top_k=1).tolist()
        [[1.0, 0.0, 0.0, 0.0]]
    """
    _check_sampling("sampling_probs", temperature, top_k, top_p)
    logits = _checked_logits("sampling_probs", logits).astype(np.float64)
    if temperature == 0:
        probs = np.zeros_like(logits)
        np.put_along_axis(probs, logits.argmax(axis=-1)[:, None], 1.0, axis=-1)
        return probs
    logits = logits / temperature
    if top_k is not None and top_k < logits.shape[-1]:
        kth = np.partition(logits, -top_k, axis=-1)[:, -top_k][:, None]
        logits = np.where(logits < kth, -np.inf, logits)
    probs = np.exp(logits - logits.max(axis=-1, keepdims=True))
    probs /= probs.sum(axis=-1, keepdims=True)
    if top_p is not None and top_p < 1:
        order = np.argsort(-probs, axis=-1, kind="stable")  # most likely first; ties by token id
        ranked = np.take_along_axis(probs, order, axis=-1)
        before = np.cumsum(ranked, axis=-1) - ranked  # mass of the tokens ranked ahead of each one
        keep = np.zeros(probs.shape, dtype=bool)
        np.put_along_axis(keep, order, before < top_p, axis=-1)  # in the nucleus: the mass ahead is short of p
        probs = np.where(keep, probs, 0.0)
        probs /= probs.sum(axis=-1, keepdims=True)
    return probs


def sample_next(logits, temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None):
    """The next token of each row of ``logits`` (N, V), as an (N, 1) int64 array.

    The argmax at temperature 0; otherwise one draw per row from ``sampling_probs``, with the
    framework generator (one uniform number per row, in row order).

    Example:
        >>> import numpy as np
        >>> from tinytorch.core.transformers import sample_next
        >>> sample_next(np.array([[0.1, 3.0, 0.2]]), temperature=0).tolist()
        [[1]]
    """
    if temperature == 0:  # greedy: the argmax, no distribution to build
        _check_sampling("sample_next", temperature, top_k, top_p)
        return _checked_logits("sample_next", logits).argmax(axis=-1)[:, None]
    probs = sampling_probs(logits, temperature, top_k, top_p)
    cdf = np.cumsum(probs, axis=-1)
    draw = rng().random((probs.shape[0], 1)) * cdf[:, -1:]
    return np.minimum((cdf <= draw).sum(axis=-1), probs.shape[-1] - 1)[:, None]
