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
from rag.kb.bases import KnowledgeBases
from rag.messages import message
from rag.records import Answer
from rag.serialize import answer_to_json, hit_to_json, trace_to_json
from rag.settings import Settings


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run the command named in ``args``; RagError for a command there is none of."""
    handler = {
        "index": cmd_index, "search": cmd_search, "ask": cmd_ask, "status": cmd_status, "serve": cmd_serve,
        "mcp": cmd_mcp, "eval": cmd_eval, "kb": cmd_kb, "chunks": cmd_chunks,
        "faq": cmd_faq,
    }.get(args.command)
    if handler is None:
        raise RagError(f"unknown command {args.command!r}; run `rag --help` for the commands")
    return handler(args, settings)


def one_base(args: argparse.Namespace, bases: KnowledgeBases) -> str:
    """The one knowledge base a command works on (``--kb NAME``, default ``default``), its folders checked."""
    name = bases.single(bases.settings.kb, f"`rag {args.command}`")
    bases.check_folders(name, getattr(args, "index_dir", None), getattr(args, "corpus", None))
    return name


def _dump(data: Any) -> None:
    print(json_line(data))


def cmd_index(args: argparse.Namespace, settings: Settings) -> int:
    """Build or update the index; with --watch, keep doing it when files change."""
    bases = KnowledgeBases(settings)
    name = one_base(args, bases)
    code = _index_once(bases, name, args)
    if args.watch:
        folder = bases.settings_of(name).corpus_dir
        print(f"watching {terminal_line(str(folder))} for changes (Ctrl+C to stop)", flush=True)
        bases.watch(name, lambda: _index_once(bases, name, args),
                    on_error=lambda exc: print(f"error: {terminal_line(str(exc))}", flush=True))
    return code


def _index_once(bases: KnowledgeBases, name: str, args: argparse.Namespace) -> int:
    from rag.cli.progress import stage_bars

    with stage_bars({"embed": "embedding", "write": "writing"}) as progress:
        report = bases.build(name, rebuild=args.rebuild, progress=None if args.json else progress)
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
        print(f"index version {report.version} in {terminal_line(str(bases.settings_of(name).index_dir))}")
        if report.store == "milvus":
            print(f"milvus: wrote {report.store_inserted} chunks, removed {report.store_deleted} old articles")
    # Skipped files are reported above, one line each, and the rest is indexed: that is a success (exit 0);
    # a build that cannot index anything raises instead (exit 2).
    return 0


def cmd_search(args: argparse.Namespace, settings: Settings) -> int:
    """Print ranked chunks of the knowledge bases named (one or several: the door decides)."""
    if not args.question.strip():
        raise RagError("the question is empty; type some words to search for")
    result = KnowledgeBases(settings).search(args.question, settings.kb, articles=args.articles)
    if args.json:
        for hit in result.hits:
            _dump(hit_to_json(hit))
        return 0
    if not result.hits:
        print(message("no_passage", settings.lang))
    for hit in result.hits:
        where = " · ".join(map(terminal_line, hit.chunk.location(settings.lang)))
        print(f"[{hit.rank}] {hit.score:.4f}  {terminal_line(hit.chunk.article)} · {where}")
        print(f"    {terminal_line(hit.chunk.text.replace(chr(10), ' '))}")
    return 0


def cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    """Print an answer with its citations (a generative one as it streams, unless --json)."""
    if not args.question.strip():
        raise RagError("the question is empty; ask something about the articles")
    if args.explain or args.trial:
        return _explain(args, settings)
    streamed = [False]

    def show(text: str) -> None:
        streamed[0] = True
        sys.stdout.write(terminal_text(text))
        sys.stdout.flush()

    try:
        answer = KnowledgeBases(settings).ask(args.question, settings.kb, articles=args.articles,
                                              generative=args.generative, on_text=None if args.json else show)
    finally:
        if streamed[0]:  # end the streamed line, so what follows (citations or an error) starts on its own
            print()
    if args.json:
        _dump(answer_to_json(answer))
        return 0
    print_answer(answer, settings.lang, printed=args.generative)
    return 0


def _explain(args: argparse.Namespace, settings: Settings) -> int:
    """``rag ask --explain``: the answer, then why (the trace of the same run); ``--set`` tries settings."""
    from rag.kb.explain import explanation_text

    if not args.explain:
        raise RagError("--set tries a setting for an explained answer; add --explain")
    if args.generative:
        raise RagError("--explain shows how an extractive answer is made; leave out --generative")
    changes = dict(_setting_pair(text) for text in args.trial or [])
    explained = KnowledgeBases(settings).explain(args.question, settings.kb, articles=args.articles,
                                                 changes=changes)
    if args.json:
        _dump({**answer_to_json(explained.answer), "explain": trace_to_json(explained.trace)})
        return 0
    print_answer(explained.answer, settings.lang)
    print("\n" + terminal_text(explanation_text(explained.trace, settings.lang)))
    return 0


def _setting_pair(text: str) -> tuple[str, str]:
    """``NAME=VALUE`` of ``--set`` as (name, value); the value is read and checked as the setting's."""
    name, equals, value = text.partition("=")
    if not equals or not name.strip():
        raise RagError(f"--set takes NAME=VALUE (e.g. --set top_k=3); got {terminal_line(text)}")
    return name.strip(), value.strip()


