"""The ``rag`` command: parses arguments and calls the library; no pipeline logic here."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Any

from rag import __version__
from rag.cli.terminal import terminal_line
from rag.errors import RagError
from rag.settings import RETRIEVAL_MODES, STORES, Settings, load_settings

# Libraries that log every request with its full URL (a password in user-info, a key in the
# query) or every page hit: kept at WARNING even with -v, whose INFO is about our own work.
URL_LOGGERS = ("httpx", "httpcore", "urllib3", "requests", "huggingface_hub", "gradio", "gradio_client",
               "uvicorn", "uvicorn.access", "uvicorn.error", "fastapi", "starlette", "websockets")


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="settings file (TOML); default: rag.toml if present")
    parser.add_argument("--index-dir", type=Path, help="index folder (default: index/)")
    parser.add_argument("--model", help="sentence-transformers model name or path (default: the bundled e5-small)")
    parser.add_argument("--backend", dest="encoder_backend", choices=["auto", "torch", "onnx-int8"],
                        help="encoder backend and precision (default auto: onnx-int8 for the default model, "
                             "torch for others)")
    parser.add_argument("--store", choices=STORES,
                        help="where chunks are searched: faiss (files in the index folder, default) or milvus")
    parser.add_argument("--milvus-uri", dest="milvus_uri", metavar="URI",
                        help="Milvus Lite file (default: <index-dir>/milvus.db) or http://host:19530 for a server; "
                        "the token comes from RAG_MILVUS_TOKEN or the settings file")
    parser.add_argument("--kb", action="append", metavar="NAME",
                        help="knowledge base (default: default, i.e. corpus/ and index/; RAG_KB, comma-separated); "
                             "search and ask take several (--kb a --kb b)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens")


def _retrieval_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-k", "--top-k", type=int, dest="top_k", help="number of passages (default 5)")
    parser.add_argument("--mode", dest="retrieval_mode", choices=RETRIEVAL_MODES, help="retrieval mode")
    parser.add_argument("--article", action="append", dest="articles", metavar="PATH",
                        help="search only this article (path relative to the corpus); repeatable")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def _add_chunks_parser(sub: Any) -> None:
    """``rag chunks ARTICLE [--off N | --on N | --link N Q | --unlink N Q] [--json]``."""
    p = sub.add_parser("chunks", help="list an article's chunks; turn one off or back on; link questions to one",
                       description="An article's chunks in order: number, id, paragraphs, sentences, length. "
                                   "--off N turns chunk N off (no search returns it, no answer cites it) and --on N "
                                   "back on; --link N QUESTION adds a question that should find chunk N (embedded "
                                   "once, searched as one more key of that chunk) and --unlink N QUESTION removes it: "
                                   "an override by its exact text in the knowledge base's curation folder, "
                                   "applied at once by a build that embeds no chunk.")
    p.add_argument("article", help="the article's path inside the corpus folder")
    switch = p.add_mutually_exclusive_group()
    switch.add_argument("--off", type=int, metavar="N", help="turn chunk N off")
    switch.add_argument("--on", type=int, metavar="N", help="turn chunk N back on")
    switch.add_argument("--link", nargs=2, metavar=("N", "QUESTION"), help="link QUESTION to chunk N")
    switch.add_argument("--unlink", nargs=2, metavar=("N", "QUESTION"), help="remove QUESTION from chunk N")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    _common(p)


def _add_kb_parser(sub: Any) -> None:
    """``rag kb create NAME | list | delete NAME``."""
    p = sub.add_parser("kb", help="create, list or delete knowledge bases",
                       description="Knowledge bases: `default` (corpus/ and index/), those made by `rag kb create` "
                                   "(kbs/NAME/) and those declared in rag.toml ([kb.NAME] corpus_dir, index_dir).")
    kb_sub = p.add_subparsers(dest="kb_command", metavar="ACTION", required=True)
    q = kb_sub.add_parser("create", help="make kbs/NAME/ with its corpus/, index/ and kb.toml")
    q.add_argument("name", help="1-40 lower-case letters, digits and underscores")
    _common(q)
    q = kb_sub.add_parser("list", help="name, folders, articles, chunks, build time and store of each")
    q.add_argument("--json", action="store_true", help="one JSON object per knowledge base")
    _common(q)
    q = kb_sub.add_parser("delete", help="delete a knowledge base made by `rag kb create`, with its folder")
    q.add_argument("name")
    q.add_argument("--yes", action="store_true", help="do not ask")
    _common(q)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command."""
    parser = argparse.ArgumentParser(prog="rag", description="Ask questions about Chinese articles; answers cite "
                                     "the paragraphs they come from.")
    parser.add_argument("--version", action="version", version=f"rag {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("index", help="build or update the index from a corpus folder",
                       description="Index the articles of a folder. Only new or changed articles are embedded.")
    p.add_argument("corpus", nargs="?", type=Path, help="corpus folder (default: corpus/)")
    p.add_argument("--rebuild", action="store_true", help="rebuild from scratch (the embedding cache still counts)")
    p.add_argument("--watch", action="store_true", help="stay running and re-index when files change")
    p.add_argument("--chunk-size", type=int, help="chunk size in characters")
    p.add_argument("--chunk-overlap", type=int, help="chunk overlap in characters (whole sentences)")
    p.add_argument("--json", action="store_true", help="print the build report as JSON")
    _common(p)

    p = sub.add_parser("search", help="print the chunks that match a question",
                       description="Ranked chunks with article, section, paragraph numbers and score.")
    p.add_argument("question", help="the question or search words")
    _retrieval_options(p)
    _common(p)

    p = sub.add_parser("ask", help="answer a question with cited sentences",
                       description="An extractive answer whose sentences cite their paragraphs, "
                       "or 「文章中没有找到相关信息」.")
    p.add_argument("question", help="the question")
    p.add_argument("--generative", action="store_true",
                   help="answer with the OpenAI-compatible endpoint from the settings (llm_base_url, llm_model)")
    p.add_argument("--explain", action="store_true",
                   help="show why this answer: the query searched, every candidate's scores and ranks, the reader's "
                        "spans and the refusal decision (with --json: the key explain)")
    p.add_argument("--set", action="append", dest="trial", metavar="NAME=VALUE",
                   help="with --explain: try a setting for this question only, never saved (retrieval_mode, top_k, "
                        "rrf_lexical_weight, rerank_weight, refusal_threshold, reader_refusal_threshold, …); "
                        "repeatable")
    _retrieval_options(p)
    _common(p)

    p = sub.add_parser("status", help="show the index version, model, counts and build time",
                       description="What the current index holds.")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    _common(p)

    _add_chunks_parser(sub)

    p = sub.add_parser("serve", help="start the browser chat and the API beside it",
                       description="Start the chat page at / and the HTTP API beside it (OpenAI-compatible /v1, "
                                   "Dify /retrieval, /api, MCP at /mcp, docs at /docs); binds to 127.0.0.1 unless "
                                   "--host is given. On another address the API needs keys (RAG_API_KEYS).")
    p.add_argument("--host", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default 7860)")
    p.add_argument("--api-only", action="store_true", help="serve the API without the browser page")
    _common(p)

    p = sub.add_parser("mcp", help="run the MCP server on stdio (tools: search, ask, explain, list_knowledge_bases)",
                       description="An MCP server over stdio for assistants that call tools; the same tools are "
                                   "served over HTTP at /mcp by `rag serve`.")
    _common(p)

    _add_kb_parser(sub)

    from rag.cli.eval import add_eval_parser

    add_eval_parser(sub, _common)
    from rag.cli.faq import add_faq_parser

    add_faq_parser(sub, _common)
    return parser


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Settings from flags, environment, settings file and defaults."""
    overrides: dict[str, Any] = {}
    for name in ("index_dir", "model", "encoder_backend", "top_k", "retrieval_mode", "host", "port",
                 "chunk_size", "chunk_overlap", "store", "milvus_uri"):
        value = getattr(args, name, None)
        if value is not None:
            overrides[name] = value
    if getattr(args, "corpus", None) is not None:
        overrides["corpus_dir"] = args.corpus
    if getattr(args, "kb", None):
        overrides["kb"] = [name for value in args.kb for name in value.split(",")]
    return load_settings(getattr(args, "config", None), overrides)


def _warnings_only(record: logging.LogRecord) -> bool:
    return record.levelno >= logging.WARNING


def check_text_arguments(args: argparse.Namespace) -> None:
    """Refuse a text argument that is not valid UTF-8 (bytes the shell passed through as lone surrogates).

    Path arguments may hold such bytes (a file system's names need not be UTF-8); a
    question or an option's value cannot be searched, printed or stored.
    """
    for name, value in vars(args).items():
        if name == "articles":  # corpus paths, which keep their file system's bytes
            continue
        for text in value if isinstance(value, list) else [value]:
            if isinstance(text, str) and any("\ud800" <= ch <= "\udfff" for ch in text):
                raise RagError(f"the argument {terminal_line(text)} is not valid UTF-8 (the bytes shown as \\xNN); "
                               "pass UTF-8 text, e.g. with a UTF-8 locale (LANG=C.UTF-8)")


def _set_up_output() -> None:
    """Never fail on printing: what the terminal cannot encode is written as a backslash escape."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")


