"""What each ``rag`` command does with parsed arguments: call the library, print the result."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from rag.errors import RagError
from rag.kb.knowledge_base import KnowledgeBase
from rag.serialize import answer_to_json, hit_to_json
from rag.settings import Settings


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run the command named in ``args``; RagError for a command there is none of."""
    handler = {
        "index": cmd_index, "search": cmd_search, "ask": cmd_ask, "status": cmd_status, "serve": cmd_serve,
        "eval": cmd_eval,
    }.get(args.command)
    if handler is None:
        raise RagError(f"unknown command {args.command!r}; run `rag --help` for the commands")
    return handler(args, settings)


def _dump(data: Any) -> None:
    print(json.dumps(data, ensure_ascii=False))


def cmd_index(args: argparse.Namespace, settings: Settings) -> int:
    """Build or update the index; with --watch, keep doing it when files change."""
    kb = KnowledgeBase(settings)
    code = _index_once(kb, args)
    if args.watch:
        from rag.ingest.watch import watch_corpus

        print(f"watching {settings.corpus_dir} for changes (Ctrl+C to stop)", flush=True)
        watch_corpus(settings.corpus_dir, lambda: _index_once(kb, args),
                     on_error=lambda exc: print(f"error: {exc}", flush=True))
    return code


def _index_once(kb: KnowledgeBase, args: argparse.Namespace) -> int:
    from rag.cli.progress import stage_bars

    with stage_bars({"embed": "embedding", "write": "writing"}) as progress:
        report = kb.build(rebuild=args.rebuild, progress=None if args.json else progress)
    for line in report.warnings:
        print(f"warning: {line}", file=sys.stderr)
    for line in report.errors:
        print(f"skipped: {line}", file=sys.stderr)
    if args.json:
        _dump({
            "version": report.version, "up_to_date": report.up_to_date, "articles": report.articles,
            "chunks": report.chunks, "sentences": report.sentences, "embedded": report.embedded,
            "from_cache": report.from_cache, "added": report.added, "changed": report.changed,
            "removed": report.removed, "errors": report.errors, "warnings": report.warnings,
            "seconds": round(report.seconds, 3), "store": report.store,
            "store_inserted": report.store_inserted, "store_deleted": report.store_deleted,
        })
    elif report.up_to_date:
        print(f"index is up to date ({report.articles} articles, {report.chunks} chunks); nothing embedded")
        if report.store_inserted or report.store_deleted:
            print(f"milvus: wrote {report.store_inserted} chunks from the embedding cache, "
                  f"removed {report.store_deleted} old articles")
    else:
        parts = []
        for label, items in (("added", report.added), ("changed", report.changed), ("removed", report.removed)):
            if items:
                parts.append(f"{label} {', '.join(items)}")
        print(f"indexed {report.articles} articles into {report.chunks} chunks in {report.seconds:.1f}s: "
              f"embedded {report.embedded} texts, {report.from_cache} from cache"
              + (f"; {'; '.join(parts)}" if parts else ""))
        print(f"index version {report.version} in {kb.settings.index_dir}")
        if report.store == "milvus":
            print(f"milvus: wrote {report.store_inserted} chunks, removed {report.store_deleted} old articles")
    return 1 if report.errors else 0


def cmd_search(args: argparse.Namespace, settings: Settings) -> int:
    """Print ranked chunks."""
    if not args.question.strip():
        raise RagError("the question is empty; type some words to search for")
    result = KnowledgeBase(settings).search(args.question, articles=args.articles)
    if args.json:
        for hit in result.hits:
            _dump(hit_to_json(hit))
        return 0
    if not result.hits:
        print("no matching passage")
    for hit in result.hits:
        c = hit.chunk
        paras = ",".join(str(p) for p in c.paragraphs)
        where = f"{c.article} · {c.section or c.title} · ¶{paras}"
        print(f"[{hit.rank}] {hit.score:.4f}  {where}")
        print(f"    {c.text.replace(chr(10), ' ')}")
    return 0


def cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    """Print an answer with its citations."""
    if not args.question.strip():
        raise RagError("the question is empty; ask something about the articles")
    kb = KnowledgeBase(settings)
    if args.generative:
        from rag.answer.generative import collect_stream

        answer = collect_stream(kb.ask_generative(args.question, articles=args.articles),
                                None if args.json else sys.stdout)
    else:
        answer = kb.ask(args.question, articles=args.articles)
    if args.json:
        _dump(answer_to_json(answer))
        return 0
    if not args.generative:
        print(answer.text)
    if answer.refused:
        if answer.hits:
            print("\n可能相关的段落:")
            for hit in answer.hits[:3]:
                chunk = hit.chunk
                paras = ",".join(map(str, chunk.paragraphs))
                print(f"  - {chunk.title} · {chunk.section} · 第{paras}段: {chunk.text[:60]}…")
        return 0
    print()
    for c in answer.citations:
        page = f" · 第{c.page}页" if c.page else ""
        print(f"[{c.n}] {c.title} · {c.section or '正文'} · 第{c.paragraph}段{page} ({c.article})")
    if answer.uncited:
        print("注意: 回答没有引用任何检索到的段落, 请核实。")
    return 0


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    """Print what the index holds."""
    status = KnowledgeBase(settings).status()
    if args.json:
        _dump(status)
        return 0
    width = max(map(len, status), default=0)
    for key, value in status.items():
        print(f"{key:{width}} {value}")
    return 0


def cmd_eval(args: argparse.Namespace, settings: Settings) -> int:
    """Evaluate a question set, or compare two runs (``rag eval``)."""
    from rag.cli.eval import run_eval

    return run_eval(args, settings)


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    """Start the browser chat."""
    from rag.ui.server import serve

    started = time.perf_counter()
    serve(settings, started=started)
    return 0
