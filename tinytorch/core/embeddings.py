"""Module 11: embeddings, from token ids to vectors, and where each token sits.

* ``Embedding``: a learnable table of vectors, one row per token id (as
  ``torch.nn.Embedding``). Forward gathers rows; backward scatters the gradient back,
  *summing* the contributions of an id that appears several times (``EmbeddingFunction``).
* ``PositionalEncoding``: the fixed sinusoidal position signal of Vaswani et al. (2017),
  added to the token vectors; a buffer, not a parameter.
* ``LearnedPositionalEmbedding``: one learnable vector per position (GPT-2's ``wpe``).

Attention itself is blind to order (it treats its inputs as a set), so one of the two
position modules is what tells a transformer that "AB" is not "BA". Both take a ``start``
offset: when a model decodes one token at a time with a KV cache, the new token's position
is ``start = tokens already cached``.

Gradients (``.grad``) are plain ``np.ndarray`` of the parameter's shape and dtype.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from tinytorch.core.autograd import Function
from tinytorch.core.layers import Module, Parameter
from tinytorch.core.random import rng
from tinytorch.core.tensor import Tensor

__all__ = ["Embedding", "EmbeddingFunction", "PositionalEncoding", "LearnedPositionalEmbedding",
           "sinusoidal_table", "scatter_add_rows"]


# tito: given
def _size(op: str, name: str, value, low: int = 1) -> int:
    """An int >= ``low`` (bools refused), with one clear error naming the call and the argument."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{op}: {name} must be an int >= {low}, got {value!r}")
    return int(value)


def _token_ids(op: str, ids, num_embeddings: int) -> np.ndarray:
    """The ids as an integer array, with one clear error for floats, ragged lists or ids outside [0, num_embeddings)."""
    try:
        array = np.asarray(getattr(ids, "data", ids))
    except ValueError:
        raise ValueError(f"{op}: token ids must form a rectangular array, got a ragged nesting") from None
    if array.dtype.kind not in "iu":
        raise TypeError(f"{op}: token ids must be integers (e.g. int64), got dtype {array.dtype}")
    if array.size:
        low, high = array.min(), array.max()
        if low < 0 or high >= num_embeddings:
            bad = low if low < 0 else high
            raise IndexError(
                f"{op}: token id {bad} is out of range for num_embeddings={num_embeddings} "
                f"(valid ids are 0..{num_embeddings - 1})")
    return array


def scatter_add_rows(ids: np.ndarray, rows: np.ndarray, num_rows: int) -> np.ndarray:
    """``out[ids[i]] += rows[i]`` for every i, repeated ids summed: the backward of a gather.

    Sorts the ids once and sums each run of equal ids with ``np.add.reduceat`` (one pass in
    C, summed in a fixed order, so results are reproducible). Measured on (2048, 64) rows:
    about 10x faster than ``np.add.at`` on 2-D rows, and unlike a one-hot matmul its cost
    does not grow with the vocabulary.

    Example:
        >>> import numpy as np
        >>> from tinytorch.core.embeddings import scatter_add_rows
        >>> scatter_add_rows(np.array([2, 0, 2]), np.array([[1.0], [2.0], [3.0]]), 3)
        array([[2.],
               [0.],
               [4.]])
    """
    ids = _token_ids("scatter_add_rows", ids, num_rows).reshape(-1)
    rows = rows.reshape(ids.size, -1)
    out = np.zeros((num_rows, rows.shape[1]), dtype=rows.dtype)
    if ids.size == 0:
        return out
    order = np.argsort(ids, kind="stable")
    sorted_ids = ids[order]
    starts = np.flatnonzero(np.concatenate(([True], sorted_ids[1:] != sorted_ids[:-1])))
    out[sorted_ids[starts]] = np.add.reduceat(rows[order], starts, axis=0)
    return out


class EmbeddingFunction(Function):
    """Gather ``weight[ids]``; backward sums the output gradient into the rows of the ids used.

    An id that appears k times receives the sum of its k output gradients (dropping all but
    one would silently under-train frequent tokens). ``padding_idx``'s row gets no gradient.
    """

    @staticmethod
    def forward(ctx, weight, ids, padding_idx=None):
        ctx.ids, ctx.num_rows, ctx.padding_idx = ids, weight.shape[0], padding_idx
        return weight[ids]

    @staticmethod
    def backward(ctx, g):
        grad = scatter_add_rows(ctx.ids, g, ctx.num_rows).reshape(ctx.num_rows, *g.shape[ctx.ids.ndim:])
        if ctx.padding_idx is not None:
            grad[ctx.padding_idx] = 0
        return grad, None