def print_answer(answer: Answer, lang: str, printed: bool = False) -> None:
    """An answer as the terminal shows it: the short answer, the evidence (unless ``printed``), the sources."""
    if answer.short_answer is not None:
        print(terminal_line(message("short_answer_line", lang, text=answer.short_answer.text,
                                    n=answer.short_answer.n)) + "\n")
    if not printed:
        print(terminal_text(answer.text))
    if answer.refused:
        if answer.hits:
            print("\n" + message("maybe_related", lang))
            for hit in answer.hits[:3]:
                where = " · ".join(map(terminal_line, hit.chunk.location(lang)))
                print(f"  - {where}: {terminal_line(hit.chunk.text[:60])}…")
        return
    print()
    for c in answer.citations:
        print(f"[{c.n}] {' · '.join(map(terminal_line, c.location(lang)))} ({terminal_line(c.article)})")
    if answer.uncited:
        print(message("uncited_warning", lang))


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    """Print what the index holds; a damaged index is also an error (exit 2) that names the fix."""
    bases = KnowledgeBases(settings)
    status = bases.status(one_base(args, bases))
    data = status.to_json()
    if args.json:
        _dump(data)
    else:
        width = max(map(len, data), default=0)
        for key, value in data.items():
            print(f"{key:{width}} {terminal_line(str(value))}")
    if not status.healthy:
        raise RagError(status.health)
    return 0


def cmd_faq(args: argparse.Namespace, settings: Settings) -> int:
    """Import, list or delete a knowledge base's FAQ pairs (``rag.cli.faq``)."""
    from rag.cli.faq import cmd_faq as run_faq

    bases = KnowledgeBases(settings)
    return run_faq(args, settings, one_base(args, bases), bases)


def cmd_chunks(args: argparse.Namespace, settings: Settings) -> int:
    """List an article's chunks; with --off/--on N or --link/--unlink N Q, change one first (and build)."""
    from rag.kb.chunks import article_chunks, link_chunk, turn_chunk

    bases = KnowledgeBases(settings)
    kb = bases.get(one_base(args, bases))
    changing = any(v is not None for v in (args.off, args.on, args.link, args.unlink))
    if args.off is not None or args.on is not None:
        off = args.off is not None
        row, report = turn_chunk(kb, args.article, args.off if off else args.on, off)
        if not args.json:
            print(f"chunk {row.n} of {terminal_line(args.article)} is {'off' if off else 'on'}; "
                  f"index version {report.version} (embedded {report.embedded} texts)")
    elif args.link is not None or args.unlink is not None:
        linked = args.link is not None
        number, question = args.link if linked else args.unlink
        row, report = link_chunk(kb, args.article, _chunk_number(number), question, linked)
        if not args.json:
            print(f"{'linked' if linked else 'unlinked'} {terminal_line(question)!r} "
                  f"{'to' if linked else 'from'} chunk {row.n} of {terminal_line(args.article)}; "
                  f"index version {report.version} (embedded {report.embedded} texts)")
    listing = article_chunks(kb.version(), args.article)
    if args.json:
        _dump(listing.to_json())
        return 0
    if not changing:
        print(f"{terminal_line(listing.article)} · {terminal_line(listing.title)}: {len(listing.chunks)} chunks, "
              f"{sum(c.off for c in listing.chunks)} off")
        print(f"{'n':>3} {'id':>6} {'paragraphs':>10} {'sentences':>9} {'chars':>6}  text")
        for c in listing.chunks:
            state = "[off] " if c.off else ""
            print(f"{c.n:>3} {c.id:>6} {c.paragraph_range:>10} {c.sentences:>9} {c.chars:>6}  "
                  f"{state}{terminal_line(' '.join(c.text[:40].split()))}…")
            for question in c.questions:
                print(f"{'':>38}  ⇐ {terminal_line(question)}")
        for o in listing.orphaned:
            print(f"orphaned override (no chunk has its text any more; not applied): {terminal_line(o.text[:60])}…")
            for question in o.questions:
                print(f"    its linked question, not applied: {terminal_line(question)}")
    return 0


