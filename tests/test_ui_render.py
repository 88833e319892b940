"""The browser's HTML and Markdown: escaped article text, exact highlights, citation links."""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from rag.errors import IndexCorruptError, SettingsError
from rag.evaluation.metrics import QuestionResult, summarize
from rag.ingest.articles import parse_article
from rag.kb.bases import KnowledgeBases
from rag.records import Answer, Article, Chunk, Citation, Hit, ShortAnswer
from rag.server import serve
from rag.settings import Settings
from rag.store.format import CURRENT, MANIFEST, VERSIONS
from rag.ui import render as view
from rag.ui.chat import _article_view, _focus_of, _parse_cite, example_questions
from rag.ui.eval_tab import hit_bars, metric_rows, question_rows
from rag.ui.layout import static_text
from rag.ui.texts import shown_status_line
from tests.helpers import ROOT, make_settings

EVIL = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'
TEXT = (
    "# 测试文章\n\n"
    "## 一、规模\n\n"
    f"第一段讲规模。营收约 2200 亿元{EVIL}。企业超 2600 家。\n\n"
    "第二段讲别的 *星号* 和 [链接](javascript:alert(1))。\n\n"
    "## 二、人才\n\n"
    "人才超 1200 人。\n"
)


@pytest.fixture
def article() -> Article:
    return parse_article(TEXT, "t/test.md", "0" * 64, "utf-8", len(TEXT.encode()), plain_headings=False)


def span_of(article: Article, sentence: str) -> tuple[int, int]:
    start = article.text.index(sentence)
    return start, start + len(sentence)


def citation(article: Article, n: int, sentence: str) -> Citation:
    start, end = span_of(article, sentence)
    p = next(p for p in article.paragraphs if p.start <= start < p.end)
    return Citation(n=n, article=article.path, title=article.title, section=p.section, paragraph=p.number,
                    page=p.page, paragraph_text=article.text[p.start:p.end], paragraph_start=p.start,
                    start=start, end=end)


def hit(article: Article, rank: int, number: int) -> Hit:
    p = article.paragraph(number)
    chunk = Chunk(id=rank, article=article.path, title=article.title, section=p.section, paragraphs=(number,),
                  start=p.start, end=p.end, text=article.text[p.start:p.end])
    return Hit(chunk=chunk, rank=rank, score=1.0 / rank, dense_rank=rank, dense_score=0.9, lexical_rank=None)


@pytest.fixture
def answer(article: Article) -> Answer:
    cited = f"营收约 2200 亿元{EVIL}。"
    c = citation(article, 1, cited)
    return Answer(question="营收多少？", query="深圳人工智能产业营收多少？", text=f"{cited}[1]", refused=False,
                  citations=[c], hits=[hit(article, 1, 1), hit(article, 2, 2), hit(article, 3, 3)],
                  timings_ms={"search": 12.0, "answer": 3.0, "total": 15.0})


def with_short(answer: Answer, phrase: str, **changes: object) -> Answer:
    """``answer`` with ``phrase`` (found in its first citation's sentence) as its short answer."""
    c = answer.citations[0]
    start = c.start + c.sentence_text.index(phrase)
    return replace(answer, short_answer=ShortAnswer(phrase, c.n, start, start + len(phrase), 0.9), **changes)


def no_markup_from(html: str) -> bool:
    """True when nothing of the article became a tag or an attribute."""
    return "<script" not in html and "<img" not in html and "onerror=\"" not in html


def test_escape_and_highlight() -> None:
    assert view.esc(EVIL).startswith("&lt;script&gt;")
    assert view.highlight("甲<乙>丙", 1, 4) == "甲<mark>&lt;乙&gt;</mark>丙"
    assert view.highlight("abc", 5, 9) == "abc"  # a span past the end highlights nothing
    assert view.esc_markdown("[x](javascript:a) *b*") == "\\[x\\]\\(javascript\\:a\\) \\*b\\*"


