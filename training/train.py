"""Fitting the head: epochs over fresh examples, validation on held-out passages, the best epoch kept.

Validation reads each held-out question's whole passage (every window, no crop)
as the shipped reader does, takes the best span over its windows, and scores it
with the official CMRC 2018 scorer. The length prior is tuned on the same
held-out passages afterwards (``tune_prior``).
"""

from __future__ import annotations

import logging
import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from rag.answer.reading import best_spans, char_span, length_prior
from rag.evaluation.cmrc_scorer import exact_match, f1_score
from training.examples import Example, ExampleMaker
from training.export import load_head_onnx
from training.model import ReaderHead

_log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    """Hyper-parameters of one training run."""

    width: int = 160
    heads: int = 4
    layers: int = 2
    dropout: float = 0.1
    used_features: int = 768
    epochs: int = 5
    batch_size: int = 32
    lr: float = 2e-3
    weight_decay: float = 0.01
    negatives: float = 0.6
    crop: float = 0.9
    max_span: int = 30
    seed: int = 0
    max_steps: int = 0  # 0: whole epochs; else stop after this many steps (the smoke test)
    init: str = ""  # a head's ONNX file (e.g. the shipped rag/data/reader/reader_head.onnx) to start from


@dataclass
class WindowLogits:
    """Pointer logits of one question over one window, for span search after training."""

    question: int
    window: int
    start: np.ndarray
    end: np.ndarray


@dataclass
class History:
    """What a run measured: per-epoch seconds and validation figures, and the epoch kept."""

    epochs: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0


def to_torch(batch: object) -> list[torch.Tensor]:
    """The head's five inputs of a batch as tensors."""
    names = ("passage", "passage_mask", "question", "question_mask", "match")
    return [torch.from_numpy(getattr(batch, name)) for name in names]


