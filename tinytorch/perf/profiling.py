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
  Linear layers inside it and are counted as such. When it is called with a ``layer_cache``
  (a cache of earlier keys and values, module 17) holding L positions, the T new queries
  attend to S = L + T keys. A causal mask does not reduce the count: the masked scores are
  computed, then zeroed.
* fused blocks: a module that hands its Linear children's weights to one fused primitive
  instead of calling them (a fused MLP) counts each Linear child it did not call as applied
  to every vector of its input, ``linear_flops(rows, in, out)``.

Elementwise layers (activations, pooling, reshapes, dropout, softmax) count 0: they are
cheap next to the matmuls, and memory-bound rather than compute-bound. Layers are
recognised by their attributes, not their class, so quantized and sparse variants of
Linear and Conv2d (modules 15 and 16) are counted too.

Shapes are found by running one forward pass under ``no_grad`` while every module's
``forward`` is briefly wrapped to record its inputs and output; the wrappers are removed
afterwards, even if the forward raises.

**Where the time goes** (:meth:`Profiler.op_profile`): module-level counts say what a model
*should* cost; an op profile measures what each primitive (every ``Function``: forward and
backward separately) really took during a call such as a whole training step, the way
``torch.profiler`` lists ``aten::`` ops. The FLOPs of an op count its matrix products only
(2 per multiply-add, as above; biases and elementwise work are left out: they are
memory-bound). A backward pass computes one product of the forward's size per input
gradient it needs (the input's and the weight's): twice the forward for a layer whose input
and weight both need gradients, the origin of the "6 x parameters x tokens" rule for a
training step. Dividing FLOPs by measured time gives each op's achieved GFLOP/s, to hold
against the machine's peak. The products of ``LinearFunction``, ``MatMul`` and
``Conv2dFunction`` are known here; any other primitive that does matrix work states its own
count with a static method ``flops(shapes, kwargs, needs) -> (forward, backward)`` (the fused
kernels of a later module do), and every other op counts 0.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from tinytorch.core.autograd import no_grad
from tinytorch.core.function import Function
from tinytorch.core.layers import Module
from tinytorch.core.tensor import Tensor

__all__ = ["Profiler", "LayerProfile", "ModelProfile", "MemoryReport", "LatencyReport", "OpStat", "OpProfile",
           "linear_flops", "conv2d_flops", "attention_flops", "op_flops", "trace_calls", "time_ops"]


# ----------------------------------------------------------------------------- argument checks

