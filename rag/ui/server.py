"""The browser chat's server: ``serve(settings)`` starts it (``rag serve``, ``python app.py``).

gradio is imported only inside the functions of ``rag.ui``, so ``import rag.ui``
stays light. The shared state is ``app.ChatApp``; the page is laid out in
``layout``; everything shown is escaped by ``render``; errors become messages,
never tracebacks.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from rag.errors import SettingsError
from rag.settings import Settings
from rag.ui.app import ChatApp
from rag.ui.layout import build_app, static_text


def serve(settings: Settings, started: float | None = None) -> None:
    """Start the browser chat on settings.host:settings.port and block; prints the URL and start-up time."""
    started = time.perf_counter() if started is None else started
    # Before gradio is imported: it reads this at import time.
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    if bool(settings.auth_user) != bool(settings.auth_password):
        raise SettingsError("auth_user and auth_password go together: set both (RAG_AUTH_USER, RAG_AUTH_PASSWORD) "
                            "or neither")
    import gradio as gr

    app = ChatApp(settings)
    note = app.warm_up()
    demo = build_app(app)
    demo.queue(default_concurrency_limit=2)
    auth = (settings.auth_user, settings.auth_password) if settings.auth_user and settings.auth_password else None
    font = ["Noto Sans CJK SC", "Source Han Sans SC", "PingFang SC", "Microsoft YaHei", "system-ui", "sans-serif"]
    # Local font names only: a Google font would be fetched from the internet the server may not have.
    theme = gr.themes.Soft(primary_hue="blue", font=font, font_mono=["Noto Sans Mono CJK SC", "monospace"])
    _, url, _ = demo.launch(
        server_name=settings.host, server_port=settings.port, auth=auth, prevent_thread_lock=True, quiet=True,
        show_error=False, max_file_size=settings.max_upload_bytes, ssr_mode=False, theme=theme,
        css=static_text("app.css"), footer_links=[],
        allowed_paths=[str(Path(p).resolve()) for p in _download_dirs(settings)],
    )
    shown = url or f"http://{settings.host}:{settings.port}/"
    print(f"rag: chat at {shown} (ready in {time.perf_counter() - started:.1f} s"
          f"{', login required' if auth else ''})", flush=True)
    if note:
        print(f"rag: {note} (or use the Articles tab: 重建索引)", flush=True)
    try:
        demo.block_thread()
    finally:
        demo.close()


def _download_dirs(settings: Settings) -> list[Path]:
    """Folders whose files the page may offer for download: the evaluation runs (reports)."""
    root = settings.eval_dir
    root.mkdir(parents=True, exist_ok=True)
    return [root]
