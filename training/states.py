"""Lower-layer states of the training reads' segments and questions, computed once, exactly as at question time.

The reader runs the encoder's frozen lower layers (the set-up's
``reader_lower_int8.onnx``) on one sequence per onnxruntime run: int8 scales
its activations over the whole run, so a padded batch would give other numbers
(cosine 0.992 to single runs, measured on the old extractor). Extraction here
does the same, one sequence per run, two runs side by side on one thread each.
A store is a folder:

    meta.json         counts, settings, seconds (written last: its presence marks a store as complete)
    states.f16        [rows, 384] float16 memmap, every item's tokens one after another
    ids.npy           [rows] token ids;  offsets.npy [rows, 2] character spans in the item's text (-1: special)
    items.npy         [items, 2] (first row, length)

The reader keeps float16 states too (``rag.answer.reader``), so training and
question time see the same numbers. Extraction checkpoints every few hundred
items (``done.npy``), so a killed run resumes.
"""

from __future__ import annotations

import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

_log = logging.getLogger(__name__)
HIDDEN = 384


@dataclass
class StateStore:
    """Memory-mapped lower-layer states of a list of token sequences (see the module docstring)."""

    folder: Path
    states: np.ndarray
    ids: np.ndarray
    offsets: np.ndarray
    items: np.ndarray
    meta: dict[str, Any]

    @classmethod
    def open(cls, folder: Path) -> StateStore:
        """Open a complete store read-only."""
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        return cls(folder, np.memmap(folder / "states.f16", np.float16, "r", shape=(meta["rows"], HIDDEN)),
                   np.load(folder / "ids.npy"), np.load(folder / "offsets.npy"), np.load(folder / "items.npy"), meta)

    def rows(self, item: int) -> slice:
        """The rows of one item."""
        first, length = (int(x) for x in self.items[item])
        return slice(first, first + length)


def open_session(onnx_path: Path) -> Any:
    """An onnxruntime session on one thread (two of them run side by side), without spinning."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])


def run_one(session: Any, ids: np.ndarray) -> np.ndarray:
    """States [len, 384] of one token sequence in a run of its own."""
    batch = ids[None, :].astype(np.int64)
    return session.run(None, {"input_ids": batch, "attention_mask": np.ones_like(batch)})[0][0]


def extract(sequences: list[np.ndarray], offsets: list[np.ndarray], onnx_path: Path, folder: Path,
            label: str, workers: int = 2) -> StateStore:
    """Extract (or resume, or reuse) the states of every sequence into ``folder``."""
    if (folder / "meta.json").is_file():
        return StateStore.open(folder)
    folder.mkdir(parents=True, exist_ok=True)
    lengths = np.array([len(s) for s in sequences], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    rows = int(lengths.sum())
    np.save(folder / "items.npy", np.stack([starts, lengths], axis=1))
    np.save(folder / "ids.npy", np.concatenate(sequences).astype(np.int64))
    np.save(folder / "offsets.npy", np.concatenate(offsets).astype(np.int32))
    mode = "r+" if (folder / "states.f16").is_file() else "w+"
    target = np.memmap(folder / "states.f16", np.float16, mode, shape=(rows, HIDDEN))
    done_path = folder / "done.npy"
    done = np.load(done_path) if done_path.is_file() else np.zeros(len(sequences), dtype=bool)
    todo = [i for i in np.argsort(lengths) if not done[i]]
    sessions = [open_session(onnx_path) for _ in range(workers)]
    began, tokens = time.perf_counter(), 0

    def work(pair: tuple[int, int]) -> int:
        n, i = pair
        target[starts[i]: starts[i] + lengths[i]] = run_one(sessions[n % workers], sequences[i]).astype(np.float16)
        return int(i)

    with ThreadPoolExecutor(workers) as pool:
        for n, i in enumerate(pool.map(work, enumerate(todo)), 1):
            done[i] = True
            tokens += int(lengths[i])
            if n % 500 == 0 or n == len(todo):
                target.flush()
                np.save(done_path, done)
                _log.info("%s: %d/%d, %.0f tokens/s", label, n, len(todo), tokens / (time.perf_counter() - began))
    seconds = time.perf_counter() - began
    meta = {"rows": rows, "items": len(sequences), "onnx": onnx_path.name, "seconds": round(seconds, 1),
            "tokens_per_second": round(tokens / max(seconds, 1e-9)), "workers": workers}
    (folder / "meta.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return StateStore.open(folder)
