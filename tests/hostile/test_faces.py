"""The faces under hostile input: the browser's messages and page, the CLI's output, arguments, pipes and logs.

Article text, titles, file names and questions are data: no tag, link or image
of theirs survives into the page (checked by rendering the Markdown and parsing
the HTML, not by looking for one spelling), and no escape code of theirs reaches
a terminal. Secrets stay out of logs; nothing about the corpus is served before
the login; bad input ends in one line that says what to do.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from html.parser import HTMLParser
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any

import pytest

from rag.cli import main
from rag.cli.terminal import terminal_line, terminal_text
from rag.errors import RagError
from rag.ingest.articles import parse_article
from rag.kb.bases import KnowledgeBases
from rag.kb.knowledge_base import KnowledgeBase, Retrieved
from rag.kb.status import AnswerStatus, IndexStatus
from rag.kb.uploads import UploadCheck, UploadError
from rag.records import Answer, Article, Chunk, Citation, Hit
from rag.search.searcher import SearchResult
from rag.settings import Settings
from rag.store.build import BuildReport
from rag.ui import articles_tab, chat, eval_tab
from rag.ui import render as view
from rag.ui.texts import (
    build_failed_text,
    build_report_text,
    shown_status_line,
    upload_check_text,
    upload_error_text,
)
from tests.browser_support import FakeChatEndpoint, app_environment, free_port
from tests.helpers import MODELS_DIR, make_settings

markdown_it = pytest.importorskip("markdown_it")

# An image on a port nobody serves: a page that rendered it would request it.
TITLE = 'T<img src="http://127.0.0.1:8799/p.png"><a href="http://x">重新登录</a>'
NAME = '![p](http://127.0.0.1:8799/n.png)[点此](http://x)<script>n()</script>.md'
TEXT = ('见 www.evil.example 与 http://127.0.0.1:8799/t.png ![i](http://127.0.0.1:8799/i.png) '
        '[登录](javascript:alert(1)) <script>t()</script> <a href="http://x">a</a> [1]。')
QUESTION = '<img src=http://127.0.0.1:8799/q.png>![q](http://x/q.png)[q](http://x)？'
# A file name the file system accepts (no "/"), as hostile as it gets.
FILE_NAME = 'evil<img src=x onerror=alert(1)>![i](x.png)[a](javascript:alert(1)).md'


# -- what counts as inert ------------------------------------------------------------------------
class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


# The only tags the UI writes itself; its links go to "#" (HTML) or "#cite-…" (the chat's Markdown).
OWN_TAGS = {"div", "p", "span", "a", "mark", "details", "summary", "h3", "h4", "strong", "em", "blockquote",
            "ul", "li", "br"}


def tags_of(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Tags()
    parser.feed(html)
    return parser.tags


def assert_inert_html(html: str) -> None:
    """Only the UI's own tags: no image, script or frame, no event handler, links only to "#…"."""
    for tag, attrs in tags_of(html):
        assert tag in OWN_TAGS, (tag, html)
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        if tag == "a":
            assert (attrs.get("href") or "").startswith("#"), attrs
    lowered = html.lower()
    for raw in ("<img", "<script", "<a href=\"http", "<iframe", "<svg"):
        assert raw not in lowered, raw


def assert_inert_markdown(md: str) -> None:
    """Rendered as the page renders Markdown (raw HTML allowed): inert HTML, and no bare URL to autolink."""
    assert_inert_html(markdown_it.MarkdownIt("commonmark", {"html": True}).render(md))
    for autolink in ("http://", "https://", "www.", "javascript:"):  # GFM turns these into links
        assert autolink not in md, (autolink, md)


@pytest.fixture
def article() -> Article:
    text = f"# {TITLE}\n\n## {NAME}\n\n{TEXT}\n\n第二段：{TEXT}\n"
    return parse_article(text, NAME, "0" * 64, "utf-8", len(text.encode()), plain_headings=False)


def _citation(article: Article, n: int, number: int) -> Citation:
    p = article.paragraph(number)
    return Citation(n=n, article=article.path, title=article.title, section=p.section, paragraph=p.number,
                    page=None, paragraph_text=article.text[p.start:p.end], paragraph_start=p.start,
                    start=p.start, end=p.end)


