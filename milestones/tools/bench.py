"""Speed benchmark (``make bench``): tinytorch against hand-written NumPy and PyTorch CPU.

Same models, same sizes, one thread each. Prints milliseconds and the ratios the project's
targets are stated in: tinytorch at or under PyTorch, and within 1.5x of hand-written NumPy.
Not part of the test run: timings belong in a benchmark, never in a test.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
from milestones.settings import RUN_ENV  # noqa: E402  one BLAS thread, freed memory kept: as the chapters run

if any(os.environ.get(k) != v for k, v in RUN_ENV.items()):
    os.environ.update(RUN_ENV)  # must be set before NumPy loads its BLAS and glibc its allocator
    os.execv(sys.executable, [sys.executable, *sys.argv])

import argparse  # noqa: E402
import functools  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Callable  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]

import tinytorch  # noqa: E402
from milestones import datasets, fast_path, registry  # noqa: E402

try:
    import torch
    torch.set_num_threads(1)
except ImportError:  # optional: the benchmark still compares with NumPy
    torch = None


@dataclass(frozen=True)
class Framework:
    """The names a benchmark needs, from tinytorch or from PyTorch, so one code path times both."""

    nn: object  # Sequential, Linear, ReLU, Conv2d, MaxPool2d, Flatten, CrossEntropyLoss
    optim: object  # Adam
    data: object  # DataLoader, TensorDataset
    wrap: Callable  # NumPy array -> tensor
    seed: Callable
    no_grad: Callable
    logits: Callable  # model output -> NumPy array


FRAMEWORKS = {"tinytorch": Framework(tinytorch, tinytorch, tinytorch, tinytorch.Tensor, tinytorch.manual_seed,
                                     tinytorch.no_grad, lambda out: out.data)}
if torch is not None:
    FRAMEWORKS["torch"] = Framework(torch.nn, torch.optim, torch.utils.data, torch.from_numpy, torch.manual_seed,
                                    torch.no_grad, lambda out: out.numpy())


def best_ms_interleaved(steps: dict, repeat: int = 9, number: int = 20) -> dict:
    """Best-of-``repeat`` mean milliseconds of each step, the steps timed in turn in every round,
    so a ratio between them is not skewed by a slow moment of the machine."""
    for step in steps.values():
        for _ in range(3):
            step()
    best = dict.fromkeys(steps, float("inf"))
    for _ in range(repeat):
        for name, step in steps.items():
            start = time.perf_counter()
            for _ in range(number):
                step()
            best[name] = min(best[name], (time.perf_counter() - start) / number)
    return {name: seconds * 1e3 for name, seconds in best.items()}


def best_ms(step, repeat: int = 7, number: int = 20) -> float:
    """Best-of-``repeat`` mean milliseconds of ``number`` calls (warm-up first)."""
    for _ in range(3):
        step()
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            step()
        best = min(best, (time.perf_counter() - start) / number)
    return best * 1e3


# ------------------------------------------------------------------ MLP (milestone 03 sizes)

def mlp_batch(batch: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.random((batch, 64), dtype=np.float32)
    y = rng.integers(0, 10, batch)
    return x, y


def mlp_model(fw: Framework):
    """Milestone 03's MLP, 64-128-10 with a ReLU, seeded."""
    fw.seed(0)
    return fw.nn.Sequential(fw.nn.Linear(64, 128), fw.nn.ReLU(), fw.nn.Linear(128, 10))


def train_step(fw: Framework, model, lr: float):
    """One Adam training step on a batch, in the framework's own API."""
    optimizer = fw.optim.Adam(model.parameters(), lr=lr)
    loss_fn = fw.nn.CrossEntropyLoss()

    def step(xb, yb):
        optimizer.zero_grad()
        loss = loss_fn(model(xb), yb)
        loss.backward()
        optimizer.step()
    return step


def mlp_step(fw: Framework, batch: int):
    x, y = mlp_batch(batch)
    xt, yt = fw.wrap(x), fw.wrap(y)
    step = train_step(fw, mlp_model(fw), lr=1e-3)
    return lambda: step(xt, yt)


