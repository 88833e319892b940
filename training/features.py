"""Token states of passages and questions from the set-up's reader ONNX, extracted once and kept on disk.

The same int8 graph that ``rag.answer.reader`` runs at question time makes the
training features, so training and inference see identical numbers. A store is
a folder keyed by the input files, the ONNX file and the window settings:

    meta.json              counts, settings, extraction seconds (written last: its presence marks a store as complete)
    passage_feats.f16      [rows, 768] float16 memmap, every window's tokens one after another
    passage_ids.npy        [rows] token ids;  passage_offsets.npy [rows, 2] character spans (-1: special)
    windows.npy            [windows, 3] (passage index, first row, length)
    question_feats.f16     [qrows, 768];  question_ids.npy [qrows];  questions.npy [questions, 2] (first row, length)

Extraction checkpoints every few hundred batches (``done.npy``), so a killed run resumes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rag.answer.reading import passage_windows, question_ids
from rag.files import file_sha256
from training.data import Passage

_log = logging.getLogger(__name__)
FEATURES = 768


@dataclass
class FeatureStore:
    """Memory-mapped features of one extraction (see the module docstring)."""

    folder: Path
    passage_feats: np.ndarray
    passage_ids: np.ndarray
    passage_offsets: np.ndarray
    windows: np.ndarray
    question_feats: np.ndarray
    question_ids: np.ndarray
    questions: np.ndarray
    meta: dict[str, Any]

    @classmethod
    def open(cls, folder: Path) -> FeatureStore:
        """Open a complete store read-only."""
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        rows, qrows = meta["rows"], meta["question_rows"]
        return cls(
            folder=folder,
            passage_feats=np.memmap(folder / "passage_feats.f16", np.float16, "r", shape=(rows, FEATURES)),
            passage_ids=np.load(folder / "passage_ids.npy"),
            passage_offsets=np.load(folder / "passage_offsets.npy"),
            windows=np.load(folder / "windows.npy"),
            question_feats=np.memmap(folder / "question_feats.f16", np.float16, "r", shape=(qrows, FEATURES)),
            question_ids=np.load(folder / "question_ids.npy"),
            questions=np.load(folder / "questions.npy"),
            meta=meta,
        )

    def passage_windows(self, passage: int) -> list[int]:
        """Indices of a passage's windows, in order."""
        return [int(w) for w in np.flatnonzero(self.windows[:, 0] == passage)]


def store_key(paths: list[Path], onnx_path: Path, max_tokens: int, stride: int) -> str:
    """A short hash naming a store: input files, ONNX file and window settings."""
    parts = [file_sha256(p) for p in paths] + [file_sha256(onnx_path), f"{max_tokens}/{stride}/v1"]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def open_session(onnx_path: Path) -> Any:
    """An onnxruntime session on one thread (two of them run side by side), without spinning."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])


def _batches(lengths: list[int], max_rows: int) -> list[list[int]]:
    """Items grouped by similar length, each batch padded to at most ``max_rows`` tokens in all."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batches: list[list[int]] = []
    for i in order:
        if batches and (len(batches[-1]) + 1) * lengths[i] <= max_rows:
            batches[-1].append(i)
        else:
            batches.append([i])
    return batches


def run_batch(session: Any, sequences: list[np.ndarray]) -> list[np.ndarray]:
    """Features of several token sequences in one padded run; one [len, 768] float32 array each."""
    width = max(len(s) for s in sequences)
    ids = np.full((len(sequences), width), 1, dtype=np.int64)
    mask = np.zeros_like(ids)
    for row, seq in enumerate(sequences):
        ids[row, : len(seq)] = seq
        mask[row, : len(seq)] = 1
    out = session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
    return [out[row, : len(seq)] for row, seq in enumerate(sequences)]


