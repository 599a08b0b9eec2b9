"""Module 11: Embedding (gather forward, scatter-add backward), sinusoidal and learned positions."""

from pathlib import Path

import numpy as np
import pytest
from gradcheck import gradcheck
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from modulegraph import imported_tinytorch_modules

import tinytorch
from tinytorch.core.embeddings import (
    Embedding,
    EmbeddingFunction,
    LearnedPositionalEmbedding,
    PositionalEncoding,
    scatter_add_rows,
    sinusoidal_table,
)
from tinytorch.core.layers import Parameter
from tinytorch.core.tensor import Tensor

ROOT = Path(__file__).resolve().parents[3]


def test_forward_gathers_rows():
    emb = Embedding(5, 3)
    ids = np.array([[4, 0, 4], [1, 2, 3]])
    out = emb(ids)
    assert out.shape == (2, 3, 3) and out.dtype == np.float32
    np.testing.assert_array_equal(out.data, emb.weight.data[ids])


def test_ids_may_be_lists_tensors_or_unsigned():
    emb = Embedding(5, 2)
    expected = emb.weight.data[[1, 3]]
    for ids in ([1, 3], Tensor(np.array([1, 3])), np.array([1, 3], dtype=np.uint8)):
        np.testing.assert_array_equal(emb(ids).data, expected)


def test_repeated_ids_sum_their_gradients():
    emb = Embedding(4, 2)
    ids = np.array([[1, 1, 3], [1, 0, 3]])
    upstream = np.arange(12, dtype=np.float32).reshape(2, 3, 2)
    (emb(ids) * Tensor(upstream)).sum().backward()
    expected = np.zeros((4, 2), np.float32)
    for (b, t), i in np.ndenumerate(ids):
        expected[i] += upstream[b, t]
    np.testing.assert_allclose(emb.weight.grad, expected)
    np.testing.assert_allclose(emb.weight.grad[1], upstream[0, 0] + upstream[0, 1] + upstream[1, 0])
    np.testing.assert_array_equal(emb.weight.grad[2], 0)


def test_embedding_gradcheck_float64_with_repeats():
    ids = np.array([[2, 0, 2, 2], [1, 2, 0, 0]])
    gradcheck(lambda w: EmbeddingFunction.apply(w, ids), np.random.default_rng(0).standard_normal((3, 4)))


@given(hnp.arrays(np.int64, hnp.array_shapes(min_dims=1, max_dims=3, max_side=6), elements=st.integers(0, 6)))
def test_scatter_add_equals_add_at(ids):
    rows = np.random.default_rng(0).standard_normal((ids.size, 3)).astype(np.float32)
    expected = np.zeros((7, 3), np.float32)
    np.add.at(expected, ids.reshape(-1), rows)
    np.testing.assert_allclose(scatter_add_rows(ids, rows, 7), expected, rtol=1e-6, atol=1e-6)


def test_out_of_range_and_float_ids_raise_clear_errors():
    emb = Embedding(10, 2)
    with pytest.raises(IndexError, match=r"token id 10 is out of range for num_embeddings=10 \(valid ids are 0..9\)"):
        emb(np.array([3, 10]))
    with pytest.raises(IndexError, match="token id -1 is out of range"):
        emb(np.array([-1, 2]))
    with pytest.raises(TypeError, match="token ids must be integers"):
        emb(np.array([1.0, 2.0]))
    with pytest.raises(TypeError, match="token ids must be integers"):
        emb(Tensor([1.0]))
    with pytest.raises(ValueError, match="Embedding: token ids must form a rectangular array, got a ragged nesting"):
        emb([[1, 2], [3]])
    with pytest.raises(IndexError, match="scatter_add_rows: token id 7 is out of range for num_embeddings=7"):
        scatter_add_rows(np.array([7]), np.ones((1, 2)), 7)


