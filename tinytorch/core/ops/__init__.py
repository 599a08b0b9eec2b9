"""Module 01's primitive ops, one family per file: each a ``Function`` with forward and backward side by side.

- ``arithmetic``: Add, Sub, Mul, Div, Pow, MatMul
- ``elementwise``: Exp, Log, Cast, Where
- ``reduction``: Sum, Mean, Max
- ``movement``: Reshape, Permute, GetItem, Concatenate

Everything else a Tensor can do (sqrt, abs, clip, maximum, min, var, stack, ...) is
composed from these in ``tinytorch.core.tensor`` and needs no backward of its own. Later
modules add their own primitives where speed needs a fused op: activations (02), Linear
(03), the losses (04), convolution and pooling (09); each is tested against its composed form.

Dtype rule: the math keeps its inputs' dtype. Constants are Python floats (NumPy 2 treats
them as "weak"), never NumPy float64 scalars, so float32 stays float32.
"""
