"""Linked questions on CMRC 2018 train: embedded as questions (query side) or as passages, and what they cost others.

Usage: python scripts/linked_questions.py --train PATH/TO/cmrc2018_train.json [--distractors 300] [--json FILE]

Pairs: two questions on one train passage whose gold answer spans overlap
(「执导的电影中，较为出名的有哪些？」 and 「电影代表作是哪部？」). The passages of
every pair, and ``--distractors`` more train passages, are indexed into a
temporary folder. For each pair, both ways: the second question is linked to
the chunk holding its answer, then the first is searched; it counts when the
first hit holds the first question's answer. Three ways are compared on the
same questions: no link, the link embedded as a question (``query: ``, what
the build does), the link embedded as a passage. Then every link at once, and
the other questions of those passages searched: how often a link takes rank 1
from the right chunk (what a link costs the questions it was not meant for).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

from rag.embed.encoder import Encoder
from rag.evaluation.datasets import parse_squad, passage_articles
from rag.evaluation.questions import Passage, Question
from rag.kb.knowledge_base import KnowledgeBase
from rag.records import Chunk
from rag.search.linked import LINKED_MARGIN
from rag.search.searcher import Searcher
from rag.settings import Settings, load_settings
from rag.store.curation import LinkedQuestion, VersionCuration
from rag.store.curation_files import OVERRIDES_FILE, Override, override_to_json
from rag.store.versions import IndexVersion

MODES = ("lexical", "dense", "hybrid")


def span(q: Question) -> tuple[int, int] | None:
    """The first gold answer's span in its passage."""
    return next((a.span for a in q.answers if a.span is not None), None)


def holds(chunk: Chunk, q: Question) -> bool:
    """Whether ``chunk`` (of q's passage) holds q's answer span whole."""
    s = span(q)
    return s is not None and chunk.article == q.article and chunk.start <= s[0] and s[1] <= chunk.end


def overlapping_pairs(questions: list[Question]) -> list[tuple[Question, Question]]:
    """Questions of one passage whose answer spans overlap, each pair once."""
    by_passage: dict[str, list[Question]] = {}
    for q in questions:
        if span(q) is not None:
            by_passage.setdefault(q.article, []).append(q)
    pairs = []
    for qs in by_passage.values():
        for i, a in enumerate(qs):
            for b in qs[i + 1 :]:
                sa, sb = span(a), span(b)
                assert sa is not None and sb is not None
                if sa[0] < sb[1] and sb[0] < sa[1] and a.question != b.question:
                    pairs.append((a, b))
    return pairs


def with_links(version: IndexVersion, links: list[tuple[int, str]], vectors: np.ndarray) -> IndexVersion:
    """The version searched with ``links`` (chunk id, question) as linked keys whose vectors are ``vectors``."""
    linked = tuple(LinkedQuestion(c, q) for c, q in links)
    return replace(version, curation=VersionCuration(linked=linked, linked_vectors=vectors))


def searcher_of(version: IndexVersion, encoder: Encoder, settings: Settings, margin: float) -> Searcher:
    """A searcher of ``version`` whose linked keys lose ``margin`` of their score."""
    searcher = Searcher.from_settings(version, encoder, settings)
    searcher.linked_margin = margin
    return searcher


def first_holds(searcher: Searcher, q: Question, mode: str, vector: np.ndarray) -> bool:
    """Whether the first hit of ``q`` holds its answer."""
    hits = searcher.search(q.question, k=1, mode=mode, query_vector=vector).hits
    return bool(hits) and holds(hits[0].chunk, q)


def hit_rate(searcher: Searcher, questions: list[Question], mode: str, vectors: np.ndarray) -> float:
    """The share of ``questions`` whose first hit holds their answer."""
    right = sum(first_holds(searcher, q, mode, v) for q, v in zip(questions, vectors, strict=True))
    return round(right / max(len(questions), 1), 4)


