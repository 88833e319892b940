"""Answer: ranked chunks become an answer with exact citations, or the refusal.

Owns extractive answers and the refusal rule (``extractive``), the short answer
found by the reading model (``short_answer``; the model itself in ``reader``,
its pure window/span helpers, shared with training, in ``reading``), follow-up
questions (``followup``: which are, and the question each is asked as, written out
by ``substitution``) and generative answers from an OpenAI-compatible
endpoint (``generative``, with its stream filters in ``stream_filters`` and the
HTTP client in ``chat_endpoint``). May import search, store, embed and the
bottom layer.
"""
