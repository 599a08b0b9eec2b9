"""Module 13: transformers, attention and MLPs stacked into a GPT that reads and writes text.

* ``LayerNorm``: normalise each vector to zero mean and unit variance, then scale and shift
  (learned). One fused ``LayerNormFunction`` with the exact gradient through the mean and
  variance; ``layer_norm_composed`` is the same maths from Tensor ops (the reference).
* ``MLP``: the position-wise feed-forward network, Linear -> GELU -> Linear.
* ``TransformerBlock``: pre-LN residual block (GPT-2): ``x + attn(ln1(x))`` then
  ``x + mlp(ln2(x))``. The residual stream carries each token's vector through the stack;
  each block adds what attention (mixing positions) and the MLP (per position) computed.
* ``GPT``: token embedding + position embedding, a stack of causal blocks, a final
  LayerNorm and a linear head giving next-token logits. ``generate`` samples text from it,
  optionally with a KV cache (module 17) so each new token costs one position, not all.
* ``sampling_probs``: the distribution ``generate`` draws from: temperature, top-k and
  top-p (nucleus) applied to a row of logits.

The layout and initialisation follow nanoGPT (Karpathy, ``model.py``), with a ``GPTConfig``
dataclass holding the sizes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tinytorch.core.activations import GELU, ReLU
from tinytorch.core.attention import MultiHeadAttention
from tinytorch.core.autograd import Function, no_grad
from tinytorch.core.embeddings import Embedding, LearnedPositionalEmbedding, PositionalEncoding
from tinytorch.core.layers import Dropout, Linear, Module, ModuleList, Parameter
from tinytorch.core.random import rng
from tinytorch.core.tensor import Tensor

__all__ = ["LayerNorm", "LayerNormFunction", "layer_norm_composed", "MLP", "MLPFunction", "TransformerBlock",
           "GPTConfig", "GPT", "sampling_probs"]


# ----------------------------------------------------------------------------- layer norm


class LayerNormFunction(Function):
    """Fused layer norm over the last ``ndim`` axes: ``y = (x - mean) / sqrt(var + eps) * weight + bias``.

    Backward (with xhat the normalised input, rstd = 1/sqrt(var + eps), means over the
    normalised axes): ``dxhat = dy * weight``;
    ``dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))``: the exact gradient,
    through the mean and the variance; ``dweight = sum(dy * xhat)``, ``dbias = sum(dy)`` over
    the other axes.
    """

    @staticmethod
    def forward(ctx, x, weight=None, bias=None, ndim=1, eps=1e-5):
        axes = tuple(range(-ndim, 0))
        inv_n = 1.0 / math.prod(x.shape[-ndim:])  # math.prod: np.prod costs microseconds per call
        # sums times 1/n rather than np.mean (less Python overhead); temporaries reused in place
        xhat = x - x.sum(axis=axes, keepdims=True) * inv_n
        var = np.square(xhat).sum(axis=axes, keepdims=True)
        var *= inv_n
        var += eps
        rstd = np.sqrt(var, out=var)
        np.divide(1.0, rstd, out=rstd)
        xhat *= rstd
        ctx.save_for_backward(xhat, rstd, weight)
        ctx.axes, ctx.inv_n = axes, inv_n
        if weight is None:
            return xhat.copy() if bias is None else xhat + bias  # never hand out the saved array
        out = xhat * weight
        if bias is not None:
            out += bias
        return out

    @staticmethod
    def backward(ctx, g):
        xhat, rstd, weight = ctx.saved_tensors
        axes, inv_n = ctx.axes, ctx.inv_n
        need_x = ctx.needs_input_grad[0]
        need_w, need_b = (ctx.needs_input_grad + (False, False))[1:3]
        rows = g.reshape(-1, *g.shape[g.ndim - len(axes):])  # every normalised vector is one row
        dweight = np.multiply(rows, xhat.reshape(rows.shape)).sum(axis=0) if need_w else None
        dbias = rows.sum(axis=0) if need_b else None
        dx = None
        if need_x:
            dx = g * weight if weight is not None else g.copy()  # dxhat, owned: updated in place below
            projection = (dx * xhat).sum(axis=axes, keepdims=True)
            projection *= inv_n
            dx -= dx.sum(axis=axes, keepdims=True) * inv_n
            dx -= xhat * projection
            dx *= rstd
        return dx, dweight, dbias


def layer_norm_composed(x, weight=None, bias=None, eps=1e-5):
    """The same layer norm over the last axis from Tensor ops (autograd differentiates it): the reference.

    Example:
        >>> y = layer_norm_composed(Tensor([[1.0, 2.0, 3.0]]))
        >>> [round(v, 4) for v in y.data[0].tolist()]
        [-1.2247, 0.0, 1.2247]
    """
    centered = x - x.mean(dim=-1, keepdim=True)
    out = centered / ((centered * centered).mean(dim=-1, keepdim=True) + eps).sqrt()
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
        >>> ln = LayerNorm(4)
        >>> y = ln(Tensor(np.arange(8, dtype=np.float32).reshape(2, 4)))
        >>> np.allclose(y.data.mean(axis=-1), 0, atol=1e-6), np.allclose(y.data.std(axis=-1), 1, atol=1e-3)
        (True, True)
    """

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True, bias: bool = True):
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, (int, np.integer)) else tuple(normalized_shape)
        self.normalized_shape, self.eps = tuple(int(n) for n in shape), eps
        self.weight = Parameter(np.ones(self.normalized_shape, dtype=np.float32)) if elementwise_affine else None
        self.bias = Parameter(np.zeros(self.normalized_shape, dtype=np.float32)) if elementwise_affine and bias else None

    def forward(self, x):
        k = len(self.normalized_shape)
        if tuple(x.shape[-k:]) != self.normalized_shape:
            raise ValueError(f"LayerNorm: input shape {tuple(x.shape)} does not end with normalized_shape "
                             f"{self.normalized_shape}")
        return LayerNormFunction.apply(x, self.weight, self.bias, ndim=k, eps=self.eps)

    def extra_repr(self):
        shape = self.normalized_shape[0] if len(self.normalized_shape) == 1 else self.normalized_shape
        return f"{shape}, eps={self.eps}, elementwise_affine={self.weight is not None}"


