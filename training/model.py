"""The reading model (PyTorch): the encoder's top layers, fine-tuned, under a question-aware span head.

The encoder's lower layers (1..``split``) run frozen, in the set-up's int8 ONNX
graph, on the question and on each passage segment alone; their states are the
model's input (cached on disk for training, ``training.states``). Here the top
layers (``split``+1..12, copied from the encoder) run over the question and all
segments of a read at once; attention between different segments (the question
is one) carries a learnt bias per layer and head, which starts closed (each
segment alone, as the encoder was trained) and may open while training. Each
token's features are its last layer beside the mean of the layers from
``split`` up; the head (projections, passage-to-question attention, fusion with
exact-match features, a convolution and self-attention over the read) scores
every span ``(i, j)`` of one segment up to ``max_span`` tokens as

    start[i] + end[j] + u[i]·v[j] + length[j - i]

where ``u·v`` lets the end depend on the start and ``length`` is a prior set by
the question (a why-question wants a clause, a when-question a date). Position 0
(the first segment's ``<s>``) is "no answer in this read": its score is
``start[0] + end[0]``; training takes one softmax over every span and it.
"""

from __future__ import annotations

import math

import torch
from torch import nn

NEG = -1e4  # a masked logit: finite, so the ONNX graph and fp16 never see inf - inf
CLOSED = -1e4  # the cross-segment attention bias of a closed (blocked) layer


class EncoderLayer(nn.Module):
    """One post-norm transformer layer of the encoder (XLM-R / BERT layout), written out for plain ONNX export."""

    def __init__(self, hidden: int = 384, heads: int = 12, intermediate: int = 1536, dropout: float = 0.1,
                 eps: float = 1e-12) -> None:
        super().__init__()
        self.heads = heads
        self.query, self.key, self.value = (nn.Linear(hidden, hidden) for _ in range(3))
        self.attn_out = nn.Linear(hidden, hidden)
        self.norm1 = nn.LayerNorm(hidden, eps=eps)
        self.fc1 = nn.Linear(hidden, intermediate)
        self.fc2 = nn.Linear(intermediate, hidden)
        self.norm2 = nn.LayerNorm(hidden, eps=eps)
        self.drop = nn.Dropout(dropout)

    def load_hf(self, layer: nn.Module) -> None:
        """Copy the weights of a transformers ``XLMRobertaLayer``."""
        pairs = [(self.query, layer.attention.self.query), (self.key, layer.attention.self.key),
                 (self.value, layer.attention.self.value), (self.attn_out, layer.attention.output.dense),
                 (self.norm1, layer.attention.output.LayerNorm), (self.fc1, layer.intermediate.dense),
                 (self.fc2, layer.output.dense), (self.norm2, layer.output.LayerNorm)]
        with torch.no_grad():
            for mine, theirs in pairs:
                mine.weight.copy_(theirs.weight)
                mine.bias.copy_(theirs.bias)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        """``x`` [B, T, H]; ``bias`` [B, heads or 1, T, T] added to the attention logits.

        No dropout on the attention weights: on these CPUs drawing it cost a fifth
        of a training step (measured with torch.profiler), for a regulariser the
        hidden-state dropout already gives.
        """
        b, t, h = x.shape
        d = h // self.heads

        def split(proj: nn.Linear) -> torch.Tensor:
            return proj(x).view(b, t, self.heads, d).transpose(1, 2)

        mixed = nn.functional.scaled_dot_product_attention(split(self.query), split(self.key), split(self.value),
                                                           attn_mask=bias)
        x = self.norm1(x + self.drop(self.attn_out(mixed.transpose(1, 2).reshape(b, t, h))))
        return self.norm2(x + self.drop(self.fc2(nn.functional.gelu(self.fc1(x)))))


class SelfAttentionBlock(nn.Module):
    """Pre-norm multi-head self-attention and a feed-forward layer (the head's own blocks)."""

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


