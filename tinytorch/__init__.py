"""TinyTorch: a from-scratch deep-learning framework on NumPy, shaped like PyTorch.

``import tinytorch`` re-exports the main names of modules 01-13 (``tinytorch.Tensor``,
``tinytorch.Linear``, ``tinytorch.GPT``, ``tinytorch.manual_seed``, ...); ``tinytorch.perf``
those of modules 14-19 (``tinytorch.perf.Profiler``, ``tinytorch.perf.KVCache``, ...). They load lazily, on first use, from the module that
defines them, so a tinytorch written only up to module N imports fine: a name from a later
module that is not written yet raises an AttributeError that names the module and its file,
and a module that is written but broken raises its own error where it begins.

One module is imported at once: module 05 (autograd), when its file is written, because it
plugs itself into module 01's ops as it loads (``register_autograd``); module 01 imports
nothing of it. Absent, the ops compute without recording; broken, its error is raised here.
"""

from tinytorch._lazy import import_if_written, lazy_exports
from tinytorch._memory import keep_freed_memory

from tinytorch.core.random import manual_seed, rng

keep_freed_memory()  # glibc keeps freed memory for NumPy's next temporaries: see tinytorch/_memory.py

# name -> module that defines it, in the book's module order
_EXPORTS = {
    "tinytorch.core.tensor": ("Tensor", "cat", "stack", "where"),                       # 01
    "tinytorch.core.activations": ("ReLU", "Sigmoid", "Tanh", "GELU", "Softmax", "LogSoftmax"),  # 02
    "tinytorch.core.layers": ("Module", "Parameter", "Linear", "Dropout", "Sequential",  # 03
                              "ModuleList", "Flatten"),
    "tinytorch.core.losses": ("MSELoss", "CrossEntropyLoss", "BinaryCrossEntropyLoss"),  # 04
    "tinytorch.core.function": ("Function",),                                           # 01
    "tinytorch.core.autograd": ("no_grad", "enable_grad", "is_grad_enabled"),            # 05
    "tinytorch.core.optimizers": ("SGD", "Adam", "AdamW"),                                # 06
    "tinytorch.core.training": ("Trainer", "CosineSchedule", "clip_grad_norm",            # 07
                                "save_checkpoint", "load_checkpoint"),
    "tinytorch.core.dataloader": ("Dataset", "TensorDataset", "DataLoader"),              # 08
    "tinytorch.core.transforms": ("RandomCrop", "RandomHorizontalFlip", "Compose", "TransformDataset"),  # 08
    "tinytorch.core.spatial": ("Conv2d", "MaxPool2d", "AvgPool2d"),                       # 09
    "tinytorch.core.normalization": ("BatchNorm1d", "BatchNorm2d"),                       # 09
    "tinytorch.core.tokenization": ("CharTokenizer", "BPETokenizer"),                     # 10
    "tinytorch.core.embeddings": ("Embedding", "PositionalEncoding", "LearnedPositionalEmbedding"),  # 11
    "tinytorch.core.attention": ("scaled_dot_product_attention", "MultiHeadAttention"),   # 12
    "tinytorch.core.transformers": ("LayerNorm", "TransformerBlock", "GPT", "GPTConfig"),  # 13
}
__getattr__, __dir__, _NAMES = lazy_exports(__name__, _EXPORTS)
__all__ = ["manual_seed", "rng", *_NAMES]

import_if_written("tinytorch.core.autograd")  # module 05 registers with module 01's ops as it loads

