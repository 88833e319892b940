"""The page's Chinese wording of library results: upload verdicts and refusals, build reports, stages.

The library says what happened in English and with typed reasons
(``UploadError.reason``, ``UploadCheck.status``, ``BuildReport``); these
functions turn them into the sentences the page shows. Plain text: the caller
escapes it for where it goes.
"""

from __future__ import annotations

from rag.kb.uploads import UploadCheck, UploadError
from rag.store.build import BuildReport

# The stages of KnowledgeBase.build's progress callback.
STAGE_NAMES = {"embed": "嵌入", "write": "写入索引", "load": "读取文章"}


STAGE_NAMES_EN = {"embed": "embedding", "write": "writing the index", "load": "reading the articles"}


def stage_name(stage: str) -> str:
    """A build stage for people, in the page's language; an unknown stage keeps its own name.

    >>> stage_name("embed"), stage_name("other")
    ('嵌入', 'other')
    """
    names = STAGE_NAMES_EN if request_lang() == "en" else STAGE_NAMES
    return names.get(stage, stage)


def upload_check_text(check: UploadCheck) -> str:
    """What to tell the user about a checked upload, by its status, in the page's language."""
    if request_lang() == "en":
        if check.status == "duplicate":
            return f"the content of “{check.title}” is already in the corpus ({check.duplicate_of}); not added again."
        if check.status == "replace":
            return f"the corpus already has a file named {check.name}: replace it with the upload?"
        return f"“{check.title}” can be added ({check.name}, {check.paragraphs} paragraphs)."
    if check.status == "duplicate":
        return f"「{check.title}」的内容已在语料中（{check.duplicate_of}），没有重复添加。"
    if check.status == "replace":
        return f"语料中已有同名文件 {check.name}：要用上传的文件替换它吗？"
    return f"可以添加「{check.title}」（{check.name}，{check.paragraphs} 段）。"


def upload_error_text(exc: UploadError) -> str:
    """Why an upload, save or deletion was refused, in the page's words.

    >>> upload_error_text(UploadError("empty", "a.txt: the file is empty", name="a.txt"))
    'a.txt: 文件是空的'
    """
    v = exc.values
    match exc.reason:
        case "no-name":
            return "上传的文件没有文件名"
        case "hidden":
            return f"{v['name']}: 以点开头的隐藏文件不会被索引，请改名后再上传"
        case "control-characters":
            return f"{v['name']!r}: 文件名含有控制字符，请改名后再上传"
        case "unsupported-type":
            return (f"{v['name']}: 不支持的文件类型 {v['suffix'] or '（无扩展名）'}；"
                    f"支持 {', '.join(v['supported'])}")
        case "reserved-name":
            return f"{v['name']}: README、LICENSE、NOTICE 文件不作为文章索引，请改名后再上传"
        case "too-large":
            return (f"{v['name']}: {v['size_bytes'] / 1024 / 1024:.1f} MB 超过上传上限 "
                    f"{v['limit_bytes'] / 1024 / 1024:.0f} MB（设置 max_upload_bytes）")
        case "empty":
            return f"{v['name']}: 文件是空的"
        case "unreadable":
            return f"文件无法作为文章使用：{v['detail']}"
        case "duplicate":
            return f"「{v['title']}」的内容已在语料中（{v['duplicate_of']}），没有重复添加。"
        case "exists":
            return f"语料中已有同名文件 {v['name']}；确认替换后再保存"
        case "changed":
            return f"{v['name']}: 文件在检查之后被改动过，请重新上传"
        case "outside-corpus":
            return f"{v['path']}: 不在语料文件夹 {v['corpus_dir']} 中"
        case "missing":
            return f"{v['path']}: 语料中没有这个文件（可能已被删除）"
    return str(exc)


def error_text(exc: BaseException) -> str:
    """An error's message for the page: an upload refusal in the page's words, any other error as it says."""
    if isinstance(exc, UploadError) and request_lang() != "en":  # the library's own message is English
        return upload_error_text(exc)
    return str(exc)


def build_failed_text(exc: BaseException) -> str:
    """A build that failed on something no RagError names (a bug, a full disk): its type and message."""
    return f"构建失败（{type(exc).__name__}: {exc}）"