def _check_count(call: str, name: str, value, minimum: int = 0) -> None:
    """An int (not a bool) of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{call}: {name} must be an int, got {value!r}")
    if value < minimum:
        raise ValueError(f"{call}: {name} must be >= {minimum}, got {value}")


def _check_pair(call: str, name: str, value) -> tuple[int, int]:
    """An int or a pair of ints >= 0, as a pair."""
    pair = (value, value) if isinstance(value, (int, np.integer)) and not isinstance(value, bool) else value
    try:
        first, second = pair
    except (TypeError, ValueError):
        raise TypeError(f"{call}: {name} must be an int or a pair of ints, got {value!r}") from None
    for v in (first, second):
        _check_count(call, name, v)
    return int(first), int(second)


def _check_model(call: str, model) -> None:
    if not isinstance(model, Module):
        raise TypeError(f"{call}: model must be a Module, got {type(model).__name__}")


def _check_callable(call: str, name: str, fn) -> None:
    if not callable(fn):
        raise TypeError(f"{call}: {name} must be callable, got {type(fn).__name__}")


def _check_watch(call: str, watch) -> None:
    """``watch``: None or a dict label -> (object, name of one of its methods)."""
    if watch is None:
        return
    if not isinstance(watch, dict):
        raise TypeError(f"{call}: watch must be a dict label -> (object, method name), got {type(watch).__name__}")
    for label, target in watch.items():
        if not (isinstance(target, tuple) and len(target) == 2 and isinstance(target[1], str)):
            raise TypeError(f"{call}: watch[{label!r}] must be an (object, method name) pair, got {target!r}")
        if not callable(getattr(target[0], target[1], None)):
            raise ValueError(f"{call}: watch[{label!r}]: {type(target[0]).__name__} has no method {target[1]!r}")


# ----------------------------------------------------------------------------- FLOP formulas

def linear_flops(rows: int, in_features: int, out_features: int, bias: bool = True) -> int:
    """FLOPs of ``rows`` vectors through a Linear layer: 2 per multiply-add, 1 per bias add.

    Examples:
        >>> from tinytorch.perf.profiling import linear_flops
        >>> linear_flops(1, 64, 32)          # 2 * 64 * 32 + 32
        4128
    """
    for name, value in (("rows", rows), ("in_features", in_features), ("out_features", out_features)):
        _check_count("linear_flops", name, value)
    return 2 * rows * in_features * out_features + (rows * out_features if bias else 0)


def conv2d_flops(batch: int, in_channels: int, out_channels: int, kernel_size, out_hw,
                 bias: bool = True) -> int:
    """FLOPs of a 2-D convolution: each output pixel is ``C_in * kh * kw`` multiply-adds (+ bias).

    Examples:
        >>> from tinytorch.perf.profiling import conv2d_flops
        >>> conv2d_flops(1, 1, 6, (3, 3), (8, 8))   # 6 * 64 pixels * (2 * 9 + 1)
        7296
    """
    for name, value in (("batch", batch), ("in_channels", in_channels), ("out_channels", out_channels)):
        _check_count("conv2d_flops", name, value)
    kh, kw = _check_pair("conv2d_flops", "kernel_size", kernel_size)
    oh, ow = _check_pair("conv2d_flops", "out_hw", out_hw)
    per_pixel = 2 * in_channels * kh * kw + (1 if bias else 0)
    return batch * out_channels * oh * ow * per_pixel


def attention_flops(batch: int, q_len: int, k_len: int, embed_dim: int) -> int:
    """FLOPs of attention's two matmuls, ``Q K^T`` and ``A V``, over all heads together.

    Each is ``batch * q_len * k_len * embed_dim`` multiply-adds (heads * head_dim = embed_dim).

    Examples:
        >>> from tinytorch.perf.profiling import attention_flops
        >>> attention_flops(1, 4, 4, 8)      # 2 matmuls * 2 * 4 * 4 * 8
        512
    """
    for name, value in (("batch", batch), ("q_len", q_len), ("k_len", k_len), ("embed_dim", embed_dim)):
        _check_count("attention_flops", name, value)
    return 2 * (2 * batch * q_len * k_len * embed_dim)


# ----------------------------------------------------------------------------- tracing

@dataclass
class _Call:
    """One module call seen during a traced forward pass (``cached``: positions in its layer_cache, if any)."""

    name: str
    module: object
    inputs: tuple
    output: object = None
    kwargs: dict = field(default_factory=dict)
    cached: int = 0


def _shape(value):
    """Shape of a tensor/array; of the first element for a tuple output such as attention's (output, weights)."""
    if isinstance(value, (tuple, list)) and value:
        value = value[0]
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
        >>> import numpy as np
        >>> from tinytorch.core.layers import Linear, Sequential
        >>> from tinytorch.core.tensor import Tensor
        >>> from tinytorch.perf.profiling import trace_calls
        >>> model = Sequential(Linear(4, 3), Linear(3, 2))
        >>> with trace_calls(model) as calls:
        ...     _ = model(Tensor(np.zeros((5, 4))))
        >>> [(c.name, c.output.shape) for c in calls]
        [('', (5, 2)), ('0', (5, 3)), ('1', (5, 2))]
    """
    _check_model("trace_calls", model)
    calls: list[_Call] = []
    wrapped = []
    for name, module in model.named_modules():
        if "forward" in vars(module):
            continue  # already wrapped (a module reachable twice)
        original = module.forward

        def forward(*args, _name=name, _module=module, _original=original, **kwargs):
            cache = kwargs.get("layer_cache")  # its length now, before this call appends to it
            call = _Call(_name, _module, args, kwargs=kwargs,
                         cached=int(cache.get_seq_length()) if cache is not None else 0)
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
        key = call.inputs[1] if len(call.inputs) > 1 else call.kwargs.get("key")
        keys = _shape(key) if _shape(key) else x_shape
        key_len = (keys[1] if len(keys) == 3 else length) + call.cached  # cached keys are attended too
        embed = getattr(module, "embed_dim", None) or getattr(module, "d_model", None) or channels
        return attention_flops(batch, length, key_len, int(embed))
    return 0


def _fused_children_flops(call: _Call, called: set) -> int:
    """FLOPs of the Linear children a module used without calling them (fused), on every vector of its input."""
    x_shape = _shape(call.inputs[0]) if call.inputs else None
    if x_shape is None:
        return 0
    rows = int(np.prod(x_shape[:-1], dtype=np.int64))
    return sum(linear_flops(rows, child.in_features, child.out_features, getattr(child, "bias", None) is not None)
               for child in vars(call.module).get("_modules", {}).values()
               if hasattr(child, "in_features") and hasattr(child, "out_features") and id(child) not in called)


def _direct_parameters(module) -> int:
    return sum(p.data.size for p in module._parameters.values() if p is not None)


def _as_input(x, call: str = "Profiler"):
    """A model input as a Tensor; refuses what no model computes with (None, strings, objects)."""
    data = x.data if isinstance(x, Tensor) else np.asarray(x)
    if data.dtype.kind not in "biufc":
        raise TypeError(f"{call}: inputs must be numbers (an array or Tensor), got {type(x).__name__} "
                        f"of dtype {data.dtype}")
    return x if isinstance(x, Tensor) else Tensor(data)


# ----------------------------------------------------------------------------- op timing

def _rows(shape) -> int:
    """Number of vectors in an array of this shape: the product of every dimension but the last."""
    return int(np.prod(shape[:-1], dtype=np.int64))


def _matmul_flops(a_shape, b_shape) -> int:
    """2 * batch * M * K * N for ``a @ b`` with NumPy's rules (1-D operands promoted, batch dims broadcast)."""
    a = (1,) + tuple(a_shape) if len(a_shape) == 1 else tuple(a_shape)
    b = tuple(b_shape) + (1,) if len(b_shape) == 1 else tuple(b_shape)
    if a[-1] != b[-2]:
        raise ValueError(f"inner dimensions {a[-1]} and {b[-2]} differ")
    batch = int(np.prod(np.broadcast_shapes(a[:-2], b[:-2]), dtype=np.int64))
    return 2 * batch * a[-2] * a[-1] * b[-1]