def train(config: TrainConfig, maker: ExampleMaker, validation: ExampleMaker | None) -> tuple[ReaderHead, History]:
    """Train for ``config.epochs`` epochs; return the head of the best validation epoch and the history."""
    torch.manual_seed(config.seed)
    rng = random.Random(config.seed)
    model = ReaderHead(width=config.width, heads=config.heads, layers=config.layers, dropout=config.dropout,
                       used_features=config.used_features)
    if config.init:
        load_head_onnx(model, Path(config.init))
    optimiser = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    per_epoch = math.ceil(len(maker.epoch(random.Random(0), config.negatives, config.crop)) / config.batch_size)
    total = config.max_steps or per_epoch * config.epochs
    warmup = max(1, total // 20)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda s: min((s + 1) / warmup, max(0.0, (total - s) / max(1, total - warmup))))

    def validated(held_out: ExampleMaker) -> dict[str, float]:
        return score(held_out, predict_logits(model, held_out), length_prior(config.max_span, None))

    def snapshot() -> dict[str, torch.Tensor]:
        return {k: v.clone() for k, v in model.state_dict().items()}

    history, best, best_state, step = History(), -1.0, None, 0
    if config.init and validation is not None:  # a warm start is kept unless an epoch beats it
        start = validated(validation)
        history.epochs.append({"epoch": 0, **start})
        _log.info("epoch 0 (%s): %s", config.init, start)
        best, best_state = start["f1"], snapshot()
    for epoch in range(1, config.epochs + 1):
        began = time.perf_counter()
        model.train()
        batches = maker.batches(maker.epoch(rng, config.negatives, config.crop), config.batch_size, rng)
        losses = []
        for batch in batches:
            loss = _step(model, maker, batch, optimiser)
            schedule.step()
            losses.append(loss)
            step += 1
            if step % 100 == 0:
                _log.info("epoch %d step %d loss %.3f", epoch, step, float(np.mean(losses[-100:])))
            if config.max_steps and step >= config.max_steps:
                break
        record = {"epoch": epoch, "seconds": round(time.perf_counter() - began, 1),
                  "loss": round(float(np.mean(losses)), 4)}
        if validation is not None:
            record.update(validated(validation))
        history.epochs.append(record)
        _log.info("epoch %d: %s", epoch, record)
        metric = record.get("f1", -float(record["loss"]))
        if metric > best:
            best, best_state, history.best_epoch = metric, snapshot(), epoch
        if config.max_steps and step >= config.max_steps:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return model, history


def _step(model: ReaderHead, maker: ExampleMaker, examples: list[Example], optimiser: torch.optim.Optimizer) -> float:
    batch = maker.batch(examples)
    start, end = model(*to_torch(batch))
    loss_fn = torch.nn.functional.cross_entropy
    loss = loss_fn(start, torch.from_numpy(batch.first)) + loss_fn(end, torch.from_numpy(batch.last))
    optimiser.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimiser.step()
    return float(loss.detach())


@torch.no_grad()
def predict_logits(model: ReaderHead, maker: ExampleMaker, batch_size: int = 16) -> list[WindowLogits]:
    """Logits of every subset question over every window of its own passage (no crop)."""
    model.eval()
    examples = [Example(qi, w, 0, maker.text_length(w), 0, 0)
                for qi in maker.subset_questions for w in maker.windows_of[maker.questions[qi][0]]]
    out = []
    for i in range(0, len(examples), batch_size):
        part = examples[i: i + batch_size]
        start, end = model(*to_torch(maker.batch(part)))
        for row, ex in enumerate(part):
            n = maker.text_length(ex.window) + 4
            out.append(WindowLogits(ex.question, ex.window, start[row, :n].numpy(), end[row, :n].numpy()))
    return out


def predictions(maker: ExampleMaker, logits: list[WindowLogits], prior: np.ndarray) -> dict[int, str]:
    """The best span of each question over its windows, as text."""
    best: dict[int, tuple[float, str]] = {}
    for item in logits:
        offsets = maker.offsets(item.window)
        spans = best_spans(item.start, item.end, offsets, prior)
        if not spans:
            continue
        first, last, value = spans[0]
        context = maker.passages[maker.questions[item.question][0]].context
        start, end = char_span(offsets, first, last, context)
        if item.question not in best or value > best[item.question][0]:
            best[item.question] = (value, context[start:end])
    return {q: text for q, (_, text) in best.items()}


def score(maker: ExampleMaker, logits: list[WindowLogits], prior: np.ndarray) -> dict[str, float]:
    """Official EM and F1 (x100) of the best spans, averaged over the subset's questions."""
    predicted = predictions(maker, logits, prior)
    f1s, ems = [], []
    for qi in maker.subset_questions:
        golds = [a.text for a in maker.questions[qi][1].answers]
        text = predicted.get(qi, "")
        f1s.append(f1_score(text, golds))
        ems.append(exact_match(text, golds))
    return {"f1": round(100 * float(np.mean(f1s)), 2), "em": round(100 * float(np.mean(ems)), 2)}


def tune_prior(train_maker: ExampleMaker, maker: ExampleMaker, logits: list[WindowLogits],
               max_span: int) -> tuple[list[float], dict[str, float]]:
    """A length prior ``beta * log p(length)``, p from the training answers, beta chosen on ``maker``'s logits."""
    counts = np.ones(max_span)
    for qi in train_maker.subset_questions:
        for _, first, last in train_maker.positives[qi][:1]:
            if last - first < max_span:
                counts[last - first] += 1
    log_p = np.log(counts / counts.sum())
    log_p -= log_p.max()
    best_beta, best = 0.0, score(maker, logits, length_prior(max_span, None))
    for beta in (0.1, 0.2, 0.35, 0.5, 0.75, 1.0):
        figures = score(maker, logits, length_prior(max_span, list(beta * log_p)))
        if figures["f1"] > best["f1"]:
            best_beta, best = beta, figures
    _log.info("length prior: beta %.2f gives %s", best_beta, best)
    return [round(float(x), 4) for x in best_beta * log_p], best
