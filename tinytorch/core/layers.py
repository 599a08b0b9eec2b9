"""Module 03: layers, the building blocks of networks.

``Module`` is the base class (as ``torch.nn.Module``): assigning a ``Parameter`` or a
sub-``Module`` as an attribute registers it, so ``parameters()``, ``state_dict()``,
``train()``/``eval()`` and ``zero_grad()`` reach the whole tree. ``Linear``, ``Dropout``,
``Sequential``, ``ModuleList`` and ``Flatten`` are the first layers built on it.
"""

import math
from collections import OrderedDict

import numpy as np

from tinytorch.core import functions as F
from tinytorch.core.random import rng
from tinytorch.core.tensor import Tensor

__all__ = ["Parameter", "Module", "Linear", "Dropout", "Sequential", "ModuleList", "Flatten"]


class Parameter(Tensor):
    """A Tensor that is a learnable weight: ``requires_grad=True`` and registered by Modules.

    Args:
        data: array-like initial value (float64 becomes float32 unless ``dtype`` is given).
        requires_grad: default True.
        dtype: optional NumPy dtype.
    """

    __slots__ = ()

    def __init__(self, data, requires_grad=True, dtype=None):
        super().__init__(data, requires_grad=requires_grad, dtype=dtype)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


def _addindent(text, spaces):
    """Indent every line of ``text`` but the first (as PyTorch's repr helper)."""
    lines = text.split("\n")
    return lines[0] if len(lines) == 1 else "\n".join([lines[0]] + [" " * spaces + line for line in lines[1:]])


