"""The web server: one FastAPI app on uvicorn, the API's routes and the page mounted on it (``rag serve``).

``serve(settings)`` opens the knowledge bases (``rag.kb.bases.KnowledgeBases``,
one encoder and build lock for the API and the page alike), warms them up, builds
the root app, puts the body limit on it (``rag.api.body_limit``: 1 MB, and
``max_upload_bytes`` for gradio's upload route), mounts the API
(``rag.api.app.create_api``) and, unless ``api_only``, the page
(``rag.ui.mount.mount_page``); ``--api-only`` imports no gradio and builds no page.
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
from rag.kb.bases import KnowledgeBases
from rag.settings import Settings

log = logging.getLogger(__name__)

UPLOAD_ROUTE = "/gradio_api/upload"


def serve(settings: Settings, started: float | None = None, api_only: bool = False) -> None:
    """Serve the page at ``/`` and the API beside it on settings.host:settings.port, and block.

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
    bases = KnowledgeBases(settings)
    note = bases.warm_up()
    server = _Server.start(root_app(bases, auth, with_api, api_only), settings.host, settings.port)
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
        print(f"rag: {note}{'' if api_only else ' (or use the Articles tab: 重建索引)'}", flush=True)
    server.wait()


def root_app(bases: KnowledgeBases, auth: tuple[str, str] | None, with_api: bool, api_only: bool) -> Any:
    """The root FastAPI app: the API's routes first, then (unless ``api_only``) the page at ``/``; the body limit."""
    from fastapi import FastAPI

    from rag.api.body_limit import BodyLimit

    settings = bases.settings
    if with_api:
        from rag.api.app import create_api

        root = create_api(bases, settings)  # the page's knowledge bases: one encoder, one build lock
    else:
        root = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    if not api_only:
        from rag.ui.mount import mount_page

        mount_page(root, bases, auth)
    root.add_middleware(BodyLimit, uploads=[(UPLOAD_ROUTE, settings.max_upload_bytes, "max_upload_bytes")])
    return root


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
