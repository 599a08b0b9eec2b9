"""Module 16 compression: every bad argument raises one clear error naming the call and the
argument (never a NumPy message, never a silent result)."""

import numpy as np
import pytest

from tinytorch.core.activations import ReLU
from tinytorch.core.layers import Flatten, Linear, Sequential
from tinytorch.core.optimizers import Adam
from tinytorch.core.spatial import Conv2d
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
    structured_prune,
)


@pytest.mark.parametrize("amount, error, message", [
    (-0.1, ValueError, r"l1_unstructured: amount must be a fraction in \[0, 1\], got -0.1"),
    (1.5, ValueError, r"l1_unstructured: amount must be a fraction in \[0, 1\], got 1.5"),
    (float("nan"), ValueError, r"l1_unstructured: amount must be a fraction in \[0, 1\], got nan"),
    (-3, ValueError, r"l1_unstructured: amount must be a count >= 0, got -3"),
    (13, ValueError, r"L1Unstructured: amount=13 asks to prune 13 entries, but only 12 are left"),
    ("half", TypeError, r"l1_unstructured: amount must be a fraction \(float in \[0, 1\]\) or a count"),
    (True, TypeError, r"l1_unstructured: amount must be a fraction"),
    (None, TypeError, r"l1_unstructured: amount must be a fraction"),
])
def test_l1_unstructured_amount(amount, error, message):
    layer = Linear(4, 3)
    before = layer.weight.data.copy()
    with pytest.raises(error, match=message):
        l1_unstructured(layer, name="weight", amount=amount)
    assert np.array_equal(layer.weight.data, before) and "weight_mask" not in dict(layer.named_buffers())


def test_l1_unstructured_module_and_name():
    with pytest.raises(TypeError, match=r"l1_unstructured: module must be a Module, got ndarray"):
        l1_unstructured(np.ones((2, 2)), amount=0.5)
    with pytest.raises(ValueError, match=r"l1_unstructured: Linear has no parameter named 'wieght'"):
        l1_unstructured(Linear(2, 2), name="wieght", amount=0.5)
    with pytest.raises(ValueError, match=r"l1_unstructured: Linear has no parameter named 'bias'"):
        l1_unstructured(Linear(2, 2, bias=False), name="bias", amount=0.5)
    with pytest.raises(TypeError, match=r"l1_unstructured: name must be the parameter's name \(a str\)"):
        l1_unstructured(Linear(2, 2), name=0, amount=0.5)


def test_global_unstructured_arguments():
    model = Sequential(Linear(4, 3), ReLU(), Linear(3, 2))
    with pytest.raises(TypeError, match=r"global_unstructured: pruning_method must be an unstructured pruning class"):
        global_unstructured(parameters_to_prune(model), pruning_method="l1", amount=0.5)
    with pytest.raises(TypeError, match=r"global_unstructured: pruning_method must be an unstructured pruning class"):
        global_unstructured(parameters_to_prune(model), pruning_method=L1Unstructured(0.5), amount=0.5)
    with pytest.raises(TypeError, match=r"global_unstructured: parameters must be \(module, name\) pairs"):
        global_unstructured([model[0]], pruning_method=L1Unstructured, amount=0.5)
    with pytest.raises(ValueError, match=r"global_unstructured: parameters is empty"):
        global_unstructured([], pruning_method=L1Unstructured, amount=0.5)
    with pytest.raises(ValueError, match=r"global_unstructured: amount must be a fraction in \[0, 1\], got 2.0"):
        global_unstructured(parameters_to_prune(model), pruning_method=L1Unstructured, amount=2.0)
    with pytest.raises(ValueError, match=r"global_unstructured: ReLU has no parameter named 'weight'"):
        global_unstructured([(model[1], "weight")], pruning_method=L1Unstructured, amount=0.5)


def test_l1_unstructured_compute_mask_shapes():
    with pytest.raises(ValueError, match=r"L1Unstructured.compute_mask: default_mask has shape \(3,\), the tensor \(4,\)"):
        L1Unstructured(1).compute_mask(np.ones(4), np.ones(3, bool))


def test_remove_parameters_to_prune_and_masked_optimizer_arguments():
    with pytest.raises(ValueError, match=r"remove: parameter 'weight' of Linear was not pruned \(no weight_mask\)"):
        remove(Linear(2, 2), "weight")
    with pytest.raises(TypeError, match=r"parameters_to_prune: model must be a Module, got list"):
        parameters_to_prune([Linear(2, 2)])
    model = Sequential(Linear(2, 2))
    with pytest.raises(TypeError, match=r"MaskedOptimizer: optimizer must have a step\(\) method, got Sequential"):
        MaskedOptimizer(model, model)
    with pytest.raises(TypeError, match=r"MaskedOptimizer: model must be a Module, got list"):
        MaskedOptimizer(Adam(model.parameters()), [model])


def test_structured_prune_arguments():
    model = Sequential(Linear(4, 4), ReLU(), Linear(4, 2))
    for amount in (1.0, -0.5, "half", float("nan")):
        with pytest.raises(ValueError, match=r"structured_prune: amount must be a fraction in \[0, 1\)"):
            structured_prune(model, amount)
    with pytest.raises(ValueError, match=r"structured_prune: the model has no Linear or Conv2d layer to prune"):
        structured_prune(Sequential(ReLU(), Flatten()), 0.5)