class NumpyMLP:
    """The same MLP, forward, backward and Adam written out by hand in NumPy."""

    def __init__(self, sizes=(64, 128, 10), lr=1e-3, seed=0):
        rng = np.random.default_rng(seed)
        self.params = []
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            bound = 1 / np.sqrt(fan_in)
            self.params += [rng.uniform(-bound, bound, (fan_out, fan_in)).astype(np.float32),
                            rng.uniform(-bound, bound, fan_out).astype(np.float32)]
        self.m = [np.zeros_like(p) for p in self.params]
        self.v = [np.zeros_like(p) for p in self.params]
        self.lr, self.t = lr, 0

    def logits(self, x):
        w1, b1, w2, b2 = self.params
        return np.maximum(x @ w1.T + b1, 0) @ w2.T + b2

    def step(self, x, y):
        """One Adam step on a batch; returns the batch's mean cross-entropy."""
        w1, b1, w2, b2 = self.params
        hidden_pre = x @ w1.T + b1
        hidden = np.maximum(hidden_pre, 0)
        logits = hidden @ w2.T + b2
        shifted = logits - logits.max(axis=1, keepdims=True)
        probs = np.exp(shifted)
        totals = probs.sum(axis=1, keepdims=True)
        loss = (np.log(totals[:, 0]) - shifted[np.arange(len(y)), y]).mean()  # a real loop logs it
        probs /= totals
        grad = probs
        grad[np.arange(len(y)), y] -= 1
        grad /= len(y)
        g_hidden = (grad @ w2) * (hidden_pre > 0)
        grads = [g_hidden.T @ x, g_hidden.sum(0), grad.T @ hidden, grad.sum(0)]
        self.t += 1
        for p, g, m, v in zip(self.params, grads, self.m, self.v):
            m *= 0.9
            m += 0.1 * g
            v *= 0.999
            v += 0.001 * g * g
            m_hat = m / (1 - 0.9 ** self.t)
            v_hat = v / (1 - 0.999 ** self.t)
            p -= self.lr * m_hat / (np.sqrt(v_hat) + 1e-8)
        return loss


def numpy_mlp_step(batch: int):
    model = NumpyMLP()
    x, y = mlp_batch(batch)
    return lambda: model.step(x, y)


# ------------------------------------------------------------------ full TinyDigits training run

def fit_and_score(fw: Framework, model, x_train, y_train, x_test, lr, epochs, batch) -> np.ndarray:
    """Train with shuffled mini-batches, then return the test logits as a NumPy array."""
    step = train_step(fw, model, lr)
    loader = fw.data.DataLoader(fw.data.TensorDataset(fw.wrap(x_train), fw.wrap(y_train)),
                                batch_size=batch, shuffle=True)
    for _ in range(epochs):
        for xb, yb in loader:
            step(xb, yb)
    with fw.no_grad():
        return np.asarray(fw.logits(model(fw.wrap(x_test))))


def tinydigits_run(framework: str, epochs: int = 20, batch: int = 32) -> tuple[float, float]:
    """Seconds and test accuracy of a whole MLP training run on TinyDigits."""
    data = datasets.load_tinydigits()
    x_train, x_test = data.x_train.reshape(-1, 64), data.x_test.reshape(-1, 64)
    start = time.perf_counter()
    if framework == "numpy":
        model = NumpyMLP()
        rng = np.random.default_rng(0)
        for _ in range(epochs):
            order = rng.permutation(len(x_train))
            for start_at in range(0, len(order), batch):
                chosen = order[start_at:start_at + batch]
                model.step(x_train[chosen], data.y_train[chosen])
        logits = model.logits(x_test)
    else:
        fw = FRAMEWORKS[framework]
        logits = fit_and_score(fw, mlp_model(fw), x_train, data.y_train, x_test, 1e-3, epochs, batch)
    seconds = time.perf_counter() - start
    return seconds, float((logits.argmax(1) == data.y_test).mean())


# ------------------------------------------------------------------ convolution (milestone 04 sizes)

def conv_input(batch: int, channels: int, size: int = 8, seed: int = 0):
    return np.random.default_rng(seed).random((batch, channels, size, size), dtype=np.float32)