def test_sources_mark_the_cited_span_and_fold_the_rest(article: Article, answer: Answer) -> None:
    html = view.render_sources(0, answer)
    assert no_markup_from(html)
    marks = re.findall(r'<mark data-n="1">(.*?)</mark>', html)
    assert marks == [view.esc(answer.citations[0].sentence_text)]
    assert 'data-cite="0-c1"' in html and 'data-state="answered"' in html
    assert "一、规模" in html and "第1段" in html
    # paragraph 1 holds the citation; paragraphs 2 and 3 are the uncited passages behind the fold
    folded = html.split("<details", 1)[1]
    assert "其他检索到的段落（2）" in folded and 'data-cite="0-h2"' in folded and 'data-cite="0-h1"' not in folded
    # the question a follow-up was asked as, in words in sight; ranks and timings behind the 详情 toggle only
    assert '<p class="src-asked-as">按“深圳人工智能产业营收多少？”回答</p>' in html
    visible, details = html.split('<details class="src-details">', 1)
    assert "实际检索" not in visible and "向量第" not in visible and " ms" not in visible
    assert "实际检索：深圳人工智能产业营收多少？" in details and "向量第1" in details and "检索 12 ms" in details
    english = view.render_sources(0, answer, lang="en")
    assert '<p class="src-asked-as">Answered as “深圳人工智能产业营收多少？”</p>' in english


def test_refusal_shows_the_nearest_passages_as_possibly_related(article: Article, answer: Answer) -> None:
    refused = Answer(question="北京呢？", query="北京呢？", text="文章中没有找到相关信息。", refused=True,
                     hits=answer.hits)
    html = view.render_sources(3, refused)
    assert "可能相关" in html and "<mark>" not in html
    assert html.count('class="hit-card"') == 3 and "<details class=\"uncited\"" not in html
    assert no_markup_from(html)


def test_article_view_renders_every_paragraph_as_text(article: Article, answer: Answer) -> None:
    c = answer.citations[0]
    html = view.render_article(article, view.Focus(c.paragraph, c.start, c.end))
    assert no_markup_from(html)
    assert re.findall(r'id="para-(\d+)"', html) == [str(p.number) for p in article.paragraphs]
    assert html.count('class="para target"') == 1 and 'id="para-1" class="para target"' in html
    assert re.findall(r"<mark>(.*?)</mark>", html) == [view.esc(c.sentence_text)]
    assert html.index("一、规模") < html.index("para-1") < html.index("二、人才") < html.index("para-3")
    assert "\\[" not in html  # HTML view: no Markdown escapes


def test_long_article_shows_the_paragraphs_around_the_focus(article: Article) -> None:
    focus = view.Focus(3, article.paragraph(3).start, article.paragraph(3).end)
    html = view.render_article(article, focus, max_chars=20)
    assert 'id="para-3"' in html and 'id="para-1"' not in html
    assert "前面还有 2 段" in html


def test_chat_text_links_citations_and_escapes_the_rest(answer: Answer) -> None:
    md = view.chat_text(4, answer)
    assert "[\\[1\\]](#cite-4-c1)" in md
    assert no_markup_from(md)
    assert md.startswith("按“深圳人工智能产业营收多少？”回答\n\n")
    assert view.chat_text(4, answer, lang="en").startswith("Answered as “深圳人工智能产业营收多少？”\n\n")
    asked_as_written = replace(answer, query=answer.question)
    assert not view.chat_text(4, asked_as_written).startswith("按")
    assert "src-asked-as" not in view.render_sources(4, asked_as_written)
    assert "实际检索" not in md and "实际检索" not in view.answer_markdown(answer)


