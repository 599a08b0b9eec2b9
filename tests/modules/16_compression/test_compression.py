"""Module 16 compression: exact pruning counts, zeros that stay zero through masked training,
structured pruning that removes dead units without changing outputs, sparse formats that
really shrink bytes, distillation's gradient and T^2 factor, and SVD low rank."""

import copy

import numpy as np
import pytest
from gradcheck import gradcheck
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from tinytorch.core.activations import ReLU
from tinytorch.core.autograd import no_grad
from tinytorch.core.layers import Flatten, Linear, Sequential
from tinytorch.core.losses import CrossEntropyLoss
from tinytorch.core.optimizers import Adam
from tinytorch.core.random import manual_seed
from tinytorch.core.spatial import Conv2d, MaxPool2d
from tinytorch.core.tensor import Tensor
from tinytorch.perf.compression import (
    BitmaskArray,
    CSRMatrix,
    DistillationLoss,
    L1Unstructured,
    MaskedOptimizer,
    SparseLinear,
    SparseQuantizedConv2d,
    SparseQuantizedLinear,
    distillation_loss,
    global_unstructured,
    l1_unstructured,
    low_rank_linear,
    low_rank_model,
    parameters_to_prune,
    remove,
    sparsify_model,
    sparsity,
    structured_prune,
)
from tinytorch.perf.quantization import (
    QuantizedConv2d,
    QuantizedLinear,
    model_nbytes,
    quantize_model,
)


def mlp():
    manual_seed(0)
    return Sequential(Flatten(), Linear(64, 128), ReLU(), Linear(128, 10))


def lenet():
    manual_seed(0)
    return Sequential(Conv2d(1, 6, 3, padding=1), ReLU(), MaxPool2d(2), Conv2d(6, 16, 3, padding=1), ReLU(),
                      MaxPool2d(2), Flatten(), Linear(64, 10))


def images(n=16, seed=0):
    return np.random.default_rng(seed).random((n, 1, 8, 8), dtype=np.float32)


def forward(model, x):
    with no_grad():
        return model(Tensor(x)).data


# ----------------------------------------------------------------------------- magnitude pruning

def prune_each_layer(model, amount):
    for layer, name in parameters_to_prune(model):
        l1_unstructured(layer, name=name, amount=amount)
    return model


def weights(model):
    return [getattr(layer, name) for layer, name in parameters_to_prune(model)]


@pytest.mark.parametrize("amount", [0.0, 0.3, 0.5, 0.9, 1.0])
def test_l1_unstructured_zeroes_exactly_the_smallest_fraction_of_every_layer(amount):
    model = lenet()
    original = [np.abs(w.data).copy() for w in weights(model)]
    prune_each_layer(model, amount)
    for (layer, _), weight, before in zip(parameters_to_prune(model), weights(model), original):
        pruned = weight.data == 0
        assert pruned.sum() == round(amount * weight.data.size)
        if 0 < pruned.sum() < weight.data.size:
            assert before[pruned].max() <= before[~pruned].min()
        mask = dict(layer.named_buffers())["weight_mask"]           # the mask stays on the module, as in torch
        assert mask.dtype == np.bool_ and np.array_equal(mask.data, ~pruned)
    assert sparsity(model) == pytest.approx(sum(round(amount * w.data.size) for w in weights(model))
                                            / sum(w.data.size for w in weights(model)))


def test_amount_counts_entries_and_pruning_again_prunes_among_the_survivors():
    layer = Linear(10, 4)
    l1_unstructured(layer, amount=3)                                  # an int is a count, as in torch
    assert (layer.weight.data == 0).sum() == 3
    l1_unstructured(layer, amount=0.5)                                # half of the 37 left: 18 more (round half even)
    assert (layer.weight.data == 0).sum() == 3 + round(0.5 * 37) and layer.weight_mask.data.sum() == 40 - 21
    assert np.array_equal(layer.weight_mask.data, layer.weight.data != 0)