def conv_step(fw: Framework, c_in: int, c_out: int, batch: int = 32):
    """Forward and backward (input, weight, bias) of one 3x3 convolution with padding 1."""
    fw.seed(0)
    conv = fw.nn.Conv2d(c_in, c_out, 3, padding=1)
    x = fw.wrap(conv_input(batch, c_in))
    x.requires_grad_()

    def step():
        x.grad = None
        conv.zero_grad()
        conv(x).sum().backward()
    return step


def numpy_conv_step(c_in: int, c_out: int, batch: int = 32):
    """Hand-written im2col convolution, forward and backward (input, weight, bias)."""
    rng = np.random.default_rng(0)
    weight = rng.random((c_out, c_in, 3, 3), dtype=np.float32)
    bias = np.zeros(c_out, np.float32)
    x = conv_input(batch, c_in)

    def step():
        padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
        windows = np.lib.stride_tricks.sliding_window_view(padded, (3, 3), axis=(2, 3))
        cols = windows.transpose(0, 2, 3, 1, 4, 5).reshape(batch * 64, c_in * 9)
        out = cols @ weight.reshape(c_out, -1).T + bias
        grad_out = np.ones_like(out)
        grad_w = grad_out.T @ cols
        grad_b = grad_out.sum(0)
        grad_cols = (grad_out @ weight.reshape(c_out, -1)).reshape(batch, 8, 8, c_in, 3, 3)
        grad_padded = np.zeros_like(padded)
        for i in range(3):
            for j in range(3):
                grad_padded[:, :, i:i + 8, j:j + 8] += grad_cols[:, :, :, :, i, j].transpose(0, 3, 1, 2)
        return grad_w, grad_b, grad_padded[:, :, 1:-1, 1:-1]
    return step