def test_only_the_answers_own_markers_become_links(article: Article) -> None:
    """A [1] or [2] in article text is text; the markers after each cited sentence are the links."""
    text = "人才超 1200 人。"
    cited = citation(article, 1, text)
    quoting = Citation(n=1, article=cited.article, title=cited.title, section=cited.section,
                       paragraph=cited.paragraph, page=None, paragraph_text="见[2]与[1]。", paragraph_start=0,
                       start=0, end=len("见[2]与[1]。"))
    second = Citation(n=2, article=cited.article, title=cited.title, section=cited.section,
                      paragraph=cited.paragraph, page=None, paragraph_text="另[1]句。", paragraph_start=0, start=0,
                      end=len("另[1]句。"))
    answer = Answer(question="q", query="q", text="见[2]与[1]。[1]另[1]句。[2]", refused=False,
                    citations=[quoting, second])
    md = view.chat_text(0, answer)
    assert md == ("见\\[2\\]与\\[1\\]。[\\[1\\]](#cite-0-c1)另\\[1\\]句。[\\[2\\]](#cite-0-c2)")
    assert view.answer_markdown(answer).splitlines()[2] == "**答：** 见\\[2\\]与\\[1\\]。[1]另\\[1\\]句。[2]"
    # A text that is not its citations' sentences (an answer made elsewhere) links nothing it cannot place.
    odd = Answer(question="q", query="q", text="别的[1]", refused=False, citations=[quoting])
    assert "#cite-" not in view.chat_text(0, odd)
    # Generative: the model's markers, checked as they streamed, are the ones whose number is a citation.
    generated = Answer(question="q", query="q", text="甲[1]乙[3]", refused=False, citations=[quoting],
                       mode="generative")
    assert view.chat_text(0, generated) == "甲[\\[1\\]](#cite-0-c1)乙\\[3\\]"


def test_markdown_copy_holds_the_answer_and_its_sources(answer: Answer) -> None:
    md = view.answer_markdown(answer)
    c = answer.citations[0]
    assert f"**答：** {view.esc_markdown(c.sentence_text)}[1]" in md
    assert f"[1] 测试文章 · 一、规模 · 第1段（{view.esc_markdown(c.article)}）" in md
    assert f"**{view.esc_markdown(c.sentence_text)}**" in md
    assert no_markup_from(md)


def test_example_questions_put_hand_picked_ones_first() -> None:
    got = example_questions([("x/new.txt", "新文章"), ("shenzhen-ai-industry.txt", "深圳")], limit=5)
    assert got[0] == "2025年深圳人工智能核心产业营收约多少？"
    assert got[-1] == "《新文章》主要讲了什么？"


def _result(id: str, gold: tuple[str, ...], prediction: str, **changes: object) -> QuestionResult:
    """A scored question as a run keeps it (only what the table reads set)."""
    fields: dict[str, object] = dict(id=id, question=f"question {id}", gold_answers=gold, gold_article=None,
                                     unanswerable=not gold, retrieval_graded=False, first_hit_rank=None,
                                     retrieved=(), prediction=prediction, refused=False, em=None, f1=None,
                                     contained=None, too_long=False, answer_chars=len(prediction), search_ms=1.0,
                                     total_ms=12.3)
    return QuestionResult(**{**fields, **changes})  # type: ignore[arg-type]


def test_question_rows_put_failures_first() -> None:
    questions = [_result("a", ("x",), "x", em=1.0, f1=1.0, contained=True),
                 _result("b", (), "y"),
                 _result("c", ("z",), "", refused=True, em=0.0, f1=0.0, contained=False)]
    rows = question_rows(questions)
    assert [r[1] for r in rows] == ["b", "c", "a"]
    assert rows[0][3] == "（无答案）" and rows[1][5] == "（拒答）" and rows[1][9] == "12"
    assert rows[2][4] == "–" and rows[0][6] == "–"  # no short answer; containment not graded
    english = question_rows(questions, "en")
    assert english[0][3] == "(no answer)" and english[1][5] == "(refused)" and english[0][0] == "✗ failed"