def build_report_text(report: BuildReport) -> str:
    """What a finished build did: up to date, or counts, time and the articles added, changed, removed."""
    if request_lang() == "en":
        return _build_report_english(report)
    if report.up_to_date:
        text = f"✓ 索引已是最新（{report.articles} 篇文章），没有需要更新的内容。"
    else:
        changes = [f"{label} {', '.join(items)}" for label, items in
                   (("新增", report.added), ("修改", report.changed), ("删除", report.removed)) if items]
        text = f"✓ 索引已更新：{report.articles} 篇文章，用时 {report.seconds:.1f} 秒"
        if changes:
            text += "；" + "；".join(changes)
    for line in report.errors:
        text += f"\n\n✗ 跳过：{line}"
    for line in report.warnings:
        text += f"\n\n⚠ {line}"
    return text


def _build_report_english(report: BuildReport) -> str:
    if report.up_to_date:
        text = f"✓ The index is up to date ({report.articles} articles); nothing to update."
    else:
        changes = [f"{label} {', '.join(items)}" for label, items in
                   (("added", report.added), ("changed", report.changed), ("removed", report.removed)) if items]
        text = f"✓ Index updated: {report.articles} articles in {report.seconds:.1f} s"
        if changes:
            text += "; " + "; ".join(changes)
    for line in report.errors:
        text += f"\n\n✗ skipped: {line}"
    for line in report.warnings:
        text += f"\n\n⚠ {line}"
    return text


# -- the page's languages (issue 17) ----------------------------------------------------------------
# Chinese first, English second: the browser's language chooses (Accept-Language on the server,
# navigator.language for gradio's own strings and for the labels below); settings.lang decides
# for a browser that asks for neither.
LANGS = ("zh", "en")