class Module:
    """Base class of every layer and model: subclass it, assign layers in ``__init__``, write ``forward``.

    Example:
        >>> class MLP(Module):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.fc1 = Linear(4, 8)
        ...         self.fc2 = Linear(8, 2)
        ...     def forward(self, x):
        ...         return self.fc2(self.fc1(x).relu())
        >>> [name for name, _ in MLP().named_parameters()]
        ['fc1.weight', 'fc1.bias', 'fc2.weight', 'fc2.bias']
    """

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    # ------------------------------------------------------------------ registration
    def __setattr__(self, name, value):
        registries = self.__dict__.get("_parameters"), self.__dict__.get("_modules"), self.__dict__.get("_buffers")
        params, modules, buffers = registries
        if params is None and isinstance(value, (Parameter, Module)):
            raise AttributeError(
                f"cannot assign {type(value).__name__} '{name}' before Module.__init__() call: "
                f"call super().__init__() first in {type(self).__name__}.__init__"
            )
        if params is not None:
            if isinstance(value, Parameter):
                modules.pop(name, None)
                buffers.pop(name, None)
                params[name] = value
            elif isinstance(value, Module):
                params.pop(name, None)
                buffers.pop(name, None)
                modules[name] = value
            elif name in params:
                if value is not None:
                    raise TypeError(
                        f"cannot assign {type(value).__name__} as parameter '{name}' "
                        f"(Parameter or None expected)"
                    )
                params[name] = None
            elif name in modules:
                if value is not None:
                    raise TypeError(f"cannot assign {type(value).__name__} as child module '{name}'")
                modules[name] = None
            elif name in buffers:
                buffers[name] = value
        object.__setattr__(self, name, value)

    def __delattr__(self, name):
        for registry in (self._parameters, self._modules, self._buffers):
            registry.pop(name, None)
        object.__delattr__(self, name)

    def register_buffer(self, name, tensor):
        """Register a non-learnable Tensor (running stats, fixed encodings) saved in state_dict."""
        self._buffers[name] = tensor
        object.__setattr__(self, name, tensor)

    def register_parameter(self, name, param):
        """Register a Parameter (or None) under ``name``."""
        self._parameters[name] = param
        object.__setattr__(self, name, param)

    def add_module(self, name, module):
        """Register a sub-module under ``name``."""
        self._modules[name] = module
        object.__setattr__(self, name, module)

    # ------------------------------------------------------------------ traversal
    def named_modules(self, prefix=""):
        """Yield (dotted name, module) for self and every descendant, each module once."""
        seen, stack = set(), [(prefix, self)]
        while stack:
            name, module = stack.pop()
            if id(module) in seen:
                continue
            seen.add(id(module))
            yield name, module
            children = [(f"{name}.{k}" if name else k, m) for k, m in module._modules.items() if m is not None]
            stack.extend(reversed(children))

    def modules(self):
        """Yield self and every descendant module."""
        for _, module in self.named_modules():
            yield module

    def named_children(self):
        """Yield (name, module) for direct sub-modules."""
        for name, module in self._modules.items():
            if module is not None:
                yield name, module

    def children(self):
        """Yield direct sub-modules."""
        for _, module in self.named_children():
            yield module

    def named_parameters(self, prefix="", recurse=True):
        """Yield (dotted name, Parameter) in registration order, each Parameter once."""
        seen = set()
        modules = self.named_modules(prefix) if recurse else [(prefix, self)]
        for module_name, module in modules:
            for name, param in module._parameters.items():
                if param is None or id(param) in seen:
                    continue
                seen.add(id(param))
                yield (f"{module_name}.{name}" if module_name else name), param

    def parameters(self, recurse=True):
        """Yield every learnable Parameter (what an optimizer updates)."""
        for _, param in self.named_parameters(recurse=recurse):
            yield param

    def named_buffers(self, prefix=""):
        """Yield (dotted name, buffer Tensor) for self and every descendant."""
        for module_name, module in self.named_modules(prefix):
            for name, buf in module._buffers.items():
                if buf is not None:
                    yield (f"{module_name}.{name}" if module_name else name), buf

    # ------------------------------------------------------------------ modes and grads
    def train(self, mode=True):
        """Set training mode (Dropout active) on self and all descendants; returns self."""
        for module in self.modules():
            object.__setattr__(module, "training", bool(mode))
        return self

    def eval(self):
        """Set evaluation mode (Dropout is the identity); returns self."""
        return self.train(False)

    def zero_grad(self):
        """Reset every parameter's ``.grad`` to None (as PyTorch's default set_to_none=True)."""
        for param in self.parameters():
            param.grad = None

    # ------------------------------------------------------------------ state
    def state_dict(self):
        """Ordered dict of name -> np.ndarray copy, for every parameter and buffer."""
        state = OrderedDict((name, p.data.copy()) for name, p in self.named_parameters())
        state.update((name, np.asarray(b.data if isinstance(b, Tensor) else b).copy()) for name, b in self.named_buffers())
        return state

    def load_state_dict(self, state_dict, strict=True):
        """Copy arrays from ``state_dict`` into the parameters and buffers (in place).

        Raises KeyError naming missing/unexpected keys (when ``strict``) and ValueError
        naming the key and both shapes on a shape mismatch; nothing is modified on error.
        """
        targets = OrderedDict(self.named_parameters())
        targets.update((name, b) for name, b in self.named_buffers() if isinstance(b, Tensor))
        missing = [k for k in targets if k not in state_dict]
        unexpected = [k for k in state_dict if k not in targets]
        if strict and (missing or unexpected):
            raise KeyError(f"load_state_dict: missing keys {missing}, unexpected keys {unexpected}")
        values = {}
        for name, target in targets.items():
            if name not in state_dict:
                continue
            value = state_dict[name]
            value = np.asarray(value.data if isinstance(value, Tensor) else value)
            if value.shape != target.data.shape:
                raise ValueError(
                    f"load_state_dict: shape mismatch for '{name}': checkpoint has {value.shape}, "
                    f"model has {target.data.shape}"
                )
            values[name] = value
        for name, value in values.items():
            np.copyto(targets[name].data, value, casting="unsafe")

    # ------------------------------------------------------------------ calling and printing
    def forward(self, *args, **kwargs):
        """Compute the output; every subclass overrides this."""
        raise NotImplementedError(f"{type(self).__name__} must implement forward()")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def extra_repr(self):
        """One-line description of this module's own settings, shown inside its repr."""
        return ""

    def __repr__(self):
        lines = [f"({name}): {_addindent(repr(module), 2)}" for name, module in self.named_children()]
        extra = self.extra_repr()
        if not lines:
            return f"{type(self).__name__}({extra})"
        body = ([extra] if extra else []) + lines
        return f"{type(self).__name__}(\n  " + "\n  ".join(body) + "\n)"


