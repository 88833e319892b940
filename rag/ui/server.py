"""The browser chat's server: ``serve(settings)`` starts it (``rag serve``, ``python app.py``).

gradio is imported only inside the functions of ``rag.ui``, so ``import rag.ui``
stays light. The shared state is ``app.ChatApp``; the page is laid out in
``layout``; everything shown is escaped (``escape``, used by ``render``); errors become messages,
never tracebacks.
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import os
import socket
import time

from rag.errors import RagError, SettingsError
from rag.settings import Settings
from rag.ui.app import ChatApp
from rag.ui.layout import build_app, page_i18n, static_text
from rag.ui.toasts import TOAST_TITLE_SCRIPT

log = logging.getLogger(__name__)


def serve(settings: Settings, started: float | None = None) -> None:
    """Start the browser chat on settings.host:settings.port and block; prints the URL and start-up time."""
    started = time.perf_counter() if started is None else started
    # Before gradio is imported: it reads this at import time.
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    if bool(settings.auth_user) != bool(settings.auth_password):
        raise SettingsError("auth_user and auth_password go together: set both (RAG_AUTH_USER, RAG_AUTH_PASSWORD) "
                            "or neither")
    auth = (settings.auth_user, settings.auth_password) if settings.auth_user and settings.auth_password else None
    if auth is None and not is_loopback(settings.host):
        warning = open_to_network_text(settings.host)
        log.warning(warning)
        print(f"rag: warning: {warning}", flush=True)
    check_address(settings.host, settings.port)  # before the model loads: a taken port fails at once
    import gradio as gr

    app = ChatApp(settings)
    note = app.warm_up()
    i18n = page_i18n(settings)
    demo = build_app(app, i18n)
    demo.queue(default_concurrency_limit=2)
    font = ["Noto Sans CJK SC", "Source Han Sans SC", "PingFang SC", "Microsoft YaHei", "system-ui", "sans-serif"]
    # Local font names only: a Google font would be fetched from the internet the server may not have.
    theme = gr.themes.Soft(primary_hue="blue", font=font, font_mono=["Noto Sans Mono CJK SC", "monospace"])
    try:
        _, url, _ = demo.launch(
            server_name=settings.host, server_port=settings.port, auth=auth, prevent_thread_lock=True, quiet=True,
            show_error=False, max_file_size=settings.max_upload_bytes, ssr_mode=False, theme=theme,
            css=static_text("app.css"), footer_links=[], i18n=i18n, js=TOAST_TITLE_SCRIPT,
            allowed_paths=[str(settings.eval_root.resolve())],  # the evaluation reports, offered for download
        )
    except OSError as exc:  # the port was taken between the check and now
        raise RagError(f"cannot listen on {settings.host}:{settings.port} ({exc}); choose another port with "
                       f"--port, e.g. --port {_next_port(settings.port)}") from exc
    shown = url or f"http://{settings.host}:{settings.port}/"
    print(f"rag: chat at {shown} (ready in {time.perf_counter() - started:.1f} s"
          f"{', login required' if auth else ''})", flush=True)
    if note:
        print(f"rag: {note} (or use the Articles tab: 重建索引)", flush=True)
    try:
        demo.block_thread()
    finally:
        demo.close()


def is_loopback(host: str) -> bool:
    """True when ``host`` is reachable from this machine only (127.0.0.0/8, ::1, localhost).

    >>> is_loopback("127.0.0.1"), is_loopback("localhost"), is_loopback("0.0.0.0"), is_loopback("192.168.1.5")
    (True, True, False, False)
    """
    if host.strip("[]").lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name: it may resolve to any interface
        return False


def open_to_network_text(host: str) -> str:
    """The start-up warning of a chat bound to a network address without a login."""
    return (f"the chat on {host} is reachable from the network without a login: anyone who can reach this "
            "machine can read the articles, upload and delete them; set RAG_AUTH_USER and RAG_AUTH_PASSWORD "
            "(or auth_user and auth_password in rag.toml) to require one, or bind to 127.0.0.1")


def check_address(host: str, port: int) -> None:
    """Refuse, in one line, a host this machine cannot listen on or a port another program holds."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)[0]
    except (socket.gaierror, UnicodeError) as exc:
        raise RagError(f"--host {host!r} is not an address of this machine ({exc}); use 127.0.0.1, or 0.0.0.0 "
                       "for every interface") from exc
    with socket.socket(family, kind, proto) as probe:
        # as gradio and uvicorn bind: a port left in TIME_WAIT by a server that just stopped is free
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise RagError(f"port {port} is already in use on {host} (another `rag serve`?); choose another "
                               f"with --port, e.g. --port {_next_port(port)}") from exc
            raise RagError(f"cannot listen on {host}:{port} ({exc.strerror}); use another --host or "
                           "--port") from exc


def _next_port(port: int) -> int:
    return port + 1 if port < 65_535 else 7860