def test_metric_rows_and_bars() -> None:
    summary = summarize([_result("a", ("x",), "x", em=1.0, f1=1.0, contained=True, retrieval_graded=True,
                                 first_hit_rank=2),
                         _result("b", ("x",), "y", em=0.0, f1=0.5, contained=False, retrieval_graded=True,
                                 first_hit_rank=None)], depth=5)
    rows = metric_rows(summary)
    # metric names in plain Chinese (issue 17), the usual name beside it where it is one
    assert ["前 3 个片段命中率（hit@3）", "0.500", "前 3 个片段中含答案的比例"] in rows
    assert ["回答含标准答案", "0.500", "回答包含标准答案"] in rows
    assert all("hit@10" not in r[0] for r in rows)
    assert hit_bars(summary) == [("hit@1", 0.0), ("hit@3", 0.5), ("hit@5", 0.5)]
    english = metric_rows(summary, "en")
    assert ["containment", "0.500", "the answer contains the gold"] in english  # English notes too (issue 24)


def test_citation_keys(answer: Answer) -> None:
    assert _parse_cite("2-c1") == (2, "c", 1)
    assert _parse_cite("2-h10") == (2, "h", 10)
    for bad in ("", "x-c1", "2-x1", "2-c", "-c1", "2-c1x"):
        assert _parse_cite(bad) is None
    path, focus, text = _focus_of(answer, "c", 1)
    c = answer.citations[0]
    assert (path, focus, text) == (c.article, view.Focus(c.paragraph, c.start, c.end), c.sentence_text)
    path, focus, text = _focus_of(answer, "h", 2)
    assert focus is not None and text == answer.hits[1].chunk.text
    assert _focus_of(answer, "c", 7) == (None, None, "")


def test_importing_the_ui_does_not_import_gradio() -> None:
    code = "import sys, rag.ui, rag.ui.render, rag.kb.uploads; sys.exit('gradio' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0


def test_login_needs_both_user_and_password() -> None:
    with pytest.raises(SettingsError, match="auth_user and auth_password"):
        serve(Settings(auth_user="admin"))


def test_css_and_scripts_are_package_files() -> None:
    """The page's CSS and scripts are files of rag/ui/static/, read as package resources."""
    assert ".gradio-container" in static_text("app.css")
    assert "window.__ragOpenCite" in static_text("sources.js")
    assert "para.target" in static_text("viewer.js")
    assert static_text("copy.js").startswith("(md) =>")


def test_index_errors_reach_the_page_and_no_index_is_an_empty_state(tmp_path: Path) -> None:
    bases = KnowledgeBases(make_settings(tmp_path))
    assert bases.article("default", "a.txt") is None and bases.indexed_articles("default") == []
    broken = bases.settings.index_dir / VERSIONS / "v1"
    broken.mkdir(parents=True)
    (broken / MANIFEST).write_text("{not json", encoding="utf-8")
    (bases.settings.index_dir / CURRENT).write_text("v1", encoding="utf-8")
    with pytest.raises(IndexCorruptError):
        bases.article("default", "a.txt")
    with pytest.raises(IndexCorruptError):
        bases.indexed_articles("default")
    html = _article_view(bases, "a.txt", view.Focus(1, 0, 1), "x")
    assert "manifest.json" in html and "rag index --rebuild" in html
    assert shown_status_line(bases, "default").startswith("⚠")


def test_a_damaged_version_is_shown_in_the_header_with_the_fix(tmp_path: Path, encoder: object) -> None:
    from rag.kb.knowledge_base import KnowledgeBase

    settings = make_settings(tmp_path)
    KnowledgeBase(settings, encoder).build()  # type: ignore[arg-type]
    bases = KnowledgeBases(settings)
    assert not shown_status_line(bases, "default").startswith("⚠")
    version = settings.index_dir / VERSIONS / (settings.index_dir / CURRENT).read_text(encoding="utf-8").strip()
    chunks = version / "chunks.jsonl"
    chunks.write_bytes(chunks.read_bytes()[:-10])  # truncated: the manifest still reads
    line = shown_status_line(bases, "default")
    assert line.startswith("⚠ 索引已损坏") and "chunks.jsonl" in line.replace("\\", "") and "1 篇文章" in line