def lenet_run(framework: str, epochs: int = 20, batch: int = 32) -> tuple[float, float]:
    """Seconds and test accuracy of milestone 04's LeNet training run on TinyDigits."""
    data = datasets.load_tinydigits()
    fw = FRAMEWORKS[framework]
    fw.seed(0)
    nn = fw.nn
    model = nn.Sequential(nn.Conv2d(1, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(6, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(64, 10))
    start = time.perf_counter()
    logits = fit_and_score(fw, model, data.x_train[:, None], data.y_train, data.x_test[:, None], 0.01, epochs, batch)
    seconds = time.perf_counter() - start
    return seconds, float((logits.argmax(1) == data.y_test).mean())


# ------------------------------------------------------------------ attention and GPT (milestone 05 sizes)

def attention_step(framework: str, batch: int = 32, length: int = 16, dim: int = 64, heads: int = 4,
                   fused: bool = True):
    """Forward and backward (input and every weight) of one causal multi-head self-attention layer.

    tinytorch's runs module 18's fused attention when ``fused`` and module 18 is ready, else module 12's.
    """
    x = np.random.default_rng(0).standard_normal((batch, length, dim)).astype(np.float32)
    if framework == "torch":
        torch.manual_seed(0)
        mha = torch.nn.MultiheadAttention(dim, heads, batch_first=True)
        xt = torch.from_numpy(x).requires_grad_()
        blocked = torch.ones(length, length, dtype=torch.bool).triu(1)  # torch: True = may NOT attend

        def step():
            xt.grad = None
            mha.zero_grad()
            mha(xt, xt, xt, attn_mask=blocked, need_weights=False, is_causal=True)[0].sum().backward()
        return step
    from tinytorch.core.attention import MultiHeadAttention
    tinytorch.manual_seed(0)
    mha = MultiHeadAttention(dim, heads)
    mha = fast_path.accelerated(mha)[0] if fused else mha
    xt = tinytorch.Tensor(x, requires_grad=True)

    def step():
        xt.grad = None
        mha.zero_grad()
        mha(xt, is_causal=True)[0].sum().backward()
    return step


# The chapter's models: part 1's mixed-task GPT and part 2's TinyTalks GPT (sizes as in the chapter).
GPT_SIZES = {
    "part 1 (mixed task)": dict(vocab_size=29, context_length=17, n_layer=2, n_head=4, n_embd=48, batch=64),
    "part 2 (TinyTalks)": dict(vocab_size=73, context_length=64, n_layer=2, n_head=4, n_embd=64, batch=32,
                               length=37, activation="relu"),
}


def gpt_models(size: dict, fused: bool = True):
    """The same seeded GPT in tinytorch (module 18's fused layers when ``fused`` and ready) and, when
    installed, PyTorch, with identical weights."""
    from tinytorch.core.transformers import GPT, GPTConfig
    config = GPTConfig(**{k: v for k, v in size.items() if k not in ("batch", "length")}, init_std=0.1)
    tinytorch.manual_seed(0)
    gpt = GPT(config)
    models = {"tinytorch": fast_path.accelerated(gpt)[0] if fused else gpt}
    if torch is not None:
        from milestones.tools.torch_gpt import copy_weights, from_config
        models["torch"] = from_config(config)
        copy_weights(models["tinytorch"], models["torch"])
    return models


def gpt_step(framework: str, size: dict, fused: bool = True):
    """One Adam training step of the GPT on a batch of token sequences (next-token cross-entropy)."""
    vocab, batch = size["vocab_size"], size["batch"]
    length = size.get("length", size["context_length"])
    ids = np.random.default_rng(0).integers(0, vocab, (batch, length + 1))
    model = gpt_models(size, fused)[framework]
    if framework == "torch":
        optimizer, inputs, targets = torch.optim.Adam(model.parameters(), lr=1e-3), torch.from_numpy(ids[:, :-1]), \
            torch.from_numpy(ids[:, 1:].reshape(-1))

        def step():
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(model(inputs).reshape(-1, vocab), targets).backward()
            optimizer.step()
        return step
    from tinytorch.core.losses import CrossEntropyLoss
    from tinytorch.core.optimizers import Adam
    optimizer, loss_fn = Adam(model.parameters(), lr=1e-3), CrossEntropyLoss()
    inputs, targets = ids[:, :-1], ids[:, 1:].reshape(-1)

    def step():
        optimizer.zero_grad()
        loss_fn(model(inputs).reshape(-1, vocab), targets).backward()
        optimizer.step()
    return step


def generation_step(framework: str, size: dict, batch: int = 8, new_tokens: int = 48, cached: bool = False):
    """One greedy generation of ``new_tokens`` for ``batch`` 8-token prompts (None without module 17 when cached)."""
    model = gpt_models(size)[framework]
    model.eval()
    prompt = np.random.default_rng(1).integers(0, size["vocab_size"], (batch, 8))
    if framework == "torch":
        def run():
            ids = torch.from_numpy(prompt)
            with torch.no_grad():
                for _ in range(new_tokens):
                    nxt = model(ids[:, -size["context_length"]:])[:, -1].argmax(-1, keepdim=True)
                    ids = torch.cat([ids, nxt], dim=1)
        return run
    generate = model.generate
    if cached:
        try:
            from tinytorch.perf.memoization import generate as cached_generate
        except ImportError:
            return None  # module 17 (the KV cache) not written
        generate = functools.partial(cached_generate, model)
    return lambda: generate(prompt, new_tokens, temperature=0)


def kv_cache_rows(repeat: int = 5) -> None:
    """Milestone 06 part 2's workload (GPT 2 blocks x 128 wide, context 256; a 128-token prompt and
    128 new greedy tokens): interleaved runs with and without the KV cache, medians."""
    from tinytorch.core.transformers import GPT, GPTConfig
    from tinytorch.perf.memoization import generate
    tinytorch.manual_seed(2018)
    model, _ = fast_path.accelerated(GPT(GPTConfig(vocab_size=64, context_length=256, n_layer=2, n_head=4, n_embd=128,
                                                   init_std=0.1)))
    model.eval()
    prompt = np.random.default_rng(2018).integers(0, 64, (1, 128))
    runs = {False: [], True: []}
    for _ in range(repeat + 1):
        for cached in runs:
            start = time.perf_counter()
            generate(model, prompt, 128, temperature=0) if cached else model.generate(prompt, 128, temperature=0)
            runs[cached].append(time.perf_counter() - start)
    uncached, cached = (statistics.median(runs[c][1:]) for c in (False, True))
    print(f"{'generation 128+128 tokens, no cache':<40} {uncached * 1e3:9.1f} ms")
    print(f"{'generation 128+128 tokens, KV cache':<40} {cached * 1e3:9.1f} ms   speedup {uncached / cached:5.1f}x "
          f"(median of {repeat} interleaved runs; chapter 06 requires >= 5x)")


# ------------------------------------------------------------------ chapters

def chapter_seconds(stone) -> tuple[float, int]:
    """Wall-clock seconds of ``tito milestone run`` on one chapter, and its exit code."""
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "milestones.cli", "milestone", "run", stone.id],
                            cwd=ROOT, capture_output=True, text=True,
                            env={**os.environ, "TINYTORCH_RESULTS_DIR": str(ROOT / "_build" / "bench-results")})
    return time.perf_counter() - start, result.returncode


