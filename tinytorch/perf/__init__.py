"""TinyTorch perf (modules 14-19): profiling, quantization, compression, memoization, acceleration, benchmarking.

The main names load lazily from their modules (``tinytorch.perf.Profiler``, ...), so this
package imports for a tinytorch written only up to some module.
"""

from tinytorch._lazy import lazy_exports

_EXPORTS = {
    "tinytorch.perf.profiling": ("Profiler",),                                              # 14
    "tinytorch.perf.quantization": ("MinMaxObserver", "quantize_int8", "QuantizedLinear",  # 15
                                    "QuantizedConv2d", "quantize_model"),
    "tinytorch.perf.compression": ("l1_unstructured", "global_unstructured", "structured_prune",  # 16
                                   "distillation_loss", "low_rank_linear", "sparsify_model"),
    "tinytorch.perf.memoization": ("KVCache", "generate"),                                  # 17
    "tinytorch.perf.acceleration": ("accelerate", "kernel_pairs"),                          # 18
    "tinytorch.perf.benchmarking": ("Benchmark", "BenchmarkResult", "pareto_frontier", "time_to_quality"),  # 19
}
__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
