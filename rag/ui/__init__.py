"""The browser chat (Gradio): a face over the knowledge bases' door, with no pipeline logic of its own.

Every handler calls the door (``rag.kb.bases.KnowledgeBases``, shared with the
API; it owns the background builds); ``mount`` puts the page on the web server's
app (``rag.server``). Owns the page layout (``layout``), the handlers of each tab
(``chat``, ``articles_tab``, ``eval_tab``, ``explain_tab``; the 文章 tab's chunk view and
words editor, ``chunks_view`` and ``words_view``), the one escaping rule for anything a
user or an article wrote (``escape``: ``esc`` and ``esc_markdown``), the rendering of
answers (the short answer in bold above its evidence), sources and articles as
escaped HTML and Markdown (``render``), the pop-up messages
(``toasts``, escaped too), the page's language and its wording of library results (``texts``, from the
catalogue ``rag.messages``), and
the CSS and JavaScript as package files (``static/``). Nothing about the corpus is
in the page as built: it is sent when the page loads, after any login.
gradio is imported only here. May import evaluation, kb and the shared bottom modules (records, settings,
errors, text, messages); never a pipeline stage (answer, search, store, embed, ingest: an import-linter contract).
"""
