"""What each ``rag`` command does with parsed arguments: call the library, print the result.

Whatever comes from articles, file names or settings is printed through
``terminal_line``/``terminal_text``: data, never escape codes.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from rag.cli.terminal import json_line, terminal_line, terminal_text
from rag.errors import RagError
from rag.kb.knowledge_base import KnowledgeBase
from rag.records import Answer
from rag.serialize import answer_to_json, hit_to_json
from rag.settings import Settings


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run the command named in ``args``; RagError for a command there is none of."""
    handler = {
        "index": cmd_index, "search": cmd_search, "ask": cmd_ask, "status": cmd_status, "serve": cmd_serve,
        "mcp": cmd_mcp, "eval": cmd_eval, "kb": cmd_kb,
    }.get(args.command)
    if handler is None:
        raise RagError(f"unknown command {args.command!r}; run `rag --help` for the commands")
    if args.command in ("index", "status") or (args.command == "eval" and getattr(args, "file", None)):
        settings = one_base(args, settings)
    return handler(args, settings)


def one_base(args: argparse.Namespace, settings: Settings) -> Settings:
    """The settings of the one knowledge base a command works on (``--kb NAME``, default ``default``)."""
    from rag.kb.registry import find_base, settings_for

    if len(settings.kb) != 1:
        raise RagError(f"`rag {args.command}` works on one knowledge base at a time; give one --kb "
                       f"(got {', '.join(settings.kb)})")
    spec = find_base(settings, settings.kb[0])
    if spec.origin != "default":
        given = [flag for flag, value in (("--index-dir", getattr(args, "index_dir", None)),
                                          ("a corpus folder", getattr(args, "corpus", None))) if value is not None]
        if given:
            raise RagError(f"knowledge base {spec.name!r} has its own folders ({spec.corpus_dir}, {spec.index_dir}): "
                           f"drop {' and '.join(given)}, or leave out --kb")
    return settings_for(settings, spec)


def _dump(data: Any) -> None:
    print(json_line(data))


def cmd_index(args: argparse.Namespace, settings: Settings) -> int:
    """Build or update the index; with --watch, keep doing it when files change."""
    kb = KnowledgeBase(settings)
    code = _index_once(kb, args)
    if args.watch:
        from rag.ingest.watch import watch_corpus

        print(f"watching {terminal_line(str(settings.corpus_dir))} for changes (Ctrl+C to stop)", flush=True)
        watch_corpus(settings.corpus_dir, lambda: _index_once(kb, args),
                     on_error=lambda exc: print(f"error: {terminal_line(str(exc))}", flush=True))
    return code


