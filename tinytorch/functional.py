"""Functions that the modules call, as ``torch.nn.functional``: ``F.relu(x)``, ``F.linear(x, w, b)``, ...

Each lives with the module that introduces it (activations in module 02, ``linear`` in 03,
the losses in 04, convolution, pooling and batch norm in 09, attention in 12) and loads lazily
from there, so this file
works with a tinytorch written only up to some module. One spelling for arguments:
``dim`` for axes, ``reduction`` for losses.

Example:
    >>> import tinytorch.functional as F
    >>> from tinytorch import Tensor
    >>> F.relu(Tensor([-1.0, 2.0])).tolist()
    [0.0, 2.0]
"""

from tinytorch._lazy import lazy_exports

_EXPORTS = {
    "tinytorch.core.activations": ("relu", "sigmoid", "tanh", "gelu", "softmax", "log_softmax"),
    "tinytorch.core.layers": ("linear", "dropout"),
    "tinytorch.core.losses": ("mse_loss", "cross_entropy", "binary_cross_entropy"),
    "tinytorch.core.spatial": ("conv2d", "max_pool2d", "avg_pool2d"),
    "tinytorch.core.normalization": ("batch_norm",),
    "tinytorch.core.attention": ("scaled_dot_product_attention",),
}
__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
