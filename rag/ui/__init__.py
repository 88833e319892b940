"""The browser chat (Gradio): a face over the knowledge base, with no pipeline logic of its own.

Owns the app state and server (``app``), the page layout, its handlers, the
rendering of answers, sources and articles as escaped HTML (``render``), the
Chinese wording, and the CSS and JavaScript as package files (``static/``).
gradio is imported only here. May import evaluation, kb and every layer below.
"""