def _set_up_logging(verbose: bool) -> None:
    level = logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    # Some libraries (bm25s, jieba) set their own loggers to DEBUG when imported: filter at the handler.
    for handler in logging.getLogger().handlers:
        handler.setLevel(level)
    # Other libraries' loggers are quieted here, by the face, never by the library. pymilvus and
    # Milvus Lite log every failure with a traceback of their own: each reaches the user once, as a
    # StoreError. jieba (Milvus Lite's analyzer uses it too) announces its dictionary on a handler of
    # its own and resets its level when imported, so a filter on its logger does it.
    for name in ("pymilvus", "milvus_lite"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    for name in URL_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    if _warnings_only not in logging.getLogger("jieba").filters:
        logging.getLogger("jieba").addFilter(_warnings_only)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``rag`` console script."""
    _set_up_output()
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    _set_up_logging(args.verbose)
    from rag.kb import arm_fault_points

    arm_fault_points()  # crash tests' RAG_FAULT_POINT, read once here: the build never reads it
    try:
        check_text_arguments(args)
        settings = settings_from_args(args)
        from rag.cli import commands

        return int(commands.run(args, settings))
    except RagError as exc:
        print(f"error: {terminal_line(str(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`rag search … --json | head -1`): stop quietly, as Unix tools do
        # (the shell reports 128 + SIGPIPE for them). What is still buffered goes nowhere, so
        # the interpreter's last flush cannot fail with a message of its own.
        _discard_stdout()
        return 141


def _discard_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # not a real file (a test's capture): nothing is left to flush there
        pass


if __name__ == "__main__":
    sys.exit(main())