def op_flops(op: str, shapes: tuple, kwargs: dict | None = None, needs=None) -> tuple[int, int]:
    """Matrix-product FLOPs ``(forward, backward)`` of one call of the primitive named ``op``.

    ``shapes`` are the shapes of the arrays its forward received, in order (None for other
    arguments); ``needs`` says which positional inputs need a gradient (default: all), since
    a backward computes one product per gradient it needs. Known primitives: LinearFunction,
    MatMul, Conv2dFunction; every other op counts 0 (elementwise, memory-bound), unless its
    class states its own count (``flops``, see the module docstring; :func:`time_ops` asks it).

    Examples:
        >>> from tinytorch.perf.profiling import op_flops
        >>> op_flops("LinearFunction", ((8, 64), (32, 64), (32,)))        # x, weight, bias
        (32768, 65536)
        >>> op_flops("LinearFunction", ((8, 64), (32, 64), (32,)), needs=(False, True, True))
        (32768, 32768)
        >>> op_flops("ReLUFunction", ((8, 64),))
        (0, 0)
    """
    if not isinstance(op, str):
        raise TypeError(f"op_flops: op must be a primitive's name (a str), got {op!r}")
    if not isinstance(shapes, (tuple, list)):
        raise TypeError(f"op_flops: shapes must be a tuple of the input shapes, got {type(shapes).__name__}")
    try:
        return _op_flops(op, shapes, kwargs, needs)
    except (IndexError, TypeError, ValueError) as err:
        raise ValueError(f"op_flops: shapes {shapes} do not fit {op}: {err}") from None


def _op_flops(op: str, shapes: tuple, kwargs: dict | None = None, needs=None) -> tuple[int, int]:
    """:func:`op_flops` on checked arguments."""
    kwargs = kwargs or {}
    needs = tuple(needs) if needs is not None else (True,) * len(shapes)
    need = lambda i: bool(needs[i]) if i < len(needs) else False  # noqa: E731
    if op == "LinearFunction":  # x (.., in), weight (out, in)
        x, w = shapes[:2]
        f = 2 * _rows(x) * w[1] * w[0]
        return f, f * (need(0) + need(1))
    if op == "MatMul":
        f = _matmul_flops(shapes[0], shapes[1])
        return f, f * (need(0) + need(1))
    if op == "Conv2dFunction":  # x (N, C, H, W), weight (O, C, kh, kw); output pixels from the stride/padding
        (n, _, h, w), (o, c, kh, kw) = shapes[:2]
        stride, padding = kwargs.get("stride", 1), kwargs.get("padding", 0)
        (sh, sw), (ph, pw) = ((v, v) if isinstance(v, int) else tuple(v) for v in (stride, padding))
        oh, ow = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
        f = 2 * n * o * oh * ow * c * kh * kw
        return f, f * (need(0) + need(1))
    return 0, 0


