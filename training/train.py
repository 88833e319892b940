"""Fitting the reader: epochs of fresh reads, validation on held-out passages, a checkpoint per epoch, the best kept.

Validation reads each held-out question twice, as at question time: against
every chunk of its own passage ("whole passage", the gold-paragraph figure) and
against the top 3 chunks retrieval found ("retrieved"); the best span of each is
scored with the official CMRC 2018 scorer. It also reads the top 3 chunks of a
search that leaves the question's passage out (no answer there) and reports how
well the "no answer" score tells the two apart. The epoch kept is the one with
the best mean of the two F1s. Checkpoints (safetensors and JSON, no pickle) let
``--resume`` go on after the last finished epoch.
"""

from __future__ import annotations

import json
import logging
import random
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rag.answer.reading import char_span, span_band, top_spans
from rag.evaluation.cmrc_scorer import exact_match, f1_score
from training.model import CLOSED, NEG, ReaderModel, span_scores
from training.reads import Example, ReadMaker
from training.states import StateStore

_log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    """Hyper-parameters of one training run."""

    width: int = 192
    head_layers: int = 2
    dropout: float = 0.1
    max_span: int = 64
    pair: int = 32
    epochs: int = 3
    batch_tokens: int = 6000  # passage tokens per batch (reads differ in length)
    lr: float = 1e-3  # the head's learning rate
    layer_lr: float = 0.0  # the encoder's top layers; 0 keeps them frozen
    cross_lr: float = 0.0  # the cross-segment attention biases; 0 keeps them as they start
    cross_init: float = CLOSED  # their start: closed (each segment alone), or e.g. -4 (nearly closed)
    weight_decay: float = 0.01
    whole: float = 0.35  # share of positives that read the whole passage (else the retrieved chunks)
    negatives: float = 0.6  # negative reads per question per epoch
    seed: int = 0
    max_steps: int = 0  # 0: whole epochs; else stop after this many steps (the smoke test)
    max_questions: int = 0  # 0: every training question; else the first N (quick trials)
    pointer_weight: float = 1.0  # the start and end losses beside the span loss (loss_of)


@dataclass
class History:
    """What a run measured: per-epoch seconds, loss and validation figures, and the epoch kept."""

    epochs: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: int = 0


def build_model(config: TrainConfig, upper_layers: list[torch.nn.Module] | None) -> ReaderModel:
    """A reader with the encoder's top layers copied in (``upper_layers``: transformers layers)."""
    torch.manual_seed(config.seed)
    model = ReaderModel(upper=len(upper_layers or []) or 2, width=config.width, head_layers=config.head_layers,
                        dropout=config.dropout, max_span=config.max_span, pair=config.pair)
    for mine, theirs in zip(model.layers, upper_layers or [], strict=False):
        mine.load_hf(theirs)
    with torch.no_grad():
        model.cross.fill_(config.cross_init)
    return model