class SpanHead(nn.Module):
    """Question-aware span scorer over token features (see the module docstring)."""

    def __init__(self, features: int = 768, width: int = 192, heads: int = 4, layers: int = 2,
                 dropout: float = 0.1, match_features: int = 2, max_span: int = 64, pair: int = 32) -> None:
        super().__init__()
        self.in_drop = nn.Dropout(dropout)
        self.passage_proj = nn.Linear(features, width)
        self.question_proj = nn.Linear(features, width)
        self.attend = nn.Linear(width, width, bias=False)
        self.fuse = nn.Linear(4 * width + match_features, width)
        self.conv = nn.Conv1d(width, width, kernel_size=5, padding=2)
        self.blocks = nn.ModuleList([SelfAttentionBlock(width, heads, dropout) for _ in range(layers)])
        self.norm = nn.LayerNorm(width)
        self.start = nn.Linear(width, 1)
        self.end = nn.Sequential(nn.Linear(width, width), nn.GELU(), nn.Linear(width, 1))
        self.pair_u = nn.Linear(width, pair)
        self.pair_v = nn.Linear(width, pair)
        self.length = nn.Linear(width, max_span)
        nn.init.zeros_(self.length.weight)
        nn.init.zeros_(self.length.bias)
        self.act = nn.GELU()
        self.drop = nn.Dropout(dropout)

    def forward(self, passage: torch.Tensor, passage_mask: torch.Tensor, question: torch.Tensor,
                question_mask: torch.Tensor, match: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """start, end [B, T] (padding at ``NEG``), u, v [B, T, pair], length [B, max_span]."""
        p = self.act(self.passage_proj(self.in_drop(passage)))
        q = self.act(self.question_proj(self.in_drop(question)))
        scores = self.attend(p) @ q.transpose(1, 2) / math.sqrt(p.shape[-1])
        scores = scores + (1.0 - question_mask)[:, None, :] * NEG
        a = scores.softmax(-1) @ q
        h = self.act(self.fuse(torch.cat([p, a, p * a, p - a, match], dim=-1)))
        h = h + self.drop(self.act(self.conv(h.transpose(1, 2)).transpose(1, 2)))
        for block in self.blocks:
            h = block(h, passage_mask)
        h = self.norm(h)
        pad = (1.0 - passage_mask) * NEG
        pooled = (q * question_mask[..., None]).sum(1) / question_mask.sum(1, keepdim=True).clamp(min=1.0)
        return (self.start(h).squeeze(-1) + pad, self.end(h).squeeze(-1) + pad, self.pair_u(h), self.pair_v(h),
                self.length(pooled))


class ReaderModel(nn.Module):
    """The encoder's top layers over a question and a read's segments, then the span head."""

    def __init__(self, upper: int = 2, hidden: int = 384, heads: int = 12, width: int = 192, head_layers: int = 2,
                 dropout: float = 0.1, max_span: int = 64, pair: int = 32) -> None:
        super().__init__()
        self.layers = nn.ModuleList([EncoderLayer(hidden, heads, dropout=dropout) for _ in range(upper)])
        self.cross = nn.Parameter(torch.full((upper, heads), CLOSED))
        self.head = SpanHead(2 * hidden, width, layers=head_layers, dropout=dropout, max_span=max_span, pair=pair)

    def forward(self, passage: torch.Tensor, passage_mask: torch.Tensor, segments: torch.Tensor,
                question: torch.Tensor, question_mask: torch.Tensor, match: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Lower-layer states of a read [B, T, H] (``segments`` [B, T]: each token's segment, from 1) and of
        the question [B, Tq, H]; returns the head's outputs over the read's tokens."""
        tq = question.shape[1]
        x = torch.cat([question, passage], dim=1)
        mask = torch.cat([question_mask, passage_mask], dim=1)
        seg = torch.cat([torch.zeros_like(question_mask), segments.to(question_mask.dtype)], dim=1)
        other = (seg[:, :, None] != seg[:, None, :]).to(x.dtype)[:, None]  # [B, 1, T, T]
        pad = ((1.0 - mask) * NEG)[:, None, None, :]
        frozen = not self.cross.requires_grad and not any(p.requires_grad for p in self.layers.parameters())
        states = [x]
        with torch.set_grad_enabled(torch.is_grad_enabled() and not frozen):
            for n, layer in enumerate(self.layers):
                if frozen:
                    layer.eval()  # no dropout in layers that do not learn
                x = layer(x, pad + other * self.cross[n][None, :, None, None])
                states.append(x)
        features = torch.cat([x, torch.stack(states).mean(0)], dim=-1)
        return self.head(features[:, tq:], passage_mask, features[:, :tq], question_mask, match)


def span_scores(start: torch.Tensor, end: torch.Tensor, u: torch.Tensor, v: torch.Tensor, length: torch.Tensor,
                valid: torch.Tensor, segments: torch.Tensor) -> torch.Tensor:
    """Scores [B, T, L] of the span starting at i and ending at i + k; impossible spans at ``NEG``.

    ``valid`` [B, T] marks tokens that may begin or end a span (text tokens);
    a span never crosses from one segment into another.
    """
    b, t = start.shape
    width = length.shape[1]

    def band(x: torch.Tensor, fill: float) -> torch.Tensor:  # [B, T] -> [B, T, L]: x[:, i + k]
        padded = torch.cat([x, torch.full((b, width), fill, dtype=x.dtype)], dim=1)
        return padded.unfold(1, width, 1)[:, :t]

    # u[i]·v[i + k] from the full [T, T] product, its diagonals taken as a strided view
    full = nn.functional.pad(u @ v.transpose(1, 2), (0, width))
    pair = full.as_strided((b, t, width), (full.stride(0), full.stride(1) + full.stride(2), full.stride(2)))
    ok = valid[:, :, None] & band(valid, False) & (band(segments, -1) == segments[:, :, None])
    scores = start[:, :, None] + band(end, NEG) + pair + length[:, None, :]
    return torch.where(ok, scores, torch.full_like(scores, NEG))
