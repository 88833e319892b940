"""The page's language and its wording of library results: upload verdicts, build reports, stages, status.

The page speaks the browser's language (``request_lang``: Chinese first, English
second); every fixed text comes from the one catalogue, ``rag.messages``
(``page_message`` in the request's language; ``page_translations`` feeds gradio's
own translation of labels). The library says what happened in English and with
typed reasons (``UploadError.reason``, ``UploadCheck.status``, ``BuildReport``,
``IndexStatus``); these functions turn them into the sentences the page shows.
Plain text: the caller escapes it for where it goes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rag.kb.uploads import UploadCheck, UploadError
from rag.messages import LANGS, MESSAGES, message
from rag.urls import mask_url

if TYPE_CHECKING:
    from rag.kb.bases import KnowledgeBases
    from rag.kb.jobs import BuildReport

# The stages of a build's progress callback (KnowledgeBase.build), each a key of the catalogue.
STAGES = ("embed", "write", "load")


def stage_name(stage: str) -> str:
    """A build stage for people, in the page's language; an unknown stage keeps its own name.

    >>> stage_name("embed"), stage_name("other")
    ('嵌入', 'other')
    """
    return page_message(f"stage_{stage}") if stage in STAGES else stage


def page_message(key: str, **values: object) -> str:
    """A text of the catalogue in the language of the browser whose request is handled (Chinese outside one)."""
    return message(key, request_lang(), **values)


def upload_check_text(check: UploadCheck) -> str:
    """What to tell the user about a checked upload, by its status, in the page's language."""
    return page_message(f"upload_check_{check.status}", title=check.title, name=check.name,
                        duplicate_of=check.duplicate_of, paragraphs=check.paragraphs)


def upload_error_text(exc: UploadError, lang: str = "zh") -> str:
    """Why an upload, save or deletion was refused, in ``lang``'s words (the catalogue's ``upload_<reason>``).

    >>> upload_error_text(UploadError("empty", "a.txt: the file is empty", name="a.txt"))
    'a.txt: 文件是空的'
    """
    values = dict(exc.values)
    if exc.reason == "unsupported-type":
        values["supported"] = ", ".join(values.get("supported") or ())
        values["suffix"] = values.get("suffix") or message("no_suffix", lang)
    if exc.reason == "too-large":
        values["size_mb"] = f"{values['size_bytes'] / 1024 / 1024:.1f}"
        values["limit_mb"] = f"{values['limit_bytes'] / 1024 / 1024:.0f}"
    if exc.reason == "control-characters":
        values["name"] = repr(values.get("name"))
    try:
        return message(f"upload_{exc.reason}", lang, **values)
    except (KeyError, IndexError):  # a reason or value this version has no words for: the library's own line
        return str(exc)


def error_text(exc: BaseException) -> str:
    """An error's message for the page: an upload refusal in the page's words, any other error as it says."""
    if isinstance(exc, UploadError):
        return upload_error_text(exc, request_lang())
    return str(exc)


def build_failed_text(detail: str) -> str:
    """A build that failed on something no RagError names (a bug, a full disk): its type and message."""
    return page_message("build_failed", detail=detail)


def build_report_text(report: BuildReport) -> str:
    """What a finished build did: up to date, or counts, time and the articles added, changed, removed."""
    if report.up_to_date:
        text = page_message("build_up_to_date", articles=report.articles)
    else:
        changes = [page_message(f"build_{label}", items=", ".join(items)) for label, items in
                   (("added", report.added), ("changed", report.changed), ("removed", report.removed)) if items]
        text = page_message("build_updated", articles=report.articles, seconds=f"{report.seconds:.1f}")
        if changes:
            text += page_message("list_separator") + page_message("list_separator").join(changes)
    for line in report.errors:
        text += "\n\n" + page_message("build_skipped", line=line)
    for line in report.warnings:
        text += f"\n\n⚠ {line}"
    return text