# ------------------------------------------------------------------ optimizations (milestone 06, modules 15-18)

def digit_models():
    """Milestone 03's MLP and milestone 04's CNN (seeded, untrained: speed does not depend on the weights)."""
    from tinytorch.core.spatial import Conv2d, MaxPool2d
    tinytorch.manual_seed(0)
    mlp = tinytorch.Sequential(tinytorch.Flatten(), tinytorch.Linear(64, 128), tinytorch.ReLU(), tinytorch.Linear(128, 10))
    cnn = tinytorch.Sequential(Conv2d(1, 6, 3, padding=1), tinytorch.ReLU(), MaxPool2d(2), Conv2d(6, 16, 3, padding=1),
                               tinytorch.ReLU(), MaxPool2d(2), tinytorch.Flatten(), tinytorch.Linear(64, 10))
    return {"MLP 64-128-10": mlp, "CNN (LeNet-style)": cnn}


def inference(model, x):
    def step():
        with tinytorch.no_grad():
            model(x)
    return step


def int8_rows() -> None:
    """int8 vs float32 inference on 200 TinyDigits-sized images (target: int8 within 1.5x float32)."""
    from tinytorch.perf.quantization import model_nbytes, quantize_model
    images = np.random.default_rng(0).random((200, 1, 8, 8), dtype=np.float32)
    x = tinytorch.Tensor(images)
    for name, model in digit_models().items():
        int8 = quantize_model(model, images[:100])
        times = best_ms_interleaved({"float32": inference(model, x), "int8": inference(int8, x)})
        fp32_ms, int8_ms = times["float32"], times["int8"]
        print(f"{name + ' forward, 200 images':<40} float32 {fp32_ms:7.3f} ms  int8 {int8_ms:7.3f} ms  "
              f"int8/float32 {int8_ms / fp32_ms:5.2f}x  bytes {model_nbytes(int8) / model_nbytes(model):.0%}")


def sparse_rows() -> None:
    """A pruned 512x512 Linear on a batch of 64: dense BLAS vs CSR vs bitmask (rebuilt dense).

    Targets (issue 18): CSR at 90% within 3x dense, at 99% at most dense."""
    from tinytorch.perf.compression import SparseLinear, l1_unstructured
    x = tinytorch.Tensor(np.random.default_rng(0).random((64, 512), dtype=np.float32))
    for amount in (0.5, 0.9, 0.99):
        tinytorch.manual_seed(0)
        dense = l1_unstructured(tinytorch.Linear(512, 512), name="weight", amount=amount)
        csr, bitmask = SparseLinear.from_dense(dense, "csr"), SparseLinear.from_dense(dense, "bitmask")
        times = best_ms_interleaved({label: inference(layer, x) for label, layer in
                                     (("dense", dense), ("csr", csr), ("bitmask", bitmask))}, number=10)
        nbytes = dense.weight.data.nbytes + dense.bias.data.nbytes
        print(f"{f'Linear 512x512 pruned {amount:.0%}, batch 64':<40} "
              + "  ".join(f"{k} {v:7.3f} ms" for k, v in times.items())
              + f"  csr/dense {times['csr'] / times['dense']:5.2f}x"
              + f"  bytes csr {csr.nbytes / nbytes:.0%} bitmask {bitmask.nbytes / nbytes:.0%}")


def kernel_pair_rows() -> None:
    """Module 18's naive and fast kernels, same inputs (outputs checked equal by the tests)."""
    from tinytorch.perf.acceleration import kernel_pairs
    for pair in kernel_pairs():
        inputs = pair.inputs(np.random.default_rng(0))
        naive = best_ms(lambda: pair.naive(*inputs), repeat=3, number=1)
        fast = best_ms(lambda: pair.fast(*inputs), repeat=5, number=10)
        print(f"{pair.name:<40} naive {naive:9.3f} ms  fast {fast:8.3f} ms  speedup {naive / fast:8.1f}x")


