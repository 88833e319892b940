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


def stage_name(stage: str) -> str:
    """A build stage for people; an unknown stage keeps its own name.

    >>> stage_name("embed"), stage_name("other")
    ('嵌入', 'other')
    """
    return STAGE_NAMES.get(stage, stage)


def upload_check_text(check: UploadCheck) -> str:
    """What to tell the user about a checked upload, by its status."""
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
    if isinstance(exc, UploadError):
        return upload_error_text(exc)
    return str(exc)


def build_failed_text(exc: BaseException) -> str:
    """A build that failed on something no RagError names (a bug, a full disk): its type and message."""
    return f"构建失败（{type(exc).__name__}: {exc}）"


def build_report_text(report: BuildReport) -> str:
    """What a finished build did: up to date, or counts, time and the articles added, changed, removed."""
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