@dataclass
class OpStat:
    """Time and FLOPs of one primitive (or watched method) over a profiled call, per run."""

    name: str
    calls: float = 0
    forward_seconds: float = 0.0
    backward_seconds: float = 0.0
    forward_flops: float = 0
    backward_flops: float = 0

    @property
    def seconds(self) -> float:
        """Forward plus backward seconds."""
        return self.forward_seconds + self.backward_seconds

    @property
    def flops(self) -> float:
        """Forward plus backward matrix-product FLOPs."""
        return self.forward_flops + self.backward_flops

    @property
    def gflops_per_second(self) -> float | None:
        """Achieved GFLOP/s (None for ops whose FLOPs are not counted)."""
        return self.flops / self.seconds / 1e9 if self.flops and self.seconds > 0 else None


@dataclass
class OpProfile:
    """Where the time of a call went, primitive by primitive (per run, slowest op first).

    ``seconds`` is the wall time of one run with the timers in place; ``other_seconds`` is
    what no op accounts for: Python between the ops (module calls, graph bookkeeping, the
    timers' own overhead).
    """

    ops: list[OpStat]
    seconds: float
    runs: int

    @property
    def op_seconds(self) -> float:
        """Seconds inside the timed ops (forward and backward), per run."""
        return sum(op.seconds for op in self.ops)

    @property
    def other_seconds(self) -> float:
        """Seconds of the run outside every timed op."""
        return self.seconds - self.op_seconds

    @property
    def flops(self) -> float:
        """Matrix-product FLOPs of one run, forward and backward."""
        return sum(op.flops for op in self.ops)

    def __getitem__(self, name: str) -> OpStat:
        for op in self.ops:
            if op.name == name:
                return op
        raise KeyError(f"OpProfile: no op {name!r}; ops: {[op.name for op in self.ops]}")

    def __str__(self) -> str:
        lines = [f"{'op':<28}{'calls':>7}{'fwd ms':>9}{'bwd ms':>9}{'total ms':>10}{'share':>8}"
                 f"{'MFLOP':>10}{'GFLOP/s':>9}"]
        for op in self.ops + [OpStat("(other: Python between ops)", 0, self.other_seconds)]:
            rate = op.gflops_per_second
            lines.append(f"{op.name:<28}{op.calls:>7.0f}{op.forward_seconds * 1e3:>9.3f}"
                         f"{op.backward_seconds * 1e3:>9.3f}{op.seconds * 1e3:>10.3f}"
                         f"{op.seconds / self.seconds:>8.1%}{op.flops / 1e6:>10.2f}"
                         f"{(f'{rate:.2f}' if rate else '-'):>9}")
        lines.append(f"{'total':<28}{'':>7}{'':>9}{'':>9}{self.seconds * 1e3:>10.3f}{1:>8.1%}"
                     f"{self.flops / 1e6:>10.2f}{self.flops / self.seconds / 1e9:>9.2f}")
        return "\n".join(lines)


def _function_classes() -> list[type]:
    """Every subclass of Function defined so far (subclasses of subclasses included)."""
    found, stack = [], list(Function.__subclasses__())
    while stack:
        cls = stack.pop()
        if cls not in found:
            found.append(cls)
            stack.extend(cls.__subclasses__())
    return found


def _shapes(values) -> tuple:
    return tuple(tuple(v.shape) if isinstance(v, np.ndarray) else None for v in values)