# ------------------------------------------------------------------ full scale (28x28 and 32x32x3 images)

FULL_SCALE_MODELS = {
    # name: (input shape of one image, images per epoch, batch size, model builder)
    "MLP 784-256-128-10 epoch, 60k 28x28": ((1, 28, 28), 60_000, 128, lambda nn: nn.Sequential(
        nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 10))),
    "CNN 8-16 3x3 epoch, 20k 28x28": ((1, 28, 28), 20_000, 64, lambda nn: nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(),
        nn.MaxPool2d(2), nn.Flatten(), nn.Linear(16 * 7 * 7, 10))),
    "LeNet-5 5x5 epoch, 10k 32x32x3": ((3, 32, 32), 10_000, 64, lambda nn: nn.Sequential(
        nn.Conv2d(3, 6, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))),
}


def full_scale_data(shape, count: int) -> tuple[np.ndarray, np.ndarray, str]:
    """Fashion-MNIST's training images when installed (28x28), else random pixels of the same size."""
    if shape == (1, 28, 28) and datasets.fashion_mnist_available():
        data = datasets.load_fashion_mnist()
        return data.x_train[:count, None], data.y_train[:count], "Fashion-MNIST"
    rng = np.random.default_rng(0)
    return rng.random((count, *shape), dtype=np.float32), rng.integers(0, 10, count), "random pixels"


def epoch_seconds(framework: str, name: str, x: np.ndarray, y: np.ndarray) -> float:
    """Seconds of one training epoch (Adam, lr 1e-3) of a full-scale model.

    Both frameworks get the same shuffled order and the same batches, cut with NumPy and
    wrapped: PyTorch's DataLoader would fetch samples one by one, timing its Python overhead
    rather than the network.
    """
    fw = FRAMEWORKS[framework]
    fw.seed(0)
    model = FULL_SCALE_MODELS[name][3](fw.nn)
    step = train_step(fw, model, lr=1e-3)
    batch = FULL_SCALE_MODELS[name][2]
    order = np.random.default_rng(0).permutation(len(x))
    start = time.perf_counter()
    for first in range(0, len(order), batch):
        chosen = order[first:first + batch]
        step(fw.wrap(x[chosen]), fw.wrap(y[chosen]))
    return time.perf_counter() - start


def full_scale_rows(repeat: int = 3) -> None:
    """One epoch per model and framework, the frameworks interleaved, the median of ``repeat`` runs."""
    for name, (shape, count, batch, _) in FULL_SCALE_MODELS.items():
        x, y, source = full_scale_data(shape, count)
        names = ("tinytorch",) + (("torch",) if torch else ())
        runs = {fw: [] for fw in names}
        for _ in range(repeat):
            for fw in names:
                runs[fw].append(epoch_seconds(fw, name, x, y))
        row(name, statistics.median(runs["tinytorch"]), statistics.median(runs["torch"]) if torch else None, None,
            unit=f"s, batch {batch}, {source}")


# ------------------------------------------------------------------ report

def ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:5.2f}x" if a and b else "   - "


def compare(name: str, tinytorch_step, torch_step=None, numpy_step=None, number: int = 20) -> None:
    """One row: the steps timed in turn (:func:`best_ms_interleaved`), so the ratios compare like with like."""
    steps = {k: s for k, s in (("tinytorch", tinytorch_step), ("torch", torch_step), ("numpy", numpy_step)) if s}
    times = best_ms_interleaved(steps, number=number)
    row(name, times["tinytorch"], times.get("torch"), times.get("numpy"))
    return times["tinytorch"]


def composed_row(composed_step, fused_ms: float, number: int = 20) -> None:
    """The same workload on the composed path (modules 12-13 alone, as on the cut after module 13),
    against the fused time of the row above: what module 18 buys."""
    composed_ms = best_ms(composed_step, number=number)
    print(f"{'  composed (modules 12-13 only)':<40} {composed_ms:9.3f}   {composed_ms / fused_ms:5.2f}x the fused time   (ms)")