def test_global_pruning_uses_one_threshold_and_an_exact_total():
    model = lenet()
    magnitudes = np.concatenate([np.abs(w.data).ravel() for w in weights(model)])
    global_unstructured(parameters_to_prune(model), pruning_method=L1Unstructured, amount=0.6)
    flat = np.concatenate([w.data.ravel() for w in weights(model)])
    assert (flat == 0).sum() == round(0.6 * flat.size)
    assert magnitudes[flat == 0].max() <= magnitudes[flat != 0].min()
    per_layer = [float((w.data == 0).mean()) for w in weights(model)]
    assert max(per_layer) - min(per_layer) > 0.05  # layers lose different fractions
    assert sparsity(model) == pytest.approx(round(0.6 * flat.size) / flat.size)
    assert all(np.array_equal(layer.weight_mask.data, layer.weight.data != 0) for layer, _ in parameters_to_prune(model))


def test_pruning_leaves_biases_alone_unless_asked():
    model = mlp()
    biases = [model[1].bias.data.copy(), model[3].bias.data.copy()]
    prune_each_layer(model, 0.5)
    assert np.array_equal(biases[0], model[1].bias.data) and np.array_equal(biases[1], model[3].bias.data)
    l1_unstructured(model[1], name="bias", amount=0.25)
    assert (model[1].bias.data == 0).sum() == 32 and model[1].bias_mask.data.sum() == 96


def _train(model, optimizer, steps=25):
    rng = np.random.default_rng(1)
    for _ in range(steps):
        x, y = rng.random((16, 1, 8, 8), dtype=np.float32), rng.integers(0, 10, 16)
        optimizer.zero_grad()
        CrossEntropyLoss()(model(Tensor(x)), y).backward()
        optimizer.step()


def test_pruned_weights_stay_zero_through_masked_training_and_move_without_the_mask():
    masked, unmasked = prune_each_layer(lenet(), 0.5), prune_each_layer(lenet(), 0.5)
    pruned = [w.data.copy() for w in weights(masked)]
    zeros = [w.data == 0 for w in weights(masked)]
    _train(masked, MaskedOptimizer(Adam(masked.parameters(), lr=1e-2), masked))
    _train(unmasked, Adam(unmasked.parameters(), lr=1e-2))
    for weight, before, zero in zip(weights(masked), pruned, zeros):
        assert np.all(weight.data[zero] == 0)
        assert np.any(weight.data[~zero] != before[~zero])  # the survivors did train
    assert sparsity(masked) == 0.5
    assert sparsity(unmasked) < 0.1  # without the mask, Adam revives the pruned weights


def test_remove_makes_the_pruning_final():
    model = prune_each_layer(mlp(), 0.5)
    for layer, name in parameters_to_prune(model):
        assert remove(layer, name) is layer
        assert "weight_mask" not in dict(layer.named_buffers())
    assert sparsity(model) == 0.5                                     # the zeros stay
    _train(model, MaskedOptimizer(Adam(model.parameters(), lr=1e-2), model), steps=3)
    assert sparsity(model) < 0.1                                      # nothing holds them any more


def test_masked_optimizer_passes_the_learning_rate_through():
    model = prune_each_layer(mlp(), 0.5)
    inner = Adam(model.parameters(), lr=1e-3)
    wrapped = MaskedOptimizer(inner, model)
    wrapped.lr = 0.5
    assert inner.lr == 0.5 and wrapped.params is inner.params


# ----------------------------------------------------------------------------- structured pruning

def test_structured_pruning_shrinks_an_mlp_and_removing_dead_neurons_changes_nothing():
    model = mlp()
    dead = np.arange(0, 128, 2)                 # half of the hidden units can never fire
    model[1].weight.data[dead] = 0.0
    model[1].bias.data[dead] = -1.0
    x = images()
    small = structured_prune(model, 0.5)
    assert small[1].weight.shape == (64, 64) and small[1].bias.shape == (64,)
    assert small[3].weight.shape == (10, 64) and small[1].out_features == 64 and small[3].in_features == 64
    np.testing.assert_allclose(forward(small, x), forward(model, x), rtol=1e-5, atol=1e-6)
    assert model_nbytes(small) < model_nbytes(model) / 1.9
    assert model[1].weight.shape == (128, 64)   # the original is untouched