@pytest.mark.parametrize("call, match", [
    (lambda: Embedding(0, 3), "Embedding: num_embeddings must be an int >= 1, got 0"),
    (lambda: Embedding(3, 0), "Embedding: embedding_dim must be an int >= 1, got 0"),
    (lambda: Embedding(3.5, 2), "Embedding: num_embeddings must be an int >= 1, got 3.5"),
    (lambda: Embedding(3, 2, padding_idx=3), "Embedding: padding_idx 3 must be an int within num_embeddings=3"),
    (lambda: Embedding(3, 2, padding_idx=1.5), "Embedding: padding_idx 1.5 must be an int within num_embeddings=3"),
    (lambda: PositionalEncoding(0), "PositionalEncoding: embed_dim must be an int >= 1, got 0"),
    (lambda: PositionalEncoding(4, max_len=0), "PositionalEncoding: max_len must be an int >= 1, got 0"),
    (lambda: LearnedPositionalEmbedding(4, 2.0), "LearnedPositionalEmbedding: embed_dim must be an int >= 1, got 2.0"),
    (lambda: sinusoidal_table(3, -2), "sinusoidal_table: embed_dim must be an int >= 1, got -2"),
    (lambda: PositionalEncoding(4, max_len=6)(Tensor(np.zeros((1, 2, 4), np.float32)), start=1.5),
     "PositionalEncoding: start must be an int >= 0, got 1.5"),
    (lambda: LearnedPositionalEmbedding(6, 4)(Tensor(np.zeros((1, 2, 4), np.float32)), start=-1),
     "LearnedPositionalEmbedding: start must be an int >= 0, got -1"),
])
def test_bad_sizes_and_offsets_are_named(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_padding_idx_row_is_zero_and_gets_no_gradient():
    emb = Embedding(4, 3, padding_idx=0)
    np.testing.assert_array_equal(emb.weight.data[0], 0)
    emb(np.array([0, 0, 2])).sum().backward()
    np.testing.assert_array_equal(emb.weight.grad[0], 0)
    np.testing.assert_array_equal(emb.weight.grad[2], 1)
    assert "padding_idx=0" in repr(emb)


def test_initialisation_is_standard_normal_and_seeded():
    tinytorch.manual_seed(3)
    a = Embedding(200, 50).weight.data
    tinytorch.manual_seed(3)
    b = Embedding(200, 50).weight.data
    np.testing.assert_array_equal(a, b)
    assert abs(a.std() - 1) < 0.05 and abs(a.mean()) < 0.05


def test_sinusoidal_table_matches_the_paper():
    table = sinusoidal_table(50, 6)
    pos, i = 7, 1  # columns 2i and 2i+1
    angle = pos / 10000 ** (2 * i / 6)
    np.testing.assert_allclose(table[pos, 2 * i], np.sin(angle), rtol=1e-6)
    np.testing.assert_allclose(table[pos, 2 * i + 1], np.cos(angle), rtol=1e-6)
    assert sinusoidal_table(4, 5).shape == (4, 5)  # odd widths work
    assert len({tuple(row) for row in table.round(5)}) == 50  # every position distinct


def test_positional_encoding_is_a_fixed_buffer_with_a_start_offset():
    pe = PositionalEncoding(8, max_len=20)
    assert list(pe.parameters()) == [] and "pe" in pe.state_dict()
    x = Tensor(np.random.default_rng(0).standard_normal((2, 5, 8)).astype(np.float32), requires_grad=True)
    whole = pe(Tensor(np.zeros((1, 12, 8), np.float32)))
    shifted = pe(x, start=7)
    np.testing.assert_allclose(shifted.data - x.data, np.broadcast_to(whole.data[:, 7:12], (2, 5, 8)), atol=1e-6)
    shifted.sum().backward()
    np.testing.assert_array_equal(x.grad, np.ones_like(x.data))
    assert shifted.dtype == np.float32


def test_learned_positions_train_only_the_rows_used():
    pos = LearnedPositionalEmbedding(10, 4)
    x = Tensor(np.zeros((3, 4, 4), np.float32))
    out = pos(x, start=2)
    np.testing.assert_array_equal(out.data[1], pos.weight.data[2:6])
    out.sum().backward()
    np.testing.assert_array_equal(pos.weight.grad[2:6], 3)   # summed over the batch of 3
    np.testing.assert_array_equal(pos.weight.grad[[0, 1, 6, 7, 8, 9]], 0)
    assert abs(pos.weight.data.std() - 0.02) < 0.01


def test_learned_positions_gradcheck_in_float64():
    rng = np.random.default_rng(1)
    pos = LearnedPositionalEmbedding(6, 3)
    pos.weight = Parameter(rng.standard_normal((6, 3)), dtype=np.float64)
    gradcheck(lambda x: pos(x, start=1) * x, rng.standard_normal((2, 3, 3)))
    pos.weight.grad = None
    pos(Tensor(rng.standard_normal((2, 3, 3)), dtype=np.float64), start=1).sum().backward()
    np.testing.assert_array_equal(pos.weight.grad[1:4], 2.0)


@pytest.mark.parametrize("module", [PositionalEncoding(4, max_len=6), LearnedPositionalEmbedding(6, 4)],
                         ids=["sinusoidal", "learned"])
def test_positions_beyond_max_len_or_wrong_width_are_clear_errors(module):
    with pytest.raises(ValueError, match=r"positions 4..7 do not fit max_len=6"):
        module(Tensor(np.zeros((1, 4, 4), np.float32)), start=4)
    with pytest.raises(ValueError, match=r"expected input of shape \(batch, seq_len, 4\)"):
        module(Tensor(np.zeros((1, 3, 5), np.float32)))


def test_embeddings_import_only_earlier_modules():
    allowed = {"tinytorch.core.autograd", "tinytorch.core.layers", "tinytorch.core.random", "tinytorch.core.tensor"}
    assert imported_tinytorch_modules(ROOT / "tinytorch/core/embeddings.py") <= allowed
