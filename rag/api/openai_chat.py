"""OpenAI's chat completions wire format over the knowledge base's answers.

The question is the last user message; earlier user messages feed the
follow-up logic. ``content`` is the answer as a plain client shows it (the
short answer in bold, then the evidence with its ``[n]`` markers); the sources
sit beside it in ``message.references`` (the fields of ``rag ask --json``'s
citations) with ``refused`` and ``short_answer``; when streaming, in the last
choice chunk's ``delta``. OpenAI clients keep such extra fields (``model_extra``).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from rag.errors import RagError
from rag.records import Answer
from rag.serialize import answer_to_json, json_text


class ChatRequestError(RagError):
    """A request OpenAI's API would refuse with 400 (``param`` names the field)."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


class Message(BaseModel):
    """One chat message; content as a string or as OpenAI's list of parts."""

    model_config = ConfigDict(extra="allow", strict=True)
    role: str
    content: str | list[dict[str, Any]] | None = None


class StreamOptions(BaseModel):
    """``stream_options``: only ``include_usage`` applies."""

    model_config = ConfigDict(extra="allow", strict=True)
    include_usage: bool = False


class ChatRequest(BaseModel):
    """``POST /v1/chat/completions``. Sampling options are accepted (typed) and ignored: answers are extractive.

    Strict types, as OpenAI's API keeps them: ``"stream": "yes"`` is refused, not read as true.
    """

    model_config = ConfigDict(extra="allow", strict=True)
    model: str = Field(description="the knowledge base: `default` (see GET /v1/models)")
    messages: list[Message] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    temperature: float | None = None
    top_p: float | None = None
    n: int | None = None
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    stop: str | list[str] | None = None
    seed: int | None = None
    user: str | None = None


def message_text(message: Message) -> str:
    """A message's text: its string, or its text parts joined.

    >>> message_text(Message(role="user", content=[{"type": "text", "text": "深圳"}, {"type": "text", "text": "？"}]))
    '深圳？'
    """
    if isinstance(message.content, str):
        return message.content
    return "".join(str(part.get("text", "")) for part in message.content or [] if part.get("type") == "text")


def question_and_history(messages: list[Message]) -> tuple[str, list[str]]:
    """The last user message (the question) and the user messages before it, oldest first."""
    users = [(i, message_text(m)) for i, m in enumerate(messages) if m.role == "user"]
    if not users:
        raise ChatRequestError("messages hold no user message: the last user message is the question", "messages")
    *earlier, (i, question) = users
    if not question.strip():
        raise ChatRequestError(f"messages[{i}] is empty: ask something about the articles", "messages")
    return question, [text for _, text in earlier if text.strip()]


def answer_content(answer: Answer) -> str:
    """The answer as a plain client shows it: the short answer in bold with its marker, then the evidence.

    >>> answer_content(Answer("q", "q", "文章中没有找到相关信息。", refused=True))
    '文章中没有找到相关信息。'
    """
    if answer.short_answer is None:
        return answer.text
    return f"**{answer.short_answer.text}** [{answer.short_answer.n}]\n\n{answer.text}"


def answer_extras(answer: Answer) -> dict[str, Any]:
    """The fields beside ``content``: references (the citations of ``rag ask --json``), refused, short_answer."""
    data = answer_to_json(answer)
    return {"references": data["citations"], "refused": data["refused"], "short_answer": data["short_answer"]}


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    """OpenAI's ``usage`` record."""
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}


def new_id() -> str:
    """A completion id as OpenAI writes them."""
    return f"chatcmpl-{uuid.uuid4().hex}"


def completion(answer: Answer, model: str, tokens: Callable[[str], int]) -> dict[str, Any]:
    """The whole ``chat.completion`` object of one answer (``tokens`` counts a text's tokens)."""
    content = answer_content(answer)
    return {
        "id": new_id(), "object": "chat.completion", "created": int(time.time()), "model": model,
        "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                     "message": {"role": "assistant", "content": content, **answer_extras(answer)}}],
        "usage": usage(tokens(answer.question), tokens(content)),
    }


class ChunkWriter:
    """The ``chat.completion.chunk`` events of one streamed answer, as SSE ``data:`` lines."""

    def __init__(self, model: str) -> None:
        self.id, self.created, self.model = new_id(), int(time.time()), model

    def event(self, delta: dict[str, Any] | None, finish: Literal["stop"] | None = None,
              extra: dict[str, Any] | None = None) -> str:
        """One chunk as an SSE event; ``delta`` None: a chunk without choices (the usage chunk)."""
        chunk: dict[str, Any] = {"id": self.id, "object": "chat.completion.chunk", "created": self.created,
                                 "model": self.model,
                                 "choices": [] if delta is None else [{"index": 0, "delta": delta,
                                                                       "finish_reason": finish, "logprobs": None}]}
        chunk.update(extra or {})
        return f"data: {json_text(chunk)}\n\n"


def stream_events(steps: Iterable[str | Answer], model: str, tokens: Callable[[str], int],
                  include_usage: bool) -> Iterator[str]:
    """SSE events for an answer's steps: text deltas (generative, sent as they come), then the ``Answer``.

    An extractive answer arrives whole and is sent in one content chunk (never
    typed out); the last choice chunk carries ``delta.references`` and
    ``finish_reason``; then the usage chunk when asked for, then ``[DONE]``.
    """
    writer = ChunkWriter(model)
    yield writer.event({"role": "assistant", "content": ""})
    streamed = False
    for step in steps:
        if isinstance(step, str):
            if step:
                streamed = True
                yield writer.event({"content": step})
            continue
        content = step.text if streamed else answer_content(step)
        if not streamed:
            yield writer.event({"content": content})
        yield writer.event(answer_extras(step), finish="stop")
        if include_usage:
            yield writer.event(None, extra={"usage": usage(tokens(step.question), tokens(content))})
    yield "data: [DONE]\n\n"


def error_body(message: str, kind: str = "invalid_request_error", param: str | None = None,
               code: str | None = None) -> dict[str, Any]:
    """OpenAI's error shape: ``{"error": {"message", "type", "param", "code"}}``."""
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}