# -- the short answer ------------------------------------------------------------------------------
def test_highlight_nests_the_short_answer_inside_the_mark() -> None:
    assert view.highlight("甲<乙>丙。", 0, 6, (1, 4)) == '<mark>甲<strong class="short">&lt;乙&gt;</strong>丙。</mark>'
    # clipped to the mark: the inner span never leaves it, and an empty one adds nothing
    assert view.highlight("甲乙丙丁", 1, 3, (0, 9)) == '甲<mark><strong class="short">乙丙</strong></mark>丁'
    assert view.highlight("甲乙丙丁", 1, 3, (3, 4)) == "甲<mark>乙丙</mark>丁"


def test_chat_leads_with_the_short_answer_in_bold_then_the_evidence(answer: Answer) -> None:
    shown = with_short(answer, "约 2200 亿元")
    md = view.chat_text(4, shown)
    head, evidence = md.split("\n\n", 1)[1].split("\n\n", 1)  # after the 按“…”回答 line
    assert head == "**约 2200 亿元** [\\[1\\]](#cite-4-c1)"
    assert evidence == view.chat_text(4, answer).split("\n\n", 1)[1]  # the evidence as before
    markdown_it = pytest.importorskip("markdown_it")  # gradio renders chat Markdown alike (CommonMark)
    rendered = markdown_it.MarkdownIt("commonmark", {"html": True}).render(md)
    assert '<p><strong>约 2200 亿元</strong> <a href="#cite-4-c1">[1]</a></p>' in rendered
    assert rendered.count("<strong>") == 1 and no_markup_from(rendered)
    # a phrase holding markup and Markdown stays text in the bold too
    hostile = markdown_it.MarkdownIt("commonmark", {"html": True}).render(view.chat_text(4, with_short(answer, EVIL)))
    assert no_markup_from(hostile) and f"<strong>{view.esc(EVIL)}</strong>" in hostile


def test_short_answer_is_marked_inside_the_cited_sentence(article: Article, answer: Answer) -> None:
    """Sources card and article view: <strong class="short"> holds exactly the phrase, inside the sentence's mark."""
    phrase = f"2200 亿元{EVIL}"  # article text: escaped inside the strong as everywhere else
    shown = with_short(answer, phrase)
    c = shown.citations[0]
    path, focus, _ = _focus_of(shown, "c", 1)
    assert path == c.article and focus == view.Focus(c.paragraph, c.start, c.end, (shown.short_answer.start,
                                                                                  shown.short_answer.end))
    assert _focus_of(answer, "c", 1)[1] == view.Focus(c.paragraph, c.start, c.end)  # no short answer: as before
    for html in (view.render_sources(0, shown), view.render_article(article, focus)):
        assert no_markup_from(html)
        assert re.findall(r'<strong class="short">(.*?)</strong>', html) == [view.esc(phrase)]
        marked = re.findall(r"<mark[^>]*>(.*?)</mark>", html)
        assert [re.sub(r"</?strong[^>]*>", "", m) for m in marked] == [view.esc(c.sentence_text)]
    assert "mark strong.short" in static_text("app.css")


def test_markdown_copy_puts_the_short_answer_first(answer: Answer) -> None:
    shown = with_short(answer, "约 2200 亿元")
    lines = view.answer_markdown(shown).splitlines()
    evidence = f"{view.esc_markdown(answer.citations[0].sentence_text)}[1]"
    assert lines[2:5] == ["**答：** **约 2200 亿元** [1]", "", evidence]
    assert view.answer_markdown(answer).splitlines()[2].startswith("**答：** 营收约")  # without one: as before


@pytest.mark.parametrize("change", [
    {"refused": True},  # a refusal shows the refusal only
    {"mode": "generative"},  # generative answers carry none; one that did would not be shown
])
def test_refusals_and_generative_answers_look_as_before(answer: Answer, change: dict[str, object]) -> None:
    plain = replace(answer, **change)
    shown = with_short(answer, "约 2200 亿元", **change)
    assert view.shown_short_answer(shown) is None
    assert view.chat_text(0, shown) == view.chat_text(0, plain)
    assert view.answer_markdown(shown) == view.answer_markdown(plain)
    assert view.render_sources(0, shown) == view.render_sources(0, plain)