def test_structured_pruning_removes_conv_channels_through_the_flatten():
    model = lenet()
    for layer, dead in ((model[0], [1, 4, 5]), (model[3], list(range(8)))):
        layer.weight.data[dead] = 0.0
        layer.bias.data[dead] = -1.0            # ReLU(-1) = 0: these channels are always dark
    x = images()
    small = structured_prune(model, 0.5)
    assert small[0].weight.shape == (3, 1, 3, 3) and small[3].weight.shape == (8, 3, 3, 3)
    assert small[7].weight.shape == (10, 32) and small[3].in_channels == 3
    np.testing.assert_allclose(forward(small, x), forward(model, x), rtol=1e-5, atol=1e-6)


def test_structured_pruning_of_a_pruned_model_leaves_no_stale_masks():
    model = prune_each_layer(mlp(), 0.5)
    small = structured_prune(model, 0.5)
    assert all("weight_mask" not in dict(layer.named_buffers()) for layer, _ in parameters_to_prune(small))
    _train(small, MaskedOptimizer(Adam(small.parameters(), lr=1e-2), small), steps=1)   # no mask of the old shapes


def test_structured_pruning_refuses_layers_it_cannot_see_through():
    class Scale(Linear):
        pass

    model = Sequential(Linear(4, 4), Sequential(ReLU()), Linear(4, 2))
    with pytest.raises(ValueError, match="cannot see through layer 1"):
        structured_prune(model, 0.5)
    with pytest.raises(TypeError, match="Sequential"):
        structured_prune(Linear(4, 4), 0.5)


# ----------------------------------------------------------------------------- sparse storage

sparse_arrays = arrays(np.float32, st.tuples(st.integers(1, 6), st.integers(1, 300)),
                       elements=st.sampled_from([0.0, 0.0, 0.0, 1.5, -2.25, 7.0]))