class Linear(Module):
    """Affine map y = x W^T + b.

    Weights and bias start uniform in [-1/sqrt(in_features), 1/sqrt(in_features)], PyTorch's
    default, drawn from the framework generator (``tinytorch.manual_seed``).

    Args:
        in_features: size of each input sample.
        out_features: size of each output sample.
        bias: learn an additive bias (default True).

    Shape:
        - Input: ``(*, in_features)``
        - Output: ``(*, out_features)``
        - ``weight``: ``(out_features, in_features)``, ``bias``: ``(out_features,)``

    Example:
        >>> Linear(64, 128)(Tensor(np.zeros((32, 64)))).shape
        (32, 128)
    """

    def __init__(self, in_features, out_features, bias=True):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = Parameter(np.empty((out_features, in_features), dtype=np.float32))
        self.bias = Parameter(np.empty((out_features,), dtype=np.float32)) if bias else None
        self.reset_parameters()

    def reset_parameters(self):
        """Draw weight and bias from U(-1/sqrt(in), 1/sqrt(in)) with the framework generator."""
        bound = 1.0 / math.sqrt(self.in_features) if self.in_features > 0 else 0.0
        self.weight.data[...] = rng().uniform(-bound, bound, self.weight.shape)
        if self.bias is not None:
            self.bias.data[...] = rng().uniform(-bound, bound, self.bias.shape)

    def forward(self, x):
        return F.Linear.apply(x, self.weight, self.bias)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Dropout(Module):
    """Inverted dropout: zero each element with probability p, scale survivors by 1/(1-p).

    Identity in eval mode, so no rescaling is needed at test time. The mask is drawn from
    the framework generator, so ``tinytorch.manual_seed`` makes it reproducible.

    Args:
        p: probability of zeroing an element, in [0, 1] (default 0.5).

    Shape:
        - Input: ``(*)``; Output: same shape.
    """

    def __init__(self, p=0.5):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout: p must be in [0, 1], got {p}")
        self.p = p

    def forward(self, x):
        if not self.training or self.p == 0.0:
            return x
        if self.p == 1.0:
            return x * 0.0
        keep = rng().random(x.shape, dtype=np.float32) >= self.p
        mask = keep.astype(x.dtype) * (1.0 / (1.0 - self.p))
        return F.Mul.apply(x, mask)

    def extra_repr(self):
        return f"p={self.p}"


class Sequential(Module):
    """Chain modules: the output of each is the input of the next.

    Example:
        >>> model = Sequential(Linear(4, 8), Linear(8, 2))
        >>> model(Tensor(np.zeros((3, 4)))).shape
        (3, 2)
    """

    def __init__(self, *modules):
        super().__init__()
        for index, module in enumerate(modules):
            self.add_module(str(index), module)

    def __getitem__(self, index):
        layers = list(self._modules.values())
        if isinstance(index, slice):
            return Sequential(*layers[index])
        return layers[index]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def append(self, module):
        """Add ``module`` at the end; returns self."""
        self.add_module(str(len(self)), module)
        return self

    def forward(self, x):
        for module in self._modules.values():
            x = module(x)
        return x


class ModuleList(Module):
    """A list of sub-modules that registers them (a plain Python list would hide their parameters).

    Example:
        >>> blocks = ModuleList([Linear(4, 4) for _ in range(3)])
        >>> len(list(blocks.parameters()))
        6
    """

    def __init__(self, modules=()):
        super().__init__()
        for module in modules:
            self.append(module)

    def append(self, module):
        """Add ``module`` at the end; returns self."""
        self.add_module(str(len(self)), module)
        return self

    def __getitem__(self, index):
        layers = list(self._modules.values())
        return ModuleList(layers[index]) if isinstance(index, slice) else layers[index]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())


class Flatten(Module):
    """Merge dims ``start_dim..end_dim`` into one (default keeps the batch dim).

    Args:
        start_dim: first dim to flatten (default 1).
        end_dim: last dim to flatten (default -1).

    Shape:
        - Input: ``(N, *dims)``; Output: ``(N, prod(dims))`` with the defaults.
    """

    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x):
        return x.flatten(self.start_dim, self.end_dim)

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"