def test_a_short_answer_that_does_not_fit_its_citation_is_not_shown(answer: Answer) -> None:
    """Offsets outside the sentence, a text they do not reproduce, or an unknown citation: the evidence alone."""
    good = with_short(answer, "约 2200 亿元")
    assert good.short_answer is not None and view.shown_short_answer(good) == good.short_answer
    s = good.short_answer
    for bad in (replace(s, n=2), replace(s, text="约 2300 亿元"), replace(s, start=s.start - 3, end=s.end - 3),
                replace(s, end=s.end + 1), replace(s, text="   ", end=s.start + 3)):
        odd = replace(answer, short_answer=bad)
        assert view.shown_short_answer(odd) is None
        assert view.chat_text(0, odd) == view.chat_text(0, answer)
        assert 'class="short"' not in view.render_sources(0, odd)


@pytest.mark.parametrize("module", ["rag.ui.escape", "rag.ui.render", "rag.ui.chat"])
def test_docstring_examples(module: str) -> None:
    import doctest
    import importlib

    failures, tried = doctest.testmod(importlib.import_module(module))
    assert tried and failures == 0


def test_the_same_paragraph_cited_twice_is_one_card_with_both_sentences_marked(article: Article) -> None:
    first, second = citation(article, 1, "第一段讲规模。"), citation(article, 2, "企业超 2600 家。")
    other = citation(article, 3, "人才超 1200 人。")
    answer = Answer(question="q", query="q", text="x", refused=False, citations=[first, second, other])
    html = view.render_sources(2, answer)
    assert html.count('class="cite-card"') == 2 and "引用 2 段" in html
    card = html.split('class="cite-card"')[1]
    assert 'data-keys="2-c1 2-c2"' in card and 'data-cite="2-c1"' in card and 'data-cite="2-c2"' in card
    assert re.findall(r'<mark data-n="(\d)">(.*?)</mark>', card) == [("1", "第一段讲规模。"), ("2", "企业超 2600 家。")]
    assert no_markup_from(html)
    assert "实际检索" not in html  # the question was searched as asked


def test_each_knowledge_base_keeps_its_own_ratings_and_cards_name_theirs(tmp_path: Path, answer: Answer) -> None:
    """A rating goes to the knowledge base that answered; only its 评测 tab offers it; cards name the base."""
    from types import SimpleNamespace

    from rag.kb.feedback import feedback_path
    from rag.ui.chat import Turn, rate
    from rag.ui.eval_tab import question_set_choices

    bases = KnowledgeBases(make_settings(tmp_path, kbs_dir=tmp_path / "kbs"))
    bases.create("news")
    news = bases.settings_of("news")
    assert bases.get("news") is bases.get("news") and bases.get("default") is not bases.get("news")
    assert news.index_dir == tmp_path / "kbs" / "news" / "index"
    assert news.eval_root != bases.settings.eval_root
    theirs = replace(answer, citations=[replace(c, knowledge_base="news") for c in answer.citations],
                     hits=[replace(h, knowledge_base="news") for h in answer.hits])
    rate(bases, [Turn("营收多少？", theirs, bases=["default", "news"])], SimpleNamespace(index=1, liked=True))
    assert feedback_path(news).is_file() and not feedback_path(bases.settings).is_file()
    assert any("评价记录" in label for label, _ in question_set_choices(news))
    assert not any("评价记录" in label for label, _ in question_set_choices(bases.settings))
    assert '<span class="src-kb">知识库 news</span>' in view.render_sources(0, theirs)
    assert "src-kb" not in view.render_sources(0, answer)
    asked_both = replace(answer, knowledge_bases=("default", "news"))
    assert '<span class="src-kb">知识库 default</span>' in view.render_sources(0, asked_both)
    bases.delete("news")
    assert bases.names() == ["default"] and not (tmp_path / "kbs" / "news").exists()
