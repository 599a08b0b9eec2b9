"""The ``Module`` base class (introduced with module 02: activations are the first modules).

``Module`` works as ``torch.nn.Module``: assigning a ``Parameter`` or a sub-``Module`` as an
attribute registers it, so ``parameters()``, ``state_dict()``, ``train()``/``eval()`` and
``zero_grad()`` reach the whole tree. Module 03 (layers) builds the first modules with
parameters on it and re-exports ``Module`` and ``Parameter``.
"""

from collections import OrderedDict

import numpy as np

from tinytorch.core.tensor import Tensor

__all__ = ["Parameter", "Module"]


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
        >>> from tinytorch.core.activations import relu
        >>> from tinytorch.core.layers import Linear
        >>> from tinytorch.core.module import Module
        >>> class MLP(Module):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.fc1 = Linear(4, 8)
        ...         self.fc2 = Linear(8, 2)
        ...     def forward(self, x):
        ...         return self.fc2(relu(self.fc1(x)))
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
    # tito: given
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