def _chunk_number(text: str) -> int:
    """N of ``--link N QUESTION``: a whole number, or a RagError saying so."""
    try:
        return int(text)
    except ValueError:
        raise RagError(f"--link and --unlink take the chunk's number first, then the question; got {text!r} "
                       "(`rag chunks ARTICLE` lists the numbers)") from None


def cmd_eval(args: argparse.Namespace, settings: Settings) -> int:
    """Evaluate a question set, or compare two runs (``rag eval``); a question-set file runs on one knowledge base."""
    from rag.cli.eval import run_eval

    if getattr(args, "file", None):
        bases = KnowledgeBases(settings)
        settings = bases.settings_of(one_base(args, bases))
    return run_eval(args, settings)


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    """Start the web server: the page and the API (``--api-only``: the API alone)."""
    from rag.server import serve

    started = time.perf_counter()
    serve(settings, started=started, api_only=args.api_only)
    return 0


def cmd_kb(args: argparse.Namespace, settings: Settings) -> int:
    """``rag kb create|list|delete``."""
    bases = KnowledgeBases(settings)
    if args.kb_command == "create":
        spec = bases.create(args.name)
        print(f"created knowledge base {spec.name}: put its articles in {terminal_line(str(spec.corpus_dir))}, "
              f"then run `rag index --kb {spec.name}`")
        return 0
    if args.kb_command == "delete":
        return _delete_base(args, bases)
    for row in bases.summaries():
        if args.json:
            _dump(row.to_json())
        else:
            built = row.built_at or "not built"
            print(f"{row.name:<16} {row.articles:>5} articles {row.chunks:>7} chunks  {built}  "
                  f"{row.store}  {terminal_line(row.corpus_dir)}")
    return 0


def _delete_base(args: argparse.Namespace, bases: KnowledgeBases) -> int:
    """``rag kb delete NAME``: asks first on a terminal (``--yes`` does not), refuses without one."""
    spec = next((s for s in bases.specs() if s.name == args.name), None)
    if spec is None:
        bases.pick([args.name])  # the error that lists the names there are
        return 2
    if spec.origin == "created" and not args.yes:
        if not sys.stdin.isatty():
            raise RagError(f"deleting {spec.name} removes {spec.folder} with its articles and index: "
                           "add --yes to confirm")
        reply = input(f"delete knowledge base {spec.name} and its folder {spec.folder}? [y/N] ")
        if reply.strip().lower() not in ("y", "yes"):
            print("not deleted")
            return 1
    linked = spec.folder is not None and spec.folder.is_symlink()
    bases.delete(args.name)
    kept = ", a link: the folder it points to is left as it is" if linked else ""
    print(f"deleted knowledge base {spec.name} ({terminal_line(str(spec.folder))}{kept})")
    return 0


def cmd_mcp(args: argparse.Namespace, settings: Settings) -> int:
    """Serve the MCP tools on stdio until the client closes it (stdout carries only the protocol)."""
    import anyio

    from rag.api.mcp_stdio import serve_stdio
    from rag.api.mcp_tools import build_mcp

    bases = KnowledgeBases(settings)
    bases.load_models(settings.kb)  # before the first call, so it does not wait on the model
    anyio.run(serve_stdio, build_mcp(bases))
    return 0
