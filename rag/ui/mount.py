"""The page mounted at ``/`` of the web server's app (``rag.server``): gradio's Blocks with its theme and languages.

Everything the page shows comes from the door (``rag.kb.bases.KnowledgeBases``)
that the API shares; the reports it offers for download are the knowledge bases'
evaluation folders (``KnowledgeBases.eval_folders``).
"""

from __future__ import annotations

from typing import Any

from rag.kb.bases import KnowledgeBases
from rag.ui.layout import build_app, page_i18n, static_text
from rag.ui.toasts import TOAST_TITLE_SCRIPT


def mount_page(root: Any, bases: KnowledgeBases, auth: tuple[str, str] | None) -> None:
    """Build the page over ``bases`` and mount it at ``/`` of ``root`` (a FastAPI app), behind ``auth``."""
    import gradio as gr

    settings = bases.settings
    i18n = page_i18n(settings)
    demo = build_app(bases, i18n)
    demo.queue(default_concurrency_limit=2)
    font = ["Noto Sans CJK SC", "Source Han Sans SC", "PingFang SC", "Microsoft YaHei", "system-ui", "sans-serif"]
    # Local font names only: a Google font would be fetched from the internet the server may not have.
    theme = gr.themes.Soft(primary_hue="blue", font=font, font_mono=["Noto Sans Mono CJK SC", "monospace"])
    gr.mount_gradio_app(
        root, demo, "/", server_name=settings.host, server_port=settings.port, auth=auth, show_error=False,
        max_file_size=settings.max_upload_bytes, ssr_mode=False, theme=theme, css=static_text("app.css"),
        footer_links=[], i18n=i18n, js=TOAST_TITLE_SCRIPT,
        allowed_paths=bases.eval_folders(),  # the reports, for download
        # gradio's own /openapi.json and /docs would list the page's routes to anyone: the API has its own
        app_kwargs={"openapi_url": None, "docs_url": None, "redoc_url": None},
    )