def row(name: str, tt: float, th: float | None, npy: float | None, unit: str = "ms") -> None:
    th_text = f"{th:9.3f}" if th else "        -"
    np_text = f"{npy:9.3f}" if npy else "        -"
    print(f"{name:<40} {tt:9.3f} {th_text} {np_text}  {ratio(tt, th)}  {ratio(tt, npy)}   ({unit})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-chapters", action="store_true", help="skip timing the chapters")
    parser.add_argument("--repeat", type=int, default=5, help="runs of each full-scale epoch (the median counts)")
    args = parser.parse_args()
    print(f"one thread each; numpy {np.__version__}; torch {torch.__version__ if torch else 'not installed'}")
    print(f"{'benchmark':<40} {'tinytorch':>9} {'torch':>9} {'numpy':>9}  tt/torch  tt/numpy")
    for batch in (32, 64):
        compare(f"MLP 64-128-10 train step, batch {batch}", mlp_step(FRAMEWORKS["tinytorch"], batch),
                mlp_step(FRAMEWORKS["torch"], batch) if torch else None, numpy_mlp_step(batch))
    for c_in, c_out in ((1, 6), (6, 16), (1, 8)):
        compare(f"conv 3x3 {c_in}->{c_out} fwd+bwd, 32x{c_in}x8x8", conv_step(FRAMEWORKS["tinytorch"], c_in, c_out),
                conv_step(FRAMEWORKS["torch"], c_in, c_out) if torch else None, numpy_conv_step(c_in, c_out))
    runs = {name: tinydigits_run(name) for name in ("tinytorch", "numpy") + (("torch",) if torch else ())}
    row("TinyDigits MLP, 20 epochs (s)", runs["tinytorch"][0], runs.get("torch", (None,))[0],
        runs["numpy"][0], unit="s")
    print("  test accuracy: " + ", ".join(f"{k} {v[1]:.1%}" for k, v in runs.items()))
    lenet = {name: lenet_run(name) for name in ("tinytorch",) + (("torch",) if torch else ())}
    row("TinyDigits LeNet, 20 epochs (s)", lenet["tinytorch"][0], lenet.get("torch", (None,))[0], None, unit="s")
    print("  test accuracy: " + ", ".join(f"{k} {v[1]:.1%}" for k, v in lenet.items()))
    print("\noptimizations (milestone 06): one thread")
    int8_rows()
    sparse_rows()
    kernel_pair_rows()
    print(f"\nfull scale: one training epoch, median of {args.repeat} interleaved runs:")
    full_scale_rows(args.repeat)
    print(f"\nattention and GPT (milestone 05): one thread; tinytorch runs {fast_path.path()}")
    fused = compare("attention fwd+bwd, 32x16x64, 4 heads", attention_step("tinytorch"),
                    attention_step("torch") if torch else None)
    composed_row(attention_step("tinytorch", fused=False), fused)
    for name, size in GPT_SIZES.items():
        fused = compare(f"GPT train step, {name}", gpt_step("tinytorch", size),
                        gpt_step("torch", size) if torch else None, number=5)
        composed_row(gpt_step("tinytorch", size, fused=False), fused, number=5)
    size = GPT_SIZES["part 2 (TinyTalks)"]
    steps = {"tinytorch": generation_step("tinytorch", size), "cached": generation_step("tinytorch", size, cached=True),
             "torch": generation_step("torch", size) if torch else None}
    times = best_ms_interleaved({k: s for k, s in steps.items() if s}, repeat=5, number=2)
    row("greedy generation, 8 x 48 tokens", times["tinytorch"], times.get("torch"), None)
    if "cached" in times:
        row("  with module 17's KV cache", times["cached"], times.get("torch"), None)
    print("\nKV cache (milestone 06 part 2): one thread")
    kv_cache_rows()
    if not args.no_chapters:
        print("\nchapters (tito milestone run, seconds including interpreter start):")
        for stone in registry.ALL_MILESTONES:
            if stone.chapter_path.exists():
                seconds, code = chapter_seconds(stone)
                print(f"  {stone.id:<20} {seconds:6.2f} s   exit {code}")


if __name__ == "__main__":
    main()
