"""The one message catalogue: every sentence the project shows people, in Chinese and in English.

The page (its labels, panels, notices and toasts), the CLI's printed answers and
reports, the evaluation reports (report.md, report.html) and the API's own error
messages take their words from here, by key: ``message(key, lang, **values)``.
``values`` fill the ``{name}`` fields of the text. The library's own errors stay
one English line each (they name settings and commands); what a face adds around
them comes from here. Data of its own (``size-exempt: data``): a table of texts.

>>> message("paragraph", "zh", n=3), message("paragraph", "en", n=3)
('第3段', '¶3')
>>> message("no_such_key", "zh")
Traceback (most recent call last):
KeyError: 'no message no_such_key'
"""

from __future__ import annotations

LANGS = ("zh", "en")

# key: (Chinese, English)
MESSAGES: dict[str, tuple[str, str]] = {
    # -- where a citation or a passage stands (rag.records: Citation.location, Chunk.location) ----------
    "paragraph": ("第{n}段", "¶{n}"),
    "paragraphs": ("第{first}–{last}段", "¶{first}–{last}"),
    "page": ("第{n}页", "p. {n}"),
    "knowledge_base": ("知识库 {name}", "knowledge base {name}"),
    "separator": ("：", ": "),
    # -- answers as the CLI and MCP print them -----------------------------------------------------
    "short_answer_line": ("答案：{text} [{n}]", "Answer: {text} [{n}]"),
    "maybe_related": ("可能相关的段落：", "Possibly related passages:"),
    "uncited_warning": ("注意：回答没有引用任何检索到的段落，请核实。",
                        "Note: the answer cites none of the retrieved passages; check it."),
    "no_passage": ("没有找到相关段落。", "No matching passage."),
    "refusal": ("文章中没有找到相关信息。", "The articles hold no information on this."),
    # -- the page's fixed parts (gradio translates them in the browser: rag.ui.texts.page_i18n) ------
    "page_title": ("## 文章问答 · 回答引用原文段落", "## Article Q&A · answers cite their source paragraphs"),
    "tab_chat": ("问答", "Chat"),
    "tab_articles": ("文章", "Articles"),
    "tab_evaluate": ("评测", "Evaluate"),
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
    "filter_several": ("选择了多个知识库：文章筛选只在选择一个知识库时可用",
                       "Several knowledge bases chosen: the filter works on one at a time"),
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
    "eval_small": ("SQuAD 文件：只索引所抽问题的段落（更快）",
                   "SQuAD file: index only the sampled questions' passages (faster)"),
    "eval_run": ("运行评测", "Run the evaluation"),
    "eval_metrics": ("指标", "Metrics"),
    "eval_chart": ("检索命中", "Retrieval hits"),
    "eval_chart_title": ("前 k 个片段含答案的比例", "Share of questions with the answer in the top k"),
    "eval_chart_y": ("命中率", "hit rate"),
    "eval_questions": ("逐题结果（失败在前）", "Per question (failures first)"),
    "eval_downloads": ("下载报告", "Download the reports"),
    "eval_uploaded": ("上传的文件", "the uploaded file"),
    "kb_choice": ("知识库（可多选）", "Knowledge bases (one or several)"),
    "kb_manage": ("管理的知识库", "Knowledge base managed here"),
    "kb_name": ("新知识库名称（1–40 个小写字母、数字或下划线）",
                "New knowledge base's name (1-40 lower-case letters, digits, underscores)"),
    "kb_create": ("新建知识库", "Create"),
    "kb_delete": ("删除知识库", "Delete the knowledge base"),
    "kb_really_delete": ("确认删除知识库", "Delete it with its articles"),
    "eval_kb": ("评测的知识库", "Knowledge base evaluated"),
    "toast_warning": ("注意", "Warning"),
    "toast_info": ("提示", "Note"),
    # -- the page header's line about an index -----------------------------------------------------
    "status_line": ("{articles} 篇文章 · {chunks} 个片段 · 模型 {model} · 存储 {store} · 更新于 {built}",
                    "{articles} {articles_word} · {chunks} {passages_word} · model {model} · store {store} · "
                    "updated {built}"),
    "status_damaged": ("⚠ 索引已损坏，请在「文章」页重建索引",
                       "⚠ the index is damaged, rebuild it in the Articles tab"),
    # -- the sources panel ------------------------------------------------------------------------
    "sources_empty": ("提问后，这里列出回答引用的段落（引用的句子会高亮），点击 [1]、[2] 可打开原文。",
                      "After a question, the paragraphs its answer cites are listed here (the cited sentences "
                      "highlighted); click [1], [2] to open the article."),
    "asked": ("问：{question}", "Q: {question}"),
    "searching": ("正在检索…", "Searching…"),
    "answering": ("正在生成回答…", "Writing the answer…"),
    "nothing_retrieved": ("没有检索到段落。", "No passage was retrieved."),
    "retrieved_note": ("检索到 {n} 段，正在生成回答…", "{n} passages retrieved; writing the answer…"),
    "asked_as": ("按“{query}”回答", "Answered as “{query}”"),
    "refused_note": ("文章中没有找到相关信息。可能相关的段落：",
                     "The articles hold no information on this. Possibly related passages:"),
    "cited_note": ("引用 {n} 段：", "{n} paragraphs cited:"),
    "uncited_note": ("回答没有引用任何检索到的段落，请核实。",
                     "The answer cites none of the retrieved passages; check it."),
    "other_passages": ("其他检索到的段落（{n}）", "Other retrieved passages ({n})"),
    "more_passages": ("更多检索到的段落（{n}）", "More retrieved passages ({n})"),
    "open_article": ("查看原文 ›", "Open the article ›"),
    "open_in_article": ("在原文中查看", "Show in the article"),
    "details": ("详情", "Details"),
    "searched_as": ("实际检索：{query}", "Searched: {query}"),
    "rank_dense": ("向量第{n}", "vector #{n}"),
    "rank_lexical": ("关键词第{n}", "keyword #{n}"),
    "timing_search": ("检索", "search"),
    "timing_answer": ("回答", "answer"),
    "timing_generate": ("生成", "generation"),
    "timing_total": ("共", "total"),
    "maybe_related_chat": ("（右侧列出可能相关的段落）", "(possibly related passages are listed beside the chat)"),
    "no_answer": ("⚠ 没有回答", "⚠ no answer"),
    "md_question": ("**问：**", "**Q:**"),
    "md_answer": ("**答：**", "**A:**"),
    "md_sources": ("**来源：**", "**Sources:**"),
    "md_maybe": ("**可能相关：**", "**Possibly related:**"),
    "article_changed": ("{path} 在回答之后已被修改或删除；来源面板中的段落是回答时的原文。",
                        "{path} was changed or deleted after the answer; the sources panel shows the text as it "
                        "was then."),
    "empty_conversation": ("（空对话）", "(empty conversation)"),
}


def message(key: str, lang: str = "zh", **values: object) -> str:
    """The text of ``key`` in ``lang`` (zh, or en for anything else), with ``values`` filled in."""
    try:
        zh, en = MESSAGES[key]
    except KeyError:
        raise KeyError(f"no message {key}") from None
    text = zh if lang == "zh" else en
    return text.format(**values) if values else text