def _hit(article: Article, rank: int, number: int) -> Hit:
    p = article.paragraph(number)
    chunk = Chunk(id=rank, article=article.path, title=article.title, section=p.section, paragraphs=(number,),
                  start=p.start, end=p.end, text=article.text[p.start:p.end])
    return Hit(chunk=chunk, rank=rank, score=0.5, dense_rank=rank, dense_score=0.5, lexical_rank=rank)


def _answers(article: Article) -> list[Answer]:
    c1, c2 = _citation(article, 1, 1), _citation(article, 2, 2)
    hits = [_hit(article, 1, 1), _hit(article, 2, 2)]
    cited = Answer(question=QUESTION, query=QUESTION + TEXT, text=f"{c1.sentence_text}[1]{c2.sentence_text}[2]",
                   refused=False, citations=[c1, c2], hits=hits, timings_ms={"total": 1.0})
    refused = Answer(question=QUESTION, query=QUESTION, text="文章中没有找到相关信息。", refused=True, hits=hits)
    generated = Answer(question=QUESTION, query=QUESTION, text=TEXT + "[2]", refused=False, citations=[c2],
                       hits=hits, mode="generative", uncited=False)
    return [cited, refused, generated]


# -- the browser: every message and render function --------------------------------------------
def test_render_functions_keep_hostile_text_inert(article: Article) -> None:
    """Chat messages, copied Markdown, sources, article view: hostile title, name, text and question stay text."""
    for answer in _answers(article):
        assert_inert_markdown(view.chat_text(3, answer))
        assert_inert_markdown(view.answer_markdown(answer))
        assert_inert_html(view.render_sources(3, answer))
        retrieved = Retrieved(answer.query, SearchResult(answer.hits, None, []), ("default", "news"))
        assert_inert_html(view.render_retrieved(3, answer.question, retrieved))
        for c in answer.citations:
            assert_inert_html(view.citation_location(c))
        for h in answer.hits:
            assert_inert_html(view.hit_location(h))
    assert_inert_markdown(view.streaming_text(TEXT))
    assert_inert_html(view.render_searching(QUESTION))
    assert_inert_html(view.render_error(f"{NAME}: {TITLE}"))
    assert_inert_html(view.render_article(article, view.Focus(1, article.paragraphs[0].start,
                                                              article.paragraphs[0].end)))
    # the hostile text shows in full, as text (the query searched sits behind the 详情 toggle now, not in the bubble)
    rendered = markdown_it.MarkdownIt("commonmark", {"html": True}).render(view.chat_text(3, _answers(article)[0]))
    assert "[登录](javascript:alert(1))" in rendered and "&lt;script&gt;t()&lt;/script&gt;" in rendered


def test_only_the_answers_markers_link_even_with_brackets_in_the_article(article: Article) -> None:
    """The article's own "[1]" is text; the two markers the answerer put are the only links."""
    md = view.chat_text(0, _answers(article)[0])
    links = re.findall(r"\]\((#[^)]*)\)", md)
    assert links == ["#cite-0-c1", "#cite-0-c2"]


def test_upload_and_corpus_messages_are_escaped(tmp_path: Path) -> None:
    """Every wording of an upload verdict, refusal and build report, as the articles tab shows it."""
    for status in ("new", "replace", "duplicate"):
        check = UploadCheck(status=status, name=NAME, title=TITLE, paragraphs=2, sha256="0" * 64,  # type: ignore[arg-type]
                            size_bytes=10, duplicate_of=NAME)
        assert_inert_markdown(articles_tab.notice(upload_check_text(check)))
    values = {"name": NAME, "suffix": ".<img src=x>", "supported": [".md"], "size_bytes": 1, "limit_bytes": 1,
              "detail": TITLE, "title": TITLE, "duplicate_of": NAME, "path": NAME, "corpus_dir": TITLE}
    for reason in ("no-name", "hidden", "control-characters", "unsupported-type", "reserved-name", "too-large",
                   "empty", "unreadable", "duplicate", "exists", "changed", "outside-corpus", "missing"):
        text = upload_error_text(UploadError(reason, f"{NAME}: {TITLE}", **values))  # type: ignore[arg-type]
        assert_inert_markdown(articles_tab.notice(text))
    report = BuildReport(version="v", added=[NAME], changed=[TITLE], removed=[NAME], errors=[f"{NAME}: {TITLE}"],
                         warnings=[TEXT])
    assert_inert_markdown(articles_tab.notice(build_report_text(report)))
    assert_inert_markdown(articles_tab.notice("✗ " + build_failed_text(f"ValueError: {TITLE}")))


