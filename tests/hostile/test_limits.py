"""Limits enforced by the library: question length, settings ranges, the model folder, article filters, deadlines.

Each case ends in one named error with a line that says what to do; nothing is
written where it should not be, and the index keeps answering.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from rag import KnowledgeBase, QuestionError, Settings, SettingsError, load_settings
from rag.cli import main
from rag.errors import EndpointError, ModelError
from tests.helpers import make_settings

KNOWN_QUESTION = "2025年深圳人工智能核心产业营收约多少？"


@pytest.fixture(scope="module")
def kb(tmp_path_factory: pytest.TempPathFactory, encoder: Any) -> Iterator[KnowledgeBase]:
    settings = make_settings(tmp_path_factory.mktemp("limits"))
    kb = KnowledgeBase(settings, encoder)
    kb.build()
    yield kb


# -- question length ------------------------------------------------------------------------------
def test_a_long_question_is_refused_before_any_tokenising(kb: KnowledgeBase) -> None:
    started = time.perf_counter()
    with pytest.raises(QuestionError, match="max_question_chars"):
        kb.ask("深圳" * 500_000)
    with pytest.raises(QuestionError, match="over the limit of 2,000"):
        kb.search("人工智能" * 1000)
    with pytest.raises(QuestionError, match="previous question"):
        kb.ask("它的营收是多少？", history=["深圳" * 2000])
    # A million characters would take minutes to tokenise; the refusal is immediate.
    assert time.perf_counter() - started < 1.0
    assert not kb.ask(KNOWN_QUESTION).refused  # the index still answers


def test_a_question_at_the_limit_is_answered(kb: KnowledgeBase) -> None:
    limited = KnowledgeBase(kb.settings.replace(max_question_chars=len(KNOWN_QUESTION)), kb.encoder())
    assert not limited.ask(KNOWN_QUESTION).refused
    with pytest.raises(QuestionError):
        limited.ask(KNOWN_QUESTION + "？")


def test_the_cli_says_the_limit_in_one_line(kb: KnowledgeBase, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["ask", "深" * 2001, "--index-dir", str(kb.settings.index_dir)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "max_question_chars" in err[0] and "Traceback" not in err[0]


# -- article filters ------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["../../etc/passwd", "no-such-article.txt", "/etc/hosts"])
def test_an_unknown_or_outside_article_is_an_error_not_a_refusal(kb: KnowledgeBase, path: str) -> None:
    with pytest.raises(QuestionError, match="not an indexed article") as info:
        kb.ask(KNOWN_QUESTION, articles=[path])
    assert "shenzhen-ai-industry.txt" in str(info.value)  # it lists what can be chosen
    with pytest.raises(QuestionError):
        kb.search(KNOWN_QUESTION, articles=[path])
    assert not kb.ask(KNOWN_QUESTION, articles=["shenzhen-ai-industry.txt"]).refused


# -- settings -------------------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "value"), [
    ("REFUSAL_THRESHOLD", "nan"), ("REFUSAL_THRESHOLD", "-0.5"), ("REFUSAL_THRESHOLD", "inf"),
    ("LLM_TIMEOUT", "-1"), ("LLM_TIMEOUT", "nan"), ("LLM_TIMEOUT", "inf"), ("PORT", "99999999"),
    ("PORT", "0"), ("TOP_K", "0"), ("RRF_LEXICAL_WEIGHT", "nan"), ("RERANK_WEIGHT", "-1"),
    ("MAX_QUESTION_CHARS", "0"), ("THREADS", "-2"), ("LLM_DEADLINE", "0"),
])
def test_every_numeric_setting_has_a_range(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name.lower()):
        load_settings(environ={f"RAG_{name}": value})


def test_a_folder_as_the_settings_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SettingsError, match="is a folder"):
        load_settings(environ={"RAG_CONFIG": str(tmp_path)})
    monkeypatch.setenv("RAG_CONFIG", str(tmp_path))
    assert main(["status"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is a folder" in err[0]


# -- the model folder -----------------------------------------------------------------------------
def test_a_missing_model_folder_names_the_setup_and_writes_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "nonexistent" / "models"
    settings = make_settings(tmp_path, models_dir=missing)
    with pytest.raises(ModelError, match=r"python -m rag\.modelprep"):
        KnowledgeBase(settings).encoder()
    assert not missing.exists() and not missing.parent.exists()


def test_ask_with_a_missing_model_folder_is_one_line(kb: KnowledgeBase, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "models-here-not"
    monkeypatch.setenv("RAG_MODELS_DIR", str(missing))
    assert main(["ask", KNOWN_QUESTION, "--index-dir", str(kb.settings.index_dir)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "make setup" in err[0]
    assert not missing.exists()


# -- the generative deadline ----------------------------------------------------------------------
class _EndlessStream(BaseHTTPRequestHandler):
    """A chat endpoint that streams a token every 50 ms and never finishes."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        chunk = {"choices": [{"index": 0, "delta": {"content": "深圳"}, "finish_reason": None}]}
        try:
            for _ in range(2000):  # bounded: 100 s at most, far past the deadline tested
                self.wfile.write(f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n".encode())
                self.wfile.flush()
                time.sleep(0.05)
        except (BrokenPipeError, ConnectionResetError):
            return

    def log_message(self, *args: Any) -> None:
        return


@pytest.fixture
def endless_endpoint() -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadingHTTPServer(("127.0.0.1", port), _EndlessStream)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}/v1"
    server.shutdown()
    server.server_close()


def test_a_stream_that_never_ends_stops_at_the_deadline(kb: KnowledgeBase, endless_endpoint: str) -> None:
    settings = kb.settings.replace(llm_base_url=endless_endpoint, llm_model="m", llm_timeout=5.0, llm_deadline=1.0)
    generative = KnowledgeBase(settings, kb.encoder())
    started = time.perf_counter()
    with pytest.raises(EndpointError, match="llm_deadline") as info:
        for _ in generative.ask_generative(KNOWN_QUESTION):
            pass
    assert time.perf_counter() - started < 4.0
    assert "Traceback" not in str(info.value)
    assert not generative.ask(KNOWN_QUESTION).refused  # the extractive answer still works


def test_settings_public_dict_has_every_limit() -> None:
    public = Settings().public_dict()
    assert public["max_question_chars"] == 2000 and public["llm_deadline"] == 120.0