@contextmanager
def time_ops(clock=time.perf_counter, watch: dict | None = None):
    """Time every primitive's forward and backward (and the methods in ``watch``) inside the block.

    Yields a dict name -> :class:`OpStat` that fills up while the block runs (totals, not per
    run). Each ``Function`` subclass's ``forward``/``backward`` is wrapped on the class for the
    duration of the block and restored afterwards, even if the block raises; ``watch`` maps a
    label to ``(object, method_name)``, e.g. ``{"Adam.step": (optimizer, "step")}``, wrapped
    on that object only. Times are exclusive: a timed call inside another is not counted twice.

    Examples:
        >>> import numpy as np
        >>> from tinytorch.core.layers import Linear
        >>> from tinytorch.core.tensor import Tensor
        >>> from tinytorch.perf.profiling import time_ops
        >>> layer = Linear(4, 3)
        >>> with time_ops() as ops:
        ...     _ = layer(Tensor(np.zeros((2, 4), dtype=np.float32)))
        >>> ops["LinearFunction"].calls, ops["LinearFunction"].forward_flops
        (1, 48)
    """
    _check_callable("time_ops", "clock", clock)
    _check_watch("time_ops", watch)
    stats: dict[str, OpStat] = {}
    inner = [0.0]  # time spent in timed calls nested inside the current one

    def timed(name, phase, fn, counter=None):
        count = counter or (lambda shapes, kwargs, needs: op_flops(name, shapes, kwargs, needs))

        def wrapper(*args, **kwargs):
            inner.append(0.0)
            start = clock()
            returned = False                   # a call that raised has no shapes worth counting
            try:
                result = fn(*args, **kwargs)
                returned = True
                return result
            finally:
                elapsed = clock() - start
                nested = inner.pop()
                inner[-1] += elapsed
                stat = stats.setdefault(name, OpStat(name))
                if phase == "backward":
                    stat.backward_seconds += elapsed - nested
                    ctx = args[0]
                    shapes = getattr(ctx, "_profiled_shapes", None)
                    if shapes is not None and returned:
                        needs = getattr(ctx, "needs_input_grad", None) or (True,) * len(shapes[0])
                        stat.backward_flops += count(*shapes, needs)[1]
                else:
                    stat.calls += 1
                    stat.forward_seconds += elapsed - nested
                    if phase == "forward" and returned:
                        shapes = (_shapes(args[1:]), kwargs)
                        stat.forward_flops += count(*shapes, (True,) * len(shapes[0]))[0]
                        try:
                            args[0]._profiled_shapes = shapes  # for the backward's count
                        except AttributeError:
                            pass
        return wrapper

    patched = []
    try:
        for cls in _function_classes():
            for phase in ("forward", "backward"):
                original = vars(cls).get(phase)
                if isinstance(original, staticmethod):
                    counter = getattr(cls, "flops", None)  # a primitive that states its own FLOPs
                    setattr(cls, phase, staticmethod(timed(cls.__name__, phase, original.__func__, counter)))
                    patched.append((cls, phase, original))
        for label, (owner, method) in (watch or {}).items():
            had_own = method in vars(owner)
            original = getattr(owner, method)
            setattr(owner, method, timed(label, "call", original))
            patched.append((owner, method, original if had_own else None))
        yield stats
    finally:
        for owner, name, original in reversed(patched):
            if original is None:
                delattr(owner, name)
            else:
                setattr(owner, name, original)


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

    def __post_init__(self):
        if len(self.times) == 0:
            raise ValueError("LatencyReport: times is empty; a latency needs at least one timed run")

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
        >>> import numpy as np
        >>> from tinytorch.core.activations import ReLU
        >>> from tinytorch.core.layers import Linear, Sequential
        >>> from tinytorch.perf.profiling import Profiler
        >>> mlp = Sequential(Linear(64, 32), ReLU(), Linear(32, 10))
        >>> profiler = Profiler()
        >>> profiler.count_parameters(mlp)       # 64*32 + 32 + 32*10 + 10
        2410
        >>> profiler.count_flops(mlp, np.zeros((1, 64), dtype=np.float32))  # 4128 + 650
        4778
    """

    def __init__(self, clock=time.perf_counter):
        _check_callable("Profiler", "clock", clock)
        self.clock = clock

    def count_parameters(self, model, trainable_only: bool = False) -> int:
        """Number of learned numbers: the sizes of all Parameters (only those requiring grad if asked)."""
        _check_model("Profiler.count_parameters", model)
        return int(sum(p.data.size for p in model.parameters() if p.requires_grad or not trainable_only))

    def profile(self, model, inputs, **forward_kwargs) -> ModelProfile:
        """Run one forward pass (no graph) and list every module call with its shape, parameters and FLOPs.

        ``forward_kwargs`` go to the model's forward, e.g. ``kv_cache=cache`` to profile one
        cached decoding step of a GPT (its attention then counts the cached keys too).
        """
        _check_model("Profiler.profile", model)
        with no_grad(), trace_calls(model) as calls:
            model(_as_input(inputs, "Profiler.profile"), **forward_kwargs)
        called = {id(c.module) for c in calls}
        rows = [LayerProfile(c.name, type(c.module).__name__, _shape(c.output), _direct_parameters(c.module),
                             _call_flops(c) + _fused_children_flops(c, called), _nbytes(c.output)) for c in calls]
        return ModelProfile(rows, self.count_parameters(model), sum(r.flops for r in rows))

    def count_flops(self, model, inputs, **forward_kwargs) -> int:
        """FLOPs of one forward pass on ``inputs`` (a multiply-add is 2 FLOPs; see the module docstring)."""
        return self.profile(model, inputs, **forward_kwargs).flops

    def activation_bytes(self, model, inputs) -> int:
        """Bytes of the outputs of every leaf module in one forward pass (what backward would keep)."""
        _check_model("Profiler.activation_bytes", model)
        with no_grad(), trace_calls(model) as calls:
            model(_as_input(inputs, "Profiler.activation_bytes"))
        return sum(_nbytes(c.output) for c in calls if not any(True for _ in c.module.children()))

    def memory(self, model, inputs=None, optimizer=None) -> MemoryReport:
        """Bytes of parameters, buffers, gradients, activations (needs ``inputs``) and optimizer state.

        Gradients are the ``.grad`` arrays present now, or, for parameters without one yet, the
        array backward will allocate (same shape and dtype as the parameter). Optimizer state
        is every array in ``optimizer.state`` (Adam's moments appear after its first step).
        """
        _check_model("Profiler.memory", model)
        if optimizer is not None and not callable(getattr(optimizer, "step", None)):
            raise TypeError(f"Profiler.memory: optimizer must be an optimizer (with step()), got "
                            f"{type(optimizer).__name__}")
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

    def op_profile(self, fn, *args, warmup: int = 1, repeats: int = 3, watch: dict | None = None) -> OpProfile:
        """Where the time of ``fn(*args)`` goes, primitive by primitive, averaged over ``repeats`` runs.

        ``warmup`` untimed runs first; then each run with every ``Function``'s forward and
        backward timed (see :func:`time_ops`; ``watch`` adds methods that are not primitives,
        such as an optimizer's ``step``). Ops are listed slowest first.

        Examples:
            >>> import numpy as np
            >>> from tinytorch.core.layers import Linear
            >>> from tinytorch.core.tensor import Tensor
            >>> from tinytorch.perf.profiling import Profiler
            >>> layer, x = Linear(64, 32), Tensor(np.ones((8, 64), dtype=np.float32))
            >>> report = Profiler().op_profile(lambda: layer(x).sum().backward())
            >>> report["LinearFunction"].forward_flops, report["LinearFunction"].backward_flops
            (32768.0, 32768.0)
        """
        _check_callable("Profiler.op_profile", "fn", fn)
        _check_count("Profiler.op_profile", "repeats", repeats, 1)
        _check_count("Profiler.op_profile", "warmup", warmup)
        _check_watch("Profiler.op_profile", watch)
        for _ in range(warmup):
            fn(*args)
        with time_ops(self.clock, watch) as stats:
            start = self.clock()
            for _ in range(repeats):
                fn(*args)
            seconds = (self.clock() - start) / repeats
        ops = [OpStat(s.name, s.calls / repeats, s.forward_seconds / repeats, s.backward_seconds / repeats,
                      s.forward_flops / repeats, s.backward_flops / repeats) for s in stats.values()]
        return OpProfile(sorted(ops, key=lambda op: -op.seconds), seconds, repeats)

    def latency(self, fn, *args, warmup: int = 3, repeats: int = 20) -> LatencyReport:
        """Time ``fn(*args)``: ``warmup`` untimed calls, then ``repeats`` calls timed one by one."""
        _check_callable("Profiler.latency", "fn", fn)
        _check_count("Profiler.latency", "repeats", repeats, 1)
        _check_count("Profiler.latency", "warmup", warmup)
        for _ in range(warmup):
            fn(*args)
        times = []
        for _ in range(repeats):
            start = self.clock()
            fn(*args)
            times.append(self.clock() - start)
        return LatencyReport(times, warmup)