def to_torch(batch: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """A batch's arrays as tensors."""
    return {k: torch.from_numpy(v) for k, v in batch.items()}


def forward(model: ReaderModel, t: dict[str, torch.Tensor]) -> tuple[torch.Tensor, ...]:
    """The model's outputs on a batch."""
    return model(t["passage"], t["passage_mask"], t["segments"], t["question"], t["question_mask"], t["match"])


def loss_of(outputs: tuple[torch.Tensor, ...], t: dict[str, torch.Tensor], pointer_weight: float = 1.0) -> torch.Tensor:
    """Mean negative log-probability of the gold spans (or of "no answer") over every span and "no answer",
    plus ``pointer_weight`` times that of their first and last tokens under the start and end logits alone.

    The span softmax (tens of thousands of spans a read) alone learnt slowly: one epoch over
    frozen layers reached F1 37.5 on the held-out passages, where the first head's separate
    start and end losses had reached 43.8. The pointer terms give each token its own gradient.
    """
    start, end, u, v, length = outputs
    scores = span_scores(start, end, u, v, length, t["valid"], t["segments"]).flatten(1)
    null = (start[:, 0] + end[:, 0])[:, None]
    everything = torch.cat([null, scores], dim=1)
    gold = torch.where(t["gold"].flatten(1), scores, torch.full_like(scores, NEG))
    gold = torch.where(t["answerable"][:, None], torch.cat([torch.full_like(null, NEG), gold], 1),
                       torch.cat([null, torch.full_like(scores, NEG)], 1))
    loss = (torch.logsumexp(everything, 1) - torch.logsumexp(gold, 1)).mean()
    if pointer_weight:
        firsts = t["gold"].any(-1)  # [B, T]: tokens that begin a gold span
        width = t["gold"].shape[-1]
        lasts = torch.zeros_like(firsts)
        for k in range(width):  # a gold span (i, k) ends at token i + k
            hit = t["gold"][:, : firsts.shape[1] - k, k]
            lasts[:, k:] |= hit
        for logits, wanted in ((start, firsts), (end, lasts)):
            wanted = wanted.clone()
            wanted[:, 0] = ~t["answerable"]
            picked = torch.where(wanted, logits, torch.full_like(logits, NEG))
            loss = loss + pointer_weight * (torch.logsumexp(logits, 1) - torch.logsumexp(picked, 1)).mean()
    return loss


def batches(maker: ReadMaker, examples: list[Example], budget: int, rng: random.Random) -> list[list[Example]]:
    """Batches of similar length within ``budget`` padded tokens, in random order."""
    out: list[list[Example]] = []
    pool = 2000
    for i in range(0, len(examples), pool):
        part = sorted(examples[i: i + pool], key=maker.tokens)
        current: list[Example] = []
        for ex in part:
            if current and (len(current) + 1) * maker.tokens(ex) > budget:
                out.append(current)
                current = []
            current.append(ex)
        if current:
            out.append(current)
    rng.shuffle(out)
    return out


class Trainer:
    """One training run: model, optimiser, schedule, checkpoints (see the module docstring)."""

    def __init__(self, config: TrainConfig, maker: ReadMaker, train_part: list[int], val_part: list[int],
                 states: StateStore, question_states: StateStore, model: ReaderModel, work: Path) -> None:
        self.config, self.maker, self.states, self.question_states = config, maker, states, question_states
        self.train_part, self.val_part, self.model, self.work = train_part, val_part, model, work
        groups = [{"params": list(model.head.parameters()), "lr": config.lr}]
        if config.layer_lr > 0:
            groups.append({"params": list(model.layers.parameters()), "lr": config.layer_lr})
        else:
            model.layers.requires_grad_(False)
        if config.cross_lr > 0:
            groups.append({"params": [model.cross], "lr": config.cross_lr, "weight_decay": 0.0})
        else:
            model.cross.requires_grad_(False)
        self.optimiser = torch.optim.AdamW(groups, weight_decay=config.weight_decay)
        per_epoch = len(batches(maker, maker.epoch(train_part, random.Random(0), config.whole, config.negatives),
                                config.batch_tokens, random.Random(0)))
        self.total = config.max_steps or per_epoch * config.epochs
        warmup = max(1, self.total // 16)
        self.schedule = torch.optim.lr_scheduler.LambdaLR(
            self.optimiser, lambda s: min((s + 1) / warmup, max(0.02, (self.total - s) / max(1, self.total - warmup))))
        self.history, self.step, self.epoch = History(), 0, 0

    def run(self) -> History:
        """Train the remaining epochs (after ``resume``), checkpointing each; load the best epoch's weights."""
        config = self.config
        while self.epoch < config.epochs and not (config.max_steps and self.step >= config.max_steps):
            self.epoch += 1
            rng = random.Random(config.seed * 1000 + self.epoch)
            began, losses = time.perf_counter(), []
            self.model.train()
            examples = self.maker.epoch(self.train_part, rng, config.whole, config.negatives)
            tokens = 0
            for batch in batches(self.maker, examples, config.batch_tokens, rng):
                losses.append(self._step(batch))
                tokens += sum(self.maker.tokens(ex) + len(self.maker.question_ids[ex.question]) for ex in batch)
                if self.step % 50 == 0:
                    rate = tokens / (time.perf_counter() - began)
                    _log.info("epoch %d step %d/%d loss %.3f, %.0f tokens/s", self.epoch, self.step, self.total,
                              float(np.mean(losses[-50:])), rate)
                if config.max_steps and self.step >= config.max_steps:
                    break
            record: dict[str, Any] = {"epoch": self.epoch, "seconds": round(time.perf_counter() - began, 1),
                                      "loss": round(float(np.mean(losses)), 4),
                                      "tokens_per_second": round(tokens / (time.perf_counter() - began))}
            if self.val_part:
                record.update(validate(self.model, self.maker, self.val_part, self.states, self.question_states))
            self.history.epochs.append(record)
            _log.info("epoch %d: %s", self.epoch, record)
            score = record.get("score", -record["loss"])
            if not self.history.best_epoch or score > self._best_score():
                self.history.best_epoch = self.epoch
                save_weights(self.model, self.work / "best.safetensors")
            self.checkpoint()
        if (self.work / "best.safetensors").is_file():
            load_weights(self.model, self.work / "best.safetensors")
        self.model.eval()
        return self.history

    def _best_score(self) -> float:
        record = self.history.epochs[self.history.best_epoch - 1]
        return float(record.get("score", -record["loss"]))

    def _step(self, examples: list[Example]) -> float:
        t = to_torch(self.maker.batch(examples, self.states, self.question_states))
        loss = loss_of(forward(self.model, t), t, self.config.pointer_weight)
        self.optimiser.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for g in self.optimiser.param_groups for p in g["params"]], 1.0)
        self.optimiser.step()
        self.schedule.step()
        self.step += 1
        return float(loss.detach())

    # -- checkpoints ------------------------------------------------------------------------

    def checkpoint(self) -> None:
        """Write the model, the optimiser's state and the run's position after an epoch."""
        from safetensors.torch import save_file

        folder = self.work / "checkpoint"
        folder.mkdir(parents=True, exist_ok=True)
        save_weights(self.model, folder / "model.safetensors")
        tensors, scalars = {}, {}
        for i, (param, state) in enumerate(self.optimiser.state.items()):
            del param
            for key, value in state.items():
                if torch.is_tensor(value):
                    tensors[f"{i}.{key}"] = value.contiguous()
                else:
                    scalars[f"{i}.{key}"] = value
        save_file(tensors, str(folder / "optimiser.safetensors"))
        record = {"epoch": self.epoch, "step": self.step, "scalars": scalars, "config": asdict(self.config),
                  "history": asdict(self.history), "schedule": self.schedule.state_dict()["last_epoch"]}
        (folder / "position.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")

    def resume(self) -> bool:
        """Go on from the last checkpoint in the work folder; False when there is none."""
        from safetensors.torch import load_file

        folder = self.work / "checkpoint"
        if not (folder / "position.json").is_file():
            return False
        record = json.loads((folder / "position.json").read_text(encoding="utf-8"))
        load_weights(self.model, folder / "model.safetensors")
        tensors = load_file(str(folder / "optimiser.safetensors"))
        params = [p for g in self.optimiser.param_groups for p in g["params"]]
        for i, param in enumerate(params):
            state = {k.split(".", 1)[1]: v for k, v in tensors.items() if k.split(".", 1)[0] == str(i)}
            state.update({k.split(".", 1)[1]: v for k, v in record["scalars"].items() if k.split(".", 1)[0] == str(i)})
            if state:
                self.optimiser.state[param] = state
        self.epoch, self.step = int(record["epoch"]), int(record["step"])
        with warnings.catch_warnings():  # fast-forwarding the schedule, not skipping a step of it
            warnings.simplefilter("ignore")
            for _ in range(int(record["schedule"])):
                self.schedule.step()
        self.history = History([dict(e) for e in record["history"]["epochs"]], int(record["history"]["best_epoch"]))
        _log.info("resumed after epoch %d (step %d)", self.epoch, self.step)
        return True


