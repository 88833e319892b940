"""The lexical leg: BM25 over jieba tokens, scripts folded to simplified Chinese.

Questions and chunks go through the same ``lexical_tokens``: NFKC (full-width
letters and digits to half-width), lower case, traditional folded to simplified
with OpenCC, jieba search-mode words, punctuation and stopwords dropped.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rag.errors import IndexCorruptError
from rag.text import TOKENIZER_VERSION

TOKENS_FILE = "tokens.jsonl"
META_FILE = "tokenizer.json"  # the tokenizer's version and the number of chunks


class LexicalIndex:
    """A BM25 index (bm25s) saved as a folder beside the dense index.

    The folder also keeps each chunk's tokens (tokens.jsonl), so the next build
    tokenises only new text: jieba is the slow part of writing an index.
    """

    def __init__(self, model: Any, size: int, tokens: list[list[str]] | None = None,
                 load_model: Callable[[], Any] | None = None):
        """``model``: the bm25s model, or None with ``load_model`` to read it on the first search."""
        self._model = model
        self.size = size
        self._tokens = tokens
        self._load_model = load_model
        self._lock = threading.Lock()

    @classmethod
    def build(cls, token_lists: Iterable[list[str]], prefixes: Sequence[list[str]] | None = None) -> LexicalIndex:
        """Index one token list per chunk, in chunk-id order.

        ``prefixes``: per chunk, tokens indexed with it but not saved as its own
        (its article title and section), so saved tokens stay reusable by text.
        """
        import bm25s

        corpus = list(token_lists)
        indexed = [p + t for p, t in zip(prefixes, corpus, strict=True)] if prefixes is not None else corpus
        model = bm25s.BM25(k1=1.2, b=0.75)
        # bm25s needs at least one token per document to keep ids aligned.
        model.index([tokens or [""] for tokens in indexed], show_progress=False)
        return cls(model, len(corpus), corpus)

    def save(self, folder: Path, tokenizer: str = TOKENIZER_VERSION) -> None:
        """Write the index files into ``folder`` (created); ``tokenizer``: the identity of what cut the tokens."""
        folder.mkdir(parents=True, exist_ok=True)
        self.model().save(str(folder), show_progress=False)
        if self._tokens is not None:
            with (folder / TOKENS_FILE).open("w", encoding="utf-8") as fh:
                for tokens in self._tokens:
                    fh.write(json.dumps(tokens, ensure_ascii=False))
                    fh.write("\n")
        (folder / META_FILE).write_text(
            json.dumps({"tokenizer": tokenizer, "size": self.size}), encoding="utf-8"
        )

    @classmethod
    def load(cls, folder: Path, mmap: bool = False) -> LexicalIndex:
        """Open an index written by ``save``: its size now, the BM25 arrays on the first search.

        subtle: bm25s brings scipy (a quarter of a second on 2 cores), which
        ``rag status`` does not need; the files were checked against the manifest.
        """
        meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))

        def load_model() -> Any:
            import bm25s

            try:
                return bm25s.BM25.load(str(folder), mmap=mmap, show_progress=False)
            except (OSError, ValueError, KeyError, EOFError) as exc:
                raise IndexCorruptError(f"{folder} cannot be loaded by bm25s ({exc}): "
                                        "run `rag index --rebuild`") from exc

        return cls(None, int(meta["size"]), load_model=load_model)

    def model(self) -> Any:
        """The bm25s model, read from the folder on first use."""
        with self._lock:
            if self._model is None and self._load_model is not None:
                self._model = self._load_model()
            return self._model

    def search(self, tokens: list[str], k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` chunk ids and BM25 scores for query tokens (zero scores dropped).

        ``allowed``: optional boolean mask over chunk ids (limit to some articles).
        """
        if not tokens or self.size == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        scores = np.asarray(self.model().get_scores(tokens), dtype=np.float32)
        if allowed is not None:
            scores = np.where(allowed, scores, 0.0)
        # Only chunks holding a query word score above zero: select among those, not among
        # all chunks. At 1M chunks a query scores ~65k of them, and selecting from the
        # whole array was most of the lexical leg (selection p50 6.0 -> 1.4 ms on the 1M
        # index of benchmarks/scale.py, 200 CMRC questions, load 3.2).
        top = np.flatnonzero(scores > 0)
        if len(top) > k:
            top = top[np.argpartition(-scores[top], k - 1)[:k]]
        top = top[np.argsort(-scores[top], kind="stable")]
        return top.astype(np.int64), scores[top]


def saved_tokens(folder: Path) -> list[list[str]] | None:
    """The chunk tokens an index folder was built from, or None when it has none (an older index)."""
    path = folder / TOKENS_FILE
    if not path.is_file():
        return None
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]