class Embedding(Module):
    """A lookup table of vectors: ``Embedding(ids)[..., :] = weight[ids]``.

    Weights start ~ N(0, 1) as in ``torch.nn.Embedding``, drawn from the framework generator.

    Args:
        num_embeddings: size of the vocabulary (ids are 0..num_embeddings-1).
        embedding_dim: size of each vector.
        padding_idx: optional id whose vector stays zero and gets no gradient (a pad token).

    Shape:
        - Input: ``(*)`` integer ids (array, list or integer Tensor).
        - Output: ``(*, embedding_dim)``.

    Raises:
        TypeError: float ids. IndexError: an id outside ``[0, num_embeddings)``, naming it.

    Example:
        >>> import numpy as np
        >>> from tinytorch.core.embeddings import Embedding
        >>> emb = Embedding(10, 3)
        >>> emb(np.array([[1, 2, 1]])).shape
        (1, 3, 3)
        >>> out = emb(np.array([4, 4]))
        >>> out.sum().backward()
        >>> emb.weight.grad[4].tolist()
        [2.0, 2.0, 2.0]
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None):
        super().__init__()
        num_embeddings = _size("Embedding", "num_embeddings", num_embeddings)
        embedding_dim = _size("Embedding", "embedding_dim", embedding_dim)
        if padding_idx is not None and (isinstance(padding_idx, bool) or not isinstance(padding_idx, numbers.Integral)
                                        or not -num_embeddings <= padding_idx < num_embeddings):
            raise ValueError(f"Embedding: padding_idx {padding_idx!r} must be an int within "
                             f"num_embeddings={num_embeddings}")
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.padding_idx = None if padding_idx is None else padding_idx % num_embeddings
        self.weight = Parameter(np.empty((num_embeddings, embedding_dim), dtype=np.float32))
        self.reset_parameters()

    def reset_parameters(self):
        """Draw the table from N(0, 1); the padding row, if any, is zero."""
        self.weight.data[...] = rng().standard_normal(self.weight.shape)
        if self.padding_idx is not None:
            self.weight.data[self.padding_idx] = 0

    def forward(self, ids):
        ids = _token_ids("Embedding", ids, self.num_embeddings)
        return EmbeddingFunction.apply(self.weight, ids, padding_idx=self.padding_idx)

    def extra_repr(self):
        pad = f", padding_idx={self.padding_idx}" if self.padding_idx is not None else ""
        return f"{self.num_embeddings}, {self.embedding_dim}{pad}"


def sinusoidal_table(max_len: int, embed_dim: int) -> np.ndarray:
    """Vaswani et al.'s table: ``P[pos, 2i] = sin(pos / 10000^(2i/d))``, ``P[pos, 2i+1] = cos(...)``.

    Each pair of columns is a sine/cosine at one frequency, from one cycle per 2*pi positions
    down to one per 10000*2*pi, so every position gets a distinct pattern and a fixed offset
    is a fixed rotation (attention can learn "k positions back").

    Example:
        >>> from tinytorch.core.embeddings import sinusoidal_table
        >>> print(sinusoidal_table(3, 4).round(3))
        [[ 0.     1.     0.     1.   ]
         [ 0.841  0.54   0.01   1.   ]
         [ 0.909 -0.416  0.02   1.   ]]
    """
    max_len = _size("sinusoidal_table", "max_len", max_len)
    embed_dim = _size("sinusoidal_table", "embed_dim", embed_dim)
    positions = np.arange(max_len, dtype=np.float64)[:, None]
    rates = np.exp(-math.log(10000.0) * np.arange(0, embed_dim, 2, dtype=np.float64) / embed_dim)
    table = np.zeros((max_len, embed_dim), dtype=np.float64)
    table[:, 0::2] = np.sin(positions * rates)
    table[:, 1::2] = np.cos(positions * rates[: embed_dim // 2])
    return table.astype(np.float32)


def _positions(op: str, x, start: int, max_len: int, embed_dim: int) -> tuple[int, int]:
    """Check ``x`` is (..., T, embed_dim) and that positions start..start+T-1 fit; return (start, T)."""
    if x.ndim < 2 or x.shape[-1] != embed_dim:
        raise ValueError(f"{op}: expected input of shape (batch, seq_len, {embed_dim}), got {tuple(x.shape)}")
    start = _size(op, "start", start, low=0)
    length = x.shape[-2]
    if start + length > max_len:
        raise ValueError(
            f"{op}: positions {start}..{start + length - 1} do not fit max_len={max_len} "
            f"(sequence of {length} starting at {start})")
    return start, length


class PositionalEncoding(Module):
    """Adds the fixed sinusoidal position signal: ``out = x + P[start : start + T]``.

    ``P`` is ``sinusoidal_table(max_len, embed_dim)``, registered as a buffer (saved in
    ``state_dict``, never trained).

    Args:
        embed_dim: size of each token vector.
        max_len: number of positions in the table (default 5000).

    Shape:
        - Input: ``(N, T, embed_dim)`` or ``(T, embed_dim)``; Output: same shape.

    Example:
        >>> import numpy as np
        >>> from tinytorch.core.embeddings import PositionalEncoding
        >>> from tinytorch.core.tensor import Tensor
        >>> pe = PositionalEncoding(8, max_len=16)
        >>> x = Tensor(np.zeros((2, 5, 8), dtype=np.float32))
        >>> out = pe(x, start=3)
        >>> bool(np.allclose(out.data[0, 0], pe.pe.data[3]))
        True
    """

    def __init__(self, embed_dim: int, max_len: int = 5000):
        super().__init__()
        self.embed_dim = _size("PositionalEncoding", "embed_dim", embed_dim)
        self.max_len = _size("PositionalEncoding", "max_len", max_len)
        self.register_buffer("pe", Tensor(sinusoidal_table(max_len, embed_dim)))

    def forward(self, x, start: int = 0):
        """Add the encodings of positions ``start .. start + T - 1`` (``start`` > 0 when decoding with a cache)."""
        start, length = _positions("PositionalEncoding", x, start, self.max_len, self.embed_dim)
        table = self.pe.data[start:start + length]
        return x + Tensor(table.astype(x.dtype, copy=False))

    def extra_repr(self):
        return f"{self.embed_dim}, max_len={self.max_len}"


class LearnedPositionalEmbedding(Module):
    """Adds one learned vector per position: ``out = x + weight[start : start + T]`` (GPT-2's ``wpe``).

    Weights start ~ N(0, 0.02^2), GPT-2's initialisation.

    Args:
        max_len: number of positions (the model's context length).
        embed_dim: size of each vector.

    Shape:
        - Input: ``(N, T, embed_dim)`` or ``(T, embed_dim)``; Output: same shape.
        - ``weight``: ``(max_len, embed_dim)``.

    Example:
        >>> import numpy as np
        >>> from tinytorch.core.embeddings import LearnedPositionalEmbedding
        >>> from tinytorch.core.tensor import Tensor
        >>> pos = LearnedPositionalEmbedding(16, 8)
        >>> pos(Tensor(np.zeros((2, 5, 8), dtype=np.float32))).shape
        (2, 5, 8)
    """

    def __init__(self, max_len: int, embed_dim: int):
        super().__init__()
        self.max_len = _size("LearnedPositionalEmbedding", "max_len", max_len)
        self.embed_dim = _size("LearnedPositionalEmbedding", "embed_dim", embed_dim)
        self.weight = Parameter(np.empty((max_len, embed_dim), dtype=np.float32))
        self.reset_parameters()

    def reset_parameters(self):
        """Draw the table from N(0, 0.02^2) with the framework generator."""
        self.weight.data[...] = 0.02 * rng().standard_normal(self.weight.shape)

    def forward(self, x, start: int = 0):
        """Add the vectors of positions ``start .. start + T - 1`` (``start`` > 0 when decoding with a cache)."""
        start, length = _positions("LearnedPositionalEmbedding", x, start, self.max_len, self.embed_dim)
        return x + self.weight[start:start + length]

    def extra_repr(self):
        return f"{self.max_len}, {self.embed_dim}"