# ----------------------------------------------------------------------------- blocks

_ACTIVATIONS = {"gelu": GELU, "relu": ReLU}
_GELU_C, _GELU_K = math.sqrt(2.0 / math.pi), 0.044715  # GELU's tanh approximation, as module 02's GELU


class MLPFunction(Function):
    """Fused position-wise MLP: ``act(x W1^T + b1) W2^T + b2`` with act = GELU (tanh form) or ReLU.

    One graph node for two matmuls and the activation, its temporaries updated in place:
    in a small transformer the activation's elementwise passes over the (tokens, 4E) hidden
    layer cost as much as the matmuls, and each new temporary costs an allocation. GELU:
    ``a = 0.5 h (1 + t)``, ``t = tanh(c (h + k h^3))``; its derivative
    ``0.5 (1 + t) + 0.5 h (1 - t^2) c (1 + 3 k h^2)``. Biases may be None.
    """

    @staticmethod
    def forward(ctx, x, w1, b1, w2, b2, activation="gelu"):
        rows = x.reshape(-1, x.shape[-1])
        h = rows @ w1.T
        if b1 is not None:
            h += b1
        if activation == "gelu":
            t = np.square(h)
            t *= _GELU_K
            t += 1.0
            t *= h
            t *= _GELU_C
            np.tanh(t, out=t)
            a = t + 1.0
            a *= h
            a *= 0.5
            ctx.save_for_backward(rows, w1, w2, h, t, a)
        else:
            a = np.maximum(h, 0.0)
            ctx.save_for_backward(rows, w1, w2, None, None, a)
        out = a @ w2.T
        if b2 is not None:
            out += b2
        ctx.activation, ctx.shape = activation, x.shape
        return out.reshape(*x.shape[:-1], w2.shape[0])

    @staticmethod
    def backward(ctx, g):
        rows, w1, w2, h, t, a = ctx.saved_tensors
        need_x, need_w1, need_b1, need_w2, need_b2 = ctx.needs_input_grad[:5]
        g2 = g.reshape(-1, g.shape[-1])
        dw2 = g2.T @ a if need_w2 else None
        db2 = g2.sum(axis=0) if need_b2 else None
        dh = g2 @ w2  # d(activation output), turned into d(pre-activation) in place
        if ctx.activation == "gelu":
            slope = np.square(h)
            slope *= 3.0 * _GELU_K
            slope += 1.0
            slope *= _GELU_C
            slope *= h
            one_minus = np.square(t)
            np.subtract(1.0, one_minus, out=one_minus)
            slope *= one_minus
            slope += t
            slope += 1.0
            slope *= 0.5
            dh *= slope
        else:
            dh *= a > 0
        dw1 = dh.T @ rows if need_w1 else None
        db1 = dh.sum(axis=0) if need_b1 else None
        dx = (dh @ w1).reshape(ctx.shape) if need_x else None
        return dx, dw1, db1, dw2, db2


