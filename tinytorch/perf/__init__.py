"""TinyTorch perf: profiling, quantization, compression, memoization, acceleration, benchmarking."""