@pytest.fixture
def toasts(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What the handlers pop up (gradio renders a toast's message as HTML)."""
    import gradio as gr

    shown: list[str] = []
    monkeypatch.setattr(gr, "Warning", lambda message, *a, **k: shown.append(message))
    monkeypatch.setattr(gr, "Info", lambda message, *a, **k: shown.append(message))
    return shown


def test_handlers_escape_what_they_show(tmp_path: Path, toasts: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Upload, replace, delete and evaluate a hostile file through the tabs' handlers: notices and toasts inert."""
    bases = KnowledgeBases(make_settings(tmp_path / "kb"))
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "up"))  # gradio's upload cache: where uploads are
    upload = tmp_path / "up" / FILE_NAME
    upload.parent.mkdir()
    upload.write_text(f"# {TITLE}\n\n{TEXT}\n", encoding="utf-8")
    shown = []

    def steps(handler: Any) -> list[Any]:  # the tab's handlers are generators: every step is shown
        done = list(handler)
        shown.extend(step[0] for step in done)
        return done[-1]

    steps(articles_tab.upload_and_index(bases, "default", [str(upload)]))  # one action: added and indexed
    assert (bases.settings.corpus_dir / FILE_NAME).is_file()
    upload.write_text(f"# {TITLE}\n\n{TEXT}\n\n另一段。\n", encoding="utf-8")
    asked = steps(articles_tab.upload_and_index(bases, "default", [str(upload)]))  # the same name: asks first
    steps(articles_tab.confirm_replace(bases, "default", asked[6]))
    copy = tmp_path / "up" / ("copy-" + FILE_NAME)
    copy.write_bytes(upload.read_bytes())
    steps(articles_tab.upload_and_index(bases, "default", [str(copy)]))  # the same bytes: a duplicate
    shown.append(articles_tab.ask_delete(FILE_NAME)[0])
    steps(articles_tab.remove_article(bases, "default", FILE_NAME))
    steps(articles_tab.remove_article(bases, "default", FILE_NAME))  # gone already: the refusal quotes the name
    shown.append(eval_tab.run_eval(bases, "default", str(tmp_path / f"{FILE_NAME}.jsonl"), 0, True,
                                   lambda *a, **k: None)[0])
    shown.append(eval_tab.selection_text(TITLE))
    for md in shown:
        assert_inert_markdown(md)
    assert any("重新登录" in md for md in shown)  # the title is shown, as text
    assert toasts and all(tags_of(t) == [] for t in toasts), toasts


def test_a_question_over_the_limit_is_a_chat_notice(tmp_path: Path, toasts: list[str]) -> None:
    """The server refuses what the browser's box would not let through: a notice in the chat, no traceback."""
    bases = KnowledgeBases(make_settings(tmp_path, max_question_chars=50))
    long_question = QUESTION * 10
    *_, last = chat.respond(bases, long_question, [], [], "hybrid", 5, "extractive", None)
    messages, turns, sources, *_ = last
    assert messages[-1]["content"].startswith("⚠ ") and "max" in messages[-1]["content"]
    assert "max_question_chars" in sources and turns[-1].answer is None
    for message in messages:
        assert_inert_markdown(message["content"])
    assert_inert_html(sources)
    assert toasts and "max_question_chars" in toasts[-1]
    # the refused question is no history: the next, short question is not refused because of it
    *_, after = chat.respond(bases, "短问题？", messages, turns, "hybrid", 10**9, "extractive", "not-a-list")
    assert "previous question" not in after[0][-1]["content"]


def test_status_line_masks_addresses_and_escapes(tmp_path: Path) -> None:
    bases = KnowledgeBases(make_settings(tmp_path))
    answers = AnswerStatus("extractive", False, "off", 1, 0.9, 0.9, 0.0, 0.0)
    status = IndexStatus("index", "v1", "2025-01-01T00:00:00+00:00", TITLE, TITLE, 384, {}, "flat", 1, 2, 3, "ok",
                         "milvus", answers,
                         store_details={"milvus_uri": "https://root:PASSWORD-1@milvus.example:19530?token=KEY-2"})
    bases.status = lambda name=None: status  # type: ignore[method-assign]
    line = shown_status_line(bases, "default")
    assert "PASSWORD" not in line and "KEY-2" not in line and "root" not in line
    assert_inert_markdown(line.replace("https\\://", "https\\:"))  # the masked address is text, not a link


# -- the page before and after the login --------------------------------------------------------
SECRET_NAME = "secret-plan-QZX.txt"
SECRET_TITLE = "绝密标题QZX"


@pytest.fixture
def launched(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Path, Settings]]:
    """The page with a login, served in this process from an empty working folder (no model needed)."""
    data = tmp_path / "data"
    (data / "corpus").mkdir(parents=True)
    (data / "corpus" / SECRET_NAME).write_text(f"# {SECRET_TITLE}\n\n正文一段。\n", encoding="utf-8")
    settings = Settings(corpus_dir=data / "corpus", index_dir=data / "index", models_dir=MODELS_DIR,
                        auth_user="u", auth_password="pw")
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
    from rag.ui.layout import build_app

    demo = build_app(KnowledgeBases(settings))
    demo.queue()
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, auth=("u", "pw"), prevent_thread_lock=True, quiet=True,
                ssr_mode=False)
    try:
        yield f"http://127.0.0.1:{port}", cwd, settings
    finally:
        demo.close()


