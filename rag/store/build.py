"""Building the index: incremental, cached, locked, atomic.

Only articles that are new or changed since the current version cost embedding
work: every chunk and sentence vector is looked up in the embedding cache first
(``rag.store.embedding``).
A build writes a complete new version (``rag.store.write``), then switches
CURRENT in one rename.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from rag.embed.cache import EmbeddingCache
from rag.errors import ArticleError, CurationError, RagError
from rag.ingest.articles import find_article_files, load_article, relative_name
from rag.ingest.chunking import chunk_article
from rag.records import Article, Chunk, Sentence
from rag.settings import Settings
from rag.store.chunk_tokens import chunk_lexical_tokens, context_tokens, with_linked_tokens
from rag.store.curation import VersionCuration, apply_overrides
from rag.store.curation_files import Curation, read_curation
from rag.store.current import current_version, switch_current
from rag.store.embedding import EmbedCounts, cached_vectors, chunk_embedding_text, embed_index, embed_questions
from rag.store.faults import fault
from rag.store.format import CURRENT, Manifest
from rag.store.lock import build_lock
from rag.store.recovery import clean_up, current_damaged, keep_unreadable, previous_manifest
from rag.store.versions import load_version
from rag.store.write import Progress, write_version

if TYPE_CHECKING:
    from rag.embed.encoder import Encoder

log = logging.getLogger(__name__)


@dataclass
class BuildReport:
    """What a build did."""

    version: str | None
    up_to_date: bool = False
    articles: int = 0
    chunks: int = 0
    sentences: int = 0
    embedded: int = 0  # texts run through the encoder: chunks, and sentences encoded alone
    from_cache: int = 0  # chunk and sentence vectors taken from the embedding cache
    pooled: int = 0  # sentence vectors pooled from the token states of the chunk passes run
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)
    store: str = "faiss"
    store_inserted: int = 0  # chunks written into the Milvus collection (from the cache, never embedded)
    store_deleted: int = 0  # old article groups deleted from it
    failed: dict[str, str] = field(default_factory=dict)  # article path -> its line in ``errors``


def load_corpus(settings: Settings, report: BuildReport) -> list[Article]:
    """Load every article; a bad file becomes an error line in the report, not a stop.

    ``load_article`` is the boundary: every reason one file cannot be indexed
    (OS errors, limits, damage, an extractor failing) is its one-line ArticleError.
    """
    files, warnings = find_article_files(settings.corpus_dir)
    report.warnings.extend(warnings)
    articles: list[Article] = []
    for path in files:
        try:
            articles.append(load_article(path, settings.corpus_dir, settings.max_article_bytes,
                                         settings.max_extracted_chars, settings.max_pdf_pages))
        except ArticleError as exc:
            report.errors.append(str(exc))
            report.failed[relative_name(path, settings.corpus_dir)] = str(exc)
    return articles


def build_index(
    settings: Settings,
    load_encoder: Callable[[], Encoder],
    rebuild: bool = False,
    progress: Progress | None = None,
    wait_for_lock: bool = False,
    articles: list[Article] | None = None,
) -> BuildReport:
    """Index the corpus folder into the index folder; return what was done.

    ``articles``: index these (already parsed) articles instead of reading the
    corpus folder, e.g. the passages of an evaluation set. The encoder is loaded
    only when something must be embedded. Nothing happens to the current index
    unless a complete new version is ready. A current version that fails the
    checks loading makes (a file truncated, changed or missing) is rebuilt, and
    the report's warnings say so.
    """
    started = time.perf_counter()
    cache_path = settings.embedding_cache_path
    curation = read_curation(settings.curation_root)  # a bad line stops the build before anything is done
    with build_lock(settings.index_dir, wait=wait_for_lock, writes=(cache_path.parent, cache_path)):
        report = BuildReport(version=None, store=settings.store)
        if settings.store == "milvus":
            from rag.store.milvus.store import connect

            _refuse_vocabulary_on_milvus(settings, curation)
            connect(settings)  # fails now, not after the embedding, when another process holds the store
        t0 = time.perf_counter()
        from_corpus = articles is None
        if articles is None:
            articles = load_corpus(settings, report)
        report.timings["load"] = time.perf_counter() - t0
        old = previous_manifest(settings.index_dir, rebuild, report.warnings)
        if from_corpus and old is not None:
            articles = keep_unreadable(settings.corpus_dir, settings.index_dir, old, articles, report.warnings)
            # A kept article is not a skipped one: its "cannot be read" line is in the warnings instead.
            kept = {a.path for a in articles} & set(report.failed)
            report.errors = [line for line in report.errors if line not in {report.failed[p] for p in kept}]
        _compare_articles(report, old, articles)
        if not articles:
            raise ArticleError(
                f"no article in {settings.corpus_dir} could be indexed"
                + (f" ({len(report.errors)} failed: {report.errors[0]})" if report.errors else "")
                + "; the previous index is unchanged"
            )
        same_settings = (
            old is not None
            and old.model.identity == settings.encoder_identity
            and old.chunking == settings.chunking
        )
        # Other words (dictionary.txt, synonyms.txt) re-tokenise every chunk; chunks and vectors stay (cache).
        same_words = (old is not None and old.tokenizer == curation.vocabulary.identity
                      and dict(old.curation) == curation.hashes)
        incremental = same_settings and not rebuild
        damaged = incremental and current_damaged(settings.index_dir, report.warnings)
        unchanged = not (report.added or report.changed or report.removed)
        if incremental and same_words and not damaged and unchanged:
            assert old is not None
            _report_up_to_date(settings, old, report)
        elif incremental and not damaged and unchanged:
            _rebuild_lexical(settings, load_encoder, curation, report, progress)
        else:
            _build_version(settings, load_encoder, articles, old, not incremental, report,
                           progress, curation, reuse_tokens=not rebuild)
        report.seconds = time.perf_counter() - started
        return report


def _refuse_vocabulary_on_milvus(settings: Settings, curation: Curation) -> None:
    """Milvus cuts words with its own analyzer: a knowledge base's words would apply to questions only.

    With ``milvus_hybrid = "milvus"`` Milvus fuses the legs itself, so no linked question could join the dense leg.
    """
    if not curation.vocabulary.empty:
        raise CurationError(
            f"{settings.curation_root} has a dictionary or synonyms, which the lexical leg uses on the faiss "
            "store only (Milvus cuts words with its own analyzer): remove them or use `--store faiss`")
    if settings.milvus_hybrid == "milvus" and any(o.questions for o in curation.overrides):
        raise CurationError(
            f"{settings.curation_root} has linked questions, which Milvus's own hybrid search cannot use: "
            "set milvus_hybrid = \"project\" or unlink them (`rag chunks ARTICLE --unlink N QUESTION`)")


def _applied_curation(settings: Settings, load_encoder: Callable[[], Encoder], cache: EmbeddingCache,
                      chunks: Sequence[Chunk], curation: Curation,
                      report: BuildReport) -> tuple[VersionCuration, list[str]]:
    """The overrides laid on ``chunks``, linked questions embedded (through the cache); and their cache keys."""
    applied = apply_overrides(curation.vocabulary, chunks, curation.overrides)
    if not applied.linked:
        return applied, []
    counts = EmbedCounts()
    keys: list[str] = []

    def embed(questions: list[str]) -> np.ndarray:
        vectors, keys[:] = embed_questions(settings, load_encoder, cache, questions, counts)
        return vectors

    applied = applied.with_vectors(embed)
    report.embedded += counts.embedded
    report.from_cache += counts.from_cache
    return applied, keys


def _rebuild_lexical(settings: Settings, load_encoder: Callable[[], Encoder], curation: Curation,
                     report: BuildReport, progress: Progress | None) -> None:
    """Only the curation changed: a new version of the current chunks and vectors, its words and overrides anew.

    No chunk is chunked or embedded (only linked questions the cache lacks are);
    the Milvus collection (its own analyzer) is only brought up to the chunks.
    """
    t0 = time.perf_counter()
    current = load_version(settings.index_dir, settings.encoder_identity, settings.chunking)
    chunks, vocabulary = list(current.chunks), curation.vocabulary
    report.chunks, report.sentences = len(chunks), len(current.sentences)
    cache = EmbeddingCache(settings.embedding_cache_path)
    try:
        applied, _ = _applied_curation(settings, load_encoder, cache, chunks, curation, report)
    finally:
        _close_cache(cache, report)
    report.timings["embed"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    tokens = chunk_lexical_tokens(chunks, settings.index_dir, current.manifest, vocabulary)  # same words: kept
    tokens = with_linked_tokens(tokens, applied.linked, vocabulary)
    report.timings["tokenise"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    version = write_version(
        settings, list(current.articles.values()), chunks, list(current.sentences),
        None, current.sentence_vectors, progress,
        chunk_tokens=tokens, dense=current.dense, chunk_prefixes=context_tokens(chunks, settings, vocabulary),
        previous=current.manifest, curation=applied,
        curation_hashes=curation.hashes)
    report.timings["write"] = time.perf_counter() - t0
    switch_current(settings.index_dir, version)
    report.version = version
    if settings.store == "milvus":
        _fill_milvus_from_cache(settings, report)  # the collection's rows stay; this fills one never filled
    clean_up(settings.index_dir)


def _report_up_to_date(settings: Settings, old: Manifest, report: BuildReport) -> None:
    """Nothing to build: fill the report from the current version, bring Milvus up to it, clean up."""
    report.up_to_date = True
    report.version = current_version(settings.index_dir)
    report.chunks, report.sentences = old.counts.chunks, old.counts.sentences
    if settings.store == "milvus":
        _fill_milvus_from_cache(settings, report)
    clean_up(settings.index_dir)


def _compare_articles(report: BuildReport, old: Manifest | None, articles: list[Article]) -> None:
    """Fill the report's added, changed and removed articles (against the current version) and its count."""
    old_hashes = {path: info.sha256 for path, info in old.articles.items()} if old is not None else {}
    new_hashes = {a.path: a.sha256 for a in articles}
    report.added = sorted(p for p in new_hashes if p not in old_hashes)
    report.changed = sorted(p for p in new_hashes if p in old_hashes and old_hashes[p] != new_hashes[p])
    report.removed = sorted(p for p in old_hashes if p not in new_hashes)
    report.articles = len(articles)


