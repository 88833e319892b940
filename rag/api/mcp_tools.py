"""The MCP tools: ``search``, ``ask``, ``explain`` and ``list_knowledge_bases``, one definition for stdio and HTTP.

``rag mcp`` serves them over stdio; ``rag serve`` mounts them at ``/mcp``
(streamable HTTP). Each result carries the citations as structured content (the
JSON of ``rag search --json`` / ``rag ask --json`` / ``rag ask --explain --json``) and a readable text.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Any

from mcp.server.mcpserver import Context, MCPServer
from mcp_types import CallToolResult, TextContent

from rag.api.access import Slots, check_key
from rag.api.catalog import public_summaries
from rag.errors import RagError
from rag.kb.bases import KnowledgeBases
from rag.kb.explain import explanation_text
from rag.kb.faq import entry_to_json
from rag.messages import message
from rag.records import Answer, Hit
from rag.serialize import answer_to_json, hit_to_json, json_text, trace_to_json

INSTRUCTIONS = ("Search Chinese articles and answer questions from them with exact citations. `ask` gives a short "
                "answer with the sentences that hold it, each cited [n] with article, section and paragraph; it "
                "refuses when the articles do not say. `search` gives the ranked passages. `explain` shows why an "
                "answer: the query searched, every candidate's scores and ranks, the reader's spans, the refusal "
                "decision.")


def _text_result(text: str, data: dict[str, Any]) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=data)


def _error(exc: RagError) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=str(exc))], is_error=True)


def search_text(hits: list[Hit], lang: str = "zh") -> str:
    """The hits as a reader sees them: rank, where (the record's own label), text."""
    if not hits:
        return message("no_passage", lang)
    return "\n\n".join(f"[{h.rank}] {' · '.join(h.chunk.location(lang))} ({h.chunk.article})\n{h.chunk.text}"
                       for h in hits)


def ask_text(answer: Answer, lang: str = "zh") -> str:
    """The answer as a reader sees it: the short answer, the evidence with markers, the sources."""
    lines = []
    if answer.short_answer is not None:
        lines.append(message("short_answer_line", lang, text=answer.short_answer.text, n=answer.short_answer.n))
    lines.append(answer.text)
    lines.extend(f"[{c.n}] {' · '.join(c.location(lang))} ({c.article})" for c in answer.citations)
    return "\n".join(lines)


class McpLimit:
    """The HTTP API's limit for MCP tool calls: each ``search``/``ask`` over ``/mcp`` takes a slot of its key.

    The caller is the key the call's HTTP request presented (``/mcp`` is behind
    the same keys as the REST routes, and shares their ``api_max_concurrent``
    slots); over stdio there is no request and no limit (one client, its own process).
    """

    def __init__(self, slots: Slots, keys: tuple[str, ...]) -> None:
        self.slots, self.keys = slots, keys

    def hold(self, ctx: Context) -> AbstractContextManager[None]:
        """A slot for the duration of one tool call (BusyError when none is free)."""
        request = ctx.request_context.request
        if request is None:
            return nullcontext()
        return self.slots.hold(check_key(request.headers.get("authorization"), self.keys))


def build_mcp(bases: KnowledgeBases, limit: McpLimit | None = None) -> MCPServer:
    """An MCP server with its tools over the door's knowledge bases (``limit``: over HTTP)."""
    server: MCPServer = MCPServer(name="rag-zh", instructions=INSTRUCTIONS, log_level="WARNING")

    def held(ctx: Context) -> AbstractContextManager[None]:
        return nullcontext() if limit is None else limit.hold(ctx)

    @server.tool(description="Search the articles: the top passages for a question, with article, title, section, "
                             "paragraph numbers and exact character offsets. knowledge_base: one name or several, "
                             "comma-separated (default: default).")
    def search(ctx: Context, question: str, top_k: int = 5, knowledge_base: str | None = None) -> CallToolResult:
        try:
            names = bases.pick(knowledge_base)
            if not 1 <= top_k <= 100:
                raise RagError(f"top_k must be between 1 and 100; got {top_k}")
            with held(ctx):
                hits = bases.search(question, names, k=top_k).hits
        except RagError as exc:
            return _error(exc)
        return _text_result(search_text(hits), {"hits": [hit_to_json(h) for h in hits]})

    @server.tool(description="Answer a question from the articles: a short exact answer, the sentences that hold it "
                             "with [n] citations (article, section, paragraph, offsets), or a refusal when the "
                             "articles do not say. knowledge_base: one name or several, comma-separated.")
    def ask(ctx: Context, question: str, knowledge_base: str | None = None) -> CallToolResult:
        try:
            names = bases.pick(knowledge_base)
            with held(ctx):
                answer = bases.ask(question, names)
        except RagError as exc:
            return _error(exc)
        return _text_result(ask_text(answer), answer_to_json(answer))

    @server.tool(description="Why an answer: the answer of `ask`, with the query searched (after the follow-up "
                             "rule), every candidate passage's dense, lexical, fused and re-rank scores and ranks, "
                             "the spans the reading model found, and the refusal decision (signals, threshold, the "
                             "rule that decided). settings: values to try for this question only (retrieval_mode, "
                             "top_k, rrf_lexical_weight, rerank_weight, refusal_threshold, …), never saved. "
                             "knowledge_base: one name.")
    def explain(ctx: Context, question: str, knowledge_base: str | None = None, history: list[str] | None = None,
                settings: dict[str, bool | int | float | str] | None = None) -> CallToolResult:
        try:
            name = bases.single(knowledge_base, "explain")
            with held(ctx):
                explained = bases.explain(question, [name], history=history, changes=settings)
        except RagError as exc:
            return _error(exc)
        text = ask_text(explained.answer) + "\n\n" + explanation_text(explained.trace)
        return _text_result(text, {**answer_to_json(explained.answer), "explain": trace_to_json(explained.trace)})

    @server.tool(description="The FAQ of a knowledge base: its question-answer pairs (id, question, answer, source). "
                             "A question close enough to an FAQ question is answered by `ask` with that entry's "
                             "answer, cited with kind \"faq\". knowledge_base: one name (default: default).")
    def faq_list(knowledge_base: str | None = None) -> CallToolResult:
        try:
            name = bases.single(knowledge_base, "faq_list")
            entries = [entry_to_json(e) for e in bases.faq(name).entries()]
        except RagError as exc:
            return _error(exc)
        return _text_result(json_text(entries), {"faq": entries})

    @server.tool(description="The knowledge bases this server searches, with their article and chunk counts.")
    def list_knowledge_bases() -> CallToolResult:
        summaries = public_summaries(bases)
        return _text_result(json_text(summaries), {"knowledge_bases": summaries})

    return server