def _get(opener: urllib.request.OpenerDirector, url: str) -> str:
    try:
        with opener.open(url, timeout=30) as response:
            return str(response.read().decode("utf-8", "replace"))
    except urllib.error.HTTPError as exc:  # 401 before the login: its body is what a stranger sees
        return str(exc.read().decode("utf-8", "replace"))


def test_nothing_of_the_corpus_is_served_before_the_login(launched: tuple[str, Path, Settings]) -> None:
    from rag.ui.layout import fill_page

    url, cwd, settings = launched
    stranger = urllib.request.build_opener()
    for path in ("/", "/config", "/gradio_api/info"):
        body = _get(stranger, url + path)
        assert "QZX" not in body, path
    # Logged in, the page as built still holds nothing of the corpus: it comes with the load event.
    member = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
    login = urllib.parse.urlencode({"username": "u", "password": "pw"}).encode()
    member.open(urllib.request.Request(url + "/login", data=login), timeout=30).read()
    config = _get(member, url + "/config")
    assert '"components"' in config and "QZX" not in config
    _, _, _, table, delete_choice, _ = fill_page(KnowledgeBases(settings))
    assert SECRET_NAME in str(table.value) and SECRET_NAME in str(delete_choice.choices)
    assert list(cwd.iterdir()) == [], "nothing is written where the server was started"


# -- the server's start ------------------------------------------------------------------------
@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("0.0.0.0", 0))
        holder.listen(1)
        yield int(holder.getsockname()[1])


