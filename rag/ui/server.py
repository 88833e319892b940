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
import threading
import time
from typing import Any

from rag.errors import RagError, SettingsError
from rag.settings import Settings
from rag.ui.app import ChatApp
from rag.ui.layout import build_app, page_i18n, static_text
from rag.ui.toasts import TOAST_TITLE_SCRIPT

log = logging.getLogger(__name__)


def serve(settings: Settings, started: float | None = None, api_only: bool = False) -> None:
    """Serve the browser chat at ``/`` and the API beside it on settings.host:settings.port, and block.

    The API (``rag.api``) is served on 127.0.0.1, open to the machine or behind
    ``api_keys`` when set; on any other address only with keys: without them its
    routes are not mounted and a start-up line says how to enable them.
    ``api_only``: the API without the page (refused where the API could not be
    served). Prints the URLs and the start-up time.
    """
    started = time.perf_counter() if started is None else started
    # Before gradio is imported: it reads this at import time.
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    if bool(settings.auth_user) != bool(settings.auth_password):
        raise SettingsError("auth_user and auth_password go together: set both (RAG_AUTH_USER, RAG_AUTH_PASSWORD) "
                            "or neither")
    auth = (settings.auth_user, settings.auth_password) if settings.auth_user and settings.auth_password else None
    with_api = bool(settings.api_keys) or is_loopback(settings.host)
    if api_only and not with_api:
        raise SettingsError(f"the API on {settings.host} needs keys: set RAG_API_KEYS (or api_keys in rag.toml), "
                            "or bind to 127.0.0.1")
    if auth is None and not api_only and not is_loopback(settings.host):
        warning = open_to_network_text(settings.host)
        log.warning(warning)
        print(f"rag: warning: {warning}", flush=True)
    check_address(settings.host, settings.port)  # before the model loads: a taken port fails at once
    app = ChatApp(settings)
    note = app.warm_up()
    server = _mount(app, auth, with_api, api_only)
    base = f"http://{_url_host(settings.host)}:{settings.port}/"
    if not api_only:
        print(f"rag: chat at {base} (ready in {time.perf_counter() - started:.1f} s"
              f"{', login required' if auth else ''})", flush=True)
    if with_api:
        keys = "key required" if settings.api_keys else "open to this machine, no key"
        print(f"rag: API at {base}v1 (OpenAI), {base}retrieval (Dify), {base}mcp (MCP), docs at {base}docs "
              f"({keys}{'; ready in %.1f s' % (time.perf_counter() - started) if api_only else ''})", flush=True)
    else:
        print(f"rag: the API is not served on {settings.host}: set RAG_API_KEYS (or api_keys in rag.toml) to "
              "serve it with keys", flush=True)
    if note:
        print(f"rag: {note} (or use the Articles tab: 重建索引)", flush=True)
    server.wait()


def _mount(app: ChatApp, auth: tuple[str, str] | None, with_api: bool, api_only: bool) -> _Server:
    """The FastAPI app (the API's routes first, then the page at ``/``), started on the settings' address.

    Every route's body is limited on the root app, as it streams in (``rag.api.body_limit``): 1 MB, and
    ``max_upload_bytes`` for gradio's upload route.
    """
    from fastapi import FastAPI

    from rag.api.body_limit import BodyLimit

    settings = app.settings
    if with_api:
        from rag.api.app import create_api
        from rag.api.catalog import Catalog

        root = create_api(Catalog(app.bases), settings)  # the page's knowledge bases: one encoder, one build lock
    else:
        root = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    if not api_only:
        import gradio as gr

        i18n = page_i18n(settings)
        demo = build_app(app, i18n)
        demo.queue(default_concurrency_limit=2)
        font = ["Noto Sans CJK SC", "Source Han Sans SC", "PingFang SC", "Microsoft YaHei", "system-ui", "sans-serif"]
        # Local font names only: a Google font would be fetched from the internet the server may not have.
        theme = gr.themes.Soft(primary_hue="blue", font=font, font_mono=["Noto Sans Mono CJK SC", "monospace"])
        gr.mount_gradio_app(
            root, demo, "/", server_name=settings.host, server_port=settings.port, auth=auth, show_error=False,
            max_file_size=settings.max_upload_bytes, ssr_mode=False, theme=theme, css=static_text("app.css"),
            footer_links=[], i18n=i18n, js=TOAST_TITLE_SCRIPT,
            allowed_paths=report_folders(settings),  # the reports, for download
            # gradio's own /openapi.json and /docs would list the page's routes to anyone: the API has its own
            app_kwargs={"openapi_url": None, "docs_url": None, "redoc_url": None},
        )
    root.add_middleware(BodyLimit, uploads=[(UPLOAD_ROUTE, settings.max_upload_bytes, "max_upload_bytes")])
    return _Server.start(root, settings.host, settings.port)


UPLOAD_ROUTE = "/gradio_api/upload"


def report_folders(settings: Settings) -> list[str]:
    """Where the 评测 tab's reports are written, for each knowledge base (and ``kbs/`` for those made later)."""
    from rag.kb.registry import list_bases, settings_for

    folders = {str(settings.eval_root.resolve()), str(settings.kbs_dir.resolve())}
    try:
        folders.update(str(settings_for(settings, spec).eval_root.resolve()) for spec in list_bases(settings))
    except RagError as exc:  # a broken kb.toml: the page names it where it is used
        log.warning("%s", exc)
    return sorted(folders)


class _Server:
    """uvicorn on a thread of its own, so start-up can be waited for and its failure told in one line."""

    def __init__(self, server: Any, thread: threading.Thread) -> None:
        self.server, self.thread = server, thread

    @classmethod
    def start(cls, asgi: Any, host: str, port: int) -> _Server:
        """Start serving; RagError when the address cannot be bound (taken between the check and now)."""
        import uvicorn

        config = uvicorn.Config(asgi, host=host.strip("[]"), port=port, log_level="warning", lifespan="on",
                                timeout_graceful_shutdown=2)
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
        thread.start()
        while not server.started:
            if not thread.is_alive():
                raise RagError(f"cannot listen on {host}:{port}; choose another port with --port, e.g. "
                               f"--port {_next_port(port)}")
            time.sleep(0.05)
        return cls(server, thread)

    def wait(self) -> None:
        """Block until the server stops (Ctrl-C stops it)."""
        try:
            while self.thread.is_alive():
                self.thread.join(0.5)
        except KeyboardInterrupt:
            self.server.should_exit = True
            self.thread.join(5)


def _url_host(host: str) -> str:
    """The host as a URL writes it (0.0.0.0 and :: as 127.0.0.1 for a local browser; IPv6 in brackets)."""
    bare = host.strip("[]")
    if bare in ("0.0.0.0", "::"):
        return "127.0.0.1"
    return f"[{bare}]" if ":" in bare else bare


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