def save_weights(model: torch.nn.Module, path: Path) -> None:
    """The model's weights as safetensors."""
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))


def load_weights(model: torch.nn.Module, path: Path) -> None:
    """Load weights written by ``save_weights``."""
    from safetensors.torch import load_file

    model.load_state_dict(load_file(str(path)))


# -- validation ------------------------------------------------------------------------------


@torch.no_grad()
def read_examples(model: ReaderModel, maker: ReadMaker, examples: list[Example], states: StateStore,
                  question_states: StateStore, budget: int = 8000) -> list[tuple[str, float, float]]:
    """For each example: its best span's text, its score and the read's "no answer" score (null - best)."""
    model.eval()
    out: list[tuple[str, float, float]] = [("", 0.0, 0.0)] * len(examples)
    order = sorted(range(len(examples)), key=lambda i: maker.tokens(examples[i]))
    i = 0
    while i < len(order):
        group = [order[i]]
        while i + len(group) < len(order):
            following = examples[order[i + len(group)]]
            if (len(group) + 1) * maker.tokens(following) > budget:
                break
            group.append(order[i + len(group)])
        batch = maker.batch([examples[g] for g in group], states, question_states)
        start, end, u, v, length = (x.numpy() for x in forward(model, to_torch(batch)))
        for row, g in enumerate(group):
            out[g] = best_text(maker, examples[g], start[row], end[row], u[row], v[row], length[row])
        i += len(group)
    return out


