"""Modules (modules 02-03): registration, parameters order, state_dict, modes, Dropout, repr.

Gradients through layers need module 05: tests/modules/05_autograd/test_earlier_modules_with_autograd.py.
"""

import numpy as np
import pytest

from tinytorch.core.activations import ReLU
from tinytorch.core.layers import (
    Dropout,
    Flatten,
    Linear,
    Module,
    ModuleList,
    Parameter,
    Sequential,
)
from tinytorch.core.random import manual_seed, rng
from tinytorch.core.tensor import Tensor


class MLP(Module):
    """Two Linear layers with a ReLU and Dropout between them."""

    def __init__(self):
        super().__init__()
        self.fc1 = Linear(4, 8)
        self.act = ReLU()
        self.drop = Dropout(0.5)
        self.fc2 = Linear(8, 3)

    def forward(self, x):
        return self.fc2(self.drop(self.act(self.fc1(x))))


def test_manual_seed_makes_generator_reproducible():
    manual_seed(123)
    a = rng().random(4)
    manual_seed(123)
    np.testing.assert_array_equal(rng().random(4), a)


def test_parameter_is_a_tensor_that_requires_grad():
    p = Parameter(np.zeros(3))
    assert isinstance(p, Tensor) and p.requires_grad and p.dtype == np.float32
    assert repr(p).startswith("Parameter containing:\nTensor(")
    assert type(p * 2) is Tensor


def test_parameters_in_registration_order():
    model = MLP()
    names = [name for name, _ in model.named_parameters()]
    assert names == ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    assert [p.shape for p in model.parameters()] == [(8, 4), (8,), (3, 8), (3,)]
    assert [type(m).__name__ for m in model.children()] == ["Linear", "ReLU", "Dropout", "Linear"]
    assert len(list(model.modules())) == 5


def test_shared_parameters_are_listed_once():
    layer = Linear(3, 3)
    model = Sequential(layer, ReLU(), layer)
    assert len(list(model.parameters())) == 2


def test_module_list_and_sequential_register_children():
    blocks = ModuleList([Linear(2, 2) for _ in range(3)])
    assert len(blocks) == 3 and len(list(blocks.parameters())) == 6
    seq = Sequential(Linear(2, 3), ReLU(), Linear(3, 1))
    assert [n for n, _ in seq.named_parameters()] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert isinstance(seq[0], Linear) and len(seq[1:]) == 2 and len(seq) == 3
    assert seq(Tensor(np.ones((5, 2)))).shape == (5, 1)


def test_assigning_before_super_init_is_a_clear_error():
    class Broken(Module):
        def __init__(self):
            self.fc = Linear(2, 2)

    with pytest.raises(AttributeError, match="super\\(\\).__init__"):
        Broken()


def test_plain_tensor_cannot_replace_a_parameter():
    layer = Linear(2, 2)
    with pytest.raises(TypeError, match="Parameter or None expected"):
        layer.weight = Tensor(np.zeros((2, 2)))


def test_linear_shapes_init_and_forward():
    manual_seed(0)
    layer = Linear(64, 128)
    assert layer.weight.shape == (128, 64) and layer.bias.shape == (128,)
    bound = 1 / np.sqrt(64)
    assert np.abs(layer.weight.data).max() <= bound and np.abs(layer.bias.data).max() <= bound
    assert layer.weight.data.std() > bound / 3  # really spread over U(-b, b)
    x = np.random.default_rng(0).standard_normal((32, 64)).astype(np.float32)
    out = layer(Tensor(x))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.data, x @ layer.weight.data.T + layer.bias.data, rtol=1e-5, atol=1e-5)
    assert Linear(3, 2, bias=False).bias is None
    assert len(list(Linear(3, 2, bias=False).parameters())) == 1


def test_linear_init_is_reproducible_with_seed():
    manual_seed(7)
    a = Linear(5, 4).weight.data.copy()
    manual_seed(7)
    np.testing.assert_array_equal(Linear(5, 4).weight.data, a)


def test_linear_accepts_batched_and_1d_input():
    layer = Linear(3, 2)
    assert layer(Tensor(np.ones((4, 5, 3)))).shape == (4, 5, 2)
    assert layer(Tensor(np.ones(3))).shape == (2,)


def test_linear_shape_error_names_shapes():
    with pytest.raises(ValueError, match=r"linear: input shape \(2, 5\) does not match weight shape \(4, 3\)"):
        Linear(3, 4)(Tensor(np.ones((2, 5))))


def test_train_eval_propagate():
    model = MLP()
    assert model.training and model.drop.training
    assert model.eval() is model
    assert not model.training and not model.drop.training
    model.train()
    assert model.fc1.training


