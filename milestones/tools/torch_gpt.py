"""The same GPT written in PyTorch, for parity tests and the benchmark (imports torch: test-side only).

Layout mirrors ``tinytorch.core.transformers.GPT`` (pre-LN blocks, packed QKV projection,
tanh GELU, learned positions, bias-free head), so ``copy_weights`` can map every parameter.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


class TorchBlock(nn.Module):
    def __init__(self, embed_dim: int, num_heads: int, mlp_ratio: float = 4.0, activation: str = "gelu"):
        super().__init__()
        hidden = int(mlp_ratio * embed_dim)
        self.act = nn.GELU(approximate="tanh") if activation == "gelu" else nn.ReLU()
        self.ln1 = nn.LayerNorm(embed_dim)
        self.attn = nn.MultiheadAttention(embed_dim, num_heads, batch_first=True)
        self.ln2 = nn.LayerNorm(embed_dim)
        self.fc, self.proj = nn.Linear(embed_dim, hidden), nn.Linear(hidden, embed_dim)

    def forward(self, x, blocked):
        h = self.ln1(x)
        x = x + self.attn(h, h, h, attn_mask=blocked, need_weights=False, is_causal=True)[0]
        return x + self.proj(self.act(self.fc(self.ln2(x))))


class TorchGPT(nn.Module):
    def __init__(self, vocab_size, context_length, n_layer, n_head, n_embd, mlp_ratio=4.0, activation="gelu"):
        super().__init__()
        self.tok_emb = nn.Embedding(vocab_size, n_embd)
        self.pos_emb = nn.Parameter(torch.zeros(context_length, n_embd))
        self.blocks = nn.ModuleList([TorchBlock(n_embd, n_head, mlp_ratio, activation) for _ in range(n_layer)])
        self.ln_f = nn.LayerNorm(n_embd)
        self.head = nn.Linear(n_embd, vocab_size, bias=False)

    def forward(self, ids):
        t = ids.shape[1]
        blocked = torch.ones(t, t, dtype=torch.bool).triu(1)  # torch's MHA mask: True = may NOT attend
        x = self.tok_emb(ids) + self.pos_emb[:t]
        for block in self.blocks:
            x = block(x, blocked)
        return self.head(self.ln_f(x))


def torch_name(name: str) -> str:
    """Our parameter name -> the TorchGPT name."""
    return (name.replace("pos_emb.weight", "pos_emb").replace("attn.in_proj.weight", "attn.in_proj_weight")
            .replace("attn.in_proj.bias", "attn.in_proj_bias").replace("mlp.fc", "fc").replace("mlp.proj", "proj"))


def from_config(config) -> TorchGPT:
    """A TorchGPT with the sizes of a tinytorch ``GPTConfig``."""
    return TorchGPT(config.vocab_size, config.context_length, config.n_layer, config.n_head, config.n_embd,
                    config.mlp_ratio, config.activation)


def copy_weights(ours, theirs: TorchGPT) -> None:
    """Load tinytorch GPT parameters into the TorchGPT (every parameter, names checked)."""
    target = dict(theirs.named_parameters())
    names = [torch_name(n) for n, _ in ours.named_parameters()]
    assert sorted(names) == sorted(target), (sorted(set(names) ^ set(target)))
    with torch.no_grad():
        for (name, p) in ours.named_parameters():
            target[torch_name(name)].copy_(torch.from_numpy(np.ascontiguousarray(p.data)))