def test_sparse_formats_refuse_inconsistent_arrays():
    with pytest.raises(ValueError, match=r"CSRMatrix: expected a 2-D array, got shape \(3,\)"):
        CSRMatrix.from_dense(np.ones(3))
    with pytest.raises(ValueError, match=r"CSRMatrix: inconsistent arrays for shape \(2, 3\)"):
        CSRMatrix((2, 3), np.ones(2), np.zeros(2, np.uint8), np.array([0, 1]))
    with pytest.raises(ValueError, match=r"CSRMatrix: column indices must be below 3"):
        CSRMatrix((2, 3), np.ones(1), np.array([5], np.uint8), np.array([0, 1, 1]))
    csr = CSRMatrix.from_dense(np.eye(3, dtype=np.float32))
    with pytest.raises(ValueError, match=r"CSRMatrix.matmul: expected a \(3, k\) or \(3,\) array, got shape \(4, 2\)"):
        csr.matmul(np.ones((4, 2)))
    with pytest.raises(ValueError, match=r"CSRMatrix.linear: expected a \(batch, 3\) array, got shape \(2, 4\)"):
        csr.linear(np.ones((2, 4)))
    with pytest.raises(ValueError, match=r"BitmaskArray: bits must be 1 packed uint8 bytes for shape \(2, 2\)"):
        BitmaskArray((2, 2), np.zeros(2, np.uint8), np.ones(0))
    with pytest.raises(ValueError, match=r"BitmaskArray: the mask marks 1 positions, got 2 values"):
        BitmaskArray((2, 2), np.array([128], np.uint8), np.ones(2))


def test_sparse_layers_and_sparsify_model_arguments():
    with pytest.raises(ValueError, match=r"SparseLinear: format must be 'csr' or 'bitmask', got 'coo'"):
        SparseLinear(np.ones((2, 2), np.float32), format="coo")
    with pytest.raises(ValueError, match=r"SparseLinear: weight must be a 2-D float array"):
        SparseLinear(np.ones(4, np.float32))
    with pytest.raises(ValueError, match=r"SparseLinear: bias must have shape \(2,\), got \(3,\)"):
        SparseLinear(np.ones((2, 2), np.float32), np.ones(3))
    with pytest.raises(TypeError, match=r"SparseLinear.from_dense: expected a Linear, got Conv2d"):
        SparseLinear.from_dense(Conv2d(1, 1, 1))
    with pytest.raises(ValueError, match=r"SparseLinear: expected input \(\*, 2\), got shape \(1, 3\)"):
        SparseLinear(np.ones((2, 2), np.float32))(Tensor(np.ones((1, 3), np.float32)))
    with pytest.raises(TypeError, match=r"SparseQuantizedLinear: expected a QuantizedLinear, got Linear"):
        SparseQuantizedLinear(Linear(2, 2))
    with pytest.raises(TypeError, match=r"SparseQuantizedConv2d: expected a QuantizedConv2d, got Conv2d"):
        SparseQuantizedConv2d(Conv2d(1, 1, 1))
    with pytest.raises(TypeError, match=r"sparsify_model: model must be a Module, got dict"):
        sparsify_model({})
    with pytest.raises(ValueError, match=r"sparsify_model: format must be 'csr' or 'bitmask', got 'dense'"):
        sparsify_model(Sequential(Linear(2, 2)), "dense")


def test_distillation_arguments():
    z, teacher, labels = Tensor(np.zeros((2, 3), np.float32)), np.zeros((2, 3)), np.array([0, 1])
    for temperature, alpha in ((0.0, 0.5), (float("nan"), 0.5), (float("inf"), 0.5), (2.0, 1.5), (2.0, float("nan"))):
        with pytest.raises(ValueError, match=r"distillation_loss: need a finite temperature > 0 and alpha in \[0, 1\]"):
            distillation_loss(z, teacher, labels, temperature, alpha)
    with pytest.raises(TypeError, match=r"distillation_loss: temperature must be a number, got '4'"):
        distillation_loss(z, teacher, labels, temperature="4")
    with pytest.raises(TypeError, match=r"distillation_loss: student_logits must be a Tensor"):
        distillation_loss(np.zeros((2, 3)), teacher, labels)
    with pytest.raises(ValueError, match=r"distillation_loss: student logits must be \(N, C\), got shape \(3,\)"):
        distillation_loss(Tensor(np.zeros(3, np.float32)), np.zeros(3), labels)
    with pytest.raises(ValueError, match=r"distillation_loss: teacher_logits contain NaN or inf"):
        distillation_loss(z, np.array([[0.0, np.nan, 0.0]] * 2), labels)
    with pytest.raises(TypeError, match=r"distillation_loss: teacher_logits must be numbers"):
        distillation_loss(z, np.array([["a", "b", "c"]] * 2), labels)
    with pytest.raises(ValueError, match=r"DistillationLoss: need a finite temperature > 0"):
        DistillationLoss(temperature=-1.0)


def test_low_rank_arguments():
    with pytest.raises(TypeError, match=r"low_rank_linear: expected a Linear, got Conv2d"):
        low_rank_linear(Conv2d(1, 1, 1), 1)
    for rank in (0, 5, 2.5, True):
        with pytest.raises(ValueError, match=r"low_rank_linear: rank must be in \[1, 4\] for a 4x6 weight"):
            low_rank_linear(Linear(6, 4), rank)
    for fraction in (0.0, 1.5, "x"):
        with pytest.raises(ValueError, match=r"low_rank_model: rank_fraction must be in \(0, 1\]"):
            low_rank_model(Sequential(Linear(6, 4)), fraction)
    with pytest.raises(TypeError, match=r"low_rank_model: model must be a Module"):
        low_rank_model("model", 0.5)