def test_dropout_eval_is_identity_and_train_is_inverted():
    x = Tensor(np.ones((200, 50)))
    drop = Dropout(0.25)
    drop.eval()
    assert drop(x) is x
    drop.train()
    out = drop(x).data
    np.testing.assert_allclose(np.unique(out), [0.0, 1 / 0.75], rtol=1e-6)
    assert abs((out == 0).mean() - 0.25) < 0.02
    assert abs(out.mean() - 1.0) < 0.03


def test_dropout_reproducible_with_seed():
    x = Tensor(np.ones((4, 6)), requires_grad=True)
    manual_seed(3)
    a = Dropout(0.5)(x)
    manual_seed(3)
    b = Dropout(0.5)(x)
    np.testing.assert_array_equal(a.data, b.data)


def test_dropout_edge_probabilities():
    x = Tensor(np.ones(10))
    np.testing.assert_array_equal(Dropout(1.0)(x).data, np.zeros(10))
    assert Dropout(0.0)(x) is x
    with pytest.raises(ValueError, match="p must be in"):
        Dropout(1.5)


def test_flatten():
    x = Tensor(np.ones((2, 3, 4, 5)))
    assert Flatten()(x).shape == (2, 60)
    assert Flatten(0)(x).shape == (120,)
    assert Flatten(1, 2)(x).shape == (2, 12, 5)


def test_state_dict_round_trip():
    manual_seed(0)
    a, b = MLP(), MLP()
    state = a.state_dict()
    assert list(state) == ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    assert all(type(v) is np.ndarray for v in state.values())
    state["fc1.bias"][0] = 99.0  # a copy: editing it leaves the model alone
    assert a.fc1.bias.data[0] != 99.0
    weight_before = b.fc1.weight
    b.load_state_dict(a.state_dict())
    assert b.fc1.weight is weight_before  # loaded in place: optimizers keep their references
    for (_, pa), (_, pb) in zip(a.named_parameters(), b.named_parameters()):
        np.testing.assert_array_equal(pa.data, pb.data)
    x = Tensor(np.ones((2, 4)))
    np.testing.assert_array_equal(a.eval()(x).data, b.eval()(x).data)


def test_load_state_dict_errors():
    model = MLP()
    state = model.state_dict()
    del state["fc2.bias"]
    state["extra"] = np.zeros(1)
    with pytest.raises(KeyError, match=r"missing keys \['fc2.bias'\], unexpected keys \['extra'\]"):
        model.load_state_dict(state)
    bad = model.state_dict()
    bad["fc1.weight"] = np.zeros((4, 8))
    with pytest.raises(ValueError, match=r"'fc1.weight': checkpoint has \(4, 8\), model has \(8, 4\)"):
        model.load_state_dict(bad)


def test_buffers_are_saved_but_not_parameters():
    class WithBuffer(Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("running", Tensor(np.zeros(3)))
            self.fc = Linear(3, 3)

    m = WithBuffer()
    assert [n for n, _ in m.named_parameters()] == ["fc.weight", "fc.bias"]
    assert "running" in m.state_dict()
    state = m.state_dict()
    state["running"][:] = 1.0
    m.load_state_dict(state)
    np.testing.assert_array_equal(m.running.data, np.ones(3))


def test_repr_like_pytorch():
    model = Sequential(Linear(64, 128), ReLU(), Dropout(0.1), Sequential(Linear(128, 10)), Flatten())
    assert repr(model) == (
        "Sequential(\n"
        "  (0): Linear(in_features=64, out_features=128, bias=True)\n"
        "  (1): ReLU()\n"
        "  (2): Dropout(p=0.1)\n"
        "  (3): Sequential(\n"
        "    (0): Linear(in_features=128, out_features=10, bias=True)\n"
        "  )\n"
        "  (4): Flatten(start_dim=1, end_dim=-1)\n"
        ")"
    )
    assert repr(MLP()).startswith("MLP(\n  (fc1): Linear(in_features=4")


def test_models_deepcopy_and_pickle():
    import copy
    import pickle

    model = Sequential(Linear(3, 2), ReLU())
    for clone in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
        assert clone[0].weight.data is not model[0].weight.data
        np.testing.assert_array_equal(clone[0].weight.data, model[0].weight.data)
        assert isinstance(clone[0].weight, Parameter) and clone[0].weight.requires_grad
        assert [n for n, _ in clone.named_parameters()] == ["0.weight", "0.bias"]


@pytest.mark.parametrize("args", [(-1, 2), (2, -3), (2.5, 2), (True, 2)])
def test_linear_refuses_sizes_that_are_not_non_negative_integers(args):
    with pytest.raises(ValueError, match="Linear: (in|out)_features must be a non-negative integer"):
        Linear(*args)
