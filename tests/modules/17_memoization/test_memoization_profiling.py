"""Module 17 memoization, as module 14's profiler sees it: a decoding step with a KV cache attends over
the cached keys too, and its FLOPs say so (module by module, and op by op)."""

import numpy as np

from tinytorch.core.autograd import no_grad
from tinytorch.core.random import manual_seed
from tinytorch.core.transformers import GPT, GPTConfig
from tinytorch.perf.memoization import KVCache
from tinytorch.perf.profiling import Profiler, attention_flops


def real_gpt(context=16, embed=16, heads=4, layers=2, vocab=11):
    manual_seed(0)
    return GPT(GPTConfig(vocab_size=vocab, context_length=context, n_layer=layers, n_head=heads, n_embd=embed,
                         init_std=0.3))


def test_cached_decoding_counts_the_cached_keys():
    """One decoding step with a KV cache holding L positions: 1 query attends to L + 1 keys."""
    model = real_gpt()
    b, prompt, e = 2, 6, 16
    ids = np.random.default_rng(1).integers(0, 11, (b, prompt + 1))
    cache = KVCache.for_model(model, b)
    with no_grad():
        model(ids[:, :prompt], past_key_values=cache)
    assert cache.get_seq_length() == prompt
    step = Profiler().profile(model, ids[:, prompt:], past_key_values=cache)
    assert cache.get_seq_length() == prompt + 1  # the profiled step really ran with the cache
    attention_rows = [row.flops for row in step.layers if row.kind == "MultiHeadAttention"]
    assert attention_rows == [attention_flops(b, 1, prompt + 1, e)] * 2
    # the same step without the cache recomputes all prompt + 1 positions
    full = Profiler().profile(model, ids)
    assert [row.flops for row in full.layers if row.kind == "MultiHeadAttention"] == \
        [attention_flops(b, prompt + 1, prompt + 1, e)] * 2
    assert full.flops > (prompt + 1) * step.flops * 0.9


def test_op_profile_of_a_cached_decoding_step_counts_the_cached_keys():
    model = real_gpt()
    b, prompt, e, layers = 2, 6, 16, 2
    ids = np.random.default_rng(4).integers(0, 11, (b, prompt + 1))
    cache = KVCache.for_model(model, b)
    with no_grad():
        model(ids[:, :prompt], past_key_values=cache)
        report = Profiler().op_profile(lambda: model(ids[:, prompt:], past_key_values=cache), warmup=0, repeats=1)
    attention = report["MatMul"]  # Q K^T and A V of each layer, over the cached keys
    assert attention.calls == 2 * layers and attention.backward_flops == 0
    assert attention.forward_flops == layers * attention_flops(b, 1, prompt + 1, e)
    linear = layers * (2 * b * e * 3 * e + 2 * b * e * e + 2 * 2 * b * e * 4 * e) + 2 * b * e * 11
    assert report.flops == linear + attention.forward_flops
