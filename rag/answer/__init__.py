"""Answer: ranked chunks become an answer with exact citations, or the refusal.

Owns extractive answers and the refusal rule (``extractive``), follow-up
questions (``followup``) and generative answers from an OpenAI-compatible
endpoint (``generative``, with its stream filters in ``stream_filters`` and the
HTTP client in ``chat_endpoint``). May import search, store and the bottom layer.
"""