def best_text(maker: ReadMaker, example: Example, start: np.ndarray, end: np.ndarray, u: np.ndarray,
              v: np.ndarray, length: np.ndarray) -> tuple[str, float, float]:
    """The best span of one read as text, with its score and the null score."""
    n = maker.tokens(example)
    segments = np.concatenate([np.full(len(maker.segments[s].ids), k + 1) for k, s in enumerate(example.segments)])
    valid = np.concatenate([maker.segments[s].offsets[:, 0] >= 0 for s in example.segments])
    band = span_band(start[:n], end[:n], u[:n], v[:n], length, valid, segments)
    spans = top_spans(band, 1)
    if not spans:
        return "", 0.0, 0.0
    first, last, value = spans[0]
    k = int(segments[first]) - 1
    seg = maker.segments[example.segments[k]]
    offset = sum(len(maker.segments[s].ids) for s in example.segments[:k])
    a, b = char_span(seg.offsets, first - offset, last - offset, seg.text)
    return seg.text[a:b], value, float(start[0] + end[0]) - value


def validation_reads(model: ReaderModel, maker: ReadMaker, subset: list[int], states: StateStore,
                     question_states: StateStore) -> dict[str, list[tuple[str, float, float]]]:
    """Each held-out question read three ways: its whole passage, the top 3 retrieved chunks, and the top 3
    of a search without its passage; per way, (best span text, its score, null score) in ``subset`` order."""
    out = {}
    for kind in ("whole", "retrieved", "held_out"):
        examples = []
        for qi in subset:
            q = maker.questions[qi]
            chunks = (maker.passage_chunks(qi) if kind == "whole" else
                      list(q.hits[:3]) if kind == "retrieved" else list(q.held_out[:3]))
            examples.append(Example(qi, tuple(s for c in chunks for s in maker.of_chunk[c]), (), kind))
        out[kind] = read_examples(model, maker, examples, states, question_states)
    return out


def validate(model: ReaderModel, maker: ReadMaker, subset: list[int], states: StateStore,
             question_states: StateStore) -> dict[str, Any]:
    """Official F1/EM of whole-passage and retrieved reads, and how the null score separates held-out reads."""
    reads = validation_reads(model, maker, subset, states, question_states)
    figures: dict[str, Any] = {}
    golds = [[a[0] for a in maker.questions[qi].answers] for qi in subset]
    for kind in ("whole", "retrieved"):
        pairs = list(zip(reads[kind], golds, strict=True))
        figures[f"{kind}_f1"] = round(100 * float(np.mean([f1_score(r[0], g) for r, g in pairs])), 2)
        figures[f"{kind}_em"] = round(100 * float(np.mean([exact_match(r[0], g) for r, g in pairs])), 2)
    answerable = np.array([r[2] for r in reads["retrieved"]])
    unanswerable = np.array([r[2] for r in reads["held_out"]])
    threshold = float(np.quantile(answerable, 0.97))
    figures["null_recall_at_3pct"] = round(float(np.mean(unanswerable > threshold)), 4)
    figures["null_auc"] = round(_auc(answerable, unanswerable), 4)
    figures["score"] = round((figures["whole_f1"] + figures["retrieved_f1"]) / 2, 2)
    return figures


def _auc(low: np.ndarray, high: np.ndarray) -> float:
    """Probability that a random ``high`` value exceeds a random ``low`` one (ties count half)."""
    values = np.concatenate([low, high])
    ranks = np.argsort(np.argsort(values)) + 1.0
    return float((ranks[len(low):].sum() - len(high) * (len(high) + 1) / 2) / max(1, len(low) * len(high)))