# Labels of the page's fixed parts, by key: (Chinese, English). gradio translates them in the
# browser (``page_i18n``); "{size}" and "{types}" are filled in from the settings first.
PAGE_TEXTS: dict[str, tuple[str, str]] = {
    "page_title": ("## 文章问答 · 回答引用原文段落", "## Article Q&A · answers cite their source paragraphs"),
    "tab_chat": ("问答", "Chat"),
    "tab_articles": ("文章", "Articles"),
    "tab_evaluate": ("评测", "Evaluate"),
    # the chat tab
    "copy_md": ("复制为 Markdown", "Copy as Markdown"),
    "chat_label": ("对话", "Conversation"),
    "chat_placeholder": ("向文章提问，回答会标出引用的段落 [1]、[2]。",
                         "Ask the articles; answers mark the paragraphs they cite [1], [2]."),
    "question_placeholder": ("输入问题，例如：2025年深圳人工智能核心产业营收约多少？",
                             "Type a question, e.g. 2025年深圳人工智能核心产业营收约多少？"),
    "ask": ("提问", "Ask"),
    "examples": ("示例问题", "Example questions"),
    "new_chat": ("新对话", "New chat"),
    "history": ("本浏览器中的对话", "Conversations in this browser"),
    "chat_settings": ("设置", "Settings"),
    "side_sources": ("来源", "Sources"),
    "side_viewer": ("原文", "Article"),
    "retrieval_label": ("检索方式", "Retrieval"),
    "retrieval_hybrid": ("混合（向量 + 关键词）", "Hybrid (vector + keyword)"),
    "retrieval_dense": ("向量", "Vector"),
    "retrieval_lexical": ("关键词", "Keyword"),
    "top_k": ("检索段落数", "Passages retrieved"),
    "answer_label": ("回答方式", "Answer"),
    "answer_extractive": ("抽取式（原文句子）", "Extractive (the articles' own sentences)"),
    "answer_generative": ("生成式（{model}）", "Generative ({model})"),
    "answer_info": ("生成式需要 OpenAI 兼容接口（设置 llm_base_url 与 llm_model）",
                    "Generative answers need an OpenAI-compatible endpoint (set llm_base_url and llm_model)"),
    "filter_label": ("只在这些文章中查找", "Only in these articles"),
    "filter_info": ("不选则查找全部文章", "None chosen: all articles"),
    "articles_table": ("语料中的文章", "Articles in the corpus"),
    "upload": ("上传文章即添加并索引（{types}，每个不超过 {size}，可多选）",
               "Upload articles to add and index them ({types}, up to {size} each, several at once)"),
    "replace": ("替换", "Replace"),
    "cancel": ("取消", "Cancel"),
    "delete_choice": ("删除文章（删除后索引随之更新）", "Delete an article (the index follows)"),
    "delete": ("删除", "Delete"),
    "really_delete": ("确认删除", "Delete it"),
    "rebuild_box": ("重建索引", "Rebuild the index"),
    "full_rebuild": ("从头重建（已算过的向量仍会复用）", "From scratch (vectors already computed are reused)"),
    "eval_intro": ("上传问题集（JSONL、CSV，或 SQuAD 格式的 JSON，如 CMRC 2018），或选择内置的问题集，"
                   "逐题检索、回答并打分。"
                   "JSONL/CSV 问题集用当前索引；SQuAD 文件的段落建立单独的评测索引（有缓存）。",
                   "Upload a question set (JSONL, CSV, or SQuAD-format JSON such as CMRC 2018), or choose a "
                   "built-in one; each question is searched, answered and scored. JSONL/CSV sets use the current "
                   "index; a SQuAD file's passages get an evaluation index of their own (cached)."),
    "eval_file": ("问题集文件（.jsonl / .csv / .json）", "Question set file (.jsonl / .csv / .json)"),
    "eval_choice": ("或选择", "Or choose"),
    "eval_sample": ("随机抽样题数（0 = 全部，种子 0）", "Random sample size (0 = all, seed 0)"),
    "eval_small": ("SQuAD 文件：只索引所抽问题的段落（更快）", "SQuAD file: index only the sampled questions' passages "
                   "(faster)"),
    "eval_run": ("运行评测", "Run the evaluation"),
    "eval_metrics": ("指标", "Metrics"),
    "eval_chart": ("检索命中", "Retrieval hits"),
    "eval_questions": ("逐题结果（失败在前）", "Per question (failures first)"),
    "eval_downloads": ("下载报告", "Download the reports"),
    "kb_choice": ("知识库（可多选）", "Knowledge bases (one or several)"),
    "kb_manage": ("管理的知识库", "Knowledge base managed here"),
    "kb_name": ("新知识库名称（1–40 个小写字母、数字或下划线）",
                "New knowledge base's name (1-40 lower-case letters, digits, underscores)"),
    "kb_create": ("新建知识库", "Create"),
    "kb_delete": ("删除知识库", "Delete the knowledge base"),
    "kb_really_delete": ("确认删除知识库", "Delete it with its articles"),
    "eval_kb": ("评测的知识库", "Knowledge base evaluated"),
}
# Toast titles (gradio's defaults are English): by language and kind.
TOAST_TITLES = {"zh": {"warning": "注意", "info": "提示"}, "en": {"warning": "Warning", "info": "Note"}}


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


def say(zh: str, en: str) -> str:
    """``zh`` or ``en``, as the browser whose request is handled prefers (Chinese outside a request).

    >>> say("已完成", "done")
    '已完成'
    """
    return en if request_lang() == "en" else zh


def page_text(key: str, lang: str = "zh", **values: str) -> str:
    """A fixed label of the page in ``lang``, with ``values`` filled in.

    >>> page_text("tab_chat", "en"), page_text("tab_chat")
    ('Chat', '问答')
    """
    zh, en = PAGE_TEXTS[key]
    return (en if lang == "en" else zh).format(**values)


def page_translations(values: dict[str, str]) -> dict[str, dict[str, str]]:
    """{locale: {key: label}} for gradio's I18n: Chinese and English, each under the tags browsers send."""
    by_lang = {lang: {key: page_text(key, lang, **values) for key in PAGE_TEXTS} for lang in LANGS}
    tags = {"zh": ("zh", "zh-CN", "zh-TW", "zh-HK", "zh-SG"), "en": ("en", "en-US", "en-GB")}
    return {tag: by_lang[lang] for lang in LANGS for tag in tags[lang]}