def built_figures(kb: KnowledgeBase, passages: list[Passage], ways: list[tuple[Question, Question]],
                  by_passage: dict[str, list[Chunk]], others: list[Question], encoder: Encoder, settings: Settings,
                  as_query: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    """One way of each pair linked through a real build (dense and lexical legs), beside the dense leg's links only.

    The asked questions are those whose partner is linked; ``others`` as before.
    """
    one_way, seen = [], set()
    for asked, link in ways:
        key = frozenset((asked.id, link.id))
        if key not in seen:
            seen.add(key)
            one_way.append((asked, link))
    links = [(next(c for c in by_passage[b.article] if holds(c, b)), b.question) for _, b in one_way]
    asked = [a for a, _ in one_way]
    asked_vectors = np.stack([as_query[q.question] for q in asked])
    other_vectors = encoder.encode_queries([q.question for q in others])
    version = kb.version()
    dense_only = with_links(version, [(c.id, q) for c, q in links], np.stack([as_query[q] for _, q in links]))
    figures: dict[str, dict[str, float]] = {}
    rows = {}
    for name, v in (("none", version), ("dense-links", dense_only)):
        searcher = searcher_of(v, encoder, settings, LINKED_MARGIN)
        rows[name] = {mode: (hit_rate(searcher, asked, mode, asked_vectors),
                             hit_rate(searcher, others, mode, other_vectors)) for mode in MODES}
    by_chunk: dict[tuple[str, str], list[str]] = {}
    for c, q in links:
        by_chunk.setdefault((c.article, c.text), []).append(q)
    settings.curation_root.mkdir(parents=True, exist_ok=True)
    (settings.curation_root / OVERRIDES_FILE).write_text("".join(
        json.dumps(override_to_json(Override(a, t, False, "", tuple(qs))), ensure_ascii=False) + "\n"
        for (a, t), qs in by_chunk.items()), encoding="utf-8")
    kb.build(articles=passage_articles(passages))
    searcher = searcher_of(kb.version(), encoder, settings, LINKED_MARGIN)
    rows["built"] = {mode: (hit_rate(searcher, asked, mode, asked_vectors),
                            hit_rate(searcher, others, mode, other_vectors)) for mode in MODES}
    for mode in MODES:
        figures[f"one_way_{mode}_asked"] = {name: row[mode][0] for name, row in rows.items()}
        figures[f"one_way_{mode}_others"] = {name: row[mode][1] for name, row in rows.items()}
    print(f"one way: {len(asked)} asked questions, {len(links)} links")
    return figures


def main() -> int:
    """Measure and print; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", type=Path, required=True, help="CMRC 2018 train (SQuAD format)")
    parser.add_argument("--distractors", type=int, default=300, help="more train passages in the index")
    parser.add_argument("--margins", type=float, nargs="+", default=[0.0, 0.02, 0.04],
                        help="margins taken off query-side links' scores, each measured")
    parser.add_argument("--built", action="store_true",
                        help="also link one question of each pair through a real build (both legs) and measure")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the figures here")
    args = parser.parse_args()
    qs = parse_squad(args.train.read_text(encoding="utf-8"), args.train.name)
    pairs = overlapping_pairs(list(qs.questions))
    wanted = {q.article for pair in pairs for q in pair}
    passages = [p for p in qs.passages if p.id in wanted]
    passages += [p for p in qs.passages if p.id not in wanted][: args.distractors]
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(overrides={"corpus_dir": Path(tmp) / "corpus", "index_dir": Path(tmp) / "index"})
        encoder = Encoder.from_settings(settings)
        kb = KnowledgeBase(settings, encoder)
        kb.build(articles=passage_articles(passages))
        version = kb.version()
        by_passage: dict[str, list[Chunk]] = {}
        for c in version.chunks:
            by_passage.setdefault(c.article, []).append(c)
        ways = [(a, b) for a, b in pairs] + [(b, a) for a, b in pairs]  # (asked, linked)
        ways = [(a, b) for a, b in ways if any(holds(c, b) for c in by_passage[b.article])]
        texts = sorted({q.question for way in ways for q in way})
        as_query = dict(zip(texts, encoder.encode_queries(texts), strict=True))
        as_passage = dict(zip(texts, encoder.encode_passages(texts), strict=True))
        # (name, how the links are embedded, margin taken off their scores)
        variants = [("none", None, 0.0), ("passage", as_passage, 0.0)]
        variants += [(f"query-{m:.2f}", as_query, m) for m in args.margins]
        figures: dict[str, dict[str, float]] = {}
        for mode in ("dense", "hybrid"):
            counts = dict.fromkeys([name for name, _, _ in variants], 0)
            for asked, link in ways:
                target = next(c.id for c in by_passage[link.article] if holds(c, link))
                for name, vectors, margin in variants:
                    v = version if vectors is None else with_links(version, [(target, link.question)],
                                                                   vectors[link.question][None, :])
                    counts[name] += first_holds(searcher_of(v, encoder, settings, margin), asked, mode,
                                                as_query[asked.question])
            figures[f"linked_{mode}_hit@1"] = {k: round(n / len(ways), 4) for k, n in counts.items()}
        # Every link at once; the other questions of the same passages.
        links = [(next(c.id for c in by_passage[b.article] if holds(c, b)), b.question) for _, b in ways]
        in_pairs = {q.question for way in ways for q in way}
        others = [q for q in qs.questions if q.article in wanted and q.question not in in_pairs and span(q)]
        other_vectors = encoder.encode_queries([q.question for q in others])
        for mode in ("dense", "hybrid"):
            counts = {}
            for name, vectors, margin in variants:
                v = version if vectors is None else with_links(
                    version, links, np.stack([vectors[q] for _, q in links]))
                searcher = searcher_of(v, encoder, settings, margin)
                counts[name] = sum(first_holds(searcher, q, mode, vec) for q, vec in
                                   zip(others, other_vectors, strict=True))
            figures[f"others_{mode}_hit@1"] = {k: round(n / max(len(others), 1), 4) for k, n in counts.items()}
        if args.built:
            figures.update(built_figures(kb, passages, ways, by_passage, others, encoder, settings, as_query))
    print(f"{len(passages)} passages ({len(wanted)} with pairs), {len(version.chunks)} chunks; "
          f"{len(ways)} (asked, linked) ways; {len(others)} other questions")
    for name, row in figures.items():
        print(f"{name:20} " + "  ".join(f"{k} {v:.3f}" for k, v in row.items()))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
