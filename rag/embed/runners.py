"""What runs the model for ``rag.embed.encoder.Encoder``: one runner per backend, and the tokenizer they share.

* ``TorchRunner``: sentence-transformers on the CPU, fp32;
* ``OnnxRunner``: onnxruntime over the int8 export, one text per run.

Both turn prefixed texts into L2-normalised vectors (``embed``) and token ids
into the last layer's token states (``token_states``), from which
``rag.embed.pooling`` makes a passage's and its sentences' vectors.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from rag.embed.pooling import kept_tokens, normalise_rows


class Runner(Protocol):
    """Turns already-prefixed texts into L2-normalised float32 vectors, or token ids into token states."""

    def embed(self, texts: list[str]) -> np.ndarray:
        """Embed ``texts`` (one row per text)."""
        ...

    def token_states(self, token_ids: list[list[int]]) -> list[np.ndarray]:
        """The last layer's states of each text's tokens (already cut to the model's limit), float32."""
        ...


class TorchRunner:
    """sentence-transformers on the CPU, fp32."""

    def __init__(self, st: Any) -> None:
        self.st = st

    def embed(self, texts: list[str]) -> np.ndarray:
        """Embed one batch with SentenceTransformer.encode (prefixes already applied)."""
        out = self.st.encode(texts, batch_size=max(len(texts), 1), show_progress_bar=False,
                             convert_to_numpy=True, normalize_embeddings=False)
        # Normalised here too: a model folder without a Normalize module must
        # still give cosine-ready vectors.
        return normalise_rows(out)

    def token_states(self, token_ids: list[list[int]]) -> list[np.ndarray]:
        """One padded batch through the model's transformer (the module before its pooling)."""
        import torch

        longest = max(len(ids) for ids in token_ids)
        pad = self.st.tokenizer.pad_token_id
        pad = 0 if pad is None else pad  # masked out: any id will do
        ids = torch.tensor([row + [pad] * (longest - len(row)) for row in token_ids])
        mask = torch.tensor([[1] * len(row) + [0] * (longest - len(row)) for row in token_ids])
        with torch.inference_mode():
            states = self.st[0].auto_model(input_ids=ids, attention_mask=mask).last_hidden_state
        return [states[i, : len(row)].float().numpy() for i, row in enumerate(token_ids)]


class OnnxRunner:
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
        states = self.token_states([kept_tokens(e.ids, self.max_tokens) for e in encodings])
        return normalise_rows(np.stack([s.mean(axis=0) for s in states]))

    def token_states(self, token_ids: list[list[int]]) -> list[np.ndarray]:
        """Each text in a run of its own, ``workers`` of them at once (see ``embed``)."""
        if self.workers == 1 or len(token_ids) == 1:
            return [self._states_one(ids) for ids in token_ids]
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="rag-onnx")
        return list(self._pool.map(self._states_one, token_ids))

    def _states_one(self, token_ids: list[int]) -> np.ndarray:
        ids = np.asarray([token_ids], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
        if "token_type_ids" in self.input_names:
            feeds["token_type_ids"] = np.zeros_like(ids)
        return np.asarray(self.session.run(None, feeds)[0][0])


def plain_tokenizer(folder: Path, st: Any) -> Any:
    """The model's ``tokenizers`` tokenizer, never truncating (the model's own may be set to); None without one."""
    from tokenizers import Tokenizer

    backend = getattr(st.tokenizer, "backend_tokenizer", None)
    if (folder / "tokenizer.json").is_file():
        tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    elif backend is not None:
        tok = Tokenizer.from_str(backend.to_str())  # a private copy: truncation settings change per call
    else:
        return None  # a slow (Python) tokenizer: counted through transformers, no offsets
    tok.no_padding()
    tok.no_truncation()
    return tok


def span_pooling_refusal(st: Any) -> str | None:
    """Why a sentence-transformers model's passage vector is not a plain mean of its token states, or None.

    Pooling a span's tokens by mean is the model's own pooling only when the
    model is a transformer, a mean pooling over every token (the prompt's
    included) and at most a normalisation: e5 is; a CLS-pooled model (bge) is not.
    """
    names = [type(module).__name__ for module in st]
    if names not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]):
        return f"its modules are {' → '.join(names)}, not a transformer, a mean pooling and a normalisation"
    config = st[1].get_config_dict()
    # sentence-transformers 6 writes "pooling_mode"; older folders one flag per mode
    mode = config.get("pooling_mode") or "+".join(
        key.removeprefix("pooling_mode_") for key, on in config.items() if key.startswith("pooling_mode_") and on)
    if mode not in ("mean", "mean_tokens") or not config.get("include_prompt", True):
        return f"it pools by {mode}{'' if config.get('include_prompt', True) else ' without its prompt'}, not by mean"
    return None