def test_a_taken_port_is_one_line_and_an_open_host_warns(taken_port: int, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str],
                                                         caplog: pytest.LogCaptureFixture) -> None:
    from rag.server import serve

    settings = make_settings(tmp_path, host="0.0.0.0", port=taken_port)
    with pytest.raises(RagError, match=f"port {taken_port} is already in use .*--port {taken_port + 1}"):
        serve(settings)
    out = capsys.readouterr().out
    assert "reachable from the network without a login" in out and "RAG_AUTH_USER" in out
    assert any("without a login" in r.getMessage() for r in caplog.records)
    # with a login, or on 127.0.0.1, no warning
    with pytest.raises(RagError, match="already in use"):
        serve(settings.replace(host="127.0.0.1"))
    with pytest.raises(RagError, match="already in use"):
        serve(settings.replace(auth_user="u", auth_password="p"))
    assert "without a login" not in capsys.readouterr().out
    assert main(["serve", "--port", str(taken_port), "--index-dir", str(tmp_path / "index")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: port {taken_port} is already in use") and err.count("\n") == 1


# -- the command line ------------------------------------------------------------------------------
HOSTILE_FILE = "量子\x1b[31m钢琴\x07.txt"
HOSTILE_ARTICLE = (
    "# 量子钢琴厂\x1b]0;pwned\x07报告\n\n## 章节\x1b[2J一\n\n"
    "量子钢琴厂的年产量是 8765 台[1]，这句话里的 [2] 不是引用。\x1b[2J\x1b[H清屏之后还有文字。\n\n"
    + "量子钢琴厂位于深圳，工人们每天制造钢琴，钢琴销往世界各地，这一段只是为了让文章足够长。" * 20 + "\n"
)
QUANTUM_QUESTION = "量子钢琴厂的年产量是多少台？"


@pytest.fixture(scope="module")
def hostile_index(tmp_path_factory: pytest.TempPathFactory, encoder: Any) -> Settings:
    settings = make_settings(tmp_path_factory.mktemp("faces"))
    (settings.corpus_dir / HOSTILE_FILE).write_text(HOSTILE_ARTICLE, encoding="utf-8")
    report = KnowledgeBase(settings, encoder).build()
    assert report.articles == 2, report
    return settings


def _cli_env(settings: Settings, **extra: str) -> dict[str, str]:
    return {**app_environment(settings), **extra}


def test_terminal_output_shows_escape_codes_as_text(hostile_index: Settings, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("RAG_MODELS_DIR", str(MODELS_DIR))
    monkeypatch.setenv("RAG_CORPUS_DIR", str(hostile_index.corpus_dir))
    flags = ["--index-dir", str(hostile_index.index_dir)]
    for argv in (["search", QUANTUM_QUESTION], ["ask", QUANTUM_QUESTION], ["status"],
                 ["index", str(hostile_index.corpus_dir)]):
        assert main([*argv, *flags]) == 0, argv
        captured = capsys.readouterr()
        printed = captured.out + captured.err
        assert not re.search("[\x00-\x09\x0b-\x1f\x7f]", printed), (argv, printed)
    assert main(["ask", QUANTUM_QUESTION, *flags]) == 0
    out = capsys.readouterr().out
    assert "8765" in out and "\\x1b[2J" in out and "量子\\x1b[31m钢琴\\x07.txt" in out
    assert main(["search", QUANTUM_QUESTION, "--json", *flags]) == 0
    hits = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert HOSTILE_FILE in {h["article"] for h in hits}  # JSON keeps the exact name, escaped the JSON way


def test_terminal_helpers() -> None:
    assert terminal_line("a\x1b[31mb\r\nc\u202ed\udcff\x9b") == "a\\x1b[31mb\\r\\nc\\u202ed\\xff\\x9b"
    assert terminal_text("一\n二\x1b[2J\t三") == "一\n二\\x1b[2J\\t三"


def test_a_closed_pipe_ends_quietly(hostile_index: Settings) -> None:
    """`rag search … --json | head -1`: the reader leaves early; no traceback, the status Unix tools give."""
    process = subprocess.Popen([sys.executable, "-m", "rag.cli", "search", QUANTUM_QUESTION, "--json"],
                               env=_cli_env(hostile_index), cwd=hostile_index.index_dir.parent,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # gone before the first line is written
    err = process.stderr.read().decode("utf-8", "replace")
    assert process.wait(timeout=120) == 141, err
    assert "Traceback" not in err and "Exception ignored" not in err and err == ""


def test_arguments_that_are_not_utf8_are_one_line(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "rag.cli", "ask", b"caf\xe9 \xff?"], capture_output=True,
                            env=_cli_env(make_settings(tmp_path)), cwd=tmp_path, timeout=120)
    err = result.stderr.decode("utf-8", "replace")
    assert result.returncode == 2, err
    assert err == "error: the argument caf\\xe9 \\xff? is not valid UTF-8 (the bytes shown as \\xNN); pass UTF-8 " \
                  "text, e.g. with a UTF-8 locale (LANG=C.UTF-8)\n"


def test_verbose_logs_hold_no_credentials(hostile_index: Settings) -> None:
    """-v logs our own work; the HTTP libraries, which print whole URLs, stay at warnings."""
    endpoint = FakeChatEndpoint(["量子钢琴厂年产 8765 台", "[1]。"]).start()
    endpoint.gate.set()
    base = endpoint.base_url.replace("http://", "http://user:PASSWORD-9@")
    try:
        result = subprocess.run(
            [sys.executable, "-m", "rag.cli", "ask", QUANTUM_QUESTION, "--generative", "-v"], capture_output=True,
            env=_cli_env(hostile_index, RAG_LLM_BASE_URL=base, RAG_LLM_MODEL=endpoint.model,
                         RAG_LLM_API_KEY="sk-KEY-9"),
            cwd=hostile_index.index_dir.parent, timeout=180)
    finally:
        endpoint.stop()
    out, err = result.stdout.decode(), result.stderr.decode()
    assert result.returncode == 0, err
    assert "8765" in out and "INFO" in err  # -v did log
    assert endpoint.requests, "the endpoint was asked"
    for secret in ("PASSWORD-9", "KEY-9", "user:"):
        assert secret not in out + err, secret

