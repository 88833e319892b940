"""Sentences and chunks: boundaries, limits and the span invariant."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from rag.errors import ArticleError
from rag.ingest.articles import load_article, parse_article
from rag.ingest.chunking import chunk_article, cut_long_span, split_sentences
from rag.text import jieba_tokenizer

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_ARTICLE = ROOT / "corpus" / "shenzhen-ai-industry.txt"


def sentences_of(text: str) -> list[str]:
    return [text[a:b] for a, b in split_sentences(text, 0, len(text))]


def test_sentence_boundaries_full_and_half_width() -> None:
    text = "他说：“今天很好。”然后走了！真的吗？是的;对的；好…… 数字 1.5 亿不切。End. 下一句"
    assert sentences_of(text) == [
        "他说：“今天很好。”", "然后走了！", "真的吗？", "是的;", "对的；", "好……", "数字 1.5 亿不切。", "End.",
        "下一句",
    ]


def test_default_article_chunks_keep_exact_spans() -> None:
    article = load_article(DEFAULT_ARTICLE, DEFAULT_ARTICLE.parent, 1 << 30, 10_000_000)
    sentences, chunks = chunk_article(article, 200, 40)
    assert chunks
    for chunk in chunks:
        assert article.text[chunk.start:chunk.end] == chunk.text
        assert len(chunk.text) <= 200
        assert chunk.title == article.title
        section = {article.paragraph(p).section for p in chunk.paragraphs}
        assert section == {chunk.section}
    # Every sentence is in some chunk; chunks overlap by whole sentences.
    covered = {sid for c in chunks for sid in c.sentence_ids}
    assert covered == set(range(len(sentences)))
    assert any(set(a.sentence_ids) & set(b.sentence_ids) for a, b in pairwise(chunks))


def test_rejoined_paragraph_sentence_is_not_cut_at_the_break() -> None:
    article = load_article(DEFAULT_ARTICLE, DEFAULT_ARTICLE.parent, 1 << 30, 10_000_000)
    sentences, _ = chunk_article(article, 300, 0)
    texts = [article.text[s.start:s.end] for s in sentences]
    assert any("打造百个垂直行业模型及\n\n工业智能体" in t for t in texts)


def test_long_line_without_punctuation_is_cut_on_jieba_boundaries() -> None:
    text = "人工智能产业集群发展" * 20_000  # 200,000 characters, no punctuation
    article = parse_article(text, "long.txt", "h", "utf-8", len(text.encode()))
    _, chunks = chunk_article(article, 300, 0)
    assert sum(len(c.text) for c in chunks) == len(text)
    boundaries = set()
    pos = 0
    for token in jieba_tokenizer().cut(text[:2000], HMM=False):
        pos += len(token)
        boundaries.add(pos)
    for chunk in chunks:
        assert article.text[chunk.start:chunk.end] == chunk.text
        assert len(chunk.text) <= 300
    assert all(c.end in boundaries for c in chunks if c.end <= 1700)


def test_cut_prefers_clause_punctuation() -> None:
    text = "甲" * 150 + "，" + "乙" * 100
    pieces = cut_long_span(text, 0, len(text), 200)
    assert [text[a:b] for a, b in pieces] == ["甲" * 150 + "，", "乙" * 100]


ALPHABET = st.sampled_from(
    [*"深圳人工智能产业。！？；，,.!?;:：“”「」() \n\t\r#ab12\u3000…", "\n\n", "## 节\n", "# 题\n"]
)


@settings(max_examples=200, deadline=None)
@given(st.lists(ALPHABET, max_size=400).map("".join), st.integers(20, 120), st.integers(0, 19))
def test_any_text_chunks_with_span_invariant_or_clear_error(text: str, size: int, overlap: int) -> None:
    try:
        article = parse_article(text, "fuzz.txt", "h", "utf-8", len(text))
    except ArticleError as exc:
        assert "fuzz.txt" in str(exc)
        return
    for p in article.paragraphs:
        assert article.text[p.start:p.end].strip()
    _, chunks = chunk_article(article, size, overlap)
    for chunk in chunks:
        assert article.text[chunk.start:chunk.end] == chunk.text
        assert 0 < len(chunk.text) <= size