def _fill(session: Any, sequences: list[np.ndarray], starts: np.ndarray, target: np.memmap,
          done_path: Path, workers: int, label: str) -> float:
    """Run every sequence into ``target`` at its rows, skipping batches a previous run finished."""
    batches = _batches([len(s) for s in sequences], max_rows=4096)
    done = np.load(done_path) if done_path.is_file() else np.zeros(len(batches), dtype=bool)
    todo = [b for b, flag in zip(batches, done, strict=True) if not flag]
    index = {id(b): n for n, b in enumerate(batches)}
    began, tokens = time.perf_counter(), 0

    def work(batch: list[int]) -> list[int]:
        for i, feats in zip(batch, run_batch(session, [sequences[i] for i in batch]), strict=True):
            target[starts[i]: starts[i] + len(feats)] = feats.astype(np.float16)
        return batch

    with ThreadPoolExecutor(workers) as pool:
        for n, batch in enumerate(pool.map(work, todo), 1):
            done[index[id(batch)]] = True
            tokens += sum(len(sequences[i]) for i in batch)
            if n % 200 == 0 or n == len(todo):
                target.flush()
                np.save(done_path, done)
                rate = tokens / max(time.perf_counter() - began, 1e-9)
                _log.info("%s: %d/%d batches, %.0f tokens/s", label, n, len(todo), rate)
    return time.perf_counter() - began


def extract(passages: list[Passage], onnx_path: Path, tokenizer: Any, folder: Path,
            max_tokens: int = 512, stride: int = 384, workers: int = 2) -> FeatureStore:
    """Extract (or resume, or reuse) the features of every passage window and every question into ``folder``."""
    if (folder / "meta.json").is_file():
        return FeatureStore.open(folder)
    folder.mkdir(parents=True, exist_ok=True)
    windows = [(p, w) for p, passage in enumerate(passages)
               for w in passage_windows(tokenizer, passage.context, max_tokens, stride)]
    lengths = np.array([len(w.ids) for _, w in windows])
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    np.save(folder / "windows.npy", np.stack([[p for p, _ in windows], starts, lengths], axis=1))
    np.save(folder / "passage_ids.npy", np.concatenate([w.ids for _, w in windows]))
    np.save(folder / "passage_offsets.npy", np.concatenate([w.offsets for _, w in windows]))
    asked = [question_ids(tokenizer, q.text) for passage in passages for q in passage.questions]
    qlengths = np.array([len(q) for q in asked])
    qstarts = np.concatenate([[0], np.cumsum(qlengths)[:-1]]).astype(np.int64)
    np.save(folder / "questions.npy", np.stack([qstarts, qlengths], axis=1))
    np.save(folder / "question_ids.npy", np.concatenate(asked))
    rows, qrows = int(lengths.sum()), int(qlengths.sum())
    mode = "r+" if (folder / "passage_feats.f16").is_file() else "w+"
    pfeats = np.memmap(folder / "passage_feats.f16", np.float16, mode, shape=(rows, FEATURES))
    qfeats = np.memmap(folder / "question_feats.f16", np.float16, mode, shape=(qrows, FEATURES))
    session = open_session(onnx_path)
    seconds_q = _fill(session, asked, qstarts, qfeats, folder / "done_questions.npy", workers, "questions")
    seconds_p = _fill(session, [w.ids for _, w in windows], starts, pfeats, folder / "done_passages.npy",
                      workers, "passages")
    meta = {"rows": rows, "question_rows": qrows, "passages": len(passages), "windows": len(windows),
            "questions": len(asked), "max_tokens": max_tokens, "stride": stride, "onnx": str(onnx_path),
            "onnx_sha256": file_sha256(onnx_path), "seconds_passages": round(seconds_p, 1),
            "seconds_questions": round(seconds_q, 1), "workers": workers}
    (folder / "meta.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    _log.info("extracted %d passage tokens in %.0f s and %d question tokens in %.0f s",
              rows, seconds_p, qrows, seconds_q)
    return FeatureStore.open(folder)