class MLP(Module):
    """Position-wise feed-forward network: ``Linear(E, H) -> activation -> Linear(H, E) -> Dropout``.

    Applied to every position independently (the same weights everywhere); H = 4E. The
    activation is GELU in GPT-2 and ReLU in Vaswani et al.'s 2017 Transformer
    (``FFN(x) = max(0, x W1 + b1) W2 + b2``). The forward pass is one fused primitive
    (``MLPFunction``); ``forward_composed`` runs the same layers one by one.

    Args:
        embed_dim: model width E.
        hidden_dim: inner width H (default 4 * E).
        dropout: dropout on the output while training.
        bias: learn biases (default True).
        activation: ``"gelu"`` (default, GPT-2) or ``"relu"`` (the 2017 paper; cheaper).

    Shape:
        - Input: ``(*, E)``; Output: ``(*, E)``.

    Example:
        >>> MLP(8)(Tensor(np.zeros((2, 3, 8), dtype=np.float32))).shape
        (2, 3, 8)
    """

    def __init__(self, embed_dim: int, hidden_dim: int | None = None, dropout: float = 0.0, bias: bool = True,
                 activation: str = "gelu"):
        super().__init__()
        if activation not in _ACTIVATIONS:
            raise ValueError(f"MLP: activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}")
        hidden_dim = 4 * embed_dim if hidden_dim is None else hidden_dim
        self.fc = Linear(embed_dim, hidden_dim, bias=bias)
        self.activation = activation
        self.act = _ACTIVATIONS[activation]()
        self.proj = Linear(hidden_dim, embed_dim, bias=bias)
        self.drop = Dropout(dropout)

    def forward(self, x):
        """One fused node (``MLPFunction``), then dropout."""
        out = MLPFunction.apply(x, self.fc.weight, self.fc.bias, self.proj.weight, self.proj.bias,
                                activation=self.activation)
        return self.drop(out)

    def forward_composed(self, x):
        """The same MLP from its layers, ``proj(act(fc(x)))``, differentiated op by op (the reference)."""
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
        >>> block = TransformerBlock(16, num_heads=2)
        >>> block(Tensor(np.zeros((2, 5, 16), dtype=np.float32)), is_causal=True).shape
        (2, 5, 16)
    """

    def __init__(self, embed_dim: int, num_heads: int, mlp_ratio: float = 4.0, dropout: float = 0.0,
                 bias: bool = True, activation: str = "gelu"):
        super().__init__()
        self.ln1 = LayerNorm(embed_dim, bias=bias)
        self.attn = MultiHeadAttention(embed_dim, num_heads, dropout=dropout, bias=bias)
        self.drop = Dropout(dropout)
        self.ln2 = LayerNorm(embed_dim, bias=bias)
        self.mlp = MLP(embed_dim, int(mlp_ratio * embed_dim), dropout=dropout, bias=bias, activation=activation)

    def forward(self, x, attn_mask=None, is_causal=False, kv_cache=None, layer=0):
        """One block; ``attn_mask``/``is_causal``/``kv_cache``/``layer`` go to the attention."""
        attended, _ = self.attn(self.ln1(x), attn_mask=attn_mask, is_causal=is_causal, kv_cache=kv_cache,
                                layer=layer)
        x = x + self.drop(attended)
        return x + self.mlp(self.ln2(x))

    def attention_weights(self, x, is_causal=False):
        """Per-head attention weights ``(N, heads, T, T)`` of this block for input ``x`` (for plots)."""
        _, weights = self.attn(self.ln1(x), is_causal=is_causal, need_weights=True, average_attn_weights=False)
        return weights


# ----------------------------------------------------------------------------- GPT


@dataclass
class GPTConfig:
    """Sizes of a GPT (as nanoGPT's ``GPTConfig``).

    Attributes:
        vocab_size: number of token ids.
        context_length: longest sequence the model reads (positions 0..context_length-1);
            nanoGPT calls it ``block_size``.
        n_layer: transformer blocks.
        n_head: attention heads per block.
        n_embd: model width E.
        dropout: dropout probability while training.
        bias: biases in Linear and LayerNorm layers.
        positional: ``"learned"`` (GPT-2) or ``"sinusoidal"`` (Vaswani et al.).
        mlp_ratio: MLP inner width as a multiple of ``n_embd`` (4 in GPT-2).
        activation: the MLP's nonlinearity, ``"gelu"`` (GPT-2) or ``"relu"`` (the 2017 paper).
        init_std: standard deviation of the initial weights. nanoGPT's 0.02 suits wide
            models (n_embd in the hundreds); a tiny model escapes its first loss plateau
            much sooner with a larger one, about 0.5 / sqrt(n_embd).
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


_SIZE_ALIASES = {"embed_dim": "n_embd", "num_layers": "n_layer", "num_heads": "n_head",
                 "max_seq_len": "context_length"}


def _config_from_keywords(sizes: dict) -> GPTConfig:
    """A GPTConfig from keyword sizes, accepting the earlier TinyTorch names as aliases."""
    fields = set(GPTConfig.__dataclass_fields__)
    values = {}
    for name, value in sizes.items():
        field = _SIZE_ALIASES.get(name, name)
        if field not in fields:
            raise TypeError(f"GPT: unknown size {name!r}; use {sorted(fields)} or {sorted(_SIZE_ALIASES)}")
        if field in values:
            raise TypeError(f"GPT: {field!r} given twice (once as {name!r})")
        values[field] = value
    return GPTConfig(**values)


class GPT(Module):
    """A decoder-only transformer language model: ids (N, T) -> next-token logits (N, T, vocab).

    ``tok_emb`` + position embedding -> dropout -> ``n_layer`` causal ``TransformerBlock``\\ s
    -> ``ln_f`` -> ``head``. Position t's logits predict token t + 1 and depend only on tokens
    0..t (causal attention), so one forward pass trains every position at once.

    Weights are initialised as nanoGPT: N(0, init_std^2) for Linear and embedding weights
    (init_std = 0.02 by default), zero biases, and the residual projections scaled by
    1/sqrt(2 * n_layer).

    Args:
        config: a ``GPTConfig``. Instead, the sizes may be given as keywords: the config's
            field names, or the earlier TinyTorch names ``embed_dim``, ``num_layers``,
            ``num_heads`` and ``max_seq_len`` (``GPT(vocab_size=64, embed_dim=128,
            num_layers=2, num_heads=4, max_seq_len=256)``).

    Shape:
        - Input: ``(N, T)`` integer token ids, T <= context_length.
        - Output: ``(N, T, vocab_size)`` logits.

    Example:
        >>> model = GPT(GPTConfig(vocab_size=10, context_length=8, n_layer=1, n_head=2, n_embd=16))
        >>> model(np.zeros((2, 5), dtype=np.int64)).shape
        (2, 5, 10)
        >>> model.generate(np.zeros((2, 3), dtype=np.int64), max_new_tokens=4, temperature=0).shape
        (2, 7)
    """

    def __init__(self, config: GPTConfig | None = None, **sizes):
        super().__init__()
        if config is None:
            config = _config_from_keywords(sizes)
        elif sizes:
            raise TypeError(f"GPT: pass a GPTConfig or keyword sizes, not both (got {sorted(sizes)})")
        if config.positional not in ("learned", "sinusoidal"):
            raise ValueError(f"GPT: positional must be 'learned' or 'sinusoidal', got {config.positional!r}")
        self.config = config
        c = config
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

    def _check_ids(self, ids, start):
        array = np.asarray(getattr(ids, "data", ids))
        if array.ndim != 2:
            raise ValueError(f"GPT: expected token ids of shape (batch, seq_len), got {array.shape}")
        if start + array.shape[1] > self.config.context_length:
            raise ValueError(
                f"GPT: {start} cached + {array.shape[1]} new positions exceed context_length="
                f"{self.config.context_length}; crop the input to the last {self.config.context_length} tokens")
        return array

    def forward(self, ids, kv_cache=None):
        """Next-token logits for every position.

        Args:
            ids: ``(N, T)`` integer token ids (array, list or integer Tensor).
            kv_cache: optional cache (module 17's ``KVCache`` interface). Its ``length``
                positions are already cached; ``ids`` are the next T tokens, so their
                positions start at ``length`` and they attend to every cached key. Every
                layer appends its keys/values, then the cache ``advance(T)``\\ s once.

        Returns:
            ``(N, T, vocab_size)`` logits Tensor.
        """
        start = 0 if kv_cache is None else int(kv_cache.length)
        ids = self._check_ids(ids, start)
        x = self.drop(self.pos_emb(self.tok_emb(ids), start=start))
        for layer, block in enumerate(self.blocks):
            x = block(x, is_causal=True, kv_cache=kv_cache, layer=layer)
        if kv_cache is not None:
            kv_cache.advance(ids.shape[1])
        return self.head(self.ln_f(x))

    def attention_weights(self, ids) -> list[np.ndarray]:
        """Every block's per-head attention weights for ``ids`` (for plots): a list of (N, heads, T, T) arrays.

        Row i of a head's matrix is how position i spreads its attention over positions 0..i.
        Computed without recording a graph.

        Example:
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

    def new_cache(self, batch_size: int):
        """An empty ``KVCache`` (module 17) sized for this model and batch."""
        try:
            from tinytorch.perf.memoization import KVCache
        except ImportError as error:
            raise ImportError(
                "GPT.generate(use_cache=True) needs module 17 (memoization): tinytorch.perf.memoization.KVCache "
                f"is not available ({error}). Build module 17 or call generate(..., use_cache=False).") from error
        c = self.config
        return KVCache(c.n_layer, batch_size, c.n_head, c.context_length, c.n_embd // c.n_head,
                       dtype=self.tok_emb.weight.dtype)

    def generate(self, ids, max_new_tokens: int, temperature: float = 1.0, top_k: int | None = None,
                 use_cache: bool = False, kv_cache=None, top_p: float | None = None):
        """Continue each sequence by ``max_new_tokens`` tokens, sampled one at a time.

        At each step the model reads the last ``context_length`` tokens (longer inputs are
        cropped), its last position's logits are divided by ``temperature``, all but the
        ``top_k`` largest are dropped, then all but the ``top_p`` nucleus (see
        ``sampling_probs``), and the next token is drawn from what is left with the
        framework generator (``tinytorch.manual_seed`` makes it reproducible).
        ``temperature=0`` picks the most likely token (greedy). Runs under ``no_grad``; call
        ``model.eval()`` first to switch dropout off.

        With ``use_cache=True`` (needs module 17's ``KVCache``) the prompt is processed once
        and then each step feeds only the newest token, reusing the cached keys and values:
        the same tokens and logits as without the cache. When the cache is full (the context
        is exhausted), it is refilled from the last ``context_length`` tokens, exactly what
        the uncached model reads.

        Args:
            ids: ``(N, T)`` prompt token ids, N >= 1 sequences of the same length.
            max_new_tokens: how many tokens to add.
            temperature: > 0 sharpens (< 1) or flattens (> 1) the distribution; 0 = greedy.
            top_k: sample among the k most likely tokens only (None = all).
            use_cache: decode with a KV cache (module 17).
            kv_cache: a cache to use instead of ``new_cache`` (implies ``use_cache``).
            top_p: nucleus sampling (Holtzman et al. 2019): sample among the fewest most
                likely tokens whose probabilities add up to at least ``top_p``, in (0, 1]
                (None = all).

        Returns:
            ``(N, T + max_new_tokens)`` int64 Tensor: the prompts followed by the new tokens.
        """
        if temperature < 0:
            raise ValueError(f"GPT.generate: temperature must be >= 0, got {temperature}")
        if top_k is not None and not 1 <= top_k:
            raise ValueError(f"GPT.generate: top_k must be >= 1, got {top_k}")
        if top_p is not None and not 0 < top_p <= 1:
            raise ValueError(f"GPT.generate: top_p must be in (0, 1], got {top_p}")
        out = np.asarray(getattr(ids, "data", ids))
        if out.ndim != 2 or out.dtype.kind not in "iu" or out.shape[1] == 0:
            raise ValueError(f"GPT.generate: expected a non-empty (batch, seq_len) integer prompt, got "
                             f"shape {out.shape} dtype {out.dtype}")
        out = out.astype(np.int64)
        context = self.config.context_length
        cache = kv_cache if kv_cache is not None else (self.new_cache(out.shape[0]) if use_cache else None)
        with no_grad():
            if cache is not None:
                cache.reset()
            for _ in range(max_new_tokens):
                if cache is None:
                    logits = self(out[:, -context:])
                elif cache.length == 0 or cache.length + 1 > context:
                    cache.reset()
                    logits = self(out[:, -context:], kv_cache=cache)  # (re)fill the cache
                else:
                    logits = self(out[:, -1:], kv_cache=cache)
                out = np.concatenate([out, self._pick(logits.data[:, -1, :], temperature, top_k, top_p)], axis=1)
        return Tensor(out)

    @staticmethod
    def _pick(logits, temperature, top_k, top_p=None):
        """Next token per row (N, 1): argmax at temperature 0, else a draw from ``sampling_probs``."""
        if temperature == 0:
            return np.asarray(logits).argmax(axis=-1)[:, None]
        probs = sampling_probs(logits, temperature, top_k, top_p)
        cdf = np.cumsum(probs, axis=-1)
        draw = rng().random((probs.shape[0], 1)) * cdf[:, -1:]
        return np.minimum((cdf <= draw).sum(axis=-1), probs.shape[-1] - 1)[:, None]

    def num_parameters(self) -> int:
        """Number of trainable scalars."""
        return sum(p.data.size for p in self.parameters())


# ----------------------------------------------------------------------------- sampling


def sampling_probs(logits, temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None):
    """The distribution ``GPT.generate`` draws the next token from, for each row of ``logits`` (N, V).

    In order: divide by ``temperature`` (0 = greedy: all mass on the argmax); keep the
    ``top_k`` largest logits; softmax; keep the **nucleus** (Holtzman et al., *The Curious
    Case of Neural Text Degeneration*, 2019): the fewest most likely tokens whose
    probabilities add up to at least ``top_p`` (the most likely token always stays; equal
    probabilities are ranked by token id); renormalise. Everything dropped gets exactly 0.

    Args:
        logits: (N, V) raw scores (array or Tensor).
        temperature: >= 0.
        top_k: keep the k most likely tokens (None = all).
        top_p: nucleus mass in (0, 1] (None = all).

    Returns:
        (N, V) float64 probabilities, each row summing to 1.

    Example:
        >>> probs = sampling_probs(np.log([[0.5, 0.3, 0.15, 0.05]]), top_p=0.75)
        >>> [round(p, 3) for p in probs[0].tolist()]
        [0.625, 0.375, 0.0, 0.0]
        >>> sampling_probs(np.log([[0.5, 0.3, 0.15, 0.05]]), top_k=1).tolist()
        [[1.0, 0.0, 0.0, 0.0]]
    """
    logits = np.asarray(getattr(logits, "data", logits), dtype=np.float64)
    if logits.ndim != 2:
        raise ValueError(f"sampling_probs: expected logits of shape (N, V), got {logits.shape}")
    if temperature < 0:
        raise ValueError(f"sampling_probs: temperature must be >= 0, got {temperature}")
    if top_p is not None and not 0 < top_p <= 1:
        raise ValueError(f"sampling_probs: top_p must be in (0, 1], got {top_p}")
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