@given(sparse_arrays)
def test_csr_and_bitmask_round_trip_and_count_their_bytes(dense):
    csr = CSRMatrix.from_dense(dense)
    assert np.array_equal(csr.to_dense(), dense)
    nnz = int(np.count_nonzero(dense))
    index_bytes = 1 if dense.shape[1] <= 256 else 2
    assert csr.nbytes == nnz * (4 + index_bytes) + (dense.shape[0] + 1) * 4
    packed = BitmaskArray.from_dense(dense)
    assert np.array_equal(packed.to_dense(), dense)
    assert packed.nbytes == -(-dense.size // 8) + nnz * 4


@given(sparse_arrays)
def test_csr_matmul_equals_the_dense_product(dense):
    other = np.random.default_rng(0).standard_normal((dense.shape[1], 3)).astype(np.float32)
    np.testing.assert_allclose(CSRMatrix.from_dense(dense).matmul(other), dense @ other, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("density", [0.005, 0.03, 0.2, 0.7])
def test_csr_matmul_both_ways_equal_the_dense_product(density):
    """Below one value in 16 per row the product uses the stored values alone (padded rows);
    denser matrices are unpacked for BLAS. Empty rows, a vector and a batch, both ways."""
    rng = np.random.default_rng(int(density * 1000))
    dense = rng.standard_normal((40, 512)).astype(np.float32)
    dense[rng.random(dense.shape) > density] = 0.0
    dense[[3, 17]] = 0.0                                            # empty rows
    csr = CSRMatrix.from_dense(dense)
    sparse_way = np.diff(csr.indptr).max() * 16 <= 512
    assert sparse_way == (density < 0.05)
    for other in (rng.standard_normal((512, 7)).astype(np.float32), rng.standard_normal(512)):
        product = csr.matmul(other)
        assert product.shape == (dense @ other).shape and product.dtype == np.result_type(dense, other)
        np.testing.assert_allclose(product, dense @ other, rtol=1e-5, atol=1e-4)
    empty = CSRMatrix.from_dense(np.zeros((3, 5), np.float32))
    assert np.array_equal(empty.matmul(np.ones((5, 2), np.float32)), np.zeros((3, 2)))


@pytest.mark.parametrize("density", [0.005, 0.03, 0.2])
def test_csr_linear_is_x_times_the_transpose_both_ways(density):
    """What a sparse Linear computes, x W^T, from the stored values (sparse rows) or unpacked (dense
    rows), of shape (batch, rows), for float32 and float64 inputs; an empty matrix gives zeros."""
    rng = np.random.default_rng(int(density * 1000) + 1)
    dense = rng.standard_normal((40, 512)).astype(np.float32)
    dense[rng.random(dense.shape) > density] = 0.0
    dense[[0, 39]] = 0.0                                            # empty rows, first and last
    csr = CSRMatrix.from_dense(dense)
    for x in (rng.standard_normal((7, 512)).astype(np.float32), rng.standard_normal((1, 512))):
        product = csr.linear(x)
        assert product.shape == (x.shape[0], 40) and product.dtype == np.result_type(dense, x)
        np.testing.assert_allclose(product, x @ dense.T, rtol=1e-5, atol=1e-4)
    empty = CSRMatrix.from_dense(np.zeros((3, 5), np.float32))
    assert np.array_equal(empty.linear(np.ones((2, 5), np.float32)), np.zeros((2, 3)))


@pytest.mark.parametrize("kept", [0.02, 0.5])
def test_bitmask_unpacks_the_same_both_ways(kept):
    """Under 1 in 10 kept the values are written through the mask, above they are gathered."""
    rng = np.random.default_rng(7)
    dense = np.where(rng.random((33, 17)) < kept, rng.standard_normal((33, 17)), 0.0).astype(np.float32)
    packed = BitmaskArray.from_dense(dense)
    assert np.array_equal(packed.to_dense(), dense) and packed.to_dense().dtype == np.float32
    assert np.array_equal(packed.mask(), dense != 0)


def test_sparse_linear_matches_dense_and_shrinks_bytes_at_high_sparsity():
    manual_seed(0)
    layer = l1_unstructured(Linear(128, 64), amount=0.9)
    x = np.random.default_rng(0).random((5, 128), dtype=np.float32)
    for fmt in ("csr", "bitmask"):
        sparse = SparseLinear.from_dense(layer, fmt)
        np.testing.assert_allclose(sparse(Tensor(x)).data, forward(layer, x), rtol=1e-5, atol=1e-6)
    csr = SparseLinear.from_dense(layer, "csr")
    assert csr.nbytes < (layer.weight.data.nbytes + layer.bias.data.nbytes) / 3
    with pytest.raises(ValueError, match="format"):
        SparseLinear.from_dense(layer, "coo")


def test_sparse_int8_layers_compute_exactly_what_the_dense_int8_layers_compute():
    model = prune_each_layer(lenet(), 0.5)
    x = images()
    int8 = quantize_model(model, x)
    sparse = sparsify_model(int8)
    assert isinstance(sparse[0], SparseQuantizedConv2d) and isinstance(sparse[7], SparseQuantizedLinear)
    assert isinstance(sparse[0], QuantizedConv2d) and isinstance(sparse[7], QuantizedLinear)
    np.testing.assert_array_equal(forward(sparse, x), forward(int8, x))
    # Dense int8 codes cost 1558 bytes; the bitmask costs 1 bit each plus 1 byte per survivor.
    codes = sum(np.count_nonzero(layer.int_weight()) for layer in (int8[0], int8[3], int8[7]))
    bits = sum(-(-size // 8) for size in (54, 864, 640))
    assert model_nbytes(int8) - model_nbytes(sparse) == 1558 - codes - bits
    assert model_nbytes(model) / model_nbytes(sparse) > 4.5


# ----------------------------------------------------------------------------- distillation

def _numpy_distillation(student, teacher, targets, temperature, alpha):
    def log_softmax(z):
        z = z - z.max(axis=1, keepdims=True)
        return z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    log_ps, log_pt = log_softmax(student / temperature), log_softmax(teacher / temperature)
    soft = (np.exp(log_pt) * (log_pt - log_ps)).sum(axis=1).mean() * temperature ** 2
    hard = -log_softmax(student)[np.arange(len(targets)), targets].mean()
    return alpha * soft + (1 - alpha) * hard


@pytest.mark.parametrize("temperature, alpha", [(1.0, 0.5), (4.0, 0.9), (2.5, 1.0), (3.0, 0.0)])
def test_distillation_loss_matches_numpy(temperature, alpha):
    rng = np.random.default_rng(0)
    student, teacher = rng.standard_normal((6, 5)) * 3, rng.standard_normal((6, 5)) * 3
    targets = rng.integers(0, 5, 6)
    loss = distillation_loss(Tensor(student, dtype=np.float64), teacher, targets, temperature, alpha)
    assert loss.item() == pytest.approx(_numpy_distillation(student, teacher, targets, temperature, alpha), rel=1e-10)


@pytest.mark.parametrize("temperature, alpha", [(1.0, 0.5), (4.0, 0.9), (2.0, 1.0)])
def test_distillation_gradient_checks(temperature, alpha):
    rng = np.random.default_rng(1)
    teacher, targets = rng.standard_normal((4, 3)) * 2, rng.integers(0, 3, 4)
    gradcheck(lambda s: distillation_loss(s, teacher, targets, temperature, alpha), rng.standard_normal((4, 3)))


def test_t_squared_keeps_the_soft_gradient_the_same_size_at_high_temperature():
    # For large T, d(KL)/dz ~ (z_s - z_t) / (N C T^2) (zero-mean logits): times T^2 it no longer depends on T.
    rng = np.random.default_rng(2)
    student, teacher = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    student -= student.mean(1, keepdims=True)
    teacher -= teacher.mean(1, keepdims=True)
    grads = []
    for temperature in (100.0, 200.0):
        z = Tensor(student, requires_grad=True, dtype=np.float64)
        distillation_loss(z, teacher, np.zeros(3, np.int64), temperature, alpha=1.0).backward()
        grads.append(z.grad)
    np.testing.assert_allclose(grads[0], grads[1], rtol=0.03)   # without T^2: 4x smaller at double T
    np.testing.assert_allclose(grads[1], (student - teacher) / (3 * 4), rtol=0.03)


def test_distillation_module_and_errors():
    loss_fn = DistillationLoss(temperature=2.0, alpha=0.5)
    z = Tensor(np.zeros((2, 3), np.float32))
    assert loss_fn(z, np.zeros((2, 3)), np.array([0, 1])).item() == pytest.approx(np.log(3) / 2, rel=1e-6)
    with pytest.raises(ValueError, match="temperature"):
        distillation_loss(z, np.zeros((2, 3)), np.array([0, 1]), temperature=0.0)
    with pytest.raises(ValueError, match="differ in shape"):
        distillation_loss(z, np.zeros((2, 4)), np.array([0, 1]))


# ----------------------------------------------------------------------------- low rank

def test_full_rank_factorization_reproduces_the_layer():
    manual_seed(0)
    layer = Linear(20, 12)
    x = np.random.default_rng(0).random((4, 20), dtype=np.float32)
    np.testing.assert_allclose(forward(low_rank_linear(layer, 12), x), forward(layer, x), rtol=1e-4, atol=1e-5)


def test_rank_r_error_is_the_discarded_singular_values_eckart_young():
    manual_seed(0)
    layer = Linear(30, 16)
    s = np.linalg.svd(layer.weight.data.astype(np.float64), compute_uv=False)
    for rank in (1, 4, 10):
        factored = low_rank_linear(layer, rank)
        approx = factored[1].weight.data.astype(np.float64) @ factored[0].weight.data
        error = np.linalg.norm(approx - layer.weight.data)
        assert error == pytest.approx(np.sqrt((s[rank:] ** 2).sum()), rel=1e-4)
        assert factored[0].bias is None and np.array_equal(factored[1].bias.data, layer.bias.data)
        assert sum(p.data.size for p in factored.parameters()) == rank * (30 + 16) + 16
    with pytest.raises(ValueError, match="rank must be in"):
        low_rank_linear(layer, 17)


def test_low_rank_model_only_factorizes_when_it_saves_weights():
    model = mlp()
    small = low_rank_model(model, 0.25)          # 64x128: rank 16 saves; 128x10: rank 3 saves too
    assert isinstance(small[1], Sequential) and small[1][0].weight.shape == (16, 64)
    assert isinstance(small[3], Sequential) and small[3][0].weight.shape == (3, 128)
    assert isinstance(low_rank_model(model, 0.95)[3], Linear)  # rank 10: 10 * (128 + 10) > 128 * 10
    assert copy.deepcopy(model)[1].weight.shape == (128, 64)
