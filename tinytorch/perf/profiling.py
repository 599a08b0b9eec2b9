"""Module 14, profiling: measure a model before optimizing it.

``Profiler`` answers four questions about a model, each from the model itself:

* **parameters**: how many numbers it learns (sum of every Parameter's size);
* **FLOPs** of one forward pass, counted from the shapes that really flow through it;
* **memory**: bytes of parameters, gradients, activations and optimizer state;
* **latency**: wall-clock time per call, after warm-up, as median and 90th percentile.

FLOP convention (stated once, used everywhere): **one multiply-add is 2 FLOPs**, and adding a
bias is 1 FLOP per output element. Only the layers that do matrix work are counted:

* Linear (``in_features``/``out_features``): ``2 * rows * in * out`` (+ ``rows * out`` bias),
  where ``rows`` is the number of input vectors (every leading dimension);
* Conv2d (``in_channels``/``out_channels``/``kernel_size``): ``N * C_out * H_out * W_out``
  output pixels, each ``2 * C_in * kh * kw`` (+ 1 bias);
* attention (any module whose class name contains "Attention", recognised by duck typing
  because the attention module comes later, in module 12): the two batched matmuls
  ``Q K^T`` and ``A V`` on an input (B, T, C), ``2 * (2 * B * T * T * C)``, or with keys of
  length S passed as its second argument, ``2 * (2 * B * T * S * C)``; its projections are
  Linear layers inside it and are counted as such. (Keys read from a KV cache inside the
  module are not visible to this count.)

Elementwise layers (activations, pooling, reshapes, dropout, softmax) count 0: they are
cheap next to the matmuls, and memory-bound rather than compute-bound. Layers are
recognised by their attributes, not their class, so quantized and sparse variants of
Linear and Conv2d (modules 15 and 16) are counted too.

Shapes are found by running one forward pass under ``no_grad`` while every module's
``forward`` is briefly wrapped to record its inputs and output; the wrappers are removed
afterwards, even if the forward raises.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from tinytorch.core.autograd import no_grad
from tinytorch.core.tensor import Tensor

__all__ = ["Profiler", "LayerProfile", "ModelProfile", "MemoryReport", "LatencyReport",
           "linear_flops", "conv2d_flops", "attention_flops", "trace_calls"]


# ----------------------------------------------------------------------------- FLOP formulas

def linear_flops(rows: int, in_features: int, out_features: int, bias: bool = True) -> int:
    """FLOPs of ``rows`` vectors through a Linear layer: 2 per multiply-add, 1 per bias add.

    Examples:
        >>> linear_flops(1, 64, 32)          # 2 * 64 * 32 + 32
        4128
    """
    return 2 * rows * in_features * out_features + (rows * out_features if bias else 0)


def conv2d_flops(batch: int, in_channels: int, out_channels: int, kernel_size, out_hw,
                 bias: bool = True) -> int:
    """FLOPs of a 2-D convolution: each output pixel is ``C_in * kh * kw`` multiply-adds (+ bias).

    Examples:
        >>> conv2d_flops(1, 1, 6, (3, 3), (8, 8))   # 6 * 64 pixels * (2 * 9 + 1)
        7296
    """
    kh, kw = kernel_size
    oh, ow = out_hw
    per_pixel = 2 * in_channels * kh * kw + (1 if bias else 0)
    return batch * out_channels * oh * ow * per_pixel


def attention_flops(batch: int, q_len: int, k_len: int, embed_dim: int) -> int:
    """FLOPs of attention's two matmuls, ``Q K^T`` and ``A V``, over all heads together.

    Each is ``batch * q_len * k_len * embed_dim`` multiply-adds (heads * head_dim = embed_dim).

    Examples:
        >>> attention_flops(1, 4, 4, 8)      # 2 matmuls * 2 * 4 * 4 * 8
        512
    """
    return 2 * (2 * batch * q_len * k_len * embed_dim)


# ----------------------------------------------------------------------------- tracing

@dataclass
class _Call:
    """One module call seen during a traced forward pass."""

    name: str
    module: object
    inputs: tuple
    output: object = None


def _shape(value):
    shape = getattr(value, "shape", None)
    return tuple(shape) if shape is not None else None


def _nbytes(value) -> int:
    """Bytes of a tensor/array output (tuples and lists summed); 0 for anything else."""
    if isinstance(value, (tuple, list)):
        return sum(_nbytes(v) for v in value)
    data = value.data if isinstance(value, Tensor) else value
    return int(data.nbytes) if isinstance(data, np.ndarray) else 0


@contextmanager
def trace_calls(model):
    """Record every module call (name, module, inputs, output) during the ``with`` block.

    Wraps each module's ``forward`` on the instance (never the class) and removes the
    wrappers on exit. Calls are listed in the order they start, a parent before its children.

    Examples:
        >>> from tinytorch.core.layers import Linear, Sequential
        >>> model = Sequential(Linear(4, 3), Linear(3, 2))
        >>> with trace_calls(model) as calls:
        ...     _ = model(Tensor(np.zeros((5, 4))))
        >>> [(c.name, c.output.shape) for c in calls]
        [('', (5, 2)), ('0', (5, 3)), ('1', (5, 2))]
    """
    calls: list[_Call] = []
    wrapped = []
    for name, module in model.named_modules():
        if "forward" in vars(module):
            continue  # already wrapped (a module reachable twice)
        original = module.forward

        def forward(*args, _name=name, _module=module, _original=original, **kwargs):
            call = _Call(_name, _module, args)
            calls.append(call)
            call.output = _original(*args, **kwargs)
            return call.output

        object.__setattr__(module, "forward", forward)
        wrapped.append(module)
    try:
        yield calls
    finally:
        for module in wrapped:
            vars(module).pop("forward", None)


def _call_flops(call: _Call) -> int:
    """FLOPs of one module call by the convention in the module docstring (0 if not counted)."""
    module, out = call.module, call.output
    out_shape = _shape(out)
    x_shape = _shape(call.inputs[0]) if call.inputs else None
    has_bias = getattr(module, "bias", None) is not None
    if out_shape is None or x_shape is None:
        return 0
    if all(hasattr(module, a) for a in ("in_channels", "out_channels", "kernel_size")) and len(out_shape) == 4:
        kernel = module.kernel_size
        kernel = (kernel, kernel) if isinstance(kernel, int) else tuple(kernel)
        return conv2d_flops(out_shape[0], module.in_channels, module.out_channels, kernel,
                            out_shape[2:], has_bias)
    if hasattr(module, "in_features") and hasattr(module, "out_features"):
        rows = int(np.prod(x_shape[:-1], dtype=np.int64))
        return linear_flops(rows, module.in_features, module.out_features, has_bias)
    if "attention" in type(module).__name__.lower() and len(x_shape) == 3:
        batch, length, channels = x_shape
        keys = _shape(call.inputs[1]) if len(call.inputs) > 1 and _shape(call.inputs[1]) else x_shape
        embed = getattr(module, "embed_dim", None) or getattr(module, "d_model", None) or channels
        return attention_flops(batch, length, keys[1] if len(keys) == 3 else length, int(embed))
    return 0


def _direct_parameters(module) -> int:
    return sum(p.data.size for p in module._parameters.values() if p is not None)


def _as_input(x):
    return x if isinstance(x, Tensor) else Tensor(np.asarray(x))


# ----------------------------------------------------------------------------- reports

@dataclass
class LayerProfile:
    """One row of a profile: a module call with its output shape, own parameters and FLOPs."""

    name: str
    kind: str
    output_shape: tuple | None
    parameters: int
    flops: int
    output_bytes: int


@dataclass
class ModelProfile:
    """Per-layer rows of one forward pass, with totals; ``str()`` prints a table."""

    layers: list[LayerProfile]
    parameters: int
    flops: int

    def __str__(self) -> str:
        lines = [f"{'layer':<24} {'type':<18} {'output shape':<18} {'params':>9} {'FLOPs':>12}"]
        for row in self.layers:
            if row.name:  # the model itself is the total line
                lines.append(f"{row.name:<24} {row.kind:<18} {str(row.output_shape):<18} "
                             f"{row.parameters:>9,} {row.flops:>12,}")
        lines.append(f"{'total':<24} {'':<18} {'':<18} {self.parameters:>9,} {self.flops:>12,}")
        return "\n".join(lines)


@dataclass
class MemoryReport:
    """Bytes a model occupies while training, by kind. ``total`` sums them."""

    parameters: int
    gradients: int
    activations: int
    optimizer_state: int
    buffers: int = 0

    @property
    def total(self) -> int:
        """Sum of every kind, in bytes."""
        return self.parameters + self.gradients + self.activations + self.optimizer_state + self.buffers

    def __str__(self) -> str:
        rows = [("parameters", self.parameters), ("buffers", self.buffers), ("gradients", self.gradients),
                ("activations", self.activations), ("optimizer state", self.optimizer_state),
                ("total", self.total)]
        return "\n".join(f"{name:<16} {value:>12,} bytes" for name, value in rows)


@dataclass
class LatencyReport:
    """Per-call wall-clock times (seconds) after warm-up, with median and 90th percentile."""

    times: list[float] = field(repr=False)
    warmup: int = 0

    @property
    def median(self) -> float:
        """Median seconds per call (robust to the odd slow run)."""
        return float(np.median(self.times))

    @property
    def p90(self) -> float:
        """90th percentile of seconds per call (linear interpolation, as ``np.percentile``)."""
        return float(np.percentile(self.times, 90))

    @property
    def mean(self) -> float:
        """Mean seconds per call."""
        return float(np.mean(self.times))

    def __str__(self) -> str:
        return (f"median {self.median * 1e3:.3f} ms, p90 {self.p90 * 1e3:.3f} ms "
                f"over {len(self.times)} runs after {self.warmup} warm-up")


# ----------------------------------------------------------------------------- the profiler

class Profiler:
    """Counts parameters and FLOPs, measures memory and latency of a tinytorch model.

    Args:
        clock: a function returning seconds (default ``time.perf_counter``); inject a fake
            clock to test timing code.

    Examples:
        >>> from tinytorch.core.activations import ReLU
        >>> from tinytorch.core.layers import Linear, Sequential
        >>> mlp = Sequential(Linear(64, 32), ReLU(), Linear(32, 10))
        >>> profiler = Profiler()
        >>> profiler.count_parameters(mlp)       # 64*32 + 32 + 32*10 + 10
        2410
        >>> profiler.count_flops(mlp, np.zeros((1, 64), dtype=np.float32))  # 4128 + 650
        4778
    """

    def __init__(self, clock=time.perf_counter):
        self.clock = clock

    def count_parameters(self, model, trainable_only: bool = False) -> int:
        """Number of learned numbers: the sizes of all Parameters (only those requiring grad if asked)."""
        return int(sum(p.data.size for p in model.parameters() if p.requires_grad or not trainable_only))

    def profile(self, model, inputs) -> ModelProfile:
        """Run one forward pass (no graph) and list every module call with its shape, parameters and FLOPs."""
        with no_grad(), trace_calls(model) as calls:
            model(_as_input(inputs))
        rows = [LayerProfile(c.name, type(c.module).__name__, _shape(c.output), _direct_parameters(c.module),
                             _call_flops(c), _nbytes(c.output)) for c in calls]
        return ModelProfile(rows, self.count_parameters(model), sum(r.flops for r in rows))

    def count_flops(self, model, inputs) -> int:
        """FLOPs of one forward pass on ``inputs`` (a multiply-add is 2 FLOPs; see the module docstring)."""
        return self.profile(model, inputs).flops

    def activation_bytes(self, model, inputs) -> int:
        """Bytes of the outputs of every leaf module in one forward pass (what backward would keep)."""
        with no_grad(), trace_calls(model) as calls:
            model(_as_input(inputs))
        return sum(_nbytes(c.output) for c in calls if not any(True for _ in c.module.children()))

    def memory(self, model, inputs=None, optimizer=None) -> MemoryReport:
        """Bytes of parameters, buffers, gradients, activations (needs ``inputs``) and optimizer state.

        Gradients are the ``.grad`` arrays present now, or, for parameters without one yet, the
        array backward will allocate (same shape and dtype as the parameter). Optimizer state
        is every array in ``optimizer.state`` (Adam's moments appear after its first step).
        """
        params = list(model.parameters())
        parameters = sum(p.data.nbytes for p in params)
        gradients = sum(_nbytes(p.grad) if p.grad is not None else p.data.nbytes
                        for p in params if p.requires_grad)
        buffers = sum(_nbytes(b) for _, b in model.named_buffers())
        activations = self.activation_bytes(model, inputs) if inputs is not None else 0
        state = 0
        if optimizer is not None:
            for entry in getattr(optimizer, "state", []):
                values = entry.values() if isinstance(entry, dict) else [entry]
                state += sum(v.nbytes for v in values if isinstance(v, np.ndarray))
        return MemoryReport(parameters, gradients, activations, state, buffers)

    def latency(self, fn, *args, warmup: int = 3, repeats: int = 20) -> LatencyReport:
        """Time ``fn(*args)``: ``warmup`` untimed calls, then ``repeats`` calls timed one by one."""
        if repeats < 1 or warmup < 0:
            raise ValueError(f"Profiler.latency: need repeats >= 1 and warmup >= 0, got {repeats}, {warmup}")
        for _ in range(warmup):
            fn(*args)
        times = []
        for _ in range(repeats):
            start = self.clock()
            fn(*args)
            times.append(self.clock() - start)
        return LatencyReport(times, warmup)
