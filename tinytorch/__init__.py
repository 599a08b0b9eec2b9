"""TinyTorch: a from-scratch deep-learning framework on NumPy, shaped like PyTorch.

``import tinytorch`` re-exports the main names, e.g. ``tinytorch.Tensor``,
``tinytorch.Linear``, ``tinytorch.manual_seed``.
"""

from tinytorch.core.random import manual_seed, rng
from tinytorch.core.tensor import Tensor, cat, stack, where
from tinytorch.core.autograd import Function, enable_grad, is_grad_enabled, no_grad
from tinytorch.core.activations import GELU, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from tinytorch.core.layers import Dropout, Flatten, Linear, Module, ModuleList, Parameter, Sequential
from tinytorch.core.losses import BinaryCrossEntropyLoss, CrossEntropyLoss, MSELoss

__all__ = [
    "manual_seed", "rng",
    "Tensor", "cat", "stack", "where",
    "Function", "no_grad", "enable_grad", "is_grad_enabled",
    "ReLU", "Sigmoid", "Tanh", "GELU", "Softmax", "LogSoftmax",
    "Module", "Parameter", "Linear", "Dropout", "Sequential", "ModuleList", "Flatten",
    "MSELoss", "CrossEntropyLoss", "BinaryCrossEntropyLoss",
]

from tinytorch.core.optimizers import SGD, Adam, AdamW  # noqa: E402
from tinytorch.core.training import (  # noqa: E402
    CosineSchedule, Trainer, clip_grad_norm, load_checkpoint, save_checkpoint)
from tinytorch.core.dataloader import DataLoader, Dataset, TensorDataset  # noqa: E402
from tinytorch.core.spatial import AvgPool2d, Conv2d, MaxPool2d  # noqa: E402

__all__ += [
    "SGD", "Adam", "AdamW",
    "Trainer", "CosineSchedule", "clip_grad_norm", "save_checkpoint", "load_checkpoint",
    "Dataset", "TensorDataset", "DataLoader",
    "Conv2d", "MaxPool2d", "AvgPool2d",
]