def _index_once(kb: KnowledgeBase, args: argparse.Namespace) -> int:
    from rag.cli.progress import stage_bars

    with stage_bars({"embed": "embedding", "write": "writing"}) as progress:
        report = kb.build(rebuild=args.rebuild, progress=None if args.json else progress)
    for line in report.warnings:
        print(f"warning: {terminal_line(line)}", file=sys.stderr)
    for line in report.errors:
        print(f"skipped: {terminal_line(line)}", file=sys.stderr)
    if args.json:
        _dump({
            "version": report.version, "up_to_date": report.up_to_date, "articles": report.articles,
            "chunks": report.chunks, "sentences": report.sentences, "embedded": report.embedded,
            "from_cache": report.from_cache, "pooled": report.pooled, "added": report.added, "changed": report.changed,
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
                parts.append(f"{label} {', '.join(map(terminal_line, items))}")
        print(f"indexed {report.articles} articles into {report.chunks} chunks in {report.seconds:.1f}s: "
              f"embedded {report.embedded} texts"
              + (f" ({report.pooled} sentence vectors pooled from their passes)" if report.pooled else "")
              + f", {report.from_cache} from cache"
              + (f"; {'; '.join(parts)}" if parts else ""))
        print(f"index version {report.version} in {terminal_line(str(kb.settings.index_dir))}")
        if report.store == "milvus":
            print(f"milvus: wrote {report.store_inserted} chunks, removed {report.store_deleted} old articles")
    # Skipped files are reported above, one line each, and the rest is indexed: that is a success (exit 0);
    # a build that cannot index anything raises instead (exit 2).
    return 0


def cmd_search(args: argparse.Namespace, settings: Settings) -> int:
    """Print ranked chunks."""
    if not args.question.strip():
        raise RagError("the question is empty; type some words to search for")
    if len(settings.kb) == 1:
        result = _one(settings).search(args.question, articles=args.articles)
    else:
        from rag.kb.several import KnowledgeBases

        if args.articles:
            raise RagError("--article works on one knowledge base at a time; give one --kb")
        result = KnowledgeBases(settings).search(args.question, settings.kb)
    if args.json:
        for hit in result.hits:
            _dump(hit_to_json(hit))
        return 0
    if not result.hits:
        print("no matching passage")
    for hit in result.hits:
        c = hit.chunk
        paras = ",".join(str(p) for p in c.paragraphs)
        where = f"{terminal_line(c.article)} · {terminal_line(c.section or c.title)} · ¶{paras}"
        print(f"[{hit.rank}] {hit.score:.4f}  {where}")
        print(f"    {terminal_line(c.text.replace(chr(10), ' '))}")
    return 0


def cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    """Print an answer with its citations."""
    if not args.question.strip():
        raise RagError("the question is empty; ask something about the articles")
    if len(settings.kb) == 1:
        kb = _one(settings)
        answer = _generative_answer(kb, args) if args.generative else kb.ask(args.question, articles=args.articles)
    else:
        from rag.kb.several import KnowledgeBases

        if args.generative:
            raise RagError("--generative works on one knowledge base at a time; give one --kb")
        answer = KnowledgeBases(settings).ask(args.question, settings.kb, articles=args.articles)
    if args.json:
        _dump(answer_to_json(answer))
        return 0
    if answer.short_answer is not None:
        print(f"答案：{terminal_line(answer.short_answer.text)} [{answer.short_answer.n}]\n")
    if not args.generative:
        print(terminal_text(answer.text))
    if answer.refused:
        if answer.hits:
            print("\n可能相关的段落:")
            for hit in answer.hits[:3]:
                chunk = hit.chunk
                paras = ",".join(map(str, chunk.paragraphs))
                print(f"  - {terminal_line(chunk.title)} · {terminal_line(chunk.section)} · 第{paras}段: "
                      f"{terminal_line(chunk.text[:60])}…")
        return 0
    print()
    for c in answer.citations:
        page = f" · 第{c.page}页" if c.page else ""
        print(f"[{c.n}] {terminal_line(c.title)} · {terminal_line(c.section or '正文')} · 第{c.paragraph}段{page} "
              f"({terminal_line(c.article)})")
    if answer.uncited:
        print("注意: 回答没有引用任何检索到的段落, 请核实。")
    return 0


def _one(settings: Settings) -> KnowledgeBase:
    """The one knowledge base named by ``settings.kb``."""
    from rag.kb.registry import find_base, settings_for

    spec = find_base(settings, settings.kb[0])
    return KnowledgeBase(settings_for(settings, spec), name=spec.name)


def _generative_answer(kb: KnowledgeBase, args: argparse.Namespace) -> Answer:
    """The endpoint's answer; without --json its text is printed as it streams (escaped: it quotes articles)."""
    from rag.answer.generative import collect_stream

    stream = kb.ask_generative(args.question, articles=args.articles)
    if args.json:
        return collect_stream(stream)
    return collect_stream((terminal_text(item) if isinstance(item, str) else item for item in stream), sys.stdout)


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    """Print what the index holds; a damaged index is also an error (exit 2) that names the fix."""
    status = KnowledgeBase(settings).status()
    if args.json:
        _dump(status)
    else:
        width = max(map(len, status), default=0)
        for key, value in status.items():
            print(f"{key:{width}} {terminal_line(str(value))}")
    if status.get("health", "ok") != "ok":
        raise RagError(str(status["health"]))
    return 0


def cmd_eval(args: argparse.Namespace, settings: Settings) -> int:
    """Evaluate a question set, or compare two runs (``rag eval``)."""
    from rag.cli.eval import run_eval

    return run_eval(args, settings)


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    """Start the browser chat."""
    from rag.ui.server import serve

    started = time.perf_counter()
    serve(settings, started=started, api_only=args.api_only)
    return 0


def cmd_kb(args: argparse.Namespace, settings: Settings) -> int:
    """``rag kb create|list|delete``."""
    from rag.kb.registry import create_base, delete_base, find_base, list_bases, settings_for, summary

    if args.kb_command == "create":
        spec = create_base(settings, args.name)
        print(f"created knowledge base {spec.name}: put its articles in {terminal_line(str(spec.corpus_dir))}, "
              f"then run `rag index --kb {spec.name}`")
        return 0
    if args.kb_command == "delete":
        spec = find_base(settings, args.name)
        if spec.origin == "created" and not args.yes:
            if not sys.stdin.isatty():
                raise RagError(f"deleting {spec.name} removes {spec.folder} with its articles and index: "
                               "add --yes to confirm")
            reply = input(f"delete knowledge base {spec.name} and its folder {spec.folder}? [y/N] ")
            if reply.strip().lower() not in ("y", "yes"):
                print("not deleted")
                return 1
        delete_base(settings, args.name)
        print(f"deleted knowledge base {spec.name} ({terminal_line(str(spec.folder))})")
        return 0
    rows = [summary(settings_for(settings, spec), spec.name) for spec in list_bases(settings)]
    for row in rows:
        if args.json:
            _dump(row)
        else:
            built = row["built_at"] or "not built"
            print(f"{row['name']:<16} {row['articles']:>5} articles {row['chunks']:>7} chunks  {built}  "
                  f"{row['store']}  {terminal_line(str(row['corpus_dir']))}")
    return 0


def cmd_mcp(args: argparse.Namespace, settings: Settings) -> int:
    """Serve the MCP tools on stdio until the client closes it (stdout carries only the protocol)."""
    from rag.api.catalog import Catalog
    from rag.api.mcp_tools import build_mcp
    from rag.kb.several import KnowledgeBases

    bases = KnowledgeBases(settings)
    for name in settings.kb:  # loaded before the first call, so it does not wait on the model
        bases.get(name).reader()
    build_mcp(Catalog(bases)).run("stdio")
    return 0
