"""The browser chat (Gradio): a face over the knowledge base, with no pipeline logic of its own.

Owns the state every session shares (``app``: ``ChatApp``, ``BuildJob``), the
server (``server.serve``), the page layout (``layout``), the handlers of each tab
(``chat``, ``articles_tab``, ``eval_tab``), the one escaping rule for anything a
user or an article wrote (``escape``: ``esc`` and ``esc_markdown``), the rendering of
answers (the short answer in bold above its evidence), sources and articles as
escaped HTML and Markdown (``render``), the pop-up messages
(``toasts``, escaped too), the Chinese wording of library results (``texts``), and
the CSS and JavaScript as package files (``static/``). Nothing about the corpus is
in the page as built: it is sent when the page loads, after any login.
gradio is imported only here. May import evaluation, kb and every layer below.
"""