def _build_version(settings: Settings, load_encoder: Callable[[], Encoder], articles: list[Article],
                   old: Manifest | None, full: bool, report: BuildReport, progress: Progress | None,
                   curation: Curation, reuse_tokens: bool) -> None:
    """Chunk, embed (what the cache lacks), write a new version, fill Milvus, switch CURRENT, prune.

    ``full``: the Milvus collection is filled anew (a rebuild, or other settings).
    ``reuse_tokens``: take the current version's lexical tokens for unchanged chunk text.
    ``curation``: the knowledge base's curation folder, read; its words cut the lexical tokens.
    """
    index_dir = settings.index_dir
    t0 = time.perf_counter()
    chunks, sentences = chunk_articles(articles, settings)
    report.chunks, report.sentences = len(chunks), len(sentences)
    report.timings["chunk"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    cache = EmbeddingCache(settings.embedding_cache_path)
    try:
        vectors = embed_index(settings, load_encoder, cache, articles, chunks, sentences, progress)
        chunk_vectors, sentence_vectors = vectors.chunks, vectors.sentences
        report.embedded, report.from_cache = vectors.counts.embedded, vectors.counts.from_cache
        report.pooled = vectors.counts.pooled
        applied, question_keys = _applied_curation(settings, load_encoder, cache, chunks, curation, report)
        report.timings["embed"] = time.perf_counter() - t0
        fault("after-embedding")

        t0 = time.perf_counter()
        vocabulary = curation.vocabulary
        tokens = chunk_lexical_tokens(chunks, index_dir if reuse_tokens else None, old, vocabulary)
        tokens = with_linked_tokens(tokens, applied.linked, vocabulary)
        report.timings["tokenise"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        version = write_version(settings, articles, chunks, sentences, chunk_vectors, sentence_vectors, progress,
                                chunk_tokens=tokens, chunk_prefixes=context_tokens(chunks, settings, vocabulary),
                                previous=old, curation=applied, curation_hashes=curation.hashes)
        report.timings["write"] = time.perf_counter() - t0
        pending = None
        if settings.store == "milvus":
            from rag.store.milvus.build import fill_collection

            t0 = time.perf_counter()
            pending = fill_collection(
                settings, chunks, {a.path: a.sha256 for a in articles},
                lambda ids: chunk_vectors[np.asarray(ids, dtype=np.int64)], int(chunk_vectors.shape[1]),
                rebuild=full,
            )
            report.store_inserted = pending.inserted
            report.timings["store"] = time.perf_counter() - t0
        fault("before-switch")
        moved = switch_current(index_dir, version)
        if moved is not None:
            report.warnings.append(f"{index_dir / CURRENT} was a folder, not the file naming the version: "
                                   f"moved it to {moved}")
        report.version = version
        if pending is not None:
            from rag.store.milvus.build import finish_sync

            finish_sync(pending)
            report.store_deleted = len(pending.stale)
        clean_up(index_dir)
        if settings.cache_dir is None:
            # A private cache forgets deleted text; a shared one (cache_dir set,
            # e.g. for evaluation runs over several chunkings) keeps everything.
            cache.keep_only(settings.encoder_identity, set(vectors.keys) | set(question_keys))
    finally:
        _close_cache(cache, report)


def _close_cache(cache: EmbeddingCache, report: BuildReport) -> None:
    """Close the embedding cache; when it was found damaged and started anew, the report says so."""
    if cache.recovered:
        report.warnings.append(cache.recovered)
    cache.close()


def _fill_milvus_from_cache(settings: Settings, report: BuildReport) -> None:
    """Bring the Milvus collection up to the current version, vectors from the embedding cache.

    This is how ``rag index --store milvus`` copies an index built on FAISS:
    nothing is embedded.
    """
    from rag.store.milvus.build import fill_collection, finish_sync

    t0 = time.perf_counter()
    version = load_version(settings.index_dir, settings.encoder_identity, settings.chunking)
    hashes = {path: info.sha256 for path, info in version.manifest.articles.items()}
    chunks = version.chunks
    cache = EmbeddingCache(settings.embedding_cache_path)
    try:
        def vectors(ids: list[int]) -> np.ndarray:
            texts = [chunk_embedding_text(chunks[i], settings.chunk_context) for i in ids]
            keys, found = cached_vectors(cache, settings.encoder_identity, texts)
            missing = sum(1 for k in keys if k not in found)
            if missing:
                raise RagError(
                    f"{missing} chunk vectors of {settings.index_dir} are not in the embedding cache "
                    f"{settings.embedding_cache_path}: run `rag index --rebuild --store milvus` (it embeds them)"
                )
            return np.stack([found[k] for k in keys]).astype(np.float32, copy=False)

        pending = fill_collection(settings, chunks, hashes, vectors, version.manifest.model.dimension)
        finish_sync(pending)
    finally:
        _close_cache(cache, report)
    report.store_inserted = pending.inserted
    report.store_deleted = len(pending.stale)
    report.timings["store"] = time.perf_counter() - t0


def chunk_articles(articles: list[Article], settings: Settings) -> tuple[list[Chunk], list[Sentence]]:
    """Chunk every article; chunk and sentence ids run on across articles, in article order."""
    chunks: list[Chunk] = []
    sentences: list[Sentence] = []
    for article in articles:
        local_sentences, local_chunks = chunk_article(article, settings.chunk_size, settings.chunk_overlap)
        offset = len(sentences)
        sentences.extend(local_sentences)
        for c in local_chunks:
            chunks.append(Chunk(
                id=len(chunks), article=c.article, title=c.title, section=c.section, paragraphs=c.paragraphs,
                start=c.start, end=c.end, text=c.text, sentence_ids=tuple(i + offset for i in c.sentence_ids),
            ))
    return chunks, sentences