def status_line(bases: KnowledgeBases, name: str, lang: str) -> str:
    """The page header's line about one knowledge base's index (Markdown, escaped); RagError when unreadable."""
    from rag.ui.escape import esc_markdown

    s = bases.status(name)
    # A Milvus server address may carry a password or a key: masked, like every URL on a page.
    store = "FAISS" if s.store != "milvus" else f"Milvus {mask_url(str(s.store_details.get('milvus_uri')))}"
    # No version id, no chunks: internals a reader of the page has no use for (rag status shows them).
    line = esc_markdown(message("status_line", lang, articles=s.articles, chunks=s.chunks, model=s.model,
                                store=store, built=s.built_at_shown,
                                articles_word="article" if s.articles == 1 else "articles",
                                passages_word="passage" if s.chunks == 1 else "passages"))
    if s.healthy:
        return line
    # A damaged version still loads its manifest: say so first, with the fix (重建索引 in the 文章 tab).
    return f"{message('status_damaged', lang)}{message('separator', lang)}{esc_markdown(s.health)} · {line}"


def shown_status_line(bases: KnowledgeBases, name: str) -> str:
    """``status_line`` in the page's language; an index that cannot be read shows its error."""
    from rag.errors import RagError
    from rag.ui.escape import esc_markdown

    try:
        return status_line(bases, name, request_lang(bases.settings.lang))
    except RagError as exc:
        return f"⚠ {esc_markdown(str(exc))}"


# -- the page's languages (issue 17) ----------------------------------------------------------------
# Chinese first, English second: the browser's language chooses (Accept-Language on the server,
# navigator.language for gradio's own strings and for the labels below); settings.lang decides
# for a browser that asks for neither.

# Toast titles (gradio's defaults are English): by language and kind, from the catalogue.
TOAST_TITLES = {lang: {"warning": message("toast_warning", lang), "info": message("toast_info", lang)}
                for lang in LANGS}


def choose_lang(accept_language: str | None, default: str = "zh") -> str:
    """The page's language from a browser's Accept-Language: the first of zh and en it prefers, else ``default``.

    >>> choose_lang("en-US,en;q=0.9,zh;q=0.8"), choose_lang("zh-CN,zh;q=0.9,en;q=0.8")
    ('en', 'zh')
    >>> choose_lang("fr-FR,de;q=0.5", "zh"), choose_lang("fr;q=0.9,en;q=0.8", "zh"), choose_lang(None, "en")
    ('zh', 'en', 'en')
    """
    ranked = []
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        try:
            weight = float(params.strip()[2:]) if params.strip().startswith("q=") else 1.0
        except ValueError:
            weight = 0.0
        ranked.append((-weight, position, tag.strip().lower().split("-")[0]))
    for _, _, primary in sorted(ranked):
        if primary in LANGS:
            return primary
    return default


def request_lang(default: str = "zh") -> str:
    """The language of the browser whose request is being handled (``default`` outside a request)."""
    from gradio.context import LocalContext

    request = LocalContext.request.get(None)
    headers = getattr(request, "headers", None)
    return choose_lang(headers.get("accept-language") if headers is not None else None, default)


def page_text(key: str, lang: str = "zh", **values: str) -> str:
    """A fixed label of the page in ``lang``, with ``values`` filled in.

    >>> page_text("tab_chat", "en"), page_text("tab_chat")
    ('Chat', '问答')
    """
    return message(key, lang, **values)


def page_translations(values: dict[str, str]) -> dict[str, dict[str, str]]:
    """{locale: {key: label}} for gradio's I18n: every text of the catalogue, each under the tags browsers send.

    Texts with fields other than ``values`` are left out (they are filled in by the handlers).
    """
    by_lang: dict[str, dict[str, str]] = {lang: {} for lang in LANGS}
    for key in MESSAGES:
        for lang in LANGS:
            try:
                by_lang[lang][key] = message(key, lang, **values)
            except (KeyError, IndexError):
                continue
    tags = {"zh": ("zh", "zh-CN", "zh-TW", "zh-HK", "zh-SG"), "en": ("en", "en-US", "en-GB")}
    return {tag: by_lang[lang] for lang in LANGS for tag in tags[lang]}
