"""Module 02: activations, the nonlinearities between layers, as Modules.

Each is a thin Module over a primitive ``Function`` (``tinytorch.core.functions``), the same
math as the Tensor methods ``x.relu()``, ``x.sigmoid()``, ...
"""

from tinytorch.core import functions as F
from tinytorch.core.layers import Module

__all__ = ["ReLU", "Sigmoid", "Tanh", "GELU", "Softmax", "LogSoftmax"]


class ReLU(Module):
    """ReLU(x) = max(x, 0).

    Shape:
        - Input: ``(*)``; Output: same shape.
    """

    def forward(self, x):
        return F.ReLU.apply(x)


class Sigmoid(Module):
    """Sigmoid(x) = 1 / (1 + exp(-x)), computed without overflow for any x.

    Shape:
        - Input: ``(*)``; Output: same shape.
    """

    def forward(self, x):
        return F.Sigmoid.apply(x)


class Tanh(Module):
    """Tanh(x) = (exp(x) - exp(-x)) / (exp(x) + exp(-x)).

    Shape:
        - Input: ``(*)``; Output: same shape.
    """

    def forward(self, x):
        return F.Tanh.apply(x)


class GELU(Module):
    """GELU(x) ~= 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), the tanh approximation.

    Equals ``torch.nn.GELU(approximate='tanh')`` (the GPT-2 form); PyTorch's default
    ``approximate='none'`` (erf) differs by under 1e-3. Only ``'tanh'`` is implemented.

    Args:
        approximate: must be ``'tanh'``.

    Shape:
        - Input: ``(*)``; Output: same shape.
    """

    def __init__(self, approximate="tanh"):
        super().__init__()
        if approximate != "tanh":
            raise ValueError(f"GELU: only approximate='tanh' is implemented, got {approximate!r}")
        self.approximate = approximate

    def forward(self, x):
        return F.GELU.apply(x)

    def extra_repr(self):
        return f"approximate={self.approximate!r}"


class Softmax(Module):
    """Softmax(x)_i = exp(x_i) / sum_j exp(x_j) along ``dim`` (max-shifted, stable).

    Args:
        dim: dimension that sums to 1 (default -1).

    Shape:
        - Input: ``(*)``; Output: same shape.
    """

    def __init__(self, dim=-1):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return F.Softmax.apply(x, axis=self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """LogSoftmax(x) = x - logsumexp(x) along ``dim`` (stable).

    Args:
        dim: dimension to normalize over (default -1).

    Shape:
        - Input: ``(*)``; Output: same shape.
    """

    def __init__(self, dim=-1):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return F.LogSoftmax.apply(x, axis=self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"
