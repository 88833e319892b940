"""The reading head (PyTorch): frozen token states in, start/end pointer logits out.

Passage and question states (768 features each: the encoder's last layer beside
the mean of layers 9-12) are projected to ``width``; each passage token attends
over the question tokens; the passage, the attended question, their product and
difference and two exact-match features are fused; a convolution (local
context, span edges) and ``layers`` self-attention blocks follow; two linear
pointers give start and end logits. Position 0 (``<s>``) is the "no answer in
this passage" slot of both pointers, trained with negatives.
"""

from __future__ import annotations

import math

import torch
from torch import nn

NEG = -1e4  # a masked logit: finite, so the ONNX graph and fp16 never see inf - inf


class SelfAttentionBlock(nn.Module):
    """Pre-norm multi-head self-attention and a feed-forward layer, written out so it exports plainly to ONNX."""

    def __init__(self, width: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.out = nn.Linear(width, width)
        self.norm2 = nn.LayerNorm(width)
        self.ffn = nn.Sequential(nn.Linear(width, 2 * width), nn.GELU(), nn.Linear(2 * width, width))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``x`` [B, T, W], ``mask`` [B, T] (1 for a real token)."""
        b, t, w = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, t, 3, self.heads, w // self.heads).permute(2, 0, 3, 1, 4)
        scores = q @ k.transpose(-1, -2) / math.sqrt(w // self.heads)
        scores = scores + (1.0 - mask)[:, None, None, :] * NEG
        mixed = (scores.softmax(-1) @ v).transpose(1, 2).reshape(b, t, w)
        x = x + self.drop(self.out(mixed))
        return x + self.drop(self.ffn(self.norm2(x)))


class ReaderHead(nn.Module):
    """Question-aware pointer network over frozen encoder states (see the module docstring)."""

    def __init__(self, features: int = 768, width: int = 192, heads: int = 4, layers: int = 2,
                 dropout: float = 0.1, match_features: int = 2, used_features: int | None = None) -> None:
        super().__init__()
        self.used = used_features or features
        self.in_drop = nn.Dropout(dropout)
        self.passage_proj = nn.Linear(self.used, width)
        self.question_proj = nn.Linear(self.used, width)
        self.attend = nn.Linear(width, width, bias=False)
        self.fuse = nn.Linear(4 * width + match_features, width)
        self.conv = nn.Conv1d(width, width, kernel_size=5, padding=2)
        self.blocks = nn.ModuleList([SelfAttentionBlock(width, heads, dropout) for _ in range(layers)])
        self.norm = nn.LayerNorm(width)
        self.start = nn.Linear(width, 1)
        self.end = nn.Sequential(nn.Linear(width, width), nn.GELU(), nn.Linear(width, 1))
        self.act = nn.GELU()
        self.drop = nn.Dropout(dropout)

    def forward(self, passage: torch.Tensor, passage_mask: torch.Tensor, question: torch.Tensor,
                question_mask: torch.Tensor, match: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Start and end logits [B, T] (padding at ``NEG``) from states [B, T, F], [B, Tq, F] and masks."""
        p = self.act(self.passage_proj(self.in_drop(passage[..., : self.used])))
        q = self.act(self.question_proj(self.in_drop(question[..., : self.used])))
        scores = self.attend(p) @ q.transpose(1, 2) / math.sqrt(p.shape[-1])
        scores = scores + (1.0 - question_mask)[:, None, :] * NEG
        a = scores.softmax(-1) @ q
        h = self.act(self.fuse(torch.cat([p, a, p * a, p - a, match], dim=-1)))
        h = h + self.drop(self.act(self.conv(h.transpose(1, 2)).transpose(1, 2)))
        for block in self.blocks:
            h = block(h, passage_mask)
        h = self.norm(h)
        pad = (1.0 - passage_mask) * NEG
        return self.start(h).squeeze(-1) + pad, self.end(h).squeeze(-1) + pad
